//! Outbound timeouts against tarpits on loopback (RFC 5321 §4.5.3.2): `connect_timeout` bounds
//! the connect and the greeting, `command_timeout` each reply after it, EHLO's included — a host
//! that accepts and never greets holds a delivery for `connect_timeout`, not for both limits
//! together. `postern sendmail` makes its delivery attempt before it exits, so its run time is
//! the attempt's; the deferral reason is read back with `queue show`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
mod remote_support;

use std::time::{Duration, Instant};

use common::text;
use remote_support::{Proc, Sender, MESSAGE};

const CONNECT: Duration = Duration::from_secs(2);
const COMMAND: Duration = Duration::from_secs(6);

/// A tarpit in `mode` ("silent" or "mute-ehlo") on a fresh port.
fn tarpit(mode: &str, dir: &std::path::Path) -> (Proc, u16) {
    use std::io::BufRead;
    // The peer binds a port the kernel chooses and says which: no window in which another
    // process could take a port picked beforehand.
    let mut child = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/remote_support/tarpit_peer.py"
        ))
        .args(["0", mode, &dir.display().to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn tarpit_peer.py");
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = std::io::BufReader::new(out).read_line(&mut line);
    }
    let p = Proc(child);
    let port = line
        .trim()
        .strip_prefix("ready ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("tarpit_peer.py did not start: {line:?}"));
    (p, port)
}

/// Send one message through the tarpit on `port`: how long the attempt took, and the deferral
/// reason the queue keeps.
fn attempt(port: u16) -> (Duration, String) {
    let s = Sender::new(
        &format!("gateway = \"127.0.0.1:{port}\""),
        &format!(
            "[remote]\nconnect_timeout = \"{}s\"\ncommand_timeout = \"{}s\"\n",
            CONNECT.as_secs(),
            COMMAND.as_secs()
        ),
    );
    let start = Instant::now();
    s.send("alice@here.test", &["bob@far.test"], MESSAGE);
    let took = start.elapsed();
    eprintln!("attempt took {took:?}");
    let queued = s.queue();
    assert_eq!(queued.len(), 1, "deferred, not bounced: {queued:?}");
    let id = queued[0]["id"].as_str().expect("id").to_string();
    let out = s.postern(&["queue", "show", &id, "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let show: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(show["state"]["attempts"], 1, "{show}");
    let reason = show["state"]["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (took, reason)
}

#[test]
fn a_host_that_never_greets_holds_the_delivery_for_connect_timeout() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (_t, port) = tarpit("silent", tmp.path());
    let (took, reason) = attempt(port);
    assert!(reason.starts_with("4.4.2 "), "{reason}");
    assert!(reason.contains("no greeting within 2s"), "{reason}");
    // connect_timeout, not connect_timeout + command_timeout (8 s).
    assert!(
        took >= CONNECT && took < CONNECT + COMMAND / 2,
        "the attempt took {took:?}"
    );
}

#[test]
fn a_host_that_never_answers_ehlo_holds_it_for_command_timeout() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (_t, port) = tarpit("mute-ehlo", tmp.path());
    let (took, reason) = attempt(port);
    assert!(reason.starts_with("4.4.2 "), "{reason}");
    assert!(reason.contains("no reply to EHLO within 6s"), "{reason}");
    assert!(
        took >= COMMAND && took < COMMAND + CONNECT - Duration::from_millis(500),
        "the attempt took {took:?}"
    );
}
