//! `postern collect` as a command: the progress bar per account on a terminal (run under
//! `script`, which gives it a pseudo-terminal), nothing but log lines otherwise, and per-account
//! failures — a name the resolver (`[dns]`, a dnsmasq on loopback) does not know, a dead name
//! server, a refused connection — logged while the pass goes on, exit status 75.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
#[path = "common/collect.rs"]
mod harness;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{have, text};
use harness::{account, message, Setup, SECRET};

/// A loopback TCP port nothing listens on right now.
fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// A loopback UDP port nothing listens on right now.
fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("free port")
        .port()
}

#[test]
fn progress_bar_per_account_on_a_terminal_and_log_lines_otherwise() {
    assert!(
        have("script"),
        "script is not installed (bin/install-test-deps)"
    );
    let s = Setup::start(
        &["isp", "second"],
        &format!("{}{}", account("isp", ""), account("second", "")),
    );
    for i in 0..3 {
        s.put("isp", &message("bob@example.test", &format!("isp{i}")));
        s.put(
            "second",
            &message("jim@example.test", &format!("second{i}")),
        );
    }
    let command = format!(
        "{} --config {} collect",
        common::bin().display(),
        s.config().display()
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("TERM", "xterm")
        .stdin(Stdio::null())
        .output()
        .expect("script");
    let screen = text(&out);
    assert!(out.status.success(), "{screen}");
    for name in ["isp", "second"] {
        let done = format!("{name} [==============================] 3/3 messages, ");
        assert!(
            screen.contains(&done),
            "no finished bar for {name}: {screen:?}"
        );
        assert!(
            screen.contains(&format!(
                "event=collect_done account={name} listed=3 fetched=3"
            )),
            "{screen:?}"
        );
    }
    assert!(
        screen.contains('\x1b'),
        "drawn with terminal control: {screen:?}"
    );
    assert_eq!(s.mails("bob").len(), 3);

    // Without a terminal: no bar, no control characters, only log lines, the summary of each
    // account in one of them; nothing on stdout.
    for i in 3..5 {
        s.put("isp", &message("bob@example.test", &format!("isp{i}")));
    }
    let out = s.collect(&["--account", "isp", "--account", "second"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(out.stdout.is_empty(), "{}", text(&out));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!log.contains('\x1b') && !log.contains('\r'), "{log:?}");
    assert!(!log.contains("messages, "), "{log}");
    assert!(log.lines().all(|l| l.starts_with("ts=")), "{log}");
    let summaries: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("event=collect_done"))
        .collect();
    assert_eq!(summaries.len(), 2, "{log}");
    assert!(
        summaries[0].contains("account=isp listed=5 fetched=2"),
        "{log}"
    );
    assert!(
        summaries[1].contains("account=second listed=3 fetched=0"),
        "{log}"
    );
}

/// dnsmasq on a loopback UDP port: `pop.isp.test` is 127.0.0.1, every other name under `test`
/// does not exist (NXDOMAIN). Killed when dropped.
struct Dnsmasq(Child);

impl Dnsmasq {
    fn start(port: u16) -> Dnsmasq {
        assert!(
            have("dnsmasq"),
            "dnsmasq is not installed (bin/install-test-deps)"
        );
        let child = Command::new("dnsmasq")
            .args([
                "--keep-in-foreground",
                "--no-resolv",
                "--no-hosts",
                "--conf-file=/dev/null",
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                "--user=",
                "--pid-file=",
                "--local=/test/",
                "--host-record=pop.isp.test,127.0.0.1",
                &format!("--port={port}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dnsmasq");
        let mut d = Dnsmasq(child);
        // Ready once it holds the port.
        let start = Instant::now();
        while std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "dnsmasq did not start"
            );
            assert!(
                matches!(d.0.try_wait(), Ok(None)),
                "dnsmasq exited (port {port} taken?)"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn dns_and_connection_failures_fail_their_account_and_the_pass_goes_on() {
    let by_name = |name: &str, host: &str| {
        format!(
            "[[collect]]\nname = \"{name}\"\nserver = \"{host}\"\nport = {{POP3}}\ntls = \"none\"\n\
             user = \"isp\"\npassword = \"{SECRET}\"\n"
        )
    };
    let refused_port = free_tcp_port();
    let accounts = format!(
        "{}{}{}",
        by_name("unknown", "nowhere.isp.test"),
        account("refused", "").replace("{POP3}", &refused_port.to_string()),
        by_name("isp", "pop.isp.test"),
    );
    let dns_port = free_udp_port();
    let s = Setup::start(
        &["isp"],
        &format!("[dns]\nservers = [\"127.0.0.1:{dns_port}\"]\ntimeout = \"1s\"\nattempts = 1\n{accounts}"),
    );
    let dns = Dnsmasq::start(dns_port);
    s.put("isp", &message("bob@example.test", "through-dnsmasq"));
    let out = s.collect(&[]);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(75), "{log}");
    assert!(
        log.contains("event=collect_failed account=unknown server=nowhere.isp.test:")
            && log.contains(
                "error=\"cannot resolve nowhere.isp.test: host nowhere.isp.test has no address\""
            ),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "event=collect_failed account=refused server=127.0.0.1:{refused_port}"
        )) && log.contains("Connection refused"),
        "{log}"
    );
    // The name dnsmasq knows: found through [dns], collected after the two failures.
    assert!(
        log.contains("event=collect_done account=isp listed=1 fetched=1"),
        "{log}"
    );
    assert!(
        log.contains("collection failed for unknown, refused"),
        "{log}"
    );
    assert_eq!(s.mails("bob").len(), 1);

    // The name server gone: the account named by host fails, the one by address goes on.
    drop(dns);
    let retry = format!(
        "[dns]\nservers = [\"127.0.0.1:{dns_port}\"]\ntimeout = \"1s\"\nattempts = 1\n{}{}",
        by_name("isp", "pop.isp.test"),
        by_name("by_address", "127.0.0.1")
    );
    s.write_postern_config(&retry);
    s.put("isp", &message("bob@example.test", "by-address"));
    let started = Instant::now();
    // Named: the interval since the first pass does not hold "isp" back.
    let out = s.collect(&["--account", "isp", "--account", "by_address"]);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(75), "{log}");
    assert!(
        log.contains("event=collect_failed account=isp server=pop.isp.test:")
            && log.contains("cannot resolve pop.isp.test"),
        "{log}"
    );
    assert!(
        log.contains("event=collect_done account=by_address listed=2 fetched=2"),
        "{log}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "bounded by [dns] timeout"
    );
    assert_eq!(s.mails("bob").len(), 3);
}
