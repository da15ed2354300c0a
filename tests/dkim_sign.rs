//! DKIM signing of outgoing mail, checked by verifiers nobody here wrote: `postern dkim keygen`
//! makes RSA-2048 and Ed25519 keys, their TXT records are served by a dnsmasq on loopback, a
//! message a local user sends to a remote domain reaches Postfix's smtp-sink signed by every key
//! (dual signing, relaxed and simple canonicalisation), and dkimpy and OpenDKIM verify each
//! signature; a message altered on the way fails both. Mail between local users and mail from
//! untrusted clients is not signed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
mod mailauth_support;
mod remote_support;

use common::text;
use mailauth_support::{dkimpy, opendkim, sink_message, txt_option};
use remote_support::{free_port, require, Dns, Sender, Sink};

const MESSAGE: &str = "From: Alice <alice@here.test>\nTo: Bob <bob@there.test>\nSubject: signed \
    test\nMIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\nHello over there.\n\
    A line with trailing space   \n\n\n";

/// The keys: (selector, algorithm flag, config algorithm, canonicalization).
const KEYS: &[(&str, &str, &str, &str)] = &[
    ("r1", "rsa2048", "rsa-sha256", "relaxed/relaxed"),
    ("r2", "rsa2048", "rsa-sha256", "simple/simple"),
    ("e1", "ed25519", "ed25519-sha256", "relaxed/relaxed"),
    ("e2", "ed25519", "ed25519-sha256", "simple/relaxed"),
];

#[test]
fn signed_by_every_key_and_verified_by_dkimpy_and_opendkim() {
    require(&["dnsmasq", "smtp-sink", "opendkim", "/usr/bin/python3"]);
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port("127.0.0.9");
    let sink = Sink::start("127.0.0.9", port, &tmp.path().join("sink"), &[]);

    // Keys first (the config may not name a key that does not exist yet).
    let s = Sender::new("", "");
    let mut records = vec!["--host-record=there.test,127.0.0.9".to_string()];
    let mut tables = String::new();
    for (selector, flag, algorithm, canon) in KEYS {
        let out = s.postern(&[
            "dkim",
            "keygen",
            "here.test",
            "--selector",
            selector,
            "--algorithm",
            flag,
        ]);
        assert!(out.status.success(), "keygen: {}", text(&out));
        let line = String::from_utf8(out.stdout).unwrap();
        assert!(
            line.starts_with(&format!(
                "{selector}._domainkey.here.test.\t3600\tIN\tTXT\t\"v=DKIM1; k="
            )),
            "{line}"
        );
        let key = s.dir.path().join(format!("dkim/here.test.{selector}.key"));
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&key).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "the private key is private");
        records.push(txt_option(line.trim_end()));
        tables.push_str(&format!(
            "[[domain.dkim]]\nselector = \"{selector}\"\nkey = \"dkim/here.test.{selector}.key\"\n\
             algorithm = \"{algorithm}\"\ncanonicalization = \"{canon}\"\n"
        ));
    }
    // An existing key is not replaced by accident.
    let again = s.postern(&["dkim", "keygen", "here.test", "--selector", "r1"]);
    assert!(!again.status.success(), "{}", text(&again));
    let dns = Dns::start(&records);
    let config = std::fs::read_to_string(s.config()).unwrap().replace(
        "name = \"here.test\"\n",
        &format!(
            "name = \"here.test\"\n{tables}\n[remote]\nmx_port = {port}\nconnect_timeout = \"3s\"\n\
             [dns]\nservers = [\"127.0.0.1:{}\"]\ntimeout = \"2s\"\n",
            dns.port
        ),
    );
    std::fs::write(s.config(), config).unwrap();
    let check = s.postern(&["config", "check"]);
    assert!(check.status.success(), "config check: {}", text(&check));

    let out = s.send(
        "alice@here.test",
        &["bob@there.test", "alice@here.test"],
        MESSAGE,
    );
    assert!(text(&out).contains("event=dkim_signed"), "{}", text(&out));
    let got = sink.wait_for(1);
    assert_eq!(got.len(), 1, "one message at the remote peer");
    let signed = sink_message(&got[0]);
    let file = tmp.path().join("signed.eml");
    std::fs::write(&file, &signed).unwrap();

    assert_eq!(
        signed.matches("DKIM-Signature:").count(),
        KEYS.len(),
        "{signed}"
    );
    let verdicts = dkimpy(dns.port, &file);
    assert_eq!(verdicts.len(), KEYS.len(), "{verdicts:?}");
    for (result, domain, _) in &verdicts {
        assert_eq!(
            (result.as_str(), domain.as_str()),
            ("pass", "here.test"),
            "{verdicts:?}\n{signed}"
        );
    }
    let mut selectors: Vec<&str> = verdicts.iter().map(|v| v.2.as_str()).collect();
    selectors.sort();
    assert_eq!(selectors, ["e1", "e2", "r1", "r2"]);
    let names: Vec<String> = KEYS
        .iter()
        .map(|k| format!("{}._domainkey.here.test", k.0))
        .collect();
    let mut od = opendkim(dns.port, &file, &tmp.path().join("opendkim"), &names);
    od.sort();
    assert_eq!(
        od,
        [
            ("pass", "e1"),
            ("pass", "e2"),
            ("pass", "r1"),
            ("pass", "r2")
        ]
        .map(|(r, s)| (r.to_string(), s.to_string())),
        "opendkim"
    );

    // The local copy is the same message, signed once.
    let local = s.wait_alice(1);
    assert_eq!(local.len(), 1);
    assert_eq!(local[0].matches("DKIM-Signature:").count(), KEYS.len());
    // Mail that stays here is not signed.
    let out = s.send("alice@here.test", &["alice@here.test"], MESSAGE);
    assert!(!text(&out).contains("dkim_signed"), "{}", text(&out));
    let local = s.wait_alice(2);
    assert_eq!(local.len(), 2);
    assert!(
        local.iter().any(|m| !m.contains("DKIM-Signature:")),
        "{local:?}"
    );

    // Altered on the way: a changed Subject fails every signature (dkimpy and OpenDKIM), a second
    // From (oversigned) too, and a changed body fails the body hash.
    for (what, altered) in [
        (
            "subject",
            signed.replace("Subject: signed test", "Subject: signed test!"),
        ),
        (
            "second From",
            signed.replacen(
                "From: Alice",
                "From: Mallory <m@evil.test>\r\nFrom: Alice",
                1,
            ),
        ),
        (
            "body",
            signed.replace("Hello over there.", "Hello over here."),
        ),
    ] {
        let f = tmp.path().join("altered.eml");
        std::fs::write(&f, &altered).unwrap();
        let v = dkimpy(dns.port, &f);
        assert!(v.iter().all(|(r, _, _)| r == "fail"), "{what}: {v:?}");
        let od = opendkim(dns.port, &f, &tmp.path().join("opendkim"), &names);
        assert_eq!(od.len(), KEYS.len(), "{what}: opendkim: {od:?}");
        assert!(
            od.iter().all(|(r, _)| r == "fail"),
            "{what}: opendkim: {od:?}"
        );
    }
}

/// A message with an 8-bit body and a line longer than SMTP allows is made 7-bit
/// (quoted-printable) before it is signed, so a next hop without 8BITMIME (smtp-sink `-8`)
/// gets it unconverted and the signature still verifies.
#[test]
fn eight_bit_mail_is_made_seven_bit_before_signing_and_still_verifies() {
    require(&["dnsmasq", "smtp-sink", "/usr/bin/python3"]);
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port("127.0.0.9");
    let sink = Sink::start("127.0.0.9", port, &tmp.path().join("sink"), &["-8"]);
    let s = Sender::new("", "");
    let out = s.postern(&["dkim", "keygen", "here.test", "--selector", "r1"]);
    assert!(out.status.success(), "keygen: {}", text(&out));
    let line = String::from_utf8(out.stdout).unwrap();
    let dns = Dns::start(&[
        "--host-record=there.test,127.0.0.9".to_string(),
        txt_option(line.trim_end()),
    ]);
    let config = std::fs::read_to_string(s.config()).unwrap().replace(
        "name = \"here.test\"\n",
        &format!(
            "name = \"here.test\"\n[[domain.dkim]]\nselector = \"r1\"\nkey = \"dkim/here.test.r1.key\"\n\
             [remote]\nmx_port = {port}\nconnect_timeout = \"3s\"\n\
             [dns]\nservers = [\"127.0.0.1:{}\"]\ntimeout = \"2s\"\n",
            dns.port
        ),
    );
    std::fs::write(s.config(), config).unwrap();
    let long = "word ".repeat(300);
    let message = format!(
        "From: Alice <alice@here.test>\nTo: Bob <bob@there.test>\nSubject: umlauts\n\
         MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\
         Content-Transfer-Encoding: 8bit\n\nGrüße aus Köln.\n{long}\n"
    );
    let out = s.send("alice@here.test", &["bob@there.test"], &message);
    assert!(text(&out).contains("event=dkim_signed"), "{}", text(&out));
    let got = sink.wait_for(1);
    assert_eq!(got.len(), 1);
    let signed = sink_message(&got[0]);
    assert!(
        signed.is_ascii(),
        "8-bit bytes reached a peer without 8BITMIME:\n{signed}"
    );
    assert!(
        signed.contains("Content-Transfer-Encoding: quoted-printable"),
        "{signed}"
    );
    assert!(
        signed.contains("Gr=C3=BC=C3=9Fe aus K=C3=B6ln."),
        "{signed}"
    );
    assert!(
        signed.lines().all(|l| l.len() <= 998),
        "a line over 998 octets"
    );
    let file = tmp.path().join("signed.eml");
    std::fs::write(&file, &signed).unwrap();
    let verdicts = dkimpy(dns.port, &file);
    assert_eq!(verdicts.len(), 1, "{verdicts:?}");
    assert_eq!(verdicts[0].0, "pass", "{verdicts:?}\n{signed}");
    // The text is unchanged once decoded (Python's email package).
    let decoded = std::process::Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(
            "import email,sys; m=email.message_from_binary_file(open(sys.argv[1],'rb')); \
             sys.stdout.write(m.get_payload(decode=True).decode('utf-8'))",
        )
        .arg(&file)
        .output()
        .unwrap();
    let decoded = String::from_utf8(decoded.stdout).unwrap();
    // (Trailing empty lines aside: the sink's dump ends the data with one of its own.)
    let want = format!("Grüße aus Köln.\n{long}");
    let got = decoded.replace("\r\n", "\n");
    assert!(
        got.trim_end_matches('\n') == want,
        "decoded: {:?}…",
        &got[..got.len().min(60)]
    );
}
