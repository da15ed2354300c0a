//! Per-minute rate limits (`[receiving.rates]`) end to end, counted host-wide: swaks from
//! loopback addresses, the same client through smtpd under inetd (another process), an
//! authenticated user, and Python's smtplib for connections. Each test starts early in a
//! calendar minute (the counters' window) so that it runs inside one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
mod policy_support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::Demo;
use policy_support::{demo_with, queued, refused_with, swaks, swaks_auth, swaks_inetd};

/// Wait until at least 40 s of the current minute are left.
fn early_in_a_minute() {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 60;
    if secs > 20 {
        std::thread::sleep(Duration::from_secs(61 - secs));
    }
}

fn send(d: &Demo, ip: &str) -> String {
    swaks(
        d,
        &[
            "--local-interface",
            ip,
            "--from",
            "a@sender.test",
            "--to",
            "demo@example.test",
        ],
    )
}

#[test]
fn messages_per_client_address_are_counted_across_processes() {
    let d = demo_with("\n[receiving.rates]\nmessages_per_ip = 3\n");
    early_in_a_minute();
    for _ in 0..2 {
        assert!(queued(&send(&d, "127.0.0.3")));
    }
    // The third from the same address, through another process (smtpd under inetd).
    let via_inetd = |()| {
        let args = ["--from", "a@sender.test", "--to", "demo@example.test"];
        swaks_inetd(&d, "127.0.0.3", &args)
    };
    assert!(queued(&via_inetd(())));
    let out = send(&d, "127.0.0.3");
    assert!(
        refused_with(&out, "451 4.7.1 Rate limit exceeded: more than 3 messages from 127.0.0.3 a minute; try again in"),
        "{out}"
    );
    assert!(refused_with(
        &via_inetd(()),
        "451 4.7.1 Rate limit exceeded"
    ));
    // Another address has its own count.
    assert!(queued(&send(&d, "127.0.0.4")));
    // One log line for the episode, however often the client comes back.
    let log = d.log();
    let lines = log
        .lines()
        .filter(|l| l.contains("event=rate_limited") && l.contains("messages from 127.0.0.3"))
        .count();
    assert_eq!(lines, 1, "{log}");
}

#[test]
fn recipients_per_authenticated_user() {
    let d = demo_with("\n[receiving.rates]\nrecipients_per_user = 3\nrecipients_per_ip = 100\n");
    early_in_a_minute();
    let out = swaks_auth(
        &d,
        &[
            "--from",
            "demo@example.test",
            "--to",
            "demo@example.test,postmaster@example.test,demo+a@example.test,demo+b@example.test",
        ],
    );
    assert!(
        refused_with(
            &out,
            "451 4.7.1 Rate limit exceeded: more than 3 recipients by user demo a minute"
        ),
        "{out}"
    );
    assert!(queued(&out), "the first three still go: {out}");
}

#[test]
fn connections_per_client_address_get_421() {
    let d = demo_with("\n[receiving.rates]\nconnections_per_ip = 2\n");
    early_in_a_minute();
    let port = d.port(policy_support::SMTP).to_string();
    let script = r#"
import smtplib, sys
port = int(sys.argv[1])
for ip in ("127.0.0.6", "127.0.0.6", "127.0.0.6", "127.0.0.7"):
    try:
        s = smtplib.SMTP("127.0.0.1", port, source_address=(ip, 0), timeout=20)
        print(ip, "greeted", s.noop()[0])
        s.quit()
    except smtplib.SMTPConnectError as e:
        print(ip, "refused", e.smtp_code, e.smtp_error.decode())
"#;
    let out = common::python(script, &[&port]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "127.0.0.6 greeted 250", "{out}");
    assert_eq!(lines[1], "127.0.0.6 greeted 250", "{out}");
    assert!(
        lines[2].starts_with(
            "127.0.0.6 refused 421 4.7.0 Too many connections from 127.0.0.6 this minute"
        ),
        "{out}"
    );
    assert_eq!(lines[3], "127.0.0.7 greeted 250", "{out}");
}

/// An smtplib client of the demo from `ip`, past EHLO and holding its connection until killed.
fn held_connection(d: &Demo, ip: &str) -> std::process::Child {
    use std::io::{BufRead as _, BufReader};
    use std::process::{Command, Stdio};
    let script = format!(
        "import smtplib, sys\n\
         s = smtplib.SMTP('127.0.0.1', {}, source_address=('{ip}', 0), timeout=20)\n\
         print(s.ehlo()[0], flush=True)\n\
         sys.stdin.read()\n",
        d.port(2525)
    );
    let mut held = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ehlo = String::new();
    BufReader::new(held.stdout.take().unwrap())
        .read_line(&mut ehlo)
        .unwrap();
    assert_eq!(ehlo.trim(), "250", "the held connection's EHLO");
    held
}

/// Connections at once from one address are counted host-wide: one held by smtpd under inetd
/// (another process) and one held by an smtplib client of `serve` use up a limit of two, so
/// the next is greeted `421 4.7.0`; another address is not affected, and a place comes back
/// when its process is killed.
#[test]
fn connections_at_once_are_counted_across_processes_and_given_back() {
    use std::io::{BufRead as _, BufReader};
    use std::process::{Command, Stdio};
    let d = demo_with("\n[receiving.rates]\nconnections_at_once_per_ip = 2\n");
    let mut inetd = Command::new(common::bin())
        .arg("--config")
        .arg(d.config())
        .args(["smtpd", "--inetd", "--listener", "smtp"])
        .env("TCPREMOTEIP", "127.0.0.7")
        .env("TCPREMOTEPORT", "4242")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut greeting = String::new();
    BufReader::new(inetd.stdout.take().unwrap())
        .read_line(&mut greeting)
        .unwrap();
    assert!(greeting.starts_with("220 "), "{greeting}");
    let mut held = held_connection(&d, "127.0.0.7");
    let out = send(&d, "127.0.0.7");
    assert!(
        refused_with(
            &out,
            "421 4.7.0 Too many connections from 127.0.0.7 at once"
        ),
        "{out}"
    );
    assert!(queued(&send(&d, "127.0.0.8")));
    // The inetd process dies without a word: its place is free at once.
    inetd.kill().unwrap();
    inetd.wait().unwrap();
    assert!(queued(&send(&d, "127.0.0.7")));
    held.kill().unwrap();
    held.wait().unwrap();
    assert!(
        d.log()
            .contains("counter=\"connections at once from 127.0.0.7\""),
        "{}",
        d.log()
    );
}

/// A /24 is counted as one client for `connections_at_once_per_network`: while one address of
/// 127.0.0.0/24 holds a connection, another address of it is greeted `421 4.7.0`; an address of
/// another /24 is not.
#[test]
fn connections_at_once_per_network_count_a_whole_slash_24() {
    let d = demo_with("\n[receiving.rates]\nconnections_at_once_per_network = 1\n");
    let mut held = held_connection(&d, "127.0.0.7");
    let out = send(&d, "127.0.0.8");
    assert!(
        refused_with(
            &out,
            "421 4.7.0 Too many connections from 127.0.0.0/24 at once"
        ),
        "{out}"
    );
    assert!(queued(&send(&d, "127.0.1.8")));
    held.kill().unwrap();
    held.wait().unwrap();
    assert!(queued(&send(&d, "127.0.0.8")));
}
