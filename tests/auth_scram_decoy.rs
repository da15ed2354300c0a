//! SCRAM-SHA-256 must not tell real users from unknown ones (RFC 5802 §5.1 leaves it to the
//! server), not even across processes: under inetd (here socat, one process per connection) and
//! across a restart, an unknown user gets the same salt and iteration count every time, shaped
//! like a real user's. The decoy key behind that salt is kept in the spool (0600); when it cannot
//! be read, SCRAM fails closed for everybody (454 4.7.0) instead of making one up.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::prelude::{Engine as _, BASE64_STANDARD};
use common::raw::py;
use common::site::Site;
use common::{bin, have, wait_for_port};

/// socat running `smtpd --inetd` for every connection; killed on drop.
struct Inetd(Child);

impl Drop for Inetd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn inetd(site: &Site) -> Inetd {
    assert!(
        have("socat"),
        "socat is not installed (bin/install-test-deps)"
    );
    let command = format!(
        "{} --config {} smtpd --inetd",
        bin().display(),
        site.config().display()
    );
    let child = Command::new("socat")
        .arg(format!(
            "TCP-LISTEN:{},bind=127.0.0.1,reuseaddr,fork",
            site.port
        ))
        .arg(format!("EXEC:{command}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(site.root().join("inetd.log")).expect("log"))
        .spawn()
        .expect("socat");
    let host = Inetd(child);
    assert!(
        wait_for_port(site.addr(), Duration::from_secs(20)),
        "socat did not listen"
    );
    host
}

/// One connection: the reply to `AUTH SCRAM-SHA-256` with a client-first for `user`, decoded
/// when it is a 334 challenge (the exchange is then cancelled).
fn server_first(port: u16, user: &str) -> String {
    let client_first = BASE64_STANDARD.encode(format!("n,,n={user},r=fyko+d2lbbFgONRv9qkxdawL"));
    py(
        r#"
import base64
s, f = conn(sys.argv[1])
reply(f)
say(s, f, b"EHLO client.test\r\n")
r = say(s, f, b"AUTH SCRAM-SHA-256 " + sys.argv[2].encode() + b"\r\n")
if r.startswith("334 "):
    print(base64.b64decode(r[4:]).decode())
    say(s, f, b"*\r\n")
else:
    print(r)
say(s, f, b"QUIT\r\n")
"#,
        &[&port.to_string(), &client_first],
    )
    .trim()
    .to_string()
}

/// `(salt, iterations)` of a server-first message `r=…,s=…,i=…`.
fn salt_and_count(server_first: &str) -> (Vec<u8>, String) {
    let mut salt = None;
    let mut count = None;
    for attr in server_first.split(',') {
        if let Some(s) = attr.strip_prefix("s=") {
            salt = BASE64_STANDARD.decode(s).ok();
        }
        if let Some(i) = attr.strip_prefix("i=") {
            count = Some(i.to_string());
        }
    }
    match (salt, count) {
        (Some(s), Some(i)) => (s, i),
        _ => panic!("not a server-first message: {server_first:?}"),
    }
}

#[test]
fn unknown_users_look_the_same_in_every_process() {
    let site = Site::new("");
    let first = {
        let _inetd = inetd(&site);
        // Each connection is its own smtpd process.
        let a = server_first(site.port, "ghost");
        let b = server_first(site.port, "ghost");
        let real = server_first(site.port, "demo");
        let other = server_first(site.port, "phantom");
        let (ghost_salt, ghost_i) = salt_and_count(&a);
        assert_eq!(
            (ghost_salt.clone(), ghost_i.clone()),
            salt_and_count(&b),
            "two processes, one unknown user: {a} / {b}"
        );
        let (real_salt, real_i) = salt_and_count(&real);
        assert_eq!(ghost_salt.len(), real_salt.len(), "{a} / {real}");
        assert_eq!(ghost_i, real_i, "{a} / {real}");
        assert_ne!(ghost_salt, real_salt);
        assert_ne!(salt_and_count(&other).0, ghost_salt, "one salt per name");
        ghost_salt
    };
    let key = site.spool().join("scram-decoy.key");
    let meta = std::fs::metadata(&key).expect("the decoy key is kept in the spool");
    assert_eq!(meta.len(), 32);
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    // A standalone daemon started afterwards (a restart) agrees.
    let d = site.smtpd("smtpd");
    let again = server_first(site.port, "ghost");
    assert_eq!(salt_and_count(&again).0, first, "{again}");
    drop(d);
}

#[test]
fn scram_fails_closed_without_its_key() {
    let site = Site::new("");
    std::fs::create_dir_all(site.spool()).expect("spool");
    // A key file that is not 32 bytes: neither used nor replaced.
    std::fs::write(site.spool().join("scram-decoy.key"), b"damaged").expect("write");
    let d = site.smtpd("smtpd");
    for user in ["demo", "ghost"] {
        let r = server_first(site.port, user);
        assert!(r.starts_with("454 4.7.0"), "{user}: {r}");
    }
    let log = d.log();
    assert!(log.contains("event=scram_unavailable"), "{log}");
    assert_eq!(
        std::fs::read(site.spool().join("scram-decoy.key")).expect("read"),
        b"damaged"
    );
}
