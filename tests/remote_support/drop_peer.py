"""An SMTP peer that drops the connection in the middle of DATA the first time a session gets
there, and behaves afterwards, saving each complete message as DIR/N.eml (X-Rcpt-To lines, then the message).

    drop_peer.py PORT DIR
Bounded: it exits after 20 sessions or 60 seconds.
"""
import os
import socket
import sys
import time

port, out = int(sys.argv[1]), sys.argv[2]
os.makedirs(out, exist_ok=True)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(8)
srv.settimeout(60)
start = time.time()
saved = 0
dropped = False


def session(conn):
    global saved, dropped
    f = conn.makefile("rb")
    conn.sendall(b"220 drop-peer ESMTP\r\n")
    rcpts = []
    while True:
        line = f.readline(1000)
        if not line:
            return
        verb = line[:4].upper()
        if verb in (b"EHLO", b"HELO"):
            conn.sendall(b"250-drop-peer\r\n250 8BITMIME\r\n")
        elif verb == b"MAIL":
            rcpts = []
            conn.sendall(b"250 ok\r\n")
        elif verb == b"RCPT":
            rcpts.append(line[8:].strip().strip(b"<>").decode())
            conn.sendall(b"250 ok\r\n")
        elif verb == b"DATA":
            conn.sendall(b"354 go ahead\r\n")
            body = []
            while True:
                l = f.readline(100000)
                if not l:
                    return
                if not dropped:
                    # The message has begun: hang up without a reply.
                    dropped = True
                    conn.shutdown(socket.SHUT_RDWR)
                    return
                if l == b".\r\n":
                    break
                body.append(l)
            saved += 1
            with open(os.path.join(out, "%d.eml" % saved), "wb") as m:
                for r in rcpts:
                    m.write(b"X-Rcpt-To: " + r.encode() + b"\r\n")
                m.write(b"".join(body))
            conn.sendall(b"250 queued\r\n")
        elif verb == b"QUIT":
            conn.sendall(b"221 bye\r\n")
            return
        else:
            conn.sendall(b"250 ok\r\n")


for n in range(20):
    if time.time() - start > 60:
        break
    try:
        conn, _ = srv.accept()
    except socket.timeout:
        break
    conn.settimeout(10)
    try:
        session(conn)
    except OSError:
        pass
    finally:
        conn.close()
