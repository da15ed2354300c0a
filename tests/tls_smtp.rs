//! SMTP STARTTLS (RFC 3207) and implicit TLS (RFC 8314) with openssl s_client and a raw socket:
//! certificate verification against the demo certificate, the EHLO state reset after the
//! handshake, STARTTLS refused once TLS is up, and commands pipelined after STARTTLS discarded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;

use common::*;

#[test]
fn openssl_starttls_submission_and_implicit_smtps() {
    assert!(have("openssl"), "openssl is not installed");
    let demo = Demo::start();
    let cert = demo.root().join("cert.pem").display().to_string();
    let verify = [
        "-CAfile",
        &cert,
        "-verify_return_error",
        "-verify_ip",
        "127.0.0.1",
    ];
    let sub = format!("127.0.0.1:{}", demo.port(2587));
    let mut args = vec!["-starttls", "smtp", "-connect", &sub];
    args.extend(verify);
    let out = s_client(&args, "EHLO client.test\nQUIT\n");
    assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
    // The EHLO after the handshake offers the plaintext methods and no second STARTTLS.
    assert!(
        out.contains("250-AUTH SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN"),
        "{out}"
    );
    assert!(!out.contains("250-STARTTLS"), "{out}");
    assert!(out.contains("221 2.0.0"), "{out}");

    let smtps = format!("127.0.0.1:{}", demo.port(2465));
    let mut args = vec!["-connect", &smtps];
    args.extend(verify);
    let out = s_client(&args, "EHLO client.test\nQUIT\n");
    assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
    assert!(out.contains("220 mail.example.test ESMTP"), "{out}");
    assert!(
        out.contains("250-AUTH SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN"),
        "{out}"
    );

    // Verification against the wrong name fails: the client really checks the certificate.
    let mut args = vec!["-connect", &smtps, "-CAfile", &cert, "-verify_return_error"];
    args.extend(["-verify_hostname", "mail.other.test"]);
    let out = s_client(&args, "QUIT\n");
    assert!(out.contains("hostname mismatch"), "{out}");
    assert!(!out.contains("220 mail.example.test"), "{out}");
}

const INJECTION: &str = r#"
import socket, ssl, sys
port, cafile, plain_port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ctx = ssl.create_default_context(cafile=cafile)

def reply(f):
    lines = []
    while True:
        line = f.readline()
        if not line:
            return "EOF"
        lines.append(line.decode().rstrip("\r\n"))
        if line[3:4] != b"-":
            return lines[-1]

# 1. Commands pipelined in the same packet as STARTTLS are discarded.
sock = socket.create_connection(("127.0.0.1", port), timeout=20)
f = sock.makefile("rb")
print("greeting", reply(f)[:3])
sock.sendall(b"EHLO a.test\r\n")
print("ehlo", reply(f)[:3])
sock.sendall(b"STARTTLS\r\nRSET\r\nMAIL FROM:<evil@attacker.test>\r\nNOOP\r\n")
print("starttls", reply(f)[:3])
tls = ctx.wrap_socket(sock, server_hostname="127.0.0.1")
g = tls.makefile("rb")
tls.sendall(b"HELP\r\n")
# The first reply after the handshake answers HELP: nothing injected was executed.
print("first-after-tls", reply(g)[:3])
# EHLO state was reset by the handshake.
tls.sendall(b"MAIL FROM:<demo@example.test>\r\n")
print("mail-without-ehlo", reply(g)[:9])
tls.sendall(b"EHLO a.test\r\n")
print("ehlo-again", reply(g)[:3])
tls.sendall(b"STARTTLS\r\n")
print("starttls-again", reply(g)[:9])
tls.sendall(b"QUIT\r\n")
print("quit", reply(g)[:3])
tls.close()

# 2. Plaintext sent after the 220 but before the handshake is never read as a command.
sock = socket.create_connection(("127.0.0.1", port), timeout=20)
f = sock.makefile("rb")
reply(f)
sock.sendall(b"EHLO a.test\r\n")
reply(f)
sock.sendall(b"STARTTLS\r\n")
print("starttls", reply(f)[:3])
sock.sendall(b"NOOP\r\n")
try:
    ctx.wrap_socket(sock, server_hostname="127.0.0.1")
    print("handshake-succeeded")
except (ssl.SSLError, OSError):
    print("handshake-failed")

# 3. A listener without TLS refuses STARTTLS.
sock = socket.create_connection(("127.0.0.1", plain_port), timeout=20)
f = sock.makefile("rb")
reply(f)
sock.sendall(b"EHLO a.test\r\nSTARTTLS\r\nNOOP\r\n")
print("no-tls-listener", reply(f)[:3], reply(f)[:9], reply(f)[:3])
"#;

#[test]
fn starttls_discards_pipelined_commands_and_resets_ehlo() {
    let demo = Demo::start();
    let cert = demo.root().join("cert.pem").display().to_string();
    let out = python(
        INJECTION,
        &[
            &demo.port(2587).to_string(),
            &cert,
            &demo.port(2525).to_string(),
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "greeting 220",
            "ehlo 250",
            "starttls 220",
            "first-after-tls 214",
            "mail-without-ehlo 503 5.5.1",
            "ehlo-again 250",
            "starttls-again 503 5.5.1",
            "quit 221",
            "starttls 220",
            "handshake-failed",
            "no-tls-listener 250 502 5.5.1 250",
        ],
        "{out}\n{}",
        demo.log()
    );
    // Nothing from the injected MAIL reached the queue.
    let queue = demo.postern(&["queue", "ls", "--json"]);
    assert!(!String::from_utf8_lossy(&queue.stdout).contains("attacker"));
}
