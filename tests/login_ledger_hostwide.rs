//! Failed logins are counted host-wide: guesses made through `popd --inetd` (one process per
//! connection, as inetd runs it) lock the address out of those processes and of `serve`'s own
//! POP3 listener, while another address, with the right password, logs in.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
mod policy_support;

use std::io::Write as _;
use std::process::{Command, Stdio};

use common::{have, Demo};

/// One POP3 session through `postern popd --inetd` as a client at `ip`: USER/PASS, then —
/// once PASS is answered (a client that hangs up first has its check dropped) — QUIT. The
/// server's reply to PASS.
fn inetd_login(d: &Demo, ip: &str, user: &str, password: &str) -> String {
    use std::io::{BufRead as _, BufReader};
    let mut child = Command::new(common::bin())
        .args([
            "--config",
            d.config().to_str().unwrap(),
            "popd",
            "--inetd",
            "--listener",
            "pop3",
        ])
        .env("TCPREMOTEIP", ip)
        .env("TCPREMOTEPORT", "4242")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("popd --inetd");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdin
        .write_all(format!("USER {user}\r\nPASS {password}\r\n").as_bytes())
        .unwrap();
    // Greeting, USER's reply, then PASS's.
    let mut reply = String::new();
    for _ in 0..3 {
        reply.clear();
        if stdout.read_line(&mut reply).unwrap_or(0) == 0 {
            break;
        }
    }
    let _ = stdin.write_all(b"QUIT\r\n");
    drop(stdin);
    let _ = child.wait();
    reply.trim_end().to_string()
}

/// curl's POP3 login to the demo's own listener from `ip` (a loopback address).
fn curl_login(d: &Demo, ip: &str, password: &str) -> bool {
    let url = format!("pop3://127.0.0.1:{}/", d.port(2110));
    let user = format!("demo:{password}");
    Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "20",
            "--interface",
            ip,
            "-u",
            &user,
            &url,
        ])
        .status()
        .expect("curl")
        .success()
}

#[test]
fn guesses_in_inetd_processes_lock_the_address_out_everywhere_on_the_host() {
    assert!(
        have("curl"),
        "curl is not installed (bin/install-test-deps)"
    );
    let d = policy_support::demo_with(
        "\n[auth]\naddress_failures = 3\nuser_failures = 0\nfailure_delay = \"0s\"\n\n[auth.pop3]\nuser_pass = \"allow\"\n",
    );
    let user = "demo".to_string();
    let right = d.password();
    // The right password works from the attacker's address before any guess.
    let reply = inetd_login(&d, "127.0.0.5", &user, &right);
    assert!(
        reply.starts_with("+OK"),
        "the right password: {reply:?}\n{}",
        d.log()
    );
    for _ in 0..3 {
        let reply = inetd_login(&d, "127.0.0.5", &user, "guess");
        assert!(reply.starts_with("-ERR"), "a wrong password: {reply}");
    }
    // Locked out in a fresh process, even with the right password...
    let reply = inetd_login(&d, "127.0.0.5", &user, &right);
    assert!(reply.starts_with("-ERR"), "locked out: {reply}");
    // ...and at serve's own listener, which counted none of those guesses itself.
    assert!(
        !curl_login(&d, "127.0.0.5", &right),
        "serve let a locked-out address in"
    );
    // Another address is not affected, in either.
    assert!(inetd_login(&d, "127.0.0.6", &user, &right).starts_with("+OK"));
    assert!(curl_login(&d, "127.0.0.6", &right));
    let log = d.log();
    assert!(
        log.contains("reason=\"client address locked out after repeated failed logins\""),
        "the lockout is logged:\n{log}"
    );
    // The counts live in the spool, one file per key.
    let counts = std::fs::read_dir(d.root().join("spool").join("logins"))
        .unwrap()
        .count();
    assert!(counts >= 1, "no count files in the spool");
}
