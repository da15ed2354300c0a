//! MTA-STS (RFC 8461) outbound against real parts on loopback: dnsmasq for the MX, A and
//! `_mta-sts` TXT records, Python's `http.server` with `ssl` serving the policies under a
//! certificate from a test CA postern is told to trust (`[tls] extra_roots`), and an aiosmtpd MX
//! restarted as a peer without STARTTLS, with a certificate from nobody we trust, and with the
//! right one. An `enforce` domain gets mail only over verified TLS to a matching MX; otherwise
//! the mail waits, with the policy named in `queue show`, and bounces at its lifetime.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
mod remote_support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{text, wait_for_port};
use remote_support::{
    free_port, postern_smtpd, queued_for, received, require, sh, smtpd_listener, tls_peer,
    wait_until, Dns, Proc, Sender, MESSAGE,
};

const SUPPORT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/remote_support");

/// A test CA and, signed by it, `https` (the policy hosts) and `mx` (mx.sts.test); `wrong`, a
/// self-signed certificate for mx.sts.test.
fn certificates(dir: &Path) {
    sh(
        dir,
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
         -out ca.pem -days 2 -subj /CN=mta-sts-test-ca 2>/dev/null
         leaf() {
           openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $1.key \
             -out $1.csr -subj /CN=$2 2>/dev/null
           printf 'subjectAltName=%s\\n' \"$3\" > $1.ext
           openssl x509 -req -in $1.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out $1.pem \
             -days 2 -extfile $1.ext 2>/dev/null
         }
         leaf https mta-sts.sts.test DNS:mta-sts.sts.test,DNS:mta-sts.other.test,DNS:mta-sts.try.test
         leaf mx mx.sts.test DNS:mx.sts.test
         openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout wrong.key \
           -out wrong.pem -days 2 -subj /CN=mx.sts.test -addext subjectAltName=DNS:mx.sts.test \
           -addext basicConstraints=critical,CA:FALSE 2>/dev/null",
    );
}

fn policy(root: &Path, domain: &str, body: &str) {
    let dir = root.join(format!("mta-sts.{domain}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("mta-sts.txt"), body).unwrap();
}

/// The MX peer on `port`: with `cert` (name of a pair in `dir`) STARTTLS, else none.
fn peer(port: u16, out: &Path, dir: &Path, cert: Option<&str>) -> Proc {
    let files = cert.map(|c| (dir.join(format!("{c}.pem")), dir.join(format!("{c}.key"))));
    tls_peer("127.0.0.1", port, out, files)
}

#[test]
fn enforce_delivers_only_over_verified_tls_to_matching_mx() {
    require(&["dnsmasq", "python3", "openssl"]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    certificates(dir);
    let www = dir.join("www");
    policy(
        &www,
        "sts.test",
        "version: STSv1\r\nmode: enforce\r\nmx: mx.sts.test\r\nmax_age: 86400\r\n",
    );
    // other.test's MX is not in its policy; try.test is only testing.
    policy(
        &www,
        "other.test",
        "version: STSv1\nmode: enforce\nmx: *.sts.test\nmax_age: 86400\n",
    );
    policy(
        &www,
        "try.test",
        "version: STSv1\nmode: testing\nmx: mx.sts.test\nmax_age: 86400\n",
    );
    let https_port = free_port("127.0.0.1");
    let _https = Proc(
        Command::new("/usr/bin/python3")
            .arg(format!("{SUPPORT}/sts_https.py"))
            .arg(https_port.to_string())
            .arg(&www)
            .arg(dir.join("https.pem"))
            .arg(dir.join("https.key"))
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(wait_for_port(
        ([127, 0, 0, 1], https_port).into(),
        Duration::from_secs(20)
    ));
    let mut records = Vec::new();
    for d in ["sts.test", "other.test", "try.test"] {
        records.push(format!("--host-record=mta-sts.{d},127.0.0.1"));
        records.push(format!("--txt-record=_mta-sts.{d},v=STSv1; id=2026a"));
    }
    records.extend([
        "--mx-host=sts.test,mx.sts.test,10".to_string(),
        "--mx-host=other.test,mx.other.test,10".to_string(),
        "--mx-host=try.test,mx.try.test,10".to_string(),
        "--host-record=mx.sts.test,127.0.0.1".to_string(),
        "--host-record=mx.other.test,127.0.0.1".to_string(),
        "--host-record=mx.try.test,127.0.0.1".to_string(),
        "--txt-record=_smtp._tls.sts.test,v=TLSRPTv1; rua=mailto:postmaster@here.test".to_string(),
    ]);
    let dns = Dns::start(&records);
    let mx_port = free_port("127.0.0.1");
    let s = Sender::new(
        "lifetime = \"1h\"",
        &sts_config(mx_port, https_port, dns.port, dir),
    );
    let out = dir.join("received");

    // 1. The MX offers no STARTTLS (stripped): the mail waits, naming the policy.
    let p = peer(mx_port, &out, dir, None);
    let sent = s.send("alice@here.test", &["bob@sts.test"], MESSAGE);
    let (id, err) = queued_for(&s, "sts.test").expect("queued");
    assert!(
        err.contains("MTA-STS policy of sts.test (enforce, id 2026a)")
            && err.contains("does not offer STARTTLS"),
        "{err}\n{}",
        text(&sent)
    );
    assert!(received(&out).is_empty(), "delivered without TLS");
    let show = text(&s.postern(&["queue", "show", &id]));
    assert!(show.contains("MTA-STS policy of sts.test"), "{show}");
    assert!(text(&sent).contains("event=mta_sts_policy domain=sts.test id=2026a mode=enforce"));
    assert!(text(&sent).contains("event=deferred"), "{}", text(&sent));
    drop(p);

    // 2. A certificate for the right name from nobody we trust: still waiting.
    let p = peer(mx_port, &out, dir, Some("wrong"));
    let run = s.postern(&["deliver", "--id", &id]);
    let (_, err) = queued_for(&s, "sts.test").expect("still queued");
    assert!(
        err.contains("MTA-STS policy of sts.test") && err.contains("STARTTLS failed"),
        "{err}\n{}",
        text(&run)
    );
    assert!(received(&out).is_empty(), "delivered to an unverified MX");
    drop(p);

    // 3. The right certificate: delivered over TLS.
    let p = peer(mx_port, &out, dir, Some("mx"));
    let run = s.postern(&["deliver", "--id", &id]);
    assert!(queued_for(&s, "sts.test").is_none(), "{}", text(&run));
    let mail = received(&out);
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert!(mail[0].contains("X-Rcpt-To: bob@sts.test"));
    assert!(mail[0].contains("X-TLS-Version: TLSv1.3"), "{}", mail[0]);
    // The policy is cached in the spool.
    let cached = std::fs::read_to_string(s.dir.path().join("spool/mta-sts/sts.test.json")).unwrap();
    assert!(cached.contains("\"mode\":\"enforce\""), "{cached}");

    // 4. testing: delivered although the MX does not match, and reported.
    let sent = s.send("alice@here.test", &["carol@try.test"], MESSAGE);
    assert!(queued_for(&s, "try.test").is_none(), "{}", text(&sent));
    assert!(
        text(&sent).contains("event=mta_sts_testing domain=try.test"),
        "{}",
        text(&sent)
    );
    assert_eq!(received(&out).len(), 2);
    drop(p);

    // 5. No MX matches: the mail waits and bounces at its lifetime, with the policy named.
    let p = peer(mx_port, &out, dir, Some("mx"));
    let sent = s.send("alice@here.test", &["dan@other.test"], MESSAGE);
    let (id, err) = queued_for(&s, "other.test").expect("queued");
    assert!(
        err.contains("MTA-STS policy of other.test (enforce, id 2026a): no MX host matches"),
        "{err}\n{}",
        text(&sent)
    );
    assert_eq!(received(&out).len(), 2, "nothing for other.test");
    // Lifetime over: the next run bounces it to alice.
    let config = std::fs::read_to_string(s.config()).unwrap();
    std::fs::write(
        s.config(),
        config.replace("lifetime = \"1h\"", "lifetime = \"1s\""),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(2100));
    let run = s.postern(&["deliver", "--id", &id]);
    assert!(queued_for(&s, "other.test").is_none(), "{}", text(&run));
    assert!(
        wait_until(Duration::from_secs(10), || !s.alice_mail().is_empty()),
        "no bounce: {}",
        text(&run)
    );
    let bounce = s.alice_mail().join("\n");
    assert!(
        bounce.contains("MTA-STS policy of other.test") && bounce.contains("dan@other.test"),
        "{bounce}"
    );
    assert!(text(&run).contains("event=bounced"), "{}", text(&run));
    drop(p);

    // 6. The day's TLS report (RFC 8460) for sts.test goes to its rua= (postmaster, alice here):
    // the stripped STARTTLS, the untrusted certificate and the success; other.test has no
    // TLSRPT record and is not reported.
    let today = String::from_utf8(
        Command::new("date")
            .args(["-u", "+%F"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    let before = s.alice_mail().len();
    let run = s.postern(&["queue", "tls-report", "--day", &today]);
    assert!(run.status.success(), "{}", text(&run));
    assert!(
        text(&run).contains("sts.test: report for"),
        "{}",
        text(&run)
    );
    assert!(text(&run).contains("other.test: no TLSRPT record"));
    assert!(wait_until(Duration::from_secs(10), || s.alice_mail().len() > before));
    let mail = s
        .alice_mail()
        .into_iter()
        .find(|m| m.contains("TLS-Report-Domain: sts.test"))
        .expect("report mail");
    let report = common::python(
        r#"
import email, gzip, json, sys
m = email.message_from_string(open(sys.argv[1]).read())
assert m.get_content_type() == "multipart/report", m.get_content_type()
assert m.get_param("report-type") == "tlsrpt"
part = [p for p in m.walk() if p.get_content_type() == "application/tlsrpt+gzip"][0]
print(json.dumps(json.loads(gzip.decompress(part.get_payload(decode=True)))))
"#,
        &[{
            let f = dir.join("report.eml");
            std::fs::write(&f, &mail).unwrap();
            f.to_str().unwrap().to_string()
        }
        .as_str()],
    );
    let report: serde_json::Value = serde_json::from_str(report.trim()).unwrap();
    let policy = &report["policies"][0];
    assert_eq!(policy["policy"]["policy-domain"], "sts.test", "{report}");
    assert_eq!(policy["policy"]["policy-type"], "sts");
    assert_eq!(
        policy["summary"]["total-successful-session-count"], 1,
        "{report}"
    );
    assert_eq!(
        policy["summary"]["total-failure-session-count"], 2,
        "{report}"
    );
    let kinds: Vec<&str> = policy["failure-details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["result-type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["certificate-not-trusted", "starttls-not-supported"],
        "{report}"
    );
    // Sent once: a second run has nothing left for that day.
    let again = s.postern(&["queue", "tls-report", "--day", &today]);
    assert!(
        !text(&again).contains("sts.test: report"),
        "{}",
        text(&again)
    );
}

/// The sender's `[remote]`, `[dns]` and `[tls]` for these tests: MX and policy ports on
/// loopback, the test's dnsmasq, and the test CA trusted.
fn sts_config(mx_port: u16, https_port: u16, dns_port: u16, dir: &Path) -> String {
    format!(
        "[remote]\nmx_port = {mx_port}\nmta_sts_port = {https_port}\nconnect_timeout = \"3s\"\n\
         command_timeout = \"10s\"\n[dns]\nservers = [\"127.0.0.1:{dns_port}\"]\ntimeout = \"2s\"\n\
         [tls]\nextra_roots = [\"{}\"]\n",
        dir.join("ca.pem").display()
    )
}

fn https_server(port: u16, dir: &Path) -> Proc {
    let p = Proc(
        Command::new("/usr/bin/python3")
            .arg(format!("{SUPPORT}/sts_https.py"))
            .arg(port.to_string())
            .arg(dir.join("www"))
            .arg(dir.join("https.pem"))
            .arg(dir.join("https.key"))
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(wait_for_port(
        ([127, 0, 0, 1], port).into(),
        Duration::from_secs(20)
    ));
    p
}

/// dnsmasq for sts.test with `_mta-sts` id `id` (none: no TXT record).
fn sts_dns(id: Option<&str>) -> Dns {
    let mut records = vec![
        "--host-record=mta-sts.sts.test,127.0.0.1".to_string(),
        "--mx-host=sts.test,mx.sts.test,10".to_string(),
        "--host-record=mx.sts.test,127.0.0.1".to_string(),
    ];
    if let Some(id) = id {
        records.push(format!("--txt-record=_mta-sts.sts.test,v=STSv1; id={id}"));
    }
    Dns::start(&records)
}

/// Points the sender at another resolver.
fn use_dns(s: &Sender, old: &Dns, new: &Dns) {
    let config = std::fs::read_to_string(s.config()).unwrap();
    let config = config.replace(
        &format!("servers = [\"127.0.0.1:{}\"]", old.port),
        &format!("servers = [\"127.0.0.1:{}\"]", new.port),
    );
    std::fs::write(s.config(), config).unwrap();
}

/// The cache: the same TXT id means the cached policy (no fetch), even when the server's file
/// changed or the server is down; a new id with the server down keeps the cached policy in force;
/// a new id fetches the new policy; without a TXT record the cached policy holds until its
/// `max_age` is over, then mail goes as without a policy.
#[test]
fn policy_cache_follows_the_txt_id_and_max_age() {
    require(&["dnsmasq", "python3", "openssl"]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    certificates(dir);
    let www = dir.join("www");
    let enforce = |max_age: u32| {
        format!("version: STSv1\nmode: enforce\nmx: mx.sts.test\nmax_age: {max_age}\n")
    };
    policy(&www, "sts.test", &enforce(86_400));
    let https_port = free_port("127.0.0.1");
    let https = https_server(https_port, dir);
    let mut dns = sts_dns(Some("one"));
    let mx_port = free_port("127.0.0.1");
    let s = Sender::new("", &sts_config(mx_port, https_port, dns.port, dir));
    let out = dir.join("received");
    let cache = s.dir.path().join("spool/mta-sts/sts.test.json");

    // Fetched and cached; delivered over verified TLS.
    let p = peer(mx_port, &out, dir, Some("mx"));
    let sent = s.send("alice@here.test", &["a@sts.test"], MESSAGE);
    assert!(queued_for(&s, "sts.test").is_none(), "{}", text(&sent));
    assert!(std::fs::read_to_string(&cache)
        .unwrap()
        .contains("\"id\":\"one\""));
    drop(p);

    // Same id, the file now says testing and the server is down: the cached enforce holds, and
    // nothing is fetched.
    policy(
        &www,
        "sts.test",
        "version: STSv1\nmode: testing\nmx: mx.sts.test\nmax_age: 2\n",
    );
    drop(https);
    let p = peer(mx_port, &out, dir, None);
    let sent = s.send("alice@here.test", &["b@sts.test"], MESSAGE);
    let (id, err) = queued_for(&s, "sts.test").expect("deferred under the cached policy");
    assert!(err.contains("(enforce, id one)"), "{err}");
    assert!(!text(&sent).contains("event=mta_sts_"), "{}", text(&sent));

    // A new id while the server is down: the fetch fails, the cached policy stays in force.
    let new = sts_dns(Some("two"));
    use_dns(&s, &dns, &new);
    dns = new;
    let run = s.postern(&["deliver", "--id", &id]);
    let said = text(&run);
    assert!(
        said.contains("event=mta_sts_fetch_failed domain=sts.test id=two")
            && said.contains("the cached policy (id one, enforce) stays in force"),
        "{said}"
    );
    assert!(queued_for(&s, "sts.test").is_some());

    // The server back: the new policy (testing) is fetched, and the mail goes in plaintext.
    let https = https_server(https_port, dir);
    let run = s.postern(&["deliver", "--id", &id]);
    assert!(queued_for(&s, "sts.test").is_none(), "{}", text(&run));
    assert!(text(&run).contains("event=mta_sts_policy domain=sts.test id=two mode=testing"));
    let mail = received(&out);
    assert_eq!(mail.len(), 2, "{mail:?}");
    assert!(mail[1].contains("X-Rcpt-To: b@sts.test") && mail[1].contains("X-TLS-Version: none"));

    // enforce again with max_age 2, then the TXT record gone: enforced until the cache expires.
    policy(&www, "sts.test", &enforce(2));
    let new = sts_dns(Some("three"));
    use_dns(&s, &dns, &new);
    dns = new;
    let sent = s.send("alice@here.test", &["c@sts.test"], MESSAGE);
    let (id, err) = queued_for(&s, "sts.test").expect("enforced");
    assert!(
        err.contains("(enforce, id three)"),
        "{err}\n{}",
        text(&sent)
    );
    let new = sts_dns(None);
    use_dns(&s, &dns, &new);
    let _dns = new;
    let run = s.postern(&["deliver", "--id", &id]);
    let (_, err) = queued_for(&s, "sts.test").expect("still enforced from the cache");
    assert!(err.contains("(enforce, id three)"), "{err}\n{}", text(&run));
    std::thread::sleep(Duration::from_millis(2100));
    let run = s.postern(&["deliver", "--id", &id]);
    assert!(queued_for(&s, "sts.test").is_none(), "{}", text(&run));
    assert_eq!(received(&out).len(), 3);
    drop(p);
    drop(https);
}

/// Python's smtplib: EHLO, STARTTLS when `tls`, EHLO; whether REQUIRETLS was offered, and the
/// MAIL FROM reply with `mail_options`; then RCPT and DATA when MAIL was accepted.
fn submit(port: u16, tls: bool, mail_options: &[&str], to: &str, message: &str) -> String {
    let script = r#"
import json, smtplib, ssl, sys
port, tls, opts, to, msg = sys.argv[1:6]
s = smtplib.SMTP("127.0.0.1", int(port), timeout=30)
s.ehlo("client.test")
if tls == "1":
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    s.starttls(context=ctx)
    s.ehlo("client.test")
offered = s.has_extn("requiretls")
code, reply = s.mail("alice@here.test", json.loads(opts))
out = {"offered": offered, "mail": code}
if code == 250:
    out["rcpt"] = s.rcpt(to)[0]
    out["data"] = s.data(msg)[0]
s.quit()
print(json.dumps(out))
"#;
    let opts = serde_json::to_string(mail_options).unwrap();
    common::python(
        script,
        &[
            &port.to_string(),
            if tls { "1" } else { "0" },
            &opts,
            to,
            message,
        ],
    )
    .trim()
    .to_string()
}

/// REQUIRETLS (RFC 8689): offered by smtpd on TLS connections only; a REQUIRETLS message goes to
/// an MTA-STS `enforce` domain over verified TLS to a next hop that takes REQUIRETLS (another
/// postern), and bounces when the domain has no enforced policy or the next hop does not offer
/// REQUIRETLS; `TLS-Required: No` lets a message through where the policy would hold it.
#[test]
fn requiretls_end_to_end() {
    require(&["dnsmasq", "python3", "openssl"]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    certificates(dir);
    let www = dir.join("www");
    policy(
        &www,
        "sts.test",
        "version: STSv1\nmode: enforce\nmx: mx.sts.test\nmax_age: 86400\n",
    );
    policy(
        &www,
        "try.test",
        "version: STSv1\nmode: testing\nmx: mx.sts.test\nmax_age: 86400\n",
    );
    let https_port = free_port("127.0.0.1");
    let _https = https_server(https_port, dir);
    let dns = Dns::start(&[
        "--host-record=mta-sts.sts.test,127.0.0.1".into(),
        "--host-record=mta-sts.try.test,127.0.0.1".into(),
        "--txt-record=_mta-sts.sts.test,v=STSv1; id=r1".into(),
        "--txt-record=_mta-sts.try.test,v=STSv1; id=r1".into(),
        "--mx-host=sts.test,mx.sts.test,10".into(),
        "--mx-host=try.test,mx.sts.test,10".into(),
        "--host-record=mx.sts.test,127.0.0.1".into(),
    ]);
    let mx_port = free_port("127.0.0.1");
    let in_port = free_port("127.0.0.1");
    let s = Sender::new(
        "",
        &format!(
            "{}[[listener]]\nname = \"smtp\"\nprotocol = \"smtp\"\naddress = \"127.0.0.1:{in_port}\"\n\
             tls = \"starttls\"\ncert = \"{}\"\nkey = \"{}\"\n",
            sts_config(mx_port, https_port, dns.port, dir),
            dir.join("wrong.pem").display(),
            dir.join("wrong.key").display(),
        ),
    );
    let sender_smtpd = smtpd_listener(
        &s.config(),
        &s.dir.path().join("smtpd.log"),
        &format!("127.0.0.1:{in_port}"),
    );
    let smtpd_log = || s.read("smtpd.log");

    // Not offered, and refused, without TLS.
    let plain = submit(in_port, false, &["REQUIRETLS"], "bob@sts.test", MESSAGE);
    assert_eq!(plain, r#"{"offered": false, "mail": 555}"#);

    // The next hop: postern for sts.test with a certificate the test CA signed for mx.sts.test.
    let rdir = dir.join("receiver");
    let receiver = postern_smtpd(
        &rdir,
        ("127.0.0.1", mx_port),
        "mx.sts.test",
        "sts.test",
        (&dir.join("mx.pem"), &dir.join("mx.key")),
    );
    let got = submit(in_port, true, &["REQUIRETLS"], "bob@sts.test", MESSAGE);
    assert_eq!(
        got,
        r#"{"offered": true, "mail": 250, "rcpt": 250, "data": 250}"#,
        "{}",
        smtpd_log()
    );
    assert!(
        wait_until(Duration::from_secs(20), || {
            std::fs::read_to_string(rdir.join("smtpd.log"))
                .unwrap_or_default()
                .contains("requiretls=yes")
        }),
        "receiver log: {}\nsender log: {}",
        std::fs::read_to_string(rdir.join("smtpd.log")).unwrap_or_default(),
        smtpd_log()
    );
    assert!(smtpd_log().contains("event=relayed"), "{}", smtpd_log());
    drop(receiver);

    // No enforced policy (try.test is testing): bounced at once, 5.7.10. The bounce of a
    // REQUIRETLS message returns the headers only, RET=FULL notwithstanding (RFC 8689 §5).
    let got = submit(
        in_port,
        true,
        &["REQUIRETLS", "RET=FULL"],
        "carol@try.test",
        MESSAGE,
    );
    assert!(got.contains("\"data\": 250"), "{got}");
    assert!(
        wait_until(Duration::from_secs(20), || s.alice_mail().iter().any(|m| m
            .contains("5.7.10")
            && m.contains(
                "try.test has neither DANE TLSA records nor an MTA-STS policy"
            ))),
        "{}",
        smtpd_log()
    );
    let bounce = s
        .alice_mail()
        .into_iter()
        .find(|m| m.contains("carol@try.test"))
        .unwrap();
    assert!(
        bounce.contains("Content-Type: text/rfc822-headers")
            && bounce.contains("Subject: remote test")
            && !bounce.contains("Hello over there."),
        "{bounce}"
    );

    // A next hop with the right certificate but without REQUIRETLS: bounced, 5.7.30.
    let out = dir.join("received");
    let p = peer(mx_port, &out, dir, Some("mx"));
    let got = submit(in_port, true, &["REQUIRETLS"], "dave@sts.test", MESSAGE);
    assert!(got.contains("\"data\": 250"), "{got}");
    assert!(
        wait_until(Duration::from_secs(20), || s
            .alice_mail()
            .iter()
            .any(|m| m.contains("5.7.30") && m.contains("dave@sts.test"))),
        "{}",
        smtpd_log()
    );
    assert!(received(&out).is_empty());
    drop(p);

    // TLS-Required: No past an MX without STARTTLS, which the policy would otherwise hold.
    let p = peer(mx_port, &out, dir, None);
    let message = MESSAGE.replacen("Subject:", "TLS-Required: No\r\nSubject:", 1);
    let got = submit(in_port, true, &[], "erin@sts.test", &message);
    assert!(got.contains("\"data\": 250"), "{got}");
    assert!(
        wait_until(Duration::from_secs(20), || received(&out).len() == 1),
        "{}",
        smtpd_log()
    );
    assert!(received(&out)[0].contains("X-TLS-Version: none"));
    drop(p);
    drop(sender_smtpd);
}

/// Policy fetches that fail are failures in the TLS report (RFC 8460 §4.3.2): a policy host
/// whose certificate is not for its name (`sts-webpki-invalid`), one answering 404
/// (`sts-policy-fetch-error`), one serving text that is no policy (`sts-policy-invalid`). The
/// mail itself goes as without a policy.
#[test]
fn policy_fetch_failures_are_reported() {
    require(&["dnsmasq", "python3", "openssl"]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    certificates(dir);
    // sts.test's policy does not parse; other.test has none (404); nameless.test's policy host
    // is not in the HTTPS certificate.
    policy(&dir.join("www"), "sts.test", "this is not a policy\n");
    policy(
        &dir.join("www"),
        "nameless.test",
        "version: STSv1\nmode: enforce\nmx: mx.sts.test\nmax_age: 86400\n",
    );
    let https_port = free_port("127.0.0.1");
    let _https = https_server(https_port, dir);
    let mut records = vec!["--host-record=mx.sts.test,127.0.0.1".to_string()];
    for d in ["sts.test", "other.test", "nameless.test"] {
        records.extend([
            format!("--host-record=mta-sts.{d},127.0.0.1"),
            format!("--txt-record=_mta-sts.{d},v=STSv1; id=f1"),
            format!("--mx-host={d},mx.sts.test,10"),
            format!("--txt-record=_smtp._tls.{d},v=TLSRPTv1; rua=mailto:postmaster@here.test"),
        ]);
    }
    let dns = Dns::start(&records);
    let mx_port = free_port("127.0.0.1");
    let s = Sender::new("", &sts_config(mx_port, https_port, dns.port, dir));
    let out = dir.join("received");
    let _p = peer(mx_port, &out, dir, None);
    for (to, kind) in [
        ("a@sts.test", "sts-policy-invalid"),
        ("b@other.test", "sts-policy-fetch-error"),
        ("c@nameless.test", "sts-webpki-invalid"),
    ] {
        let sent = s.send("alice@here.test", &[to], MESSAGE);
        assert!(
            text(&sent)
                .lines()
                .any(|l| l.contains("event=mta_sts_fetch_failed")
                    && l.contains(&format!("result_type={kind} "))),
            "{to}: {}",
            text(&sent)
        );
    }
    assert_eq!(received(&out).len(), 3, "delivered as without a policy");

    let today = String::from_utf8(
        Command::new("date")
            .args(["-u", "+%F"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    let run = s.postern(&["queue", "tls-report", "--day", &today]);
    assert!(run.status.success(), "{}", text(&run));
    assert!(
        wait_until(Duration::from_secs(10), || s.alice_mail().len() >= 3),
        "{}",
        text(&run)
    );
    for (domain, kind) in [
        ("sts.test", "sts-policy-invalid"),
        ("other.test", "sts-policy-fetch-error"),
        ("nameless.test", "sts-webpki-invalid"),
    ] {
        let mail = s
            .alice_mail()
            .into_iter()
            .find(|m| {
                m.lines()
                    .any(|l| l.trim_end() == format!("TLS-Report-Domain: {domain}"))
            })
            .expect("report mail");
        let f = dir.join(format!("{domain}.eml"));
        std::fs::write(&f, &mail).unwrap();
        let report = common::python(
            r#"
import email, gzip, json, sys
m = email.message_from_string(open(sys.argv[1]).read())
part = [p for p in m.walk() if p.get_content_type() == "application/tlsrpt+gzip"][0]
print(json.dumps(json.loads(gzip.decompress(part.get_payload(decode=True)))))
"#,
            &[f.to_str().unwrap()],
        );
        let report: serde_json::Value = serde_json::from_str(report.trim()).unwrap();
        let p = &report["policies"][0];
        assert_eq!(p["policy"]["policy-type"], "sts", "{report}");
        assert_eq!(p["policy"]["policy-domain"], domain, "{report}");
        assert_eq!(p["summary"]["total-failure-session-count"], 1, "{report}");
        assert_eq!(p["failure-details"][0]["result-type"], kind, "{report}");
    }
}
