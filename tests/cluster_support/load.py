#!/usr/bin/python3
"""Timed load over several hosts.

  load.py HOSTS THREADS SECONDS USERS        SMTP: each thread keeps one smtplib connection to
      its host (threads round-robin over HOSTS, port 2525) and sends to user<k>@cluster.test for
      SECONDS. Prints one JSON line: messages, per second, latency p50/p95 in ms, errors.
  load.py --idle HOSTS SESSIONS SECONDS USERS READY  IMAP: SESSIONS imaplib sessions (round-robin
      over HOSTS, port 2143, user<k>/secret) SELECT INBOX (timed) and IDLE; once all idle, the
      file READY is made and they idle SECONDS more. Prints one JSON line: sessions idling,
      SELECT p50/p95 in ms."""
import imaplib, json, smtplib, sys, threading, time

if sys.argv[1] == "--idle":
    hosts = sys.argv[2].split(","); n = int(sys.argv[3]); secs = float(sys.argv[4]); users = int(sys.argv[5])
    ready = sys.argv[6]
    sel = []; ok = [0]; lock = threading.Lock(); all_idle = threading.Barrier(n + 1, timeout=600)
    def idler(k):
        m = imaplib.IMAP4(hosts[k % len(hosts)], 2143, timeout=60)
        m.login("user%d" % (k % users), "secret")
        t = time.time(); m.select("INBOX")
        with lock: sel.append(time.time() - t)
        tag = m._new_tag(); m.send(tag + b" IDLE\r\n")
        if m.readline().startswith(b"+"):
            with lock: ok[0] += 1
        all_idle.wait()
        time.sleep(secs)
        m.send(b"DONE\r\n")
        m.logout()
    ts = [threading.Thread(target=idler, args=(k,)) for k in range(n)]
    [t.start() for t in ts]
    all_idle.wait()
    open(ready, "w").close()
    [t.join(secs + 120) for t in ts]
    sel.sort()
    q = lambda p: round(1000 * sel[min(len(sel) - 1, int(p * len(sel)))], 1) if sel else None
    print(json.dumps({"idling": ok[0], "select_p50_ms": q(0.5), "select_p95_ms": q(0.95)}))
    sys.exit(0)

hosts = sys.argv[1].split(","); threads = int(sys.argv[2]); secs = float(sys.argv[3]); users = int(sys.argv[4])
lat = []; errors = [0]; lock = threading.Lock()
body = "Subject: load\r\n\r\n" + ("x" * 70 + "\r\n") * 40
end = time.time() + secs

def work(k):
    host = hosts[k % len(hosts)]
    s = smtplib.SMTP(host, 2525, timeout=60)
    n = 0
    while time.time() < end:
        t = time.time()
        try:
            s.sendmail("load@client.test", ["user%d@cluster.test" % ((k * 7 + n) % users)], body)
        except (OSError, smtplib.SMTPException):
            with lock: errors[0] += 1
            s = smtplib.SMTP(host, 2525, timeout=60)
            continue
        with lock: lat.append(time.time() - t)
        n += 1
    s.quit()

t0 = time.time()
ts = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
[t.start() for t in ts]; [t.join(secs + 120) for t in ts]
el = time.time() - t0
lat.sort()
q = lambda p: round(1000 * lat[min(len(lat) - 1, int(p * len(lat)))], 1) if lat else None
print(json.dumps({"messages": len(lat), "per_second": round(len(lat) / el, 1), "p50_ms": q(0.5), "p95_ms": q(0.95), "errors": errors[0]}))
