//! Harness for the routing and policy tests: a `postern serve --demo` whose config a test edits,
//! swaks against one of its listeners, and readers for swaks transcripts.
#![allow(dead_code)]

use std::time::Duration;

use crate::common::{have, run, text, wait_for_mail, Demo};

/// A demo server whose config has `extra` appended (a `[[domain.handler]]` there belongs to the
/// demo's domain, example.test) after `edit` changed the demo's own text (it gets the demo, for
/// its ports).
pub fn demo_edited(edit: impl FnOnce(&Demo, String) -> String, extra: &str) -> Demo {
    assert!(
        have("swaks"),
        "swaks is not installed (bin/install-test-deps)"
    );
    let mut d = Demo::start();
    let path = d.config();
    let config = std::fs::read_to_string(&path).expect("config");
    let mut config = edit(&d, config);
    config.push_str(extra);
    std::fs::write(&path, config).expect("write config");
    d.restart();
    d
}

/// A demo server whose config has `extra` appended.
pub fn demo_with(extra: &str) -> Demo {
    demo_edited(|_, c| c, extra)
}

/// The demo's delivery retry schedule shortened to one second, so a deferred message is due
/// again at the next queue run.
pub fn quick_retry(_: &Demo, config: String) -> String {
    config.replace(r#"retry = ["1m", "5m", "15m", "1h"]"#, r#"retry = ["1s"]"#)
}

/// Demo listener ports by name, as the demo config numbers them.
pub const SMTP: u16 = 2525;
pub const SUBMISSION: u16 = 2587;

/// swaks against demo port `base` (e.g. [`SMTP`]); returns its transcript.
pub fn swaks_at(d: &Demo, base: u16, args: &[&str]) -> String {
    let server = format!("127.0.0.1:{}", d.port(base));
    let mut all = vec![
        "--server",
        server.as_str(),
        "--timeout",
        "20",
        "--helo",
        "mta.test",
    ];
    all.extend_from_slice(args);
    text(&run("swaks", &all))
}

/// swaks talking to `postern smtpd --inetd` over a pipe as a client at `ip` (`TCPREMOTEIP`, as
/// ucspi-tcp sets it): another process than the demo's server, on the same config.
pub fn swaks_inetd(d: &Demo, ip: &str, args: &[&str]) -> String {
    let pipe = format!(
        "env TCPREMOTEIP={ip} TCPREMOTEPORT=4242 {} --config {} smtpd --inetd --listener smtp",
        crate::common::bin().display(),
        d.config().display()
    );
    let mut all = vec![
        "--pipe",
        pipe.as_str(),
        "--timeout",
        "20",
        "--helo",
        "mta.test",
    ];
    all.extend_from_slice(args);
    text(&run("swaks", &all))
}

/// swaks against the demo's plain SMTP port.
pub fn swaks(d: &Demo, args: &[&str]) -> String {
    swaks_at(d, SMTP, args)
}

/// swaks on the submission port, STARTTLS and AUTH PLAIN as the demo user.
pub fn swaks_auth(d: &Demo, args: &[&str]) -> String {
    let password = d.password();
    let mut all = vec![
        "-tls",
        "--auth",
        "PLAIN",
        "--auth-user",
        "demo",
        "--auth-password",
        password.as_str(),
    ];
    all.extend_from_slice(args);
    swaks_at(d, SUBMISSION, &all)
}

/// A server reply in a swaks transcript line: `(error, reply)`. swaks marks replies `<-  ` and
/// errors `<** `, and inside TLS `<~  ` and `<~* `.
fn server_line(l: &str) -> Option<(bool, &str)> {
    for (prefix, error) in [
        ("<-  ", false),
        ("<~  ", false),
        ("<** ", true),
        ("<~* ", true),
    ] {
        if let Some(rest) = l.strip_prefix(prefix) {
            return Some((error, rest));
        }
    }
    None
}

/// Whether the transcript has a server error reply starting with `reply` (`"550 5.7.1"`).
pub fn refused_with(out: &str, reply: &str) -> bool {
    out.lines()
        .filter_map(server_line)
        .any(|(error, r)| error && r.starts_with(reply))
}

/// Whether the transcript has a server reply (good or bad) starting with `reply`.
pub fn replied(out: &str, reply: &str) -> bool {
    out.lines()
        .filter_map(server_line)
        .any(|(_, r)| r.starts_with(reply))
}

/// Whether the message was queued (the 250 after DATA).
pub fn queued(out: &str) -> bool {
    replied(out, "250 2.0.0 Ok: queued")
}

/// The server's error replies in the transcript (code, enhanced code and text).
pub fn errors(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(server_line)
        .filter(|(error, _)| *error)
        .map(|(_, r)| r.to_string())
        .collect()
}

/// A file of `size` bytes in the demo's directory, for `--attach @FILE`; returns the argument.
pub fn attachment(d: &Demo, name: &str, size: usize) -> String {
    let path = d.dir.path().join(name);
    std::fs::write(&path, "x".repeat(size)).expect("write attachment");
    format!("@{}", path.display())
}

/// A body of about `bytes` bytes in 71-byte lines.
pub fn body_of(bytes: usize) -> String {
    format!("{}\n", "x".repeat(70)).repeat(bytes / 71 + 1)
}

/// The messages of `user`, waiting up to 20 s for `count` of them.
pub fn mail_of(d: &Demo, user: &str, count: usize) -> Vec<String> {
    wait_for_mail(&d.maildir(user), count, Duration::from_secs(20))
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect()
}

/// `queue ls --json`, one object per message.
pub fn queue(d: &Demo) -> Vec<serde_json::Value> {
    crate::common::json_lines(&d.postern(&["queue", "ls", "--json"]))
}
