//! smtpd's ESMTP extensions with real clients: smtplib, swaks, curl, and raw sockets for what
//! those cannot send (BDAT chunks, a pipelined burst in one write).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;

use std::time::Duration;

use common::raw::py;
use common::site::Site;
use common::*;

fn read(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).expect("read message")
}

#[test]
fn ehlo_advertises_the_extensions_and_help_and_vrfy_answer() {
    let site = Site::new("");
    let _d = site.smtpd("smtpd");
    let out = python(
        r#"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
code, _ = s.ehlo("client.test")
print("ehlo", code)
for k in sorted(s.esmtp_features):
    print("feature", k, s.esmtp_features[k])
print("vrfy", *s.verify("demo"))
code, msg = s.docmd("HELP")
print("help", code, msg.decode())
code, msg = s.docmd("EXPN", "demo")
print("expn", code, msg.decode())
s.quit()
"#,
        &[&site.port.to_string()],
    );
    assert!(out.contains("ehlo 250"), "{out}");
    for f in [
        "pipelining",
        "size 26214400",
        "8bitmime",
        "enhancedstatuscodes",
        "smtputf8",
        "chunking",
    ] {
        assert!(out.contains(&format!("feature {f}")), "missing {f}: {out}");
    }
    assert!(out.contains("vrfy 252 b'2."), "{out}");
    assert!(out.contains("help 214 2.0.0"), "{out}");
    assert!(
        out.contains("expn 502 5.5.1") || out.contains("expn 252 2."),
        "{out}"
    );
}

#[test]
fn every_reply_after_ehlo_carries_an_enhanced_status_code() {
    // Nobody trusted by address: relaying is refused.
    let site = Site::new("[trust]\nnetworks = []\n");
    let _d = site.smtpd("smtpd");
    let out = py(
        r#"
s, f = conn(sys.argv[1])
print(reply(f))
for c in [b"EHLO client.test\r\n", b"NOOP\r\n", b"VRFY demo\r\n", b"HELP\r\n", b"BOGUS\r\n",
          b"RCPT TO:<demo@example.test>\r\n", b"MAIL FROM:<a@client.test>\r\n",
          b"MAIL FROM:<a@client.test>\r\n", b"RCPT TO:<nobody@example.test>\r\n",
          b"RCPT TO:<x@elsewhere.test>\r\n", b"RCPT TO:<demo@example.test>\r\n", b"DATA\r\n",
          b"Subject: esc\r\n\r\nbody\r\n.\r\n", b"RSET\r\n", b"QUIT\r\n"]:
    print(say(s, f, c).splitlines()[-1])
"#,
        &[&site.port.to_string()],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("220 "), "{out}");
    assert_eq!(lines.len(), 16, "{out}");
    // RFC 2034: the EHLO reply (keywords) and the 354 go-ahead carry no enhanced code.
    for line in &lines[2..] {
        let code = &line[..3];
        if code == "354" {
            continue;
        }
        let esc: Vec<&str> = line[4..]
            .split(' ')
            .next()
            .unwrap_or("")
            .split('.')
            .collect();
        assert!(
            esc.len() == 3
                && esc[0] == &code[..1]
                && esc
                    .iter()
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit())),
            "no enhanced status code in {line:?}:\n{out}"
        );
    }
    // The session's verdicts, in order.
    let want = [
        "250", "250", "252", "214", "500", "503", "250", "503", "550", "554", "250", "354", "250",
        "250", "221",
    ];
    let got: Vec<&str> = lines[1..].iter().map(|l| &l[..3]).collect();
    assert_eq!(got, want, "{out}");
}

#[test]
fn pipelining_with_swaks_and_with_one_burst() {
    let site = Site::new("");
    let _d = site.smtpd("smtpd");
    let port = site.port.to_string();
    let out = run(
        "swaks",
        &[
            "--server",
            "127.0.0.1",
            "--port",
            &port,
            "--pipeline",
            "--from",
            "a@client.test",
            "--to",
            "demo@example.test",
            "--h-Subject",
            "pipelined",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    // One write holding a whole transaction: the replies come back in order.
    let out = py(
        r#"
s, f = conn(sys.argv[1])
reply(f)
say(s, f, b"EHLO client.test\r\n")
s.sendall(b"MAIL FROM:<b@client.test>\r\nRCPT TO:<demo@example.test>\r\nRCPT TO:<nobody@example.test>\r\nDATA\r\n")
for _ in range(4):
    print(reply(f))
print(say(s, f, b"Subject: burst\r\n\r\nburst\r\n.\r\nQUIT\r\n"))
print(reply(f))
"#,
        &[&port],
    );
    let codes: Vec<&str> = out.lines().map(|l| &l[..3]).collect();
    assert_eq!(codes, ["250", "250", "550", "354", "250", "221"], "{out}");
    let files = wait_for_mail(&site.maildir("demo"), 2, Duration::from_secs(10));
    assert_eq!(files.len(), 2);
}

#[test]
fn size_is_checked_at_mail_and_at_data() {
    let site = Site::new("[limits]\nmessage_size = \"10k\"\n");
    let _d = site.smtpd("smtpd");
    let out = python(
        r#"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
s.ehlo("client.test")
print("limit", s.esmtp_features["size"])
print("declared", *s.mail("a@client.test", ["SIZE=20000"]))
s.rset()
print("small", *s.mail("a@client.test", ["SIZE=500"]))
s.rcpt("demo@example.test")
body = "Subject: big\r\n\r\n" + ("x" * 70 + "\r\n") * 300
code, msg = s.data(body)
print("undeclared", code, msg.decode())
try:
    s.sendmail("a@client.test", ["demo@example.test"], "Subject: fits\r\n\r\nsmall one\r\n")
    print("fits ok")
except Exception as e:
    print("fits failed", e)
s.quit()
"#,
        &[&site.port.to_string()],
    );
    assert!(out.contains("limit 10240"), "{out}");
    assert!(out.contains("declared 552 b'5.3.4"), "{out}");
    assert!(out.contains("small 250"), "{out}");
    assert!(out.contains("undeclared 552 5.3.4"), "{out}");
    assert!(out.contains("fits ok"), "{out}");
    let files = wait_for_mail(&site.maildir("demo"), 1, Duration::from_secs(10));
    assert_eq!(files.len(), 1, "only the small message arrives");
    assert!(String::from_utf8_lossy(&read(&files[0])).contains("small one"));
}

#[test]
fn eight_bit_mime_and_smtputf8_arrive_byte_for_byte() {
    let site = Site::new("");
    let _d = site.smtpd("smtpd");
    python(
        r#"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
s.ehlo("client.test")
body = "Subject: 8bit\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße aus Köln\r\n".encode()
s.sendmail("a@client.test", ["demo@example.test"], body, mail_options=["BODY=8BITMIME"])
msg = "From: jörg@bücher.test\r\nTo: demo@example.test\r\nSubject: ünïcödé\r\n\r\nSMTPUTF8 body ✓\r\n".encode()
s.sendmail("jörg@bücher.test", ["demo@example.test"], msg, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
s.quit()
"#,
        &[&site.port.to_string()],
    );
    let files = wait_for_mail(&site.maildir("demo"), 2, Duration::from_secs(10));
    assert_eq!(files.len(), 2);
    let all: Vec<String> = files
        .iter()
        .map(|f| String::from_utf8(read(f)).expect("utf-8 kept"))
        .collect();
    assert!(
        all.iter().any(|m| m.contains("Grüße aus Köln\n")),
        "{all:?}"
    );
    let utf8 = all
        .iter()
        .find(|m| m.contains("SMTPUTF8 body ✓"))
        .expect("utf8 message");
    assert!(
        utf8.starts_with("Return-Path: <jörg@bücher.test>"),
        "{utf8}"
    );
    assert!(utf8.contains("Subject: ünïcödé"), "{utf8}");
}

#[test]
fn curl_with_a_utf8_sender_needs_smtputf8() {
    let site = Site::new("");
    let _d = site.smtpd("smtpd");
    // Without SMTPUTF8 on MAIL, a non-ASCII address is refused (RFC 6531 §3.4).
    let out = py(
        r#"
s, f = conn(sys.argv[1])
reply(f)
say(s, f, b"EHLO client.test\r\n")
print(say(s, f, "MAIL FROM:<jörg@bücher.test>\r\n".encode()))
print(say(s, f, "MAIL FROM:<jörg@bücher.test> SMTPUTF8\r\n".encode()))
"#,
        &[&site.port.to_string()],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("553 5.6.7")
            || lines[0].starts_with("555 5.6.7")
            || lines[0].starts_with("501 5."),
        "{out}"
    );
    assert!(lines[1].starts_with("250 2.1.0"), "{out}");
}

#[test]
fn bdat_chunks_are_taken_literally() {
    let site = Site::new("");
    let _d = site.smtpd("smtpd");
    let out = py(
        r#"
s, f = conn(sys.argv[1])
reply(f)
say(s, f, b"EHLO client.test\r\n")
print(say(s, f, b"MAIL FROM:<a@client.test>\r\n"))
print(say(s, f, b"RCPT TO:<demo@example.test>\r\n"))
c1 = b"Subject: chunked\r\n\r\nfirst chunk\r\n.\r\n"
print(say(s, f, b"BDAT %d\r\n" % len(c1) + c1))
c2 = b"..dots stay\r\nlast line\r\n"
print(say(s, f, b"BDAT %d LAST\r\n" % len(c2) + c2))
# BDAT and DATA do not mix; and BDAT 0 LAST with no transaction is out of sequence.
print(say(s, f, b"BDAT 0 LAST\r\n"))
print(say(s, f, b"QUIT\r\n"))
"#,
        &[&site.port.to_string()],
    );
    let codes: Vec<&str> = out.lines().map(|l| &l[..3]).collect();
    assert_eq!(codes, ["250", "250", "250", "250", "503", "221"], "{out}");
    let files = wait_for_mail(&site.maildir("demo"), 1, Duration::from_secs(10));
    assert_eq!(files.len(), 1);
    let msg = String::from_utf8(read(&files[0])).expect("utf8");
    assert!(
        msg.contains("\nfirst chunk\n.\n..dots stay\nlast line\n"),
        "{msg:?}"
    );
}

#[test]
fn the_received_header_names_client_server_and_id() {
    let site = Site::new("");
    let _d = site.smtpd("smtpd");
    let port = site.port.to_string();
    let out = run(
        "swaks",
        &[
            "--server",
            "127.0.0.1",
            "--port",
            &port,
            "--ehlo",
            "client.test",
            "--from",
            "a@client.test",
            "--to",
            "demo@example.test",
        ],
    );
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    let id = log
        .lines()
        .find_map(|l| l.split("queued as ").nth(1))
        .expect("queue id in reply")
        .trim()
        .to_string();
    let files = wait_for_mail(&site.maildir("demo"), 1, Duration::from_secs(10));
    assert_eq!(files.len(), 1);
    let msg = String::from_utf8(read(&files[0])).expect("utf8");
    let received: String = msg
        .split("\nReceived: ")
        .nth(1)
        .expect("Received header")
        .split('\n')
        .scan(true, |first, l| {
            let keep = *first || l.starts_with([' ', '\t']);
            *first = false;
            keep.then(|| l.to_string())
        })
        .collect::<Vec<_>>()
        .join(" ");
    for want in [
        "from client.test",
        "127.0.0.1",
        "by mx.example.test",
        "with ESMTP",
        &format!("id {id}"),
        "for <demo@example.test>",
    ] {
        assert!(
            received.contains(want),
            "{want:?} missing in Received: {received}"
        );
    }
    // A date at the end, after the semicolon.
    let date = received.rsplit(';').next().expect("date").trim();
    assert!(
        date.contains(" +0000") || date.contains(" -0000") || date.ends_with("GMT"),
        "{received}"
    );
}
