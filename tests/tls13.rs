//! TLS 1.3 and 1.2 everywhere (RFC 8446, RFC 9325): openssl s_client per protocol version on every
//! implicit-TLS and STARTTLS port of `serve --demo` (TLS 1.1 refused, AEAD suites only); Python's
//! ssl with TLS 1.3 as its minimum through smtplib, poplib and imaplib, and curl --tlsv1.3; a
//! replaced certificate served to the next connection without a restart while a broken
//! replacement is ignored; PKCS#1 and SEC1 keys; outbound delivery to an aiosmtpd peer and
//! collection from a Dovecot that both speak TLS 1.3 only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
#[path = "common/collect.rs"]
mod harness;
mod remote_support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use remote_support::{free_port, require, Dns, Proc, Sender, MESSAGE};

/// `openssl s_client ARGS… -crlf -ign_eof` fed `input`, ended after 30 s whatever happens.
fn s_client_timed(args: &[&str], input: &str) -> String {
    let mut cmd = Command::new("timeout");
    cmd.args(["30", "openssl", "s_client"])
        .args(args)
        .args(["-crlf", "-ign_eof"]);
    text(&output_with_stdin(&mut cmd, input.as_bytes()))
}

/// The cipher named on s_client's `New, TLSv1.x, Cipher is NAME` line for `version`.
fn negotiated_cipher(out: &str, version: &str) -> Option<String> {
    let prefix = format!("New, {version}, Cipher is ");
    out.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(str::to_string)
}

fn is_aead(cipher: &str) -> bool {
    cipher.contains("GCM") || cipher.contains("CHACHA20")
}

/// The demo's ports with TLS: (base port, `-starttls` protocol, commands, a reply to them).
const TLS_PORTS: [(u16, Option<&str>, &str, &str); 7] = [
    (2525, Some("smtp"), "EHLO client.test\nQUIT\n", "221 2.0.0"),
    (2587, Some("smtp"), "EHLO client.test\nQUIT\n", "221 2.0.0"),
    (2465, None, "EHLO client.test\nQUIT\n", "221 2.0.0"),
    (2110, Some("pop3"), "QUIT\n", "signing off"),
    (2995, None, "QUIT\n", "signing off"),
    (2143, Some("imap"), "a LOGOUT\n", "* BYE"),
    (2993, None, "a LOGOUT\n", "* BYE"),
];

/// A demo whose port-25-style listener (2525) offers STARTTLS too.
fn demo_with_smtp_starttls() -> Demo {
    let mut demo = Demo::start();
    let config = std::fs::read_to_string(demo.config()).expect("config");
    let plain = format!(
        "name = \"smtp\"\nprotocol = \"smtp\"\naddress = \"127.0.0.1:{}\"\n",
        demo.port(2525)
    );
    assert!(config.contains(&plain), "{config}");
    let tls = format!("{plain}tls = \"starttls\"\ncert = \"cert.pem\"\nkey = \"key.pem\"\n");
    std::fs::write(demo.config(), config.replace(&plain, &tls)).expect("write config");
    demo.restart();
    demo
}

#[test]
fn openssl_every_tls_port_speaks_tls13_and_tls12_and_refuses_tls11() {
    assert!(have("openssl"), "openssl is not installed");
    let demo = demo_with_smtp_starttls();
    let cert = demo.root().join("cert.pem").display().to_string();
    for (base, starttls, input, reply) in TLS_PORTS {
        let addr = format!("127.0.0.1:{}", demo.port(base));
        let mut common_args = vec!["-connect", &addr];
        if let Some(proto) = starttls {
            common_args.extend(["-starttls", proto]);
        }
        for (flag, version) in [("-tls1_3", "TLSv1.3"), ("-tls1_2", "TLSv1.2")] {
            let mut args = vec![flag, "-CAfile", &cert, "-verify_return_error"];
            args.extend(["-verify_ip", "127.0.0.1"]);
            args.extend(&common_args);
            let out = s_client_timed(&args, input);
            let what = format!("port {base} {version}");
            assert!(out.contains("Verify return code: 0 (ok)"), "{what}: {out}");
            let cipher = negotiated_cipher(&out, version);
            assert!(
                cipher.as_deref().is_some_and(is_aead),
                "{what}: cipher {cipher:?}\n{out}"
            );
            assert!(out.contains(reply), "{what}: no {reply:?} over TLS\n{out}");
        }
        // TLS 1.1 (the client allowed to offer it): the server refuses the handshake.
        let mut args = vec!["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"];
        args.extend(&common_args);
        let out = s_client_timed(&args, input);
        assert!(
            out.contains("Cipher is (NONE)"),
            "port {base} TLS 1.1: {out}"
        );
        assert!(out.contains("alert"), "port {base} TLS 1.1: {out}");
        assert!(!out.contains(reply), "port {base} TLS 1.1 answered: {out}");
    }
    // Implicit TLS logs tls_failed, STARTTLS the end of the session with its reason.
    let log = demo.log();
    let refusals = log.matches("event=tls_failed").count()
        + log.matches("reason=\"TLS handshake failed").count();
    assert_eq!(refusals, TLS_PORTS.len(), "{log}");
}

const PYTHON_TLS13: &str = r#"
import imaplib, poplib, smtplib, ssl, sys
ca, pw = sys.argv[1], sys.argv[2]
sub, smtps, pop3, pop3s, imap, imaps = map(int, sys.argv[3:9])
ctx = ssl.create_default_context(cafile=ca)
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
H = "127.0.0.1"

def show(name, sock):
    print(name, sock.version(), sock.cipher()[0])

s = smtplib.SMTP(H, sub, timeout=20)
s.starttls(context=ctx)
s.login("demo", pw)
show("submission", s.sock)
s.quit()
s = smtplib.SMTP_SSL(H, smtps, context=ctx, timeout=20)
s.login("demo", pw)
show("smtps", s.sock)
s.quit()
p = poplib.POP3(H, pop3, timeout=20)
p.stls(context=ctx)
p.user("demo")
p.pass_(pw)
show("pop3", p.sock)
p.quit()
p = poplib.POP3_SSL(H, pop3s, context=ctx, timeout=20)
p.user("demo")
p.pass_(pw)
show("pop3s", p.sock)
p.quit()
i = imaplib.IMAP4(H, imap, timeout=20)
i.starttls(ssl_context=ctx)
i.login("demo", pw)
show("imap", i.sock)
i.logout()
i = imaplib.IMAP4_SSL(H, imaps, ssl_context=ctx, timeout=20)
i.login("demo", pw)
show("imaps", i.sock)
i.logout()
"#;

#[test]
fn python_and_curl_with_tls13_as_minimum_log_in_everywhere() {
    let demo = Demo::start();
    let cert = demo.root().join("cert.pem").display().to_string();
    let password = demo.password();
    let ports: Vec<String> = [2587, 2465, 2110, 2995, 2143, 2993]
        .iter()
        .map(|p| demo.port(*p).to_string())
        .collect();
    let mut args = vec![cert.as_str(), password.as_str()];
    args.extend(ports.iter().map(String::as_str));
    let out = python(PYTHON_TLS13, &args);
    for name in ["submission", "smtps", "pop3", "pop3s", "imap", "imaps"] {
        let line = out
            .lines()
            .find(|l| l.split(' ').next() == Some(name))
            .unwrap_or_else(|| panic!("{name} missing: {out}"));
        assert!(line.contains(" TLSv1.3 "), "{line}");
        assert!(is_aead(line), "{line}");
    }

    assert!(have("curl"), "curl is not installed");
    let user = format!("demo:{password}");
    for (url, want) in [
        (format!("imaps://127.0.0.1:{}/", demo.port(2993)), "INBOX"),
        (format!("imap://127.0.0.1:{}/", demo.port(2143)), "INBOX"),
        (format!("pop3://127.0.0.1:{}/", demo.port(2110)), ""),
    ] {
        let out = run(
            "curl",
            &[
                "-sSv",
                "--max-time",
                "20",
                "--tlsv1.3",
                "--ssl-reqd",
                "--cacert",
                &cert,
                "-u",
                &user,
                &url,
            ],
        );
        let t = text(&out);
        assert!(out.status.success(), "{url}: {t}");
        assert!(t.contains("SSL connection using TLSv1.3"), "{url}: {t}");
        assert!(t.contains(want), "{url}: {t}");
    }
}

/// `postern cert gen --cn CN --san 127.0.0.1` into `dir/NAME.pem` and `dir/NAME.key`.
fn cert_gen(dir: &Path, name: &str, cn: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    let out = Command::new(bin())
        .args(["cert", "gen", "--cn", cn, "--san", "127.0.0.1", "--cert"])
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .output()
        .expect("cert gen");
    assert!(out.status.success(), "cert gen: {}", text(&out));
    (cert, key)
}

/// Put `from` in place of `to` the way ACME clients do: a new file renamed over the old one.
fn replace_file(from: &Path, to: &Path) {
    let tmp = to.with_extension("tmp");
    std::fs::copy(from, &tmp).expect("copy");
    std::fs::rename(&tmp, to).expect("rename");
}

/// The subject line of the certificate served on `port` (TLS 1.3); s_client leaves right after
/// the handshake (its input is empty and not `-ign_eof`).
fn served_subject(port: u16) -> String {
    let addr = format!("127.0.0.1:{port}");
    let out = run(
        "timeout",
        &["30", "openssl", "s_client", "-tls1_3", "-connect", &addr],
    );
    text(&out)
        .lines()
        .find(|l| l.starts_with("subject="))
        .unwrap_or("no certificate")
        .to_string()
}

#[test]
fn a_replaced_certificate_is_served_without_restart_and_a_broken_one_is_not() {
    let demo = Demo::start();
    let tmp = tempfile::tempdir().expect("tmp");
    let implicit = [demo.port(2465), demo.port(2995), demo.port(2993)];
    for port in implicit {
        assert!(served_subject(port).contains("CN = mail.example.test"));
    }
    let (cert, key) = (demo.root().join("cert.pem"), demo.root().join("key.pem"));
    let (new_cert, new_key) = cert_gen(tmp.path(), "renewed", "renewed.example.test");
    let start = Instant::now();
    replace_file(&new_cert, &cert);
    replace_file(&new_key, &key);
    // Each listener looks at the files at most once a second: within a few, all serve it.
    for port in implicit {
        let mut subject = served_subject(port);
        while !subject.contains("renewed") && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(200));
            subject = served_subject(port);
        }
        assert!(subject.contains("CN = renewed.example.test"), "{subject}");
    }
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(demo.log().matches("event=tls_reloaded").count(), 3);
    // STARTTLS listeners too.
    let sub = format!("127.0.0.1:{}", demo.port(2587));
    let out = s_client_timed(
        &[
            "-starttls",
            "smtp",
            "-connect",
            &sub,
            "-CAfile",
            &new_cert.display().to_string(),
            "-verify_return_error",
        ],
        "QUIT\n",
    );
    assert!(out.contains("Verify return code: 0 (ok)"), "{out}");

    // A key that belongs to another certificate: logged, and the renewed one stays.
    let (_, other_key) = cert_gen(tmp.path(), "other", "other.example.test");
    replace_file(&other_key, &key);
    let wait = Instant::now();
    while !demo.log().contains("event=tls_reload_failed")
        && wait.elapsed() < Duration::from_secs(10)
    {
        assert!(served_subject(demo.port(2465)).contains("renewed"));
        std::thread::sleep(Duration::from_millis(300));
    }
    let log = demo.log();
    let failed = log
        .lines()
        .find(|l| l.contains("event=tls_reload_failed"))
        .unwrap_or_else(|| panic!("no tls_reload_failed: {log}"));
    assert!(
        failed.contains(&format!(
            "certificate {} and key {} do not work together",
            cert.display(),
            key.display()
        )),
        "{failed}"
    );
    std::thread::sleep(Duration::from_millis(1200));
    assert!(served_subject(demo.port(2465)).contains("renewed"));
    // At start-up the same pair is refused, naming both files.
    let out = demo.postern(&["config", "check"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(&format!(
        "certificate {} and key {} do not work together",
        cert.display(),
        key.display()
    )));
}

/// Run openssl; panics with its output when it fails.
fn openssl(args: &[&str]) {
    let out = run("openssl", args);
    assert!(out.status.success(), "openssl {args:?}: {}", text(&out));
}

#[test]
fn pkcs1_rsa_and_sec1_ec_keys_load_and_a_mismatch_is_refused_at_start() {
    let mut demo = Demo::start();
    let tmp = tempfile::tempdir().expect("tmp");
    let p = |name: &str| tmp.path().join(name).display().to_string();
    let (cert, key) = (demo.root().join("cert.pem"), demo.root().join("key.pem"));
    std::fs::copy(&cert, p("ec.pem")).expect("copy");
    // SEC1 (`BEGIN EC PRIVATE KEY`) from the demo's PKCS#8 key; an RSA certificate with its key
    // in PKCS#1 (`BEGIN RSA PRIVATE KEY`).
    openssl(&[
        "ec",
        "-in",
        &key.display().to_string(),
        "-out",
        &p("sec1.key"),
    ]);
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &p("rsa8.key"),
        "-out",
        &p("rsa.pem"),
        "-days",
        "2",
        "-subj",
        "/CN=rsa.example.test",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
    ]);
    openssl(&[
        "rsa",
        "-in",
        &p("rsa8.key"),
        "-traditional",
        "-out",
        &p("rsa1.key"),
    ]);
    for (file, header) in [
        ("sec1.key", "-----BEGIN EC PRIVATE KEY-----"),
        ("rsa1.key", "-----BEGIN RSA PRIVATE KEY-----"),
    ] {
        let pem = std::fs::read_to_string(p(file)).expect("key");
        assert!(pem.starts_with(header), "{file}: {pem}");
    }
    for (cert_file, key_file, cn, signature) in [
        ("rsa.pem", "rsa1.key", "rsa.example.test", "RSA-PSS"),
        ("ec.pem", "sec1.key", "mail.example.test", "ECDSA"),
    ] {
        std::fs::copy(p(cert_file), &cert).expect("copy");
        std::fs::copy(p(key_file), &key).expect("copy");
        let check = demo.postern(&["config", "check"]);
        assert!(check.status.success(), "{key_file}: {}", text(&check));
        demo.restart();
        for flag in ["-tls1_3", "-tls1_2"] {
            let addr = format!("127.0.0.1:{}", demo.port(2993));
            let ca = p(cert_file);
            let args = [
                flag,
                "-connect",
                &addr,
                "-CAfile",
                &ca,
                "-verify_return_error",
            ];
            let out = s_client_timed(&args, "a LOGOUT\n");
            let what = format!("{key_file} {flag}");
            assert!(out.contains("Verify return code: 0 (ok)"), "{what}: {out}");
            assert!(out.contains(&format!("CN = {cn}")), "{what}: {out}");
            assert!(
                out.contains(&format!("Peer signature type: {signature}")),
                "{what}: {out}"
            );
            assert!(out.contains("* BYE"), "{what}: {out}");
        }
    }

    // The EC certificate with the RSA key: `serve` does not start, and says which files.
    std::fs::copy(p("rsa1.key"), &key).expect("copy");
    let _ = demo.child.kill();
    let _ = demo.child.wait();
    let out = run(
        "timeout",
        &[
            "20",
            &bin().display().to_string(),
            "--config",
            &demo.config().display().to_string(),
            "serve",
        ],
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "certificate {} and key {} do not work together: the key does not belong",
            cert.display(),
            key.display()
        )),
        "{}",
        text(&out)
    );
}

/// `cert gen` for `peer.test` in `dir`, and an aiosmtpd peer (`starttls` or `implicit`) that
/// speaks TLS 1.3 only, requires TLS and AUTH (user branch, password branchpw), and saves mail
/// in `dir/NAME`.
fn tls13_peer(dir: &Path, mode: &str, name: &str) -> (Proc, u16) {
    let (cert, key) = (dir.join("peer.pem"), dir.join("peer.key"));
    if !cert.exists() {
        let out = Command::new(bin())
            .args(["cert", "gen", "--cn", "peer.test", "--cert"])
            .arg(&cert)
            .arg("--key")
            .arg(&key)
            .output()
            .expect("cert gen");
        assert!(out.status.success(), "cert gen: {}", text(&out));
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/remote_support/auth_peer.py"
    );
    let port = free_port("127.0.0.1");
    let child = Command::new("/usr/bin/python3")
        .arg(script)
        .arg(port.to_string())
        .arg(&cert)
        .arg(&key)
        .args([mode, "branch", "branchpw"])
        .arg(dir.join(name))
        .arg("1.3")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn aiosmtpd peer");
    let proc = Proc(child);
    assert!(wait_for_port(
        ([127, 0, 0, 1], port).into(),
        Duration::from_secs(20)
    ));
    (proc, port)
}

/// The saved messages in `dir`.
fn saved(dir: &Path) -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p: &std::path::PathBuf| p.extension().is_some_and(|x| x == "eml"));
    files.sort();
    files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .collect()
}

#[test]
fn remote_delivery_to_a_tls13_only_peer() {
    require(&["dnsmasq", "/usr/bin/python3", "openssl"]);
    let probe = run("/usr/bin/python3", &["-c", "import aiosmtpd"]);
    assert!(probe.status.success(), "python3-aiosmtpd is not installed");
    let tmp = tempfile::tempdir().expect("tmp");
    let (_st, st_port) = tls13_peer(tmp.path(), "starttls", "st");
    let (_im, im_port) = tls13_peer(tmp.path(), "implicit", "im");
    // The peers really refuse TLS 1.2.
    let st = format!("127.0.0.1:{st_port}");
    let out = s_client_timed(&["-tls1_2", "-starttls", "smtp", "-connect", &st], "QUIT\n");
    assert!(out.contains("Cipher is (NONE)"), "{out}");
    let out = s_client_timed(&["-tls1_3", "-starttls", "smtp", "-connect", &st], "QUIT\n");
    assert!(out.contains("New, TLSv1.3"), "{out}");

    let dns = Dns::start(&["--host-record=peer.test,127.0.0.1".into()]);
    let ca = tmp.path().join("peer.pem").display().to_string();
    let server = |name: &str, port: u16, tls: &str, ca_line: &str| {
        format!(
            "[[remote.server]]\nname = \"{name}\"\nhost = \"peer.test\"\nport = {port}\n\
             tls = \"{tls}\"\n{ca_line}auth = \"plain\"\nuser = \"branch\"\npassword = \"branchpw\"\n"
        )
    };
    let ca_line = format!("ca = \"{ca}\"\n");
    let rest = [
        format!(
            "[remote]\nconnect_timeout = \"3s\"\ncommand_timeout = \"10s\"\n[dns]\nservers = [\"127.0.0.1:{}\"]\ntimeout = \"2s\"\n",
            dns.port
        ),
        server("required", st_port, "required", &ca_line),
        server("implicit", im_port, "implicit", &ca_line),
        // Unverified STARTTLS: PLAIN is only sent because the TLS 1.3 handshake succeeded.
        server("opportunistic", st_port, "opportunistic", ""),
    ]
    .join("\n");
    for (name, dir, count) in [
        ("required", "st", 1),
        ("implicit", "im", 1),
        ("opportunistic", "st", 2),
    ] {
        let s = Sender::new(&format!("gateway = \"{name}\""), &rest);
        s.send("alice@here.test", &["boss@head.test"], MESSAGE);
        assert!(s.queue().is_empty(), "via {name}: {:?}", s.queue());
        let mail = saved(&tmp.path().join(dir));
        assert_eq!(mail.len(), count, "via {name}");
        let last = mail.last().map(String::as_str).unwrap_or_default();
        assert!(
            last.contains("X-TLS-Version: TLSv1.3"),
            "via {name}: {last}"
        );
        assert!(
            last.contains("X-Rcpt-To: boss@head.test"),
            "via {name}: {last}"
        );
    }
}

#[test]
fn collect_from_a_tls13_only_dovecot() {
    let acct = |name: &str, tls: &str, port: &str| {
        format!(
            "[[collect]]\nname = \"{name}\"\nserver = \"localhost\"\nport = {port}\ntls = \"{tls}\"\n\
             trust_anchor = \"{{DIR}}/cert.pem\"\nuser = \"isp\"\npassword = \"{}\"\nauth = \"plain\"\ndelete = \"always\"\n",
            harness::SECRET
        )
    };
    let accounts = [
        ("implicit", "implicit", "{POP3S}"),
        ("stls", "starttls", "{POP3}"),
        ("opportunistic", "opportunistic", "{POP3}"),
    ];
    let toml: String = accounts.iter().map(|(n, t, p)| acct(n, t, p)).collect();
    let s = harness::Setup::start_with(&["isp"], &toml, "ssl_min_protocol = TLSv1.3\n");
    // Dovecot really refuses TLS 1.2.
    let pop3s = format!("127.0.0.1:{}", s.pop3s);
    let out = s_client_timed(&["-tls1_2", "-connect", &pop3s], "QUIT\n");
    assert!(out.contains("Cipher is (NONE)"), "{out}");
    for (name, _, _) in accounts {
        s.put("isp", &harness::message("bob@example.test", name));
        let out = s.collect(&["--account", name]);
        let log = text(&out);
        assert!(out.status.success(), "{name}: {log}");
        assert!(log.contains("fetched=1"), "{name}: {log}");
        let dlog = s.dovecot_log();
        let login = dlog
            .lines()
            .rfind(|l| l.contains("Login: user=<isp>"))
            .unwrap_or_default()
            .to_string();
        assert!(login.contains("TLS"), "{name} not over TLS: {login}");
    }
    assert_eq!(s.mails("bob").len(), accounts.len());
}
