"""A deliberately lenient SMTP next hop, for the SMTP smuggling tests: it ends DATA on a lone dot
between any line ends (CRLF, bare LF or bare CR: `\\r\\n.\\r\\n`, `\\n.\\n`, `\\r.\\r`...), as
the servers that made the 2023 smuggling attacks work did, and reads whatever follows as new
commands. A forged second transaction hidden in a message body is thus received as a second
message. It refuses (550) any recipient whose local part starts with "reject".

Each message is saved as DIR/N.eml exactly as it came between DATA and the end marker (still
dot-stuffed), after `X-Mail-From:` / `X-Rcpt-To:` lines; DIR/count holds the number of messages.

    smuggle_peer.py PORT DIR
Bounded: it exits after 300 seconds.
"""
import re
import socket
import socketserver
import sys
import threading
import time

from saved_mail import Saved

port, out = int(sys.argv[1]), sys.argv[2]
# The first lone dot between line ends of any kind (the start of the data counts as one).
END = re.compile(rb"(?:\A|\r\n|\n|\r)\.(?:\r\n|\n|\r)")


save = Saved(out).save


class Session(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.settimeout(60)
        self.buf = b""
        try:
            self.talk()
        except OSError:
            pass

    def more(self):
        chunk = self.request.recv(65536)
        if not chunk:
            raise OSError("closed")
        self.buf += chunk

    def line(self):
        while b"\n" not in self.buf:
            self.more()
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r")

    def data(self):
        while True:
            m = END.search(self.buf)
            if m:
                data, self.buf = self.buf[: m.start()], self.buf[m.end():]
                return data
            self.more()

    def say(self, text):
        self.request.sendall(text)

    def talk(self):
        self.say(b"220 smuggle-peer ESMTP\r\n")
        sender, rcpts = b"", []
        while True:
            line = self.line()
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                self.say(b"250-smuggle-peer\r\n250-8BITMIME\r\n250 SIZE 100000000\r\n")
            elif verb == b"MAIL":
                sender, rcpts = line[10:].split(b">")[0].strip(b"<"), []
                self.say(b"250 2.1.0 ok\r\n")
            elif verb == b"RCPT":
                addr = line[8:].split(b">")[0].strip(b"<")
                if addr.lower().startswith(b"reject"):
                    self.say(b"550 5.1.1 no such user\r\n")
                else:
                    rcpts.append(addr)
                    self.say(b"250 2.1.5 ok\r\n")
            elif verb == b"DATA":
                self.say(b"354 go ahead\r\n")
                save(sender, rcpts, self.data())
                self.say(b"250 2.0.0 queued\r\n")
            elif verb == b"QUIT":
                self.say(b"221 2.0.0 bye\r\n")
                return
            else:
                self.say(b"250 ok\r\n")


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


server = Server(("127.0.0.1", port), Session)
threading.Thread(target=server.serve_forever, daemon=True).start()
time.sleep(300)
