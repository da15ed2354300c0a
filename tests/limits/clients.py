"""Hostile and ordinary clients for tests/limits_connections.rs, from chosen loopback addresses.

Every mode is bounded in connections and time and prints one JSON line of what it saw.

  hold HOST PORT SRC N            open N connections from SRC, print the first line each got,
                                  keep them open until stdin closes
  flood HOST PORT SRC CONC SECS PROTO USER
                                  waves of CONC parallel connections, one wave every half second
                                  for SECS seconds: each sends one wrong login (SMTP AUTH PLAIN /
                                  IMAP LOGIN) and hangs up at once
  login HOST PORT SRC PROTO USER PASS N
                                  N logins with the right password, one after another; their
                                  round-trip times in ms (smtplib AUTH PLAIN / imaplib LOGIN)
  trickle HOST PORT SRC N PREFIX PAYLOAD CHUNK INTERVAL LIMIT
                                  N connections each sending PREFIX at once, then PAYLOAD (Python
                                  escapes allowed) CHUNK bytes per INTERVAL seconds; when the
                                  server closed each, and its last line; gives up after LIMIT s
  noread HOST PORT PAYLOAD COUNT LIMIT
                                  send PAYLOAD COUNT times without reading anything; how long
                                  until the server drops the connection
"""

import base64
import imaplib
import json
import selectors
import smtplib
import socket
import sys
import threading
import time


def connect(host, port, src, timeout=5.0):
    s = socket.create_connection((host, port), timeout=timeout, source_address=(src, 0))
    return s


def first_line(s, timeout=3.0):
    s.settimeout(timeout)
    data = b""
    try:
        while b"\n" not in data and len(data) < 4096:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, OSError):
        pass
    return data.split(b"\n")[0].decode("latin-1").strip()


def hold(host, port, src, n):
    """Connects all N first, then collects each first line within 3 s in all."""
    socks, lines, connected = [], [], {}
    start = time.monotonic()
    for _ in range(n):
        try:
            s = connect(host, port, src)
            connected[s] = time.monotonic()
            socks.append(s)
        except OSError as e:
            lines.append("connect-error " + str(e))
    sel = selectors.DefaultSelector()
    pending = {}
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        pending[s] = b""
    firsts = {}
    slowest = 0.0
    # Lines are looked for once every connection is made: a line's wait counts from then at
    # the earliest (making 300 connections one by one takes a while on a loaded machine).
    looking = time.monotonic()
    deadline = looking + 3.0
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=max(0.0, deadline - time.monotonic())):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            buf = pending[s] + data
            if b"\n" in buf or not data:
                firsts[s] = buf.split(b"\n")[0].decode("latin-1").strip()
                slowest = max(slowest, time.monotonic() - max(connected[s], looking))
                sel.unregister(s)
                del pending[s]
            else:
                pending[s] = buf
    for s in socks:
        lines.append(firsts.get(s, ""))
    print(json.dumps({"lines": lines, "slowest_first_line": slowest,
                      "seconds": time.monotonic() - start}), flush=True)
    sys.stdin.read()
    for s in socks:
        s.close()


def wrong_login(proto, user):
    if proto == "smtp":
        blob = base64.b64encode(b"\0" + user.encode() + b"\0wrong-password").decode()
        return f"EHLO flood.test\r\nAUTH PLAIN {blob}\r\n".encode()
    return f'a LOGIN {user} "wrong-password"\r\n'.encode()


def flood(host, port, src, conc, secs, proto, user):
    stop = time.monotonic() + secs
    counts = {"attempts": 0, "refused": 0, "errors": 0}
    lock = threading.Lock()

    period = 0.5

    def worker():
        wave = time.monotonic()
        while time.monotonic() < stop:
            wave += period
            delay = wave - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            try:
                s = connect(host, port, src, timeout=3.0)
                greeting = first_line(s, timeout=3.0)
                if greeting.startswith("421") or greeting.startswith("* BYE"):
                    key = "refused"
                else:
                    s.sendall(wrong_login(proto, user))
                    key = "attempts"
                s.close()
            except OSError:
                key = "errors"
                time.sleep(0.01)
            with lock:
                counts[key] += 1

    threads = [threading.Thread(target=worker) for _ in range(conc)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(counts), flush=True)


class BoundIMAP4(imaplib.IMAP4):
    """imaplib from a chosen source address."""

    def __init__(self, host, port, src, timeout):
        self.src = src
        super().__init__(host, port, timeout=timeout)

    def _create_socket(self, timeout=None):
        return socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self.src, 0))


def login(host, port, src, proto, user, password, n):
    times = []
    ok = 0
    for _ in range(n):
        t0 = time.monotonic()
        try:
            if proto == "smtp":
                c = smtplib.SMTP(host, port, timeout=10, source_address=(src, 0))
                c.ehlo("client.test")
                c.user, c.password = user, password
                code, _ = c.auth("PLAIN", c.auth_plain, initial_response_ok=True)
                good = code == 235
                c.quit()
            else:
                c = BoundIMAP4(host, port, src, 10)
                typ, _ = c.login(user, password)
                good = typ == "OK"
                c.logout()
        except (OSError, smtplib.SMTPException, imaplib.IMAP4.error):
            good = False
        times.append((time.monotonic() - t0) * 1000.0)
        ok += good
        time.sleep(0.2)
    print(json.dumps({"ok": ok, "ms": times}), flush=True)


def unescape(text):
    return text.encode().decode("unicode_escape").encode("latin-1")


def trickle(host, port, src, n, prefix, payload, chunk, interval, limit):
    prefix, payload = unescape(prefix), unescape(payload)
    sel = selectors.DefaultSelector()
    conns = []
    start = time.monotonic()
    for i in range(n):
        s = connect(host, port, src)
        s.setblocking(False)
        if prefix:
            s.sendall(prefix)
        conns.append({"sock": s, "sent": 0, "buf": b"", "closed_at": None, "i": i})
        sel.register(s, selectors.EVENT_READ, conns[-1])
    next_send = start
    while time.monotonic() - start < limit and any(c["closed_at"] is None for c in conns):
        now = time.monotonic()
        if now >= next_send:
            for c in conns:
                if c["closed_at"] is None and c["sent"] < len(payload):
                    try:
                        c["sent"] += c["sock"].send(payload[c["sent"]:c["sent"] + chunk])
                    except OSError:
                        c["closed_at"] = now - start
            next_send += interval
        for key, _ in sel.select(timeout=max(0.0, min(0.05, next_send - time.monotonic()))):
            c = key.data
            try:
                data = c["sock"].recv(65536)
            except OSError:
                data = b""
            if not data:
                c["closed_at"] = time.monotonic() - start
                sel.unregister(c["sock"])
            else:
                c["buf"] += data
    out = []
    for c in conns:
        lines = [l for l in c["buf"].decode("latin-1").split("\r\n") if l]
        out.append({"closed_at": c["closed_at"], "sent": c["sent"],
                    "last": lines[-1] if lines else "", "lines": lines[-6:]})
        c["sock"].close()
    print(json.dumps(out), flush=True)


def tcp_state(s):
    """The kernel's TCP state of the socket: 1 is ESTABLISHED; after the server closes it is
    CLOSE_WAIT (8) or gone (a reset)."""
    try:
        return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]
    except OSError:
        return -1


def noread(host, port, payload, count, limit):
    payload = unescape(payload)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # A small receive window, so the server's replies back up quickly.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((host, port))
    s.settimeout(0.5)
    start = time.monotonic()
    sent = 0
    dropped_at = None
    while time.monotonic() - start < limit:
        if sent < count:
            try:
                s.send(payload)
                sent += 1
            except socket.timeout:
                pass
            except OSError:
                dropped_at = time.monotonic() - start
                break
        else:
            time.sleep(0.2)
        if tcp_state(s) != 1:
            dropped_at = time.monotonic() - start
            break
    print(json.dumps({"sent": sent, "dropped_at": dropped_at}), flush=True)
    s.close()


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "hold":
        hold(args[0], int(args[1]), args[2], int(args[3]))
    elif mode == "flood":
        flood(args[0], int(args[1]), args[2], int(args[3]), float(args[4]), args[5], args[6])
    elif mode == "login":
        login(args[0], int(args[1]), args[2], args[3], args[4], args[5], int(args[6]))
    elif mode == "trickle":
        trickle(args[0], int(args[1]), args[2], int(args[3]), args[4], args[5], int(args[6]),
                float(args[7]), float(args[8]))
    elif mode == "noread":
        noread(args[0], int(args[1]), args[2], int(args[3]), float(args[4]))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
