"""An SMTP peer that counts its sessions open at once, on every address of 127.0.0.0/8 it is
given: DIR/max holds the highest count so far. A session counts from its accept until its QUIT
(or hang-up); the reply to DATA waits DELAY seconds, so deliveries overlap when a client lets
them. Each message is saved as DIR/N.eml (X-Rcpt-To lines, then the message).

    count_peer.py PORT DIR DELAY IP...
Bounded: it exits after 120 seconds.
"""
import os
import socket
import socketserver
import sys
import threading
import time

port, out, delay = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
ips = sys.argv[4:]
os.makedirs(out, exist_ok=True)
lock = threading.Lock()
state = {"now": 0, "max": 0, "saved": 0}


def change(d):
    with lock:
        state["now"] += d
        if state["now"] > state["max"]:
            state["max"] = state["now"]
            with open(os.path.join(out, "max.tmp"), "w") as f:
                f.write(str(state["max"]))
            os.replace(os.path.join(out, "max.tmp"), os.path.join(out, "max"))


class Session(socketserver.StreamRequestHandler):
    timeout = 30

    def handle(self):
        change(1)
        self.counted = True
        try:
            self.talk()
        except OSError:
            pass
        finally:
            self.leave()

    def leave(self):
        if self.counted:
            self.counted = False
            change(-1)

    def say(self, text):
        self.wfile.write(text)
        self.wfile.flush()

    def talk(self):
        self.say(b"220 count-peer ESMTP\r\n")
        rcpts = []
        while True:
            line = self.rfile.readline(1000)
            if not line:
                return
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                self.say(b"250-count-peer\r\n250 8BITMIME\r\n")
            elif verb == b"MAIL":
                rcpts = []
                self.say(b"250 2.1.0 ok\r\n")
            elif verb == b"RCPT":
                rcpts.append(line[8:].strip().split(b">")[0].strip(b"<").decode())
                self.say(b"250 2.1.5 ok\r\n")
            elif verb == b"DATA":
                self.say(b"354 go ahead\r\n")
                body = []
                while True:
                    l = self.rfile.readline(100000)
                    if not l:
                        return
                    if l == b".\r\n":
                        break
                    body.append(l)
                time.sleep(delay)
                with lock:
                    state["saved"] += 1
                    n = state["saved"]
                with open(os.path.join(out, "%d.eml" % n), "wb") as m:
                    for r in rcpts:
                        m.write(b"X-Rcpt-To: " + r.encode() + b"\r\n")
                    m.write(b"".join(body))
                self.say(b"250 2.0.0 queued\r\n")
            elif verb == b"QUIT":
                # Leave the count before the reply: the client may open the next session as
                # soon as it has it.
                self.leave()
                self.say(b"221 2.0.0 bye\r\n")
                return
            else:
                self.say(b"250 ok\r\n")


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


servers = [Server((ip, port), Session) for ip in ips]
for s in servers:
    threading.Thread(target=s.serve_forever, daemon=True).start()
print("ready", flush=True)
time.sleep(120)
