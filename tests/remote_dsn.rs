//! Delivery status notifications end to end: the RFC 3461 parameters given to postern's smtpd
//! (by Python's smtplib) passed on to a next hop that supports DSN and reported on by postern
//! itself when the next hop does not; success, failure and delay reports parsed with a MIME
//! parser.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
mod remote_support;

use std::time::Duration;

use common::text;
use remote_support::{free_port, require, smtp_send, Dns, Dsn, Postfix, Sender, Sink, MESSAGE};

fn remote_section(dns: &Dns, mx_port: u16, extra: &str) -> String {
    format!(
        "[remote]\nmx_port = {mx_port}\nconnect_timeout = \"3s\"\ncommand_timeout = \"10s\"\n{extra}\n[dns]\nservers = [\"127.0.0.1:{}\"]\ntimeout = \"2s\"\n",
        dns.port
    )
}

/// The first line of `dump` starting with `field: `, without the field name.
fn dump_field<'a>(dump: &'a str, field: &str) -> Vec<&'a str> {
    let prefix = format!("{field}: ");
    dump.lines()
        .filter_map(|l| l.strip_prefix(prefix.as_str()))
        .collect()
}

/// RET, ENVID, NOTIFY and ORCPT through smtpd: passed on xtext-encoded exactly as they came to
/// a next hop that advertises DSN (smtp-sink shows the MAIL and RCPT arguments it got), dropped
/// towards one that does not (smtp-sink -N) with a "relayed" report from us for NOTIFY=SUCCESS;
/// local delivery with NOTIFY=SUCCESS gives a "delivered" report; NOTIFY=NEVER gives no bounce;
/// RET=HDRS returns the headers only, RET absent the whole message.
#[test]
fn dsn_parameters_through_smtpd_end_to_end() {
    require(&["dnsmasq", "smtp-sink", "python3"]);
    let tmp = tempfile::tempdir().expect("tmp");
    let port = free_port("127.0.0.21");
    let dns = Dns::start(&[
        "--host-record=dsn.test,127.0.0.21".into(),
        "--host-record=nodsn.test,127.0.0.22".into(),
        "--host-record=bad.test,127.0.0.23".into(),
    ]);
    let with_dsn = Sink::start("127.0.0.21", port, &tmp.path().join("dsn"), &[]);
    let without = Sink::start("127.0.0.22", port, &tmp.path().join("nodsn"), &["-N"]);
    let _bad = Sink::start("127.0.0.23", port, &tmp.path().join("bad"), &["-f", "RCPT"]);
    let s = Sender::new("", &remote_section(&dns, port, ""));
    let out = s.postern_stdin(&["user", "add", "bob", "--password-stdin"], b"pw\n");
    assert!(out.status.success(), "{}", text(&out));
    let (_smtpd, smtp_port) = s.smtpd();

    let refused = smtp_send(
        smtp_port,
        "alice@here.test",
        &["RET=HDRS", "ENVID=QQ+2B1"],
        &[
            (
                "x@dsn.test",
                &["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;a+2Bb@x.test"],
            ),
            (
                "y@nodsn.test",
                &["NOTIFY=SUCCESS", "ORCPT=rfc822;y@nodsn.test"],
            ),
            ("bob@here.test", &["NOTIFY=SUCCESS"]),
            ("z@bad.test", &["NOTIFY=NEVER"]),
            ("f@bad.test", &["NOTIFY=FAILURE"]),
        ],
        MESSAGE,
    );
    assert_eq!(refused, "{}", "smtpd took every recipient");

    // The next hop with DSN got the parameters exactly as the client gave them.
    let got = with_dsn.wait_for(1);
    assert_eq!(got.len(), 1);
    let mail_args = dump_field(&got[0], "X-Mail-Args");
    assert_eq!(mail_args.len(), 1, "{}", got[0]);
    let words: Vec<&str> = mail_args[0].split_whitespace().collect();
    assert_eq!(words[0], "<alice@here.test>");
    assert!(words.contains(&"RET=HDRS"), "{words:?}");
    assert!(words.contains(&"ENVID=QQ+2B1"), "{words:?}");
    assert_eq!(
        dump_field(&got[0], "X-Rcpt-Args"),
        ["<x@dsn.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+2Bb@x.test"]
    );
    // The one without DSN got none of them.
    let got = without.wait_for(1);
    assert_eq!(got.len(), 1);
    let mail_args = dump_field(&got[0], "X-Mail-Args");
    assert!(
        !mail_args[0].contains("RET=") && !mail_args[0].contains("ENVID="),
        "{mail_args:?}"
    );
    assert_eq!(dump_field(&got[0], "X-Rcpt-Args"), ["<y@nodsn.test>"]);

    let mail = s.wait_alice(2);
    assert_eq!(mail.len(), 2, "one success report, one failure report");
    let dsns: Vec<Dsn> = mail.iter().map(|m| Dsn::parse(m)).collect();
    let success = dsns
        .iter()
        .find(|d| d.recipients.iter().all(|r| r["action"] != "failed"))
        .expect("the success report");
    let failure = dsns
        .iter()
        .find(|d| d.recipients.iter().any(|r| r["action"] == "failed"))
        .expect("the failure report");

    assert_eq!(success.message["original-envelope-id"], "QQ+1");
    assert_eq!(success.recipients.len(), 2, "{:?}", success.recipients);
    let y = success.recipient("y@nodsn.test");
    assert_eq!(y["action"], "relayed");
    assert!(y["status"].starts_with("2."), "{y:?}");
    assert_eq!(y["original-recipient"], "rfc822;y@nodsn.test");
    assert_eq!(y["remote-mta"], "dns; nodsn.test");
    let bob = success.recipient("bob@here.test");
    assert_eq!(bob["action"], "delivered");
    assert_eq!(bob["status"], "2.0.0");
    assert_eq!(success.original_type, "text/rfc822-headers");
    assert!(success.original.contains("Subject: remote test"));
    assert!(!success.original.contains("Hello over there."));

    assert_eq!(
        failure.recipients.len(),
        1,
        "not z (NEVER): {:?}",
        failure.recipients
    );
    let f = failure.recipient("f@bad.test");
    assert!(f["status"].starts_with("5."), "{f:?}");
    assert!(f["diagnostic-code"].starts_with("smtp; 5"), "{f:?}");
    assert_eq!(failure.message["original-envelope-id"], "QQ+1");
    assert_eq!(failure.original_type, "text/rfc822-headers", "RET=HDRS");
    assert!(failure.original.contains("Subject: remote test"));
    assert!(!failure.original.contains("Hello over there."));

    let bob_mail = common::wait_for_mail(
        &s.dir.path().join("mail").join("bob"),
        1,
        Duration::from_secs(20),
    );
    assert_eq!(bob_mail.len(), 1, "bob got the message itself");

    // Without RET the whole message comes back; without NOTIFY failures are reported.
    let refused = smtp_send(
        smtp_port,
        "alice@here.test",
        &[],
        &[("g@bad.test", &[])],
        MESSAGE,
    );
    assert_eq!(refused, "{}");
    let mail = s.wait_alice(3);
    assert_eq!(mail.len(), 3);
    let full = mail
        .iter()
        .map(|m| Dsn::parse(m))
        .find(|d| {
            d.recipients
                .iter()
                .any(|r| r["final-recipient"] == "rfc822; g@bad.test")
        })
        .expect("the report on g");
    assert_eq!(full.original_type, "message/rfc822");
    assert!(
        full.original.contains("Hello over there."),
        "{}",
        full.original
    );
    assert!(!full.message.contains_key("original-envelope-id"));
    assert!(s.queue().is_empty(), "{:?}", s.queue());
}

/// `remote.delay_warning`: one warning (Action: delayed, Status 4.x.x, Will-Retry-Until) once the
/// message has waited that long, not repeated on later attempts; then the final outcome of
/// each recipient: one delivered when its host comes up (no report: it did not ask for one),
/// the other bounced when the lifetime runs out.
#[test]
fn delay_warning_once_then_final_outcome() {
    require(&["dnsmasq", "smtp-sink"]);
    let tmp = tempfile::tempdir().expect("tmp");
    let port = free_port("127.0.0.24");
    let dns = Dns::start(&[
        "--host-record=later.test,127.0.0.24".into(),
        "--host-record=never.test,127.0.0.25".into(),
    ]);
    let s = Sender::new(
        "lifetime = \"7s\"",
        &remote_section(&dns, port, "delay_warning = \"2s\""),
    );
    s.send(
        "alice@here.test",
        &["a@later.test", "b@never.test"],
        MESSAGE,
    );
    assert_eq!(s.queue().len(), 1);
    assert!(s.alice_mail().is_empty(), "no warning before 2 s");

    std::thread::sleep(Duration::from_millis(2300));
    let out = s.postern(&["deliver", "--once"]);
    assert!(out.status.success(), "{}", text(&out));
    let mail = s.wait_alice(1);
    assert_eq!(mail.len(), 1, "one delay warning");
    let warning = Dsn::parse(&mail[0]);
    assert_eq!(warning.recipients.len(), 2);
    for rcpt in ["a@later.test", "b@never.test"] {
        let r = warning.recipient(rcpt);
        assert_eq!(r["action"], "delayed", "{r:?}");
        assert!(r["status"].starts_with("4."), "{r:?}");
        assert!(r.contains_key("will-retry-until"), "{r:?}");
    }
    assert_eq!(warning.original_type, "text/rfc822-headers");

    std::thread::sleep(Duration::from_millis(1100));
    let out = s.postern(&["deliver", "--once"]);
    assert!(out.status.success(), "{}", text(&out));
    let q = s.queue();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0]["attempts"], 3, "{q:?}");
    assert_eq!(s.alice_mail().len(), 1, "the warning is not repeated");

    let sink = Sink::start("127.0.0.24", port, &tmp.path().join("later"), &[]);
    let out = s.postern(&["queue", "flush"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(sink.wait_for(1).len(), 1, "a@later.test delivered");
    let q = s.queue();
    assert_eq!(q[0]["recipients"], serde_json::json!(["b@never.test"]));
    assert_eq!(s.alice_mail().len(), 1, "no report for the delivered one");

    // Past the lifetime (whole seconds since it was received, so a second to spare).
    std::thread::sleep(Duration::from_secs(5));
    let out = s.postern(&["deliver", "--once"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(s.queue().is_empty(), "{:?}", s.queue());
    let mail = s.wait_alice(2);
    assert_eq!(mail.len(), 2);
    let bounce = mail
        .iter()
        .map(|m| Dsn::parse(m))
        .find(|d| d.recipients.iter().any(|r| r["action"] == "failed"))
        .expect("the final bounce");
    assert_eq!(bounce.recipients.len(), 1);
    let r = bounce.recipient("b@never.test");
    assert_eq!(r["status"], "5.4.7", "{r:?}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(s.alice_mail().len(), 2, "nothing more");
}

/// A real Postfix refusing one recipient at RCPT (`550 5.1.1 … User unknown in virtual mailbox
/// table`) and taking the other: the bounce's Status, Remote-MTA and Diagnostic-Code are exactly
/// what Postfix said and where it said it, and its text part says the same in one line.
#[test]
fn dsn_fields_from_a_postfix_550_exactly() {
    require(&["dnsmasq", "postfix"]);
    let root = common::run("id", &["-u"]).stdout.starts_with(b"0");
    assert!(
        root,
        "a private Postfix instance needs root (bin/test runs as root)"
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let port = free_port("127.0.0.26");
    let dns = Dns::start(&[
        "--mx-host=far.test,mx.far.test,10".into(),
        "--host-record=mx.far.test,127.0.0.26".into(),
    ]);
    let pf = Postfix::start_for(
        &tmp.path().join("pf"),
        &format!("127.0.0.26:{port}"),
        "far.test",
        &["bob"],
    );
    let s = Sender::new("", &remote_section(&dns, port, ""));
    s.send(
        "alice@here.test",
        &["bob@far.test", "nobody@far.test"],
        MESSAGE,
    );
    assert_eq!(pf.wait_mail(1).len(), 1, "Postfix took bob's copy");
    let mail = s.wait_alice(1);
    assert_eq!(mail.len(), 1, "one bounce");
    let dsn = Dsn::parse(&mail[0]);
    assert_eq!(dsn.recipients.len(), 1, "{:?}", dsn.recipients);
    let r = dsn.recipient("nobody@far.test");
    assert_eq!(r["action"], "failed");
    assert_eq!(r["status"], "5.1.1");
    assert_eq!(r["remote-mta"], "dns; mx.far.test");
    assert_eq!(
        r["diagnostic-code"],
        "smtp; 550 5.1.1 <nobody@far.test>: Recipient address rejected: \
         User unknown in virtual mailbox table"
    );
    let said = format!(
        "<nobody@far.test>: 5.1.1 refused at RCPT TO: 550 5.1.1 <nobody@far.test>: Recipient \
         address rejected: User unknown in virtual mailbox table (at mx.far.test[127.0.0.26]:{port})"
    );
    assert!(mail[0].contains(&said), "{said}\nnot in\n{}", mail[0]);
    assert!(s.queue().is_empty(), "{:?}", s.queue());
}
