//! DNS blocklists and allowlists (RFC 5782) end to end: dnsmasq on a loopback port serves the
//! lists, the demo asks it, and swaks, Python's smtplib and the daemon under inetd are the
//! clients. Loopback addresses stand for the clients: 127.0.0.2 is listed (the entry RFC 5782
//! §5 says every list carries), 127.0.0.3 is not, 127.0.0.4 is listed in one list only,
//! 127.0.0.5 in both lists and the allowlist.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
mod policy_support;
mod remote_support;

use common::{have, Demo};
use policy_support::{
    demo_with, mail_of, queued, refused_with, replied, swaks, swaks_auth, swaks_inetd,
};
use remote_support::{free_port, Dns};

fn lists() -> Dns {
    assert!(
        have("dnsmasq"),
        "dnsmasq is not installed (bin/install-test-deps)"
    );
    let dead = free_port("127.0.0.1");
    let records: Vec<String> = [
        "--host-record=2.0.0.127.bl.test,127.0.0.2",
        "--txt-record=2.0.0.127.bl.test,Listed for spam; see https://bl.test/lookup?127.0.0.2",
        "--host-record=2.0.0.127.second.test,127.0.0.3",
        "--host-record=4.0.0.127.bl.test,127.0.0.2",
        "--host-record=5.0.0.127.bl.test,127.0.0.2",
        "--host-record=5.0.0.127.second.test,127.0.0.2",
        "--host-record=5.0.0.127.wl.test,127.0.15.1",
        // a "list" whose answer is outside 127/8 (hijacked, or rewriting NXDOMAIN)
        "--host-record=2.0.0.127.hijacked.test,198.51.100.1",
        // 2001:db8::1 in nibble form
        "--host-record=1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test,127.0.0.2",
    ]
    .iter()
    .map(|s| s.to_string())
    // Nothing listens there: lookups in down.test fail.
    .chain([format!("--server=/down.test/127.0.0.1#{dead}")])
    .collect();
    Dns::start(&records)
}

fn demo(dns: &Dns, receiving: &str) -> Demo {
    demo_with(&format!(
        "\n[dns]\nservers = [\"127.0.0.1:{}\"]\ntimeout = \"1s\"\nattempts = 1\n[receiving]\n{receiving}\n",
        dns.port
    ))
}

/// swaks from `from_ip` to the demo user; returns the transcript.
fn send_from(d: &Demo, from_ip: &str) -> String {
    swaks(
        d,
        &[
            "--local-interface",
            from_ip,
            "--from",
            "someone@sender.test",
            "--to",
            "demo@example.test",
        ],
    )
}

#[test]
fn listed_clients_refused_at_rcpt_by_default_with_the_lists_reason() {
    let dns = lists();
    let d = demo(&dns, r#"dnsbl = ["bl.test", "hijacked.test", "down.test"]"#);
    let out = send_from(&d, "127.0.0.2");
    assert!(replied(&out, "250 2.1.0"), "MAIL is accepted first:\n{out}");
    assert!(
        refused_with(
            &out,
            "554 5.7.1 Service unavailable; client [127.0.0.2] blocked using bl.test; \
             Listed for spam; see https://bl.test/lookup?127.0.0.2"
        ),
        "{out}"
    );
    assert!(!queued(&out), "{out}");
    // An unlisted client; an answer outside 127/8 and a list that does not answer are no
    // listing.
    let out = send_from(&d, "127.0.0.3");
    assert!(queued(&out), "{out}");
    assert_eq!(mail_of(&d, "demo", 1).len(), 1);
    let log = d.log();
    assert!(
        log.lines().any(|l| l.contains("event=dnsbl")
            && l.contains("ip=127.0.0.2")
            && l.contains("bl.test=127.0.0.2*1")
            && l.contains("action=refused")),
        "{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("event=dnsbl") && l.contains("failed=down.test")),
        "{log}"
    );
}

#[test]
fn refused_at_connect_with_554_then_only_quit() {
    let dns = lists();
    let d = demo(&dns, "dnsbl = [\"bl.test\"]\ndnsbl_at = \"connect\"");
    let port = d.port(policy_support::SMTP).to_string();
    let script = r#"
import smtplib, sys
port = int(sys.argv[1])
for ip in ("127.0.0.2", "127.0.0.3"):
    try:
        s = smtplib.SMTP("127.0.0.1", port, source_address=(ip, 0), timeout=20)
        code, _ = s.ehlo("mta.test")
        print(ip, "greeted", code)
        s.quit()
    except smtplib.SMTPConnectError as e:
        print(ip, "refused", e.smtp_code, e.smtp_error.decode())
"#;
    let out = common::python(script, &[&port]);
    assert!(
        out.contains("127.0.0.2 refused 554 5.7.1 Service unavailable; client [127.0.0.2] blocked using bl.test"),
        "{out}"
    );
    assert!(out.contains("127.0.0.3 greeted 250"), "{out}");
    // swaks sees the 554 greeting too, and the session answers 503 until QUIT.
    let out = send_from(&d, "127.0.0.2");
    assert!(refused_with(&out, "554 5.7.1"), "{out}");
}

#[test]
fn weights_threshold_and_allowlist_at_mail() {
    let dns = lists();
    let d = demo(
        &dns,
        "dnsbl = [\"bl.test\", { zone = \"second.test\", weight = 1 }]\ndnsbl_threshold = 2\n\
         dnswl = [\"wl.test\"]\ndnsbl_at = \"mail\"",
    );
    // Listed in both lists (bl.test and second.test): weight 2, refused at MAIL.
    let out = send_from(&d, "127.0.0.2");
    assert!(
        refused_with(
            &out,
            "554 5.7.1 Service unavailable; client [127.0.0.2] blocked using bl.test, second.test"
        ),
        "{out}"
    );
    assert!(!replied(&out, "250 2.1.0"), "{out}");
    // In one list only: weight 1 < 2.
    assert!(queued(&send_from(&d, "127.0.0.4")));
    // In both, but allowlisted.
    assert!(queued(&send_from(&d, "127.0.0.5")));
    assert_eq!(mail_of(&d, "demo", 2).len(), 2);
    let log = d.log();
    assert!(
        log.lines()
            .any(|l| l.contains("event=dnsbl") && l.contains("allowed_by=wl.test")),
        "{log}"
    );
}

#[test]
fn authenticated_clients_are_not_checked() {
    let dns = lists();
    let d = demo(&dns, "dnsbl = [\"bl.test\"]\ndnsbl_at = \"mail\"");
    let out = swaks_auth(
        &d,
        &[
            "--local-interface",
            "127.0.0.2",
            "--from",
            "demo@example.test",
            "--to",
            "demo@example.test",
        ],
    );
    assert!(queued(&out), "{out}");
}

#[test]
fn ipv6_clients_looked_up_by_nibbles_under_inetd() {
    let dns = lists();
    let d = demo(&dns, "dnsbl = [\"bl.test\"]\ndnsbl_at = \"mail\"");
    for (ip, listed) in [("2001:db8::1", true), ("2001:db8::2", false)] {
        let args = [
            "--from",
            "a@sender.test",
            "--to",
            "demo@example.test",
            "--quit-after",
            "MAIL",
        ];
        let out = swaks_inetd(&d, ip, &args);
        let want = format!("554 5.7.1 Service unavailable; client [{ip}] blocked using bl.test");
        assert_eq!(refused_with(&out, &want), listed, "{ip}:\n{out}");
        assert_eq!(replied(&out, "250 2.1.0"), !listed, "{ip}:\n{out}");
    }
}
