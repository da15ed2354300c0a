//! SIGTERM stops a daemon gracefully: listeners close, sessions at rest get their protocol's
//! goodbye, a DATA transfer in progress finishes and is accepted, systemd hears READY=1 and
//! STOPPING=1, and the process exits by itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{text, Demo};

#[test]
fn sigterm_says_goodbye_finishes_transfers_and_exits() {
    let mut demo = Demo::start();
    // systemd's notification socket, played by the test.
    let notify_path = demo.dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).expect("bind notify socket");
    notify
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    demo.restart_with_env(&[("NOTIFY_SOCKET", notify_path.to_str().expect("path"))]);
    let mut buf = [0u8; 256];
    let n = notify.recv(&mut buf).expect("READY=1 from the daemon");
    assert!(String::from_utf8_lossy(&buf[..n]).contains("READY=1"));

    let script = format!("{}/tests/shutdown/clients.py", env!("CARGO_MANIFEST_DIR"));
    let mut clients = Command::new("python3")
        .arg(script)
        .arg(demo.offset.to_string())
        .arg(demo.password())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut out = BufReader::new(clients.stdout.take().expect("stdout"));
    let mut ready = String::new();
    out.read_line(&mut ready).expect("read");
    assert_eq!(ready.trim(), "ready", "{}", demo.log());

    let start = Instant::now();
    // SAFETY: kill only sends a signal to the child we started.
    unsafe { libc::kill(demo.child.id() as i32, libc::SIGTERM) };
    clients
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"go\n")
        .expect("go");
    let mut report = String::new();
    out.read_line(&mut report).expect("report");
    let seen: serde_json::Value =
        serde_json::from_str(report.trim()).unwrap_or_else(|e| panic!("{e}: {report}"));
    let status = demo.child.wait().expect("wait");
    let _ = clients.wait();
    let took = start.elapsed();
    let log = demo.log();
    let n = notify.recv(&mut buf).expect("STOPPING=1 from the daemon");
    assert!(String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1"));

    let get = |k: &str| seen[k].as_str().unwrap_or_default().to_string();
    assert!(get("smtp_rest").starts_with("421 4.3.2"), "{seen}\n{log}");
    assert!(get("pop3_rest").starts_with("-ERR [SYS/TEMP]"), "{seen}");
    assert!(get("imap_rest").starts_with("* BYE"), "{seen}");
    assert!(get("imap_idle").starts_with("* BYE"), "{seen}");
    assert!(get("smtp_data").starts_with("250 "), "{seen}\n{log}");
    assert!(get("smtp_data_after").starts_with("421 4.3.2"), "{seen}");
    assert!(get("new_connection").starts_with("refused"), "{seen}");
    assert!(status.success(), "exit {status:?}\n{log}");
    assert!(took < Duration::from_secs(15), "took {took:?}\n{log}");
    assert!(log.contains("event=shutdown signal=TERM"), "{log}");
    assert!(log.contains("event=stopped sessions_left=0"), "{log}");
    // The message accepted during the shutdown is kept (delivered or queued).
    let delivered = common::maildir_files(&demo.maildir("demo")).len();
    let queued = demo.postern(&["queue", "ls", "--json"]);
    assert!(
        delivered == 1 || text(&queued).contains("demo@example.test"),
        "{delivered} delivered; queue: {}",
        text(&queued)
    );
}
