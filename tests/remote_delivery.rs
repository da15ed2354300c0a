//! Remote delivery against real peers on loopback: dnsmasq as the only DNS, Postfix's smtp-sink
//! as remote MX hosts (on IPv4 and IPv6 loopback), a name server that answers SERVFAIL and one
//! that never answers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
mod remote_support;

use std::time::Duration;

use common::text;
use remote_support::{
    dsn_status, free_port, free_udp_port, python_peer_ready, require, Dns, Dsn, Sender, Sink,
    MESSAGE,
};

fn tools() {
    require(&["dnsmasq", "smtp-sink"]);
}

fn remote_section(dns: &Dns, mx_port: u16) -> String {
    format!(
        "[remote]\nmx_port = {mx_port}\nconnect_timeout = \"3s\"\ncommand_timeout = \"10s\"\n[dns]\nservers = [\"127.0.0.1:{}\"]\ntimeout = \"2s\"\n",
        dns.port
    )
}

/// Scenario 1: MX in preference order — with both MX hosts up the lower preference gets the
/// mail, with it down the next one does; one connection per domain job with all its
/// recipients; the A fallback (a domain without MX) and the AAAA fallback (a host with only
/// an IPv6 address, ::1).
#[test]
fn mx_preference_order_and_a_aaaa_fallback() {
    tools();
    let tmp = tempfile::tempdir().expect("tmp");
    let port = free_port("127.0.0.3");
    let dns = Dns::start(&[
        "--mx-host=a.test,mx2.a.test,20".into(),
        "--mx-host=a.test,mx1.a.test,10".into(),
        "--host-record=mx1.a.test,127.0.0.2".into(),
        "--host-record=mx2.a.test,127.0.0.3".into(),
        "--host-record=b.test,127.0.0.4".into(),
        "--host-record=v6.test,::1".into(),
    ]);
    let mut mx1 = Sink::start("127.0.0.2", port, &tmp.path().join("mx1"), &[]);
    let mx2 = Sink::start("127.0.0.3", port, &tmp.path().join("mx2"), &[]);
    let b = Sink::start("127.0.0.4", port, &tmp.path().join("b"), &[]);
    let v6 = Sink::start("::1", port, &tmp.path().join("v6"), &[]);
    let s = Sender::new("", &remote_section(&dns, port));
    s.send(
        "alice@here.test",
        &["x@a.test", "y@a.test", "z@b.test", "w@v6.test"],
        MESSAGE,
    );
    assert!(
        s.queue().is_empty(),
        "queue should be empty: {:?}",
        s.queue()
    );
    let got = mx1.wait_for(1);
    assert_eq!(
        got.len(),
        1,
        "one transaction for a.test, at the preferred MX"
    );
    assert!(got[0].contains("X-Rcpt-Args: <x@a.test>"), "{}", got[0]);
    assert!(got[0].contains("X-Rcpt-Args: <y@a.test>"), "{}", got[0]);
    assert!(got[0].contains("Hello over there."));
    assert!(mx2.messages().is_empty(), "the backup MX got nothing");
    let got = b.wait_for(1);
    assert_eq!(got.len(), 1);
    assert!(got[0].contains("X-Rcpt-Args: <z@b.test>"));
    let got = v6.wait_for(1);
    assert_eq!(got.len(), 1, "the AAAA-only host got its mail");
    assert!(got[0].contains("X-Rcpt-Args: <w@v6.test>"), "{}", got[0]);
    assert!(
        got[0].contains("X-Client-Addr: ipv6:"),
        "over IPv6: {}",
        got[0]
    );

    // The preferred MX goes away: the next one takes the mail.
    mx1.stop();
    s.send("alice@here.test", &["v@a.test"], MESSAGE);
    assert!(s.queue().is_empty(), "{:?}", s.queue());
    let got = mx2.wait_for(1);
    assert_eq!(got.len(), 1, "the backup MX took it");
    assert!(got[0].contains("X-Rcpt-Args: <v@a.test>"), "{}", got[0]);
    assert_eq!(mx1.messages().len(), 1);
}

/// SERVFAIL and timeouts are temporary: deferred, retried, never bounced — for the MX lookup
/// and for the address of an MX host. dnsmasq forwards servfail.test to a name server that
/// answers SERVFAIL (dnsmasq passes it on) and timeout.test to one that never answers.
#[test]
fn dns_servfail_and_timeout_defer_without_bounce() {
    tools();
    require(&["python3"]);
    let sf_port = free_udp_port();
    let _servfail = python_peer_ready("servfail_dns.py", &[sf_port.to_string()]);
    // Bound and never read: queries to it go unanswered (no ICMP either).
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    let silent_port = silent.local_addr().expect("addr").port();
    let dns = Dns::start(&[
        format!("--server=/servfail.test/127.0.0.1#{sf_port}"),
        format!("--server=/timeout.test/127.0.0.1#{silent_port}"),
        "--mx-host=mxsf.test,mx.servfail.test,10".into(),
    ]);
    let s = Sender::new("", &remote_section(&dns, free_port("127.0.0.1")));
    let to = ["a@servfail.test", "b@timeout.test", "c@mxsf.test"];
    s.send("alice@here.test", &to, MESSAGE);
    for attempt in 1..=2 {
        let q = s.queue();
        assert_eq!(q.len(), 1, "deferred: {q:?}");
        assert_eq!(q[0]["attempts"], attempt, "{q:?}");
        let id = q[0]["id"].as_str().expect("id").to_string();
        let show = s.postern(&["queue", "show", &id, "--json"]);
        assert!(show.status.success(), "{}", text(&show));
        let v: serde_json::Value = serde_json::from_slice(&show.stdout).expect("show json");
        let rcpts = v["state"]["recipients"].as_array().expect("recipients");
        assert_eq!(rcpts.len(), 3);
        for r in rcpts {
            assert_eq!(r["status"], "pending", "{r}");
            let e = r["last_error"].as_str().unwrap_or("");
            assert!(e.starts_with("4.4.3 "), "temporary DNS failure: {r}");
        }
        assert!(s.alice_mail().is_empty(), "no bounce for a DNS failure");
        if attempt == 1 {
            let out = s.postern(&["queue", "flush"]);
            assert!(out.status.success(), "{}", text(&out));
        }
    }
    drop(silent);
}

/// Null MX (RFC 7505) and NXDOMAIN fail at once, with one DSN to the sender.
#[test]
fn null_mx_and_nxdomain_bounce_once() {
    tools();
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
    tools();
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
    assert_eq!(q[0]["jobs"][0]["destination"], "slow.test");

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
    tools();
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

/// `delivery.max_attempts`: after that many attempts the message bounces (5.4.7, with the last
/// error), even though its lifetime has not run out.
#[test]
fn max_attempts_bounces() {
    tools();
    let dns = Dns::start(&["--host-record=down.test,127.0.0.8".into()]);
    let s = Sender::new(
        "max_attempts = 2",
        &remote_section(&dns, free_port("127.0.0.8")),
    );
    s.send("alice@here.test", &["d@down.test"], MESSAGE);
    let q = s.queue();
    assert_eq!(q.len(), 1, "the first attempt defers");
    assert_eq!(q[0]["attempts"], 1);
    assert!(s.alice_mail().is_empty());
    let out = s.postern(&["queue", "flush"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(s.queue().is_empty(), "{:?}", s.queue());
    let mail = s.wait_alice(1);
    assert_eq!(mail.len(), 1);
    let dsn = Dsn::parse(&mail[0]);
    let r = dsn.recipient("d@down.test");
    assert_eq!(r["action"], "failed");
    assert_eq!(r["status"], "5.4.7", "{r:?}");
    assert!(
        mail[0].contains("gave up after 2 attempts; last error: 4.4.1"),
        "{}",
        mail[0]
    );
}

/// Loops are bounced, not relayed: too many Received headers, or our own Delivered-To.
#[test]
fn loops_bounce() {
    tools();
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
