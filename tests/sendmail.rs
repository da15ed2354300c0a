//! `postern sendmail`, also run as `sendmail` (argv[0]): the way cron and scripts send mail.
//! Recipients from the command line or `-t`, Bcc kept out of the message, a repeated address
//! delivered once, the `-i` rule for a lone dot, sysexits codes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::site::Site;
use common::*;

const HANDLERS: &str = "[[domain.handler]]\nlocal = \"niel\"\nmailbox = \"demo\"\n";

/// Run the binary through a `sendmail` symlink with `args`, `input` on stdin.
fn sendmail(site: &Site, args: &[&str], input: &str) -> Output {
    let link = site.root().join("sendmail");
    if !link.exists() {
        std::os::unix::fs::symlink(bin(), &link).expect("symlink");
    }
    let mut cmd = Command::new(&link);
    cmd.args(args).env("POSTERN_CONFIG", site.config());
    output_with_stdin(&mut cmd, input.as_bytes())
}

fn mails(site: &Site, n: usize) -> Vec<String> {
    wait_for_mail(&site.maildir("demo"), n, Duration::from_secs(10))
        .iter()
        .map(|f| std::fs::read_to_string(f).expect("read"))
        .collect()
}

#[test]
fn dash_t_takes_to_cc_bcc_once_each_and_drops_bcc() {
    let site = Site::new(HANDLERS);
    let out = sendmail(
        &site,
        &["-t", "-f", "cron@example.test"],
        "To: demo@example.test\nCc: Demo Again <DEMO@example.test>\n\
         Bcc: niel@example.test, demo@example.test\nSubject: nightly\n\nall is well\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    // demo, DEMO and the alias niel all end in demo's mailbox: one copy.
    std::thread::sleep(Duration::from_millis(500));
    let got = mails(&site, 1);
    assert_eq!(got.len(), 1, "{got:#?}");
    let m = &got[0];
    assert!(m.starts_with("Return-Path: <cron@example.test>\n"), "{m}");
    assert!(
        !m.contains("Bcc:") && !m.contains("niel@"),
        "Bcc leaked:\n{m}"
    );
    assert!(
        m.contains("Subject: nightly") && m.contains("all is well"),
        "{m}"
    );
    // sendmail adds what a script leaves out.
    assert!(
        m.contains("\nDate: ") && m.contains("\nMessage-ID: <"),
        "{m}"
    );
}

#[test]
fn a_lone_dot_ends_the_message_unless_dash_i() {
    let site = Site::new("");
    let text_with_dot = "Subject: dots\n\nbefore\n.\nafter\n";
    let out = sendmail(&site, &["demo@example.test"], text_with_dot);
    assert!(out.status.success(), "{}", text(&out));
    let out = sendmail(&site, &["-oi", "demo@example.test"], text_with_dot);
    assert!(out.status.success(), "{}", text(&out));
    let got = mails(&site, 2);
    assert_eq!(got.len(), 2);
    let cut = got.iter().filter(|m| m.ends_with("before\n")).count();
    let whole = got
        .iter()
        .filter(|m| m.ends_with("before\n.\nafter\n"))
        .count();
    assert_eq!((cut, whole), (1, 1), "{got:#?}");
}

#[test]
fn the_default_sender_is_the_invoking_user_at_the_host() {
    let site = Site::new("");
    let out = sendmail(&site, &["demo@example.test"], "Subject: who\n\nme\n");
    assert!(out.status.success(), "{}", text(&out));
    let got = mails(&site, 1);
    let user = String::from_utf8_lossy(&Command::new("id").arg("-un").output().expect("id").stdout)
        .trim()
        .to_string();
    assert!(
        got[0].starts_with(&format!("Return-Path: <{user}@mx.example.test>\n")),
        "{}",
        got[0]
    );
}

#[test]
fn refusals_have_sysexits_codes_and_queue_nothing() {
    let site = Site::new("");
    for (args, input, code) in [
        (&[][..], "Subject: x\n\nno one to send to\n", 64),
        (&["-t"][..], "Subject: x\n\nno recipient headers\n", 64),
        (&["not an address"][..], "Subject: x\n\nbad\n", 65),
    ] {
        let out = sendmail(&site, args, input);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", text(&out));
        assert!(!out.stderr.is_empty(), "{args:?}: no message");
    }
    assert_eq!(site.queued(), 0, "a refused message was queued");
}
