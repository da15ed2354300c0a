//! Shared harness for integration tests: real `postern` processes on loopback, real clients.
//!
//! Every test gets its own directory and its own port offset, so tests run in parallel. Tests are
//! run by `bin/test` inside a loopback-only network namespace; nothing here may address anything
//! but 127.0.0.0/8 or ::1.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

/// The postern binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_postern"))
}

static NEXT_OFFSET: AtomicU16 = AtomicU16::new(0);

/// A port offset no other test in this process uses (demo ports are 2110..=2995 plus it).
pub fn port_offset() -> u16 {
    // Spread test binaries apart by their pid; within a binary, count up in steps of 7: no
    // multiple of 7 up to 280 is the distance between two demo ports (2993/2995, 2465/2525 …),
    // so the demos of one binary never share a port.
    let base = 10_000 + (std::process::id() % 20) as u16 * 2000;
    base + (NEXT_OFFSET.fetch_add(1, Ordering::SeqCst) % 40) * 7
}

/// Whether a program is installed.
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program} >/dev/null 2>&1"))
        .status()
        .is_ok_and(|s| s.success())
}

/// Wait until something accepts connections on `addr`.
pub fn wait_for_port(addr: SocketAddr, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

/// A `postern serve --demo` process with its own directory; killed when dropped.
pub struct Demo {
    pub dir: tempfile::TempDir,
    pub offset: u16,
    pub child: Child,
}

impl Demo {
    /// Start a demo server and wait for its SMTP port.
    pub fn start() -> Demo {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_in(dir)
    }

    /// Start (or restart) a demo server in an existing directory.
    pub fn start_in(dir: tempfile::TempDir) -> Demo {
        let offset = port_offset();
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log");
        let child = Command::new(bin())
            .args(["serve", "--demo"])
            .arg(dir.path().join("demo"))
            .args(["--port-offset", &offset.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn postern serve");
        let demo = Demo { dir, offset, child };
        assert!(
            wait_for_port(demo.addr(2525), Duration::from_secs(20)),
            "demo server did not start; log:\n{}",
            demo.log()
        );
        demo
    }

    /// Stop the server and start it again on the same directory and ports (e.g. after a test
    /// edited the config).
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join("server.log"))
            .expect("log");
        self.child = Command::new(bin())
            .args(["serve", "--demo"])
            .arg(self.root())
            .args(["--port-offset", &self.offset.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn postern serve");
        assert!(
            wait_for_port(self.addr(2525), Duration::from_secs(20)),
            "demo server did not restart; log:\n{}",
            self.log()
        );
    }

    /// 127.0.0.1 and the demo port `base` (e.g. 2525) shifted by this demo's offset.
    pub fn addr(&self, base: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], base + self.offset))
    }

    pub fn port(&self, base: u16) -> u16 {
        base + self.offset
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("demo")
    }

    pub fn config(&self) -> PathBuf {
        self.root().join("postern.toml")
    }

    pub fn password(&self) -> String {
        std::fs::read_to_string(self.root().join("demo-password"))
            .expect("demo-password")
            .trim()
            .to_string()
    }

    /// The demo user's maildir.
    pub fn maildir(&self, user: &str) -> PathBuf {
        self.root().join("mail").join(user)
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Run `postern --config <demo config> ARGS…`.
    pub fn postern(&self, args: &[&str]) -> Output {
        Command::new(bin())
            .arg("--config")
            .arg(self.config())
            .args(args)
            .output()
            .expect("run postern")
    }

    /// Run `postern --config <demo config> ARGS…` with `input` on stdin; whether it succeeded.
    pub fn postern_stdin_ok(&self, args: &[&str], input: &str) -> bool {
        use std::io::Write;
        let Ok(mut child) = Command::new(bin())
            .arg("--config")
            .arg(self.config())
            .args(args)
            .stdin(Stdio::piped())
            .spawn()
        else {
            return false;
        };
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(input.as_bytes());
        }
        child.wait().is_ok_and(|s| s.success())
    }

    /// Add a user with a password.
    pub fn add_user(&self, name: &str, password: &str) {
        let mut child = Command::new(bin())
            .arg("--config")
            .arg(self.config())
            .args(["user", "add", name, "--password-stdin"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("spawn");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{password}\n").as_bytes())
            .expect("write");
        assert!(child.wait().expect("wait").success());
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Files in `<maildir>/new` and `<maildir>/cur`.
pub fn maildir_files(maildir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        if let Ok(entries) = std::fs::read_dir(maildir.join(sub)) {
            out.extend(entries.filter_map(|e| e.ok()).map(|e| e.path()));
        }
    }
    out.sort();
    out
}

/// Wait until the maildir holds `count` messages (or the limit passes); returns them.
pub fn wait_for_mail(maildir: &Path, count: usize, limit: Duration) -> Vec<PathBuf> {
    let start = Instant::now();
    loop {
        let files = maildir_files(maildir);
        if files.len() >= count || start.elapsed() > limit {
            return files;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Run a Python 3 script (stdlib only); returns its output. Panics with stderr if it fails.
pub fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "python failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run a command and return its output (never panics on a non-zero exit).
pub fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

/// Output as text, stdout then stderr.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub mod raw;
pub mod site;
