//! Remote delivery against real peers on loopback: dnsmasq as the only DNS, Postfix's smtp-sink
//! as remote MX hosts, and a second postern (demo) as the head office requiring TLS and AUTH.

mod common;
mod remote_support;

use std::time::Duration;

use common::{have, text, wait_for_mail, Demo};
use remote_support::{dsn_status, free_port, Dns, Sender, Sink, MESSAGE};

fn tools() -> bool {
    let ok = have("dnsmasq") && have("smtp-sink");
    if !ok {
        eprintln!("skipped: dnsmasq and smtp-sink (postfix) are needed");
    }
    ok
}

fn remote_section(dns: &Dns, mx_port: u16) -> String {
    format!(
        "[remote]\nmx_port = {mx_port}\nconnect_timeout = \"3s\"\ncommand_timeout = \"10s\"\n[remote.dns]\nservers = [\"127.0.0.1:{}\"]\ntimeout = \"2s\"\n",
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
    ]);
    let s = Sender::new("", &remote_section(&dns, free_port("127.0.0.1")));
    s.send("alice@here.test", &["p@null.test", "q@nx.test"], MESSAGE);
    let mail = s.wait_alice(1);
    assert_eq!(mail.len(), 1, "exactly one DSN");
    let status = dsn_status(&mail[0]);
    assert!(
        status.contains("Final-Recipient: rfc822; p@null.test"),
        "{status}"
    );
    assert!(status.contains("Status: 5.1.10"), "{status}");
    assert!(
        status.contains("Final-Recipient: rfc822; q@nx.test"),
        "{status}"
    );
    assert!(status.contains("Status: 5.1.2"), "{status}");
    assert!(status.contains("Reporting-MTA: dns; mail.here.test"));
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

/// Scenarios 3 and 5: everything through a gateway (a second postern, the head office) over TLS
/// with AUTH — CRAM-MD5 on STARTTLS, PLAIN on implicit TLS, LOGIN opportunistically; and TLS
/// required towards a peer that cannot do it defers.
#[test]
fn gateway_with_tls_and_auth() {
    if !tools() {
        return;
    }
    let head = Demo::start();
    let add = head.postern_stdin_ok(
        &[
            "user",
            "add",
            "branch",
            "--password-stdin",
            "--shared-secret",
        ],
        "branchpw\n",
    );
    assert!(add, "user add branch");
    let dns = Dns::start(&["--host-record=mail.example.test,127.0.0.1".into()]);
    let cert = head.root().join("cert.pem");
    let tmp = tempfile::tempdir().expect("tmp");
    let sink_port = free_port("127.0.0.10");
    let _plain = Sink::start("127.0.0.10", sink_port, &tmp.path().join("p"), &[]);
    let rest = format!(
        r#"{remote}
[[remote.server]]
name = "head-cram"
host = "mail.example.test"
port = {sub}
tls = "required"
ca = "{cert}"
auth = "cram-md5"
user = "branch"
password = "branchpw"

[[remote.server]]
name = "head-plain"
host = "mail.example.test"
port = {smtps}
tls = "implicit"
ca = "{cert}"
auth = "plain"
user = "branch"
password = "branchpw"

[[remote.server]]
name = "head-login"
host = "127.0.0.1"
port = {sub}
tls = "opportunistic"
auth = "login"
user = "branch"
password = "branchpw"

[[remote.server]]
name = "no-tls"
host = "127.0.0.10"
port = {sink_port}
tls = "required"
"#,
        remote = remote_section(&dns, 25),
        sub = head.port(2587),
        smtps = head.port(2465),
        cert = cert.display(),
    );
    for (n, server) in ["head-cram", "head-plain", "head-login"].iter().enumerate() {
        let s = Sender::new(&format!("gateway = \"{server}\""), &rest);
        s.send("alice@here.test", &["demo@example.test"], MESSAGE);
        let got = wait_for_mail(&head.maildir("demo"), n + 1, Duration::from_secs(20));
        assert_eq!(
            got.len(),
            n + 1,
            "via {server}: {:?}\n{}",
            s.queue(),
            head.log()
        );
        assert!(s.queue().is_empty(), "via {server}");
    }
    let s = Sender::new("gateway = \"no-tls\"", &rest);
    s.send("alice@here.test", &["x@far.test"], MESSAGE);
    let q = s.queue();
    assert_eq!(q.len(), 1);
    assert!(
        q[0]["last_error"].as_str().unwrap_or("").contains("4.7.4"),
        "{q:?}"
    );
}
