//! Quotas end to end: a full mailbox is 452 4.2.2 at RCPT (for every address that reaches that
//! user), mail that is queued anyway waits (deferred, not lost), and once the quota is raised the
//! next queue run delivers it. `mbox ls --json` and `mbox quota --json` report what the check
//! counts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
mod policy_support;

use std::time::{Duration, Instant};

use common::{text, Demo};
use policy_support::{demo_edited, mail_of, queue, queued, quick_retry, refused_with, swaks};

fn rcpt(d: &Demo, to: &str) -> String {
    swaks(
        d,
        &["--from", "a@b.test", "--to", to, "--quit-after", "RCPT"],
    )
}

/// RCPT TO:<to> until the reply starts with `want` (the server sees a users file change at its
/// next look-up; allow a few seconds), or panic with the last transcript.
fn rcpt_until(d: &Demo, to: &str, want: &str) {
    let start = Instant::now();
    loop {
        let out = rcpt(d, to);
        if policy_support::replied(&out, want) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{to}: want {want}\n{out}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn rows(d: &Demo, args: &[&str]) -> Vec<serde_json::Value> {
    let out = d.postern(args);
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect()
}

#[test]
fn full_mailbox_defers_until_the_quota_is_raised() {
    let d = demo_edited(
        quick_retry,
        "\n[[domain.handler]]\nlocal = \"niel\"\nmailbox = \"demo\"\n",
    );
    d.add_user("boss", "boss-password-1");
    assert!(queued(&swaks(
        &d,
        &["--from", "a@b.test", "--to", "demo@example.test"]
    )));
    assert_eq!(mail_of(&d, "demo", 1).len(), 1);

    // A quota below what is there: demo is full, under each of its addresses; boss is not.
    let q = d.postern(&["mbox", "quota", "demo", "--set", "1"]);
    assert!(q.status.success(), "{}", text(&q));
    rcpt_until(&d, "demo@example.test", "452 4.2.2");
    let out = rcpt(&d, "niel@example.test");
    assert!(
        refused_with(
            &out,
            "452 4.2.2 <niel@example.test>: Mailbox full, try again later"
        ),
        "{out}"
    );
    assert!(policy_support::replied(
        &rcpt(&d, "boss@example.test"),
        "250 2.1.5"
    ));

    // `mbox ls --json` and `mbox quota --json` report what the RCPT check counts.
    let files = common::maildir_files(&d.maildir("demo"));
    let on_disk: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum();
    let all = rows(&d, &["mbox", "ls", "--json"]);
    let demo = all.iter().find(|v| v["user"] == "demo").expect("demo row");
    let want = serde_json::json!({"user": "demo", "bytes": on_disk, "messages": 1, "quota": 1});
    assert_eq!(demo, &want, "{all:?}");
    assert!(
        all.iter()
            .any(|v| v["user"] == "boss" && v["quota"].is_null()),
        "{all:?}"
    );
    assert_eq!(rows(&d, &["mbox", "quota", "demo", "--json"]), vec![want]);

    // Mail that reaches the queue anyway (local injection) is deferred for the quota, not lost.
    assert!(d.postern_stdin_ok(
        &["sendmail", "-f", "boss@example.test", "demo@example.test"],
        "Subject: over quota\n\nwait for me\n"
    ));
    let run = d.postern(&["deliver", "--once"]);
    assert!(run.status.success(), "{}", text(&run));
    let q = queue(&d);
    assert_eq!(q.len(), 1, "{q:?}");
    let last = q[0]["last_error"].as_str().unwrap_or("");
    assert!(last.starts_with("4.2.2 "), "not deferred for quota: {q:?}");
    assert_eq!(common::maildir_files(&d.maildir("demo")).len(), 1);
    assert!(
        mail_of(&d, "boss", 0).is_empty(),
        "no bounce for a full mailbox"
    );

    // Raised (not cleared) above the usage: the next queue run delivers it, and RCPT takes mail
    // again.
    let q = d.postern(&["mbox", "quota", "demo", "--set", "1M"]);
    assert!(q.status.success(), "{}", text(&q));
    let start = Instant::now();
    while !queue(&d).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "still queued: {:?}\n{}",
            queue(&d),
            d.log()
        );
        std::thread::sleep(Duration::from_millis(1100)); // the retry wait is 1 s
        let run = d.postern(&["deliver", "--once"]);
        assert!(run.status.success(), "{}", text(&run));
    }
    let got = mail_of(&d, "demo", 2);
    assert_eq!(got.len(), 2);
    assert!(got.iter().any(|m| m.contains("wait for me")));
    rcpt_until(&d, "demo@example.test", "250 2.1.5");
    assert_eq!(
        rows(&d, &["mbox", "quota", "demo", "--json"])[0]["quota"],
        1024 * 1024
    );
}
