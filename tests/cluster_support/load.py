#!/usr/bin/python3
"""Timed SMTP load over several hosts: load.py HOSTS THREADS SECONDS USERS
Each thread keeps one smtplib connection to its host (threads spread round-robin over HOSTS,
port 2525) and sends messages to user<k>@cluster.test for SECONDS. Prints one JSON line:
messages, per second, latency p50/p95 in ms, errors."""
import json, smtplib, sys, threading, time

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
