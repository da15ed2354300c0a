"""An MX for the MTA-STS tests, built on aiosmtpd: STARTTLS with CERT/KEY when given, else none.

usage: sts_peer.py PORT OUTDIR [CERT KEY]
Each message goes to OUTDIR/<n>.eml with X-Rcpt-To / X-TLS-Version lines.
"""
import itertools, os, ssl, sys, time

from aiosmtpd.controller import Controller

port, outdir = int(sys.argv[1]), sys.argv[2]
cert = sys.argv[3] if len(sys.argv) > 4 else None
key = sys.argv[4] if len(sys.argv) > 4 else None
os.makedirs(outdir, exist_ok=True)
counter = itertools.count()


class Handler:
    async def handle_DATA(self, server, session, envelope):
        n = next(counter)
        with open(os.path.join(outdir, f"{os.getpid()}-{n:04}.eml"), "wb") as f:
            for r in envelope.rcpt_tos:
                f.write(f"X-Rcpt-To: {r}\r\n".encode())
            tls = server.transport.get_extra_info("ssl_object")
            f.write(f"X-TLS-Version: {tls.version() if tls else 'none'}\r\n".encode())
            f.write(envelope.original_content or envelope.content)
        return "250 2.0.0 stored"


kwargs = dict(hostname="127.0.0.1", port=port, server_hostname="peer.test")
if cert:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    kwargs["tls_context"] = ctx
controller = Controller(Handler(), **kwargs)
controller.start()
while True:
    time.sleep(3600)
