//! Harness for the collection tests: a real Dovecot POP3 server (Debian's dovecot-pop3d) with a
//! config of its own on loopback ports, passwd-file users and maildirs in a temp dir, and a
//! postern config in the same dir that collects from it. [`Setup::local`] makes the postern side
//! alone, to collect from another server (e.g. a second postern's popd).
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::common::{bin, maildir_files, port_offset, wait_for_port};

/// Password of every Dovecot account.
pub const SECRET: &str = "s3cret-pop";

static UNIQUE: AtomicU32 = AtomicU32::new(0);

/// A running Dovecot and a postern setup beside it; Dovecot is stopped when dropped.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub pop3: u16,
    pub pop3s: u16,
    child: Option<Child>,
    uid: u32,
    gid: u32,
}

fn dovecot_bin() -> PathBuf {
    for p in ["/usr/sbin/dovecot", "/usr/local/sbin/dovecot"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("dovecot is not installed (bin/install-test-deps installs dovecot-pop3d)");
}

impl Setup {
    /// Start Dovecot with POP3 accounts `accounts` and write a postern config whose
    /// `[[collect]]` sections are `collect_toml` (`{POP3}`, `{POP3S}` and `{DIR}` replaced).
    pub fn start(accounts: &[&str], collect_toml: &str) -> Setup {
        Setup::start_with(accounts, collect_toml, "")
    }

    /// [`Setup::start`] with extra lines for dovecot.conf (e.g. `ssl_min_protocol = TLSv1.3`).
    pub fn start_with(accounts: &[&str], collect_toml: &str, dovecot_extra: &str) -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let offset = port_offset();
        let (pop3, pop3s) = (3110 + offset, 3995 + offset);
        // SAFETY: getuid/getgid have no preconditions.
        let is_root = unsafe { libc::getuid() } == 0;
        let (uid, gid, run_as) = if is_root {
            (65534, 65534, String::new())
        } else {
            let user = std::env::var("USER").unwrap_or_else(|_| "nobody".into());
            // SAFETY: as above.
            let (u, g) = unsafe { (libc::getuid(), libc::getgid()) };
            (
                u,
                g,
                format!("default_internal_user = {user}\ndefault_login_user = {user}\n"),
            )
        };
        let dv = root.join("dovecot");
        std::fs::create_dir_all(&dv).expect("mkdir");
        let cert = root.join("cert.pem");
        let key = root.join("key.pem");
        let out = Command::new(bin())
            .args(["cert", "gen", "--cn", "localhost", "--san", "localhost"])
            .args(["--san", "127.0.0.1", "--cert"])
            .arg(&cert)
            .arg("--key")
            .arg(&key)
            .output()
            .expect("cert gen");
        assert!(out.status.success(), "cert gen: {out:?}");
        let mut users = String::new();
        for a in accounts {
            let home = dv.join("mail").join(a);
            for sub in ["new", "cur", "tmp"] {
                std::fs::create_dir_all(home.join(sub)).expect("maildir");
            }
            users.push_str(&format!(
                "{a}:{{PLAIN}}{SECRET}:{uid}:{gid}::{}::\n",
                home.display()
            ));
        }
        std::fs::write(dv.join("users"), users).expect("users");
        let d = dv.display();
        let conf = format!(
            "base_dir = {d}/run\nstate_dir = {d}/state\nlog_path = {d}/dovecot.log\n{run_as}\
             listen = 127.0.0.1\nprotocols = pop3\nssl = yes\nssl_cert = <{c}\nssl_key = <{k}\n\
             disable_plaintext_auth = no\nauth_mechanisms = plain login cram-md5 apop\n\
             mail_location = maildir:~\nfirst_valid_uid = 1\npop3_uidl_format = %08Xu%08Xv\n\
             passdb {{\n driver = passwd-file\n args = scheme=PLAIN {d}/users\n}}\n\
             userdb {{\n driver = passwd-file\n args = {d}/users\n}}\n\
             service pop3-login {{\n chroot =\n inet_listener pop3 {{\n  port = {pop3}\n }}\n\
             inet_listener pop3s {{\n  port = {pop3s}\n  ssl = yes\n }}\n}}\n\
             service anvil {{\n chroot =\n}}\n{dovecot_extra}\n",
            c = cert.display(),
            k = key.display(),
        );
        std::fs::write(dv.join("dovecot.conf"), conf).expect("conf");
        chown_tree(&dv.join("mail"), uid, gid);
        let child = Command::new(dovecot_bin())
            .arg("-F")
            .arg("-c")
            .arg(dv.join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn dovecot");
        let setup = Setup {
            dir,
            pop3,
            pop3s,
            child: Some(child),
            uid,
            gid,
        };
        let addr = ([127, 0, 0, 1], pop3).into();
        assert!(
            wait_for_port(addr, Duration::from_secs(20)),
            "dovecot did not start: {}",
            setup.dovecot_log()
        );
        setup.write_postern_config(collect_toml);
        for u in ["bob", "jim", "admin"] {
            setup.add_user(u);
        }
        setup
    }

    /// Only the postern side (users bob, jim, admin): its `[[collect]]` sections get `{POP3}` and
    /// `{POP3S}` replaced by `pop3` and `pop3s`, the ports of a POP3 server started elsewhere.
    pub fn local(pop3: u16, pop3s: u16, collect_toml: &str) -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        // SAFETY: getuid/getgid have no preconditions.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let setup = Setup {
            dir,
            pop3,
            pop3s,
            child: None,
            uid,
            gid,
        };
        setup.write_postern_config(collect_toml);
        for u in ["bob", "jim", "admin"] {
            setup.add_user(u);
        }
        setup
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn config(&self) -> PathBuf {
        self.root().join("postern").join("postern.toml")
    }

    /// Rewrite the postern config with other `[[collect]]` sections.
    pub fn write_postern_config(&self, collect_toml: &str) {
        let p = self.root().join("postern");
        std::fs::create_dir_all(&p).expect("mkdir");
        let collect = collect_toml
            .replace("{POP3S}", &self.pop3s.to_string())
            .replace("{POP3}", &self.pop3.to_string())
            .replace("{DIR}", &self.root().display().to_string());
        let text = format!(
            "[server]\nhostname = \"mail.example.test\"\npostmaster = \"admin@example.test\"\n\
             [paths]\nspool = \"spool\"\nmail = \"mail\"\nusers = \"users.toml\"\n\
             [delivery]\ngateway = \"127.0.0.1:9\"\n\
             [[domain]]\nname = \"example.test\"\n[[domain]]\nname = \"branch.test\"\nhosted = \"remote\"\nserver = \"branch\"\n\
             [[remote.server]]\nname = \"branch\"\nhost = \"127.0.0.1\"\nport = 9\n\
             {collect}"
        );
        std::fs::write(self.config(), text).expect("config");
    }

    fn add_user(&self, name: &str) {
        use std::io::Write;
        let mut child = Command::new(bin())
            .arg("--config")
            .arg(self.config())
            .args(["user", "add", name, "--password-stdin"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("spawn");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(b"local-pw\n")
            .expect("write");
        assert!(child.wait().expect("wait").success());
    }

    /// Put a message into a Dovecot account's maildir.
    pub fn put(&self, account: &str, message: &[u8]) {
        let n = UNIQUE.fetch_add(1, Ordering::SeqCst);
        let dir = self.root().join("dovecot/mail").join(account);
        let tmp = dir.join("tmp").join(format!("{n}.test"));
        std::fs::write(&tmp, message).expect("write message");
        std::os::unix::fs::chown(&tmp, Some(self.uid), Some(self.gid)).expect("chown");
        std::fs::rename(&tmp, dir.join("new").join(format!("{n}.test"))).expect("rename");
    }

    /// Messages left in a Dovecot account.
    pub fn remote_count(&self, account: &str) -> usize {
        let dir = self.root().join("dovecot/mail").join(account);
        ["new", "cur"]
            .iter()
            .filter_map(|s| std::fs::read_dir(dir.join(s)).ok())
            .map(|d| d.count())
            .sum()
    }

    /// `postern --config … collect ARGS…`.
    pub fn collect(&self, args: &[&str]) -> Output {
        Command::new(bin())
            .arg("--config")
            .arg(self.config())
            .arg("collect")
            .args(args)
            .output()
            .expect("run postern collect")
    }

    /// `postern --config … ARGS…`.
    pub fn postern(&self, args: &[&str]) -> Output {
        Command::new(bin())
            .arg("--config")
            .arg(self.config())
            .args(args)
            .output()
            .expect("run postern")
    }

    /// The contents of a local user's messages.
    pub fn mails(&self, user: &str) -> Vec<String> {
        maildir_files(&self.root().join("postern/mail").join(user))
            .iter()
            .map(|p| String::from_utf8_lossy(&std::fs::read(p).expect("read")).into_owned())
            .collect()
    }

    pub fn dovecot_log(&self) -> String {
        std::fs::read_to_string(self.root().join("dovecot/dovecot.log")).unwrap_or_default()
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

impl Drop for Setup {
    fn drop(&mut self) {
        let Some(child) = &mut self.child else {
            return;
        };
        // SIGTERM lets the master stop its login and pop3 processes.
        // SAFETY: kill on our own child's pid.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        for _ in 0..100 {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A simple message to `to`.
pub fn message(to: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: sender@far.test\nTo: {to}\nSubject: {subject}\nMessage-ID: <{subject}@far.test>\n\nbody of {subject}\n"
    )
    .into_bytes()
}

/// An account section for the test Dovecot.
pub fn account(name: &str, extra: &str) -> String {
    format!(
        "[[collect]]\nname = \"{name}\"\nserver = \"127.0.0.1\"\nport = {{POP3}}\ntls = \"none\"\nuser = \"{name}\"\npassword = \"{SECRET}\"\n{extra}\n"
    )
}
