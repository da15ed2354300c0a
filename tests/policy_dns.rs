//! The spoofed-sender check and SPF (RFC 7208) end to end against a real DNS server: dnsmasq on
//! a loopback port with MX, A, PTR and TXT records, and the demo's config asking it.
//!
//! The resolver answers every PTR question about 127.0.0.0/8 itself (`localhost`, RFC 6761), so
//! the client comes from 198.51.100.7: swaks talks to `postern smtpd --inetd` over a pipe with
//! `TCPREMOTEIP` set, as ucspi-tcp would. One check also goes over the demo's SMTP socket.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
mod policy_support;
mod remote_support;

use common::{have, Demo};
use policy_support::{demo_with, refused_with, replied, swaks};
use remote_support::{free_port, Dns};

/// The records: the client's address, 198.51.100.7, is
/// - the MX of good.test,
/// - the A record of arecord.test (which has no MX),
/// - named host.ptr.test by its PTR, confirmed by that name's A (ptr.test's MX and A are
///   elsewhere),
/// - also named liar.fake.test by a PTR that name's A does not confirm,
/// - nothing of spoofed.test (MX and A elsewhere);
///
/// and SPF records pass, fail, softfail, a broken pair (permerror), and a zone whose server
/// does not answer (temperror).
fn dns() -> Dns {
    assert!(
        have("dnsmasq"),
        "dnsmasq is not installed (bin/install-test-deps)"
    );
    // Nothing listens there: queries for spf-temp.test fail temporarily.
    let dead = free_port("127.0.0.1");
    let records: Vec<String> = [
        "--mx-host=good.test,mx.good.test,10",
        "--host-record=mx.good.test,198.51.100.7",
        "--host-record=arecord.test,198.51.100.7",
        "--mx-host=ptr.test,mx.ptr.test,10",
        "--host-record=mx.ptr.test,192.0.2.9",
        "--host-record=ptr.test,192.0.2.9",
        "--host-record=host.ptr.test,198.51.100.7",
        // (PTR records given here replace those --host-record would make.)
        "--ptr-record=7.100.51.198.in-addr.arpa,host.ptr.test",
        "--ptr-record=7.100.51.198.in-addr.arpa,liar.fake.test",
        "--host-record=liar.fake.test,192.0.2.5",
        "--mx-host=spoofed.test,mx.spoofed.test,10",
        "--host-record=mx.spoofed.test,192.0.2.1",
        "--host-record=spoofed.test,192.0.2.2",
        "--host-record=lo.test,127.0.0.1",
        "--txt-record=spf-pass.test,v=spf1 ip4:198.51.100.0/24 -all",
        "--txt-record=spf-fail.test,v=spf1 ip4:192.0.2.0/24 -all",
        "--txt-record=spf-soft.test,v=spf1 ip4:192.0.2.0/24 ~all",
        "--txt-record=spf-perm.test,v=spf1 -all",
        "--txt-record=spf-perm.test,v=spf1 +all",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("--server=/spf-temp.test/127.0.0.1#{dead}")])
    .collect();
    Dns::start(&records)
}

fn demo(dns: &Dns, rules: &str) -> Demo {
    demo_with(&format!(
        "\n[dns]\nservers = [\"127.0.0.1:{}\"]\ntimeout = \"2s\"\nattempts = 1\n\
         [receiving.untrusted]\n{rules}",
        dns.port
    ))
}

/// The reply to MAIL FROM:<from>, as swaks shows it, from a client at 198.51.100.7.
fn mail(d: &Demo, from: &str) -> String {
    let pipe = format!(
        "env TCPREMOTEIP=198.51.100.7 TCPREMOTEPORT=4242 {} --config {} smtpd --inetd --listener smtp",
        common::bin().display(),
        d.config().display()
    );
    let out = common::run(
        "swaks",
        &[
            "--pipe",
            &pipe,
            "--timeout",
            "20",
            "--helo",
            "mta.test",
            "--from",
            from,
            "--to",
            "demo@example.test",
            "--quit-after",
            "MAIL",
        ],
    );
    common::text(&out)
}

/// MAIL FROM:<from> is accepted; returns the transcript (with the server's log lines).
fn passes(d: &Demo, from: &str) -> String {
    let out = mail(d, from);
    assert!(replied(&out, "250 2.1.0"), "{from} refused:\n{out}");
    out
}

/// MAIL FROM:<from> is refused with `reply`; returns the transcript.
fn refused(d: &Demo, from: &str, reply: &str) -> String {
    let out = mail(d, from);
    assert!(refused_with(&out, reply), "{from}: want {reply}\n{out}");
    out
}

const SPOOFED: &str = "550 5.7.1";

#[test]
fn spoof_check_only_for_listed_senders_and_spf_fail() {
    let dns = dns();
    let d = demo(
        &dns,
        r#"spoof_check = "only"
spoof_list = [{ field = "sender", op = "matches", value = "@(good|arecord|ptr|fake|spoofed|lo)\\.test$" }]
spf = "fail"
"#,
    );
    // Listed: each way of belonging passes, the others are refused.
    passes(&d, "a@good.test"); // MX
    passes(&d, "a@arecord.test"); // A
    passes(&d, "a@ptr.test"); // PTR name inside the domain, confirmed by its A
    refused(
        &d,
        "a@spoofed.test",
        "550 5.7.1 <a@spoofed.test>: Sender address rejected: 198.51.100.7 is not a mail server of spoofed.test",
    );
    refused(&d, "a@fake.test", SPOOFED); // PTR inside, but its A says otherwise
                                         // Not listed: not checked (this one would fail).
    passes(&d, "a@unlisted.test");
    // Over the demo's SMTP socket, from 127.0.0.1: lo.test's A is that address.
    let tcp = |from: &str| {
        swaks(
            &d,
            &[
                "--from",
                from,
                "--to",
                "demo@example.test",
                "--quit-after",
                "MAIL",
            ],
        )
    };
    assert!(replied(&tcp("a@lo.test"), "250 2.1.0"));
    assert!(refused_with(
        &tcp("a@spoofed.test"),
        "550 5.7.1 <a@spoofed.test>: Sender address rejected: 127.0.0.1 is not"
    ));
    // SPF: pass, fail, softfail (let through in mode "fail"), none, permerror, temperror; each
    // result is an event in the server's log (the inetd server logs to swaks's stderr).
    for (out, result) in [
        (passes(&d, "a@spf-pass.test"), "pass"),
        (
            refused(
                &d,
                "a@spf-fail.test",
                "550 5.7.23 <a@spf-fail.test>: SPF check failed",
            ),
            "fail",
        ),
        (passes(&d, "a@spf-soft.test"), "softfail"),
        (passes(&d, "a@nothing.test"), "none"),
        (passes(&d, "a@spf-perm.test"), "permerror"),
        (
            refused(
                &d,
                "a@spf-temp.test",
                "451 4.7.24 <a@spf-temp.test>: SPF check failed temporarily",
            ),
            "temperror",
        ),
    ] {
        assert!(
            out.contains("event=spf ip=198.51.100.7")
                && out.contains(&format!("result={result}\n")),
            "no spf result={result} in:\n{out}"
        );
    }
}

#[test]
fn spoof_check_for_all_senders_except_listed_and_spf_softfail() {
    let dns = dns();
    let d = demo(
        &dns,
        r#"spoof_check = "all-except"
spoof_list = [
  { field = "sender", op = "ends-with", value = "@partner.test" },
  { field = "sender", op = "starts-with", value = "a@spf-" },
]
spf = "softfail"
"#,
    );
    passes(&d, "a@good.test");
    passes(&d, "a@arecord.test");
    passes(&d, "a@ptr.test");
    refused(&d, "a@spoofed.test", SPOOFED);
    refused(&d, "a@fake.test", SPOOFED);
    // Everyone not excepted is checked: an unknown domain has no server at 198.51.100.7.
    refused(
        &d,
        "a@unlisted.test",
        "550 5.7.1 <a@unlisted.test>: Sender address rejected: 198.51.100.7 is not a mail server",
    );
    // Excepted: not checked.
    passes(&d, "someone@partner.test");
    // SPF in mode "softfail": softfail is refused too.
    passes(&d, "a@spf-pass.test");
    refused(&d, "a@spf-fail.test", "550 5.7.23");
    refused(
        &d,
        "a@spf-soft.test",
        "550 5.7.23 <a@spf-soft.test>: SPF check failed (softfail) for 198.51.100.7",
    );
    refused(&d, "a@spf-temp.test", "451 4.7.24");
    // The null sender has no domain to check against; SPF uses postmaster@HELO (none here).
    passes(&d, "<>");
}

/// One resolver per process, long-lived and caching: the same SPF question from three
/// connections reaches the DNS server once (before, every question built a resolver and a
/// runtime of its own, with nothing cached).
#[test]
fn one_caching_resolver_serves_every_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("dnsmasq.log");
    let dns = Dns::start(&[
        "--txt-record=spf-pass.test,v=spf1 ip4:127.0.0.0/8 -all".to_string(),
        "--local-ttl=300".to_string(),
        "--log-queries".to_string(),
        format!("--log-facility={}", log.display()),
    ]);
    let d = demo(&dns, "spf = \"fail\"\n");
    for _ in 0..3 {
        let out = swaks(
            &d,
            &[
                "--from",
                "a@spf-pass.test",
                "--to",
                "demo@example.test",
                "--quit-after",
                "MAIL",
            ],
        );
        assert!(replied(&out, "250 2.1.0"), "{out}");
    }
    let queries = std::fs::read_to_string(&log).unwrap_or_default();
    let asked = queries
        .lines()
        .filter(|l| l.contains("query[TXT] spf-pass.test"))
        .count();
    assert_eq!(asked, 1, "TXT queries for spf-pass.test:\n{queries}");
    assert_eq!(d.log().matches("result=pass").count(), 3, "{}", d.log());
}
