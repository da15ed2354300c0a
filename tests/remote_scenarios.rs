//! The seed's delivery scenarios against real remote domains on loopback: a private Postfix
//! instance and a second postern (`serve --demo`), found by MX through dnsmasq or named in the
//! Servers table; a peer that hangs up mid-DATA; connection reuse counted by Postfix's own log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
mod remote_support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{run, text, Demo};
use remote_support::{free_port, require, Dns, Postfix, Proc, Sender, MESSAGE};

/// Fail (never skip) without the peers: dnsmasq, and Postfix, which needs root.
fn tools(postfix: bool) {
    require(&["dnsmasq"]);
    if postfix {
        require(&["postfix"]);
        let root = run("id", &["-u"]).stdout.starts_with(b"0");
        assert!(
            root,
            "a private Postfix instance needs root (bin/test runs as root)"
        );
    }
}

fn remote(dns: &Dns, mx_port: u16, extra: &str) -> String {
    format!(
        "[remote]\nmx_port = {mx_port}\nconnect_timeout = \"3s\"\ncommand_timeout = \"10s\"\n{extra}\n[remote.dns]\nservers = [\"127.0.0.1:{}\"]\ntimeout = \"2s\"\n",
        dns.port
    )
}

fn demo_mail(demo: &Demo, n: usize) -> Vec<String> {
    common::wait_for_mail(&demo.maildir("demo"), n, Duration::from_secs(20))
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .collect()
}

/// Scenario 1: direct MX delivery. One message for two remote domains, each found by MX through
/// dnsmasq: far.test is a real Postfix, example.test a second postern. Both receive it once.
#[test]
fn scenario_1_direct_mx_delivery_to_postfix_and_postern() {
    tools(true);
    let tmp = tempfile::tempdir().expect("tmp");
    let demo = Demo::start();
    let port = demo.port(2525);
    let dns = Dns::start(&[
        "--mx-host=far.test,mx.far.test,10".into(),
        "--host-record=mx.far.test,127.0.0.13".into(),
        "--mx-host=example.test,mx.example.test,10".into(),
        "--host-record=mx.example.test,127.0.0.1".into(),
    ]);
    let pf = Postfix::start(
        &tmp.path().join("pf"),
        &format!("127.0.0.13:{port}"),
        "far.test",
    );
    let s = Sender::new("", &remote(&dns, port, ""));
    s.send(
        "alice@here.test",
        &["bob@far.test", "carol@far.test", "demo@example.test"],
        MESSAGE,
    );
    let got = pf.wait_mail(2);
    assert_eq!(
        got.len(),
        2,
        "Postfix delivers to each of its two recipients"
    );
    for m in &got {
        assert!(m.contains("Hello over there."), "{m}");
        assert!(m.contains("mail.here.test"), "our Received line: {m}");
    }
    let sessions = pf.sessions();
    assert_eq!(sessions.len(), 1, "one connection: {sessions:?}");
    assert!(sessions[0].contains("rcpt=2"), "{sessions:?}");
    let got = demo_mail(&demo, 1);
    assert_eq!(got.len(), 1, "the second postern got it");
    assert!(got[0].contains("Subject: remote test"));
    assert!(s.queue().is_empty(), "{:?}", s.queue());
}

/// Scenario 2: everything for the domain goes to the internal server at a fixed IP:port (a
/// Servers-table entry), whatever DNS says: DNS here has no record for the domain at all.
#[test]
fn scenario_2_domain_to_internal_server_at_fixed_address() {
    tools(false);
    let demo = Demo::start();
    let dns = Dns::start(&[]);
    let rest = format!(
        "{}\n[[remote.server]]\nname = \"exchange\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"off\"\n\n[[domain]]\nname = \"example.test\"\nhosted = \"remote\"\nserver = \"exchange\"\n",
        remote(&dns, 25, ""),
        demo.port(2525)
    );
    let s = Sender::new("", &rest);
    s.send("alice@here.test", &["demo@example.test"], MESSAGE);
    let got = demo_mail(&demo, 1);
    assert_eq!(got.len(), 1);
    assert!(got[0].contains("Hello over there."));
    assert!(s.queue().is_empty(), "{:?}", s.queue());
}

/// Scenario 3: "Use Gateway" — all remote mail to the ISP's server, authenticating. The ISP is
/// the second postern's submission port (STARTTLS, AUTH required), the account its demo user.
#[test]
fn scenario_3_gateway_to_isp_with_auth() {
    tools(false);
    let demo = Demo::start();
    let dns = Dns::start(&[]);
    let isp = |pw: &str| {
        format!(
            "{}\n[[remote.server]]\nname = \"isp\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"opportunistic\"\nauth = \"plain\"\nuser = \"demo\"\npassword = \"{pw}\"\n",
            remote(&dns, 25, ""),
            demo.port(2587)
        )
    };
    let s = Sender::new("gateway = \"isp\"", &isp(&demo.password()));
    s.send("alice@here.test", &["demo@example.test"], MESSAGE);
    let got = demo_mail(&demo, 1);
    assert_eq!(got.len(), 1, "relayed through the ISP");
    assert!(s.queue().is_empty(), "{:?}", s.queue());

    // A wrong password: the ISP refuses, the message waits (no bounce).
    let s = Sender::new("gateway = \"isp\"", &isp("wrong"));
    s.send("alice@here.test", &["demo@example.test"], MESSAGE);
    let q = s.queue();
    assert_eq!(q.len(), 1);
    assert!(
        q[0]["last_error"].as_str().unwrap_or("").contains("4.7.0"),
        "{q:?}"
    );
    assert!(s.alice_mail().is_empty());
}

/// Scenario 5: the provincial office forwards all outbound mail to head office over TLS with
/// AUTH — STARTTLS required and the head office's certificate verified against its own CA file.
#[test]
fn scenario_5_branch_forwards_all_to_head_office_over_tls_with_auth() {
    tools(false);
    let demo = Demo::start();
    let dns = Dns::start(&["--host-record=localhost,127.0.0.1".into()]);
    let rest = format!(
        "{}\n[[remote.server]]\nname = \"head\"\ndescription = \"head office\"\nhost = \"localhost\"\nport = {}\ntls = \"required\"\nca = \"{}\"\nauth = \"best\"\nuser = \"demo\"\npassword = \"{}\"\n",
        remote(&dns, 25, ""),
        demo.port(2587),
        demo.root().join("cert.pem").display(),
        demo.password()
    );
    let s = Sender::new("gateway = \"head\"", &rest);
    // Everything goes to head office, for its own domain and for any other.
    s.send(
        "alice@here.test",
        &["demo@example.test", "someone@elsewhere.test"],
        MESSAGE,
    );
    let got = demo_mail(&demo, 1);
    assert_eq!(got.len(), 1, "head office delivered its own recipient");
    assert!(
        s.queue().is_empty(),
        "head office took both: {:?}",
        s.queue()
    );
    let log = demo.log();
    assert!(
        log.contains("someone@elsewhere.test"),
        "head office queued the other one: {log}"
    );
}

/// A peer that hangs up in the middle of DATA: the message is deferred, not bounced; once the
/// peer behaves, the next attempt delivers it exactly once.
#[test]
fn peer_drops_mid_data_retry_without_duplicate() {
    tools(false);
    require(&["python3"]);
    let tmp = tempfile::tempdir().expect("tmp");
    let port = free_port("127.0.0.1");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/remote_support/drop_peer.py"
    );
    let out_dir = tmp.path().join("got");
    let child = std::process::Command::new("python3")
        .arg(script)
        .arg(port.to_string())
        .arg(&out_dir)
        .spawn()
        .expect("spawn drop peer");
    let _peer = Proc(child);
    assert!(common::wait_for_port(
        ([127, 0, 0, 1], port).into(),
        Duration::from_secs(10)
    ));
    let dns = Dns::start(&["--host-record=drop.test,127.0.0.1".into()]);
    let s = Sender::new("", &remote(&dns, port, ""));
    let big: String = (0..2000)
        .map(|i| format!("line {i} of a long body\n"))
        .collect();
    s.send(
        "alice@here.test",
        &["x@drop.test"],
        &format!("{MESSAGE}{big}"),
    );
    let q = s.queue();
    assert_eq!(q.len(), 1, "deferred after the hang-up");
    assert!(
        q[0]["last_error"].as_str().unwrap_or("").starts_with("4."),
        "{q:?}"
    );
    assert!(s.alice_mail().is_empty(), "no bounce");
    let out = s.postern(&["queue", "flush"]);
    assert!(out.status.success(), "{}", text(&out));
    let start = Instant::now();
    let files = loop {
        let f: Vec<PathBuf> = std::fs::read_dir(&out_dir)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        if !f.is_empty() || start.elapsed() > Duration::from_secs(20) {
            break f;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(files.len(), 1, "delivered once");
    let m = std::fs::read_to_string(&files[0]).expect("saved");
    assert!(m.contains("X-Rcpt-To: x@drop.test") && m.contains("line 1999 of a long body"));
    assert!(s.queue().is_empty());
    // Another run finds nothing to send again.
    let out = s.postern(&["deliver", "--once"]);
    assert!(out.status.success(), "{}", text(&out));
    std::thread::sleep(Duration::from_millis(300));
    let count = std::fs::read_dir(&out_dir).map(|d| d.count()).unwrap_or(0);
    assert_eq!(count, 1, "no duplicate");
}

/// Connection reuse: three messages to one destination in one queue run go over one SMTP session
/// (MAIL, RSET, MAIL, …) — Postfix's own log counts the sessions; with reuse off, three.
#[test]
fn connection_reuse_one_session_for_a_queue_run() {
    tools(true);
    for (reuse, want_sessions) in [("5s", 1usize), ("0s", 3)] {
        let tmp = tempfile::tempdir().expect("tmp");
        let port = free_port("127.0.0.14");
        let dns = Dns::start(&[
            "--mx-host=far.test,mx.far.test,10".into(),
            "--host-record=mx.far.test,127.0.0.14".into(),
        ]);
        let extra = format!("per_destination = 1\nconnection_reuse = \"{reuse}\"");
        let s = Sender::new("", &remote(&dns, port, &extra));
        // Nobody listens yet: all three wait in the queue.
        for to in ["one@far.test", "two@far.test", "three@far.test"] {
            s.send("alice@here.test", &[to], MESSAGE);
        }
        assert_eq!(s.queue().len(), 3);
        let pf = Postfix::start(
            &tmp.path().join("pf"),
            &format!("127.0.0.14:{port}"),
            "far.test",
        );
        let out = s.postern(&["queue", "flush"]);
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(pf.wait_mail(3).len(), 3, "reuse {reuse}");
        assert!(s.queue().is_empty());
        // smtpd logs the session's end a moment after QUIT.
        let start = Instant::now();
        while pf.sessions().len() < want_sessions && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(300));
        let sessions = pf.sessions();
        assert_eq!(sessions.len(), want_sessions, "reuse {reuse}: {sessions:?}");
        if want_sessions == 1 {
            assert!(
                sessions[0].contains("mail=3") && sessions[0].contains("rset=2"),
                "{sessions:?}"
            );
        }
    }
}
