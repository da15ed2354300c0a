//! A private copy of /etc for tests of system users: a mount namespace (private propagation, so
//! nothing reaches the host) in which a copy of /etc is bind-mounted over /etc, held open by a
//! `sleep`; commands and daemons join it with `nsenter -m`. `useradd`, `chpasswd` and `usermod`
//! change only the copy (they replace /etc/passwd by rename, which works inside a copied
//! directory but not over a bind-mounted file). /run is a fresh tmpfs inside (winbindd's socket
//! directory, /run/samba/winbindd, is compiled into libwbclient). Needs root, like every
//! namespace test here.
#![allow(dead_code)]

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub struct PrivateEtc {
    pub dir: tempfile::TempDir,
    holder: Child,
}

impl PrivateEtc {
    pub fn new() -> PrivateEtc {
        let dir = tempfile::tempdir().expect("tempdir");
        let etc = dir.path().join("etc");
        let copy = Command::new("cp")
            .args(["-a", "/etc"])
            .arg(&etc)
            .status()
            .expect("cp");
        assert!(copy.success(), "cannot copy /etc");
        std::fs::create_dir_all(dir.path().join("home")).expect("home");
        let script = format!(
            "set -e; mount --bind '{}' /etc; mount -t tmpfs tmpfs /run; \
             mkdir -p /run/samba/winbindd; echo ready; exec sleep 3600",
            etc.display()
        );
        let mut holder = Command::new("unshare")
            .args(["-m", "--propagation", "private", "--", "sh", "-c", &script])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("unshare -m (root needed)");
        let mut line = String::new();
        let stdout = holder.stdout.take().expect("stdout");
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read");
        assert_eq!(line.trim(), "ready", "the private /etc did not come up");
        PrivateEtc { dir, holder }
    }

    /// The copied /etc as the host sees it.
    pub fn etc(&self) -> PathBuf {
        self.dir.path().join("etc")
    }

    /// A home directory for a test account (inside the temp dir, never the host's /home).
    pub fn home(&self, user: &str) -> PathBuf {
        self.dir.path().join("home").join(user)
    }

    /// `program ARGS…` inside the namespace.
    pub fn command(&self, program: &Path) -> Command {
        let mut c = Command::new("nsenter");
        c.args(["-t", &self.holder.id().to_string(), "-m", "--"])
            .arg(program);
        c
    }

    /// Run a command inside; its output.
    pub fn run(&self, program: &str, args: &[&str], input: Option<&str>) -> Output {
        let mut c = self.command(Path::new(program));
        c.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("nsenter");
        if let Some(text) = input {
            use std::io::Write;
            let _ = child
                .stdin
                .take()
                .expect("stdin")
                .write_all(text.as_bytes());
        }
        drop(child.stdin.take());
        child.wait_with_output().expect("wait")
    }

    /// Run a command inside; panics with its output when it fails.
    pub fn ok(&self, program: &str, args: &[&str], input: Option<&str>) {
        let out = self.run(program, args, input);
        assert!(
            out.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A system account with a home under the temp dir and this password.
    pub fn add_account(&self, user: &str, uid: u32, groups: Option<&str>, password: &str) {
        let home = self.home(user).display().to_string();
        let uid = uid.to_string();
        let mut args = vec!["-m", "-d", &home, "-u", &uid, "-U", "-s", "/bin/sh"];
        if let Some(g) = groups {
            args.extend(["-G", g]);
        }
        args.push(user);
        self.ok("useradd", &args, None);
        self.ok("chpasswd", &[], Some(&format!("{user}:{password}\n")));
    }
}

impl Drop for PrivateEtc {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}
