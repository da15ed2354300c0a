#!/usr/bin/env python3
"""Concurrent mixed IMAP workload (issue 13): N clients, each its own session on one shared
INBOX, each doing random SELECT / FETCH / STORE / EXPUNGE / APPEND for a fixed time, every reply
state-checked. Loopback only, bounded (time and operations). Prints one human line ('# ...')
and one JSON line: commands/s, per-command p50/p99 latency (ms), protocol errors (a NO, BAD,
BYE or a failed check) with the first few described.

  bench-imap-mixed.py --port P --user U --password PW --clients N [--seconds S] [--label L]

Checks per command: tagged OK; SELECT reports EXISTS and the same UIDVALIDITY all run long;
APPEND returns APPENDUID with that UIDVALIDITY and a UID above every UID this client saw;
STORE +FLAGS on a live message answers with FLAGS carrying the flag; FETCH returns a FETCH for
every message it names that is still there (the server may also report it gone); EXPUNGE
(UID EXPUNGE of the client's own \\Deleted message) removes it (a later UID FETCH gets
nothing for it).
"""
import argparse
import imaplib
import json
import random
import re
import sys
import threading
import time

OPS = ("SELECT", "FETCH", "STORE", "EXPUNGE", "APPEND")


def pct(vals, p):
    if not vals:
        return None
    vals = sorted(vals)
    k = min(len(vals) - 1, max(0, int(round(p / 100 * (len(vals) - 1)))))
    return vals[k]


class Client(threading.Thread):
    def __init__(self, args, n, deadline, shared):
        super().__init__(daemon=True)
        self.args, self.n, self.deadline, self.shared = args, n, deadline, shared
        self.lat = {op: [] for op in OPS}
        self.errors = []
        self.rng = random.Random(args.seed * 1000 + n)
        self.max_uid = 0
        self.mine = []  # UIDs this client appended and may expunge

    def fail(self, op, what):
        self.errors.append(f"client {self.n} {op}: {what}")

    def timed(self, op, fn):
        t = time.monotonic()
        try:
            r = fn()
        except imaplib.IMAP4.abort as e:
            raise
        except imaplib.IMAP4.error as e:
            self.lat[op].append(time.monotonic() - t)
            self.fail(op, f"error {e}")
            return None
        self.lat[op].append(time.monotonic() - t)
        return r

    def uids(self, data):
        out = []
        for d in data:
            blob = d[0] if isinstance(d, tuple) else d
            if isinstance(blob, bytes):
                m = re.search(rb"UID (\d+)", blob)
                if m:
                    out.append(int(m.group(1)))
        return out

    def select(self, M):
        typ, data = M.select("INBOX")
        if typ != "OK":
            return self.fail("SELECT", data)
        v = M.untagged_responses.get("UIDVALIDITY", [b"0"])[-1]
        with self.shared["lock"]:
            known = self.shared.setdefault("uidvalidity", v)
        if v != known:
            self.fail("SELECT", f"UIDVALIDITY {v} != {known}")
        if "EXISTS" not in M.untagged_responses:
            self.fail("SELECT", "no EXISTS")
        return True

    def run(self):
        a = self.args
        try:
            M = imaplib.IMAP4("127.0.0.1", a.port, timeout=a.timeout)
            M.login(a.user, a.password)
            self.timed("SELECT", lambda: self.select(M))
            ops = 0
            while time.monotonic() < self.deadline and ops < a.max_ops:
                ops += 1
                op = self.rng.choices(OPS, weights=a.weights)[0]
                getattr(self, "op_" + op.lower())(M)
            M.logout()
        except Exception as e:  # a dropped connection is a protocol error too
            self.fail("SESSION", repr(e))

    def op_select(self, M):
        self.timed("SELECT", lambda: self.select(M))

    def op_fetch(self, M):
        def go():
            # Flags of a recent window and one message's body, as a client's list view does.
            typ, data = M.uid("FETCH", f"{max(1, self.max_uid - 50)}:*", "(FLAGS RFC822.SIZE)")
            if typ != "OK":
                return self.fail("FETCH", data)
            got = self.uids(data)
            if got:
                self.max_uid = max(self.max_uid, max(got))
                pick = self.rng.choice(got)
                typ, data = M.uid("FETCH", str(pick), "(BODY.PEEK[])")
                if typ != "OK":
                    return self.fail("FETCH", data)
            return True
        self.timed("FETCH", go)

    def op_store(self, M):
        def go():
            if not self.max_uid:
                return True
            uid = self.rng.randint(max(1, self.max_uid - 50), self.max_uid)
            flag = "\\Flagged"
            typ, data = M.uid("STORE", str(uid), "+FLAGS", f"({flag})")
            if typ != "OK":
                return self.fail("STORE", data)
            for d in data:
                if isinstance(d, bytes) and re.search(rb"UID %d\b" % uid, d) and flag.encode() not in d:
                    self.fail("STORE", f"FLAGS without {flag}: {d!r}")
            return True
        self.timed("STORE", go)

    def op_expunge(self, M):
        def go():
            if not self.mine:
                return True
            uid = self.mine.pop(0)
            typ, data = M.uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Deleted)")
            if typ != "OK":
                return self.fail("EXPUNGE", data)
            typ, data = M.uid("EXPUNGE", str(uid))
            if typ != "OK":
                return self.fail("EXPUNGE", data)
            typ, data = M.uid("FETCH", str(uid), "(FLAGS)")
            if typ == "OK" and uid in self.uids(data):
                self.fail("EXPUNGE", f"UID {uid} still there")
            return True
        self.timed("EXPUNGE", go)

    def op_append(self, M):
        def go():
            body = (f"From: bench{self.n}@example.test\r\nSubject: mixed {self.n}\r\n\r\n"
                    + "x" * self.rng.randint(200, 4000) + "\r\n").encode()
            typ, data = M.append("INBOX", None, None, body)
            if typ != "OK":
                return self.fail("APPEND", data)
            m = re.search(rb"APPENDUID (\d+) (\d+)", data[0] or b"")
            if not m:
                return self.fail("APPEND", f"no APPENDUID: {data}")
            uid = int(m.group(2))
            with self.shared["lock"]:
                known = self.shared.get("uidvalidity")
            if known is not None and m.group(1) != known:
                self.fail("APPEND", f"APPENDUID validity {m.group(1)} != {known}")
            if uid <= self.max_uid and uid in self.mine:
                self.fail("APPEND", f"UID {uid} reused")
            self.max_uid = max(self.max_uid, uid)
            self.mine.append(uid)
            return True
        self.timed("APPEND", go)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--clients", type=int, default=10)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--max-ops", type=int, default=100000, help="per client")
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--weights", default="1,4,2,1,2", help="SELECT,FETCH,STORE,EXPUNGE,APPEND")
    p.add_argument("--label", default="mixed")
    p.add_argument("--json-out")
    a = p.parse_args()
    a.weights = [float(w) for w in a.weights.split(",")]
    if len(a.weights) != len(OPS):
        p.error("--weights needs 5 numbers")
    shared = {"lock": threading.Lock()}
    start = time.monotonic()
    deadline = start + a.seconds
    clients = [Client(a, i, deadline, shared) for i in range(a.clients)]
    for c in clients:
        c.start()
    for c in clients:
        c.join(a.seconds + a.timeout + 30)
    wall = time.monotonic() - start
    lat = {op: [x for c in clients for x in c.lat[op]] for op in OPS}
    errors = [e for c in clients for e in c.errors]
    commands = sum(len(v) for v in lat.values())
    rec = {
        "kind": "imap-mixed", "label": a.label, "clients": a.clients, "seconds": round(wall, 3),
        "commands": commands, "commands_per_s": round(commands / wall, 1) if wall else None,
        "errors": len(errors), "first_errors": errors[:5],
    }
    for op in OPS:
        rec[f"{op.lower()}_n"] = len(lat[op])
        for q in (50, 99):
            v = pct(lat[op], q)
            rec[f"{op.lower()}_p{q}_ms"] = round(v * 1e3, 2) if v is not None else None
    every = [x for v in lat.values() for x in v]
    rec["p50_ms"] = round(pct(every, 50) * 1e3, 2) if every else None
    rec["p99_ms"] = round(pct(every, 99) * 1e3, 2) if every else None
    print(f"# {a.label}: {a.clients} clients, {commands} commands in {wall:.1f} s "
          f"({rec['commands_per_s']}/s), p50 {rec['p50_ms']} ms, p99 {rec['p99_ms']} ms, "
          f"{len(errors)} errors")
    line = json.dumps(rec)
    print(line)
    if a.json_out:
        with open(a.json_out, "a") as f:
            f.write(line + "\n")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
