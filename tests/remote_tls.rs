//! Outbound TLS against real peers on loopback: aiosmtpd servers that insist on TLS and AUTH
//! (STARTTLS and implicit), and a peer whose STARTTLS is broken.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
mod remote_support;

use std::time::Duration;

use common::text;
use remote_support::{free_port, python_peer, require, Dns, Sender, Sink, MESSAGE};

fn remote_section(dns: &Dns, mx_port: u16) -> String {
    format!(
        "[remote]\nmx_port = {mx_port}\nconnect_timeout = \"3s\"\ncommand_timeout = \"10s\"\n[dns]\nservers = [\"127.0.0.1:{}\"]\ntimeout = \"2s\"\n",
        dns.port
    )
}

/// The sessions the broken-TLS peer saw ("starttls" or "plain") and the messages it saved.
fn peer_log(dir: &std::path::Path) -> (Vec<String>, Vec<String>) {
    let sessions = std::fs::read_to_string(dir.join("sessions.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p: &std::path::PathBuf| p.extension().is_some_and(|x| x == "eml"));
    files.sort();
    let mail = files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .collect();
    (sessions, mail)
}

/// Opportunistic TLS (an MX host, and a Servers-table entry with `tls = "opportunistic"`): when
/// the STARTTLS handshake fails — the peer answers 220 and then sends garbage, or hangs up — the
/// same host is tried again in plaintext, as Postfix's `smtp_tls_security_level = may` does. With
/// `tls = "required"` the same peer means a temporary failure and nothing is sent in clear.
#[test]
fn broken_starttls_falls_back_to_plaintext_only_when_opportunistic() {
    require(&["dnsmasq", "python3"]);
    for mode in ["garbage", "close"] {
        let tmp = tempfile::tempdir().expect("tmp");
        let port = free_port("127.0.0.1");
        let dir = tmp.path().join("peer");
        let _peer = python_peer(
            "broken_tls_peer.py",
            &[port.to_string(), dir.display().to_string(), mode.into()],
            &format!("127.0.0.1:{port}"),
        );
        let dns = Dns::start(&["--host-record=broken.test,127.0.0.1".into()]);
        let servers = format!(
            "[[remote.server]]\nname = \"opp\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"opportunistic\"\n\n[[remote.server]]\nname = \"req\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"required\"\nverify = false\n\n[[domain]]\nname = \"opp.test\"\nhosted = \"remote\"\nserver = \"opp\"\n\n[[domain]]\nname = \"req.test\"\nhosted = \"remote\"\nserver = \"req\"\n"
        );
        let s = Sender::new("", &format!("{}\n{servers}", remote_section(&dns, port)));

        // By MX (the domain's own A record), then through the Servers-table entry.
        let out = s.send("alice@here.test", &["mx@broken.test"], MESSAGE);
        assert!(s.queue().is_empty(), "{mode}: {:?}", s.queue());
        let events = String::from_utf8_lossy(&out.stderr);
        assert!(events.contains("event=tls_fallback"), "{mode}: {events}");
        s.send("alice@here.test", &["srv@opp.test"], MESSAGE);
        assert!(s.queue().is_empty(), "{mode}: {:?}", s.queue());
        let (sessions, mail) = peer_log(&dir);
        assert_eq!(
            sessions,
            ["starttls", "plain", "starttls", "plain"],
            "{mode}: each STARTTLS failure, then one plaintext session"
        );
        assert_eq!(mail.len(), 2, "{mode}");
        assert!(
            mail[0].contains("X-Rcpt-To: mx@broken.test") && mail[0].contains("Hello over there.")
        );
        assert!(mail[1].contains("X-Rcpt-To: srv@opp.test"));

        // Required: deferred (temporary, no bounce), and no plaintext session.
        s.send("alice@here.test", &["x@req.test"], MESSAGE);
        let q = s.queue();
        assert_eq!(q.len(), 1, "{mode}: required TLS defers");
        let err = q[0]["last_error"].as_str().unwrap_or("");
        assert!(err.starts_with("4.7.5 STARTTLS failed"), "{mode}: {err}");
        assert!(s.alice_mail().is_empty(), "{mode}: no bounce");
        let (sessions, mail) = peer_log(&dir);
        assert_eq!(sessions.len(), 5, "{mode}: {sessions:?}");
        assert_eq!(sessions[4], "starttls");
        assert_eq!(mail.len(), 2, "{mode}: nothing sent in clear");
        assert!(!dir.join("auth.log").exists(), "{mode}: no AUTH yet");
    }
}

/// A password never goes out in the clear because TLS was wanted and is not there: after a
/// broken STARTTLS towards an opportunistic server with credentials, PLAIN/LOGIN defer instead
/// of falling back, and "best" falls back but would use only CRAM-MD5 (this peer lacks it:
/// deferred, no AUTH sent).
#[test]
fn no_password_in_the_clear_after_a_tls_downgrade() {
    require(&["dnsmasq", "python3"]);
    let tmp = tempfile::tempdir().expect("tmp");
    let port = free_port("127.0.0.1");
    let dir = tmp.path().join("peer");
    let _peer = python_peer(
        "broken_tls_peer.py",
        &[
            port.to_string(),
            dir.display().to_string(),
            "garbage".into(),
        ],
        &format!("127.0.0.1:{port}"),
    );
    let dns = Dns::start(&[]);
    let mut servers = String::new();
    for (name, auth) in [("pw-plain", "plain"), ("pw-best", "best")] {
        servers += &format!(
            "[[remote.server]]\nname = \"{name}\"\nhost = \"127.0.0.1\"\nport = {port}\n\
             tls = \"opportunistic\"\nauth = \"{auth}\"\nuser = \"branch\"\npassword = \"s3cret\"\n\n\
             [[domain]]\nname = \"{name}.test\"\nhosted = \"remote\"\nserver = \"{name}\"\n\n"
        );
    }
    let s = Sender::new("", &format!("{}\n{servers}", remote_section(&dns, port)));
    s.send("alice@here.test", &["a@pw-plain.test"], MESSAGE);
    s.send("alice@here.test", &["b@pw-best.test"], MESSAGE);
    let q = s.queue();
    assert_eq!(q.len(), 2, "both deferred: {q:?}");
    let errors: Vec<&str> = q
        .iter()
        .map(|m| m["last_error"].as_str().unwrap_or(""))
        .collect();
    assert!(
        errors
            .iter()
            .all(|e| e.contains("not sending the password unencrypted")),
        "{errors:?}"
    );
    assert!(s.alice_mail().is_empty(), "temporary: no bounce");
    let auth = std::fs::read_to_string(dir.join("auth.log")).unwrap_or_default();
    assert!(auth.is_empty(), "a password went out in the clear: {auth}");
    let (_, mail) = peer_log(&dir);
    assert!(mail.is_empty(), "{mail:?}");
}

/// Scenarios 3 and 5: everything through a gateway (the head office) over TLS with AUTH —
/// CRAM-MD5 and "best" on STARTTLS with a verified certificate, PLAIN on implicit TLS, LOGIN
/// opportunistically; a wrong password defers; TLS required towards a peer without it defers, and
/// so does a required (verified) server whose certificate does not verify.
/// The peers are aiosmtpd servers that insist on TLS and AUTH.
#[test]
fn gateway_with_tls_and_auth() {
    require(&["dnsmasq", "smtp-sink", "/usr/bin/python3"]);
    let probe = common::run("/usr/bin/python3", &["-c", "import aiosmtpd"]);
    assert!(
        probe.status.success(),
        "python3-aiosmtpd is not installed (bin/install-test-deps)"
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let (cert, key) = (tmp.path().join("peer.pem"), tmp.path().join("peer.key"));
    let out = common::run(
        &common::bin().display().to_string(),
        &[
            "cert",
            "gen",
            "--cn",
            "peer.test",
            "--cert",
            &cert.display().to_string(),
            "--key",
            &key.display().to_string(),
        ],
    );
    assert!(out.status.success(), "cert gen: {}", text(&out));
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/remote_support/auth_peer.py"
    );
    let start_peer = |mode: &str, dir: &str| {
        let port = free_port("127.0.0.1");
        let child = std::process::Command::new("/usr/bin/python3")
            .arg(script)
            .arg(port.to_string())
            .arg(&cert)
            .arg(&key)
            .args([mode, "branch", "branchpw"])
            .arg(tmp.path().join(dir))
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn aiosmtpd peer");
        let p = remote_support::Proc(child);
        assert!(common::wait_for_port(
            ([127, 0, 0, 1], port).into(),
            Duration::from_secs(20)
        ));
        (p, port)
    };
    let (_st, st_port) = start_peer("starttls", "st");
    let (_im, im_port) = start_peer("implicit", "im");
    let dns = Dns::start(&["--host-record=peer.test,127.0.0.1".into()]);
    let sink_port = free_port("127.0.0.10");
    let _plain = Sink::start("127.0.0.10", sink_port, &tmp.path().join("p"), &[]);
    let server = |name: &str, host: &str, port: u16, tls: &str, auth: &str, pw: &str| {
        format!(
            "[[remote.server]]\nname = \"{name}\"\nhost = \"{host}\"\nport = {port}\ntls = \"{tls}\"\nca = \"{}\"\nauth = \"{auth}\"\nuser = \"branch\"\npassword = \"{pw}\"\n",
            cert.display()
        )
    };
    let rest = [
        remote_section(&dns, 25),
        server("head-cram", "peer.test", st_port, "required", "cram-md5", "branchpw"),
        server("head-best", "peer.test", st_port, "required", "best", "branchpw"),
        server("head-plain", "peer.test", im_port, "implicit", "plain", "branchpw"),
        server("head-login", "127.0.0.1", st_port, "opportunistic", "login", "branchpw"),
        server("head-wrong", "peer.test", st_port, "required", "plain", "nope"),
        format!("[[remote.server]]\nname = \"no-tls\"\nhost = \"127.0.0.10\"\nport = {sink_port}\ntls = \"required\"\n"),
        // No `ca`: the peer's self-signed certificate cannot be verified.
        format!("[[remote.server]]\nname = \"head-unverified\"\nhost = \"peer.test\"\nport = {st_port}\ntls = \"required\"\nauth = \"plain\"\nuser = \"branch\"\npassword = \"branchpw\"\n"),
    ]
    .join("\n");
    for (name, dir, mech) in [
        ("head-cram", "st", "CRAM-MD5"),
        ("head-best", "st", "CRAM-MD5"),
        ("head-plain", "im", "PLAIN"),
        ("head-login", "st", "LOGIN"),
    ] {
        let s = Sender::new(&format!("gateway = \"{name}\""), &rest);
        s.send(
            "alice@here.test",
            &["boss@head.test", "ops@head.test"],
            MESSAGE,
        );
        assert!(s.queue().is_empty(), "via {name}: {:?}", s.queue());
        let log =
            std::fs::read_to_string(tmp.path().join(dir).join("auth.log")).unwrap_or_default();
        assert_eq!(log.lines().last(), Some(mech), "via {name}");
    }
    let delivered: Vec<String> = ["st", "im"]
        .iter()
        .flat_map(|d| std::fs::read_dir(tmp.path().join(d)).into_iter().flatten())
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .collect();
    assert_eq!(delivered.len(), 4, "one transaction per job");
    for m in &delivered {
        assert!(m.contains("X-Rcpt-To: boss@head.test") && m.contains("X-Rcpt-To: ops@head.test"));
        assert!(m.contains("Hello over there."));
    }
    for (name, want) in [
        ("head-wrong", "4.7.0"),
        ("no-tls", "4.7.4"),
        ("head-unverified", "4.7.5 STARTTLS failed"),
    ] {
        let s = Sender::new(&format!("gateway = \"{name}\""), &rest);
        s.send("alice@here.test", &["x@far.test"], MESSAGE);
        let q = s.queue();
        assert_eq!(q.len(), 1, "{name} defers");
        assert!(
            q[0]["last_error"].as_str().unwrap_or("").contains(want),
            "{q:?}"
        );
        assert!(
            s.alice_mail().is_empty(),
            "no bounce for a temporary failure"
        );
    }
    let count = std::fs::read_dir(tmp.path().join("st"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(count, 3, "nothing more reached the STARTTLS peer");
}
