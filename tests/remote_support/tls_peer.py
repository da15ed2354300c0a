"""An MX for the MTA-STS and DANE tests, built on aiosmtpd: STARTTLS with CERT (a chain) and KEY when
given, else none.

usage: tls_peer.py ADDR PORT OUTDIR [CERT KEY]
Each message goes to OUTDIR/<n>.eml with X-Rcpt-To / X-TLS-Version / X-SNI lines.
"""
import itertools, os, ssl, sys, time

from aiosmtpd.controller import Controller

addr, port, outdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
cert = sys.argv[4] if len(sys.argv) > 5 else None
key = sys.argv[5] if len(sys.argv) > 5 else None
os.makedirs(outdir, exist_ok=True)
counter = itertools.count()
sni = {}


class Handler:
    async def handle_DATA(self, server, session, envelope):
        n = next(counter)
        with open(os.path.join(outdir, f"{os.getpid()}-{n:04}.eml"), "wb") as f:
            for r in envelope.rcpt_tos:
                f.write(f"X-Rcpt-To: {r}\r\n".encode())
            tls = server.transport.get_extra_info("ssl_object")
            f.write(f"X-TLS-Version: {tls.version() if tls else 'none'}\r\n".encode())
            name = sni.get(id(tls)) if tls else None
            f.write(f"X-SNI: {name or 'none'}\r\n".encode())
            f.write(envelope.original_content or envelope.content)
        return "250 2.0.0 stored"


kwargs = dict(hostname=addr, port=port, server_hostname="peer.test")
if cert:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)

    def remember(sock, name, _ctx):
        sni[id(sock)] = name

    ctx.sni_callback = remember
    kwargs["tls_context"] = ctx
controller = Controller(Handler(), **kwargs)
controller.start()
while True:
    time.sleep(3600)
