#!/usr/bin/env python3
"""IDLE fan-out (issue 13): N sessions idle on one INBOX; a message is delivered into the maildir
(written to tmp/, renamed into new/, as a local delivery does) and each session's time from the
rename to its `* n EXISTS` is measured. Loopback only, bounded (connect, login and every wait
have deadlines). Prints one human line ('# ...') and one JSON line: p50/p90/p99/max latency (ms)
over all sessions and rounds, and how many sessions never saw a delivery.

  bench-imap-idle.py --port P --user U --password PW --sessions N --maildir DIR
                     [--owner USER] [--rounds R] [--timeout S] [--label L] [--json-out FILE]
"""
import argparse
import asyncio
import json
import os
import pwd
import re
import socket
import sys
import time

EXISTS = re.compile(rb"^\* (\d+) EXISTS\r\n$")


def pct(vals, p):
    if not vals:
        return None
    vals = sorted(vals)
    k = min(len(vals) - 1, max(0, int(round(p / 100 * (len(vals) - 1)))))
    return vals[k]


class Session:
    def __init__(self, n):
        self.n = n
        self.reader = self.writer = None
        self.exists = None
        self.seen = {}  # round -> monotonic time its EXISTS arrived
        self.task = None

    async def cmd(self, tag, text, deadline):
        self.writer.write(("%s %s\r\n" % (tag, text)).encode())
        await self.writer.drain()
        while True:
            line = await asyncio.wait_for(self.reader.readline(), max(0.1, deadline - time.monotonic()))
            if not line:
                raise RuntimeError("connection closed after %s" % text.split()[0])
            m = EXISTS.match(line)
            if m:
                self.exists = int(m.group(1))
            if line.startswith(tag.encode() + b" "):
                if line.split()[1] != b"OK":
                    raise RuntimeError("%s: %r" % (text.split()[0], line))
                return

    async def open(self, port, user, password, deadline):
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), max(0.1, deadline - time.monotonic()))
        greeting = await asyncio.wait_for(self.reader.readline(), max(0.1, deadline - time.monotonic()))
        if not greeting.startswith(b"* OK"):
            raise RuntimeError("greeting %r" % greeting)
        await self.cmd("a", 'LOGIN %s "%s"' % (user, password), deadline)
        await self.cmd("b", "SELECT INBOX", deadline)
        self.writer.write(b"c IDLE\r\n")
        await self.writer.drain()
        while True:
            line = await asyncio.wait_for(self.reader.readline(), max(0.1, deadline - time.monotonic()))
            if not line:
                raise RuntimeError("closed before IDLE")
            if line.startswith(b"+"):
                return
            if line.startswith(b"c "):
                raise RuntimeError("IDLE refused: %r" % line)

    async def listen(self, state):
        """Reads while idling: the round's time when EXISTS grows."""
        while True:
            line = await self.reader.readline()
            if not line:
                return
            m = EXISTS.match(line)
            if m:
                count = int(m.group(1))
                if self.exists is None or count > self.exists:
                    self.seen.setdefault(state["round"], time.monotonic())
                self.exists = count
            if line.startswith(b"c "):
                return

    async def close(self):
        try:
            self.writer.write(b"DONE\r\nz LOGOUT\r\n")
            await self.writer.drain()
            self.writer.close()
        except (ConnectionError, OSError):
            pass


def deliver(maildir, owner, n):
    base = "%d.M%dP%dQ%d.benchidle" % (time.time(), n, os.getpid(), n)
    body = ("From: idle@bench.example\r\nTo: x@bench.example\r\nSubject: idle %d\r\n\r\n"
            "fan-out\r\n" % n).encode()
    tmp = os.path.join(maildir, "tmp", base)
    with open(tmp, "wb") as f:
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    if owner:
        pw = pwd.getpwnam(owner)
        os.chown(tmp, pw.pw_uid, pw.pw_gid)
    t0 = time.monotonic()
    os.rename(tmp, os.path.join(maildir, "new", "%s,S=%d" % (base, len(body))))
    return t0


async def main(a):
    for host in ("127.0.0.1",):
        if not host.startswith("127."):
            sys.exit("loopback only")
    deadline = time.monotonic() + a.timeout
    sessions = [Session(i) for i in range(a.sessions)]
    gate = asyncio.Semaphore(a.parallel)
    errors = []

    async def start(s):
        async with gate:
            try:
                await s.open(a.port, a.user, a.password, deadline)
            except Exception as e:  # noqa: BLE001 - reported, counted
                errors.append("session %d: %s" % (s.n, e))
                s.reader = None

    t_open = time.monotonic()
    await asyncio.gather(*(start(s) for s in sessions))
    opened = time.monotonic() - t_open
    live = [s for s in sessions if s.reader is not None]
    state = {"round": 0}
    for s in live:
        s.task = asyncio.create_task(s.listen(state))
    await asyncio.sleep(a.settle)
    lat, missing = [], 0
    for r in range(1, a.rounds + 1):
        state["round"] = r
        t0 = deliver(a.maildir, a.owner, r)
        end = min(deadline, time.monotonic() + a.wait)
        while time.monotonic() < end and any(r not in s.seen for s in live):
            await asyncio.sleep(0.005)
        for s in live:
            if r in s.seen:
                lat.append((s.seen[r] - t0) * 1e3)
            else:
                missing += 1
        await asyncio.sleep(a.pause)
    for s in live:
        await s.close()
        if s.task:
            s.task.cancel()
    rec = {"kind": "imap-idle", "port": a.port, "sessions": a.sessions, "idling": len(live),
           "rounds": a.rounds, "open_s": round(opened, 3),
           "p50_ms": pct(lat, 50), "p90_ms": pct(lat, 90), "p99_ms": pct(lat, 99),
           "max_ms": max(lat) if lat else None, "missing": missing, "errors": len(errors),
           "first_errors": errors[:5], "label": a.label}
    print("# %s: %d/%d sessions idling, %d rounds: p50 %s ms, p99 %s ms, max %s ms, %d missed, %d errors"
          % (a.label, len(live), a.sessions, a.rounds,
             *("%.1f" % v if v is not None else "-" for v in (rec["p50_ms"], rec["p99_ms"], rec["max_ms"])),
             missing, len(errors)))
    print(json.dumps(rec))
    if a.json_out:
        with open(a.json_out, "a") as f:
            f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--sessions", type=int, default=500)
    p.add_argument("--maildir", required=True)
    p.add_argument("--owner", default="")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--timeout", type=float, default=600, help="overall deadline (s)")
    p.add_argument("--wait", type=float, default=20, help="longest wait for one delivery (s)")
    p.add_argument("--settle", type=float, default=2, help="pause once all idle (s)")
    p.add_argument("--pause", type=float, default=1, help="pause between rounds (s)")
    p.add_argument("--parallel", type=int, default=20, help="logins at once")
    p.add_argument("--label", default="idle")
    p.add_argument("--json-out", default="")
    a = p.parse_args()
    socket.setdefaulttimeout(a.timeout)
    asyncio.run(main(a))
