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
///
/// Every port a test derives from it (the demo's 2110..=2995 and 4190, collect's 3110/3995, 4525) stays
/// below 32768, out of the kernel's ephemeral range (32768..=60999), so an outgoing connection of
/// some other test can never be sitting on a port a server is about to listen on.
pub fn port_offset() -> u16 {
    // Spread test binaries apart by their pid; within a binary, count up in steps of 7: no
    // multiple of 7 up to 280 is the distance between two demo ports (2993/2995, 2465/2525 …),
    // so the demos of one binary never share a port.
    let base = 3_000 + (std::process::id() % 12) as u16 * 2000;
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

/// Wait until `child` accepts connections on `addr`; false when it exits first or 20 s pass.
pub fn wait_for_child_port(child: &mut Child, addr: SocketAddr) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        if matches!(child.try_wait(), Ok(Some(_))) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

/// `postern serve --demo <dir>/demo --port-offset OFFSET`, its stderr in `<dir>/server.log`
/// (appended to when `append`).
fn spawn_demo(dir: &Path, offset: u16, append: bool) -> Child {
    spawn_demo_with(dir, offset, append, &[])
}

fn spawn_demo_with(dir: &Path, offset: u16, append: bool, env: &[(&str, &str)]) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(dir.join("server.log"))
        .expect("log");
    Command::new(bin())
        .args(["serve", "--demo"])
        .arg(dir.join("demo"))
        .args(["--port-offset", &offset.to_string()])
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn postern serve")
}

/// A `postern serve --demo` process with its own directory; killed when dropped.
pub struct Demo {
    pub dir: tempfile::TempDir,
    pub offset: u16,
    pub child: Child,
}

impl Demo {
    /// Start a demo server in a new directory and wait for its SMTP port. When its ports turn
    /// out to be taken (by something outside this test binary) it is made again on another offset.
    pub fn start() -> Demo {
        let dir = tempfile::tempdir().expect("tempdir");
        for attempt in 1.. {
            let offset = port_offset();
            let mut child = spawn_demo(dir.path(), offset, false);
            let smtp = SocketAddr::from(([127, 0, 0, 1], 2525 + offset));
            if wait_for_child_port(&mut child, smtp) {
                return Demo { dir, offset, child };
            }
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
            assert!(
                attempt < 4 && log.contains("Address already in use"),
                "demo server did not start; log:\n{log}"
            );
            let _ = std::fs::remove_dir_all(dir.path().join("demo"));
        }
        unreachable!("the loop returns or panics")
    }

    /// Stop the server and start it again on the same directory and ports (e.g. after a test
    /// edited the config).
    pub fn restart(&mut self) {
        self.restart_with_env(&[]);
    }

    /// [`Demo::restart`] with extra environment variables for the server.
    pub fn restart_with_env(&mut self, env: &[(&str, &str)]) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn_demo_with(self.dir.path(), self.offset, true, env);
        let smtp = self.addr(2525);
        assert!(
            wait_for_child_port(&mut self.child, smtp),
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

pub mod dovecot;
pub mod raw;
pub mod site;

/// Run `cmd` with `input` on its standard input; its output (stdout and stderr captured).
pub fn output_with_stdin(cmd: &mut Command, input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // A program that stops reading early (a refusal) closes the pipe: not an error here.
    let _ = child.stdin.take().expect("stdin").write_all(input);
    child.wait_with_output().expect("wait")
}

/// Run `openssl s_client ARGS… -crlf -ign_eof` feeding `input` (each line a command); returns
/// everything it printed.
pub fn s_client(args: &[&str], input: &str) -> String {
    let mut cmd = Command::new("openssl");
    cmd.arg("s_client").args(args).args(["-crlf", "-ign_eof"]);
    text(&output_with_stdin(&mut cmd, input.as_bytes()))
}

/// Lines of JSON objects (`--json` listings) from a command's standard output.
pub fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    assert!(out.status.success(), "{}", text(out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect()
}
