//! The mail store under imapd with real clients (issue 11, points 8, 10 and 11): the quota on
//! APPEND, COPY and MOVE (imaplib, curl, and smtplib's SIZE= for comparison), MOVE killed with
//! `kill -9` part-way through a 1,000-message mailbox, and a login on a full mail volume.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

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

/// A file system mounted for a test, unmounted (lazily) when dropped.
struct Mount(std::path::PathBuf);

impl Mount {
    fn run(cmd: &str, args: &[&str]) {
        let out = run(cmd, args);
        assert!(
            out.status.success(),
            "{cmd} {args:?} failed (the disk-full test needs root): {}",
            text(&out)
        );
    }

    /// A tmpfs of `size` (e.g. "4m") on `dir`.
    fn tmpfs(dir: &Path, size: &str) -> Mount {
        std::fs::create_dir_all(dir).expect("mount point");
        let opts = format!("size={size},mode=0755");
        Mount::run(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &opts,
                "tmpfs",
                dir.to_str().expect("utf8"),
            ],
        );
        Mount(dir.to_path_buf())
    }

    /// An ext4 file system of `kib` KiB (1 KiB blocks, no journal, no root reserve) in `image`,
    /// loop-mounted on `dir`: full is full, even for root, and a directory needs a block.
    fn ext4(image: &Path, dir: &Path, kib: u64) -> Mount {
        std::fs::create_dir_all(dir).expect("mount point");
        let f = std::fs::File::create(image).expect("image");
        f.set_len(kib * 1024).expect("image size");
        drop(f);
        let img = image.to_str().expect("utf8");
        Mount::run(
            "mkfs.ext4",
            &[
                "-q",
                "-F",
                "-m",
                "0",
                "-b",
                "1024",
                "-O",
                "^has_journal",
                img,
            ],
        );
        Mount::run("mount", &["-o", "loop", img, dir.to_str().expect("utf8")]);
        Mount(dir.to_path_buf())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes `path` until the file system is full (bounded: the volumes here are a few MB).
fn fill(path: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("filler");
    let mut chunk = 64 * 1024;
    let block = vec![0u8; chunk];
    for _ in 0..100_000 {
        match f.write(&block[..chunk]) {
            Ok(0) => break,
            Ok(_) => {}
            Err(_) if chunk > 512 => chunk /= 2,
            Err(_) => break,
        }
    }
    let _ = f.sync_all();
}

/// A message with a Message-ID, by SMTP; the reply to MAIL (with `SIZE=` when given) or the
/// whole transaction's outcome.
const SEND: &str = r#"
import smtplib, sys
port, mid, size = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
s = smtplib.SMTP('127.0.0.1', port, timeout=30)
s.ehlo('client.test')
code, text = s.mail('a@client.test', ['SIZE=%d' % size] if size else [])
if code != 250:
    print('MAIL', code, text.decode()); sys.exit(0)
s.rcpt('demo@example.test')
code, text = s.data(('Message-ID: <%s>\r\nSubject: %s\r\n\r\nbody\r\n' % (mid, mid)).encode())
print('DATA', code, text.decode())
s.quit()
"#;

/// A full disk (issue 11, point 11), on file systems mounted by the test: a spool volume short of
/// `limits.spool_reserve` answers MAIL with 452 4.3.1 (also when `SIZE=` would take it there),
/// before any body is sent; on a full mail volume a first IMAP login still opens the INBOX (the
/// default folders it cannot make are an `[UNAVAILABLE]` warning, CREATE and APPEND say
/// `[UNAVAILABLE]`, not `[SERVERBUG]`); and mail deferred for the full volume is delivered
/// within seconds of space coming back, not at its retry time (an hour here).
#[test]
fn a_full_disk_is_refused_early_and_waited_out() {
    let port = 2525 + port_offset();
    let imap = port + 1;
    let site = Site::new(&format!(
        "[limits]\nspool_reserve = \"1M\"\n\n[delivery]\nretry = [\"1h\"]\nscan_interval = \"1h\"\n\n\
         [auth.imap]\nlogin_command = \"allow\"\n\n\
         [[listener]]\nname = \"smtp\"\nprotocol = \"smtp\"\naddress = \"127.0.0.1:{port}\"\n\n\
         [[listener]]\nname = \"imap\"\nprotocol = \"imap\"\naddress = \"127.0.0.1:{imap}\"\n"
    ));
    let _spool = Mount::tmpfs(&site.spool(), "4m");
    let _mail = Mount::ext4(
        &site.root().join("mail.img"),
        &site.root().join("mail"),
        2048,
    );
    let log = site.root().join("serve.log");
    let child = site
        .command()
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("serve");
    let mut d = Daemon { child, log };
    let smtp_addr = ([127, 0, 0, 1], port).into();
    assert!(wait_for_child_port(&mut d.child, smtp_addr), "{}", d.log());
    assert!(wait_for_port(
        ([127, 0, 0, 1], imap).into(),
        Duration::from_secs(20)
    ));
    let send = |mid: &str, size: u64| python(SEND, &[&port.to_string(), mid, &size.to_string()]);

    // Two messages while there is room (immediate delivery).
    for i in 0..2 {
        let out = send(&format!("before{i}@full.test"), 0);
        assert!(out.starts_with("DATA 250"), "{out}\n{}", d.log());
    }
    let inbox = site.maildir("demo");
    assert_eq!(
        wait_for_mail(&inbox, 2, Duration::from_secs(20)).len(),
        2,
        "{}",
        d.log()
    );

    // The spool's reserve: 4 MB of tmpfs, 1 MB reserve.
    let out = send("sized@full.test", 3_500_000);
    assert!(
        out.starts_with("MAIL 452 4.3.1"),
        "SIZE= beyond the reserve: {out}"
    );
    let filler = site.spool().join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).expect("filler");
        f.write_all(&vec![0u8; 3 * 1024 * 1024 + 512 * 1024])
            .expect("fill spool");
    }
    let out = send("short@full.test", 0);
    assert!(
        out.starts_with("MAIL 452 4.3.1"),
        "below the reserve: {out}"
    );
    std::fs::remove_file(&filler).expect("unfill");
    let out = send("room@full.test", 100);
    assert!(out.starts_with("DATA 250"), "room again: {out}");
    assert_eq!(wait_for_mail(&inbox, 3, Duration::from_secs(20)).len(), 3);

    // The mail volume full: an IMAP login that would make the default folders.
    let filler = site.root().join("mail").join("filler");
    fill(&filler);
    let out = python(STORE, &["full", &imap.to_string(), "secret"]);
    assert!(out.contains("full ok"), "{out}\n{}", d.log());
    assert!(!inbox.join(".Sent/cur").exists());

    // Mail for the full volume is accepted (the spool has room) and deferred for space …
    let out = send("waits@full.test", 0);
    assert!(out.starts_with("DATA 250"), "{out}");
    let start = Instant::now();
    while !d.log().contains("4.3.1 mail volume full") {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "not deferred:\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(maildir_files(&inbox).len(), 3);
    // … and delivered within seconds of the space coming back, not in an hour.
    std::fs::remove_file(&filler).expect("unfill");
    let freed = Instant::now();
    let files = wait_for_mail(&inbox, 4, Duration::from_secs(10));
    assert_eq!(
        files.len(),
        4,
        "not delivered after space returned:\n{}",
        d.log()
    );
    eprintln!("delivered {:?} after the space came back", freed.elapsed());

    // The next login makes the default folders; IMAP agrees with the files.
    let state = imap_state_on(imap);
    assert_eq!(state["INBOX"]["messages"], 4, "{state}");
    assert_eq!(state["Archive"]["messages"], 0, "{state}");
    assert!(inbox.join(".Sent/cur").is_dir());
    assert!(!d.log().contains("SERVERBUG"), "{}", d.log());
}

/// [`imap_state`] against a port.
fn imap_state_on(port: u16) -> serde_json::Value {
    let out = python(STORE, &["state", &port.to_string(), "secret"]);
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}
