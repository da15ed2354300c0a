"""How the Python test peers keep what they receive: each message as DIR/N.eml after
`X-Mail-From:` / `X-Rcpt-To:` lines, and DIR/count with the number of messages (replaced whole,
so a reader never sees half a number)."""
import os
import threading


class Saved:
    def __init__(self, out):
        self.out = out
        self.lock = threading.Lock()
        self.count = 0
        os.makedirs(out, exist_ok=True)

    def save(self, sender, rcpts, data):
        with self.lock:
            self.count += 1
            n = self.count
            with open(os.path.join(self.out, "%d.eml" % n), "wb") as m:
                m.write(b"X-Mail-From: " + sender + b"\r\n")
                for r in rcpts:
                    m.write(b"X-Rcpt-To: " + r + b"\r\n")
                m.write(data)
            with open(os.path.join(self.out, "count.tmp"), "w") as f:
                f.write(str(n))
            os.replace(os.path.join(self.out, "count.tmp"), os.path.join(self.out, "count"))
