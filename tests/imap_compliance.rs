//! The RFC 3501 / RFC 5258 MUSTs of issue 13 through a real client library (Python imaplib and
//! a raw socket for response order), against postern's imapd and, in the same run, a private
//! Dovecot imapd on another loopback port, so that both servers are held to the same script
//! (`imap/compliance.py`): UIDVALIDITY never reused, `\Recent` held by one session, LSUB and
//! LIST-EXTENDED on subscriptions, ENVELOPE names from comments and SEARCH through them, FLAGS
//! before a new keyword, FETCH of a message expunged meanwhile, CREATE of superiors, liberal ID,
//! and the extensions' answers (SORT, THREAD, ESEARCH, ESORT, CONTEXT=SEARCH…).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;

use common::dovecot::Dovecot;
use common::{port_offset, python, Demo};

const SCRIPT: &str = include_str!("imap/compliance.py");
const DOVECOT_PASSWORD: &str = "s3cret-imap";

#[test]
fn postern_imapd_meets_the_musts() {
    let demo = Demo::start();
    let out = python(
        SCRIPT,
        &[
            "postern",
            "tls",
            &demo.port(2993).to_string(),
            "demo",
            &demo.password(),
        ],
    );
    assert!(out.contains("compliance ok"), "{out}\n{}", demo.log());
}

/// The same script against Dovecot: what it checks is what a strict client may expect of any
/// server (it fails here if the script asks for more than Dovecot does).
#[test]
fn dovecot_meets_the_same_musts() {
    let dovecot = dovecot();
    let out = python(
        SCRIPT,
        &[
            "dovecot",
            "plain",
            &dovecot.port.to_string(),
            "demo",
            DOVECOT_PASSWORD,
        ],
    );
    assert!(out.contains("compliance ok"), "{out}\n{}", dovecot.log());
}

/// The private Dovecot of these tests: user `demo`; COMPRESS=DEFLATE needs its imap_zlib plugin
/// (in dovecot-core).
fn dovecot() -> Dovecot {
    Dovecot::start(
        "demo",
        DOVECOT_PASSWORD,
        3143 + port_offset(),
        &[],
        "protocol imap {\n mail_plugins = $mail_plugins imap_zlib\n}\n",
    )
}

/// QUOTA (RFC 9208) through imaplib: the quota root and STORAGE of the user's quota (set with
/// `postern mbox quota` while imapd runs), usage growing with an APPEND, the APPEND over it
/// refused with `[OVERQUOTA]`, SETQUOTA refused.
#[test]
fn imaplib_reads_the_users_quota() {
    let demo = Demo::start();
    let out = demo.postern(&["mbox", "quota", "demo", "--set", "64K"]);
    assert!(out.status.success(), "{}", common::text(&out));
    let script = r#"
import imaplib, ssl, sys, re
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
M = imaplib.IMAP4_SSL('127.0.0.1', int(sys.argv[1]), ssl_context=ctx)
M.login('demo', sys.argv[2])
assert 'QUOTA' in M.capabilities and 'QUOTA=RES-STORAGE' in M.capabilities, M.capabilities
typ, data = M.getquotaroot('INBOX'); assert typ == 'OK', data
assert data[0] == [b'INBOX ""'], data
used, limit = map(int, re.match(rb'"" \(STORAGE (\d+) (\d+)\)', data[1][0]).groups())
assert limit == 64, data
typ, r = M.append('INBOX', None, None, b'Subject: q\r\n\r\n' + b'x' * 20000 + b'\r\n'); assert typ == 'OK', r
typ, data = M.getquota('""'); assert typ == 'OK', data
used2 = int(re.match(rb'"" \(STORAGE (\d+) 64\)', data[0]).group(1))
assert used2 >= used + 19, (used, used2)
typ, r = M.append('INBOX', None, None, b'Subject: big\r\n\r\n' + b'x' * 60000 + b'\r\n')
assert typ == 'NO' and b'OVERQUOTA' in r[0], r
typ, r = M._simple_command('SETQUOTA', '""', '(STORAGE 1)')
assert typ == 'NO', r
print('quota ok', used, used2)
"#;
    let out = python(script, &[&demo.port(2993).to_string(), &demo.password()]);
    assert!(out.contains("quota ok"), "{out}\n{}", demo.log());
}

const COMPRESS: &str = include_str!("imap/compress.py");

/// COMPRESS=DEFLATE (RFC 4978) with Python's zlib over a raw TLS socket: SELECT, a large FETCH
/// (coming in at under a tenth of its size) and an APPEND through the deflated stream.
#[test]
fn compress_deflate_with_python_zlib() {
    let demo = Demo::start();
    let out = python(
        COMPRESS,
        &[
            "tls",
            &demo.port(2993).to_string(),
            "demo",
            &demo.password(),
        ],
    );
    assert!(out.contains("compress ok"), "{out}\n{}", demo.log());
}

/// The same COMPRESS script against Dovecot (with its imap_zlib plugin).
#[test]
fn dovecot_compress_deflate_with_python_zlib() {
    let dovecot = dovecot();
    let out = python(
        COMPRESS,
        &["plain", &dovecot.port.to_string(), "demo", DOVECOT_PASSWORD],
    );
    assert!(out.contains("compress ok"), "{out}\n{}", dovecot.log());
}
