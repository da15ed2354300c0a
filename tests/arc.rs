//! ARC (RFC 8617) against dkimpy: a chain sealed by dkimpy's `arc_sign` validates here and a
//! trusted sealer makes a DMARC failure acceptable (an untrusted one does not); mail that a
//! handler forwards to another server gets an ARC set of ours, which dkimpy's `arc_verify`
//! validates with the key served by dnsmasq.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
mod mailauth_support;
mod remote_support;

use std::path::Path;
use std::process::Command;

use common::text;
use mailauth_support::{arcpy, genkey, sink_message, txt_option};
use remote_support::{free_port, require, Dns, Sender, Sink};

const SUPPORT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mailauth_support");

fn py(script: &str, args: &[&str]) -> String {
    let out = Command::new("/usr/bin/python3")
        .arg(format!("{SUPPORT}/{script}"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn arc_chains_validate_and_are_sealed() {
    require(&[
        "dnsmasq",
        "smtp-sink",
        "opendkim-genkey",
        "/usr/bin/python3",
    ]);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (fwd_key, fwd_record) = genkey(t, "fwd.test", 2048);
    let (other_key, other_record) = genkey(t, "other.test", 2048);
    let mx = free_port("127.0.0.9");
    let sink = Sink::start("127.0.0.9", mx, &t.join("sink"), &[]);

    // The receiving postern: here.test with a DKIM key, `fwd@` forwarding to bob@there.test.
    let s = Sender::new("", "");
    let keygen = s.postern(&["dkim", "keygen", "here.test", "--selector", "r1"]);
    assert!(keygen.status.success(), "{}", text(&keygen));
    let here_record = String::from_utf8(keygen.stdout).unwrap();
    let dns = Dns::start(&[
        format!("--txt-record=sel._domainkey.fwd.test,{fwd_record}"),
        format!("--txt-record=sel._domainkey.other.test,{other_record}"),
        "--txt-record=_dmarc.bad.test,v=DMARC1; p=reject".into(),
        txt_option(here_record.trim_end()),
        "--host-record=there.test,127.0.0.9".into(),
    ]);
    let config = std::fs::read_to_string(s.config()).unwrap().replace(
        "name = \"here.test\"\n",
        &format!(
            "name = \"here.test\"\n[[domain.dkim]]\nselector = \"r1\"\nkey = \"dkim/here.test.r1.key\"\n\
             [[domain.handler]]\nlocal = \"fwd\"\nforward = \"bob@there.test\"\n\
             [trust]\nnetworks = []\n[receiving]\narc_trusted_sealers = [\"fwd.test\"]\n\
             [receiving.untrusted]\ndmarc = \"enforce\"\n[remote]\nmx_port = {mx}\n\
             [dns]\nservers = [\"127.0.0.1:{}\"]\ntimeout = \"2s\"\n",
            dns.port
        ),
    );
    std::fs::write(s.config(), config).unwrap();
    let check = s.postern(&["config", "check"]);
    assert!(check.status.success(), "{}", text(&check));
    let (_smtpd, port) = s.smtpd();

    // From bad.test (p=reject), unsigned: only an ARC chain can vouch for it.
    let message = |subject: &str, sealer: &str| {
        format!(
            "Authentication-Results: {sealer}; dkim=pass header.d=bad.test; dmarc=pass\r\n\
             From: news@bad.test\r\nTo: alice@here.test\r\nSubject: {subject}\r\n\
             Date: Fri, 04 Dec 2026 10:00:00 +0000\r\nMessage-ID: <{subject}@bad.test>\r\n\r\n\
             Forwarded by a list.\r\n"
        )
    };
    let sealed = |name: &str, key: &Path, sealer: &str| {
        let input = t.join(format!("{name}.in"));
        std::fs::write(&input, message(name, sealer)).unwrap();
        let out = t.join(format!("{name}.eml"));
        py(
            "sign.py",
            &[
                "arc",
                key.to_str().unwrap(),
                sealer,
                "sel",
                input.to_str().unwrap(),
                out.to_str().unwrap(),
            ],
        );
        out
    };
    let send = |file: &Path, to: &str| {
        py(
            "send.py",
            &[
                &port.to_string(),
                "news@bad.test",
                to,
                file.to_str().unwrap(),
            ],
        )
    };
    let trusted = sealed("trusted-arc", &fwd_key, "fwd.test");
    // dkimpy itself says the chain it made is valid.
    assert!(
        arcpy(dns.port, &trusted).starts_with("pass"),
        "{}",
        arcpy(dns.port, &trusted)
    );
    let reply = send(&trusted, "alice@here.test");
    assert!(reply.starts_with("250"), "trusted sealer: {reply}");
    let mail = s.wait_alice(1);
    assert_eq!(mail.len(), 1);
    assert!(mail[0].contains("arc=pass"), "{}", mail[0]);
    let untrusted = sealed("untrusted-arc", &other_key, "other.test");
    let reply = send(&untrusted, "alice@here.test");
    assert!(reply.starts_with("550 5.7.1"), "untrusted sealer: {reply}");

    // Forwarded by the fwd@ handler: sealed by here.test, valid for dkimpy.
    let forwarded = sealed("forwarded", &fwd_key, "fwd.test");
    let reply = send(&forwarded, "fwd@here.test");
    assert!(reply.starts_with("250"), "{reply}");
    let got = sink.wait_for(1);
    assert_eq!(got.len(), 1, "forwarded to there.test");
    let msg = sink_message(&got[0]);
    assert!(
        msg.contains("ARC-Seal: i=2; a=rsa-sha256;") && msg.contains("d=here.test"),
        "{msg}"
    );
    let f = t.join("forwarded-out.eml");
    std::fs::write(&f, &msg).unwrap();
    let verdict = arcpy(dns.port, &f);
    assert!(
        verdict.starts_with("pass"),
        "dkimpy arc_verify: {verdict}\n{msg}"
    );
}
