//! `postern dns records` prints every record a hosted domain needs in zone-file syntax, and
//! `postern dns check` looks them up through `[dns]` (a dnsmasq serving some of them, one with
//! other data) and says record by record what is missing or different.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
mod mailauth_support;
mod remote_support;

use common::text;
use mailauth_support::txt_option;
use remote_support::{require, Dns, Sender};

#[test]
fn records_are_printed_and_checked() {
    require(&["dnsmasq"]);
    let s = Sender::new("", "");
    let keygen = s.postern(&[
        "dkim",
        "keygen",
        "here.test",
        "--selector",
        "e1",
        "--algorithm",
        "ed25519",
    ]);
    assert!(keygen.status.success(), "{}", text(&keygen));
    let config = std::fs::read_to_string(s.config()).unwrap().replace(
        "name = \"here.test\"\n",
        "name = \"here.test\"\n[[domain.dkim]]\nselector = \"e1\"\nkey = \"dkim/here.test.e1.key\"\n\
         algorithm = \"ed25519-sha256\"\n\
         [[listener]]\nname = \"sub\"\nprotocol = \"submission\"\naddress = \"127.0.0.1:2587\"\n\
         [[listener]]\nname = \"imaps\"\nprotocol = \"imap\"\naddress = \"127.0.0.1:2993\"\ntls = \"implicit\"\n\
         cert = \"c.pem\"\nkey = \"k.pem\"\n",
    );
    std::fs::write(s.config(), config).unwrap();
    let out = s.postern(&["dns", "records", "here.test"]);
    assert!(out.status.success(), "{}", text(&out));
    let zone = String::from_utf8(out.stdout).unwrap();
    let line = |prefix: &str| -> String {
        zone.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in\n{zone}"))
            .to_string()
    };
    assert_eq!(
        line("here.test.\t3600\tIN\tMX"),
        "here.test.\t3600\tIN\tMX\t10 mail.here.test."
    );
    assert_eq!(
        line("here.test.\t3600\tIN\tTXT"),
        "here.test.\t3600\tIN\tTXT\t\"v=spf1 mx ~all\""
    );
    let dkim = line("e1._domainkey.here.test.");
    assert_eq!(
        dkim,
        String::from_utf8(keygen.stdout).unwrap().trim_end(),
        "the key's own record"
    );
    assert!(line("_dmarc.here.test.")
        .ends_with("\"v=DMARC1; p=none; rua=mailto:postmaster@here.test\""));
    assert!(line("_mta-sts.here.test.").contains("\"v=STSv1; id="));
    assert!(
        line("_smtp._tls.here.test.").ends_with("\"v=TLSRPTv1; rua=mailto:postmaster@here.test\"")
    );
    assert!(line("_submission._tcp.here.test.").ends_with("SRV\t0 1 2587 mail.here.test."));
    assert!(line("_imaps._tcp.here.test.").ends_with("SRV\t0 1 2993 mail.here.test."));
    assert!(line("autoconfig.here.test.").ends_with("CNAME\tmail.here.test."));

    // Published: MX, SPF (other wording), the DKIM key, DMARC; an old key under the selector of
    // another: different. Nothing else.
    let dns = Dns::start(&[
        "--mx-host=here.test,mail.here.test,10".into(),
        "--txt-record=here.test,v=spf1 ip4:192.0.2.1 -all".into(),
        txt_option(&dkim),
        "--txt-record=_dmarc.here.test,v=DMARC1; p=none; rua=mailto:postmaster@here.test".into(),
        "--srv-host=_submission._tcp.here.test,mail.here.test,2587,0,1".into(),
    ]);
    let config = std::fs::read_to_string(s.config()).unwrap()
        + &format!(
            "[dns]\nservers = [\"127.0.0.1:{}\"]\ntimeout = \"2s\"\n",
            dns.port
        );
    std::fs::write(s.config(), config).unwrap();
    let out = s.postern(&["dns", "check", "here.test"]);
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!out.status.success(), "records are missing: {report}");
    let status = |name: &str| -> String {
        report
            .lines()
            .find(|l| {
                l.split_whitespace().nth(2) == Some(name)
                    || l.split_whitespace().nth(2) == Some(&format!("{name}:"))
            })
            .unwrap_or_else(|| panic!("{name} not reported:\n{report}"))
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(status("e1._domainkey.here.test"), "ok", "{report}");
    assert_eq!(status("_dmarc.here.test"), "ok", "{report}");
    assert_eq!(status("_submission._tcp.here.test"), "ok", "{report}");
    assert_eq!(status("_smtp._tls.here.test"), "missing", "{report}");
    assert_eq!(status("autodiscover.here.test"), "missing", "{report}");
    assert!(
        report.contains("different TXT here.test: published v=spf1 ip4:192.0.2.1 -all"),
        "{report}"
    );
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("ok") && l.contains("MX here.test")),
        "{report}"
    );
    let json = s.postern(&["dns", "check", "here.test", "--json"]);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&json.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 10, "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l["name"] == "e1._domainkey.here.test" && l["status"] == "ok"),
        "{lines:?}"
    );
}
