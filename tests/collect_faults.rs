//! Collection under faults: a server connection that drops mid-RETR, `kill -9` of a pass,
//! overlapping passes — every message ends up queued exactly once, nothing is lost.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
#[path = "common/collect.rs"]
mod harness;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::text;
use harness::{account, message, Setup};

/// A TCP proxy (on a free port it prints) that relays to `target` and, once the client has sent its `cut_at`-th RETR,
/// passes on only the first 60 bytes of the answer and closes both sides.
const PROXY: &str = r#"
import socket, sys, threading
target_port, cut_at = map(int, sys.argv[1:3])
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(8)
print(srv.getsockname()[1], flush=True)
while True:
    c, _ = srv.accept()
    u = socket.create_connection(("127.0.0.1", target_port))
    seen = {"retr": 0}
    def up(c=c, u=u, seen=seen):
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                seen["retr"] += d.upper().count(b"RETR ")
                u.sendall(d)
        except OSError:
            pass
    def down(c=c, u=u, seen=seen):
        try:
            while True:
                d = u.recv(65536)
                if not d:
                    break
                if seen["retr"] >= cut_at:
                    c.sendall(d[:60])
                    break
                c.sendall(d)
        except OSError:
            pass
        for s in (c, u):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
    threading.Thread(target=up, daemon=True).start()
    threading.Thread(target=down, daemon=True).start()
"#;

/// Message-ID → how many local copies, over the given users.
fn copies(s: &Setup, users: &[&str]) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for u in users {
        for m in s.mails(u) {
            let id = m
                .lines()
                .find_map(|l| l.strip_prefix("Message-ID: "))
                .unwrap_or("none")
                .to_string();
            *out.entry(id).or_insert(0) += 1;
        }
    }
    out
}

#[test]
fn server_dropping_mid_retr_loses_and_duplicates_nothing() {
    let s = Setup::start(&["isp"], &account("isp", "delete = \"always\""));
    for i in 0..5 {
        s.put("isp", &message("bob@example.test", &format!("m{i}")));
    }
    let mut proxy = Command::new("python3")
        .args(["-c", PROXY, &s.pop3.to_string(), "3"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 proxy");
    let mut port_line = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(proxy.stdout.take().expect("stdout"))
        .read_line(&mut port_line)
        .expect("proxy port");
    let proxy_port: u16 = port_line.trim().parse().expect("port number");
    s.write_postern_config(
        &account("isp", "delete = \"always\"").replace("{POP3}", &proxy_port.to_string()),
    );
    let out = s.collect(&[]);
    let _ = proxy.kill();
    let _ = proxy.wait();
    let log = text(&out);
    assert_eq!(out.status.code(), Some(75), "{log}");
    assert!(log.contains("event=collect_failed account=isp"), "{log}");
    assert!(log.contains("closed the connection"), "{log}");
    assert_eq!(
        s.mails("bob").len(),
        2,
        "the two messages before the cut are queued"
    );
    assert_eq!(
        s.remote_count("isp"),
        5,
        "no QUIT, so nothing deleted on the server"
    );

    // Next pass straight to the server: the rest, each once; everything deleted.
    s.write_postern_config(&account("isp", "delete = \"always\""));
    let out = s.collect(&["--account", "isp"]);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("listed=5 fetched=3"), "{log}");
    assert!(log.contains("deleted=5"), "{log}");
    assert_eq!(s.remote_count("isp"), 0);
    let c = copies(&s, &["bob"]);
    assert_eq!(c.len(), 5, "{c:?}");
    assert!(c.values().all(|n| *n == 1), "{c:?}");
}

#[test]
fn catch_all_mailbox_of_500_survives_kill_9_and_overlapping_runs() {
    let s = Setup::start(
        &["isp"],
        &account(
            "isp",
            "mode = \"catch-all\"\ncatch_all = \"admin@example.test\"",
        ),
    );
    let users = ["bob", "jim", "admin", "nobody"];
    for i in 0..500 {
        let to = users[i % users.len()];
        s.put(
            "isp",
            &message(&format!("{to}@example.test"), &format!("m{i}")),
        );
    }
    // First pass, killed with SIGKILL once some messages are in.
    let mut child = Command::new(common::bin())
        .arg("--config")
        .arg(s.config())
        .args(["collect"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn collect");
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if s.mails("bob").len() >= 20 || matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        matches!(child.try_wait(), Ok(None)),
        "the pass ended before the kill"
    );
    let _ = child.kill();
    let _ = child.wait();
    // The kill landed mid-pass: the journal holds what was queued, the snapshot no finished
    // pass (no last_run) — and far from all 500 were queued.
    let state = s.root().join("postern/spool/collect");
    let journal = std::fs::read_to_string(state.join("isp.journal")).expect("journal");
    let queued = journal.lines().filter(|l| l.starts_with("queued ")).count();
    let snapshot: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state.join("isp.json")).expect("snapshot"))
            .expect("json");
    assert_eq!(snapshot["last_run"], 0, "{snapshot}");
    assert!(
        (20..450).contains(&queued),
        "{queued} queued before the kill"
    );
    eprintln!(
        "killed with {queued} of 500 queued, {} of bob's 125 delivered",
        s.mails("bob").len()
    );
    // Two overlapping passes: the account lock lets one fetch the rest while the other finds
    // the account busy.
    let spawn = || {
        Command::new(common::bin())
            .arg("--config")
            .arg(s.config())
            .args(["collect", "--account", "isp"])
            .output()
    };
    let (a, b) = std::thread::scope(|sc| {
        let a = sc.spawn(spawn);
        let b = sc.spawn(spawn);
        (
            a.join().expect("join").expect("run"),
            b.join().expect("join").expect("run"),
        )
    });
    assert!(a.status.success(), "{}", text(&a));
    assert!(b.status.success(), "{}", text(&b));
    let (a, b) = (text(&a), text(&b));
    let (busy, ran) = if a.contains("event=collect_busy") {
        (a, b)
    } else {
        (b, a)
    };
    assert!(
        busy.contains("event=collect_busy account=isp") && !busy.contains("collect_done"),
        "the passes did not overlap:\n{busy}\n{ran}"
    );
    // The one that ran fetched the rest: all but what the killed pass had queued (and, when
    // the kill fell between a spool write and its journal line, that one too).
    let rest = 500 - queued;
    assert!(
        ran.contains(&format!("listed=500 fetched={rest} "))
            || ran.contains(&format!("listed=500 fetched={} ", rest - 1)),
        "{queued} queued before: {ran}"
    );
    // A message the killed pass had queued but not yet delivered waits for the queue runner.
    let out = s.postern(&["deliver", "--once"]);
    assert!(out.status.success(), "{}", text(&out));
    let c = copies(&s, &["bob", "jim", "admin"]);
    assert_eq!(c.len(), 500, "every message collected");
    let dups: Vec<_> = c.iter().filter(|(_, n)| **n != 1).collect();
    assert!(dups.is_empty(), "duplicates: {dups:?}");
    // Spread to the right mailboxes: bob's are all to bob, admin has its own and the catch-all.
    assert_eq!(s.mails("bob").len(), 125);
    assert!(s
        .mails("bob")
        .iter()
        .all(|m| m.contains("To: bob@example.test")));
    assert_eq!(s.mails("jim").len(), 125);
    assert_eq!(s.mails("admin").len(), 250);
    // Leave on server: a further pass fetches nothing.
    let out = s.collect(&["--account", "isp"]);
    assert!(
        text(&out).contains("listed=500 fetched=0"),
        "{}",
        text(&out)
    );
    assert_eq!(s.remote_count("isp"), 500);
}

#[test]
fn silent_and_foreign_servers_fail_alone() {
    use std::io::Write;
    // One server that accepts and never speaks, one that speaks IMAP.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let imap = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let imap_port = imap.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for mut c in imap.incoming().flatten() {
            let _ = c.write_all(b"* OK IMAP4rev1 ready\r\n");
        }
    });
    let toml = format!(
        "{}{}{}",
        account("silent", "timeout = 1").replace(
            "{POP3}",
            &silent.local_addr().expect("addr").port().to_string()
        ),
        account("imap", "").replace("{POP3}", &imap_port.to_string()),
        account("isp", ""),
    );
    let s = Setup::start(&["isp"], &toml);
    s.put("isp", &message("jim@example.test", "fine"));
    let out = s.collect(&[]);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(75), "{log}");
    assert!(
        log.contains("event=collect_failed account=silent")
            && log.contains("timed out waiting for the server"),
        "{log}"
    );
    assert!(
        log.contains("event=collect_failed account=imap")
            && log.contains("unexpected reply from the POP3 server"),
        "{log}"
    );
    assert!(
        log.contains("event=collect_done account=isp listed=1 fetched=1"),
        "{log}"
    );
    assert!(log.contains("collection failed for silent, imap"), "{log}");
    assert_eq!(s.mails("jim").len(), 1);
}
