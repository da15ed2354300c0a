"""An SMTP peer that offers STARTTLS but cannot do it: after "220 ready" it sends bytes that are
not a TLS handshake (MODE garbage) or hangs up (MODE close). A session that does not try
STARTTLS works, and each complete message is saved as DIR/N.eml (X-Rcpt-To lines, then the
message). DIR/sessions.log gets one line per session that sent a command: "starttls" or "plain".
It offers AUTH PLAIN LOGIN (never checked: any credentials do); each AUTH command is written to
DIR/auth.log as it arrived, so a test can see a password sent in the clear.

    broken_tls_peer.py PORT DIR MODE
Bounded: it exits after 40 sessions or 120 seconds.
"""
import os
import socket
import sys
import time

port, out, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
os.makedirs(out, exist_ok=True)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(8)
srv.settimeout(120)
start = time.time()
saved = 0


def note(kind):
    with open(os.path.join(out, "sessions.log"), "a") as f:
        f.write(kind + "\n")


def session(conn):
    global saved
    f = conn.makefile("rb")
    conn.sendall(b"220 broken-tls ESMTP\r\n")
    rcpts = []
    spoke = False
    while True:
        line = f.readline(1000)
        if not line:
            if spoke:
                note("plain")  # (not the start-up probe, which says nothing)
            return
        verb = line[:8].upper().strip()
        spoke = True
        if verb[:4] in (b"EHLO", b"HELO"):
            conn.sendall(b"250-broken-tls\r\n250-8BITMIME\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n")
        elif verb[:4] == b"AUTH":
            with open(os.path.join(out, "auth.log"), "ab") as a:
                a.write(line)
            conn.sendall(b"235 2.7.0 ok\r\n")
        elif verb == b"STARTTLS":
            note("starttls")
            conn.sendall(b"220 2.0.0 Ready to start TLS\r\n")
            if mode == "garbage":
                conn.sendall(b"this is not a TLS server hello\r\n" * 4)
                time.sleep(0.2)
            conn.shutdown(socket.SHUT_RDWR)
            return
        elif verb[:4] == b"MAIL":
            rcpts = []
            conn.sendall(b"250 2.1.0 ok\r\n")
        elif verb[:4] == b"RCPT":
            rcpts.append(line[8:].strip().split(b">")[0].strip(b"<").decode())
            conn.sendall(b"250 2.1.5 ok\r\n")
        elif verb[:4] == b"DATA":
            conn.sendall(b"354 go ahead\r\n")
            body = []
            while True:
                l = f.readline(100000)
                if not l:
                    return
                if l == b".\r\n":
                    break
                body.append(l)
            saved += 1
            with open(os.path.join(out, "%d.eml" % saved), "wb") as m:
                for r in rcpts:
                    m.write(b"X-Rcpt-To: " + r.encode() + b"\r\n")
                m.write(b"".join(body))
            conn.sendall(b"250 2.0.0 queued\r\n")
        elif verb[:4] == b"QUIT":
            conn.sendall(b"221 2.0.0 bye\r\n")
            note("plain")
            return
        else:
            conn.sendall(b"250 ok\r\n")


for n in range(40):
    if time.time() - start > 120:
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
