//! popd with real clients: curl, Python poplib, fetchmail and getmail6, on the demo's POP3
//! (STLS, port 2110) and POP3S (implicit TLS, port 2995) listeners.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
mod pop3util;

use std::time::Duration;

use common::*;

/// The demo with `count` messages written into the demo user's maildir.
fn demo_with_mail(count: usize, size: usize) -> (Demo, pop3util::Hashes) {
    let demo = Demo::start();
    let hashes = pop3util::fill(&demo.maildir("demo"), count, size);
    (demo, hashes)
}

#[test]
fn curl_lists_retrieves_and_runs_commands() {
    assert!(have("curl"), "curl is not installed (bin/test installs it)");
    let (demo, _) = demo_with_mail(3, 600);
    let pw = demo.password();
    let user = format!("demo:{pw}");
    // Plaintext: curl picks CRAM-MD5 (the demo user has a shared secret); USER/PASS is TLS-only.
    let base = format!("pop3://127.0.0.1:{}", demo.port(2110));
    let out = run("curl", &["-sS", "-u", &user, &format!("{base}/")]);
    assert!(out.status.success(), "{}\n{}", text(&out), demo.log());
    let listing = String::from_utf8_lossy(&out.stdout).to_string();
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 3, "{listing}");
    assert!(lines[0].starts_with("1 "), "{listing}");
    assert!(
        demo.log().contains("mechanism=CRAM-MD5 user=demo"),
        "{}",
        demo.log()
    );

    // RETR via URL, over STLS (--ssl-reqd), where curl may use PLAIN / USER.
    let out = run(
        "curl",
        &["-sS", "-k", "--ssl-reqd", "-u", &user, &format!("{base}/2")],
    );
    assert!(out.status.success(), "{}", text(&out));
    let body = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(body.contains("Subject: message 1\r\n"), "{body}");
    assert!(
        body.contains("\r\n.leading dot 1\r\n.\r\n..two dots\r\n"),
        "dot-unstuffed by curl: {body}"
    );
    let size: usize = lines[1].split(' ').nth(1).unwrap().parse().unwrap();
    assert_eq!(body.len(), size, "LIST size is the size as sent");

    // -X commands on implicit TLS: UIDL, then DELE (applied at curl's QUIT).
    let s = format!("pop3s://127.0.0.1:{}/", demo.port(2995));
    let out = run("curl", &["-sS", "-k", "-u", &user, "-X", "UIDL", &s]);
    assert!(out.status.success(), "{}", text(&out));
    let uidl = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(uidl.lines().count(), 3, "{uidl}");
    let out = run(
        "curl",
        &["-sS", "-k", "-u", &user, "-X", "DELE 1", "-I", &s],
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = run("curl", &["-sS", "-k", "-u", &user, "-X", "STAT", "-I", &s]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(maildir_files(&demo.maildir("demo")).len(), 2);
    let out = run("curl", &["-sS", "-k", "-u", &user, "-X", "UIDL", &s]);
    let after = String::from_utf8_lossy(&out.stdout).to_string();
    let first_uid = uidl.lines().next().unwrap().split(' ').nth(1).unwrap();
    assert!(!after.contains(&format!(" {first_uid}\r")), "{after}");
    assert_eq!(
        after.lines().next().unwrap().split(' ').nth(1),
        uidl.lines().nth(1).unwrap().split(' ').nth(1),
        "UIDs stay the same"
    );

    // a wrong password fails the transfer
    let out = run("curl", &["-sS", "-u", "demo:wrong", &format!("{base}/")]);
    assert!(!out.status.success());
    assert!(
        demo.log().contains("event=login_failed protocol=pop3"),
        "{}",
        demo.log()
    );
}

const POPLIB: &str = r#"
import poplib, ssl, sys, hashlib
port, sport, pw = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
p = poplib.POP3("127.0.0.1", port, timeout=20)
caps = p.capa()
assert "STLS" in caps and "USER" not in caps, caps
try:
    p.user("demo"); raise SystemExit("USER accepted without TLS")
except poplib.error_proto as e:
    print("plain USER:", e)
p.stls(ctx)
caps = p.capa()
assert "USER" in caps and "PLAIN" in caps["SASL"] and "STLS" not in caps, caps
p.user("demo"); print(p.pass_(pw).decode())
count, size = p.stat(); print("stat", count, size)
print("top", p.top(1, 0)[1][-1])
print("uidl", len(p.uidl()[1]))
resp, lines, octets = p.retr(2)
print("retr", resp.decode(), octets)
p.dele(1); print(p.rset().decode())
p.dele(1)
try:
    p.retr(1)
except poplib.error_proto as e:
    print("retr deleted:", e)
print(p.quit().decode())
# APOP on the plaintext port (the demo user has a shared secret)
p = poplib.POP3("127.0.0.1", port, timeout=20)
print(p.apop("demo", pw).decode())
print("stat", p.stat())
try:
    p2 = poplib.POP3_SSL("127.0.0.1", sport, context=ctx, timeout=20)
    p2.user("demo"); p2.pass_(pw)
    raise SystemExit("second session allowed")
except poplib.error_proto as e:
    print("second:", e)
p.quit()
# implicit TLS, then the lock is free again
p = poplib.POP3_SSL("127.0.0.1", sport, context=ctx, timeout=20)
p.user("demo"); p.pass_(pw)
print("ssl stat", p.stat())
p.quit()
"#;

#[test]
fn poplib_stls_apop_and_implicit_tls() {
    let (demo, _) = demo_with_mail(4, 1500);
    let out = python(
        POPLIB,
        &[
            &demo.port(2110).to_string(),
            &demo.port(2995).to_string(),
            &demo.password(),
        ],
    );
    let want = [
        "plain USER: b'-ERR USER/PASS needs an encrypted connection (use STLS first)'",
        "+OK demo has 4 messages",
        "stat 4 ",
        "top b''",
        "uidl 4",
        "retr +OK ",
        "+OK maildrop has 4 messages",
        "retr deleted: b'-ERR message 1 already deleted'",
        "+OK mail.example.test POP3 server signing off (1 messages deleted)",
        "+OK demo has 3 messages",
        "stat (3, ",
        "second: b'-ERR [IN-USE] mailbox is locked by another POP3 session'",
        "ssl stat (3, ",
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
    assert!(log.contains("mechanism=APOP user=demo"), "{log}");
    assert!(
        log.contains("event=login_failed protocol=pop3 listener=pop3s"),
        "{log}"
    );
    assert!(log.contains("reason=in-use"), "{log}");
    assert!(log.contains("retrieved=1 retrieved_bytes="), "{log}");
    assert!(log.contains("deleted=1 quit=true"), "{log}");
}

#[test]
fn fetchmail_pulls_1000_messages_over_implicit_tls() {
    assert!(
        have("fetchmail"),
        "fetchmail is not installed (bin/test installs it)"
    );
    let (demo, sent) = demo_with_mail(1000, 2048);
    let home = tempfile::tempdir().expect("home");
    let out_dir = home.path().join("out");
    std::fs::create_dir(&out_dir).expect("out");
    let rc = home.path().join("fetchmailrc");
    std::fs::write(
        &rc,
        format!(
            "set no syslog\npoll 127.0.0.1 service {} protocol pop3 auth password\n  user \"demo\" there with password \"{}\" is \"demo\" here\n  ssl no sslcertck fetchall nokeep\n  mda \"f=$(mktemp {}/m.XXXXXXXX) && cat > $f\"\n",
            demo.port(2995),
            demo.password(),
            out_dir.display()
        ),
    )
    .expect("rc");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let out = std::process::Command::new("fetchmail")
        .env("HOME", home.path())
        .env("FETCHMAILHOME", home.path())
        .args(["-f", rc.to_str().unwrap(), "--nodetach", "-v"])
        .output()
        .expect("fetchmail");
    assert!(
        out.status.success(),
        "fetchmail failed: {}\nserver:\n{}",
        text(&out),
        demo.log()
    );
    let got = pop3util::hashes_in(&out_dir);
    assert_eq!(got.values().sum::<usize>(), 1000);
    assert_eq!(got, sent, "every body arrived byte for byte");
    // nokeep: fetchmail deleted them, applied at QUIT
    assert!(
        wait_for_mail(&demo.maildir("demo"), 0, Duration::from_secs(1)).is_empty(),
        "maildrop emptied"
    );
}

#[test]
fn getmail_pulls_1000_messages_with_apop() {
    assert!(
        have("getmail"),
        "getmail6 is not installed (bin/test installs it)"
    );
    let (demo, sent) = demo_with_mail(1000, 3000);
    let home = tempfile::tempdir().expect("home");
    let dest = home.path().join("out");
    std::fs::create_dir(&dest).expect("dest");
    // An external MDA per message (getmail's Maildir destination refuses to run as root).
    let rc = home.path().join("getmailrc");
    std::fs::write(
        &rc,
        format!(
            "[retriever]\ntype = SimplePOP3Retriever\nserver = 127.0.0.1\nport = {}\nusername = demo\npassword = {}\nuse_apop = true\n\n[destination]\ntype = MDA_external\npath = /bin/sh\narguments = (\"-c\", \"f=$(mktemp {}/m.XXXXXXXX) && cat > $f\")\nallow_root_commands = true\n\n[options]\nread_all = true\ndelete = false\nreceived = false\ndelivered_to = false\nmessage_log_syslog = false\nverbose = 0\n",
            demo.port(2110),
            demo.password(),
            dest.display()
        ),
    )
    .expect("rc");
    let out = std::process::Command::new("getmail")
        .env("HOME", home.path())
        .args([
            "--rcfile",
            rc.to_str().unwrap(),
            "--getmaildir",
            home.path().to_str().unwrap(),
        ])
        .output()
        .expect("getmail");
    assert!(
        out.status.success(),
        "getmail failed: {}\nserver:\n{}",
        text(&out),
        demo.log()
    );
    let got = pop3util::hashes_in(&dest);
    assert_eq!(got.values().sum::<usize>(), 1000);
    assert_eq!(got, sent, "every body arrived byte for byte");
    // delete = false: everything is still there, now in cur/ with stable UIDs
    assert_eq!(maildir_files(&demo.maildir("demo")).len(), 1000);
    assert!(
        demo.log().contains("mechanism=APOP user=demo"),
        "{}",
        demo.log()
    );
}

/// POP3 (poplib) and IMAP (imaplib) on one mailbox: UIDL is `<UIDVALIDITY>.<UID>` of the same
/// message, LIST sizes are RFC822.SIZE, a POP3 deletion is an IMAP expunge, and a message
/// APPENDed over IMAP gets the next UIDL.
const POP_AND_IMAP: &str = r#"
import imaplib, poplib, re, ssl, sys
pop3s, imaps, pw = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=sys.argv[4])
ctx.check_hostname = False
def pop():
    p = poplib.POP3_SSL("127.0.0.1", pop3s, context=ctx, timeout=20)
    p.user("demo"); p.pass_(pw)
    return p
def pop_view(p):
    uidl = [l.decode().split() for l in p.uidl()[1]]
    sizes = dict(l.decode().split() for l in p.list()[1])
    return [(n, u, int(sizes[n])) for n, u in uidl]
def imap_view(i):
    typ, data = i.uid("FETCH", "1:*", "(UID RFC822.SIZE)")
    assert typ == "OK", data
    out = []
    for d in data:
        m = re.match(rb"(\d+) \(UID (\d+) RFC822.SIZE (\d+)\)", d)
        out.append((m.group(1).decode(), m.group(2).decode(), int(m.group(3))))
    return out
i = imaplib.IMAP4_SSL("127.0.0.1", imaps, ssl_context=ctx, timeout=20)
i.login("demo", pw)
typ, _ = i.select("INBOX")
uidvalidity = i.untagged_responses["UIDVALIDITY"][0].decode()
p = pop()
pv, iv = pop_view(p), imap_view(i)
print("count", len(pv), len(iv))
print("same", all(n == s and u == "%s.%s" % (uidvalidity, uid) and size == isize
                  for (n, u, size), (s, uid, isize) in zip(pv, iv)))
gone = pv[1][1]
p.dele(2)
print(p.quit().decode().split(" (")[1])
i.noop()
iv = imap_view(i)
print("imap after dele", len(iv), any("%s.%s" % (uidvalidity, uid) == gone for _, uid, _ in iv))
typ, data = i.append("INBOX", None, None, b"From: a@client.test\r\nSubject: appended\r\n\r\nhello\r\n")
appended = re.search(rb"APPENDUID (\d+) (\d+)", data[0])
print("appenduid", appended.group(1).decode() == uidvalidity)
p = pop()
pv, iv = pop_view(p), imap_view(i)
print("after append", len(pv), pv[-1][1] == "%s.%s" % (uidvalidity, appended.group(2).decode()))
print("same", [(u, size) for _, u, size in pv] == [("%s.%s" % (uidvalidity, uid), s) for _, uid, s in iv])
p.quit()
i.logout()
"#;

#[test]
fn uidl_names_the_same_messages_as_imap_uids() {
    let (demo, _) = demo_with_mail(5, 900);
    let cert = demo.root().join("cert.pem").display().to_string();
    let out = python(
        POP_AND_IMAP,
        &[
            &demo.port(2995).to_string(),
            &demo.port(2993).to_string(),
            &demo.password(),
            &cert,
        ],
    );
    assert_eq!(
        out,
        "count 5 5\nsame True\n1 messages deleted)\nimap after dele 4 False\nappenduid True\nafter append 5 True\nsame True\n",
        "{}",
        demo.log()
    );
}
