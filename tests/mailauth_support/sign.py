"""Sign a message with dkimpy. Usage: sign.py MODE KEY DOMAIN SELECTOR IN OUT.
MODE: dkim (relaxed/simple), length (with l=), expired (x= an hour ago), arc (an ARC set sealed
by DOMAIN, authserv-id DOMAIN), times:N (N signatures)."""
import sys
import time

import dkim

mode, key, domain, selector, src, dst = sys.argv[1:7]
msg = open(src, "rb").read()
priv = open(key, "rb").read()
headers = [b"from", b"to", b"subject", b"date", b"message-id"]
if mode == "expired":
    original = dkim.DKIM.gen_header

    def gen_header(self, fields, include_headers, canon_policy, header_name, pk, *rest):
        past = str(int(time.time()) - 3600).encode()
        fields = [(b"t", str(int(time.time()) - 7200).encode()) if f[0] == b"t" else f for f in fields]
        fields.insert(len(fields) - 1, (b"x", past))
        return original(self, fields, include_headers, canon_policy, header_name, pk, *rest)

    dkim.DKIM.gen_header = gen_header
if mode == "arc":
    sig = dkim.arc_sign(msg, selector.encode(), domain.encode(), priv, domain.encode(),
                        include_headers=headers)
    out = b"".join(sig) + msg
elif mode.startswith("times:"):
    out = msg
    for _ in range(int(mode.split(":")[1])):
        out = dkim.sign(out, selector.encode(), domain.encode(), priv, include_headers=headers) + out
else:
    sig = dkim.sign(msg, selector.encode(), domain.encode(), priv, include_headers=headers,
                    length=(mode == "length"))
    out = sig + msg
open(dst, "wb").write(out)
