//! `postern queue …` against a live queue: ls (human and --json, grouped by real destination),
//! show (human and --json), hold/release, abort with and without --bounce, flush racing the
//! runner — all while `postern deliver --watch` or `postern serve` keeps running; the progress
//! bar of a flush on a terminal (under `script`) and nothing extra without one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
mod remote_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{bin, text};
use remote_support::{dsn_status, free_port, listener, require, Dns, Proc, Sender, Sink, MESSAGE};

/// Which runner works on the queue while the commands run.
#[derive(Clone, Copy, Debug)]
enum Runner {
    Watch,
    Serve,
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn queue_commands_beside_deliver_watch() {
    queue_commands_beside(Runner::Watch);
}

#[test]
fn queue_commands_beside_serve() {
    queue_commands_beside(Runner::Serve);
}

fn queue_commands_beside(runner: Runner) {
    require(&["dnsmasq", "smtp-sink"]);
    let tmp = tempfile::tempdir().expect("tmp");
    let ip = match runner {
        Runner::Watch => "127.0.0.11",
        Runner::Serve => "127.0.0.12",
    };
    let port = free_port(ip);
    let dns = Dns::start(&[format!("--host-record=a.test,{ip}")]);
    let smtp_port = free_port("127.0.0.1");
    let remote = format!(
        "[remote]\nmx_port = {port}\nconnect_timeout = \"2s\"\n[dns]\nservers = [\"127.0.0.1:{}\"]\n{}",
        dns.port,
        listener(smtp_port)
    );
    let s = Sender::new("scan_interval = \"1s\"", &remote);
    // Nothing listens yet: every message is deferred.
    let named = ["one@a.test", "two@a.test", "three@a.test", "four@a.test"];
    let bulk: Vec<String> = (0..12).map(|i| format!("bulk{i}@a.test")).collect();
    for to in named.iter().copied().chain(bulk.iter().map(String::as_str)) {
        s.send("alice@here.test", &[to], MESSAGE);
    }
    let q = s.queue();
    assert_eq!(q.len(), 16);
    let id_of = |to: &str| {
        q.iter()
            .find(|m| m["recipients"][0] == to)
            .and_then(|m| m["id"].as_str())
            .expect("queued id")
            .to_string()
    };
    let [one, two, three, four] = named.map(id_of);
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
        assert_eq!(m["jobs"][0]["destination"], "a.test");
        assert_eq!(m["jobs"][0]["recipients"], m["recipients"]);
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
    assert!(human.contains("a.test: 16 message(s)"), "{human}");
    assert!(
        human.contains(&one) && human.contains("<alice@here.test>"),
        "{human}"
    );

    let show = s.postern(&["queue", "show", &one]);
    let shown = String::from_utf8_lossy(&show.stdout);
    assert!(show.status.success(), "{}", text(&show));
    assert!(shown.contains("recipient: <one@a.test> pending"), "{shown}");
    assert!(shown.contains("origin: sendmail\n"), "{shown}");
    assert!(shown.contains("Subject: remote test"), "{shown}");
    assert!(
        !shown.contains("Hello over there"),
        "show prints headers only"
    );
    // --body: the whole message, as postcat -q prints it.
    let show = s.postern(&["queue", "show", &one, "--body"]);
    assert!(show.status.success(), "{}", text(&show));
    assert!(
        String::from_utf8_lossy(&show.stdout).contains("Hello over there"),
        "{}",
        text(&show)
    );
    let show = s.postern(&["queue", "show", &one, "--json"]);
    assert!(show.status.success(), "{}", text(&show));
    let v: serde_json::Value = serde_json::from_slice(&show.stdout).expect("show --json");
    assert_eq!(v["id"], one.as_str());
    assert_eq!(v["held"], false);
    assert_eq!(v["envelope"]["sender"], "alice@here.test");
    assert_eq!(v["envelope"]["origin"], "sendmail");
    assert_eq!(v["state"]["attempts"], 1);
    let r = &v["state"]["recipients"][0];
    assert_eq!(r["address"], "one@a.test");
    assert_eq!(r["status"], "pending");
    assert!(r["last_error"]
        .as_str()
        .is_some_and(|e| e.starts_with("4.")));
    let headers = v["headers"].as_str().expect("headers");
    assert!(headers.contains("Subject: remote test"), "{headers}");
    assert!(!headers.contains("Hello over there"));

    // Start the runner, then work on the queue under it.
    let _runner = match runner {
        Runner::Watch => Proc(
            Command::new(bin())
                .arg("--config")
                .arg(s.config())
                .args(["deliver", "--watch"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("deliver --watch"),
        ),
        Runner::Serve => s.serve(smtp_port),
    };
    let out = s.postern(&["queue", "hold", &one]);
    assert!(out.status.success(), "hold: {}", text(&out));
    // Holding it again (and releasing one not held) succeeds quietly.
    let out = s.postern(&["queue", "hold", &one]);
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "hold: {}",
        text(&out)
    );
    let out = s.postern(&["queue", "release", &two]);
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "release: {}",
        text(&out)
    );
    let out = s.postern(&["queue", "abort", "--bounce", &two]);
    assert!(out.status.success(), "abort: {}", text(&out));
    let out = s.postern(&["queue", "abort", &four]);
    assert!(out.status.success(), "abort: {}", text(&out));
    let q = s.queue();
    assert_eq!(q.len(), 14, "two aborted");
    assert!(!q
        .iter()
        .any(|m| m["id"] == two.as_str() || m["id"] == four.as_str()));
    let held: Vec<_> = q.iter().filter(|m| m["held"] == true).collect();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0]["id"], one.as_str());
    let ls = s.postern(&["queue", "ls"]);
    let human = String::from_utf8_lossy(&ls.stdout);
    assert!(human.contains("(held): 1 message(s)"), "{human}");
    assert!(human.contains(&format!("  {one}!  ")), "{human}");
    // The sender of the message aborted with --bounce hears about it; of the other, not.
    let mail = s.wait_alice(1);
    assert_eq!(mail.len(), 1);
    let status = dsn_status(&mail[0]);
    assert!(
        status.contains("Final-Recipient: rfc822; two@a.test"),
        "{status}"
    );
    assert!(mail[0].contains("aborted by the administrator"));

    // The peer comes up; a flush races the runner for the same messages.
    let sink = Sink::start(ip, port, &tmp.path().join("sink"), &[]);
    let out = s.postern(&["queue", "flush"]);
    assert!(out.status.success(), "flush: {}", text(&out));
    assert_eq!(out.stdout, b"", "flush prints nothing");
    let got = sink.wait_for(13);
    wait_until("the queue holds only the held message", || {
        s.queue().len() == 1
    });
    let got_all = sink.wait_for(13);
    assert_eq!(
        got_all.len(),
        13,
        "{runner:?}: each message once, no double delivery"
    );
    for to in std::iter::once("three@a.test").chain(bulk.iter().map(String::as_str)) {
        let n = got
            .iter()
            .filter(|m| m.contains(&format!("X-Rcpt-Args: <{to}>")))
            .count();
        assert_eq!(n, 1, "{to} delivered exactly once");
    }
    assert!(
        !sink.messages().iter().any(|m| m.contains("one@a.test")),
        "held stays"
    );

    let out = s.postern(&["queue", "release", &one]);
    assert!(out.status.success(), "release: {}", text(&out));
    let got = sink.wait_for(14);
    assert_eq!(got.len(), 14, "released mail is delivered by the runner");
    assert!(got.iter().any(|m| m.contains("X-Rcpt-Args: <one@a.test>")));
    wait_until("an empty queue", || s.queue().is_empty());
    let messages = sink.messages();
    for gone in ["two@a.test", "four@a.test"] {
        assert!(
            !messages.iter().any(|m| m.contains(gone)),
            "aborted {gone} never sent"
        );
    }
    let out = s.postern(&["queue", "abort", &three]);
    assert!(!out.status.success(), "aborting a finished message fails");
    assert_eq!(s.alice_mail().len(), 1, "no DSN for the plain abort");
}

/// `queue ls` groups by where the mail really goes: everything through the gateway is one job
/// whatever the recipient domains, a domain with its own server is another; `--json` says the
/// same; `flush --domain` picks messages by recipient domain.
#[test]
fn queue_ls_groups_by_destination() {
    let dead = free_port("127.0.0.1");
    let rest = format!(
        "[remote]\nconnect_timeout = \"2s\"\n\n[[remote.server]]\nname = \"isp\"\nhost = \"127.0.0.1\"\nport = {dead}\n\n[[remote.server]]\nname = \"exchange\"\nhost = \"127.0.0.1\"\nport = {dead}\n\n[[domain]]\nname = \"inside.test\"\nhosted = \"remote\"\nserver = \"exchange\"\n"
    );
    let s = Sender::new("gateway = \"isp\"", &rest);
    let ls = s.postern(&["queue", "ls"]);
    assert_eq!(
        String::from_utf8_lossy(&ls.stdout),
        "the queue is empty\n",
        "{}",
        text(&ls)
    );
    s.send("alice@here.test", &["a@x.test", "b@y.test"], MESSAGE);
    s.send("alice@here.test", &["c@z.test", "d@inside.test"], MESSAGE);
    let q = s.queue();
    assert_eq!(q.len(), 2);
    let m1 = q
        .iter()
        .find(|m| m["recipients"][0] == "a@x.test")
        .expect("first");
    let m2 = q
        .iter()
        .find(|m| m["recipients"][0] == "c@z.test")
        .expect("second");
    assert_eq!(
        m1["jobs"],
        serde_json::json!([{"destination": "server isp", "recipients": ["a@x.test", "b@y.test"]}])
    );
    assert_eq!(
        m2["jobs"],
        serde_json::json!([
            {"destination": "server exchange", "recipients": ["d@inside.test"]},
            {"destination": "server isp", "recipients": ["c@z.test"]},
        ])
    );
    let ls = s.postern(&["queue", "ls"]);
    assert!(ls.status.success(), "{}", text(&ls));
    let human = String::from_utf8_lossy(&ls.stdout).into_owned();
    let lines: Vec<&str> = human.lines().collect();
    assert_eq!(lines.len(), 5, "{human}");
    assert_eq!(lines[0], "server exchange: 1 message(s)", "{human}");
    assert!(lines[1].contains("  d@inside.test  "), "{human}");
    assert_eq!(lines[2], "server isp: 2 message(s)", "{human}");
    assert!(
        lines[3..]
            .iter()
            .any(|l| l.contains("  a@x.test,b@y.test  ")),
        "{human}"
    );
    assert!(
        lines[3..].iter().any(|l| l.contains("  c@z.test  ")),
        "{human}"
    );
    for (id, line) in [(&m1["id"], 3..5), (&m2["id"], 1..5)] {
        let id = id.as_str().expect("id");
        assert!(lines[line]
            .iter()
            .any(|l| l.starts_with(&format!("  {id}  "))));
    }

    let out = s.postern(&["queue", "flush", "--domain", "y.test"]);
    assert!(out.status.success(), "{}", text(&out));
    let attempts: Vec<(serde_json::Value, serde_json::Value)> = s
        .queue()
        .into_iter()
        .map(|m| (m["recipients"][0].clone(), m["attempts"].clone()))
        .collect();
    assert!(
        attempts.contains(&("a@x.test".into(), 2.into())),
        "{attempts:?}"
    );
    assert!(
        attempts.contains(&("c@z.test".into(), 1.into())),
        "{attempts:?}"
    );
}

/// A flush on a terminal shows a progress bar (run under `script`, which gives it a pty); with
/// output to pipes it prints nothing but the event lines on stderr.
#[test]
fn flush_progress_bar_on_a_terminal_only() {
    require(&["dnsmasq", "smtp-sink", "script"]);
    let tmp = tempfile::tempdir().expect("tmp");
    let port = free_port("127.0.0.13");
    let dns = Dns::start(&["--host-record=slow.test,127.0.0.13".into()]);
    let rest = format!(
        "[remote]\nmx_port = {port}\n[dns]\nservers = [\"127.0.0.1:{}\"]\n",
        dns.port
    );
    // One at a time, queued without an immediate attempt; the peer takes 1 s per message.
    let s = Sender::new("immediate = false\nconcurrency = 1", &rest);
    let sink = Sink::start("127.0.0.13", port, &tmp.path().join("sink"), &["-w", "1"]);
    let queue_three = |first: usize| {
        for i in first..first + 3 {
            s.send("alice@here.test", &[&format!("m{i}@slow.test")], MESSAGE);
        }
        assert_eq!(s.queue().len(), 3);
    };

    queue_three(0);
    let out = s.postern(&["queue", "flush"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(sink.wait_for(3).len(), 3);
    assert!(out.stdout.is_empty(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.lines().all(|l| l.starts_with("ts=")),
        "only event lines: {stderr:?}"
    );
    assert!(
        !stderr.contains('\r') && !stderr.contains('\x1b'),
        "{stderr:?}"
    );

    queue_three(3);
    let cmd = format!(
        "{} --config {} queue flush",
        bin().display(),
        s.config().display()
    );
    let out = common::run("script", &["-qec", &cmd, "/dev/null"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(sink.wait_for(6).len(), 6);
    let tty = String::from_utf8_lossy(&out.stdout);
    assert!(
        tty.contains("flushing the queue"),
        "a progress bar: {tty:?}"
    );
    assert!(tty.contains("/3 ["), "{tty:?}");
    assert!(s.queue().is_empty());
}
