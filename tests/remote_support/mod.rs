//! Harness for remote delivery tests: a sending postern (driven by `sendmail` and `deliver`),
//! a dnsmasq on a loopback port as the only DNS, and Postfix's `smtp-sink` as remote peers.
#![allow(dead_code)]

use std::collections::HashMap;

use mailparse::MailHeaderMap;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{bin, have, maildir_files, run, text, wait_for_port};

/// Fail (never skip) when a tool the test needs is missing: CI installs them all.
pub fn require(tools: &[&str]) {
    for t in tools {
        assert!(have(t), "{t} is not installed (bin/install-test-deps)");
    }
}

/// `ip:port`, with brackets around an IPv6 address.
pub fn host_port(ip: &str, port: u16) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// Start one of the Python peers in this directory (`script` is its file name) and wait until
/// it accepts connections on `addr`.
pub fn python_peer(script: &str, args: &[String], addr: &str) -> Proc {
    let path = format!(
        "{}/tests/remote_support/{script}",
        env!("CARGO_MANIFEST_DIR")
    );
    let child = Command::new("python3")
        .arg(path)
        .args(args)
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn python peer");
    let p = Proc(child);
    let addr = addr.parse().expect("peer address");
    assert!(
        wait_for_port(addr, Duration::from_secs(20)),
        "{script} did not start"
    );
    p
}

/// Start a Python peer that prints `ready` once it listens (for UDP servers, which cannot be
/// probed by connecting).
pub fn python_peer_ready(script: &str, args: &[String]) -> Proc {
    use std::io::BufRead;
    let path = format!(
        "{}/tests/remote_support/{script}",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut child = Command::new("python3")
        .arg(path)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn python peer");
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = std::io::BufReader::new(out).read_line(&mut line);
    }
    let p = Proc(child);
    assert_eq!(line.trim(), "ready", "{script} did not start");
    p
}

/// A UDP port that was free a moment ago on 127.0.0.1.
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("udp port")
}

/// Send one message over SMTP with Python's smtplib, with ESMTP parameters: `mail_options` for
/// MAIL FROM, and per recipient its RCPT TO options. Returns what smtplib reports as refused.
pub fn smtp_send(
    port: u16,
    from: &str,
    mail_options: &[&str],
    rcpts: &[(&str, &[&str])],
    message: &str,
) -> String {
    let script = r#"
import json, smtplib, sys
port, sender, mail_opts, rcpts, msg = sys.argv[1:6]
s = smtplib.SMTP("127.0.0.1", int(port), timeout=30)
s.ehlo("client.test")
code, reply = s.mail(sender, json.loads(mail_opts))
assert code == 250, (code, reply)
refused = {}
for addr, opts in json.loads(rcpts):
    code, reply = s.rcpt(addr, opts)
    if code != 250:
        refused[addr] = code
code, reply = s.data(msg)
assert code == 250, (code, reply)
s.quit()
print(json.dumps(refused))
"#;
    let mail = serde_json::to_string(mail_options).expect("json");
    let rcpts = serde_json::to_string(rcpts).expect("json");
    crate::common::python(script, &[&port.to_string(), from, &mail, &rcpts, message])
        .trim()
        .to_string()
}

/// A `[[listener]]` for SMTP on 127.0.0.1:port (trusted: loopback is a trusted network).
pub fn listener(port: u16) -> String {
    format!("[[listener]]\nname = \"smtp\"\nprotocol = \"smtp\"\naddress = \"127.0.0.1:{port}\"\n")
}

/// A TCP port that was free a moment ago on `ip`.
pub fn free_port(ip: &str) -> u16 {
    TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A killed-on-drop child process.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// dnsmasq answering only from its command line, on 127.0.0.1:port.
pub struct Dns {
    pub port: u16,
    _proc: Proc,
}

impl Dns {
    /// `records`: dnsmasq options such as `--mx-host=a.test,mx1.a.test,10`.
    pub fn start(records: &[String]) -> Dns {
        // A port below the kernel's ephemeral range (an outgoing connection of another test
        // could hold one in it), made again on another port when it turns out to be taken.
        for _ in 0..8 {
            let port = dns_port();
            let mut child = Command::new("dnsmasq")
                .args([
                    "--keep-in-foreground",
                    "--conf-file=/dev/null",
                    "--no-resolv",
                    "--no-hosts",
                    "--no-poll",
                    "--bind-interfaces",
                    "--listen-address=127.0.0.1",
                    "--pid-file=",
                    "--user=root",
                    // Answer for .test from local data only: NXDOMAIN / NODATA, never REFUSED.
                    "--local=/test/",
                ])
                // Logged to stderr (discarded) unless the records say where.
                .args(
                    (!records.iter().any(|r| r.starts_with("--log-facility=")))
                        .then_some("--log-facility=-"),
                )
                .arg(format!("--port={port}"))
                .args(records)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn dnsmasq");
            if crate::common::wait_for_child_port(&mut child, ([127, 0, 0, 1], port).into()) {
                return Dns {
                    port,
                    _proc: Proc(child),
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("dnsmasq did not start on any of 8 ports");
    }
}

/// A port for a test DNS server: 20000..32000, spread by process and counted up within it.
fn dns_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    20_000 + ((std::process::id() % 100) as u16 * 113 + n * 7) % 12_000
}

/// Postfix `smtp-sink` on ip:port, dumping each transaction into its own file.
pub struct Sink {
    pub ip: String,
    pub port: u16,
    pub dir: PathBuf,
    proc: Option<Proc>,
}

impl Sink {
    /// Start on `ip:port` with extra smtp-sink options (e.g. `-r RCPT` for 4xx at RCPT).
    pub fn start(ip: &str, port: u16, dir: &Path, opts: &[&str]) -> Sink {
        std::fs::create_dir_all(dir).expect("sink dir");
        let mut s = Sink {
            ip: ip.to_string(),
            port,
            dir: dir.to_path_buf(),
            proc: None,
        };
        s.restart(opts);
        s
    }

    /// Stop and start again with other options (same address, same dump directory).
    pub fn restart(&mut self, opts: &[&str]) {
        self.proc = None;
        let template = format!("{}/%H%M%S.", self.dir.display());
        let child = Command::new("smtp-sink")
            .args(["-u", "root", "-d", &template])
            .args(opts)
            .arg(host_port(&self.ip, self.port))
            .arg("64")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn smtp-sink");
        self.proc = Some(Proc(child));
        let addr = host_port(&self.ip, self.port).parse().expect("addr");
        assert!(
            wait_for_port(addr, Duration::from_secs(10)),
            "smtp-sink did not start"
        );
    }

    pub fn stop(&mut self) {
        self.proc = None;
    }

    /// Every transaction received so far (X-Mail-Args / X-Rcpt-Args lines, then the message).
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .collect()
    }

    /// Wait until `n` transactions arrived (or 20 s passed).
    pub fn wait_for(&self, n: usize) -> Vec<String> {
        let start = Instant::now();
        loop {
            let m = self.messages();
            if m.len() >= n || start.elapsed() > Duration::from_secs(20) {
                // smtp-sink creates the file at MAIL and fills it as the data comes.
                std::thread::sleep(Duration::from_millis(300));
                return self.messages();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The sending side: a postern config in a temp dir, hosting `here.test` with user `alice`.
pub struct Sender {
    pub dir: tempfile::TempDir,
}

impl Sender {
    /// `delivery`: lines for `[delivery]`; `rest`: further tables (`[remote]`, `[[domain]]`…).
    pub fn new(delivery: &str, rest: &str) -> Sender {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = format!(
            r#"[server]
hostname = "mail.here.test"
postmaster = "postmaster@here.test"

[paths]
spool = "spool"
mail = "mail"
users = "users.toml"

[delivery]
retry = ["1s"]
{delivery}

[[domain]]
name = "here.test"
[[domain.handler]]
local = "postmaster"
mailbox = "alice"

{rest}
"#
        );
        std::fs::write(dir.path().join("postern.toml"), config).expect("config");
        let s = Sender { dir };
        let out = s.postern_stdin(&["user", "add", "alice", "--password-stdin"], b"pw\n");
        assert!(out.status.success(), "user add: {}", text(&out));
        s
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("postern.toml")
    }

    pub fn postern(&self, args: &[&str]) -> Output {
        self.postern_stdin(args, b"")
    }

    pub fn postern_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        crate::common::output_with_stdin(
            Command::new(bin())
                .arg("--config")
                .arg(self.config())
                .args(args),
            input,
        )
    }

    /// Queue a message with `sendmail` (which makes an immediate attempt).
    pub fn send(&self, from: &str, to: &[&str], message: &str) -> Output {
        // -v: sendmail shows its log lines (it is silent otherwise, for cron).
        let mut args = vec!["sendmail", "-v", "-f", from];
        args.extend_from_slice(to);
        let out = self.postern_stdin(&args, message.as_bytes());
        assert!(out.status.success(), "sendmail: {}", text(&out));
        out
    }

    /// `postern smtpd --listen 127.0.0.1:PORT` on this config (its events in `smtpd.log`).
    pub fn smtpd(&self) -> (Proc, u16) {
        let port = free_port("127.0.0.1");
        let log = std::fs::File::create(self.dir.path().join("smtpd.log")).expect("log");
        let mut child = Command::new(bin())
            .arg("--config")
            .arg(self.config())
            .args(["smtpd", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn smtpd");
        let up = crate::common::wait_for_child_port(&mut child, ([127, 0, 0, 1], port).into());
        let p = Proc(child);
        assert!(up, "smtpd did not start");
        (p, port)
    }

    /// `postern serve` on this config (which must have a listener on `port`; events in
    /// `serve.log`).
    pub fn serve(&self, port: u16) -> Proc {
        let log = std::fs::File::create(self.dir.path().join("serve.log")).expect("log");
        let mut child = Command::new(bin())
            .arg("--config")
            .arg(self.config())
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn serve");
        let up = crate::common::wait_for_child_port(&mut child, ([127, 0, 0, 1], port).into());
        let p = Proc(child);
        assert!(up, "serve did not start");
        p
    }

    /// A file in the sender's directory, as text (empty when missing).
    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    /// `queue ls --json`, one object per message.
    pub fn queue(&self) -> Vec<serde_json::Value> {
        crate::common::json_lines(&self.postern(&["queue", "ls", "--json"]))
    }

    /// Messages in alice's maildir.
    pub fn alice_mail(&self) -> Vec<String> {
        maildir_files(&self.dir.path().join("mail").join("alice"))
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .collect()
    }

    pub fn wait_alice(&self, n: usize) -> Vec<String> {
        let start = Instant::now();
        loop {
            let m = self.alice_mail();
            if m.len() >= n || start.elapsed() > Duration::from_secs(20) {
                return m;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The delivery-status part of a DSN, parsed as a MIME message: (report fields text, parsed mail).
pub fn dsn_status(raw: &str) -> String {
    let mail = mailparse::parse_mail(raw.as_bytes()).expect("parse DSN");
    assert_eq!(mail.ctype.mimetype, "multipart/report", "{raw}");
    assert_eq!(
        mail.ctype.params.get("report-type").map(String::as_str),
        Some("delivery-status")
    );
    let part = mail
        .subparts
        .iter()
        .find(|p| p.ctype.mimetype == "message/delivery-status")
        .expect("delivery-status part");
    String::from_utf8_lossy(&part.get_body_raw().expect("body")).into_owned()
}

/// An RFC 3464 report parsed with a MIME parser: its headers, the per-message fields and one
/// field map per recipient (names lower-cased), and the returned original (message/rfc822 or
/// text/rfc822-headers) as text.
pub struct Dsn {
    pub from: String,
    pub to: String,
    pub message: HashMap<String, String>,
    pub recipients: Vec<HashMap<String, String>>,
    pub original: String,
    pub original_type: String,
}

impl Dsn {
    pub fn parse(raw: &str) -> Dsn {
        let mail = mailparse::parse_mail(raw.as_bytes()).expect("parse DSN");
        let status = dsn_status(raw).replace("\r\n", "\n");
        let mut groups = status
            .split("\n\n")
            .filter(|g| !g.trim().is_empty())
            .map(fields);
        let message = groups.next().expect("per-message fields");
        let original = mail
            .subparts
            .iter()
            .find(|p| {
                matches!(
                    p.ctype.mimetype.as_str(),
                    "message/rfc822" | "text/rfc822-headers"
                )
            })
            .expect("the original message or its headers");
        Dsn {
            from: mail.headers.get_first_value("From").unwrap_or_default(),
            to: mail.headers.get_first_value("To").unwrap_or_default(),
            message,
            recipients: groups.collect(),
            original: String::from_utf8_lossy(&original.get_body_raw().expect("body")).into_owned(),
            original_type: original.ctype.mimetype.clone(),
        }
    }

    /// The fields of the recipient whose Final-Recipient is `rfc822; addr`.
    pub fn recipient(&self, addr: &str) -> &HashMap<String, String> {
        let want = format!("rfc822; {addr}");
        self.recipients
            .iter()
            .find(|r| {
                r.get("final-recipient")
                    .is_some_and(|v| v.eq_ignore_ascii_case(&want))
            })
            .unwrap_or_else(|| panic!("no recipient {addr} in {:?}", self.recipients))
    }
}

fn fields(group: &str) -> HashMap<String, String> {
    let (headers, _) = mailparse::parse_headers(group.as_bytes()).expect("report fields");
    headers
        .iter()
        .map(|h| (h.get_key().to_ascii_lowercase(), h.get_value()))
        .collect()
}

pub const MESSAGE: &str =
    "From: alice@here.test\nTo: someone\nSubject: remote test\n\nHello over there.\n";

const POSTFIX_INSTANCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/remote_support/postfix-instance"
);

/// A private Postfix receiving mail for `domain` on `ip:port` into a maildir; stopped on drop.
pub struct Postfix {
    pub dir: PathBuf,
}

impl Postfix {
    pub fn start(dir: &Path, addr: &str, domain: &str) -> Postfix {
        Postfix::start_for(dir, addr, domain, &[])
    }

    /// Like [`Postfix::start`], taking mail for these `users` of the domain only: any other
    /// recipient gets Postfix's own `550 5.1.1 … User unknown in virtual mailbox table`.
    pub fn start_for(dir: &Path, addr: &str, domain: &str, users: &[&str]) -> Postfix {
        let d = dir.display().to_string();
        let mut args = vec!["start", &d, addr, "receive", domain];
        args.extend_from_slice(users);
        let out = run(POSTFIX_INSTANCE, &args);
        assert!(out.status.success(), "postfix-instance: {}", text(&out));
        Postfix {
            dir: dir.to_path_buf(),
        }
    }

    /// Messages delivered to its maildir, waiting up to 20 s for `n`.
    pub fn wait_mail(&self, n: usize) -> Vec<String> {
        let dir = self.dir.join("mail").join("inbox");
        crate::common::wait_for_mail(&dir, n, Duration::from_secs(20))
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .collect()
    }

    /// Messages still in its queue (not yet delivered to the maildir).
    pub fn queued(&self) -> usize {
        let out = run(
            POSTFIX_INSTANCE,
            &["queued", &self.dir.display().to_string()],
        );
        text(&out).trim().parse().unwrap_or(usize::MAX)
    }

    /// Wait (20 s at most) until its queue is empty; then the messages in its maildir.
    pub fn settled_mail(&self) -> Vec<String> {
        let start = Instant::now();
        while self.queued() != 0 && start.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(100));
        }
        self.wait_mail(0)
    }

    /// Its smtpd's `disconnect from …` log lines (one per SMTP session, with command counts),
    /// without the start-up probe's empty connection.
    pub fn sessions(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("maillog"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("smtpd[") && l.contains("disconnect from"))
            .filter(|l| !l.contains("commands=0/0"))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = run(POSTFIX_INSTANCE, &["stop", &self.dir.display().to_string()]);
    }
}

/// Run `script` with `sh -e` in `dir`; it must succeed. Its standard output, trimmed.
pub fn sh(dir: &Path, script: &str) -> String {
    let out = Command::new("sh")
        .arg("-ec")
        .arg(script)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// An aiosmtpd MX on `ip`:`port` (`tls_peer.py`) that writes each message to `out` with
/// `X-Rcpt-To`, `X-TLS-Version` and `X-SNI` lines; STARTTLS with `(chain, key)` when given,
/// else none.
pub fn tls_peer(ip: &str, port: u16, out: &Path, cert: Option<(PathBuf, PathBuf)>) -> Proc {
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.arg(format!(
        "{}/tests/remote_support/tls_peer.py",
        env!("CARGO_MANIFEST_DIR")
    ))
    .arg(ip)
    .arg(port.to_string())
    .arg(out);
    if let Some((chain, key)) = cert {
        cmd.arg(chain).arg(key);
    }
    let p = Proc(cmd.stderr(Stdio::null()).spawn().unwrap());
    assert!(wait_for_port(
        host_port(ip, port).parse().unwrap(),
        Duration::from_secs(20)
    ));
    p
}

/// The messages a [`tls_peer`] wrote to `out`, in order.
pub fn received(out: &Path) -> Vec<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(out)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|x| x == "eml"));
    files.sort();
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect()
}

/// The queue entry holding a recipient of `domain`: (id, last_error).
pub fn queued_for(s: &Sender, domain: &str) -> Option<(String, String)> {
    s.queue().into_iter().find_map(|m| {
        let text = m.to_string();
        text.contains(&format!("@{domain}\"")).then(|| {
            (
                m["id"].as_str().unwrap_or_default().to_string(),
                m["last_error"].as_str().unwrap_or_default().to_string(),
            )
        })
    })
}

/// Polls `f` every 200 ms until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// A postern `smtpd` on `addr` as a next hop: host name `host`, hosting `domain` (its
/// postmaster delivered to the user `bob`), STARTTLS with `(cert, key)`; its log in
/// `dir/smtpd.log`.
pub fn postern_smtpd(
    dir: &Path,
    addr: (&str, u16),
    host: &str,
    domain: &str,
    (cert, key): (&Path, &Path),
) -> Proc {
    let (ip, port) = addr;
    std::fs::create_dir_all(dir).unwrap();
    let config = format!(
        "[server]\nhostname = \"{host}\"\npostmaster = \"postmaster@{domain}\"\n\
         [paths]\nspool = \"spool\"\nmail = \"mail\"\nusers = \"users.toml\"\n\
         [[domain]]\nname = \"{domain}\"\n[[domain.handler]]\nlocal = \"postmaster\"\nmailbox = \"bob\"\n\
         [[listener]]\nname = \"smtp\"\nprotocol = \"smtp\"\naddress = \"{}\"\n\
         tls = \"starttls\"\ncert = \"{}\"\nkey = \"{}\"\n",
        host_port(ip, port),
        cert.display(),
        key.display()
    );
    let path = dir.join("postern.toml");
    std::fs::write(&path, config).unwrap();
    let add = crate::common::output_with_stdin(
        Command::new(bin()).arg("--config").arg(&path).args([
            "user",
            "add",
            "bob",
            "--password-stdin",
        ]),
        b"pw\n",
    );
    assert!(add.status.success(), "{}", text(&add));
    smtpd_listener(&path, &dir.join("smtpd.log"), &host_port(ip, port))
}

/// `postern smtpd --listener smtp` of `config`, its log in `log`, once it listens on `addr`.
pub fn smtpd_listener(config: &Path, log: &Path, addr: &str) -> Proc {
    let mut child = Command::new(bin())
        .arg("--config")
        .arg(config)
        .args(["smtpd", "--listener", "smtp"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    assert!(crate::common::wait_for_child_port(
        &mut child,
        addr.parse().unwrap()
    ));
    Proc(child)
}

/// The messages a Python peer saved into `dir` so far, in order (`saved_mail.py`: `N.eml` and
/// `count`).
pub fn saved_messages(dir: &Path) -> Vec<Vec<u8>> {
    let count: usize = std::fs::read_to_string(dir.join("count"))
        .ok()
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or(0);
    (1..=count)
        .filter_map(|n| std::fs::read(dir.join(format!("{n}.eml"))).ok())
        .collect()
}
