"""A name server that answers every query with SERVFAIL: the upstream dnsmasq forwards one
zone to, so that the resolver postern asks (dnsmasq) passes SERVFAIL on, as a broken
authoritative server would make it do.

    servfail_dns.py PORT
Bounded: it exits after 300 seconds.
"""
import socket
import sys
import time

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", int(sys.argv[1])))
sock.settimeout(1)
start = time.time()
print("ready", flush=True)
while time.time() - start < 300:
    try:
        query, peer = sock.recvfrom(4096)
    except socket.timeout:
        continue
    if len(query) < 12:
        continue
    # Same id and question; QR, RD copied, RA, RCODE 2 (SERVFAIL); no records.
    flags = 0x8000 | (query[2] & 0x01) << 8 | 0x0080 | 2
    sock.sendto(query[:2] + flags.to_bytes(2, "big") + query[4:6] + bytes(6) + query[12:], peer)
