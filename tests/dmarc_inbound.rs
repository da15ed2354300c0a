//! Incoming mail from an untrusted client with `dmarc = "enforce"`: messages signed by dkimpy and
//! by OpenDKIM (`opendkim-testmsg`, keys made by `opendkim-genkey`), sent with Python's smtplib,
//! keys and DMARC records served by dnsmasq. Each gets exactly the right `dkim=` and `dmarc=`
//! in the one `Authentication-Results` field of this server, and the policy is applied: p=reject
//! failing → 550 5.7.1, p=quarantine → the Junk folder, a DNS timeout → 451. Altered, revoked,
//! expired, short-key, `l=`, garbage-record, 50-signature and 100 kB-header messages too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
mod mailauth_support;
mod remote_support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::maildir_files;
use mailauth_support::genkey;
use remote_support::{free_udp_port, require, Dns, Sender};

const SUPPORT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mailauth_support");

fn message(from_domain: &str, subject: &str) -> String {
    format!(
        "From: Sender <news@{from_domain}>\r\nTo: alice@here.test\r\nSubject: {subject}\r\n\
         Date: Fri, 04 Dec 2026 10:00:00 +0000\r\nMessage-ID: <{subject}@{from_domain}>\r\n\r\n\
         Hello Alice,\r\nthis is {subject}.\r\n"
    )
}

fn dkimpy_sign(mode: &str, key: &Path, domain: &str, input: &Path, output: &Path) {
    let out = Command::new("/usr/bin/python3")
        .arg(format!("{SUPPORT}/sign.py"))
        .args([mode])
        .arg(key)
        .args([domain, "sel"])
        .arg(input)
        .arg(output)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sign.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn opendkim_sign(key: &Path, domain: &str, input: &Path, output: &Path) {
    let out = Command::new("opendkim-testmsg")
        .args(["-C", "-d", domain, "-s", "sel", "-k"])
        .arg(key)
        .stdin(std::fs::File::open(input).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "opendkim-testmsg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(output, out.stdout).unwrap();
}

fn send(port: u16, from: &str, file: &Path) -> String {
    let out = Command::new("/usr/bin/python3")
        .arg(format!("{SUPPORT}/send.py"))
        .args([&port.to_string(), from, "alice@here.test"])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "send.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The message with `subject` in alice's INBOX or Junk folder (waits up to 10 s).
fn delivered(s: &Sender, folder: &str, subject: &str) -> String {
    let dir = s.dir.path().join("mail/alice").join(folder);
    let start = Instant::now();
    loop {
        for f in maildir_files(&dir) {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            if text.contains(&format!("Subject: {subject}\n"))
                || text.contains(&format!("Subject: {subject}\r\n"))
            {
                return text;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{subject} not in {folder}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Our Authentication-Results field, unfolded.
fn results(mail: &str) -> String {
    let mut fields = Vec::new();
    let mut current: Option<String> = None;
    for line in mail.lines() {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(c) = current.as_mut() {
                c.push(' ');
                c.push_str(line.trim());
            }
            continue;
        }
        if let Some(c) = current.take() {
            fields.push(c);
        }
        current = Some(line.trim_end().to_string());
    }
    fields.extend(current);
    let ours: Vec<String> = fields
        .into_iter()
        .filter(|f| {
            f.to_ascii_lowercase()
                .starts_with("authentication-results: mail.here.test")
        })
        .collect();
    assert_eq!(
        ours.len(),
        1,
        "exactly one Authentication-Results of ours: {ours:?}"
    );
    ours[0].clone()
}

#[test]
fn dkim_and_dmarc_verdicts_and_policies() {
    require(&[
        "dnsmasq",
        "opendkim-genkey",
        "opendkim-testmsg",
        "/usr/bin/python3",
    ]);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (key, record) = genkey(t, "good.test", 2048);
    let (short_key, short_record) = genkey(t, "short.test", 512);
    let silent = std::net::UdpSocket::bind(("127.0.0.1", free_udp_port())).unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let txt = |name: &str, value: &str| format!("--txt-record={name},{value}");
    let dns = Dns::start(&[
        txt("sel._domainkey.good.test", &record),
        txt("_dmarc.good.test", "v=DMARC1; p=reject"),
        txt("sel._domainkey.quar.test", &record),
        txt("_dmarc.quar.test", "v=DMARC1; p=quarantine"),
        txt("sel._domainkey.none.test", &record),
        txt("sel._domainkey.revoked.test", "v=DKIM1; k=rsa; p="),
        txt("sel._domainkey.short.test", &short_record),
        txt("sel._domainkey.garbage.test", "%%%% ;;; p=@@@@ not=a=key"),
        txt("_dmarc.garbage.test", "v=DMARC1; p=ducks; \u{7f}\u{1}"),
        format!("--server=/temp.test/127.0.0.1#{silent_port}"),
    ]);
    let s = Sender::new(
        "",
        &format!(
            "[trust]\nnetworks = []\n[receiving.untrusted]\ndmarc = \"enforce\"\n\
             [dns]\nservers = [\"127.0.0.1:{}\"]\ntimeout = \"1s\"\nattempts = 1\n",
            dns.port
        ),
    );
    let (_smtpd, port) = s.smtpd();
    let file = |name: &str| t.join(name);
    let write = |name: &str, text: &str| {
        std::fs::write(file(name), text).unwrap();
        file(name)
    };
    let signed = |name: &str, mode: &str, k: &Path, domain: &str, text: &str| {
        let input = write(&format!("{name}.in"), text);
        let out = file(&format!("{name}.eml"));
        dkimpy_sign(mode, k, domain, &input, &out);
        out
    };
    let accepted = |reply: &str| assert!(reply.starts_with("250"), "{reply}");

    // Signed by dkimpy and by OpenDKIM: pass, aligned, DMARC pass.
    let f = signed(
        "a",
        "dkim",
        &key,
        "good.test",
        &message("good.test", "dkimpy-signed"),
    );
    accepted(&send(port, "news@good.test", &f));
    let ar = results(&delivered(&s, "", "dkimpy-signed"));
    assert!(
        ar.contains("dkim=pass") && ar.contains("header.i=@good.test"),
        "{ar}"
    );
    assert!(ar.contains("dmarc=pass"), "{ar}");
    let input = write("b.in", &message("good.test", "opendkim-signed"));
    opendkim_sign(&key, "good.test", &input, &file("b.eml"));
    accepted(&send(port, "news@good.test", &file("b.eml")));
    let ar = results(&delivered(&s, "", "opendkim-signed"));
    assert!(
        ar.contains("dkim=pass") && ar.contains("dmarc=pass"),
        "{ar}"
    );

    // Altered on the way (body, then a signed header): DKIM fails, DMARC p=reject refuses.
    let f = signed(
        "c",
        "dkim",
        &key,
        "good.test",
        &message("good.test", "altered-body"),
    );
    let text = std::fs::read_to_string(&f)
        .unwrap()
        .replace("Hello Alice", "Hello Mallory");
    let reply = send(port, "news@good.test", &write("c2.eml", &text));
    assert!(
        reply.starts_with("550") && reply.contains("5.7.1") && reply.contains("DMARC"),
        "{reply}"
    );
    let f = signed(
        "d",
        "dkim",
        &key,
        "good.test",
        &message("good.test", "altered-header"),
    );
    let text = std::fs::read_to_string(&f)
        .unwrap()
        .replace("Subject: altered-header", "Subject: altered-header!");
    let reply = send(port, "news@good.test", &write("d2.eml", &text));
    assert!(reply.starts_with("550 5.7.1"), "{reply}");
    // An expired signature (x= in the past, made by dkimpy) counts as none: refused.
    let f = signed(
        "e",
        "expired",
        &key,
        "good.test",
        &message("good.test", "expired"),
    );
    let reply = send(port, "news@good.test", &f);
    assert!(reply.starts_with("550 5.7.1"), "{reply}");

    // p=quarantine failing: accepted into the Junk folder (\Junk).
    let f = signed(
        "q",
        "dkim",
        &key,
        "quar.test",
        &message("quar.test", "quarantined"),
    );
    let text = std::fs::read_to_string(&f)
        .unwrap()
        .replace("Hello Alice", "Hello Bob");
    accepted(&send(port, "news@quar.test", &write("q2.eml", &text)));
    let junk = delivered(&s, ".Junk", "quarantined");
    let ar = results(&junk);
    // A changed body: "neutral (body hash did not verify)", as Gmail says it.
    assert!(
        ar.contains("dkim=neutral (body hash did not verify)"),
        "{ar}"
    );
    assert!(
        ar.contains("dmarc=fail") && ar.contains("policy.dmarc=quarantine"),
        "{ar}"
    );
    let special =
        std::fs::read_to_string(s.dir.path().join("mail/alice/.Junk/postern-special-use")).unwrap();
    assert!(special.contains("\\Junk"), "{special}");

    // No DMARC record: DKIM fails, DMARC none, accepted.
    let f = signed(
        "n",
        "dkim",
        &key,
        "none.test",
        &message("none.test", "no-policy"),
    );
    let text = std::fs::read_to_string(&f)
        .unwrap()
        .replace("Hello Alice", "Hello Carol");
    accepted(&send(port, "news@none.test", &write("n2.eml", &text)));
    let ar = results(&delivered(&s, "", "no-policy"));
    assert!(
        ar.contains("dkim=neutral (body hash did not verify)") && ar.contains("dmarc=none"),
        "{ar}"
    );

    // A revoked key (empty p=), a 512-bit key, a garbage key record: never pass.
    for (domain, k, subject, want) in [
        (
            "revoked.test",
            &key,
            "revoked-key",
            "dkim=permerror (revoked public key)",
        ),
        // ring refuses RSA keys under 1024 bits (RFC 8301 §3.2): the signature cannot verify.
        (
            "short.test",
            &short_key,
            "short-key",
            "dkim=fail (verification failed)",
        ),
        (
            "garbage.test",
            &key,
            "garbage-record",
            "dkim=permerror (invalid dns record type)",
        ),
    ] {
        let f = signed(subject, "dkim", k, domain, &message(domain, subject));
        let started = Instant::now();
        accepted(&send(port, &format!("news@{domain}"), &f));
        let ar = results(&delivered(&s, "", subject));
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{subject} took {:?}",
            started.elapsed()
        );
        assert!(!ar.contains("dkim=pass"), "{subject}: {ar}");
        assert!(ar.contains(want), "{subject}: {ar}");
        let dmarc = if domain == "garbage.test" {
            "dmarc=permerror"
        } else {
            "dmarc=none header"
        };
        assert!(ar.contains(dmarc), "{subject}: {ar}");
        eprintln!("{subject}: {ar}");
    }

    // l=: the signed part verifies; text appended after it is not covered.
    let f = signed(
        "l",
        "length",
        &key,
        "none.test",
        &message("none.test", "length-tag"),
    );
    let mut text = std::fs::read_to_string(&f).unwrap();
    text.push_str("Appended after signing.\r\n");
    accepted(&send(port, "news@none.test", &write("l2.eml", &text)));
    let ar = results(&delivered(&s, "", "length-tag"));
    // mail-auth does not trust a partial body hash with content after it (Gmail neither).
    assert!(
        ar.contains("dkim=neutral (signature length ignored due to security risk)"),
        "{ar}"
    );

    // The DMARC lookup times out: 451, never a pass or a refusal for good.
    let f = write("t.eml", &message("temp.test", "temp-error"));
    let reply = send(port, "news@temp.test", &f);
    assert!(reply.starts_with("451") && reply.contains("4.7"), "{reply}");

    // A forged Authentication-Results with our authserv-id is dropped; one of ours remains.
    let forged = format!(
        "Authentication-Results: mail.here.test; dkim=pass header.d=good.test; dmarc=pass\r\n{}",
        message("none.test", "forged-results")
    );
    accepted(&send(port, "news@none.test", &write("f.eml", &forged)));
    let mail = delivered(&s, "", "forged-results");
    let ar = results(&mail);
    assert!(
        !ar.contains("dkim=pass") && ar.contains("dmarc=none header"),
        "{ar}"
    );
    assert!(!mail.contains("dmarc=pass"), "{mail}");

    // 50 signatures, and a 100 kB header: bounded time, a clear result.
    let f = signed(
        "many",
        "times:50",
        &key,
        "good.test",
        &message("good.test", "fifty-signatures"),
    );
    let started = Instant::now();
    accepted(&send(port, "news@good.test", &f));
    let ar = results(&delivered(&s, "", "fifty-signatures"));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert!(
        ar.contains("dkim=pass") && ar.contains("dmarc=pass"),
        "{ar}"
    );
    assert!(
        ar.matches("dkim=").count() <= 10,
        "at most 10 signatures checked: {ar}"
    );
    let mut big = String::from("X-Big: start");
    while big.len() < 100_000 {
        big.push_str("\r\n\tfolded continuation of a very large header field 0123456789");
    }
    let text = format!("{big}\r\n{}", message("good.test", "big-header"));
    let f = signed("big", "dkim", &key, "good.test", &text);
    let started = Instant::now();
    accepted(&send(port, "news@good.test", &f));
    let ar = results(&delivered(&s, "", "big-header"));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(ar.contains("dkim=pass"), "{ar}");
    drop(silent);
}
