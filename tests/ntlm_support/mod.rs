//! NTLM clients for the tests: curl with `--login-options AUTH=NTLM`, and Python's ntlm-auth
//! (Debian python3-ntlm-auth) over IMAP AUTHENTICATE and POP3 AUTH.
#![allow(dead_code)]

use crate::common::*;

/// IMAP AUTHENTICATE NTLM and POP3 AUTH NTLM with ntlm-auth's NtlmContext (NTLMv2), both after
/// STARTTLS; prints `imap ok|fail` and `pop3 ok|fail`.
pub const PY_NTLM: &str = r#"
import imaplib, poplib, ssl, sys, base64
from ntlm_auth.ntlm import NtlmContext
host, imap_port, pop3_port, cafile, user, pw = sys.argv[1:7]
ctx = ssl.create_default_context(cafile=cafile)
def context():
    return NtlmContext(user, pw, domain="", workstation="PYWS", ntlm_compatibility=3)
n = context()
state = {"sent": False}
def answer(challenge):
    if not state["sent"]:
        state["sent"] = True
        return n.step()
    return n.step(challenge)
try:
    m = imaplib.IMAP4(host, int(imap_port)); m.starttls(ssl_context=ctx)
    caps = m.capabilities
    m.authenticate("NTLM", answer)
    m.logout(); print("imap ok", "AUTH=NTLM" in caps)
except imaplib.IMAP4.error as e:
    print("imap fail", e)
n = context()
try:
    p = poplib.POP3(host, int(pop3_port)); p.stls(context=ctx)
    r = p._shortcmd("AUTH NTLM")
    r = p._shortcmd(base64.b64encode(n.step()).decode())
    challenge = base64.b64decode(r[2:])
    r = p._shortcmd(base64.b64encode(n.step(challenge)).decode())
    p.quit(); print("pop3 ok", r.decode())
except poplib.error_proto as e:
    print("pop3 fail", e)
"#;

/// OpenSSL's default provider plus the legacy one (MD4).
pub const OPENSSL_LEGACY: &str = "openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
default = default_sect
legacy = legacy_sect
[default_sect]
activate = 1
[legacy_sect]
activate = 1
";

pub fn curl_ntlm(
    demo: &Demo,
    url: &str,
    user: &str,
    pw: &str,
    extra: &[&str],
) -> std::process::Output {
    let cert = demo.root().join("cert.pem").display().to_string();
    let userpw = format!("{user}:{pw}");
    let mut args = vec![
        "-sS",
        "-v",
        "--ssl-reqd",
        "--cacert",
        &cert,
        "--login-options",
        "AUTH=NTLM",
        "--user",
        &userpw,
        url,
    ];
    args.extend_from_slice(extra);
    run("curl", &args)
}

/// Python ntlm-auth as `user`/`pw` (empty NTLM domain) against the demo's IMAP and POP3
/// (STARTTLS): its output, `imap ok|fail …` and `pop3 ok|fail …`.
pub fn python_ntlm(demo: &Demo, user: &str, pw: &str) -> String {
    let cert = demo.root().join("cert.pem").display().to_string();
    let imap = demo.port(2143).to_string();
    let pop3 = demo.port(2110).to_string();
    // ntlm-auth hashes with MD4, which OpenSSL 3 keeps in its legacy provider.
    let openssl_conf = demo.root().join("openssl-legacy.cnf");
    std::fs::write(&openssl_conf, OPENSSL_LEGACY).unwrap();
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", PY_NTLM, "127.0.0.1", &imap, &pop3, &cert, user, pw])
        .env("OPENSSL_CONF", &openssl_conf)
        .output()
        .unwrap();
    text(&out)
}
