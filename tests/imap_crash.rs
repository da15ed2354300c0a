//! `kill -9` of the server during a mixed APPEND/STORE/EXPUNGE load from imaplib sessions on
//! one INBOX (the mailbox state journal, `postern-state.log`): after each restart every
//! APPENDUID a client got maps to its message, every acknowledged STORE and EXPUNGE holds, no
//! UID is given twice and UIDVALIDITY stays.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const LOAD: &str = include_str!("imap/crash_load.py");

#[test]
fn kill_9_during_mixed_imap_load_keeps_every_acknowledged_change() {
    let mut demo = Demo::start();
    let log = demo.dir.path().join("acknowledged.log");
    let port = demo.port(2993).to_string();
    let pw = demo.password();
    for round in 0..3u64 {
        let mut load = Command::new("python3")
            .args(["-c", LOAD, "load", &port, &pw])
            .arg(&log)
            .args(["6", &round.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3");
        // Let the load run, then kill the server in the middle of it.
        std::thread::sleep(Duration::from_millis(1500 + 700 * round));
        let _ = demo.child.kill(); // SIGKILL
        let _ = demo.child.wait();
        let t = Instant::now();
        while load.try_wait().expect("wait").is_none() {
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "the load did not end"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        demo.restart();
        let maildir = demo.maildir("demo");
        let out = python(
            LOAD,
            &[
                "check",
                &port,
                &pw,
                log.to_str().expect("utf8"),
                maildir.to_str().expect("utf8"),
            ],
        );
        assert!(out.contains("crash ok"), "{out}\n{}", demo.log());
        eprintln!("round {round}: {}", out.trim());
    }
    let acknowledged = std::fs::read_to_string(&log).expect("log");
    assert!(
        acknowledged.lines().filter(|l| l.starts_with("X ")).count() > 0
            && acknowledged.lines().filter(|l| l.starts_with("S ")).count() > 0,
        "the load did STORE and EXPUNGE too"
    );
}
