//! The intake's fast path for local mail (README "Architecture"): with immediate delivery on, a
//! message whose recipients are all local is in their maildirs before smtpd answers 250 — two
//! fsyncs per message (the maildir file and `new/`), no queue entry — and stays exactly once
//! through `kill -9` at any point of a stream of a few hundred messages. What is not simple goes
//! through the spool: a recipient over quota is queued alone, NOTIFY=SUCCESS gets its report.
//! IMAP (IDLE) and POP3 see the mail delivered on the way in.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::site::{Daemon, Site};
use common::*;

/// A site with a second local user, `ann`, and remote mail to a gateway where nothing listens
/// (so it stays queued, deferred).
fn site(extra: &str) -> Site {
    let gateway = common::port_offset() + 2526;
    let s = Site::new(&format!(
        "[delivery]\ngateway = \"127.0.0.1:{gateway}\"\n{extra}"
    ));
    s.add_user("ann", "secret");
    s
}

/// Message files in `spool/queue`.
fn queue_files(site: &Site) -> usize {
    std::fs::read_dir(site.spool().join("queue")).map_or(0, |d| d.count())
}

/// The pid of the only child of `pid` (the program strace runs).
fn child_of(pid: u32) -> u32 {
    let start = Instant::now();
    loop {
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        if let Some(c) = children.split_whitespace().next() {
            return c.parse().expect("pid");
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no child of {pid}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// fsync and fdatasync calls in an `strace -c` summary (columns: % time, seconds,
/// usecs/call, calls, [errors,] syscall).
fn fsyncs(summary: &str) -> u64 {
    summary
        .lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let name = *cols.last()?;
            if cols.len() < 5 || !(name == "fsync" || name == "fdatasync") {
                return None;
            }
            cols.get(3)?.parse::<u64>().ok()
        })
        .sum()
}

const STREAM: &str = r#"
import os, smtplib, sys
port, n, new = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
s = smtplib.SMTP("127.0.0.1", port, timeout=30)
body = "Subject: fast %d\r\n\r\n" + ("0123456789" * 7 + "\r\n") * 50
for i in range(n):
    s.sendmail("a@client.test", ["demo@example.test"], body % i)
    got = len(os.listdir(new))
    if got != i + 1:
        sys.exit("after the 250 of message %d: %d files in new/" % (i, got))
s.quit()
print("ok")
"#;

/// With immediate delivery on, each message is in the maildir when the client reads its 250,
/// nothing is queued, and the whole stream costs two fsyncs a message.
#[test]
fn local_mail_is_in_the_maildir_at_the_250_for_two_fsyncs() {
    assert!(have("strace"), "strace is needed (bin/install-test-deps)");
    let site = site("");
    let n = 100;
    let summary = site.root().join("strace.txt");
    let log = site.root().join("smtpd.log");
    let mut strace = Command::new("strace")
        .args(["-f", "-c", "-e", "trace=fsync,fdatasync", "-o"])
        .arg(&summary)
        .arg(bin())
        .arg("--config")
        .arg(site.config())
        .args(["smtpd", "--listen", &site.addr().to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("strace");
    assert!(wait_for_port(site.addr(), Duration::from_secs(20)));
    let server = child_of(strace.id());
    // The maildir exists before the stream, so that its count can be read after each reply.
    let first = python(
        "import smtplib,sys\nsmtplib.SMTP('127.0.0.1',int(sys.argv[1])).sendmail('a@client.test',['demo@example.test'],'Subject: first\\r\\n\\r\\nx\\r\\n')",
        &[&site.port.to_string()],
    );
    assert!(first.is_empty(), "{first}");
    let new = site.maildir("demo").join("new");
    assert_eq!(
        wait_for_mail(&site.maildir("demo"), 1, Duration::from_secs(10)).len(),
        1
    );
    // Count from here: everything before is start-up (the SCRAM key, the first maildir).
    std::fs::rename(&new, site.maildir("demo").join("old")).expect("move aside");
    std::fs::create_dir(&new).expect("new/");
    let out = python(
        STREAM,
        &[
            &site.port.to_string(),
            &n.to_string(),
            &new.to_string_lossy(),
        ],
    );
    assert_eq!(out.trim(), "ok");
    assert_eq!(queue_files(&site), 0, "nothing queued");
    // The server killed, strace writes its summary and exits.
    assert!(run("kill", &["-KILL", &server.to_string()])
        .status
        .success());
    let _ = strace.wait();
    let summary = std::fs::read_to_string(&summary).expect("strace summary");
    let calls = fsyncs(&summary);
    // 2 a message; the first message's maildir creation and the start-up a few more.
    assert!(
        calls >= 2 * n && calls <= 2 * n + 2 * n / 10 + 10,
        "{calls} fsyncs for {} messages:\n{summary}",
        n + 1
    );
    // What arrived is what the queue runner would have written.
    let files = maildir_files(&site.maildir("demo"));
    assert_eq!(files.len(), n as usize);
    let text = std::fs::read_to_string(&files[0]).expect("read");
    assert!(
        text.starts_with(
            "Return-Path: <a@client.test>\nDelivered-To: demo@example.test\nReceived: from "
        ),
        "{text}"
    );
    assert!(text.contains("for <demo@example.test>;"), "{text}");
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(
        log.matches("event=delivered ").count(),
        n as usize + 1,
        "{log}"
    );
}

/// A session selected and idling in imapd is told of mail delivered on the way in, and popd
/// lists it.
#[test]
fn imap_idle_and_pop3_see_mail_delivered_on_the_way_in() {
    let site =
        site("\n[auth.imap]\nlogin_command = \"allow\"\n\n[auth.pop3]\nuser_pass = \"allow\"\n");
    let _smtpd = site.smtpd("smtpd");
    let other = format!("127.0.0.1:{}", site.port + 1);
    let daemon = |kind: &str| {
        let log = site.root().join(format!("{kind}.log"));
        let child = site
            .command()
            .args([kind, "--listen", &other])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("spawn");
        let mut d = Daemon { child, log };
        assert!(
            wait_for_child_port(&mut d.child, other.parse().expect("addr")),
            "{kind} did not start:\n{}",
            d.log()
        );
        d
    };
    let imapd = daemon("imapd");
    let out = python(
        r#"
import imaplib, smtplib, sys
smtp_port, imap_port = int(sys.argv[1]), int(sys.argv[2])
m = imaplib.IMAP4("127.0.0.1", imap_port, timeout=20)
m.login("demo", "secret")
typ, data = m.select("INBOX")
assert data[0] == b"0", data
m.send(b"i1 IDLE\r\n")
assert m.readline().startswith(b"+"), "no continuation"
smtplib.SMTP("127.0.0.1", smtp_port, timeout=20).sendmail(
    "a@client.test", ["demo@example.test", "ann@example.test"],
    "Subject: while idling\r\n\r\nhello\r\n")
for _ in range(5):
    line = m.readline()
    if line.strip() == b"* 1 EXISTS":
        break
else:
    raise SystemExit("no EXISTS while idling: %r" % line)
m.send(b"DONE\r\n")
while not m.readline().startswith(b"i1 OK"):
    pass
typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (RETURN-PATH DELIVERED-TO SUBJECT)])")
print(data[0][1].decode().replace("\r\n", "|"))
m.logout()
"#,
        &[&site.port.to_string(), &(site.port + 1).to_string()],
    );
    assert_eq!(
        out.trim(),
        "Return-Path: <a@client.test>|Delivered-To: demo@example.test|Subject: while idling||",
        "{}",
        imapd.log()
    );
    drop(imapd);
    let _popd = daemon("popd");
    let out = python(
        r#"
import poplib, sys
p = poplib.POP3("127.0.0.1", int(sys.argv[1]), timeout=20)
p.user("ann"); p.pass_("secret")
count, size = p.stat()
lines = p.retr(1)[1]
print(count, [l.decode() for l in lines if l.startswith(b"Subject")][0])
p.quit()
"#,
        &[&(site.port + 1).to_string()],
    );
    assert_eq!(out.trim(), "1 Subject: while idling");
    assert_eq!(queue_files(&site), 0);
}

/// Sends messages one after another on one connection until the server dies; returns the
/// Message-IDs it got 250 for, with their local recipients.
fn stream_until_killed(port: u16, tag: usize) -> Vec<(String, Vec<&'static str>)> {
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
    if w.write_all(b"EHLO stream.client\r\n").is_err() || reply().is_none() {
        return acked;
    }
    for i in 0..1000 {
        let mid = format!("<{tag}.{i}@stream.test>");
        // Most to demo; some to demo and ann (two maildirs); some also to a remote address
        // (through the spool, the remote recipient deferred).
        let (local, remote): (Vec<&'static str>, bool) = match i % 6 {
            1 => (vec!["demo", "ann"], false),
            4 => (vec!["demo"], true),
            _ => (vec!["demo"], false),
        };
        let mut steps = vec!["MAIL FROM:<a@client.test>\r\n".to_string()];
        steps.extend(
            local
                .iter()
                .map(|u| format!("RCPT TO:<{u}@example.test>\r\n")),
        );
        if remote {
            steps.push("RCPT TO:<bob@remote.test>\r\n".into());
        }
        steps.push("DATA\r\n".into());
        for s in &steps {
            if w.write_all(s.as_bytes()).is_err()
                || reply().is_none_or(|l| !(l.starts_with('2') || l.starts_with('3')))
            {
                return acked;
            }
        }
        let body = format!(
            "Message-ID: {mid}\r\nSubject: stream\r\n\r\n{}END {mid}\r\n.\r\n",
            "0123456789abcdefghij0123456789abcdefghij\r\n".repeat(40)
        );
        if w.write_all(body.as_bytes()).is_err() {
            return acked;
        }
        match reply() {
            Some(l) if l.starts_with("250") => acked.push((mid, local)),
            _ => return acked,
        }
    }
    acked
}

/// Message-ID → copies in `maildir`; panics on a partial message.
fn copies(maildir: &Path) -> HashMap<String, usize> {
    let mut ids = HashMap::new();
    for f in maildir_files(maildir) {
        let msg = std::fs::read_to_string(&f).expect("read");
        let id = msg
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: "))
            .unwrap_or_else(|| panic!("no Message-ID in {}", f.display()))
            .to_string();
        assert!(
            msg.ends_with(&format!("END {id}\n")),
            "partial: {}",
            f.display()
        );
        *ids.entry(id).or_insert(0) += 1;
    }
    ids
}

fn kill_when(daemon: &mut Daemon, maildir: &Path, count: usize) {
    let start = Instant::now();
    while maildir_files(maildir).len() < count && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let _ = daemon.child.kill(); // SIGKILL
    let _ = daemon.child.wait();
}

#[test]
fn kill_9_mid_stream_every_acknowledged_message_exactly_once() {
    let site = site("");
    let demo = site.maildir("demo");
    let mut acked = Vec::new();
    // Three servers killed at different depths of two single-connection streams.
    for (round, stop_at) in [(0, 60), (1, 150), (2, 260)] {
        let mut daemon = site.smtpd(&format!("smtpd{round}"));
        let port = site.port;
        let clients: Vec<_> = (0..2)
            .map(|k| std::thread::spawn(move || stream_until_killed(port, round * 10 + k)))
            .collect();
        kill_when(&mut daemon, &demo, stop_at);
        for c in clients {
            acked.extend(c.join().expect("client"));
        }
    }
    assert!(acked.len() >= 200, "only {} acknowledged", acked.len());
    eprintln!("{} acknowledged before the kills", acked.len());
    // What the killed servers queued (the messages with a remote recipient) is delivered now.
    let out = site.postern(&["deliver", "--once"]);
    assert!(out.status.success(), "{}", text(&out));
    let by_user: HashMap<&str, HashMap<String, usize>> = [
        ("demo", copies(&demo)),
        ("ann", copies(&site.maildir("ann"))),
    ]
    .into_iter()
    .collect();
    for (mid, users) in &acked {
        for u in users {
            assert_eq!(
                by_user[u].get(mid),
                Some(&1),
                "acknowledged {mid} not in {u}'s maildir exactly once"
            );
        }
    }
    // Unacknowledged messages may be there (stored just before a kill), never twice.
    for (u, ids) in &by_user {
        assert!(ids.values().all(|c| *c == 1), "{u}: {ids:?}");
    }
    // The queue holds only the remote recipients, deferred.
    let queued = json_lines(&site.postern(&["queue", "ls", "--json"]));
    assert!(!queued.is_empty());
    for q in &queued {
        assert_eq!(
            q["recipients"],
            serde_json::json!(["bob@remote.test"]),
            "{q}"
        );
    }
}

/// A recipient the intake cannot deliver now (over quota) is queued alone, marked so that the
/// others are never delivered twice; it gets the message once there is room.
#[test]
fn a_recipient_that_cannot_take_it_now_is_queued_alone() {
    let site = site("");
    let sendmail = |subject: &str| {
        output_with_stdin(
            site.command().args([
                "sendmail",
                "-f",
                "a@client.test",
                "demo@example.test",
                "ann@example.test",
            ]),
            format!("Message-ID: <{subject}@q.test>\nSubject: {subject}\n\nbody\nEND <{subject}@q.test>\n")
                .as_bytes(),
        )
    };
    let out = sendmail("first");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(queue_files(&site), 0, "both delivered on the way in");
    let q = site.postern(&["mbox", "quota", "demo", "--set", "1"]);
    assert!(q.status.success(), "{}", text(&q));
    let out = sendmail("second");
    assert!(out.status.success(), "{}", text(&out));
    // ann has both at once; demo's second waits in the queue, alone.
    assert_eq!(copies(&site.maildir("ann")).len(), 2);
    assert_eq!(copies(&site.maildir("demo")).len(), 1);
    let queued = json_lines(&site.postern(&["queue", "ls", "--json"]));
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(
        queued[0]["recipients"],
        serde_json::json!(["demo@example.test"])
    );
    assert!(
        queued[0]["last_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("4.2.2")),
        "{queued:?}"
    );
    // Written before sendmail returned: ann is delivered in the queue file itself.
    let id = queued[0]["id"].as_str().expect("id");
    let shown = json_lines(&site.postern(&["queue", "show", id, "--json"]));
    let statuses: Vec<_> = shown[0]["envelope"]["recipients"]
        .as_array()
        .expect("recipients")
        .iter()
        .map(|r| (r["address"].as_str(), r["status"].as_str()))
        .collect();
    assert_eq!(
        statuses,
        [
            (Some("demo@example.test"), Some("pending")),
            (Some("ann@example.test"), Some("delivered"))
        ]
    );
    let q = site.postern(&["mbox", "quota", "demo", "--set", "1M"]);
    assert!(q.status.success(), "{}", text(&q));
    let out = site.postern(&["queue", "flush"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(queue_files(&site), 0);
    for user in ["demo", "ann"] {
        let c = copies(&site.maildir(user));
        assert_eq!(c.len(), 2, "{user}: {c:?}");
        assert!(c.values().all(|n| *n == 1), "{user}: {c:?}");
    }
}

/// NOTIFY=SUCCESS is not simple: the message goes through the spool and the sender gets its
/// "delivered" report.
#[test]
fn notify_success_goes_through_the_queue_and_is_reported() {
    let site = site("");
    let _smtpd = site.smtpd("smtpd");
    let out = python(
        r#"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=20)
s.ehlo()
s.sendmail("ann@example.test", ["demo@example.test"], "Subject: tell me\r\n\r\nhi\r\n",
           rcpt_options=["NOTIFY=SUCCESS"])
s.quit()
"#,
        &[&site.port.to_string()],
    );
    assert!(out.is_empty(), "{out}");
    assert_eq!(
        wait_for_mail(&site.maildir("demo"), 1, Duration::from_secs(20)).len(),
        1
    );
    let reports: Vec<PathBuf> = wait_for_mail(&site.maildir("ann"), 1, Duration::from_secs(20));
    assert_eq!(reports.len(), 1);
    let report = std::fs::read_to_string(&reports[0]).expect("read");
    assert!(report.contains("Action: delivered"), "{report}");
}
