//! Harness for the message-authentication tests: DNS records for dnsmasq from zone lines, and the
//! independent verifiers — dkimpy (Debian `python3-dkim`, under /usr/bin/python3) and OpenDKIM
//! (`opendkim -t` with libunbound forwarding to the test's dnsmasq).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The dnsmasq option serving a TXT zone line (`NAME. TTL IN TXT "a" "b"`) as printed by
/// `postern dkim keygen` and `postern dns records`.
pub fn txt_option(zone_line: &str) -> String {
    let mut fields = zone_line.splitn(5, '\t');
    let name = fields.next().expect("name").trim_end_matches('.');
    let data = fields.nth(3).expect("data");
    assert!(zone_line.contains("\tTXT\t"), "not a TXT line: {zone_line}");
    // dnsmasq takes the strings comma-separated and unquoted on its command line.
    let strings: Vec<&str> = data.trim().trim_matches('"').split("\" \"").collect();
    format!("--txt-record={name},{}", strings.join(","))
}

/// dkimpy's verdict on each DKIM signature of the message in `file`: (result, d=, s=).
pub fn dkimpy(dns_port: u16, file: &Path) -> Vec<(String, String, String)> {
    let out = python_verify(dns_port, file, "dkim");
    out.lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 4, "dkimpy said {l:?}");
            (f[1].to_string(), f[2].to_string(), f[3].to_string())
        })
        .collect()
}

/// dkimpy's ARC chain validation of the message in `file`: `pass`, `fail` or `none`, with why.
pub fn arcpy(dns_port: u16, file: &Path) -> String {
    python_verify(dns_port, file, "arc").trim().to_string()
}

fn python_verify(dns_port: u16, file: &Path, mode: &str) -> String {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/mailauth_support/verify.py"
    );
    let out = Command::new("/usr/bin/python3")
        .arg(script)
        .arg(dns_port.to_string())
        .arg(file)
        .arg(mode)
        .output()
        .expect("run dkimpy");
    assert!(
        out.status.success(),
        "dkimpy failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// OpenDKIM's verdict on each signature of the message in `file` (`opendkim -t`): (result,
/// s=) from the Authentication-Results it would add. OpenDKIM's resolver here is libunbound,
/// which sends nothing to a forwarder on a loopback port; so the TXT records of `names` are
/// fetched from the test's dnsmasq (dnspython) and handed to OpenDKIM as its `TestPublicKeys`.
pub fn opendkim(
    dns_port: u16,
    file: &Path,
    work: &Path,
    names: &[String],
) -> Vec<(String, String)> {
    std::fs::create_dir_all(work).expect("work dir");
    let keys = work.join("keys.txt");
    let script = r#"
import sys, dns.resolver
r = dns.resolver.Resolver(configure=False)
r.nameservers = ["127.0.0.1"]; r.port = int(sys.argv[1]); r.lifetime = 5
out = []
for name in sys.argv[3:]:
    try:
        for rr in r.resolve(name, "TXT"):
            out.append(name + " " + b"".join(rr.strings).decode())
    except Exception:
        pass
open(sys.argv[2], "w").write("\n".join(out) + "\n")
"#;
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .arg(dns_port.to_string())
        .arg(&keys)
        .args(names)
        .output()
        .expect("fetch keys");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let conf = work.join("opendkim.conf");
    std::fs::write(
        &conf,
        format!(
            "Mode v\nSyslog no\nTestPublicKeys {}\nMinimumKeyBits 1024\nMaximumSignaturesToVerify 10\n",
            keys.display()
        ),
    )
    .expect("opendkim.conf");
    let out = Command::new("opendkim")
        .arg("-x")
        .arg(&conf)
        .arg("-vvv")
        .arg("-t")
        .arg(file)
        .output()
        .expect("run opendkim");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    report
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let result = l.strip_prefix("dkim=")?.split([' ', ';']).next()?;
            let selector = l.split("header.s=").nth(1)?.split([' ', ';']).next()?;
            Some((result.to_string(), selector.to_string()))
        })
        .collect()
}

/// The message smtp-sink stored, without the X-… lines it writes in front (CRLF line ends).
pub fn sink_message(dump: &str) -> String {
    let mut lines = dump.lines().peekable();
    while lines.peek().is_some_and(|l| {
        l.starts_with("X-Client-")
            || l.starts_with("X-Helo-")
            || l.starts_with("X-Mail-")
            || l.starts_with("X-Rcpt-")
    }) {
        lines.next();
    }
    let mut out = lines.collect::<Vec<_>>().join("\r\n");
    out.push_str("\r\n");
    out
}

/// `opendkim-genkey` into `dir` (selector `sel`): (private key file, TXT record text).
pub fn genkey(dir: &Path, domain: &str, bits: u32) -> (PathBuf, String) {
    let d = dir.join(format!("{domain}-{bits}"));
    std::fs::create_dir_all(&d).expect("opendkim-genkey");
    let out = Command::new("opendkim-genkey")
        .args([
            "--bits",
            &bits.to_string(),
            "--selector",
            "sel",
            "--domain",
            domain,
        ])
        .arg("--directory")
        .arg(&d)
        .output()
        .expect("opendkim-genkey");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let zone = std::fs::read_to_string(d.join("sel.txt")).expect("opendkim-genkey");
    let record: String = zone
        .split('"')
        .skip(1)
        .step_by(2)
        .collect::<Vec<_>>()
        .concat();
    (d.join("sel.private"), record)
}
