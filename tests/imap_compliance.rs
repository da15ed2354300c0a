//! The RFC 3501 / RFC 5258 MUSTs of issue 13 through a real client library (Python imaplib and
//! a raw socket for response order), against postern's imapd and, in the same run, a private
//! Dovecot imapd on another loopback port, so that both servers are held to the same script
//! (`imap/compliance.py`): UIDVALIDITY never reused, `\Recent` held by one session, LSUB and
//! LIST-EXTENDED on subscriptions, ENVELOPE names from comments and SEARCH through them, FLAGS
//! before a new keyword, FETCH of a message expunged meanwhile, CREATE of superiors, liberal ID.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{port_offset, python, wait_for_port, Demo};

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
    let Some(dovecot) = Dovecot::start() else {
        eprintln!("dovecot imapd is not installed (bin/install-test-deps): skipped");
        return;
    };
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

/// A private Dovecot imapd (its own config, passwd-file user `demo`, maildirs in a temp dir),
/// stopped when dropped.
struct Dovecot {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
}

impl Dovecot {
    fn start() -> Option<Dovecot> {
        let binary = Path::new("/usr/sbin/dovecot");
        if !binary.exists() || !Path::new("/usr/lib/dovecot/imap").exists() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let port = 3143 + port_offset();
        // SAFETY: getuid/getgid have no preconditions.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let (uid, gid, run_as) = if uid == 0 {
            (65534, 65534, String::new())
        } else {
            let user = std::env::var("USER").unwrap_or_else(|_| "nobody".into());
            (
                uid,
                gid,
                format!("default_internal_user = {user}\ndefault_login_user = {user}\n"),
            )
        };
        let d = dir.path().join("dovecot");
        let home = d.join("mail/demo");
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir_all(home.join(sub)).unwrap();
        }
        std::fs::write(
            d.join("users"),
            format!(
                "demo:{{PLAIN}}{DOVECOT_PASSWORD}:{uid}:{gid}::{}::\n",
                home.display()
            ),
        )
        .unwrap();
        let dd = d.display();
        // COMPRESS=DEFLATE needs Dovecot's imap_zlib plugin (in dovecot-core).
        let zlib = if Path::new("/usr/lib/dovecot/modules/lib30_imap_zlib_plugin.so").exists() {
            "protocol imap {\n mail_plugins = $mail_plugins imap_zlib\n}\n"
        } else {
            ""
        };
        let conf = format!(
            "base_dir = {dd}/run\nstate_dir = {dd}/state\nlog_path = {dd}/dovecot.log\n{run_as}\
             listen = 127.0.0.1\nprotocols = imap\nssl = no\ndisable_plaintext_auth = no\n\
             auth_mechanisms = plain login\nmail_location = maildir:~\nfirst_valid_uid = 1\n\
             namespace inbox {{\n inbox = yes\n separator = /\n}}\n\
             passdb {{\n driver = passwd-file\n args = scheme=PLAIN {dd}/users\n}}\n\
             userdb {{\n driver = passwd-file\n args = {dd}/users\n}}\n\
             service imap-login {{\n chroot =\n inet_listener imap {{\n  port = {port}\n }}\n\
             inet_listener imaps {{\n  port = 0\n }}\n}}\n\
             service anvil {{\n chroot =\n}}\n{zlib}"
        );
        std::fs::write(d.join("dovecot.conf"), conf).unwrap();
        chown_tree(&d.join("mail"), uid, gid);
        let child = Command::new(binary)
            .arg("-F")
            .arg("-c")
            .arg(d.join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let dovecot = Dovecot { dir, port, child };
        assert!(
            wait_for_port(([127, 0, 0, 1], port).into(), Duration::from_secs(20)),
            "dovecot did not start: {}",
            dovecot.log()
        );
        Some(dovecot)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot/dovecot.log")).unwrap_or_default()
    }
}

fn chown_tree(path: &Path, uid: u32, gid: u32) {
    let _ = std::os::unix::fs::chown(path, Some(uid), Some(gid));
    if let Ok(entries) = std::fs::read_dir(path) {
        for e in entries.flatten() {
            chown_tree(&e.path(), uid, gid);
        }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // SIGTERM lets the master stop its login and imap processes.
        // SAFETY: kill on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
    let Some(dovecot) = Dovecot::start() else {
        eprintln!("dovecot imapd is not installed (bin/install-test-deps): skipped");
        return;
    };
    let out = python(
        COMPRESS,
        &["plain", &dovecot.port.to_string(), "demo", DOVECOT_PASSWORD],
    );
    assert!(out.contains("compress ok"), "{out}\n{}", dovecot.log());
}
