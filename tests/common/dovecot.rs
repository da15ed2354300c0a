//! A private Dovecot imapd for tests that hold postern to what Dovecot does in the same run: its
//! own config in a temp dir, one passwd-file user with a maildir (uid nobody when run as root),
//! plaintext logins, IMAP on a loopback port; stopped when dropped.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::wait_for_child_port;

pub struct Dovecot {
    dir: tempfile::TempDir,
    pub port: u16,
    child: Child,
}

impl Dovecot {
    /// Dovecot serving `user`/`password` on 127.0.0.1:`port`, the user's maildir holding
    /// `messages` (in `new/`), with `extra` appended to its config (plugins, quota rules).
    pub fn start(
        user: &str,
        password: &str,
        port: u16,
        messages: &[&[u8]],
        extra: &str,
    ) -> Dovecot {
        let binary = Path::new("/usr/sbin/dovecot");
        assert!(
            binary.exists() && Path::new("/usr/lib/dovecot/imap").exists(),
            "dovecot-imapd is needed (bin/install-test-deps)"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        // SAFETY: getuid/getgid have no preconditions.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let (uid, gid, run_as) = if uid == 0 {
            (65534, 65534, String::new())
        } else {
            let me = std::env::var("USER").unwrap_or_else(|_| "nobody".into());
            (
                uid,
                gid,
                format!("default_internal_user = {me}\ndefault_login_user = {me}\n"),
            )
        };
        let d = dir.path().join("dovecot");
        let home = d.join("mail").join(user);
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir_all(home.join(sub)).expect("maildir");
        }
        for (i, message) in messages.iter().enumerate() {
            std::fs::write(home.join(format!("new/176480000{i}.M{i}P1.test")), message)
                .expect("message");
        }
        std::fs::write(
            d.join("users"),
            format!(
                "{user}:{{PLAIN}}{password}:{uid}:{gid}::{}::\n",
                home.display()
            ),
        )
        .expect("users");
        let dd = d.display();
        let conf = format!(
            "base_dir = {dd}/run\nstate_dir = {dd}/state\nlog_path = {dd}/dovecot.log\n{run_as}\
             listen = 127.0.0.1\nprotocols = imap\nssl = no\ndisable_plaintext_auth = no\n\
             auth_mechanisms = plain login\nmail_location = maildir:~\nfirst_valid_uid = 1\n\
             namespace inbox {{\n inbox = yes\n separator = /\n}}\n\
             passdb {{\n driver = passwd-file\n args = scheme=PLAIN {dd}/users\n}}\n\
             userdb {{\n driver = passwd-file\n args = {dd}/users\n}}\n\
             service imap-login {{\n chroot =\n inet_listener imap {{\n  port = {port}\n }}\n\
             inet_listener imaps {{\n  port = 0\n }}\n}}\n\
             service anvil {{\n chroot =\n}}\n{extra}"
        );
        std::fs::write(d.join("dovecot.conf"), conf).expect("dovecot.conf");
        chown_tree(&d.join("mail"), uid, gid);
        let child = Command::new(binary)
            .arg("-F")
            .arg("-c")
            .arg(d.join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn dovecot");
        let mut dovecot = Dovecot { dir, port, child };
        assert!(
            wait_for_child_port(&mut dovecot.child, ([127, 0, 0, 1], port).into()),
            "dovecot did not start: {}",
            dovecot.log()
        );
        dovecot
    }

    pub fn log(&self) -> String {
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
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: kill on our own child's pid.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
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
