//! Concurrency limits of `postern serve`, whose immediate-delivery workers and queue runner
//! deliver side by side: `remote.per_destination` connections at once to one destination and
//! `delivery.concurrency` deliveries at once in all, shared by both. A peer on loopback counts
//! the SMTP sessions it has open at once (and is slow to answer DATA, so that they overlap).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
mod remote_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use remote_support::{
    free_port, listener, python_peer, require, smtp_send, Dns, Proc, Sender, MESSAGE,
};

/// The counting peer on every address in `ips`, answering DATA after `delay` seconds.
fn count_peer(dir: &Path, port: u16, delay: &str, ips: &[String]) -> Proc {
    let mut args = vec![port.to_string(), dir.display().to_string(), delay.into()];
    args.extend(ips.iter().cloned());
    python_peer("count_peer.py", &args, &format!("{}:{port}", ips[0]))
}

/// Messages the peer saved, waiting up to 30 s for `n`.
fn wait_saved(dir: &Path, n: usize) -> Vec<String> {
    let start = Instant::now();
    loop {
        let files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        let mail: Vec<PathBuf> = files
            .into_iter()
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        if mail.len() >= n || start.elapsed() > Duration::from_secs(30) {
            return mail
                .iter()
                .filter_map(|f| std::fs::read_to_string(f).ok())
                .collect();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn most_at_once(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("max"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

fn config(dns: &Dns, mx_port: u16, smtp_port: u16, delivery: &str, remote: &str) -> Sender {
    let rest = format!(
        "[remote]\nmx_port = {mx_port}\nconnect_timeout = \"3s\"\ncommand_timeout = \"20s\"\n{remote}\n[dns]\nservers = [\"127.0.0.1:{}\"]\n{}",
        dns.port,
        listener(smtp_port)
    );
    Sender::new(&format!("scan_interval = \"1s\"\n{delivery}"), &rest)
}

/// Twelve messages for one domain, handed to `serve` over SMTP: eight delivery workers, but
/// never more than `per_destination = 2` sessions at the peer — and that many are used.
#[test]
fn per_destination_cap_in_serve() {
    require(&["dnsmasq", "python3"]);
    let tmp = tempfile::tempdir().expect("tmp");
    let ip = "127.0.0.31".to_string();
    let port = free_port(&ip);
    let dir = tmp.path().join("peer");
    let _peer = count_peer(&dir, port, "0.4", std::slice::from_ref(&ip));
    let dns = Dns::start(&[format!("--host-record=cap.test,{ip}")]);
    let smtp_port = free_port("127.0.0.1");
    let s = config(
        &dns,
        port,
        smtp_port,
        "concurrency = 8",
        "per_destination = 2",
    );
    let _serve = s.serve(smtp_port);
    for i in 0..12 {
        let to = format!("u{i}@cap.test");
        let refused = smtp_send(smtp_port, "alice@here.test", &[], &[(&to, &[])], MESSAGE);
        assert_eq!(refused, "{}");
    }
    let got = wait_saved(&dir, 12);
    assert_eq!(got.len(), 12, "{}", s.read("serve.log"));
    assert_eq!(
        most_at_once(&dir),
        2,
        "per_destination is the cap, and is reached"
    );
}

/// `delivery.concurrency = 2` for the whole process: eight deferred messages retried by the
/// queue runner while eight new ones get their immediate attempt, each to its own domain (so
/// `per_destination` does not limit) — never more than two sessions at once at the peer.
#[test]
fn total_concurrency_shared_by_runner_and_immediate_attempts() {
    require(&["dnsmasq", "python3"]);
    let tmp = tempfile::tempdir().expect("tmp");
    let ips: Vec<String> = (0..8).map(|i| format!("127.0.0.{}", 40 + i)).collect();
    let port = free_port(&ips[0]);
    let records: Vec<String> = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| format!("--host-record=d{i}.test,{ip}"))
        .collect();
    let dns = Dns::start(&records);
    let smtp_port = free_port("127.0.0.1");
    let s = config(
        &dns,
        port,
        smtp_port,
        "concurrency = 2",
        "per_destination = 8\nconnection_reuse = \"0s\"",
    );
    let _serve = s.serve(smtp_port);
    let send = |round: &str| {
        for i in 0..8 {
            let to = format!("{round}@d{i}.test");
            let refused = smtp_send(smtp_port, "alice@here.test", &[], &[(&to, &[])], MESSAGE);
            assert_eq!(refused, "{}");
        }
    };
    // Nobody listens: the first eight are deferred.
    send("early");
    let start = Instant::now();
    let deferred = |m: &serde_json::Value| m["attempts"].as_u64().is_some_and(|n| n >= 1);
    while s.queue().iter().filter(|m| deferred(m)).count() < 8 {
        assert!(start.elapsed() < Duration::from_secs(20), "{:?}", s.queue());
        std::thread::sleep(Duration::from_millis(50));
    }
    let dir = tmp.path().join("peer");
    let _peer = count_peer(&dir, port, "0.5", &ips);
    send("late");
    let got = wait_saved(&dir, 16);
    assert_eq!(got.len(), 16, "{}", s.read("serve.log"));
    assert_eq!(
        most_at_once(&dir),
        2,
        "delivery.concurrency caps the runner and the immediate attempts together"
    );
}
