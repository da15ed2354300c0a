//! Outbound SMTP smuggling (RFC 5321 §2.3.8), through real sockets. A message body hiding
//! `\n.\n` (or `\r.\r`) and a second transaction must reach the next hop as one message, with
//! CRLF line ends only and its lone dots stuffed, whatever way it came in: BDAT through a
//! forwarding handler without authentication, BDAT after AUTH, sendmail's LF input, mail
//! collected from Dovecot, a queue file written before the fix, and a bounce quoting it. The next
//! hop is `smuggle_peer.py`, which is deliberately lenient: it ends DATA on a lone dot between any
//! line ends, so a smuggled transaction shows up there as a second message. Postfix 3.7
//! (`smtpd_forbid_bare_newline = no`, Debian's default) is checked as the next hop too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
#[path = "common/collect.rs"]
mod harness;
mod remote_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::raw::py;
use common::text;
use remote_support::{free_port, python_peer, require, saved_messages, Postfix, Proc, Sender};

/// The attack: a first message that ends (for a lenient next hop) at the bare-LF dot, then a
/// whole forged transaction "from" the CEO of the sending domain.
const SMUGGLED: &[u8] = b"Subject: quarterly\r\n\r\nhello\r\n\n.\nMAIL FROM:<ceo@here.test>\r\nRCPT TO:<victim@far.test>\r\nDATA\r\nSubject: forged\r\n\r\nwire the money\r\n.\r\n";

/// The smuggling peer, on a fresh port, saving into `dir`.
fn peer(dir: &Path) -> (Proc, u16) {
    let port = free_port("127.0.0.1");
    let p = python_peer(
        "smuggle_peer.py",
        &[port.to_string(), dir.display().to_string()],
        &format!("127.0.0.1:{port}"),
    );
    (p, port)
}

/// `[remote]` with short timeouts, so that nothing in these tests waits long.
const REMOTE: &str = "[remote]\nconnect_timeout = \"3s\"\ncommand_timeout = \"10s\"\n";

/// Wait until the sender's queue is empty (20 s at most), then a moment more for the peer.
fn settle(s: &Sender) {
    let start = Instant::now();
    while !s.queue().is_empty() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(s.queue().is_empty(), "still queued: {:?}", s.queue());
    std::thread::sleep(Duration::from_millis(500));
}

/// Whether every LF is preceded by CR and every CR followed by LF.
fn crlf_only(bytes: &[u8]) -> bool {
    bytes.iter().enumerate().all(|(i, &b)| match b {
        b'\n' => i > 0 && bytes[i - 1] == b'\r',
        b'\r' => bytes.get(i + 1) == Some(&b'\n'),
        _ => true,
    })
}

/// Exactly one message at the peer, sent by `sender`, with CRLF only and the smuggled
/// transaction inside it, its lone dot stuffed.
fn assert_one_clean(dir: &Path, sender: &str) -> String {
    let got = saved_messages(dir);
    let shown: Vec<String> = got
        .iter()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .collect();
    assert_eq!(
        got.len(),
        1,
        "the next hop saw {} messages: {shown:#?}",
        got.len()
    );
    let m = &shown[0];
    assert!(crlf_only(&got[0]), "bare CR or LF on the wire: {m:?}");
    assert!(
        m.starts_with(&format!("X-Mail-From: {sender}\r\n")),
        "{m:?}"
    );
    assert!(
        m.contains("\r\n..\r\nMAIL FROM:<ceo@here.test>\r\n"),
        "the lone dot is stuffed: {m:?}"
    );
    m.clone()
}

/// Send `SMUGGLED` by BDAT (refused: 554 5.6.0), then the same transaction made of lawful CRLF
/// lines (a lone dot line is data in BDAT: accepted, and stuffed on the way out). `auth`: an
/// AUTH PLAIN line to send first. Returns the replies to the two BDAT LAST commands.
fn bdat_attack(port: u16, auth: Option<&str>, from: &str, to: &str) -> (String, String) {
    let lawful = String::from_utf8_lossy(SMUGGLED).replace("\r\n\n.\n", "\r\n.\r\n");
    let out = py(
        r#"
port, auth, sender, rcpt, smuggled, lawful = sys.argv[1:7]
s, f = conn(port)
reply(f)
say(s, f, b"EHLO client.test\r\n")
if auth:
    r = say(s, f, auth.encode() + b"\r\n")
    assert r.startswith("235"), r
for body in (smuggled.encode(), lawful.encode()):
    r = say(s, f, b"MAIL FROM:<%s>\r\n" % sender.encode())
    assert r.startswith("250"), r
    r = say(s, f, b"RCPT TO:<%s>\r\n" % rcpt.encode())
    assert r.startswith("250"), r
    print(say(s, f, b"BDAT %d LAST\r\n" % len(body) + body).replace("\n", " | "))
say(s, f, b"QUIT\r\n")
"#,
        &[
            &port.to_string(),
            auth.unwrap_or(""),
            from,
            to,
            &String::from_utf8_lossy(SMUGGLED),
            &lawful,
        ],
    );
    let mut lines = out.lines().map(str::to_string);
    let first = lines.next().unwrap_or_default();
    let second = lines.next().unwrap_or_default();
    (first, second)
}

#[test]
fn bdat_through_a_forwarding_handler_without_auth() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (_peer, port) = peer(tmp.path());
    // Nobody is trusted: the only way out is the handler's forward.
    let s = Sender::new(
        &format!("gateway = \"127.0.0.1:{port}\""),
        &format!(
            "[[domain.handler]]\nlocal = \"fwd\"\nforward = \"victim@far.test\"\n\
             [trust]\nnetworks = []\n{REMOTE}"
        ),
    );
    let (_smtpd, smtp) = s.smtpd();
    let (smuggled, lawful) = bdat_attack(smtp, None, "mallory@evil.test", "fwd@here.test");
    assert!(
        smuggled.starts_with("554 5.6.0"),
        "BDAT with a bare LF is refused as DATA refuses it: {smuggled}"
    );
    assert!(lawful.starts_with("250 "), "{lawful}");
    settle(&s);
    assert_one_clean(tmp.path(), "mallory@evil.test");
}

#[test]
fn bdat_after_auth_directly() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (_peer, port) = peer(tmp.path());
    let sub = free_port("127.0.0.1");
    let s = Sender::new(
        &format!("gateway = \"127.0.0.1:{port}\""),
        &format!(
            "[[listener]]\nname = \"sub\"\nprotocol = \"submission\"\naddress = \"127.0.0.1:{sub}\"\n\
             [auth.smtp]\nplain = \"allow\"\n[trust]\nnetworks = []\n{REMOTE}"
        ),
    );
    let _serve = s.serve(sub);
    // AUTH PLAIN alice / pw.
    let auth = "AUTH PLAIN AGFsaWNlAHB3";
    let (smuggled, lawful) = bdat_attack(sub, Some(auth), "alice@here.test", "victim@far.test");
    assert!(smuggled.starts_with("554 5.6.0"), "{smuggled}");
    assert!(lawful.starts_with("250 "), "{lawful}");
    settle(&s);
    assert_one_clean(tmp.path(), "alice@here.test");
}

#[test]
fn sendmail_input_with_bare_line_ends() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (_peer, port) = peer(tmp.path());
    let s = Sender::new(&format!("gateway = \"127.0.0.1:{port}\""), REMOTE);
    // LF input, as every Unix program writes it, with `-i` (a lone dot is data), and a bare CR
    // version of the same trick.
    let input = b"Subject: from cron\n\nhello\n.\nMAIL FROM:<ceo@here.test>\nRCPT TO:<victim@far.test>\nDATA\nforged\n.\nand x\r.\rRCPT TO:<other@far.test>\n";
    let out = s.postern_stdin(
        &["sendmail", "-i", "-f", "alice@here.test", "victim@far.test"],
        input,
    );
    assert!(out.status.success(), "{}", text(&out));
    settle(&s);
    let m = assert_one_clean(tmp.path(), "alice@here.test");
    assert!(
        m.ends_with("\r\nand x\r\n..\r\nRCPT TO:<other@far.test>"),
        "{m:?}"
    );
}

#[test]
fn collected_mail_with_bare_line_ends() {
    require(&["dovecot"]);
    let tmp = tempfile::tempdir().expect("tmp");
    let (_peer, port) = peer(tmp.path());
    // A handler of the collected domain forwards through the smuggling peer.
    let toml = format!(
        "{}[[domain.handler]]\nlocal = \"fwd\"\nforward = \"victim@far.test\"\nserver = \"peer\"\n\
         [[remote.server]]\nname = \"peer\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"off\"\n\
         {REMOTE}",
        harness::account("isp", "delete = \"always\"")
    );
    let s = harness::Setup::start(&["isp"], &toml);
    // What a POP3 server can hand over: bare LF (a line end for the POP3 client too) and a bare
    // CR inside a line.
    s.put(
        "isp",
        b"Return-Path: <sender@far.test>\nFrom: sender@far.test\nTo: fwd@branch.test\nSubject: collected\n\nhello\n.\nMAIL FROM:<ceo@here.test>\nRCPT TO:<victim@far.test>\nDATA\nforged\n.\nand x\r.\rRCPT TO:<other@far.test>\n",
    );
    let out = s.collect(&["--account", "isp"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = s.postern(&["deliver", "--once"]);
    assert!(out.status.success(), "{}", text(&out));
    let start = Instant::now();
    while saved_messages(tmp.path()).is_empty() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    let m = assert_one_clean(tmp.path(), "sender@far.test");
    assert!(
        m.ends_with("\r\nand x\r\n..\r\nRCPT TO:<other@far.test>"),
        "{m:?}"
    );
}

/// Queue a message with delivery held back, then replace its bytes with `body` as a queue file
/// written before the fix could hold them (BDAT took bare line ends as they came).
fn old_queue_file(s: &Sender, from: &str, to: &[&str], body: &[u8]) {
    let mut args = vec!["sendmail", "-f", from];
    args.extend_from_slice(to);
    let out = s.postern_stdin(&args, b"Subject: placeholder\n\nplaceholder\n");
    assert!(out.status.success(), "{}", text(&out));
    let queue = s.dir.path().join("spool").join("queue");
    let files: Vec<PathBuf> = std::fs::read_dir(&queue)
        .expect("queue dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let old = std::fs::read(&files[0]).expect("queue file");
    let nl = old.iter().position(|&b| b == b'\n').expect("envelope line");
    let mut new = old[..=nl].to_vec();
    new.extend_from_slice(body);
    let tmp = s.dir.path().join("spool").join("tmp").join("rewrite");
    std::fs::write(&tmp, new).expect("write");
    std::fs::rename(&tmp, &files[0]).expect("rename");
}

const OLD_BODY: &[u8] = b"From: mallory@far.test\r\nSubject: kept since before\r\n\r\nhello\r\n\n.\nMAIL FROM:<ceo@here.test>\r\nRCPT TO:<victim@far.test>\r\nDATA\r\nSubject: forged\r\n\r\nwire the money\r\n.\r\n";

#[test]
fn old_queue_file_and_its_bounce() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (_peer, port) = peer(tmp.path());
    let s = Sender::new(
        &format!("gateway = \"127.0.0.1:{port}\"\nimmediate = false"),
        REMOTE,
    );
    // One recipient takes it, the other is refused (550 at RCPT): the sender gets a bounce
    // quoting the message.
    old_queue_file(
        &s,
        "mallory@far.test",
        &["victim@far.test", "reject@far.test"],
        OLD_BODY,
    );
    let out = s.postern(&["deliver", "--once"]);
    assert!(out.status.success(), "{}", text(&out));
    settle(&s);
    let got = saved_messages(tmp.path());
    let shown: Vec<String> = got
        .iter()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .collect();
    assert_eq!(
        got.len(),
        2,
        "the message and its bounce, nothing more: {shown:#?}"
    );
    for (m, text) in got.iter().zip(&shown) {
        assert!(crlf_only(m), "bare CR or LF on the wire: {text:?}");
        assert!(
            text.contains("\r\n..\r\nMAIL FROM:<ceo@here.test>\r\n"),
            "{text:?}"
        );
        assert!(!text.starts_with("X-Mail-From: ceo@"), "{text:?}");
    }
    assert!(shown[0].starts_with("X-Mail-From: mallory@far.test\r\nX-Rcpt-To: victim@far.test\r\n"));
    let bounce = &shown[1];
    assert!(
        bounce.starts_with("X-Mail-From: \r\nX-Rcpt-To: mallory@far.test\r\n"),
        "{bounce:?}"
    );
    assert!(bounce.contains("multipart/report"), "{bounce:?}");
}

/// Postfix 3.7 as Debian ships it (`smtpd_forbid_bare_newline = no`) ends DATA on `\n.\n`: the
/// old queue file reaches it as one message all the same.
#[test]
fn postfix_as_next_hop_sees_one_message() {
    require(&["postfix"]);
    let root = common::run("id", &["-u"]).stdout.starts_with(b"0");
    assert!(
        root,
        "a private Postfix instance needs root (bin/test runs as root)"
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let port = free_port("127.0.0.1");
    let pf = Postfix::start(
        &tmp.path().join("pf"),
        &format!("127.0.0.1:{port}"),
        "far.test",
    );
    let s = Sender::new(
        &format!("gateway = \"127.0.0.1:{port}\"\nimmediate = false"),
        REMOTE,
    );
    old_queue_file(&s, "mallory@far.test", &["victim@far.test"], OLD_BODY);
    let out = s.postern(&["deliver", "--once"]);
    assert!(out.status.success(), "{}", text(&out));
    settle(&s);
    assert_eq!(pf.wait_mail(1).len(), 1, "nothing reached Postfix");
    // Whatever Postfix took (a smuggled second message too) is delivered once its queue is empty.
    let got = pf.settled_mail();
    assert_eq!(got.len(), 1, "Postfix delivered: {got:#?}");
    assert!(got[0].contains("Subject: kept since before"), "{}", got[0]);
    assert!(
        got[0].contains("\n.\nMAIL FROM:<ceo@here.test>\n"),
        "{}",
        got[0]
    );
}
