"""Verify every DKIM signature (or the ARC chain) of a message with dkimpy, looking keys up in a
dnsmasq on 127.0.0.1:PORT. Usage: verify.py PORT FILE [dkim|arc]. Prints one line per signature:
INDEX RESULT DOMAIN SELECTOR; for arc: the chain result."""
import sys

import dkim
import dns.resolver

port, path = int(sys.argv[1]), sys.argv[2]
mode = sys.argv[3] if len(sys.argv) > 3 else "dkim"
r = dns.resolver.Resolver(configure=False)
r.nameservers = ["127.0.0.1"]
r.port = port
r.lifetime = 5


def dnsfunc(name, timeout=5):
    try:
        answer = r.resolve(name.decode().rstrip("."), "TXT")
    except Exception:
        return None
    for rr in answer:
        return b"".join(rr.strings)
    return None


raw = open(path, "rb").read()
# Files from smtp-sink and maildirs may have bare LF line ends: back to the wire form.
msg = b"\r\n".join(raw.replace(b"\r\n", b"\n").split(b"\n"))
if mode == "arc":
    cv, results, reason = dkim.arc_verify(msg, dnsfunc=dnsfunc)
    print(cv.decode(), reason)
    sys.exit(0)
head = msg.split(b"\r\n\r\n", 1)[0]
count = sum(1 for line in head.split(b"\r\n") if line.lower().startswith(b"dkim-signature:"))
d = dkim.DKIM(msg, minkey=1024)
for i in range(count):
    try:
        ok = d.verify(idx=i, dnsfunc=dnsfunc)
    except dkim.DKIMException as e:
        ok = False
    dom = d.domain.decode() if d.domain else "-"
    sel = d.selector.decode() if d.selector else "-"
    print(i, "pass" if ok else "fail", dom, sel)
