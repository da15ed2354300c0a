//! The milter client against the milters admins actually run, each started by the test on
//! loopback: rspamd's proxy worker in milter mode (a minimal local config, DNS pointed at a
//! dnsmasq of the test), OpenDKIM signing as a milter (dkimpy verifies), and clamav-milter in
//! front of clamd with a one-line local signature database for the EICAR test string.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
mod mailauth_support;
mod policy_support;
mod remote_support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{have, wait_for_child_port, wait_for_mail, Demo};
use mailauth_support::{dkimpy, genkey};
use policy_support::{demo_edited, queued, refused_with, swaks};
use remote_support::{free_port, Dns};

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn require(tools: &[&str]) {
    for t in tools {
        assert!(have(t), "{t} is not installed (bin/install-test-deps)");
    }
}

/// The demo with `[[milter]]` `name` at `port` and `delivery` lines added to `[delivery]`.
fn demo_with_milter(name: &str, port: u16, delivery: &str) -> Demo {
    demo_edited(
        |_, c| c.replace("[delivery]\n", &format!("[delivery]\n{delivery}")),
        &format!(
            "\n[[milter]]\nname = \"{name}\"\nsocket = \"inet:127.0.0.1:{port}\"\n\
             timeout = \"60s\"\ndefault_action = \"tempfail\"\n"
        ),
    )
}

fn send(d: &Demo, subject: &str, body: &str) -> String {
    swaks(
        d,
        &[
            "--from",
            "someone@sender.test",
            "--to",
            "demo@example.test",
            "--header",
            &format!("Subject: {subject}"),
            "--body",
            body,
        ],
    )
}

fn read_all(paths: &[std::path::PathBuf]) -> Vec<String> {
    paths
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

const RSPAMD_CONF: &str = r#"
.include "$CONFDIR/common.conf"
options {
    pidfile = "$RUNDIR/rspamd.pid";
    .include "$CONFDIR/options.inc"
    dns { nameserver = ["127.0.0.1:DNS_PORT"]; timeout = 1s; retransmits = 1; }
    # GTUBE and its variants (reject, add header) for tests.
    enable_test_patterns = true;
}
logging { type = "file"; filename = "$LOGDIR/rspamd.log"; level = "info"; }
worker "rspamd_proxy" {
    bind_socket = "127.0.0.1:MILTER_PORT";
    milter = yes;
    timeout = 60s;
    upstream "local" { default = yes; self_scan = yes; }
    count = 1;
    spam_header = "X-Spam";
}
"#;

const RSPAMD_HEADERS: &str = r#"
use = ["x-spamd-result", "x-rspamd-server", "x-spam-status"];
skip_local = false;
skip_authenticated = false;
"#;

/// rspamd's proxy worker in milter mode on a free loopback port, scanning by itself.
fn start_rspamd(dir: &Path, dns_port: u16) -> (Proc, u16) {
    let port = free_port("127.0.0.1");
    for sub in ["local.d", "run", "db", "log"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let conf = dir.join("rspamd.conf");
    std::fs::write(
        &conf,
        RSPAMD_CONF
            .replace("DNS_PORT", &dns_port.to_string())
            .replace("MILTER_PORT", &port.to_string()),
    )
    .unwrap();
    std::fs::write(dir.join("local.d/milter_headers.conf"), RSPAMD_HEADERS).unwrap();
    let var = |name: &str, sub: &str| format!("--var={name}={}", dir.join(sub).display());
    let child = Command::new("rspamd")
        .args(["-f", "-i", "-c"])
        .arg(&conf)
        .arg("--var=CONFDIR=/etc/rspamd")
        .arg(format!("--var=LOCAL_CONFDIR={}", dir.display()))
        .arg(var("RUNDIR", "run"))
        .arg(var("DBDIR", "db"))
        .arg(var("LOGDIR", "log"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("rspamd (bin/install-test-deps)");
    let mut child = Proc(child);
    // rspamd compiles its rules first: tens of seconds on a busy machine.
    let deadline = std::time::Instant::now() + Duration::from_secs(240);
    while std::time::Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (child, port);
        }
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!(
                "rspamd exited ({status}):\n{}",
                std::fs::read_to_string(dir.join("log/rspamd.log")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("rspamd did not listen within 240 s");
}

/// rspamd as a milter: the GTUBE message is refused with rspamd's reply, its add-header
/// variant gets `X-Spam: Yes` and (with `spam_headers`) lands in Junk, and clean mail gets
/// rspamd's result headers and lands in the INBOX.
#[test]
fn rspamd_rejects_gtube_tags_spam_into_junk_and_heads_clean_mail() {
    require(&["rspamd", "dnsmasq", "swaks"]);
    let tmp = tempfile::tempdir().unwrap();
    let dns = Dns::start(&[]);
    let (_rspamd, port) = start_rspamd(tmp.path(), dns.port);
    let d = demo_with_milter("rspamd", port, "spam_headers = [\"X-Spam: Yes\"]\n");

    let out = send(
        &d,
        "gtube",
        "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X",
    );
    assert!(refused_with(&out, "554 5.7.1"), "{out}\n{}", d.log());
    let out = send(
        &d,
        "tagged",
        "YJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X",
    );
    assert!(queued(&out), "{out}");
    let out = send(&d, "lunch", "Shall we meet at noon by the fountain?");
    assert!(queued(&out), "{out}");

    let inbox = d.maildir("demo");
    let junk = read_all(&wait_for_mail(
        &inbox.join(".Junk"),
        1,
        Duration::from_secs(30),
    ));
    assert_eq!(junk.len(), 1, "{}", d.log());
    assert!(
        junk[0].contains("X-Spam: Yes") && junk[0].contains("Subject: tagged"),
        "{}",
        junk[0]
    );
    let ham = read_all(&wait_for_mail(&inbox, 1, Duration::from_secs(30)));
    assert_eq!(ham.len(), 1, "{}", d.log());
    assert!(ham[0].contains("Subject: lunch"), "{}", ham[0]);
    assert!(ham[0].contains("X-Spamd-Result:"), "{}", ham[0]);
    assert!(ham[0].contains("X-Spam-Status: No"), "{}", ham[0]);
    assert!(!ham[0].contains("X-Spam: Yes"), "{}", ham[0]);
    assert!(!ham
        .iter()
        .chain(&junk)
        .any(|m| m.contains("Subject: gtube")));
    let log = d.log();
    assert!(
        log.contains("event=milter milter=rspamd action=reject"),
        "{log}"
    );
}

/// OpenDKIM as a signing milter in front of the demo: mail from the demo's domain, sent by a
/// client OpenDKIM counts as internal, is signed on the way in, and dkimpy verifies the
/// signature of the delivered copy against the key dnsmasq publishes.
#[test]
fn opendkim_as_a_milter_signs_mail_that_dkimpy_verifies() {
    require(&[
        "opendkim",
        "opendkim-genkey",
        "dnsmasq",
        "swaks",
        "/usr/bin/python3",
    ]);
    let tmp = tempfile::tempdir().unwrap();
    let (key, record) = genkey(tmp.path(), "example.test", 2048);
    let dns = Dns::start(&[format!("--txt-record=sel._domainkey.example.test,{record}")]);
    let port = free_port("127.0.0.1");
    let conf = tmp.path().join("opendkim.conf");
    std::fs::write(
        &conf,
        format!(
            "Mode sv\nSyslog no\nBackground no\nSocket inet:{port}@127.0.0.1\n\
             Domain example.test\nSelector sel\nKeyFile {}\nInternalHosts 127.0.0.1\n\
             Canonicalization relaxed/relaxed\nPidFile {}\nRequireSafeKeys false\n",
            key.display(),
            tmp.path().join("opendkim.pid").display()
        ),
    )
    .unwrap();
    let mut child = Command::new("opendkim")
        .arg("-f")
        .arg("-x")
        .arg(&conf)
        .stdout(Stdio::null())
        .spawn()
        .expect("opendkim");
    assert!(
        wait_for_child_port(&mut child, ([127, 0, 0, 1], port).into()),
        "opendkim did not start"
    );
    let _opendkim = Proc(child);
    let d = demo_with_milter("opendkim", port, "");

    let out = swaks(
        &d,
        &[
            "--from",
            "demo@example.test",
            "--to",
            "demo@example.test",
            "--header",
            "From: Demo <demo@example.test>",
            "--header",
            "Subject: signed by the milter",
            "--body",
            "A line.\nAnother line.\n",
        ],
    );
    assert!(queued(&out), "{out}");
    let got = wait_for_mail(&d.maildir("demo"), 1, Duration::from_secs(30));
    assert_eq!(got.len(), 1, "{}", d.log());
    let text = std::fs::read_to_string(&got[0]).unwrap();
    assert!(text.contains("DKIM-Signature:"), "{text}");
    let verdicts = dkimpy(dns.port, &got[0]);
    assert!(
        verdicts
            .iter()
            .any(|(r, dom, sel)| r == "pass" && dom == "example.test" && sel == "sel"),
        "dkimpy: {verdicts:?}\n{text}"
    );
    // The copy changed after signing fails: the verifier really checks.
    let tampered = tmp.path().join("tampered.eml");
    std::fs::write(&tampered, text.replace("Another line.", "A changed line.")).unwrap();
    assert!(
        dkimpy(dns.port, &tampered)
            .iter()
            .all(|(r, _, _)| r != "pass"),
        "a tampered body still passed"
    );
}

/// clamav-milter in front of clamd whose only signature database is one local line matching
/// the EICAR test string: a message carrying it is refused, a clean one is delivered with
/// clamav-milter's `X-Virus-Scanned` header.
#[test]
fn clamav_milter_refuses_the_eicar_test_string_and_passes_clean_mail() {
    require(&["clamd", "clamav-milter", "swaks"]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("db")).unwrap();
    let hex: String = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE"
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect();
    std::fs::write(
        dir.join("db/local.ndb"),
        format!("Eicar-Test-Local:0:*:{hex}\n"),
    )
    .unwrap();
    let socket = dir.join("clamd.sock");
    let clamd_conf = dir.join("clamd.conf");
    std::fs::write(
        &clamd_conf,
        format!(
            "Foreground yes\nLocalSocket {}\nDatabaseDirectory {}\nLogFile {}\nPidFile {}\nUser root\n",
            socket.display(),
            dir.join("db").display(),
            dir.join("clamd.log").display(),
            dir.join("clamd.pid").display()
        ),
    )
    .unwrap();
    let clamd = Proc(
        Command::new("clamd")
            .arg("-c")
            .arg(&clamd_conf)
            .stdout(Stdio::null())
            .spawn()
            .expect("clamd"),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !socket.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        socket.exists(),
        "clamd did not start:\n{}",
        std::fs::read_to_string(dir.join("clamd.log")).unwrap_or_default()
    );
    let port = free_port("127.0.0.1");
    let milter_conf = dir.join("milter.conf");
    std::fs::write(
        &milter_conf,
        format!(
            "Foreground yes\nMilterSocket inet:{port}@127.0.0.1\nClamdSocket unix:{}\n\
             OnInfected Reject\nAddHeader Replace\nLogInfected Basic\nLogFile {}\nPidFile {}\nUser root\n",
            socket.display(),
            dir.join("milter.log").display(),
            dir.join("milter.pid").display()
        ),
    )
    .unwrap();
    let mut child = Command::new("clamav-milter")
        .arg("-c")
        .arg(&milter_conf)
        .stdout(Stdio::null())
        .spawn()
        .expect("clamav-milter");
    assert!(
        wait_for_child_port(&mut child, ([127, 0, 0, 1], port).into()),
        "clamav-milter did not start"
    );
    let _milter = Proc(child);
    let d = demo_with_milter("clamav", port, "");

    let eicar = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
    let out = send(&d, "infected", eicar);
    assert!(refused_with(&out, "554 5.7.1"), "{out}\n{}", d.log());
    let out = send(&d, "clean", "Nothing to see here.");
    assert!(queued(&out), "{out}");
    let got = read_all(&wait_for_mail(
        &d.maildir("demo"),
        1,
        Duration::from_secs(30),
    ));
    assert_eq!(got.len(), 1, "{}", d.log());
    assert!(got[0].contains("Subject: clean"), "{}", got[0]);
    assert!(got[0].contains("X-Virus-Status: Clean"), "{}", got[0]);
    assert!(
        got[0].contains("X-Virus-Scanned: clamav-milter"),
        "{}",
        got[0]
    );
    assert!(
        std::fs::read_to_string(dir.join("milter.log"))
            .unwrap_or_default()
            .contains("Eicar-Test-Local"),
        "clamav-milter did not log the find"
    );
    drop(clamd);
}
