//! Two queue runners on one spool whose queue-file locks do not hold (as after a GlusterFS brick
//! restart, which forgets the locks taken while it was away) still send each message to the
//! next hop once: the delivery claim (`spool/claims/ID`, made with `link(2)`) is what stops the
//! second one. Shown against Postfix's smtp-sink (slow to answer DATA, so the runners overlap),
//! with two `postern deliver --once` processes started together:
//! - locks not honoured, claims off: messages reach the next hop twice (the race is real);
//! - locks not honoured, claims on: every message exactly once, the queue empty, and the
//!   runners' logs name the claims that turned them away.
//!
//!
//! And a runner killed in the middle of a message for two destinations: the first destination's
//! result is already in the delivery state, so the next runner (taking over the dead runner's
//! claim at once: same host, its process gone) sends only to the second.
//!
//! The hooks (`POSTERN_TEST_IGNORE_QUEUE_LOCKS`, `POSTERN_TEST_NO_DELIVERY_CLAIMS`) exist in
//! debug builds only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
mod remote_support;

use std::collections::HashMap;
use std::process::{Command, Stdio};

use common::bin;
use remote_support::{free_port, require, Dns, Sender, Sink};

const MESSAGES: usize = 6;

/// Queues `MESSAGES` remote messages, runs two `deliver --once` at once with `env`, and returns
/// how many transactions the next hop saw per token, with the runners' logs.
fn race(
    env: &[(&str, &str)],
) -> (
    HashMap<String, usize>,
    String,
    Sender,
    (Sink, tempfile::TempDir),
) {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port("127.0.0.1");
    // Answers DATA after 1 s: both runners are inside one message at once.
    let sink = Sink::start("127.0.0.1", port, &tmp.path().join("sink"), &["-w", "1"]);
    let s = Sender::new(
        &format!("immediate = false\nconcurrency = 1\ngateway = \"127.0.0.1:{port}\""),
        "[remote]\nconnect_timeout = \"3s\"\ncommand_timeout = \"10s\"\n[cluster]\nshared_volume = \"yes\"\n",
    );
    for n in 0..MESSAGES {
        let msg = format!("From: alice@here.test\nSubject: token-{n}\n\nbody {n}\n");
        s.send("alice@here.test", &["someone@remote.test"], &msg);
    }
    assert_eq!(s.queue().len(), MESSAGES, "all queued, none sent yet");
    // A copy of the queue files, to bring one back later as a healing volume may.
    let copy = s.dir.path().join("queue-copy");
    std::fs::create_dir_all(&copy).unwrap();
    for e in std::fs::read_dir(s.dir.path().join("spool/queue")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), copy.join(e.file_name())).unwrap();
    }
    let runners: Vec<_> = (0..2)
        .map(|k| {
            let log = std::fs::File::create(s.dir.path().join(format!("run{k}.log"))).unwrap();
            Command::new(bin())
                .arg("--config")
                .arg(s.config())
                .args(["deliver", "--once"])
                .envs(env.iter().copied())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap()
        })
        .collect();
    let statuses: Vec<_> = runners.into_iter().map(|mut r| r.wait().unwrap()).collect();
    let logs = s.read("run0.log") + &s.read("run1.log");
    // 75 (EX_TEMPFAIL): a runner left a message to the other (it was busy).
    for st in statuses {
        assert!(
            st.success() || st.code() == Some(75),
            "deliver --once: {st}\n{logs}"
        );
    }
    let counts = count_tokens(&sink.wait_for(MESSAGES));
    (counts, logs, s, (sink, tmp))
}

/// Transactions per token.
fn count_tokens(messages: &[String]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for m in messages {
        if let Some(t) = m
            .lines()
            .find_map(|l| l.strip_prefix("Subject: token-"))
            .map(|t| t.trim().to_string())
        {
            *counts.entry(t).or_insert(0) += 1;
        }
    }
    counts
}

#[test]
fn without_claims_the_runners_double_with_claims_each_message_goes_once() {
    require(&["smtp-sink"]);
    let (first, logs, _s, _sink) = race(&[
        ("POSTERN_TEST_IGNORE_QUEUE_LOCKS", "1"),
        ("POSTERN_TEST_NO_DELIVERY_CLAIMS", "1"),
    ]);
    let doubled = first.values().filter(|&&n| n > 1).count();
    eprintln!("locks ignored, no claims: {first:?}");
    assert_eq!(
        first.len(),
        MESSAGES,
        "every message arrived: {first:?}\n{logs}"
    );
    assert!(
        doubled > 0,
        "the two runners never overlapped, so this test proves nothing: {first:?}\n{logs}"
    );

    let (counts, logs, s, (sink, _sink_dir)) = race(&[("POSTERN_TEST_IGNORE_QUEUE_LOCKS", "1")]);
    eprintln!("locks ignored, claims on: {counts:?}");
    assert_eq!(
        counts.len(),
        MESSAGES,
        "every message arrived: {counts:?}\n{logs}"
    );
    assert!(
        counts.values().all(|&n| n == 1),
        "a message reached the next hop twice: {counts:?}\n{logs}"
    );
    let turned_away = logs
        .lines()
        .filter(|l| l.contains("event=delivery_claimed"))
        .count();
    assert!(
        turned_away > 0,
        "no runner was turned away by a claim:\n{logs}"
    );
    eprintln!("{turned_away} attempts turned away by a claim");
    assert!(
        !logs.contains("event=delivery_error"),
        "a runner failed on a message:\n{logs}"
    );
    assert!(s.queue().is_empty(), "queue left: {:?}", s.queue());
    // Every claim was released, each leaving the mark of a message that left the queue.
    let names: Vec<String> = std::fs::read_dir(s.dir.path().join("spool/claims"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), MESSAGES, "{names:?}");
    assert!(names.iter().all(|n| n.ends_with(".done")), "{names:?}");

    // A finished message's queue file brought back (with its bytes, as GlusterFS's healing was
    // seen to do) is dropped, not sent again.
    let back = std::fs::read_dir(s.dir.path().join("queue-copy"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    std::fs::copy(
        back.path(),
        s.dir.path().join("spool/queue").join(back.file_name()),
    )
    .unwrap();
    assert_eq!(s.queue().len(), 1);
    let out = s.postern(&["deliver", "--once"]);
    let t = common::text(&out);
    assert!(out.status.success(), "{t}");
    assert!(s.queue().is_empty(), "{t}");
    assert!(
        t.contains("event=queue_file_removed") && t.contains("reason=finished"),
        "{t}"
    );
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(count_tokens(&sink.messages()), counts, "sent again");
}

#[test]
fn a_runner_killed_between_destinations_leaves_the_first_recorded() {
    require(&["smtp-sink", "dnsmasq"]);
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port("127.0.0.2");
    let dns = Dns::start(&[
        "--mx-host=a.test,mx.a.test,10".into(),
        "--host-record=mx.a.test,127.0.0.2".into(),
        "--mx-host=b.test,mx.b.test,10".into(),
        "--host-record=mx.b.test,127.0.0.3".into(),
    ]);
    let a = Sink::start("127.0.0.2", port, &tmp.path().join("a"), &[]);
    // b.test's next hop takes the whole message, then says nothing for 60 s.
    let mut b = Sink::start("127.0.0.3", port, &tmp.path().join("b"), &["-w", "60"]);
    let s = Sender::new(
        "immediate = false\nconcurrency = 1",
        &format!(
            "[remote]\nmx_port = {port}\nconnect_timeout = \"3s\"\ncommand_timeout = \"120s\"\n\
             [cluster]\nshared_volume = \"yes\"\n\
             [dns]\nservers = [\"127.0.0.1:{}\"]\ntimeout = \"2s\"\n",
            dns.port
        ),
    );
    s.send(
        "alice@here.test",
        &["x@a.test", "y@b.test"],
        "From: alice@here.test\nSubject: two destinations\n\nhello\n",
    );
    let run = |log: &str| {
        Command::new(bin())
            .arg("--config")
            .arg(s.config())
            .args(["deliver", "--once"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(s.dir.path().join(log)).unwrap())
            .spawn()
            .unwrap()
    };
    let mut first = run("first.log");
    // a.test's transaction ends, b.test's hangs in DATA: kill the runner there.
    let start = std::time::Instant::now();
    while b.messages().is_empty() && start.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(
        a.messages().len(),
        1,
        "a.test first: {}",
        s.read("first.log")
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    first.kill().unwrap();
    first.wait().unwrap();
    let q = s.queue();
    assert_eq!(q.len(), 1, "{q:?}");
    let claims = s.dir.path().join("spool/claims");
    assert_eq!(
        std::fs::read_dir(&claims).unwrap().count(),
        1,
        "the dead runner's claim is left"
    );
    // The state file already says x@a.test is done.
    let state = std::fs::read_dir(s.dir.path().join("spool/state"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .find(|t| t.contains("x@a.test"))
        .expect("a state file recorded during the attempt");
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    let status = |addr: &str| {
        state["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["address"] == addr)
            .map(|r| r["status"].clone())
            .unwrap()
    };
    assert_eq!(status("x@a.test"), "delivered", "{state}");
    assert_eq!(status("y@b.test"), "pending", "{state}");
    // b.test answers again; the next runner takes the claim over and sends to y@b.test only.
    b.restart(&[]);
    let mut second = run("second.log");
    assert!(second.wait().unwrap().success(), "{}", s.read("second.log"));
    let log = s.read("second.log");
    assert!(log.contains("event=claim_taken_over"), "{log}");
    assert_eq!(a.messages().len(), 1, "x@a.test sent again:\n{log}");
    let got = b.wait_for(2);
    assert!(
        got.iter().any(|m| m.contains("X-Rcpt-Args: <y@b.test>")),
        "{got:?}"
    );
    assert!(s.queue().is_empty(), "{:?}", s.queue());
    let names: Vec<String> = std::fs::read_dir(&claims)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.len() == 1 && names[0].ends_with(".done"), "{names:?}");
}
