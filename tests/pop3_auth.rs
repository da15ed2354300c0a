//! popd's authentication and TLS with real clients: openssl s_client (STLS and implicit TLS,
//! verifying the demo certificate), commands pipelined behind STLS discarded (the STARTTLS
//! command-injection class), the POP3 override password, denied methods, and SCRAM-SHA-256 driven
//! by GNU SASL (`gsasl`) through a small relay, as gsasl has no POP3 mode of its own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
mod pop3util;

use common::*;

#[test]
fn openssl_stls_and_implicit_tls_verify_the_demo_certificate() {
    assert!(
        have("openssl"),
        "openssl is not installed (bin/install-test-deps)"
    );
    let demo = Demo::start();
    pop3util::fill(&demo.maildir("demo"), 2, 700);
    let cert = demo.root().join("cert.pem").display().to_string();
    let verify = [
        "-CAfile",
        &cert,
        "-verify_return_error",
        "-verify_ip",
        "127.0.0.1",
    ];
    let input = format!(
        "CAPA\nUSER demo\nPASS {}\nSTAT\nUIDL 2\nQUIT\n",
        demo.password()
    );
    let stls = format!("127.0.0.1:{}", demo.port(2110));
    let pop3s = format!("127.0.0.1:{}", demo.port(2995));
    for (name, mut args) in [
        ("stls", vec!["-starttls", "pop3", "-connect", &stls]),
        ("pop3s", vec!["-connect", &pop3s]),
    ] {
        args.extend(verify);
        let out = s_client(&args, &input);
        assert!(out.contains("Verify return code: 0 (ok)"), "{name}: {out}");
        assert!(
            out.contains("subject=CN = mail.example.test"),
            "{name}: {out}"
        );
        // Once encrypted, USER is offered and STLS is not.
        assert!(out.contains("\nUSER\r\n"), "{name}: {out}");
        assert!(!out.contains("\nSTLS\r\n"), "{name}: {out}");
        assert!(out.contains("+OK demo has 2 messages"), "{name}: {out}");
        let stat = out
            .lines()
            .find(|l| l.starts_with("+OK 2 ") && !l.contains('.'));
        assert!(stat.is_some(), "STAT: {name}: {out}");
        let uidl = out
            .lines()
            .find_map(|l| l.strip_prefix("+OK 2 ").filter(|u| u.contains('.')));
        assert!(
            uidl.is_some_and(|u| u.trim_end().ends_with(".2")),
            "UIDL 2: {name}: {out}"
        );
        assert!(out.contains("signing off"), "{name}: {out}");
    }
    // The client really checks: against another name, the handshake is refused.
    let mut args = vec!["-connect", &pop3s, "-CAfile", &cert, "-verify_return_error"];
    args.extend(["-verify_hostname", "mail.other.test"]);
    let out = s_client(&args, "QUIT\n");
    assert!(out.contains("hostname mismatch"), "{out}");
    assert!(!out.contains("+OK"), "{out}");
    let log = demo.log();
    assert!(
        log.contains("event=login protocol=pop3 listener=pop3 ")
            && log.contains("event=login protocol=pop3 listener=pop3s "),
        "{log}"
    );
}

/// Commands sent in the same write as STLS are discarded, never run after the handshake;
/// plaintext sent after the `+OK` breaks the handshake instead of being read as a command.
const INJECTION: &str = r#"
import socket, ssl, sys
port, cafile, pw = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=cafile)
def line(f):
    return f.readline().decode().rstrip("\r\n")
def listing(f):
    out = []
    while True:
        l = line(f)
        if l == ".":
            return out
        out.append(l)

s = socket.create_connection(("127.0.0.1", port), timeout=20)
f = s.makefile("rb")
line(f)
s.sendall(("STLS\r\nUSER demo\r\nPASS %s\r\nDELE 1\r\nQUIT\r\n" % pw).encode())
print("stls", line(f))
t = ctx.wrap_socket(s, server_hostname="127.0.0.1")
g = t.makefile("rb")
# The first reply after the handshake answers STAT: the injected USER/PASS/QUIT never ran.
t.sendall(b"STAT\r\n")
print("stat", line(g))
t.sendall(("PASS %s\r\n" % pw).encode())
print("pass", line(g))
t.sendall(b"CAPA\r\n")
line(g)
caps = listing(g)
print("capa", "USER" in caps, "STLS" in caps)
t.sendall(b"STLS\r\n")
print("stls-again", line(g))
t.sendall(("USER demo\r\nPASS %s\r\nSTAT\r\nQUIT\r\n" % pw).encode())
print("user", line(g))
print("login", line(g))
print("stat", line(g))
print("quit", line(g))
t.close()

s = socket.create_connection(("127.0.0.1", port), timeout=20)
f = s.makefile("rb")
line(f)
s.sendall(b"STLS\r\n")
print("stls", line(f))
s.sendall(b"QUIT\r\n")
try:
    ctx.wrap_socket(s, server_hostname="127.0.0.1")
    print("handshake-succeeded")
except (ssl.SSLError, OSError):
    print("handshake-failed")
"#;

#[test]
fn commands_pipelined_behind_stls_are_discarded() {
    let demo = Demo::start();
    pop3util::fill(&demo.maildir("demo"), 3, 500);
    let cert = demo.root().join("cert.pem").display().to_string();
    let out = python(
        INJECTION,
        &[&demo.port(2110).to_string(), &cert, &demo.password()],
    );
    let lines: Vec<&str> = out.lines().collect();
    let want = [
        "stls +OK begin TLS negotiation",
        "stat -ERR not logged in",
        "pass -ERR send USER first",
        "capa True False",
        "stls-again -ERR already using TLS",
        "user +OK send PASS",
        "login +OK demo has 3 messages",
        "stat +OK 3 ",
        "quit +OK mail.example.test POP3 server signing off",
        "stls +OK begin TLS negotiation",
        "handshake-failed",
    ];
    assert_eq!(lines.len(), want.len(), "{out}\n{}", demo.log());
    for (got, want) in lines.iter().zip(want) {
        assert!(
            got.starts_with(want),
            "{got:?} should start with {want:?}\n{out}"
        );
    }
    // Neither the injected DELE nor its QUIT took anything.
    assert_eq!(maildir_files(&demo.maildir("demo")).len(), 3);
    assert_eq!(
        demo.log().matches("event=login protocol=pop3").count(),
        1,
        "{}",
        demo.log()
    );
}

/// `login(port, user, password)` over POP3S: the server's first answer to PASS; `plain(...)`:
/// the answer to AUTH PLAIN; `imap(...)`: IMAP LOGIN over IMAPS, "OK" or the error.
const LOGINS: &str = r#"
import base64, imaplib, poplib, ssl, sys
pop3s, imaps, login_pw, pop_pw = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=sys.argv[5])
ctx.check_hostname = False
def pop(): return poplib.POP3_SSL("127.0.0.1", pop3s, context=ctx, timeout=20)
def userpass(pw):
    p = pop()
    p.user("demo")
    try:
        r = p.pass_(pw).decode()
        p.quit()
        return r
    except poplib.error_proto as e:
        return e.args[0].decode()
def plain(pw):
    p = pop()
    token = base64.b64encode(b"\0demo\0" + pw.encode()).decode()
    try:
        r = p._shortcmd("AUTH PLAIN " + token).decode()
        p.quit()
        return r
    except poplib.error_proto as e:
        return e.args[0].decode()
def imap(pw):
    i = imaplib.IMAP4_SSL("127.0.0.1", imaps, ssl_context=ctx, timeout=20)
    try:
        i.login("demo", pw)
        i.logout()
        return "OK"
    except imaplib.IMAP4.error as e:
        return "NO " + str(e)
for name, pw in (("login", login_pw), ("override", pop_pw)):
    print("userpass", name, userpass(pw))
    print("plain", name, plain(pw))
    print("imap", name, imap(pw))
"#;

#[test]
fn the_pop3_override_password_is_for_user_pass_only() {
    let demo = Demo::start();
    let pw = demo.password();
    let cert = demo.root().join("cert.pem").display().to_string();
    let args = |pop_pw: &str| {
        [
            demo.port(2995).to_string(),
            demo.port(2993).to_string(),
            pw.clone(),
            pop_pw.to_string(),
            cert.clone(),
        ]
    };
    let run_logins = |pop_pw: &str| {
        let a = args(pop_pw);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        python(LOGINS, &a)
    };
    // Before one is set, USER/PASS takes the login password.
    let before = run_logins("pop-only-secret");
    assert!(
        before.starts_with("userpass login +OK demo has 0 messages"),
        "{before}"
    );
    assert!(before.contains("userpass override -ERR [AUTH]"), "{before}");

    assert!(demo.postern_stdin_ok(
        &["user", "passwd", "demo", "--pop3", "--password-stdin"],
        "pop-only-secret\n"
    ));
    let ls = demo.postern(&["user", "ls", "--json"]);
    assert!(
        String::from_utf8_lossy(&ls.stdout).contains("\"pop3_password\":true"),
        "{}",
        text(&ls)
    );
    let out = run_logins("pop-only-secret");
    let lines: Vec<&str> = out.lines().collect();
    let want = [
        // USER/PASS refuses the login password once an override is set …
        "userpass login -ERR [AUTH] authentication failed",
        // … while AUTH PLAIN and IMAP LOGIN keep using it,
        "plain login +OK demo has 0 messages",
        "imap login OK",
        // and the override works for USER/PASS and nothing else.
        "userpass override +OK demo has 0 messages",
        "plain override -ERR [AUTH] authentication failed",
        "imap override NO ",
    ];
    assert_eq!(lines.len(), want.len(), "{out}");
    for (got, want) in lines.iter().zip(want) {
        assert!(
            got.starts_with(want),
            "{got:?} should start with {want:?}\n{out}"
        );
    }
    let log = demo.log();
    assert!(
        log.contains("event=login_failed protocol=pop3 listener=pop3s")
            && log.contains("mechanism=USER user=demo reason=credentials"),
        "{log}"
    );
}

/// CAPA, the AUTH listing, and what each refused method answers, over POP3S and STLS.
const DENIED: &str = r#"
import base64, poplib, socket, ssl, sys
pop3, pop3s, pw = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=sys.argv[4])
ctx.check_hostname = False
def tried(p, cmd):
    try:
        return p._shortcmd(cmd).decode()
    except poplib.error_proto as e:
        return e.args[0].decode()
for name in ("pop3s", "stls"):
    if name == "pop3s":
        p = poplib.POP3_SSL("127.0.0.1", pop3s, context=ctx, timeout=20)
    else:
        p = poplib.POP3("127.0.0.1", pop3, timeout=20)
        print(name, "greeting", "<" in p.getwelcome().decode())
        p.stls(ctx)
    caps = p.capa()
    print(name, "capa", "USER" in caps, " ".join(caps.get("SASL", [])))
    print(name, "auth", " ".join(l.decode() for l in p._longcmd("AUTH")[1]))
    try:
        p.user("demo")
        print(name, "user accepted")
    except poplib.error_proto as e:
        print(name, "user", e.args[0].decode())
    print(name, "pass", tried(p, "PASS " + pw))
    print(name, "apop", tried(p, "APOP demo 0123456789abcdef0123456789abcdef"))
    print(name, "plain", tried(p, "AUTH PLAIN " + base64.b64encode(b"\0demo\0" + pw.encode()).decode()))
    # An allowed method still logs in.
    print(name, "login", tried(p, "AUTH LOGIN"), tried(p, base64.b64encode(b"demo").decode()),
          tried(p, base64.b64encode(pw.encode()).decode()))
    p.quit()
"#;

#[test]
fn denied_methods_are_not_offered_and_refused() {
    let mut demo = Demo::start();
    let mut config = std::fs::read_to_string(demo.config()).expect("config");
    config.push_str("\n[auth.pop3]\nuser_pass = \"deny\"\napop = \"deny\"\nplain = \"deny\"\n");
    std::fs::write(demo.config(), config).expect("write config");
    let check = demo.postern(&["config", "check"]);
    assert!(check.status.success(), "{}", text(&check));
    demo.restart();
    let cert = demo.root().join("cert.pem").display().to_string();
    let out = python(
        DENIED,
        &[
            &demo.port(2110).to_string(),
            &demo.port(2995).to_string(),
            &demo.password(),
            &cert,
        ],
    );
    let mut want = Vec::new();
    for name in ["pop3s", "stls"] {
        if name == "stls" {
            // No APOP timestamp in the greeting: APOP is not offered.
            want.push(format!("{name} greeting False"));
        }
        want.extend([
            format!("{name} capa False SCRAM-SHA-256 CRAM-MD5 LOGIN"),
            format!("{name} auth SCRAM-SHA-256 CRAM-MD5 LOGIN"),
            format!("{name} user -ERR USER/PASS not available here"),
            format!("{name} pass -ERR send USER first"),
            format!("{name} apop -ERR APOP not available here"),
            format!("{name} plain -ERR PLAIN not available here"),
            format!(
                "{name} login + VXNlcm5hbWU6 + UGFzc3dvcmQ6 +OK demo has 0 messages (0 octets)"
            ),
        ]);
    }
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines, want, "{out}\n{}", demo.log());
}

/// Relays a SCRAM-SHA-256 exchange between popd and `gsasl --client` on stdin/stdout; prints
/// every server line and, at the end, gsasl's exit status and what it said on stderr.
const SCRAM_RELAY: &str = r#"
import socket, subprocess, sys
port, user, pw, errfile = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
s = socket.create_connection(("127.0.0.1", port), timeout=20)
f = s.makefile("rb")
f.readline()
err = open(errfile, "wb")
g = subprocess.Popen(["gsasl", "--client", "--mechanism", "SCRAM-SHA-256", "--no-cb",
                      "--authentication-id", user, "--password", pw],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
assert g.stdout.readline() == b"SCRAM-SHA-256\n"
s.sendall(b"AUTH SCRAM-SHA-256\r\n")
first = True
while True:
    line = f.readline().decode().rstrip("\r\n")
    if line != "+" and not line.startswith("+ "):
        print("server", line.split(" (")[0])
        # The outcome, as gsasl's IMAP and SMTP modes pass it on: it then checks what it has.
        g.stdin.write(b"\n")
        break
    print("challenge")
    if not first:
        g.stdin.write(line[2:].encode() + b"\n")
        g.stdin.flush()
    first = False
    answer = g.stdout.readline()
    if not answer:
        print("gsasl gave up")
        s.sendall(b"*\r\n")
        print("server", f.readline().decode().rstrip("\r\n"))
        break
    s.sendall(answer.rstrip(b"\n") + b"\r\n")
g.stdin.close()
print("gsasl", g.wait())
s.sendall(b"QUIT\r\n")
"#;

#[test]
fn gsasl_scram_sha256_over_pop3_auth() {
    assert!(
        have("gsasl"),
        "gsasl is not installed (bin/install-test-deps)"
    );
    let demo = Demo::start();
    pop3util::fill(&demo.maildir("demo"), 1, 300);
    let errfile = demo.dir.path().join("gsasl.err");
    let relay = |password: &str| {
        let out = python(
            SCRAM_RELAY,
            &[
                &demo.port(2110).to_string(),
                "demo",
                password,
                errfile.to_str().expect("path"),
            ],
        );
        let err = std::fs::read_to_string(&errfile).unwrap_or_default();
        (out, err)
    };
    // On the plaintext port: SCRAM needs no TLS, and gsasl checks the server's signature.
    let (out, err) = relay(&demo.password());
    assert_eq!(
        out,
        "challenge\nchallenge\nchallenge\nserver +OK demo has 1 messages\ngsasl 0\n",
        "{out}{err}\n{}",
        demo.log()
    );
    assert!(err.contains("(server trusted)"), "{err}");
    assert!(
        demo.log()
            .contains("event=login protocol=pop3 listener=pop3 peer=127.0.0.1"),
        "{}",
        demo.log()
    );
    assert!(
        demo.log().contains("mechanism=SCRAM-SHA-256 user=demo"),
        "{}",
        demo.log()
    );
    // A wrong password: the server refuses the client's proof.
    let (out, err) = relay("wrong");
    assert_eq!(
        out, "challenge\nchallenge\nserver -ERR [AUTH] authentication failed\ngsasl 1\n",
        "{out}{err}"
    );
    assert!(
        demo.log()
            .contains("mechanism=SCRAM-SHA-256 user=demo reason=credentials"),
        "{}",
        demo.log()
    );
}
