//! `postern cert gen`: checked with `openssl x509`, then used by clients as their trust anchor.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::*;

fn openssl_x509(cert: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec!["x509", "-noout", "-in", cert];
    all.extend(args);
    run("openssl", &all)
}

#[test]
fn cert_gen_names_validity_fingerprint_and_key_mode() {
    assert!(have("openssl"), "openssl is not installed");
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("c.pem").display().to_string();
    let key = dir.path().join("k.pem").display().to_string();
    let out = run(
        bin().to_str().expect("path"),
        &[
            "cert",
            "gen",
            "--cn",
            "mail.example.com",
            "--san",
            "*.example.com",
            "--san",
            "127.0.0.1",
            "--days",
            "30",
            "--cert",
            &cert,
            "--key",
            &key,
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let printed = String::from_utf8_lossy(&out.stdout).trim().to_string();

    let fp = openssl_x509(&cert, &["-fingerprint", "-sha256"]);
    let fp = String::from_utf8_lossy(&fp.stdout).to_string();
    let fp = fp.trim().rsplit('=').next().unwrap_or_default();
    assert_eq!(printed, fp);

    let info = text(&openssl_x509(&cert, &["-text"]));
    assert!(info.contains("Subject: CN = mail.example.com"), "{info}");
    assert!(info.contains("DNS:*.example.com"), "{info}");
    assert!(info.contains("IP Address:127.0.0.1"), "{info}");
    // Valid for 30 days: still valid in 29, expired in 31.
    let day = 86_400;
    let ok = openssl_x509(&cert, &["-checkend", &(29 * day).to_string()]);
    assert!(ok.status.success(), "{}", text(&ok));
    let late = openssl_x509(&cert, &["-checkend", &(31 * day).to_string()]);
    assert!(!late.status.success(), "{}", text(&late));

    let mode = std::fs::metadata(&key).expect("key").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let pkey = run("openssl", &["pkey", "-in", &key, "-noout", "-check"]);
    assert!(text(&pkey).contains("valid"), "{}", text(&pkey));
}

#[test]
fn cert_gen_defaults_the_common_name_to_the_server_identity() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("postern.toml");
    std::fs::write(
        &config,
        "[server]\nhostname = \"mx.identity.test\"\npostmaster = \"postmaster@identity.test\"\n",
    )
    .expect("config");
    let cert = dir.path().join("c.pem").display().to_string();
    let key = dir.path().join("k.pem").display().to_string();
    let out = Command::new(bin())
        .arg("--config")
        .arg(&config)
        .args(["cert", "gen", "--cert", &cert, "--key", &key])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", text(&out));
    let subject = text(&openssl_x509(&cert, &["-subject"]));
    assert!(subject.contains("CN = mx.identity.test"), "{subject}");
}

const WILDCARD_CLIENT: &str = r#"
import socket, ssl, sys
port, cafile = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=cafile)
for name in ["smtp.example.com", "mail.example.com", "mail.other.test"]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    try:
        tls = ctx.wrap_socket(sock, server_hostname=name)
        print(name, tls.recv(100).decode().split()[0])
        tls.close()
    except ssl.SSLCertVerificationError:
        print(name, "verify-failed")
        sock.close()
"#;

#[test]
fn generated_cert_serves_smtps_and_is_a_client_trust_anchor() {
    let mut demo = Demo::start();
    let cert = demo.root().join("cert.pem").display().to_string();
    let key = demo.root().join("key.pem").display().to_string();
    // The demo's own pair exists: not replaced without --force, and the path is named.
    let before = std::fs::read(&key).expect("key");
    let args = [
        "cert",
        "gen",
        "--cn",
        "mail.example.com",
        "--san",
        "*.example.com",
        "--cert",
        &cert,
        "--key",
        &key,
    ];
    let out = demo.postern(&args);
    assert_eq!(out.status.code(), Some(73), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("{key} exists")),
        "{}",
        text(&out)
    );
    assert_eq!(std::fs::read(&key).expect("key"), before);
    let mut forced = args.to_vec();
    forced.push("--force");
    let out = demo.postern(&forced);
    assert!(out.status.success(), "{}", text(&out));
    demo.restart();
    let out = python(WILDCARD_CLIENT, &[&demo.port(2465).to_string(), &cert]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "smtp.example.com 220",
            "mail.example.com 220",
            "mail.other.test verify-failed"
        ],
        "{out}"
    );
    // swaks over STARTTLS verifying the chain with the new certificate as its CA file (swaks
    // checks the chain, not the host name); the system's CAs do not vouch for it.
    assert!(
        have("swaks"),
        "swaks is not installed (bin/install-test-deps)"
    );
    let swaks = |ca: &str| {
        run(
            "swaks",
            &[
                "--server",
                "127.0.0.1",
                "--port",
                &demo.port(2587).to_string(),
                "--tls",
                "--tls-verify",
                "--tls-ca-path",
                ca,
                "--quit-after",
                "TLS",
            ],
        )
    };
    let out = swaks(&cert);
    assert!(out.status.success(), "{}", text(&out));
    let out = swaks("/etc/ssl/certs/ca-certificates.crt");
    assert!(
        !out.status.success(),
        "verified without our CA: {}",
        text(&out)
    );
    assert!(
        text(&out).contains("certificate verify failed"),
        "{}",
        text(&out)
    );
}
