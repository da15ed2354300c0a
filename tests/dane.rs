//! DANE (RFC 7672) outbound against real parts on loopback: NSD serving `dane.test`, signed with
//! `ldns-signzone`, and the unsigned `plain.test`, behind a validating unbound whose only trust
//! anchor is the test zone's key (postern trusts its AD bit: `[dns] dnssec = true`); aiosmtpd
//! MX peers on 127.0.0.x with a certificate matching `3 1 1`, one from a CA matching `2 0 1`, a
//! certificate matching nothing, a peer offering no STARTTLS, a TLSA RRset with a broken
//! signature, and only unusable (PKIX) records. A stripped STARTTLS or a non-matching
//! certificate never delivers: the mail waits with the reason naming DANE, and bounces at its
//! lifetime.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
mod remote_support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{text, wait_for_port};
use remote_support::{
    free_port, free_udp_port, postern_smtpd, queued_for, received, require, sh, tls_peer,
    wait_until, Proc, Sender, MESSAGE,
};

const NSD: &str = "127.0.0.53";
const UNBOUND: &str = "127.0.0.54";

/// A CA; leaves signed by it for mx-ta.dane.test and for elsewhere.test (each `NAME-chain.pem`
/// with the CA after the leaf, as RFC 7672 §3.2.1 wants for DANE-TA); self-signed `ee` (for a
/// name that is not the MX's: DANE-EE checks no name) and `other`.
fn certificates(dir: &Path) {
    sh(
        dir,
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
         -out ca.pem -days 2 -subj /CN=dane-test-ca -addext basicConstraints=critical,CA:TRUE \
         -addext keyUsage=critical,keyCertSign 2>/dev/null
         leaf() {
           openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $1.key \
             -out $1.csr -subj /CN=$2 2>/dev/null
           printf 'subjectAltName=DNS:%s\\n' \"$2\" > $1.ext
           openssl x509 -req -in $1.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out $1.pem \
             -days 2 -extfile $1.ext 2>/dev/null
           cat $1.pem ca.pem > $1-chain.pem
         }
         leaf ta mx-ta.dane.test
         leaf taname elsewhere.test
         for c in ee other; do
           openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $c.key \
             -out $c.pem -days 2 -subj /CN=not-the-mx.invalid 2>/dev/null
           cp $c.pem $c-chain.pem
         done",
    );
}

/// SHA-256 of a certificate's SubjectPublicKeyInfo (selector 1) or whole DER (selector 0).
fn digest(dir: &Path, cert: &str, selector: u8) -> String {
    let script = match selector {
        1 => format!(
            "openssl x509 -in {cert}.pem -noout -pubkey | openssl pkey -pubin -outform DER | \
             sha256sum | cut -d' ' -f1"
        ),
        _ => format!("openssl x509 -in {cert}.pem -outform DER | sha256sum | cut -d' ' -f1"),
    };
    sh(dir, &script)
}

/// The MX peer on `ip`:`port`, with the chain of `cert` (name of a pair in `dir`) or no
/// STARTTLS.
fn peer(ip: &str, port: u16, out: &Path, dir: &Path, cert: Option<&str>) -> Proc {
    let files = cert.map(|c| {
        (
            dir.join(format!("{c}-chain.pem")),
            dir.join(format!("{c}.key")),
        )
    });
    tls_peer(ip, port, out, files)
}

/// `PROGRAM -d -c dir/PROGRAM.conf` in the foreground, once it listens on `addr` (its log,
/// `dir/PROGRAM.log`, in the failure message).
fn daemon(program: &str, dir: &Path, addr: &str) -> Proc {
    let p = Proc(
        Command::new(program)
            .args(["-d", "-c"])
            .arg(dir.join(format!("{program}.conf")))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(
        wait_for_port(addr.parse().unwrap(), Duration::from_secs(20)),
        "{program}: {}",
        std::fs::read_to_string(dir.join(format!("{program}.log"))).unwrap_or_default()
    );
    p
}

/// NSD (authoritative for both zones) and unbound (validating, trusting the zone's key).
struct Resolver {
    port: u16,
    _nsd: Proc,
    _unbound: Proc,
}

/// The zones for MX peers on `port`: `dane.test` signed (and the TLSA of mx-bogus changed after
/// signing), `plain.test` not.
fn zones(dir: &Path, port: u16) -> Resolver {
    let ee = digest(dir, "ee", 1);
    let other = digest(dir, "other", 1);
    let ca = digest(dir, "ca", 0);
    let tlsa = |host: &str, rdata: &str| format!("_{port}._tcp.{host} IN TLSA {rdata}\n");
    let mut zone = String::from(
        "$ORIGIN dane.test.\n$TTL 300\n\
         @ IN SOA ns.dane.test. hostmaster.dane.test. 1 3600 600 86400 300\n\
         @ IN NS ns.dane.test.\nns IN A 127.0.0.53\n",
    );
    for (name, ip) in [
        ("ee", 2),
        ("ta", 3),
        ("bad", 4),
        ("strip", 5),
        ("bogus", 6),
        ("taname", 8),
        ("unusable", 9),
    ] {
        zone.push_str(&format!(
            "{name} IN MX 10 mx-{name}.dane.test.\nmx-{name} IN A 127.0.0.{ip}\n"
        ));
    }
    zone.push_str(&tlsa("mx-ee", &format!("3 1 1 {ee}")));
    // An MX host that is a CNAME: the records at the expanded name count (RFC 7672 §2.2.3),
    // not the (non-matching) ones at the alias.
    zone.push_str(
        "alias IN MX 10 mx-alias.dane.test.\nmx-alias IN CNAME mx-real\nmx-real IN A 127.0.0.10\n",
    );
    zone.push_str(&tlsa("mx-real", &format!("3 1 1 {ee}")));
    zone.push_str(&tlsa("mx-alias", &format!("3 1 1 {other}")));
    zone.push_str(&tlsa("mx-ta", &format!("2 0 1 {ca}")));
    zone.push_str(&tlsa("mx-taname", &format!("2 0 1 {ca}")));
    zone.push_str(&tlsa("mx-bad", &format!("3 1 1 {other}")));
    zone.push_str(&tlsa("mx-strip", &format!("3 1 1 {ee}")));
    zone.push_str(&tlsa("mx-bogus", &format!("3 1 1 {other}")));
    zone.push_str(&tlsa("mx-unusable", &format!("1 1 1 {ee}")));
    // ee.dane.test has an MTA-STS record too: DANE takes precedence, it is not looked at.
    zone.push_str("_mta-sts.ee IN TXT \"v=STSv1; id=1\"\nmta-sts.ee IN A 127.0.0.1\n");
    for d in ["bad", "ee", "bogus", "unusable"] {
        zone.push_str(&format!(
            "_smtp._tls.{d} IN TXT \"v=TLSRPTv1; rua=mailto:postmaster@here.test\"\n"
        ));
    }
    std::fs::write(dir.join("dane.test.zone"), zone).unwrap();
    std::fs::write(
        dir.join("plain.test.zone"),
        "$ORIGIN plain.test.\n$TTL 300\n\
         @ IN SOA ns.plain.test. hostmaster.plain.test. 1 3600 600 86400 300\n\
         @ IN NS ns.plain.test.\nns IN A 127.0.0.53\n\
         @ IN MX 10 mx.plain.test.\nmx IN A 127.0.0.7\n\
         _mta-sts IN TXT \"v=STSv1; id=1\"\nmta-sts IN A 127.0.0.1\n",
    )
    .unwrap();
    let key = sh(dir, "ldns-keygen -a ECDSAP256SHA256 -k dane.test");
    sh(
        dir,
        &format!("ldns-signzone -i $(date -u -d '-1 hour' +%Y%m%d%H%M%S) dane.test.zone {key}"),
    );
    // A bogus signature: the TLSA data of mx-bogus changed after signing (its RRSIG stays).
    let signed = std::fs::read_to_string(dir.join("dane.test.zone.signed")).unwrap();
    let tampered: String = signed
        .lines()
        .map(|l| {
            if l.starts_with(&format!("_{port}._tcp.mx-bogus.dane.test.")) && l.contains("TLSA\t3")
            {
                l.replace(&other, &ee)
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(signed.trim(), tampered.trim(), "TLSA of mx-bogus not found");
    std::fs::write(dir.join("dane.test.zone.signed"), tampered + "\n").unwrap();

    let nsd_port = free_udp_port();
    let d = dir.display();
    std::fs::write(
        dir.join("nsd.conf"),
        format!(
            "server:\n  ip-address: {NSD}@{nsd_port}\n  username: \"\"\n  chroot: \"\"\n  \
             zonesdir: \"{d}\"\n  database: \"\"\n  pidfile: \"{d}/nsd.pid\"\n  \
             logfile: \"{d}/nsd.log\"\n  xfrdfile: \"{d}/xfrd.state\"\n  \
             zonelistfile: \"{d}/zone.list\"\n  verbosity: 1\n\
             remote-control:\n  control-enable: no\n\
             zone:\n  name: dane.test\n  zonefile: \"{d}/dane.test.zone.signed\"\n\
             zone:\n  name: plain.test\n  zonefile: \"{d}/plain.test.zone\"\n"
        ),
    )
    .unwrap();
    let nsd = daemon("nsd", dir, &format!("{NSD}:{nsd_port}"));
    let port = free_udp_port();
    std::fs::write(
        dir.join("unbound.conf"),
        format!(
            "server:\n  interface: {UNBOUND}\n  port: {port}\n  do-ip6: no\n  username: \"\"\n  \
             chroot: \"\"\n  directory: \"{d}\"\n  pidfile: \"{d}/unbound.pid\"\n  \
             use-syslog: no\n  logfile: \"{d}/unbound.log\"\n  verbosity: 1\n  \
             val-log-level: 2\n  do-not-query-localhost: no\n  qname-minimisation: no\n  \
             module-config: \"validator iterator\"\n  trust-anchor-file: \"{d}/{key}.key\"\n  \
             local-zone: \"test.\" nodefault\n  access-control: 127.0.0.0/8 allow\n\
             remote-control:\n  control-enable: no\n\
             stub-zone:\n  name: \"dane.test\"\n  stub-addr: {NSD}@{nsd_port}\n\
             stub-zone:\n  name: \"plain.test\"\n  stub-addr: {NSD}@{nsd_port}\n"
        ),
    )
    .unwrap();
    let unbound = daemon("unbound", dir, &format!("{UNBOUND}:{port}"));
    Resolver {
        port,
        _nsd: nsd,
        _unbound: unbound,
    }
}

fn dane_config(mx_port: u16, dns_port: u16) -> String {
    format!(
        "[remote]\nmx_port = {mx_port}\nconnect_timeout = \"3s\"\ncommand_timeout = \"10s\"\n\
         [dns]\nservers = [\"{UNBOUND}:{dns_port}\"]\ntimeout = \"3s\"\ndnssec = true\n"
    )
}

/// What each DANE test starts from: its tools, a temp dir with the certificates, a free MX
/// port, and the zones served by NSD behind the validating unbound.
fn bed() -> (tempfile::TempDir, u16, Resolver) {
    require(&[
        "nsd",
        "unbound",
        "ldns-signzone",
        "ldns-keygen",
        "python3",
        "openssl",
    ]);
    let tmp = tempfile::tempdir().unwrap();
    certificates(tmp.path());
    let mx_port = free_port("127.0.0.1");
    let dns = zones(tmp.path(), mx_port);
    (tmp, mx_port, dns)
}

#[test]
fn dane_authenticates_mx_hosts_and_never_delivers_around_it() {
    let (tmp, mx_port, dns) = bed();
    let dir = tmp.path();
    let s = Sender::new("lifetime = \"1h\"", &dane_config(mx_port, dns.port));
    let out = |name: &str| dir.join(format!("out-{name}"));
    let _peers = [
        peer("127.0.0.2", mx_port, &out("ee"), dir, Some("ee")),
        peer("127.0.0.3", mx_port, &out("ta"), dir, Some("ta")),
        peer("127.0.0.4", mx_port, &out("bad"), dir, Some("ee")),
        peer("127.0.0.5", mx_port, &out("strip"), dir, None),
        peer("127.0.0.6", mx_port, &out("bogus"), dir, Some("ee")),
        peer("127.0.0.7", mx_port, &out("plain"), dir, None),
        peer("127.0.0.8", mx_port, &out("taname"), dir, Some("taname")),
        peer("127.0.0.9", mx_port, &out("unusable"), dir, Some("ee")),
        peer("127.0.0.10", mx_port, &out("alias"), dir, Some("ee")),
    ];
    let tlsa = |host: &str| format!("_{mx_port}._tcp.{host}");

    // 3 1 1: delivered over TLS with the MX host as SNI, although the certificate names
    // another host and nobody we trust issued it.
    let sent = s.send("alice@here.test", &["bob@ee.dane.test"], MESSAGE);
    assert!(queued_for(&s, "ee.dane.test").is_none(), "{}", text(&sent));
    let mail = received(&out("ee"));
    assert_eq!(mail.len(), 1, "{}", text(&sent));
    assert!(mail[0].contains("X-Rcpt-To: bob@ee.dane.test"));
    assert!(mail[0].contains("X-TLS-Version: TLSv1.3"), "{}", mail[0]);
    assert!(mail[0].contains("X-SNI: mx-ee.dane.test"), "{}", mail[0]);
    assert!(!text(&sent).contains("mta_sts"), "{}", text(&sent));
    assert!(
        text(&sent).contains(&format!(
            "event=dane_policy domain=ee.dane.test mx=mx-ee.dane.test tlsa={} records=1 \
             state=authenticate",
            tlsa("mx-ee.dane.test")
        )),
        "{}",
        text(&sent)
    );

    // A CNAME'd MX host: the TLSA records of the expanded name, which is also the SNI.
    let sent = s.send("alice@here.test", &["amy@alias.dane.test"], MESSAGE);
    assert!(
        queued_for(&s, "alias.dane.test").is_none(),
        "{}",
        text(&sent)
    );
    let mail = received(&out("alias"));
    assert_eq!(mail.len(), 1, "{}", text(&sent));
    assert!(mail[0].contains("X-SNI: mx-real.dane.test"), "{}", mail[0]);
    assert!(
        text(&sent).contains(&format!(
            "mx=mx-alias.dane.test tlsa={}",
            tlsa("mx-real.dane.test")
        )),
        "{}",
        text(&sent)
    );

    // 2 0 1: the CA's certificate, sent in the chain, anchors a leaf for the MX host.
    let sent = s.send("alice@here.test", &["carol@ta.dane.test"], MESSAGE);
    assert!(queued_for(&s, "ta.dane.test").is_none(), "{}", text(&sent));
    assert_eq!(received(&out("ta")).len(), 1, "{}", text(&sent));

    // Unsigned zone: opportunistic as before (this peer has no STARTTLS: plaintext).
    let sent = s.send("alice@here.test", &["hal@plain.test"], MESSAGE);
    assert!(queued_for(&s, "plain.test").is_none(), "{}", text(&sent));
    let mail = received(&out("plain"));
    assert_eq!(mail.len(), 1, "{}", text(&sent));
    assert!(mail[0].contains("X-TLS-Version: none"));
    // Without DANE its MTA-STS record is followed (the policy host is down: no policy).
    assert!(
        text(&sent).contains("event=mta_sts_fetch_failed domain=plain.test"),
        "{}",
        text(&sent)
    );
    assert!(
        !text(&sent).contains("event=dane_policy"),
        "{}",
        text(&sent)
    );

    // Only unusable records (PKIX-EE): TLS is still mandatory, the certificate not checked.
    let sent = s.send("alice@here.test", &["ivy@unusable.dane.test"], MESSAGE);
    assert!(
        queued_for(&s, "unusable.dane.test").is_none(),
        "{}",
        text(&sent)
    );
    let mail = received(&out("unusable"));
    assert_eq!(mail.len(), 1, "{}", text(&sent));
    assert!(mail[0].contains("X-TLS-Version: TLSv1.3"));

    // A certificate matching no record: the mail waits, naming DANE, nothing delivered.
    let sent = s.send("alice@here.test", &["erin@bad.dane.test"], MESSAGE);
    let (bad_id, err) = queued_for(&s, "bad.dane.test").expect("bad queued");
    assert!(
        err.contains(&format!(
            "DANE policy of mx-bad.dane.test (TLSA {}): STARTTLS failed",
            tlsa("mx-bad.dane.test")
        )) && err.contains("matches no TLSA record"),
        "{err}\n{}",
        text(&sent)
    );
    assert!(
        received(&out("bad")).is_empty(),
        "delivered to a non-matching MX"
    );
    assert!(text(&sent).contains("event=deferred"), "{}", text(&sent));
    assert!(
        text(&sent)
            .lines()
            .any(|l| l.contains("event=deferred") && l.contains("DANE policy of mx-bad")),
        "{}",
        text(&sent)
    );
    let show = text(&s.postern(&["queue", "show", &bad_id]));
    assert!(show.contains("DANE policy of mx-bad.dane.test"), "{show}");

    // DANE-TA with a leaf for another name: refused (RFC 7672 §3.2.2 name checks).
    let sent = s.send("alice@here.test", &["dan@taname.dane.test"], MESSAGE);
    let (_, err) = queued_for(&s, "taname.dane.test").expect("taname queued");
    assert!(
        err.contains("DANE policy of mx-taname.dane.test") && err.contains("DANE-TA"),
        "{err}\n{}",
        text(&sent)
    );
    assert!(received(&out("taname")).is_empty());

    // A bogus TLSA signature: unbound answers SERVFAIL, the host is not used.
    let sent = s.send("alice@here.test", &["gus@bogus.dane.test"], MESSAGE);
    let (_, err) = queued_for(&s, "bogus.dane.test").expect("bogus queued");
    assert!(
        err.contains(&format!(
            "DANE: TLSA lookup for {} failed",
            tlsa("mx-bogus.dane.test")
        )),
        "{err}\n{}",
        text(&sent)
    );
    assert!(
        received(&out("bogus")).is_empty(),
        "delivered despite a bogus TLSA"
    );

    // No STARTTLS (stripped): the mail waits, and bounces at its lifetime naming DANE.
    let sent = s.send("alice@here.test", &["fay@strip.dane.test"], MESSAGE);
    let (strip_id, err) = queued_for(&s, "strip.dane.test").expect("strip queued");
    assert!(
        err.contains("DANE policy of mx-strip.dane.test")
            && err.contains("does not offer STARTTLS"),
        "{err}\n{}",
        text(&sent)
    );
    assert!(received(&out("strip")).is_empty(), "delivered without TLS");
    let config = std::fs::read_to_string(s.config()).unwrap();
    std::fs::write(
        s.config(),
        config.replace("lifetime = \"1h\"", "lifetime = \"1s\""),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(2100));
    let run = s.postern(&["deliver", "--id", &strip_id]);
    assert!(
        queued_for(&s, "strip.dane.test").is_none(),
        "{}",
        text(&run)
    );
    assert!(
        wait_until(Duration::from_secs(10), || s
            .alice_mail()
            .iter()
            .any(|m| m.contains("fay@strip.dane.test"))),
        "no bounce: {}",
        text(&run)
    );
    let bounce = s.alice_mail().join("\n");
    assert!(
        bounce.contains("DANE policy of mx-strip.dane.test"),
        "{bounce}"
    );
    assert!(received(&out("strip")).is_empty());

    // The day's TLS reports: bad.dane.test's names the TLSA policy and its failure.
    let today = sh(dir, "date -u +%F");
    let before = s.alice_mail().len();
    let run = s.postern(&["queue", "tls-report", "--day", &today]);
    assert!(run.status.success(), "{}", text(&run));
    assert!(
        wait_until(Duration::from_secs(10), || s.alice_mail().len()
            >= before + 4),
        "{}",
        text(&run)
    );
    let report = |domain: &str| -> serde_json::Value {
        let mail = s
            .alice_mail()
            .into_iter()
            .find(|m| m.contains(&format!("TLS-Report-Domain: {domain}")))
            .expect("report mail");
        let f = dir.join(format!("{domain}.eml"));
        std::fs::write(&f, &mail).unwrap();
        let json = common::python(
            r#"
import email, gzip, json, sys
m = email.message_from_string(open(sys.argv[1]).read())
part = [p for p in m.walk() if p.get_content_type() == "application/tlsrpt+gzip"][0]
print(json.dumps(json.loads(gzip.decompress(part.get_payload(decode=True)))))
"#,
            &[f.to_str().unwrap()],
        );
        serde_json::from_str(json.trim()).unwrap()
    };
    let bad = report("bad.dane.test");
    let p = &bad["policies"][0];
    assert_eq!(p["policy"]["policy-type"], "tlsa", "{bad}");
    assert_eq!(p["policy"]["policy-domain"], "mx-bad.dane.test", "{bad}");
    assert!(
        p["policy"]["policy-string"][0]
            .as_str()
            .unwrap()
            .starts_with("3 1 1 "),
        "{bad}"
    );
    assert_eq!(p["summary"]["total-failure-session-count"], 1, "{bad}");
    assert_eq!(
        p["failure-details"][0]["result-type"], "validation-failure",
        "{bad}"
    );
    // The bogus TLSA RRset and the RRset of unusable records, as RFC 8460 names them.
    for (domain, kind) in [
        ("bogus.dane.test", "dnssec-invalid"),
        ("unusable.dane.test", "tlsa-invalid"),
    ] {
        let r = report(domain);
        let p = &r["policies"][0];
        assert_eq!(p["policy"]["policy-type"], "tlsa", "{r}");
        assert_eq!(p["failure-details"][0]["result-type"], kind, "{r}");
    }
    let ee = report("ee.dane.test");
    let p = &ee["policies"][0];
    assert_eq!(p["policy"]["policy-type"], "tlsa", "{ee}");
    assert_eq!(p["summary"]["total-successful-session-count"], 1, "{ee}");
}

/// Python's smtplib over STARTTLS: `MAIL FROM:<alice@here.test> REQUIRETLS`, RCPT, DATA; the
/// replies' codes.
fn submit_requiretls(port: u16, to: &str) -> String {
    let script = r#"
import json, smtplib, ssl, sys
port, to, msg = sys.argv[1:4]
s = smtplib.SMTP("127.0.0.1", int(port), timeout=30)
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s.starttls(context=ctx)
s.ehlo("client.test")
code, _ = s.mail("alice@here.test", ["REQUIRETLS"])
out = {"offered": s.has_extn("requiretls"), "mail": code}
if code == 250:
    out["rcpt"] = s.rcpt(to)[0]
    out["data"] = s.data(msg)[0]
s.quit()
print(json.dumps(out))
"#;
    common::python(script, &[&port.to_string(), to, MESSAGE])
        .trim()
        .to_string()
}

/// REQUIRETLS (RFC 8689 §4.2.1) is satisfied by DANE: a REQUIRETLS message goes to an MX host
/// DANE authenticates (a postern taking REQUIRETLS, its certificate matching `3 1 1`), and
/// bounces at once for a domain without DANE or whose TLSA records are all unusable.
#[test]
fn requiretls_goes_to_dane_authenticated_hosts() {
    let (tmp, mx_port, dns) = bed();
    let dir = tmp.path();
    let in_port = free_port("127.0.0.1");
    let s = Sender::new(
        "",
        &format!(
            "{}[[listener]]\nname = \"smtp\"\nprotocol = \"smtp\"\naddress = \"127.0.0.1:{in_port}\"\n\
             tls = \"starttls\"\ncert = \"{}\"\nkey = \"{}\"\n",
            dane_config(mx_port, dns.port),
            dir.join("other.pem").display(),
            dir.join("other.key").display(),
        ),
    );
    let log = s.dir.path().join("smtpd.log");
    let _smtpd = {
        let mut child = Command::new(common::bin())
            .arg("--config")
            .arg(s.config())
            .args(["smtpd", "--listener", "smtp"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        assert!(common::wait_for_child_port(
            &mut child,
            ([127, 0, 0, 1], in_port).into()
        ));
        Proc(child)
    };
    let smtpd_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let rdir = dir.join("receiver");
    let _receiver = postern_smtpd(
        &rdir,
        ("127.0.0.2", mx_port),
        "mx.ee.dane.test",
        "ee.dane.test",
        (&dir.join("ee.pem"), &dir.join("ee.key")),
    );
    let _unusable = peer(
        "127.0.0.9",
        mx_port,
        &dir.join("out-unusable"),
        dir,
        Some("ee"),
    );

    let got = submit_requiretls(in_port, "bob@ee.dane.test");
    assert_eq!(
        got,
        r#"{"offered": true, "mail": 250, "rcpt": 250, "data": 250}"#
    );
    assert!(
        wait_until(Duration::from_secs(20), || {
            std::fs::read_to_string(rdir.join("smtpd.log"))
                .unwrap_or_default()
                .contains("requiretls=yes")
        }),
        "receiver: {}\nsender: {}",
        std::fs::read_to_string(rdir.join("smtpd.log")).unwrap_or_default(),
        smtpd_log()
    );
    assert!(smtpd_log().contains("event=relayed"), "{}", smtpd_log());

    // No DANE (unsigned), and DANE without a usable record: bounced at once, 5.7.10.
    for to in ["hal@plain.test", "ivy@unusable.dane.test"] {
        let got = submit_requiretls(in_port, to);
        assert!(got.contains("\"data\": 250"), "{got}");
        assert!(
            wait_until(Duration::from_secs(20), || s.alice_mail().iter().any(|m| m
                .contains("5.7.10")
                && m.contains(to)
                && m.contains("neither DANE TLSA records nor an MTA-STS policy"))),
            "{to}: {}",
            smtpd_log()
        );
    }
    assert!(received(&dir.join("out-unusable")).is_empty());
}
