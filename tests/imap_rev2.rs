//! IMAP4rev2 (RFC 9051) over the network with two real clients: Python imaplib (rev2 and
//! rev1 sessions side by side on one mailbox, UTF-8 names, APPENDLIMIT/TOOBIG) and Perl
//! Mail::IMAPClient. Dovecot 2.3 does not offer IMAP4rev2, so RFC 9051 is the oracle here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;

use common::{have, python, run, text, Demo};

const REV2: &str = include_str!("imap/rev2.py");

#[test]
fn imaplib_enables_imap4rev2() {
    let demo = Demo::start();
    let out = python(REV2, &[&demo.port(2993).to_string(), &demo.password()]);
    assert!(out.contains("rev2 ok"), "{out}\n{}", demo.log());
}

#[test]
fn mail_imapclient_enables_imap4rev2() {
    let perl_ok = have("perl")
        && run("perl", &["-MMail::IMAPClient", "-e", "1"])
            .status
            .success();
    assert!(
        perl_ok,
        "Perl Mail::IMAPClient is not installed (bin/install-test-deps)"
    );
    let demo = Demo::start();
    let script = format!("{}/tests/imap/rev2.pl", env!("CARGO_MANIFEST_DIR"));
    let out = run(
        "perl",
        &[&script, &demo.port(2993).to_string(), &demo.password()],
    );
    let t = text(&out);
    assert!(
        out.status.success() && t.contains("rev2 perl ok"),
        "{t}\n{}",
        demo.log()
    );
}
