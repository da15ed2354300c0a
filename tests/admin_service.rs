//! Running postern as a service: logs under a real inetd (openbsd-inetd) never reach the client,
//! the log targets (syslog's socket, the journal's native protocol, a file reopened at SIGHUP),
//! SIGHUP reloading the configuration for new sessions only, and `serve` without listeners.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::site::Site;
use common::*;

/// Datagrams received on a unix socket (a syslog or journal reader) until `until` holds for the
/// text so far, or 10 s pass.
fn read_datagrams(socket: &UnixDatagram, until: impl Fn(&[Vec<u8>]) -> bool) -> Vec<Vec<u8>> {
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    while start.elapsed() < Duration::from_secs(10) && !until(&got) {
        if let Ok(n) = socket.recv(&mut buf) {
            got.push(buf[..n].to_vec());
        }
    }
    got
}

fn joined(datagrams: &[Vec<u8>]) -> String {
    datagrams
        .iter()
        .map(|d| String::from_utf8_lossy(d).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The value of `key=` in a logfmt line (unquoted values only).
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split(' ')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

/// Send one message with Python's smtplib (it refuses a greeting that is not a 220 reply).
fn smtplib_send(port: u16, user_pass: Option<(&str, &str)>, message_id: &str) {
    let login = user_pass.map_or(String::new(), |(u, p)| format!("s.login({u:?}, {p:?})"));
    let script = format!(
        r#"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
s.ehlo("client.test")
{login}
s.sendmail("alice@client.test", ["demo@example.test"], "Subject: hi\r\nMessage-ID: {message_id}\r\n\r\nhello\r\n")
s.quit()
"#
    );
    let out = python(&script, &[&port.to_string()]);
    assert!(out.is_empty(), "smtplib: {out}");
}

/// The first line a client gets from `addr`.
fn first_line(addr: SocketAddr) -> String {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).expect("read");
    let _ = (&stream).write_all(b"QUIT\r\n");
    line
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn under_inetd_the_log_goes_to_syslog_and_never_to_the_client() {
    assert!(
        Path::new("/usr/sbin/inetd").exists(),
        "openbsd-inetd is not installed (bin/install-test-deps)"
    );
    // Site one logs with the default target (stderr, the connection under inetd): syslog on a
    // test socket instead. Site two has no syslog at all: its lines go nowhere.
    let with_syslog = Site::new("");
    let sock_path = with_syslog.root().join("log.sock");
    let syslog = UnixDatagram::bind(&sock_path).expect("bind syslog socket");
    std::fs::write(
        with_syslog.config(),
        std::fs::read_to_string(with_syslog.config()).unwrap()
            + &format!(
                "\n[log]\nsyslog_socket = {:?}\n",
                sock_path.display().to_string()
            ),
    )
    .unwrap();
    let without = Site::new(&format!(
        "[log]\nsyslog_socket = {:?}\n",
        "/nonexistent/log.sock"
    ));
    let port_one = with_syslog.port + 1;
    let port_two = without.port + 2;
    let conf = with_syslog.root().join("inetd.conf");
    let line = |port: u16, site: &Site| {
        format!(
            "127.0.0.1:{port} stream tcp nowait root {bin} postern --config {config} smtpd --inetd\n",
            bin = bin().display(),
            config = site.config().display()
        )
    };
    std::fs::write(
        &conf,
        line(port_one, &with_syslog) + &line(port_two, &without),
    )
    .unwrap();
    let inetd = Killed(
        Command::new("/usr/sbin/inetd")
            .args(["-d", "-i"])
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(with_syslog.root().join("inetd.log")).unwrap())
            .spawn()
            .expect("start inetd"),
    );
    let one = SocketAddr::from(([127, 0, 0, 1], port_one));
    let two = SocketAddr::from(([127, 0, 0, 1], port_two));
    assert!(
        wait_for_port(one, Duration::from_secs(10)) && wait_for_port(two, Duration::from_secs(10)),
        "inetd did not listen: {}",
        std::fs::read_to_string(with_syslog.root().join("inetd.log")).unwrap_or_default()
    );
    // The probes above were sessions too; let their log lines arrive first.
    read_datagrams(&syslog, |got| {
        joined(got).matches("event=client_disconnect").count() >= 1
    });
    for addr in [one, two] {
        let greeting = first_line(addr);
        assert!(
            greeting.starts_with("220 mx.example.test"),
            "{addr}: the first line is not the greeting: {greeting:?}"
        );
    }
    smtplib_send(port_one, None, "<inetd.1@client.test>");
    smtplib_send(port_two, None, "<inetd.2@client.test>");
    assert_eq!(
        wait_for_mail(&with_syslog.maildir("demo"), 1, Duration::from_secs(10)).len(),
        1
    );
    assert_eq!(
        wait_for_mail(&without.maildir("demo"), 1, Duration::from_secs(10)).len(),
        1
    );
    let got = read_datagrams(&syslog, |got| {
        joined(got).contains("message_id=<inetd.1@client.test>")
            && joined(got).matches("event=client_disconnect").count() >= 3
    });
    let text = joined(&got);
    // RFC 3164 on the local socket: facility mail (2), severity info (6): <22>.
    let received = got
        .iter()
        .map(|d| String::from_utf8_lossy(d).into_owned())
        .find(|l| l.contains("event=message_received"))
        .unwrap_or_else(|| panic!("no message_received in syslog: {text}"));
    assert!(received.starts_with("<22>"), "{received}");
    assert!(received.contains(" postern["), "{received}");
    assert_eq!(
        field(&received, "message_id"),
        Some("<inetd.1@client.test>"),
        "{received}"
    );
    let session = field(&received, "session").expect("session=");
    let connect = text
        .lines()
        .filter(|l| l.contains("event=client_connect"))
        .find(|l| field(l, "session") == Some(session));
    assert!(
        connect.is_some(),
        "no client_connect with session={session}: {text}"
    );
    let delivered = text
        .lines()
        .find(|l| l.contains("event=delivered"))
        .expect("delivered");
    assert_eq!(field(delivered, "to"), Some("demo"), "{delivered}");
    assert_eq!(
        field(delivered, "orig_to"),
        Some("demo@example.test"),
        "{delivered}"
    );
    // Site two's lines went nowhere; none reached site one's syslog either.
    assert!(!text.contains("inetd.2@client.test"), "{text}");
    drop(inetd);
}

/// `[log] target = "journald"`: one datagram per event in the journal's native protocol, the
/// event's fields as POSTERN_* fields; `target = "syslog"` with a facility.
#[test]
fn syslog_and_journal_targets() {
    for (target, facility) in [("journald", "local3"), ("syslog", "daemon")] {
        let probe = Site::new("");
        let sock_path = probe.root().join("target.sock");
        let reader = UnixDatagram::bind(&sock_path).expect("bind");
        let key = if target == "journald" {
            "journal_socket"
        } else {
            "syslog_socket"
        };
        let site_extra = format!(
            "[log]\ntarget = \"{target}\"\nfacility = \"{facility}\"\n{key} = {:?}\n\
             [auth.smtp]\nplain = \"allow\"\ncram_md5 = \"deny\"\n",
            sock_path.display().to_string()
        );
        std::fs::write(
            probe.config(),
            std::fs::read_to_string(probe.config()).unwrap() + "\n" + &site_extra,
        )
        .unwrap();
        probe.add_user("carol", "pw-carol-1");
        let daemon = probe.smtpd("smtpd");
        smtplib_send(
            probe.port,
            Some(("carol", "pw-carol-1")),
            "<t.1@client.test>",
        );
        let got = read_datagrams(&reader, |got| {
            joined(got).contains("<t.1@client.test>") && joined(got).contains("event=delivered")
        });
        let text = joined(&got);
        assert!(
            daemon.log().is_empty(),
            "{target}: stderr got {}",
            daemon.log()
        );
        let received = got
            .iter()
            .map(|d| String::from_utf8_lossy(d).into_owned())
            .find(|d| d.contains("event=message_received"))
            .unwrap_or_else(|| panic!("{target}: no message_received: {text}"));
        if target == "journald" {
            // local3 is facility 19.
            for want in [
                "\nSYSLOG_FACILITY=19\n",
                "\nSYSLOG_IDENTIFIER=postern\n",
                "\nPOSTERN_EVENT=message_received\n",
                "\nPOSTERN_USER=carol\n",
                "\nPOSTERN_MESSAGE_ID=<t.1@client.test>\n",
            ] {
                assert!(received.contains(want), "{want:?} not in {received:?}");
            }
            assert!(received.starts_with("MESSAGE=ts="), "{received:?}");
        } else {
            // daemon (3), info (6): <30>.
            assert!(received.starts_with("<30>"), "{received}");
            assert_eq!(field(&received, "user"), Some("carol"), "{received}");
        }
    }
}

/// `target = "file"`: lines appended to the file; after logrotate moved it, SIGHUP opens a new
/// one and the next lines go there.
#[test]
fn a_log_file_is_reopened_at_sighup() {
    let site = Site::new("[log]\ntarget = \"file\"\nfile = \"postern.log\"\n");
    let daemon = site.smtpd("smtpd");
    let log = site.root().join("postern.log");
    smtplib_send(site.port, None, "<f.1@client.test>");
    wait_until(|| {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("<f.1@client.test>")
    });
    std::fs::rename(&log, site.root().join("postern.log.1")).unwrap();
    hangup(&daemon.child);
    wait_until(|| log.exists());
    smtplib_send(site.port, None, "<f.2@client.test>");
    wait_until(|| {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("<f.2@client.test>")
    });
    let old = std::fs::read_to_string(site.root().join("postern.log.1")).unwrap();
    assert!(!old.contains("<f.2@client.test>"), "{old}");
    assert!(daemon.log().is_empty(), "stderr: {}", daemon.log());
}

fn wait_until(what: impl Fn() -> bool) {
    let start = Instant::now();
    while !what() {
        assert!(start.elapsed() < Duration::from_secs(10), "timed out");
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn hangup(child: &Child) {
    let out = run("kill", &["-HUP", &child.id().to_string()]);
    assert!(out.status.success(), "{}", text(&out));
}

/// A raw SMTP session, one command at a time.
struct Session {
    reader: BufReader<TcpStream>,
}

impl Session {
    fn open(addr: SocketAddr) -> Session {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut s = Session {
            reader: BufReader::new(stream),
        };
        let greeting = s.reply();
        assert!(greeting.starts_with("220"), "{greeting}");
        assert!(s.say("EHLO client.test").starts_with("250"));
        s
    }

    fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).expect("read");
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return all;
            }
        }
    }

    fn say(&mut self, command: &str) -> String {
        self.reader
            .get_mut()
            .write_all(format!("{command}\r\n").as_bytes())
            .expect("write");
        self.reply()
    }

    /// The reply to RCPT TO `to` in a new transaction.
    fn rcpt(&mut self, to: &str) -> String {
        self.say("RSET");
        assert!(self.say("MAIL FROM:<a@client.test>").starts_with("250"));
        self.say(&format!("RCPT TO:<{to}>"))
    }
}

#[test]
fn sighup_reloads_the_config_for_new_sessions_only() {
    let site = Site::new("");
    let base = std::fs::read_to_string(site.config()).unwrap();
    let daemon = site.smtpd("smtpd");
    let mut old = Session::open(site.addr());
    assert!(old.rcpt("sales@example.test").starts_with("550"));

    // A broken config is refused with its errors; the running one stays.
    std::fs::write(
        site.config(),
        base.clone() + "\n[limits]\nrecipients = \"many\"\n",
    )
    .unwrap();
    hangup(&daemon.child);
    wait_until(|| daemon.log().contains("event=reload_failed"));
    let log = daemon.log();
    let failed = log
        .lines()
        .find(|l| l.contains("event=reload_failed"))
        .unwrap();
    assert!(failed.contains("postern.toml:"), "{failed}");
    assert!(failed.contains("kept"), "{failed}");
    let mut still = Session::open(site.addr());
    assert!(still.rcpt("demo@example.test").starts_with("250"));

    // A good one with a new handler: new sessions have it, the open one keeps its settings.
    let with_sales = base.replace(
        "[[domain]]\nname = \"example.test\"\n",
        "[[domain]]\nname = \"example.test\"\n[[domain.handler]]\nlocal = \"sales\"\nmailbox = \"demo\"\n",
    );
    assert_ne!(with_sales, base);
    std::fs::write(site.config(), with_sales).unwrap();
    hangup(&daemon.child);
    wait_until(|| daemon.log().contains("event=reloaded"));
    let mut new = Session::open(site.addr());
    let reply = new.rcpt("sales@example.test");
    assert!(reply.starts_with("250"), "{reply}");
    let reply = old.rcpt("sales@example.test");
    assert!(
        reply.starts_with("550"),
        "the open session changed: {reply}"
    );
    assert!(still.say("QUIT").starts_with("221"));
    assert!(old.say("QUIT").starts_with("221"));
    assert!(new.say("QUIT").starts_with("221"));
    let mut child = daemon;
    assert!(matches!(child.child.try_wait(), Ok(None)), "smtpd exited");
}

/// `serve` with no `[[listener]]` is the queue runner (and collector): it keeps running and
/// delivers what is queued, until SIGTERM.
#[test]
fn serve_without_listeners_runs_the_queue() {
    let site = Site::new("[delivery]\nimmediate = false\nscan_interval = \"1s\"\n");
    let mut sm = site
        .command()
        .args(["sendmail", "demo@example.test"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sendmail");
    sm.stdin
        .take()
        .unwrap()
        .write_all(b"Subject: queued\n\nfor the runner\n")
        .unwrap();
    assert!(sm.wait().unwrap().success());
    assert!(maildir_files(&site.maildir("demo")).is_empty());
    let log = site.root().join("serve.log");
    let mut serve = Killed(
        site.command()
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("serve"),
    );
    assert_eq!(
        wait_for_mail(&site.maildir("demo"), 1, Duration::from_secs(10)).len(),
        1
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        matches!(serve.0.try_wait(), Ok(None)),
        "serve exited: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let out = run("kill", &["-TERM", &serve.0.id().to_string()]);
    assert!(out.status.success());
    let status = serve.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("event=no_listeners"), "{text}");
}

/// `domain handlers add` tells the running server, which has the handler from then on; with
/// no server running it says that a reload is needed.
#[test]
fn domain_commands_tell_the_running_server() {
    let site = Site::new("");
    let alone = site.postern(&[
        "domain",
        "handlers",
        "add",
        "example.test",
        "info",
        "--mailbox",
        "demo",
    ]);
    assert!(alone.status.success(), "{}", text(&alone));
    assert!(
        String::from_utf8_lossy(&alone.stdout).contains("no running server found"),
        "{}",
        text(&alone)
    );
    let daemon = site.smtpd("smtpd");
    let out = site.postern(&[
        "domain",
        "handlers",
        "add",
        "example.test",
        "sales",
        "--mailbox",
        "demo",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        said.contains(&format!("pid {}", daemon.child.id())),
        "{said}"
    );
    wait_until(|| daemon.log().contains("event=reloaded"));
    let mut s = Session::open(site.addr());
    let reply = s.rcpt("sales@example.test");
    assert!(reply.starts_with("250"), "{reply}");
    let out = site.postern(&["domain", "handlers", "del", "example.test", "sales"]);
    assert!(out.status.success(), "{}", text(&out));
    wait_until(|| daemon.log().matches("event=reloaded").count() >= 2);
    let mut s = Session::open(site.addr());
    let reply = s.rcpt("sales@example.test");
    assert!(reply.starts_with("550"), "{reply}");
}

/// Run as root, `user add`, `user passwd`, `mbox quota --set` and `domain handlers` keep the
/// owner, group and mode of the users file and the configuration they replace (a daemon running
/// as another user goes on reading them).
#[test]
fn admin_commands_keep_owner_and_mode() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let site = Site::new("");
    let users = site.root().join("users.toml");
    let config = site.config();
    let owner = |p: &Path| {
        let m = std::fs::metadata(p).unwrap();
        (m.uid(), m.gid(), m.mode() & 0o7777)
    };
    let euid = run("id", &["-u"]);
    if String::from_utf8_lossy(&euid.stdout).trim() != "0" {
        panic!("this test changes file owners: run it as root (bin/test does)");
    }
    for p in [&users, &config] {
        std::os::unix::fs::chown(p, Some(4242), Some(4243)).unwrap();
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o640)).unwrap();
    }
    site.add_user("erin", "pw-erin-1");
    assert_eq!(owner(&users), (4242, 4243, 0o640));
    let out = site.postern(&["mbox", "quota", "erin", "--set", "5M"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(owner(&users), (4242, 4243, 0o640));
    let mut passwd = site
        .command()
        .args(["user", "passwd", "erin", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    passwd
        .stdin
        .take()
        .unwrap()
        .write_all(b"pw-erin-2\n")
        .unwrap();
    assert!(passwd.wait().unwrap().success());
    assert_eq!(owner(&users), (4242, 4243, 0o640));
    assert_eq!(owner(&site.root().join("users.toml.lock")).0, 4242);
    let out = site.postern(&[
        "domain",
        "handlers",
        "add",
        "example.test",
        "sales",
        "--mailbox",
        "erin",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(owner(&config), (4242, 4243, 0o640));
    let out = site.postern(&["domain", "handlers", "del", "example.test", "sales"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(owner(&config), (4242, 4243, 0o640));
    // The new password works: the file is whole and readable by its owner's daemon.
    let check = run(
        "setpriv",
        &[
            "--reuid=4242",
            "--regid=4243",
            "--clear-groups",
            "cat",
            users.to_str().unwrap(),
        ],
    );
    assert!(check.status.success(), "{}", text(&check));
    assert!(String::from_utf8_lossy(&check.stdout).contains("erin"));
}

/// `config show` prints every setting with its default, `--non-default` only what differs;
/// both outputs are configurations `config check` accepts, and no password is shown.
#[test]
fn config_show_prints_a_config_that_checks() {
    let site = Site::new(
        "[limits]\nrecipients = 7\n\n[[remote.server]]\nname = \"hq\"\nhost = \"127.0.0.1\"\nuser = \"u\"\npassword = \"hunter2\"\n",
    );
    for (args, must, must_not) in [
        (
            &["config", "show"][..],
            &["recipients = 7", "message_size", "[auth.smtp]"][..],
            &["hunter2"][..],
        ),
        (
            &["config", "show", "--non-default"][..],
            &["recipients = 7", "hostname = \"mx.example.test\""][..],
            &["hunter2", "message_size", "[auth.smtp]"][..],
        ),
    ] {
        let out = site.postern(args);
        assert!(out.status.success(), "{}", text(&out));
        let shown = String::from_utf8_lossy(&out.stdout).into_owned();
        for m in must {
            assert!(shown.contains(m), "{args:?}: no {m:?} in\n{shown}");
        }
        for m in must_not {
            assert!(!shown.contains(m), "{args:?}: {m:?} in\n{shown}");
        }
        let copy = site.root().join("shown.toml");
        std::fs::write(&copy, &shown).unwrap();
        let check = Command::new(bin())
            .arg("--config")
            .arg(&copy)
            .args(["config", "check"])
            .output()
            .unwrap();
        assert!(check.status.success(), "{args:?}: {}", text(&check));
    }
}

/// A failed IMAP login (Python's imaplib, LOGIN) is logged with the user and the protocol, and
/// with the connection's session id, like POP3's and SMTP's.
#[test]
fn imap_login_failed_names_user_and_protocol() {
    let site = Site::new("[auth.imap]\nlogin_command = \"allow\"\n");
    let log = site.root().join("imapd.log");
    let port = site.port + 3;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let _imapd = Killed(
        site.command()
            .args(["imapd", "--listen", &addr.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("imapd"),
    );
    assert!(wait_for_port(addr, Duration::from_secs(20)));
    let out = python(
        r#"
import imaplib, sys
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]), timeout=10)
try:
    m.login("demo", "wrong-password")
    print("logged in?")
except imaplib.IMAP4.error:
    pass
m.logout()
"#,
        &[&port.to_string()],
    );
    assert!(out.is_empty(), "{out}");
    wait_until(|| {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("event=login_failed")
    });
    let text = std::fs::read_to_string(&log).unwrap();
    let failed = text
        .lines()
        .find(|l| l.contains("event=login_failed"))
        .unwrap();
    assert_eq!(field(failed, "user"), Some("demo"), "{failed}");
    assert_eq!(field(failed, "protocol"), Some("imap"), "{failed}");
    let session = field(failed, "session").expect("session=");
    assert!(
        text.lines()
            .any(|l| l.contains("event=client_connect") && field(l, "session") == Some(session)),
        "{text}"
    );
}

/// SIGHUP loads the certificate a changed `[[listener]]` names: new handshakes get it.
#[test]
fn sighup_loads_a_new_certificate() {
    let site = Site::new("");
    for name in ["one", "two"] {
        let out = site.postern(&[
            "cert",
            "gen",
            "--cn",
            &format!("{name}.example.test"),
            "--cert",
            site.root().join(format!("{name}.pem")).to_str().unwrap(),
            "--key",
            site.root().join(format!("{name}.key")).to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", text(&out));
    }
    let base = std::fs::read_to_string(site.config()).unwrap();
    let listener = |name: &str| {
        format!(
            "\n[[listener]]\nname = \"smtp\"\nprotocol = \"smtp\"\naddress = \"{}\"\ntls = \"starttls\"\ncert = \"{name}.pem\"\nkey = \"{name}.key\"\n",
            site.addr()
        )
    };
    std::fs::write(site.config(), base.clone() + &listener("one")).unwrap();
    let log = site.root().join("smtpd.log");
    let daemon = Killed(
        site.command()
            .args(["smtpd", "--listener", "smtp"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("smtpd"),
    );
    assert!(wait_for_port(site.addr(), Duration::from_secs(20)));
    let port = site.port.to_string();
    let connect = format!("127.0.0.1:{port}");
    let subject = || {
        s_client(
            &["-connect", &connect, "-starttls", "smtp", "-brief"],
            "QUIT\n",
        )
    };
    let first = subject();
    assert!(first.contains("one.example.test"), "{first}");
    std::fs::write(site.config(), base + &listener("two")).unwrap();
    hangup(&daemon.0);
    wait_until(|| {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("event=reloaded")
    });
    let second = subject();
    assert!(second.contains("two.example.test"), "{second}");
}

/// `deliver --watch` survives SIGHUP: a broken config is refused, a good one used from the next
/// scan on.
#[test]
fn deliver_watch_reloads_at_sighup() {
    let site = Site::new("[delivery]\nimmediate = false\nscan_interval = \"1s\"\n");
    let base = std::fs::read_to_string(site.config()).unwrap();
    let log = site.root().join("deliver.log");
    let mut watch = Killed(
        site.command()
            .args(["deliver", "--watch"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("deliver --watch"),
    );
    let logged = |what: &str| {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains(what)
    };
    // Its first queue run (which cleans the spool) comes after its SIGHUP handler is in place.
    wait_until(|| logged("event=spool_cleaned"));
    std::fs::write(
        site.config(),
        base.clone() + "\n[limits]\nrecipients = \"many\"\n",
    )
    .unwrap();
    hangup(&watch.0);
    wait_until(|| logged("event=reload_failed"));
    assert!(
        matches!(watch.0.try_wait(), Ok(None)),
        "deliver --watch exited"
    );
    std::fs::write(site.config(), base).unwrap();
    hangup(&watch.0);
    wait_until(|| logged("event=reloaded"));
    assert!(
        matches!(watch.0.try_wait(), Ok(None)),
        "deliver --watch exited"
    );
}

/// A log file the command may not open (a user's cron job, say): the lines go to syslog with a
/// `log_target_failed`, and nothing is printed.
#[test]
fn an_unwritable_log_file_falls_back_to_syslog_quietly() {
    let probe = Site::new("");
    let sock_path = probe.root().join("log.sock");
    let syslog = UnixDatagram::bind(&sock_path).expect("bind");
    std::fs::write(
        probe.config(),
        std::fs::read_to_string(probe.config()).unwrap()
            + &format!(
                "\n[log]\ntarget = \"file\"\nfile = \"/nonexistent/dir/postern.log\"\nsyslog_socket = {:?}\n",
                sock_path.display().to_string()
            ),
    )
    .unwrap();
    let out = probe.postern(&["deliver", "--once"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).is_empty(), "printed: {}", text(&out));
    let got = read_datagrams(&syslog, |got| {
        joined(got).contains("event=log_target_failed")
    });
    let text = joined(&got);
    assert!(
        text.contains("event=log_target_failed") && text.contains("/nonexistent/dir/postern.log"),
        "{text}"
    );
}
