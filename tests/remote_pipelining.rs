//! The SMTP client's command pipelining (RFC 2920), through real sockets: with a next hop that
//! offers PIPELINING, MAIL, every RCPT and DATA (and a kept connection's RSET in front) go out in
//! one write, and every recipient still gets its own result — taken, refused (550, bounced) or
//! deferred (451, kept queued) — as without pipelining. The next hop is `pipeline_peer.py`, which
//! writes down which commands came in one write; Postfix, which pipelines too, is the next hop
//! of the last test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
#[path = "common/collect.rs"]
mod harness;
mod remote_support;

use std::path::Path;

use common::text;
use remote_support::{
    dsn_status, free_port, python_peer, require, saved_messages, Postfix, Proc, Sender,
};

/// The peer, on a fresh port, saving into `dir`; `extra`: `--no-pipelining` or nothing.
fn peer(dir: &Path, extra: &[&str]) -> (Proc, u16) {
    let port = free_port("127.0.0.1");
    let mut args = vec![port.to_string(), dir.display().to_string()];
    args.extend(extra.iter().map(|a| a.to_string()));
    let p = python_peer("pipeline_peer.py", &args, &format!("127.0.0.1:{port}"));
    (p, port)
}

/// One delivering process at a time, taking one message after the other, so the second message
/// goes over the connection the first one opened.
fn sender(port: u16) -> Sender {
    Sender::new(
        &format!("gateway = \"127.0.0.1:{port}\"\nimmediate = false\nconcurrency = 1"),
        "[remote]\nconnect_timeout = \"3s\"\ncommand_timeout = \"10s\"\n",
    )
}

/// The messages the peer saved, in order, as text.
fn saved(dir: &Path) -> Vec<String> {
    saved_messages(dir)
        .iter()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .collect()
}

/// The command groups the peer saw (one line per client write).
fn groups(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("groups"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

const MESSAGE: &str = "Subject: pipelined\n\nhello\n";

/// Three messages queued, then one `deliver --once`: the first with four recipients (taken,
/// refused, deferred, taken), the second with one, the third with only a refused and a deferred
/// recipient. Returns the sender.
fn run(port: u16) -> Sender {
    let s = sender(port);
    s.send(
        "alice@here.test",
        &[
            "ok1@far.test",
            "reject1@far.test",
            "defer1@far.test",
            "ok2@far.test",
        ],
        MESSAGE,
    );
    s.send("alice@here.test", &["ok3@far.test"], MESSAGE);
    s.send(
        "alice@here.test",
        &["reject2@far.test", "defer2@far.test"],
        MESSAGE,
    );
    let out = s.postern(&["deliver", "--once"]);
    assert!(out.status.success(), "deliver: {}", text(&out));
    s
}

/// What every run must show, pipelined or not: two messages at the next hop with exactly their
/// taken recipients, a bounce for each refused one, the deferred ones still queued with the 451.
fn assert_results(s: &Sender, dir: &Path) {
    let got = saved(dir);
    assert_eq!(got.len(), 2, "{got:#?}");
    let rcpts = |m: &str| -> Vec<String> {
        m.lines()
            .filter_map(|l| l.strip_prefix("X-Rcpt-To: "))
            .map(str::to_string)
            .collect()
    };
    let mut seen: Vec<Vec<String>> = got.iter().map(|m| rcpts(m)).collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            vec!["ok1@far.test".to_string(), "ok2@far.test".to_string()],
            vec!["ok3@far.test".to_string()],
        ]
    );
    assert!(got.iter().all(|m| m.contains("Subject: pipelined")));
    let bounces = s.wait_alice(2);
    assert_eq!(
        bounces.len(),
        2,
        "one bounce per message with a refused recipient"
    );
    let mut refused: Vec<String> = bounces
        .iter()
        .map(|b| {
            let status = dsn_status(b);
            assert!(status.contains("Status: 5.1.1"), "{status}");
            assert!(
                status.contains("Diagnostic-Code: smtp; 550 5.1.1"),
                "{status}"
            );
            assert!(!status.contains("defer"), "{status}");
            status
                .lines()
                .find_map(|l| l.strip_prefix("Final-Recipient: rfc822; "))
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .collect();
    refused.sort();
    assert_eq!(refused, ["reject1@far.test", "reject2@far.test"]);
    let mut queued: Vec<serde_json::Value> = s.queue();
    assert_eq!(queued.len(), 2, "{queued:?}");
    queued.sort_by_key(|q| q["recipients"].to_string());
    assert_eq!(
        queued[0]["recipients"],
        serde_json::json!(["defer1@far.test"])
    );
    assert_eq!(
        queued[1]["recipients"],
        serde_json::json!(["defer2@far.test"])
    );
    for q in &queued {
        let e = q["last_error"].as_str().unwrap_or("");
        assert!(e.contains("451") || e.starts_with("4.2.0"), "{q:?}");
    }
}

#[test]
fn a_pipelining_next_hop_gets_each_envelope_in_one_write() {
    require(&["python3"]);
    let tmp = tempfile::tempdir().expect("tmp");
    let (_peer, port) = peer(tmp.path(), &[]);
    let s = run(port);
    assert_results(&s, tmp.path());
    let g = groups(tmp.path());
    // The envelopes, each in one write; the second and third behind the kept connection's RSET.
    let envelopes: Vec<&String> = g.iter().filter(|l| l.contains("MAIL")).collect();
    assert_eq!(envelopes.len(), 3, "{g:#?}");
    let mut shapes: Vec<&str> = envelopes.iter().map(|l| l.as_str()).collect();
    shapes.sort_unstable();
    assert_eq!(
        shapes,
        [
            "MAIL RCPT RCPT RCPT RCPT DATA",
            "RSET MAIL RCPT DATA",
            "RSET MAIL RCPT RCPT DATA",
        ],
        "{g:#?}"
    );
}

#[test]
fn without_pipelining_each_command_waits_for_its_reply() {
    require(&["python3"]);
    let tmp = tempfile::tempdir().expect("tmp");
    let (_peer, port) = peer(tmp.path(), &["--no-pipelining"]);
    let s = run(port);
    assert_results(&s, tmp.path());
    let g = groups(tmp.path());
    assert!(g.iter().any(|l| l == "MAIL"), "{g:#?}");
    assert!(
        g.iter().all(|l| !l.contains(' ')),
        "one command per write: {g:#?}"
    );
}

#[test]
fn postfix_as_the_pipelining_next_hop_takes_every_message() {
    require(&["python3", "/usr/sbin/postfix"]);
    let tmp = tempfile::tempdir().expect("tmp");
    let port = free_port("127.0.0.2");
    let pf = Postfix::start_for(
        tmp.path(),
        &format!("127.0.0.2:{port}"),
        "far.test",
        &["ok1", "ok2", "ok3"],
    );
    let s = Sender::new(
        &format!("gateway = \"127.0.0.2:{port}\"\nimmediate = false\nconcurrency = 1"),
        "[remote]\nconnect_timeout = \"3s\"\ncommand_timeout = \"30s\"\n",
    );
    s.send(
        "alice@here.test",
        &["ok1@far.test", "nobody@far.test", "ok2@far.test"],
        MESSAGE,
    );
    s.send("alice@here.test", &["ok3@far.test"], MESSAGE);
    let out = s.postern(&["deliver", "--once"]);
    assert!(out.status.success(), "deliver: {}", text(&out));
    let mail = pf.wait_mail(3);
    assert_eq!(mail.len(), 3, "{mail:#?}");
    // Postfix refuses the unknown user at RCPT; the others are taken.
    let bounce = s.wait_alice(1);
    assert_eq!(bounce.len(), 1);
    let status = dsn_status(&bounce[0]);
    assert!(
        status.contains("Final-Recipient: rfc822; nobody@far.test"),
        "{status}"
    );
    assert!(status.contains("Status: 5.1.1"), "{status}");
    assert!(s.queue().is_empty(), "{:?}", s.queue());
    // One session carried both messages (the second behind an RSET on the kept connection),
    // and Postfix took the pipelined commands without complaint ("improper command
    // pipelining" is what it logs for a client that sends ahead unasked).
    let sessions = pf.sessions();
    assert_eq!(sessions.len(), 1, "{sessions:#?}");
    for count in ["mail=2", "rcpt=3/4", "data=2", "rset=1"] {
        assert!(sessions[0].contains(count), "{count}: {sessions:#?}");
    }
    let log = std::fs::read_to_string(pf.dir.join("maillog")).unwrap_or_default();
    assert!(!log.contains("improper command pipelining"), "{log}");
}
