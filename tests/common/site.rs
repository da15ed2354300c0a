//! A hand-written site (config + users + spool + mail volume) for tests that need settings the demo
//! does not have: short timeouts, small limits, JSON logs, no immediate delivery.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use super::{bin, port_offset, wait_for_port};

/// A site directory with `postern.toml`, a users file holding `demo` (password `secret`) and
/// domain `example.test`.
pub struct Site {
    pub dir: tempfile::TempDir,
    /// A port this site may use (2525 + a per-test offset).
    pub port: u16,
}

impl Site {
    /// A site whose config is the base text followed by `extra` (TOML sections, e.g.
    /// `"[limits]\nidle_timeout = \"2s\"\n"`). `extra` may hold `[limits]`, `[delivery]`, `[log]`.
    pub fn new(extra: &str) -> Site {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = 2525 + port_offset();
        let text = format!(
            "[server]\nhostname = \"mx.example.test\"\npostmaster = \"postmaster@example.test\"\n\n\
             [paths]\nspool = \"spool\"\nmail = \"mail\"\nusers = \"users.toml\"\n\n\
             [[domain]]\nname = \"example.test\"\n\
             [[domain.handler]]\nlocal = \"postmaster\"\nmailbox = \"demo\"\n\n{extra}"
        );
        std::fs::write(dir.path().join("postern.toml"), text).expect("write config");
        let site = Site { dir, port };
        site.add_user("demo", "secret");
        site
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn config(&self) -> PathBuf {
        self.root().join("postern.toml")
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn maildir(&self, user: &str) -> PathBuf {
        self.root().join("mail").join(user)
    }

    pub fn spool(&self) -> PathBuf {
        self.root().join("spool")
    }

    /// A `postern --config <site>` command.
    pub fn command(&self) -> Command {
        let mut c = Command::new(bin());
        c.arg("--config").arg(self.config());
        c
    }

    /// Run `postern --config <site> ARGS…` to completion.
    pub fn postern(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("run postern")
    }

    pub fn add_user(&self, name: &str, password: &str) {
        let mut child = self
            .command()
            .args(["user", "add", name, "--password-stdin"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("spawn user add");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{password}\n").as_bytes())
            .expect("write password");
        assert!(child.wait().expect("wait").success(), "user add failed");
    }

    /// Start `postern smtpd --listen 127.0.0.1:PORT` with stderr in `name.log`; wait for the port.
    pub fn smtpd(&self, name: &str) -> Daemon {
        let log = self.root().join(format!("{name}.log"));
        let child = self
            .command()
            .args(["smtpd", "--listen", &self.addr().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("spawn smtpd");
        let d = Daemon { child, log };
        assert!(
            wait_for_port(self.addr(), Duration::from_secs(20)),
            "smtpd did not start:\n{}",
            d.log()
        );
        d
    }

    /// Queue files (message + state) currently in the spool, any area.
    pub fn queued(&self) -> usize {
        count_files(&self.spool())
    }
}

fn count_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                count_files(&p)
            } else {
                1
            }
        })
        .sum()
}

/// A daemon process killed (SIGKILL) when dropped.
pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
}

impl Daemon {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
