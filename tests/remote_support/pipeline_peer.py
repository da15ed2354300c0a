"""An SMTP next hop that shows how a client groups its commands (RFC 2920 PIPELINING).

Every command line read is answered in order. Each time the peer has to wait for more bytes from
the client, the verbs read since the last wait are written as one line to DIR/groups (e.g.
`RSET MAIL RCPT RCPT DATA`): commands that came in one write share a line. It refuses (550)
recipients whose local part starts with "reject", defers (451) those starting with "defer",
refuses DATA (554) when no recipient was taken, and refuses MAIL (550) from senders starting
with "refuse". Messages are saved as DIR/N.eml after `X-Mail-From:` / `X-Rcpt-To:` lines;
DIR/count holds the number of messages.

    pipeline_peer.py PORT DIR [--no-pipelining]
Bounded: it exits after 300 seconds.
"""
import os
import socketserver
import sys
import threading
import time

from saved_mail import Saved

port, out = int(sys.argv[1]), sys.argv[2]
pipelining = "--no-pipelining" not in sys.argv[3:]
lock = threading.Lock()


def note_group(verbs):
    if verbs:
        with lock, open(os.path.join(out, "groups"), "a") as g:
            g.write(" ".join(verbs) + "\n")


save = Saved(out).save  # makes DIR


def address(line):
    start, end = line.find(b"<"), line.find(b">")
    return line[start + 1:end] if 0 <= start < end else b""


class Session(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.settimeout(60)
        self.buf, self.verbs = b"", []
        try:
            self.talk()
        except OSError:
            pass

    def line(self):
        while b"\r\n" not in self.buf:
            note_group(self.verbs)
            self.verbs = []
            chunk = self.request.recv(65536)
            if not chunk:
                raise OSError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def say(self, text):
        self.request.sendall(text + b"\r\n")

    def talk(self):
        self.say(b"220 pipeline-peer ESMTP")
        sender, rcpts = None, []
        while True:
            line = self.line()
            verb = line.split(b" ", 1)[0].split(b":", 1)[0].upper().decode("ascii", "replace")
            self.verbs.append(verb)
            if verb == "EHLO":
                ext = [b"250-pipeline-peer", b"250-8BITMIME"]
                if pipelining:
                    ext.append(b"250-PIPELINING")
                self.say(b"\r\n".join(ext + [b"250 SIZE 10000000"]))
            elif verb == "RSET":
                sender, rcpts = None, []
                self.say(b"250 2.0.0 reset")
            elif verb == "MAIL":
                if address(line).startswith(b"refuse"):
                    self.say(b"550 5.7.1 sender refused")
                else:
                    sender, rcpts = address(line), []
                    self.say(b"250 2.1.0 ok")
            elif verb == "RCPT":
                who = address(line)
                if sender is None:
                    self.say(b"503 5.5.1 MAIL first")
                elif who.startswith(b"reject"):
                    self.say(b"550 5.1.1 no such user here")
                elif who.startswith(b"defer"):
                    self.say(b"451 4.2.0 try again later")
                else:
                    rcpts.append(who)
                    self.say(b"250 2.1.5 ok")
            elif verb == "DATA":
                if sender is None or not rcpts:
                    self.say(b"554 5.5.1 no valid recipients")
                    continue
                self.say(b"354 go ahead")
                data = []
                while True:
                    l = self.line()
                    if l == b".":
                        break
                    data.append(l[1:] if l.startswith(b".") else l)
                save(sender, rcpts, b"\r\n".join(data))
                sender, rcpts = None, []
                self.verbs = []
                self.say(b"250 2.0.0 queued")
            elif verb == "QUIT":
                self.say(b"221 2.0.0 bye")
                return
            elif verb == "NOOP":
                self.say(b"250 2.0.0 ok")
            else:
                self.say(b"502 5.5.2 not here")


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


srv = Server(("127.0.0.1", port), Session)
threading.Thread(target=srv.serve_forever, daemon=True).start()
time.sleep(300)
