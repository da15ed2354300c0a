//! imapd security over real connections: openssl s_client verifying the demo certificate
//! (STARTTLS and implicit TLS, and refusing a certificate it was not told to trust), SASL PLAIN
//! with imaplib and curl, the growing delay and the BYE after `[auth] max_failures` failed
//! logins, and `[auth.imap]` methods set to `deny`: not advertised, refused when tried.

use crate::common::{have, python, run, text, Demo};

/// A demo whose config ends with `extra` (TOML sections), restarted to read it.
fn demo_with(extra: &str) -> Demo {
    let mut demo = Demo::start();
    let mut config = std::fs::read_to_string(demo.config()).expect("config");
    config.push_str(extra);
    std::fs::write(demo.config(), config).expect("write config");
    demo.restart();
    demo
}

/// `openssl s_client` with `args`, the demo certificate (or `ca`) as the only trust anchor
/// and verification failures fatal; stdin from `input`.
fn s_client(demo: &Demo, ca: &std::path::Path, args: &str, input: &str) -> (bool, String) {
    let stdin = demo.dir.path().join("s_client.in");
    std::fs::write(&stdin, input).expect("stdin file");
    let cmd = format!(
        "openssl s_client -quiet -brief -verify_return_error -CAfile {} {args} < {}",
        ca.display(),
        stdin.display()
    );
    let out = run("sh", &["-c", &cmd]);
    (out.status.success(), format!("{cmd}\n{}", text(&out)))
}

#[test]
fn openssl_verifies_the_demo_certificate_with_starttls_and_implicit_tls() {
    assert!(
        have("openssl"),
        "openssl is not installed (bin/install-test-deps)"
    );
    let demo = Demo::start();
    let pw = demo.password();
    // Before TLS: STARTTLS offered, LOGIN disabled and refused.
    let plain = python(
        r#"
import socket, sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
f = s.makefile('rwb')
greeting = f.readline()
f.write(b'a1 LOGIN demo x\r\na2 CAPABILITY\r\na3 LOGOUT\r\n'); f.flush()
print(greeting.decode(), f.read().decode())
"#,
        &[&demo.port(2143).to_string()],
    );
    assert!(
        plain.contains("STARTTLS") && plain.contains("LOGINDISABLED"),
        "{plain}"
    );
    assert!(plain.contains("a1 NO [PRIVACYREQUIRED]"), "{plain}");
    assert!(plain.contains("a3 OK"), "{plain}");

    let cert = demo.root().join("cert.pem");
    let script = format!("a1 LOGIN demo \"{pw}\"\r\na2 SELECT INBOX\r\na3 LOGOUT\r\n");
    for args in [
        format!("-starttls imap -connect 127.0.0.1:{}", demo.port(2143)),
        format!("-connect 127.0.0.1:{}", demo.port(2993)),
    ] {
        let (ok, t) = s_client(&demo, &cert, &args, &script);
        assert!(ok, "{t}");
        assert!(t.contains("Verification: OK"), "{t}");
        assert!(
            t.contains("Peer certificate: CN = mail.example.test"),
            "{t}"
        );
        assert!(t.contains("a1 OK"), "{t}");
        assert!(t.contains("a2 OK [READ-WRITE]"), "{t}");
        assert!(t.contains("* BYE"), "{t}");
    }
    // A certificate the client was not told to trust fails verification: no session.
    let other = demo.dir.path().join("other.pem");
    let made = demo.postern(&[
        "cert",
        "gen",
        "--cn",
        "other.example.test",
        "--cert",
        other.to_str().expect("utf-8"),
        "--key",
        demo.dir.path().join("other.key").to_str().expect("utf-8"),
    ]);
    assert!(made.status.success(), "{}", text(&made));
    for args in [
        format!("-starttls imap -connect 127.0.0.1:{}", demo.port(2143)),
        format!("-connect 127.0.0.1:{}", demo.port(2993)),
    ] {
        let (ok, t) = s_client(&demo, &other, &args, &script);
        assert!(!ok, "{t}");
        assert!(t.contains("certificate verify failed"), "{t}");
        assert!(!t.contains("a1 OK"), "{t}");
    }
}

#[test]
fn sasl_plain_then_failed_logins_are_slowed_and_end_in_bye() {
    assert!(
        have("curl"),
        "curl is not installed (bin/install-test-deps)"
    );
    let demo = demo_with(
        "\n[auth]\nmax_failures = 2\nfailure_delay = \"1s\"\nmax_failure_delay = \"2s\"\n",
    );
    let cert = demo.root().join("cert.pem");
    let out = python(
        r#"
import imaplib, ssl, sys, time, base64
port, pw, cafile = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=cafile); ctx.check_hostname = False
M = imaplib.IMAP4_SSL('127.0.0.1', port, ssl_context=ctx)
assert 'AUTH=PLAIN' in M.capabilities, M.capabilities
typ, data = M.authenticate('PLAIN', lambda _: b'\0demo\0' + pw.encode())
assert typ == 'OK', data
assert M.select('INBOX')[0] == 'OK'
M.logout()
print('plain ok')

# A wrong LOGIN, then a wrong AUTHENTICATE PLAIN: each answered after a growing delay; the
# second (max_failures = 2) also ends the connection.
M = imaplib.IMAP4_SSL('127.0.0.1', port, ssl_context=ctx)
def timed(cmd):
    tag = M._new_tag()
    start = time.time()
    M.send(tag + b' ' + cmd + b'\r\n')
    line = M.readline()
    return time.time() - start, line
d1, l1 = timed(b'LOGIN demo wrong')
assert l1.endswith(b'NO [AUTHENTICATIONFAILED] Authentication failed\r\n'), l1
ir = base64.b64encode(b'\0demo\0wrong')
d2, l2 = timed(b'AUTHENTICATE PLAIN ' + ir)
assert l2.endswith(b'NO [AUTHENTICATIONFAILED] Authentication failed\r\n'), l2
assert M.readline() == b'* BYE Too many failed logins\r\n'
assert M.readline() == b'', 'still open after max_failures'
assert 0.9 < d1 < 1.9 and 1.9 < d2 < 3.5, (d1, d2)
print(f'delays {d1:.2f} {d2:.2f}')
"#,
        &[
            &demo.port(2993).to_string(),
            &demo.password(),
            cert.to_str().expect("utf-8"),
        ],
    );
    assert!(out.contains("plain ok") && out.contains("delays "), "{out}");
    // curl with SASL PLAIN, verifying the certificate (its names include 127.0.0.1).
    let curl = run(
        "curl",
        &[
            "-sS",
            "--cacert",
            cert.to_str().expect("utf-8"),
            "--login-options",
            "AUTH=PLAIN",
            "--user",
            &format!("demo:{}", demo.password()),
            &format!("imaps://127.0.0.1:{}/", demo.port(2993)),
        ],
    );
    assert!(curl.status.success(), "{}", text(&curl));
    assert!(text(&curl).contains("INBOX"), "{}", text(&curl));
    let log = demo.log();
    assert_eq!(log.matches("event=login_failed").count(), 2, "{log}");
    assert!(
        log.contains("mechanism=PLAIN") && log.contains("peer=127.0.0.1:"),
        "{log}"
    );
}

#[test]
fn denied_methods_are_not_advertised_and_refused() {
    let demo = demo_with("\n[auth.imap]\nlogin_command = \"deny\"\nplain = \"deny\"\n");
    let out = python(
        r#"
import imaplib, ssl, sys, base64
port, pw = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
M = imaplib.IMAP4_SSL('127.0.0.1', port, ssl_context=ctx)
caps = M.capabilities
# Even over TLS: no AUTH=PLAIN, LOGIN disabled; the other mechanisms stay.
assert 'AUTH=PLAIN' not in caps and 'LOGINDISABLED' in caps, caps
assert 'AUTH=LOGIN' in caps and 'AUTH=CRAM-MD5' in caps, caps
def raw(cmd):
    tag = M._new_tag()
    M.send(tag + b' ' + cmd + b'\r\n')
    return M.readline()
line = raw(b'LOGIN demo ' + pw.encode())
assert b' NO ' in line and b'LOGIN is disabled' in line and b'PRIVACYREQUIRED' not in line, line
line = raw(b'AUTHENTICATE PLAIN ' + base64.b64encode(b'\0demo\0' + pw.encode()))
assert b' NO [CANNOT] This mechanism is not available' in line, line
# Refusals are not failed logins: the connection stays, and an allowed mechanism works.
answers = iter([b'demo', pw.encode()])
typ, data = M.authenticate('LOGIN', lambda challenge: next(answers))
assert typ == 'OK', data
assert M.select('INBOX')[0] == 'OK'
M.logout()
print('denied ok')
"#,
        &[&demo.port(2993).to_string(), &demo.password()],
    );
    assert!(out.contains("denied ok"), "{out}");
    assert!(!demo.log().contains("event=login_failed"), "{}", demo.log());
}
