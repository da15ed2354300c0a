//! `kill -9` at the worst moments: smtpd in the middle of DATA, deliver in the middle of a run, and
//! two deliverers racing over one queue. Afterwards every acknowledged message is in the maildir
//! exactly once, and nothing partial or unacknowledged-and-truncated ever is.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::site::Site;
use common::*;

/// Count delivered messages by Message-ID; panics on a message without one or with a broken body.
fn delivered_ids(site: &Site) -> HashMap<String, usize> {
    let mut ids = HashMap::new();
    for f in maildir_files(&site.maildir("demo")) {
        let msg = std::fs::read_to_string(&f).expect("read");
        let id = msg
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: "))
            .unwrap_or_else(|| panic!("no Message-ID in {}:\n{msg}", f.display()))
            .to_string();
        let tail = format!("END {id}\n");
        assert!(
            msg.ends_with(&tail),
            "partial message {}:\n{msg}",
            f.display()
        );
        *ids.entry(id).or_insert(0) += 1;
    }
    ids
}

/// Queue `n` messages through smtpd (4 connections) with `Message-ID: <i@crash.test>`.
fn queue_messages(site: &Site, n: usize) {
    let d = site.smtpd("fill");
    python(
        r#"
import smtplib, sys, threading
port, n = int(sys.argv[1]), int(sys.argv[2])
def work(k):
    s = smtplib.SMTP("127.0.0.1", port, timeout=60)
    for i in range(k, n, 4):
        mid = "<%d@crash.test>" % i
        body = "Message-ID: %s\r\nSubject: crash %d\r\n\r\n%s\r\nEND %s\r\n" % (mid, i, "line\r\n" * 50, mid)
        s.sendmail("a@client.test", ["demo@example.test"], body)
    s.quit()
ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
[t.start() for t in ts]
[t.join() for t in ts]
"#,
        &[&site.port.to_string(), &n.to_string()],
    );
    drop(d);
    let ls = site.postern(&["queue", "ls", "--json"]);
    assert!(ls.status.success(), "{}", text(&ls));
    assert_eq!(
        String::from_utf8_lossy(&ls.stdout)
            .matches("a@client.test")
            .count(),
        n,
        "{}",
        text(&ls)
    );
    assert!(
        maildir_files(&site.maildir("demo")).is_empty(),
        "immediate delivery is off"
    );
}

fn deliver_once(site: &Site) -> Child {
    site.command()
        .args(["deliver", "--once"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn deliver")
}

fn finish(mut child: Child) -> String {
    let status = child.wait().expect("wait");
    let mut log = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut log);
    }
    assert!(status.success(), "deliver failed: {log}");
    log
}

fn assert_all_exactly_once(site: &Site, n: usize) {
    let ids = delivered_ids(site);
    let twice: Vec<_> = ids.iter().filter(|(_, c)| **c > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    assert_eq!(ids.len(), n, "missing messages");
    for i in 0..n {
        assert!(
            ids.contains_key(&format!("<{i}@crash.test>")),
            "message {i} missing"
        );
    }
    let ls = site.postern(&["queue", "ls", "--json"]);
    assert!(
        !String::from_utf8_lossy(&ls.stdout).contains("a@client.test"),
        "queue not empty: {}",
        text(&ls)
    );
}

const NO_IMMEDIATE: &str = "[delivery]\nimmediate = false\nconcurrency = 4\n";

#[test]
fn kill_9_deliver_mid_run_then_deliver_again() {
    let site = Site::new(NO_IMMEDIATE);
    let n = 500;
    queue_messages(&site, n);
    // Kill the deliverer twice at different depths, then let a third one finish.
    for stop_at in [40, 250] {
        let mut child = deliver_once(&site);
        let start = Instant::now();
        while maildir_files(&site.maildir("demo")).len() < stop_at
            && start.elapsed() < Duration::from_secs(120)
        {
            if child.try_wait().expect("try_wait").is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }
    let got = maildir_files(&site.maildir("demo")).len();
    assert!(
        got < n,
        "the killed runs should not have finished everything ({got})"
    );
    finish(deliver_once(&site));
    assert_all_exactly_once(&site, n);
}

#[test]
fn two_deliverers_started_together_deliver_each_message_once() {
    let site = Site::new(NO_IMMEDIATE);
    let n = 500;
    queue_messages(&site, n);
    let a = deliver_once(&site);
    let b = deliver_once(&site);
    let log_a = finish(a);
    let log_b = finish(b);
    assert_all_exactly_once(&site, n);
    let delivered =
        log_a.matches("event=delivered").count() + log_b.matches("event=delivered").count();
    assert_eq!(
        delivered, n,
        "one delivered event per message across both runs"
    );
}

/// One SMTP client that sends messages until the server dies; returns the ids it got 250 for.
fn client_until_killed(port: u16, tag: usize) -> Vec<String> {
    let mut acked = Vec::new();
    let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return acked;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
    let mut w = stream.try_clone().expect("clone");
    let mut r = BufReader::new(stream);
    let mut reply = || -> Option<String> {
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).ok()? == 0 {
                return None;
            }
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return Some(line);
            }
        }
    };
    reply();
    if w.write_all(b"EHLO crash.client\r\n").is_err() || reply().is_none() {
        return acked;
    }
    for i in 0.. {
        let mid = format!("<{tag}.{i}@crash.test>");
        let steps: [&[u8]; 3] = [
            b"MAIL FROM:<a@client.test>\r\n",
            b"RCPT TO:<demo@example.test>\r\n",
            b"DATA\r\n",
        ];
        for s in steps {
            if w.write_all(s).is_err()
                || reply().is_none_or(|l| !(l.starts_with('2') || l.starts_with('3')))
            {
                return acked;
            }
        }
        // The body goes out in pieces, so that a kill lands mid-DATA most of the time.
        let head = format!("Message-ID: {mid}\r\nSubject: mid-data\r\n\r\n");
        if w.write_all(head.as_bytes()).is_err() {
            return acked;
        }
        for _ in 0..20 {
            if w.write_all(&b"0123456789".repeat(20)).is_err() || w.write_all(b"\r\n").is_err() {
                return acked;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        if w.write_all(format!("END {mid}\r\n.\r\n").as_bytes())
            .is_err()
        {
            return acked;
        }
        match reply() {
            Some(l) if l.starts_with("250") => acked.push(mid),
            _ => return acked,
        }
    }
    acked
}

#[test]
fn kill_9_smtpd_mid_data_never_delivers_a_partial_message() {
    let site = Site::new("");
    let mut acked = Vec::new();
    for round in 0..3 {
        let mut daemon = site.smtpd(&format!("smtpd{round}"));
        let port = site.port;
        let clients: Vec<_> = (0..6)
            .map(|k| std::thread::spawn(move || client_until_killed(port, round * 10 + k)))
            .collect();
        std::thread::sleep(Duration::from_millis(300 + 200 * round as u64));
        let _ = daemon.child.kill(); // SIGKILL, while clients are mid-DATA
        let _ = daemon.child.wait();
        for c in clients {
            acked.extend(c.join().expect("client thread"));
        }
    }
    assert!(
        !acked.is_empty(),
        "no client got a message through before the kills"
    );
    // Whatever the killed daemons stored but did not deliver, a queue run delivers now.
    finish(deliver_once(&site));
    let ids = delivered_ids(&site); // panics on any partial message
    for id in &acked {
        assert_eq!(
            ids.get(id),
            Some(&1),
            "acknowledged message {id} not delivered exactly once"
        );
    }
    // A message the client never saw acknowledged may have been stored just before the kill
    // (complete: checked above), but never twice.
    assert!(ids.values().all(|c| *c == 1), "{ids:?}");
}

/// Sets a file's modification time `secs` seconds into the past.
fn age(path: &std::path::Path, secs: u64) {
    let f = std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    f.set_modified(std::time::SystemTime::now() - Duration::from_secs(secs))
        .expect("set mtime");
}

/// Queues one message with `postern sendmail` (immediate delivery is off); returns its id.
fn sendmail_one(site: &Site, subject: &str) -> String {
    let before: Vec<_> = std::fs::read_dir(site.spool().join("queue"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    let out = output_with_stdin(
        site.command().args(["sendmail", "demo@example.test"]),
        format!("Subject: {subject}\n\nbody\n").as_bytes(),
    );
    assert!(out.status.success(), "{}", text(&out));
    std::fs::read_dir(site.spool().join("queue"))
        .expect("queue")
        .flatten()
        .map(|e| e.file_name())
        .find(|n| !before.contains(n))
        .expect("a new queue file")
        .to_string_lossy()
        .into_owned()
}

/// `deliver --once`, the README's cron mode, cleans the spool as `serve` and `deliver --watch`
/// do (issue 11, point 12): crash debris in `tmp/` older than an hour, state files of messages
/// that are gone, the free-file pool beyond 4,096 — and no more than once per interval, however
/// many runners ask (two started together: one cleans).
#[test]
fn deliver_once_cleans_the_spool_at_most_once_per_interval() {
    let site = Site::new("[delivery]\nimmediate = false\n");
    let spool = site.spool();
    // A message held (it stays, with its state), one delivered (its state file is left behind
    // as a crashed deliverer would leave it).
    let held = sendmail_one(&site, "held");
    let out = site.postern(&["queue", "hold", &held]);
    assert!(out.status.success(), "{}", text(&out));
    let gone = sendmail_one(&site, "delivered");
    let out = site.postern(&["deliver", "--id", &gone]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(maildir_files(&site.maildir("demo")).len(), 1);
    assert!(
        !spool.join("clean.stamp").exists(),
        "deliver --id is not a queue run"
    );
    let state = |id: &str| spool.join("state").join(format!("{id}.json"));
    std::fs::write(state(&held), br#"{"attempts":1,"next_try":0}"#).expect("state");
    std::fs::write(state(&gone), br#"{"attempts":1,"next_try":0}"#).expect("state");
    let leftover = spool.join("state").join(format!("{held}.json.tmp4242"));
    std::fs::write(&leftover, b"{").expect("state tmp");
    age(&leftover, 7200);
    let old_tmp = spool.join("tmp").join("crashed-writer");
    std::fs::write(&old_tmp, b"partial").expect("tmp");
    age(&old_tmp, 7200);
    let fresh_tmp = spool.join("tmp").join("being-written");
    std::fs::write(&fresh_tmp, b"partial").expect("tmp");
    let free = spool.join("free");
    let before = std::fs::read_dir(&free).expect("free").count();
    for i in 0..(4096 + 25 - before) {
        std::fs::write(free.join(format!("f{i}")), b"").expect("free file");
    }
    let count = |dir: &std::path::Path| std::fs::read_dir(dir).expect("dir").count();
    assert_eq!(count(&free), 4096 + 25);

    let log = finish(deliver_once(&site));
    assert!(
        log.contains("event=spool_cleaned removed=28"),
        "25 free files, a tmp file, a state file and its temp file: {log}"
    );
    assert!(!old_tmp.exists() && !state(&gone).exists() && !leftover.exists());
    assert!(fresh_tmp.exists(), "a temp file in use was removed");
    assert!(
        state(&held).exists(),
        "the state of a held message was removed"
    );
    assert_eq!(count(&free), 4096);
    let out = site.postern(&["queue", "show", &held]);
    assert!(out.status.success(), "{}", text(&out));

    // Within the interval: nothing is cleaned, by this or any runner.
    std::fs::write(&old_tmp, b"partial").expect("tmp");
    age(&old_tmp, 7200);
    let log = finish(deliver_once(&site));
    assert!(!log.contains("spool_cleaned"), "{log}");
    assert!(old_tmp.exists());

    // The interval (15 minutes) over: of two runners started together, one cleans.
    age(&spool.join("clean.stamp"), 16 * 60);
    let (a, b) = (deliver_once(&site), deliver_once(&site));
    let logs = [finish(a), finish(b)];
    let cleaned = logs
        .iter()
        .filter(|l| l.contains("event=spool_cleaned"))
        .count();
    assert_eq!(cleaned, 1, "{logs:?}");
    assert!(!old_tmp.exists());
}
