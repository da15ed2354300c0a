"""A remote SMTP server that requires TLS and AUTH (PLAIN, LOGIN, CRAM-MD5), built on aiosmtpd.

usage: auth_peer.py PORT CERT KEY starttls|implicit USER PASSWORD OUTDIR [MIN_TLS]
Each message goes to OUTDIR/<n>.eml with X-Mail-From / X-Rcpt-To / X-TLS-Version lines; each
successful authentication appends its mechanism to OUTDIR/auth.log. MIN_TLS "1.3" makes the
peer speak TLS 1.3 only.
"""
import base64, hashlib, hmac, os, ssl, sys, time, itertools

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

port, cert, key, mode, user, password, outdir = sys.argv[1:8]
min_tls = sys.argv[8] if len(sys.argv) > 8 else None
port = int(port)
os.makedirs(outdir, exist_ok=True)
counter = itertools.count()


def note_auth(mech):
    with open(os.path.join(outdir, "auth.log"), "a") as f:
        f.write(mech + "\n")


class Handler:
    async def handle_DATA(self, server, session, envelope):
        n = next(counter)
        with open(os.path.join(outdir, f"{n:04}.eml"), "wb") as f:
            f.write(f"X-Mail-From: {envelope.mail_from}\r\n".encode())
            for r in envelope.rcpt_tos:
                f.write(f"X-Rcpt-To: {r}\r\n".encode())
            tls = server.transport.get_extra_info("ssl_object")
            f.write(f"X-TLS-Version: {tls.version() if tls else 'none'}\r\n".encode())
            f.write(envelope.original_content or envelope.content)
        return "250 2.0.0 stored"


def authenticator(server, session, envelope, mechanism, auth_data):
    if (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == user.encode()
        and auth_data.password == password.encode()
    ):
        note_auth(mechanism)
        return AuthResult(success=True)
    return AuthResult(success=False, handled=False)


class CramSMTP(SMTP):
    async def auth_CRAM__MD5(self, _, args):
        challenge = f"<{os.getpid()}.{time.time_ns()}@peer.test>".encode()
        answer = await self.challenge_auth(challenge)
        if answer is None or not isinstance(answer, bytes):
            return AuthResult(success=False, handled=False)
        name, _, digest = answer.decode(errors="replace").rpartition(" ")
        want = hmac.new(password.encode(), challenge, hashlib.md5).hexdigest()
        if name == user and hmac.compare_digest(digest, want):
            note_auth("CRAM-MD5")
            return AuthResult(success=True, auth_data=name)
        return AuthResult(success=False, handled=False)


class PeerController(Controller):
    def factory(self):
        return CramSMTP(self.handler, **self.SMTP_kwargs)


ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
if min_tls == "1.3":
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
kwargs = dict(
    hostname="127.0.0.1",
    port=port,
    authenticator=authenticator,
    auth_required=True,
    auth_require_tls=True,
    server_hostname="peer.test",
)
if mode == "implicit":
    # aiosmtpd only counts STARTTLS as encryption; the whole connection is TLS here.
    kwargs["auth_require_tls"] = False
    controller = PeerController(Handler(), ssl_context=ctx, **kwargs)
else:
    controller = PeerController(Handler(), tls_context=ctx, require_starttls=True, **kwargs)
controller.start()
print("ready", flush=True)
while True:
    time.sleep(3600)
