"""Clients caught by a server shutdown, for tests/graceful_shutdown.rs.

  clients.py PORT_OFFSET PASSWORD

Opens, against `serve --demo`: an SMTP session at rest (after EHLO), an SMTP session in the
middle of DATA, a POP3 session at rest, an IMAP session at rest and an IMAPS session in IDLE.
Prints "ready", waits for a line on stdin (the test has sent SIGTERM), then reads what each got,
finishes the DATA transfer, tries a new connection, and prints one JSON object.
"""

import json
import socket
import ssl
import sys
import time


def line(sock, timeout=10.0):
    sock.settimeout(timeout)
    data = b""
    try:
        while not data.endswith(b"\n"):
            chunk = sock.recv(1)
            if not chunk:
                break
            data += chunk
    except OSError as e:
        return "error: " + str(e)
    return data.decode("latin-1").strip()


def lines_until(sock, prefix, limit=20):
    seen = []
    for _ in range(limit):
        got = line(sock)
        seen.append(got)
        if got.startswith(prefix) or not got or got.startswith("error"):
            break
    return seen


def main():
    offset, password = int(sys.argv[1]), sys.argv[2]
    smtp, pop3, imap, imaps = 2525 + offset, 2110 + offset, 2143 + offset, 2993 + offset

    rest = socket.create_connection(("127.0.0.1", smtp))
    line(rest)
    rest.sendall(b"EHLO rest.test\r\n")
    lines_until(rest, "250 ")

    data = socket.create_connection(("127.0.0.1", smtp))
    line(data)
    data.sendall(b"EHLO data.test\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<demo@example.test>\r\nDATA\r\n")
    lines_until(data, "354")
    data.sendall(b"Subject: caught by shutdown\r\n\r\nfirst half\r\n")

    pop = socket.create_connection(("127.0.0.1", pop3))
    line(pop)

    im = socket.create_connection(("127.0.0.1", imap))
    line(im)

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    idle = ctx.wrap_socket(socket.create_connection(("127.0.0.1", imaps)))
    line(idle)
    idle.sendall(f'a LOGIN demo "{password}"\r\nb SELECT INBOX\r\nc IDLE\r\n'.encode())
    lines_until(idle, "+ ")

    print("ready", flush=True)
    sys.stdin.readline()

    out = {
        "smtp_rest": line(rest),
        "pop3_rest": line(pop),
        "imap_rest": line(im),
        "imap_idle": line(idle),
    }
    # The transfer in progress finishes and is accepted; then the session says goodbye.
    data.sendall(b"second half\r\n.\r\n")
    out["smtp_data"] = line(data)
    out["smtp_data_after"] = line(data)
    time.sleep(0.5)
    try:
        socket.create_connection(("127.0.0.1", smtp), timeout=2).close()
        out["new_connection"] = "accepted"
    except OSError as e:
        out["new_connection"] = "refused: " + str(e)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
