//! `postern queue …` against a live queue: ls (human and --json), show, hold/release, abort with
//! and without --bounce, all while `postern deliver --watch` keeps running.

mod common;
mod remote_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{bin, have, text};
use remote_support::{dsn_status, free_port, Dns, Proc, Sender, Sink, MESSAGE};

#[test]
fn queue_commands_beside_a_running_deliverer() {
    if !(have("dnsmasq") && have("smtp-sink")) {
        eprintln!("skipped: dnsmasq and smtp-sink (postfix) are needed");
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let port = free_port("127.0.0.11");
    let dns = Dns::start(&["--host-record=a.test,127.0.0.11".into()]);
    let remote = format!(
        "[remote]\nmx_port = {port}\nconnect_timeout = \"2s\"\n[dns]\nservers = [\"127.0.0.1:{}\"]\n",
        dns.port
    );
    let s = Sender::new("scan_interval = \"1s\"", &remote);
    // Nothing listens yet: every message is deferred.
    for to in ["one@a.test", "two@a.test", "three@a.test"] {
        s.send("alice@here.test", &[to], MESSAGE);
    }
    let q = s.queue();
    assert_eq!(q.len(), 3);
    let id_of = |to: &str| {
        q.iter()
            .find(|m| m["recipients"][0] == to)
            .and_then(|m| m["id"].as_str())
            .expect("queued id")
            .to_string()
    };
    let (one, two, three) = (
        id_of("one@a.test"),
        id_of("two@a.test"),
        id_of("three@a.test"),
    );
    for m in &q {
        for key in [
            "id",
            "size",
            "age",
            "sender",
            "recipients",
            "attempts",
            "next_try",
            "last_error",
            "jobs",
            "held",
        ] {
            assert!(m.get(key).is_some(), "{key} missing in {m}");
        }
        assert_eq!(m["sender"], "alice@here.test");
        assert_eq!(m["attempts"], 1);
        assert_eq!(m["held"], false);
        assert_eq!(m["jobs"][0]["domain"], "a.test");
        assert!(
            m["last_error"]
                .as_str()
                .is_some_and(|e| e.starts_with("4.")),
            "{m}"
        );
    }
    let ls = s.postern(&["queue", "ls"]);
    assert!(ls.status.success());
    let human = String::from_utf8_lossy(&ls.stdout);
    assert!(human.contains("a.test: 3 message(s)"), "{human}");
    assert!(
        human.contains(&one) && human.contains("<alice@here.test>"),
        "{human}"
    );

    let show = s.postern(&["queue", "show", &one]);
    let shown = String::from_utf8_lossy(&show.stdout);
    assert!(show.status.success(), "{}", text(&show));
    assert!(shown.contains("recipient: <one@a.test> Pending"), "{shown}");
    assert!(shown.contains("Subject: remote test"), "{shown}");
    assert!(
        !shown.contains("Hello over there"),
        "show prints headers only"
    );

    // Start the runner, then work on the queue under it.
    let watch = Proc(
        Command::new(bin())
            .arg("--config")
            .arg(s.config())
            .args(["deliver", "--watch"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("deliver --watch"),
    );
    let out = s.postern(&["queue", "hold", &one]);
    assert!(out.status.success(), "hold: {}", text(&out));
    let out = s.postern(&["queue", "abort", "--bounce", &two]);
    assert!(out.status.success(), "abort: {}", text(&out));
    let held: Vec<_> = s
        .queue()
        .into_iter()
        .filter(|m| m["held"] == true)
        .collect();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0]["id"], one.as_str());
    // The aborted message's sender hears about it.
    let mail = s.wait_alice(1);
    assert_eq!(mail.len(), 1);
    let status = dsn_status(&mail[0]);
    assert!(
        status.contains("Final-Recipient: rfc822; two@a.test"),
        "{status}"
    );
    assert!(mail[0].contains("aborted by the administrator"));

    let sink = Sink::start("127.0.0.11", port, &tmp.path().join("sink"), &[]);
    let got = sink.wait_for(1);
    assert_eq!(got.len(), 1, "the runner delivers the queued message");
    assert!(got[0].contains("X-Rcpt-Args: <three@a.test>"), "{}", got[0]);
    assert!(
        !sink.messages().iter().any(|m| m.contains("one@a.test")),
        "held stays"
    );

    let out = s.postern(&["queue", "release", &one]);
    assert!(out.status.success(), "release: {}", text(&out));
    let got = sink.wait_for(2);
    assert_eq!(got.len(), 2, "released mail is delivered by the runner");
    assert!(got.iter().any(|m| m.contains("X-Rcpt-Args: <one@a.test>")));
    let start = Instant::now();
    while !s.queue().is_empty() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(s.queue().is_empty());
    assert!(
        !sink.messages().iter().any(|m| m.contains("two@a.test")),
        "aborted never sent"
    );
    let out = s.postern(&["queue", "abort", &three]);
    assert!(!out.status.success(), "aborting a finished message fails");
    drop(watch);
}
