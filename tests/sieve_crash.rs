//! `kill -9` of the queue runner while it files mail by a Sieve script into two folders (one
//! copy with flags, in `cur/`): after a final run every message is in each folder exactly once,
//! never partial, none in the INBOX.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::site::Site;
use common::*;

const SCRIPT: &str = "require [\"fileinto\", \"copy\", \"mailbox\", \"imap4flags\"];\n\
                      fileinto :copy :create \"Copies\";\n\
                      fileinto :create :flags \"\\\\Seen\" \"Seen\";\n";

/// Messages by Message-ID in a maildir; panics on a partial one.
fn ids_in(maildir: &Path) -> HashMap<String, usize> {
    let mut ids = HashMap::new();
    for f in maildir_files(maildir) {
        let msg = std::fs::read_to_string(&f).unwrap();
        let id = msg
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: "))
            .unwrap_or_else(|| panic!("no Message-ID in {}", f.display()))
            .to_string();
        assert!(
            msg.ends_with(&format!("END {id}\n")),
            "partial {}",
            f.display()
        );
        *ids.entry(id).or_insert(0) += 1;
    }
    ids
}

fn deliver_once(site: &Site) -> Child {
    site.command()
        .args(["deliver", "--once"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn deliver")
}

#[test]
fn kill_9_mid_run_files_each_copy_exactly_once() {
    let site = Site::new("[delivery]\nimmediate = false\nconcurrency = 4\n");
    let script = site.root().join("copies.sieve");
    std::fs::write(&script, SCRIPT).unwrap();
    let out = site.postern(&[
        "sieve",
        "put",
        "demo",
        "s",
        script.to_str().unwrap(),
        "--activate",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let n = 300;
    let d = site.smtpd("fill");
    python(
        r#"
import smtplib, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
s = smtplib.SMTP("127.0.0.1", port, timeout=60)
for i in range(n):
    mid = "<%d@crash.test>" % i
    body = "Message-ID: %s\r\nSubject: crash %d\r\n\r\n%s\r\nEND %s\r\n" % (mid, i, "line\r\n" * 50, mid)
    s.sendmail("a@client.test", ["demo@example.test"], body)
s.quit()
"#,
        &[&site.port.to_string(), &n.to_string()],
    );
    drop(d);
    let inbox = site.maildir("demo");
    let (copies, seen) = (inbox.join(".Copies"), inbox.join(".Seen"));
    for stop_at in [30, 150] {
        let mut child = deliver_once(&site);
        let start = Instant::now();
        while maildir_files(&seen).len() < stop_at && start.elapsed() < Duration::from_secs(120) {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }
    assert!(
        maildir_files(&seen).len() < n,
        "the killed runs should not have finished"
    );
    let mut last = deliver_once(&site);
    assert!(last.wait().unwrap().success());
    for (folder, ids) in [("Copies", ids_in(&copies)), ("Seen", ids_in(&seen))] {
        let twice: Vec<_> = ids.iter().filter(|(_, c)| **c > 1).collect();
        assert!(twice.is_empty(), "{folder}: more than once: {twice:?}");
        assert_eq!(ids.len(), n, "{folder}: missing messages");
    }
    assert!(
        maildir_files(&inbox).is_empty(),
        "nothing kept in the INBOX"
    );
    assert!(maildir_files(&seen)
        .iter()
        .all(|p| p.to_string_lossy().ends_with(":2,S")));
}
