//! popd behaviour under concurrency, bad input and each hosting mode, with Python's poplib and
//! sockets, socat (inetd) and systemd-socket-activate (systemd `Accept=no`).

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
