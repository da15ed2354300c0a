//! Remote delivery against real peers on loopback: dnsmasq as the only DNS, Postfix's smtp-sink
//! as remote MX hosts, and a second postern (demo) as the head office requiring TLS and AUTH.

mod common;
mod remote_support;

use std::time::Duration;

use common::{have, text};
use remote_support::{dsn_status, free_port, Dns, Dsn, Sender, Sink, MESSAGE};

fn tools() -> bool {
    let ok = have("dnsmasq") && have("smtp-sink");
    if !ok {
        eprintln!("skipped: dnsmasq and smtp-sink (postfix) are needed");
    }
    ok
}

fn remote_section(dns: &Dns, mx_port: u16) -> String {
    format!(
        "[remote]\nmx_port = {mx_port}\nconnect_timeout = \"3s\"\ncommand_timeout = \"10s\"\n[dns]\nservers = [\"127.0.0.1:{}\"]\ntimeout = \"2s\"\n",
        dns.port
    )
}

/// Scenario 1: MX in preference order (first host down), one connection per domain job with all
/// its recipients, and the A fallback for a domain without MX.
#[test]
fn mx_order_first_host_down_and_a_fallback() {
    if !tools() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let port = free_port("127.0.0.3");
    let dns = Dns::start(&[
        "--mx-host=a.test,mx1.a.test,10".into(),
        "--mx-host=a.test,mx2.a.test,20".into(),
        "--host-record=mx1.a.test,127.0.0.2".into(),
        "--host-record=mx2.a.test,127.0.0.3".into(),
        "--host-record=b.test,127.0.0.4".into(),
    ]);
    let mx2 = Sink::start("127.0.0.3", port, &tmp.path().join("mx2"), &[]);
    let b = Sink::start("127.0.0.4", port, &tmp.path().join("b"), &[]);
    let s = Sender::new("", &remote_section(&dns, port));
    s.send(
        "alice@here.test",
        &["x@a.test", "y@a.test", "z@b.test"],
        MESSAGE,
    );
    let got = mx2.wait_for(1);
    assert_eq!(got.len(), 1, "one transaction for a.test");
    assert!(got[0].contains("X-Rcpt-Args: <x@a.test>"), "{}", got[0]);
    assert!(got[0].contains("X-Rcpt-Args: <y@a.test>"), "{}", got[0]);
    assert!(got[0].contains("Hello over there."));
    let got = b.wait_for(1);
    assert_eq!(got.len(), 1);
    assert!(got[0].contains("X-Rcpt-Args: <z@b.test>"));
    assert!(s.queue().is_empty(), "queue should be empty");
}

/// Null MX (RFC 7505) and NXDOMAIN fail at once, with one DSN to the sender.
#[test]
fn null_mx_and_nxdomain_bounce_once() {
    if !tools() {
        return;
    }
    let dns = Dns::start(&[
        "--dns-rr=null.test,15,000000".into(),
        "--address=/nx.test/".into(),
        // The name exists but has neither MX nor A/AAAA; an MX whose host does not exist.
        "--txt-record=noaddr.test,nothing here".into(),
        "--mx-host=mxgone.test,gone.mxgone.test,10".into(),
    ]);
    let s = Sender::new("", &remote_section(&dns, free_port("127.0.0.1")));
    let to = ["p@null.test", "q@nx.test", "r@noaddr.test", "t@mxgone.test"];
    s.send("alice@here.test", &to, MESSAGE);
    let mail = s.wait_alice(1);
    assert_eq!(mail.len(), 1, "exactly one DSN, at once (no retries)");
    let dsn = Dsn::parse(&mail[0]);
    assert_eq!(dsn.message["reporting-mta"], "dns; mail.here.test");
    assert!(
        dsn.from.contains("<postmaster@here.test>"),
        "from the postmaster: {}",
        dsn.from
    );
    assert!(dsn.to.contains("alice@here.test"), "{}", dsn.to);
    assert_eq!(dsn.recipients.len(), 4, "{:?}", dsn.recipients);
    for (rcpt, status) in [
        ("p@null.test", "5.1.10"),
        ("q@nx.test", "5.1.2"),
        ("r@noaddr.test", "5.4.4"),
        ("t@mxgone.test", "5.4.4"),
    ] {
        let r = dsn.recipient(rcpt);
        assert_eq!(r["action"], "failed", "{rcpt}: {r:?}");
        assert_eq!(r["status"], status, "{rcpt}: {r:?}");
    }
    assert!(
        dsn.original.contains("Subject: remote test"),
        "{}",
        dsn.original
    );
    assert!(s.queue().is_empty());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(s.alice_mail().len(), 1, "no second DSN");
}

/// 4xx then success; 5xx gives one parsed DSN; partial delivery retries only the pending one.
#[test]
fn temporary_then_success_permanent_bounce_and_partial() {
    if !tools() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let port = free_port("127.0.0.5");
    let dns = Dns::start(&[
        "--host-record=ok.test,127.0.0.5".into(),
        "--host-record=slow.test,127.0.0.6".into(),
        "--host-record=bad.test,127.0.0.7".into(),
    ]);
    let ok = Sink::start("127.0.0.5", port, &tmp.path().join("ok"), &[]);
    let mut slow = Sink::start("127.0.0.6", port, &tmp.path().join("slow"), &["-r", "RCPT"]);
    let _bad = Sink::start("127.0.0.7", port, &tmp.path().join("bad"), &["-f", "RCPT"]);
    let s = Sender::new("", &remote_section(&dns, port));

    s.send(
        "alice@here.test",
        &["a@ok.test", "b@slow.test", "c@bad.test"],
        MESSAGE,
    );
    assert_eq!(ok.wait_for(1).len(), 1);
    // The 5xx recipient is reported at once, while the 4xx one waits.
    let mail = s.wait_alice(1);
    assert_eq!(mail.len(), 1, "one DSN for the permanent failure");
    let status = dsn_status(&mail[0]);
    assert!(
        status.contains("Final-Recipient: rfc822; c@bad.test"),
        "{status}"
    );
    assert!(status.contains("Action: failed"));
    assert!(status.contains("Status: 5."), "{status}");
    assert!(status.contains("Diagnostic-Code: smtp; 5"), "{status}");
    assert!(status.contains("Remote-MTA: dns; bad.test"), "{status}");
    assert!(!status.contains("slow.test"), "{status}");

    let q = s.queue();
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0]["recipients"], serde_json::json!(["b@slow.test"]));
    assert_eq!(q[0]["attempts"], 1);
    assert!(
        q[0]["last_error"].as_str().unwrap_or("").contains("4"),
        "{q:?}"
    );
    assert_eq!(q[0]["jobs"][0]["domain"], "slow.test");

    slow.restart(&[]);
    let out = s.postern(&["queue", "flush", "--domain", "slow.test"]);
    assert!(out.status.success(), "{}", text(&out));
    let got = slow.wait_for(1);
    assert_eq!(got.len(), 1);
    assert!(got[0].contains("X-Rcpt-Args: <b@slow.test>"));
    assert!(s.queue().is_empty());
    assert_eq!(
        ok.messages().len(),
        1,
        "the delivered recipient got no duplicate"
    );
    assert_eq!(
        s.alice_mail().len(),
        1,
        "no DSN for the delayed-then-delivered one"
    );
}

/// A message older than the lifetime expires: one DSN with 5.4.7 and the last error.
#[test]
fn expiry_bounces() {
    if !tools() {
        return;
    }
    let dns = Dns::start(&["--host-record=down.test,127.0.0.8".into()]);
    let s = Sender::new(
        "lifetime = \"1s\"",
        &remote_section(&dns, free_port("127.0.0.8")),
    );
    s.send("alice@here.test", &["d@down.test"], MESSAGE);
    assert_eq!(s.queue().len(), 1);
    std::thread::sleep(Duration::from_millis(2200));
    let out = s.postern(&["deliver", "--once"]);
    assert!(out.status.success(), "{}", text(&out));
    let mail = s.wait_alice(1);
    assert_eq!(mail.len(), 1);
    let status = dsn_status(&mail[0]);
    assert!(status.contains("Status: 5.4.7"), "{status}");
    assert!(status.contains("Final-Recipient: rfc822; d@down.test"));
    assert!(s.queue().is_empty());
}

/// Loops are bounced, not relayed: too many Received headers, or our own Delivered-To.
#[test]
fn loops_bounce() {
    if !tools() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let port = free_port("127.0.0.9");
    let dns = Dns::start(&["--host-record=loop.test,127.0.0.9".into()]);
    let sink = Sink::start("127.0.0.9", port, &tmp.path().join("l"), &[]);
    let s = Sender::new("", &remote_section(&dns, port));
    let hops: String = (0..60)
        .map(|i| format!("Received: from h{i} by h{i}\n"))
        .collect();
    s.send(
        "alice@here.test",
        &["a@loop.test"],
        &format!("{hops}{MESSAGE}"),
    );
    s.send(
        "alice@here.test",
        &["b@loop.test"],
        &format!("Delivered-To: b@loop.test\n{MESSAGE}"),
    );
    let mail = s.wait_alice(2);
    assert_eq!(mail.len(), 2);
    for m in &mail {
        assert!(dsn_status(m).contains("Status: 5.4.6"));
    }
    assert!(sink.messages().is_empty(), "nothing relayed");
    // A bounce is never bounced: a failing message from <> leaves no DSN behind.
    s.send("", &["c@loop.test"], &format!("{hops}{MESSAGE}"));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(s.alice_mail().len(), 2);
    assert!(s.queue().is_empty());
}

/// Scenarios 3 and 5: everything through a gateway (the head office) over TLS with AUTH —
/// CRAM-MD5 and "best" on STARTTLS with a verified certificate, PLAIN on implicit TLS, LOGIN
/// opportunistically; a wrong password defers; TLS required towards a peer without it defers.
/// The peers are aiosmtpd servers that insist on TLS and AUTH.
#[test]
fn gateway_with_tls_and_auth() {
    if !tools() || !std::path::Path::new("/usr/bin/python3").exists() {
        return;
    }
    let probe = common::run("/usr/bin/python3", &["-c", "import aiosmtpd"]);
    if !probe.status.success() {
        eprintln!("skipped: python3-aiosmtpd is needed");
        return;
    }
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
    for (name, want) in [("head-wrong", "4.7.0"), ("no-tls", "4.7.4")] {
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
}
