//! popd behaviour under concurrency, bad input and each hosting mode, with Python's poplib and
//! sockets, socat (inetd) and systemd-socket-activate (systemd `Accept=no`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
mod pop3util;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// Python helpers: `login(port, pw)` logs in with APOP (plaintext port, shared secret).
const PRELUDE: &str = r#"
import poplib, smtplib, sys, os, time, socket, hashlib, re
def login(port, pw):
    p = poplib.POP3("127.0.0.1", port, timeout=20)
    p.apop("demo", pw)
    return p
"#;

/// A loopback port nothing listens on right now (the kernel's choice).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn py(script: &str, args: &[&str]) -> String {
    python(&format!("{PRELUDE}{script}"), args)
}

#[test]
fn deliveries_and_deletions_by_others_during_a_session() {
    let demo = Demo::start();
    pop3util::fill(&demo.maildir("demo"), 5, 800);
    let out = py(
        r#"
port, smtp_port, pw, maildir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
p = login(port, pw)
print("stat", p.stat())
s = smtplib.SMTP("127.0.0.1", smtp_port, timeout=20)
s.sendmail("a@client.test", ["demo@example.test"], "Subject: late\r\n\r\ndelivered during the session\r\n")
s.quit()
def files():
    return [os.path.join(maildir, d, f) for d in ("new", "cur") for f in os.listdir(os.path.join(maildir, d))]
deadline = time.time() + 20
while len(files()) < 6 and time.time() < deadline:
    time.sleep(0.05)
print("files", len(files()))
print("stat", p.stat())
print("list", len(p.list()[1]))
# another process deletes message 3's file
uid3 = p.uidl(3).split()[2]
target = [f for f in files() if "M2P1" in f]
os.remove(target[0])
errors = []
for n in range(1, 6):
    try:
        p.retr(n)
    except poplib.error_proto as e:
        errors.append((n, e.args[0].decode()))
print("errors", errors)
p.dele(3)
p.dele(1)
print(p.quit().decode())
p = login(port, pw)
print("stat after", p.stat()[0])
print("subjects", sorted(b"".join(p.top(n, 0)[1]).decode().split("Subject: ")[1][:7] for n in range(1, 5)))
p.quit()
"#,
        &[
            &demo.port(2110).to_string(),
            &demo.port(2525).to_string(),
            &demo.password(),
            demo.maildir("demo").to_str().unwrap(),
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("stat (5, "), "{out}");
    assert_eq!(lines[1], "files 6", "{out}\n{}", demo.log());
    assert_eq!(
        lines[2], lines[0],
        "the session sees the maildrop as at login: {out}"
    );
    assert_eq!(lines[3], "list 5", "{out}");
    assert_eq!(
        lines[4], "errors [(3, '-ERR message 3 was deleted by another session')]",
        "{out}"
    );
    assert!(lines[5].contains("(2 messages deleted)"), "{out}");
    assert_eq!(lines[6], "stat after 4", "3 left plus the late one: {out}");
    assert_eq!(
        lines[7], "subjects ['late', 'message', 'message', 'message']",
        "{out}"
    );
}

#[test]
fn kill_9_after_dele_before_quit_deletes_nothing() {
    let demo = Demo::start();
    pop3util::fill(&demo.maildir("demo"), 10, 500);
    let port = free_port(); // a popd of its own, to kill
    let mut popd = Command::new(bin())
        .arg("--config")
        .arg(demo.config())
        .args([
            "popd",
            "--listener",
            "pop3",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("popd");
    assert!(wait_for_port(
        ([127, 0, 0, 1], port).into(),
        Duration::from_secs(20)
    ));
    let mut client = Command::new("python3")
        .arg("-c")
        .arg(format!(
            "{PRELUDE}
p = login(int(sys.argv[1]), sys.argv[2])
for n in range(1, 11):
    p.dele(n)
print('deleted', p.stat(), flush=True)
sys.stdin.readline()
try:
    print(p.quit())
except Exception as e:
    print('quit failed', type(e).__name__, flush=True)
"
        ))
        .args([&port.to_string(), &demo.password()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python");
    let mut out = BufReader::new(client.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "deleted (0, 0)");
    popd.kill().expect("kill -9"); // SIGKILL
    let _ = popd.wait();
    writeln!(client.stdin.take().unwrap()).unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    assert!(line.starts_with("quit failed"), "{line}");
    let _ = client.wait();
    assert_eq!(
        maildir_files(&demo.maildir("demo")).len(),
        10,
        "nothing deleted"
    );
    // the lock died with the process: a new session (on serve's popd) sees all ten
    let out = py(
        "p = login(int(sys.argv[1]), sys.argv[2]); print(p.stat()[0]); p.quit()",
        &[&demo.port(2110).to_string(), &demo.password()],
    );
    assert_eq!(out.trim(), "10");
}

#[test]
fn bad_input_gets_err_and_the_session_goes_on() {
    let demo = Demo::start();
    pop3util::fill(&demo.maildir("demo"), 2, 300);
    let out = py(
        r#"
port, pw = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=20)
f = s.makefile("rb")
greeting = f.readline().decode()
banner = re.search(r"<[^>]+>", greeting).group(0)
def cmd(line):
    s.sendall(line.encode() + b"\r\n")
    return f.readline().decode().rstrip("\r\n")
print(cmd("XYZZY"))
print(cmd("STAT"))
print(cmd("NOOP " + "x" * 10240))
print(cmd("APOP demo " + hashlib.md5((banner + pw).encode()).hexdigest()))
print(cmd("RETR 0"))
print(cmd("RETR 3"))
print(cmd("LIST 99999999999"))
print(cmd("TOP 1 x"))
print(cmd("DELE 1"))
print(cmd("RETR 1"))
print(cmd("STLS"))
print(cmd("NOOP"))
print(cmd("BOGUS"))  # the tenth error: the limit (limits.errors)
print(repr(f.read()))
"#,
        &[&demo.port(2110).to_string(), &demo.password()],
    );
    let want = [
        "-ERR unknown command",
        "-ERR not logged in",
        "-ERR line too long",
        "+OK demo has 2 messages",
        "-ERR no such message, only 2 messages in maildrop",
        "-ERR no such message, only 2 messages in maildrop",
        "-ERR invalid message number \"99999999999\"",
        "-ERR invalid line count",
        "+OK message 1 deleted",
        "-ERR message 1 already deleted",
        "-ERR STLS only in AUTHORIZATION state",
        "+OK",
        "-ERR unknown command",
        "b'-ERR too many errors, closing connection\\r\\n'",
    ];
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), want.len(), "{out}");
    for (got, want) in lines.iter().zip(want) {
        assert!(
            got.starts_with(want),
            "{got:?} should start with {want:?}\n{out}"
        );
    }
    let log = demo.log();
    assert!(log.contains("event=too_many_errors"), "{log}");
    assert!(
        log.contains("deleted=0 quit=false"),
        "a close is no QUIT: {log}"
    );
    assert_eq!(maildir_files(&demo.maildir("demo")).len(), 2);
}

#[test]
fn hosted_by_inetd_socat_and_by_systemd_sockets() {
    assert!(
        have("socat") && have("systemd-socket-activate"),
        "socat and systemd are needed"
    );
    let demo = Demo::start();
    pop3util::fill(&demo.maildir("demo"), 3, 400);
    let postern = format!("{} --config {}", bin().display(), demo.config().display());
    let inetd_port = free_port();
    let systemd_port = free_port();
    let accept_port = free_port();
    let mut socat = Command::new("socat")
        .arg(format!(
            "TCP-LISTEN:{inetd_port},bind=127.0.0.1,reuseaddr,fork"
        ))
        .arg(format!("EXEC:{postern} popd --inetd --listener pop3"))
        .stderr(Stdio::null())
        .spawn()
        .expect("socat");
    let mut activate = Command::new("systemd-socket-activate")
        .args(["-l", &format!("127.0.0.1:{systemd_port}"), "--"])
        .arg(bin())
        .arg("--config")
        .arg(demo.config())
        .args(["popd", "--listener", "pop3s"])
        .stderr(Stdio::null())
        .spawn()
        .expect("systemd-socket-activate");
    // systemd Accept=yes: the TCP connection itself is stdin/stdout
    let mut accept = Command::new("systemd-socket-activate")
        .args([
            "-l",
            &format!("127.0.0.1:{accept_port}"),
            "-a",
            "--inetd",
            "--",
        ])
        .arg(bin())
        .arg("--config")
        .arg(demo.config())
        .args(["popd", "--inetd", "--listener", "pop3"])
        .stderr(Stdio::null())
        .spawn()
        .expect("systemd-socket-activate -a");
    assert!(wait_for_port(
        ([127, 0, 0, 1], accept_port).into(),
        Duration::from_secs(20)
    ));
    assert!(wait_for_port(
        ([127, 0, 0, 1], inetd_port).into(),
        Duration::from_secs(20)
    ));
    assert!(wait_for_port(
        ([127, 0, 0, 1], systemd_port).into(),
        Duration::from_secs(20)
    ));
    let out = py(
        r#"
import ssl
inetd, systemd, pw = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
p = poplib.POP3("127.0.0.1", inetd, timeout=20)
p.stls(ctx); p.user("demo"); p.pass_(pw)
print("inetd", p.stat()[0], len(p.retr(2)[1]) > 3)
p.quit()
p = poplib.POP3_SSL("127.0.0.1", systemd, context=ctx, timeout=20)
p.user("demo"); p.pass_(pw)
print("systemd", p.stat()[0], p.uidl(1).split()[1])
p.quit()
p = poplib.POP3("127.0.0.1", int(sys.argv[4]), timeout=20)
p.stls(ctx); p.user("demo"); p.pass_(pw)
print("accept", p.stat()[0])
p.quit()
"#,
        &[
            &inetd_port.to_string(),
            &systemd_port.to_string(),
            &demo.password(),
            &accept_port.to_string(),
        ],
    );
    let _ = accept.kill();
    let _ = accept.wait();
    let _ = socat.kill();
    let _ = activate.kill();
    let _ = socat.wait();
    let _ = activate.wait();
    assert_eq!(out, "inetd 3 True\nsystemd 3 b'1'\naccept 3\n");

    // inetd on a pipe: stdin/stdout are not a socket
    let mut child = Command::new(bin())
        .arg("--config")
        .arg(demo.config())
        .args(["popd", "--inetd"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("popd --inetd");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"CAPA\r\nQUIT\r\n")
        .unwrap();
    let out = child.wait_with_output().expect("wait");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("+OK mail.example.test POP3 server ready <"),
        "{text}"
    );
    assert!(
        text.contains("\r\nUIDL\r\n") && text.ends_with("signing off\r\n"),
        "{text}"
    );
}

#[test]
fn big_messages_stream_whole() {
    let demo = Demo::start();
    let sent = pop3util::fill(&demo.maildir("demo"), 2, 3_000_000);
    let out = py(
        r#"
p = login(int(sys.argv[1]), sys.argv[2])
for n in (1, 2):
    resp, lines, octets = p.retr(n)
    body = b"\n".join(lines[lines.index(b"") + 1:]) + b"\n"
    print(hashlib.sha256(body).hexdigest(), octets == int(p.list(n).split()[2]))
p.quit()
"#,
        &[&demo.port(2110).to_string(), &demo.password()],
    );
    let mut got = pop3util::Hashes::new();
    for line in out.lines() {
        let (hash, size_ok) = line.split_once(' ').expect("two fields");
        assert_eq!(size_ok, "True", "{out}");
        *got.entry(hash.to_string()).or_default() += 1;
    }
    assert_eq!(got, sent, "{out}");
}

/// Logs in with APOP and sends every command of `sys.argv[3:]` in one write; prints per reply
/// `command|status|lines|sha256 of the body` (multi-line replies dot-unstuffed, bodies with LF).
const PIPELINE: &str = r#"
port, pw, cmds = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
s = socket.create_connection(("127.0.0.1", port), timeout=30)
f = s.makefile("rb")
banner = re.search(r"<[^>]+>", f.readline().decode()).group(0)
cmds = ["APOP demo " + hashlib.md5((banner + pw).encode()).hexdigest()] + cmds
s.sendall("".join(c + "\r\n" for c in cmds).encode())
for c in cmds:
    status = f.readline()
    assert status.endswith(b"\r\n"), status
    status = status[:-2].decode()
    words = c.split()
    multi = status.startswith("+OK") and (
        words[0] in ("RETR", "TOP") or (words[0] in ("LIST", "UIDL") and len(words) == 1))
    lines = []
    while multi:
        l = f.readline()
        assert l.endswith(b"\r\n"), l
        if l == b".\r\n":
            break
        lines.append(l[:-2][1:] if l.startswith(b".") else l[:-2])
    lf = b"".join(l + b"\n" for l in lines)
    body = lf.split(b"\n\n", 1)[1] if b"\n\n" in lf else b""
    sha = hashlib.sha256(body).hexdigest() if words[0] == "RETR" and multi else "-"
    print("%s|%s|%d|%s" % (words[0], status, len(lines), sha))
print("after", repr(f.read()))
"#;

#[test]
fn pipelined_transaction_commands_answered_in_order() {
    let demo = Demo::start();
    let md = demo.maildir("demo");
    pop3util::fill(&md, 3, 2000);
    // A fourth message beyond what is streamed in place (pop3::conversation::INLINE_MESSAGE).
    let big = pop3util::message(3, 400_000);
    std::fs::write(md.join("new/1700000001.M3P1.filltest"), &big).expect("write");
    let sha = |i: usize, size: usize| {
        pop3util::sha256_hex(&pop3util::body_of(&pop3util::message(i, size)))
    };
    let mut cmds: Vec<String> = [
        "STAT", "LIST", "UIDL", "RETR 1", "TOP 1 0", "RETR 4", "LIST 2", "DELE 2", "STAT",
        "RETR 2", "UIDL 3", "NOOP", "RSET", "STAT",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Enough RETRs that the replies outgrow one output batch (pop3::conversation::OUT_BATCH).
    cmds.extend(std::iter::repeat_n("RETR 3".to_string(), 150));
    cmds.push("DELE 1".into());
    cmds.push("QUIT".into());
    let mut args = vec![demo.port(2110).to_string(), demo.password()];
    args.extend(cmds.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = py(PIPELINE, &args);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), cmds.len() + 2, "{out}");
    let crlf_size = |m: &[u8]| m.len() + m.iter().filter(|&&b| b == b'\n').count();
    let sizes: Vec<usize> = (0..3)
        .map(|i| crlf_size(&pop3util::message(i, 2000)))
        .chain([crlf_size(&big)])
        .collect();
    let total: usize = sizes.iter().sum();
    let without_2 = total - sizes[1];
    let want: Vec<String> = [
        "APOP|+OK demo has 4 messages".to_string(),
        format!("STAT|+OK 4 {total}|0|-"),
        format!("LIST|+OK 4 messages ({total} octets)|4|-"),
        "UIDL|+OK unique-id listing follows|4|-".to_string(),
        format!("RETR|+OK {} octets|", sizes[0]),
        "TOP|+OK top of message follows|5|-".to_string(),
        format!("RETR|+OK {} octets|", sizes[3]),
        format!("LIST|+OK 2 {}|0|-", sizes[1]),
        "DELE|+OK message 2 deleted|0|-".to_string(),
        format!("STAT|+OK 3 {without_2}|0|-"),
        "RETR|-ERR message 2 already deleted|0|-".to_string(),
        "UIDL|+OK 3 ".to_string(),
        "NOOP|+OK|0|-".to_string(),
        format!("RSET|+OK maildrop has 4 messages ({total} octets)|0|-"),
        format!("STAT|+OK 4 {total}|0|-"),
    ]
    .into_iter()
    .chain(std::iter::repeat_n(
        format!("RETR|+OK {} octets|", sizes[2]),
        150,
    ))
    .chain([
        "DELE|+OK message 1 deleted|0|-".to_string(),
        "QUIT|+OK mail.example.test POP3 server signing off (1 messages deleted)|0|-".to_string(),
        "after b''".to_string(),
    ])
    .collect();
    for (got, want) in lines.iter().zip(&want) {
        assert!(
            got.starts_with(want.as_str()),
            "{got:?} should start with {want:?}\n{out}"
        );
    }
    // Each RETR streamed the whole message, byte for byte after dot-unstuffing.
    let retr_sha = |line: &str| line.rsplit('|').next().unwrap_or_default().to_string();
    assert_eq!(retr_sha(lines[4]), sha(0, 2000));
    assert_eq!(
        retr_sha(lines[6]),
        pop3util::sha256_hex(&pop3util::body_of(&big))
    );
    for line in &lines[15..165] {
        assert_eq!(retr_sha(line), sha(2, 2000), "{line}");
    }
    assert_eq!(maildir_files(&md).len(), 3, "only DELE 1 was applied");
}

/// `chattr +i` on a directory (even root may then not create, rename or remove entries in it);
/// undone when dropped, so the temporary directory can be removed.
struct Immutable(std::path::PathBuf);

impl Immutable {
    fn set(dir: &std::path::Path) -> Immutable {
        let out = run("chattr", &["+i", dir.to_str().expect("path")]);
        assert!(out.status.success(), "chattr +i: {}", text(&out));
        Immutable(dir.to_path_buf())
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = run("chattr", &["-i", self.0.to_str().unwrap_or_default()]);
    }
}

#[test]
fn a_mail_volume_refusing_writes_gets_sys_temp_and_loses_nothing() {
    assert!(
        have("chattr"),
        "chattr is not installed (bin/install-test-deps installs e2fsprogs)"
    );
    let demo = Demo::start();
    let md = demo.maildir("demo");
    pop3util::fill(&md, 3, 600);
    let script = r#"
port, pw, what = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("127.0.0.1", port), timeout=20)
f = s.makefile("rb")
banner = re.search(r"<[^>]+>", f.readline().decode()).group(0)
def cmd(line):
    s.sendall(line.encode() + b"\r\n")
    return f.readline().decode().rstrip("\r\n")
apop = "APOP demo " + hashlib.md5((banner + pw).encode()).hexdigest()
print(cmd(apop))
if what == "login":
    print(cmd("STAT"))
    input()  # the test makes the volume writable again
    print(cmd(apop))
print(cmd("DELE 1"))
print(cmd("DELE 2"))
if what == "quit":
    input()  # the test makes cur/ immutable
print(cmd("QUIT"))
"#;
    let session = |what: &str| {
        Command::new("python3")
            .arg("-c")
            .arg(format!("{PRELUDE}{script}"))
            .args([&demo.port(2110).to_string(), &demo.password(), what])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python")
    };
    let read_line = |r: &mut BufReader<std::process::ChildStdout>| {
        let mut l = String::new();
        r.read_line(&mut l).expect("read");
        l.trim_end().to_string()
    };

    // 1. At login the state file must be written (the new messages numbered): the maildir
    //    refuses it, so the login answers [SYS/TEMP] and the session stays usable.
    let guard = Immutable::set(&md);
    let mut c = session("login");
    let mut out = BufReader::new(c.stdout.take().expect("stdout"));
    assert_eq!(
        read_line(&mut out),
        "-ERR [SYS/TEMP] mailbox unavailable, try again later"
    );
    assert_eq!(read_line(&mut out), "-ERR not logged in");
    drop(guard);
    writeln!(c.stdin.take().expect("stdin")).expect("write");
    assert!(read_line(&mut out).starts_with("+OK demo has 3 messages"));
    assert_eq!(read_line(&mut out), "+OK message 1 deleted");
    assert_eq!(read_line(&mut out), "+OK message 2 deleted");
    assert!(read_line(&mut out).contains("(2 messages deleted)"));
    assert!(c.wait().expect("wait").success());
    assert_eq!(maildir_files(&md).len(), 1);

    // 2. At QUIT the files cannot be removed: [SYS/TEMP], and the messages stay.
    for f in maildir_files(&md) {
        std::fs::remove_file(f).expect("rm");
    }
    pop3util::fill(&md, 3, 600);
    let mut c = session("quit");
    let mut out = BufReader::new(c.stdout.take().expect("stdout"));
    assert!(read_line(&mut out).starts_with("+OK demo has 3 messages"));
    assert_eq!(read_line(&mut out), "+OK message 1 deleted");
    assert_eq!(read_line(&mut out), "+OK message 2 deleted");
    // (New mail stays in new/ until its flags change: both directories refuse.)
    let guard = (
        Immutable::set(&md.join("cur")),
        Immutable::set(&md.join("new")),
    );
    writeln!(c.stdin.take().expect("stdin")).expect("write");
    assert_eq!(
        read_line(&mut out),
        "-ERR [SYS/TEMP] some deleted messages not removed"
    );
    assert!(c.wait().expect("wait").success());
    drop(guard);
    assert_eq!(maildir_files(&md).len(), 3, "nothing lost");
    let log = demo.log();
    assert!(
        log.contains("event=login_failed protocol=pop3 listener=pop3")
            && log.contains("mechanism=APOP user=demo reason="),
        "{log}"
    );
    assert!(log.contains("deleted=0 quit=true"), "{log}");
    // A later session sees all three and deletes normally.
    let out = py(
        "p = login(int(sys.argv[1]), sys.argv[2]); print(p.stat()[0]); p.dele(1); print(p.quit().decode())",
        &[&demo.port(2110).to_string(), &demo.password()],
    );
    assert!(
        out.starts_with("3\n+OK") && out.contains("(1 messages deleted)"),
        "{out}"
    );
}
