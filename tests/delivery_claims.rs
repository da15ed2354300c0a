//! Two queue runners on one spool whose queue-file locks do not hold (as after a GlusterFS brick
//! restart, which forgets the locks taken while it was away) still send each message to the
//! next hop once: the delivery claim (`spool/claims/ID`, made with `link(2)`) is what stops the
//! second one. Shown against Postfix's smtp-sink (slow to answer DATA, so the runners overlap),
//! with two `postern deliver --once` processes started together:
//! - locks not honoured, claims off: messages reach the next hop twice (the race is real);
//! - locks not honoured, claims on: every message exactly once, the queue empty, and the
//!   runners' logs name the claims that turned them away.
//!
//! The hooks (`POSTERN_TEST_IGNORE_QUEUE_LOCKS`, `POSTERN_TEST_NO_DELIVERY_CLAIMS`) exist in
//! debug builds only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
mod remote_support;

use std::collections::HashMap;
use std::process::{Command, Stdio};

use common::bin;
use remote_support::{free_port, require, Sender, Sink};

const MESSAGES: usize = 6;

/// Queues `MESSAGES` remote messages, runs two `deliver --once` at once with `env`, and returns
/// how many transactions the next hop saw per token, with the runners' logs.
fn race(env: &[(&str, &str)]) -> (HashMap<String, usize>, String, Sender) {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port("127.0.0.1");
    // Answers DATA after 1 s: both runners are inside one message at once.
    let sink = Sink::start("127.0.0.1", port, &tmp.path().join("sink"), &["-w", "1"]);
    let s = Sender::new(
        &format!("immediate = false\nconcurrency = 1\ngateway = \"127.0.0.1:{port}\""),
        "[remote]\nconnect_timeout = \"3s\"\ncommand_timeout = \"10s\"\n",
    );
    for n in 0..MESSAGES {
        let msg = format!("From: alice@here.test\nSubject: token-{n}\n\nbody {n}\n");
        s.send("alice@here.test", &["someone@remote.test"], &msg);
    }
    assert_eq!(s.queue().len(), MESSAGES, "all queued, none sent yet");
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
    let mut counts = HashMap::new();
    for m in sink.wait_for(MESSAGES) {
        if let Some(t) = m
            .lines()
            .find_map(|l| l.strip_prefix("Subject: token-"))
            .map(|t| t.trim().to_string())
        {
            *counts.entry(t).or_insert(0) += 1;
        }
    }
    (counts, logs, s)
}

#[test]
fn without_claims_the_runners_double_with_claims_each_message_goes_once() {
    require(&["smtp-sink"]);
    let (counts, logs, _s) = race(&[
        ("POSTERN_TEST_IGNORE_QUEUE_LOCKS", "1"),
        ("POSTERN_TEST_NO_DELIVERY_CLAIMS", "1"),
    ]);
    let doubled = counts.values().filter(|&&n| n > 1).count();
    eprintln!("locks ignored, no claims: {counts:?}");
    assert_eq!(
        counts.len(),
        MESSAGES,
        "every message arrived: {counts:?}\n{logs}"
    );
    assert!(
        doubled > 0,
        "the two runners never overlapped, so this test proves nothing: {counts:?}\n{logs}"
    );

    let (counts, logs, s) = race(&[("POSTERN_TEST_IGNORE_QUEUE_LOCKS", "1")]);
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
    // Every claim was released.
    let claims = std::fs::read_dir(s.dir.path().join("spool/claims"))
        .unwrap()
        .count();
    assert_eq!(claims, 0, "claims left behind");
}
