//! ACME (RFC 8555) against Let's Encrypt's Pebble on loopback, with a dnsmasq resolving the test
//! names to 127.0.0.1 for Pebble's validation: `cert acme` obtains with HTTP-01 (the built-in
//! responder, and a webroot served by Python's `http.server`) and with TLS-ALPN-01; `serve`
//! replaces a self-signed placeholder by itself and takes renewed and replacement (after
//! revocation) certificates without a restart, as `openssl s_client` sees over SMTP STARTTLS and
//! IMAPS, verifying against the root Pebble's management API hands out; and the failures
//! (challenge unreachable, directory down, every nonce refused) keep the old certificate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
mod remote_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::site::Site;
use common::{text, wait_for_port};
use remote_support::{free_port, require, Dns, Proc};

const HOST: &str = "mx.example.test";

/// Pebble with its own HTTPS certificate from a test CA made here, validating on `http_port`
/// and `tls_port`, resolving through the test's dnsmasq.
struct Pebble {
    proc: Option<Proc>,
    dir: PathBuf,
    dns_port: u16,
    acme_port: u16,
    mgmt_port: u16,
    http_port: u16,
    tls_port: u16,
}

impl Pebble {
    fn start(dir: &Path, dns_port: u16, env: &[(&str, &str)]) -> Pebble {
        let dir = dir.join("pebble");
        std::fs::create_dir_all(&dir).unwrap();
        let sh = |script: &str| {
            let out = Command::new("sh")
                .arg("-ec")
                .arg(script)
                .current_dir(&dir)
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", text(&out));
        };
        sh(
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
            -out ca.pem -days 2 -subj /CN=pebble-https-test-ca 2>/dev/null
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout https.key \
            -out https.csr -subj /CN=localhost 2>/dev/null
            printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > ext
            openssl x509 -req -in https.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
            -out https.pem -days 2 -extfile ext 2>/dev/null",
        );
        let mut p = Pebble {
            proc: None,
            dir,
            dns_port,
            acme_port: free_port("127.0.0.1"),
            mgmt_port: free_port("127.0.0.1"),
            http_port: free_port("127.0.0.1"),
            tls_port: free_port("127.0.0.1"),
        };
        p.restart(env);
        p
    }

    /// (Re)start with `env` (besides no sleeping and no refused nonces, unless overridden).
    fn restart(&mut self, env: &[(&str, &str)]) {
        self.stop();
        let config = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{}", self.acme_port),
            "managementListenAddress": format!("127.0.0.1:{}", self.mgmt_port),
            "certificate": self.dir.join("https.pem"),
            "privateKey": self.dir.join("https.key"),
            "httpPort": self.http_port,
            "tlsPort": self.tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        }});
        let path = self.dir.join("pebble.json");
        std::fs::write(&path, config.to_string()).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("pebble.log"))
            .unwrap();
        let child = Command::new("pebble")
            .arg("-config")
            .arg(&path)
            .args(["-dnsserver", &format!("127.0.0.1:{}", self.dns_port)])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .envs(env.iter().copied())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn pebble");
        self.proc = Some(Proc(child));
        assert!(
            wait_for_port(
                ([127, 0, 0, 1], self.acme_port).into(),
                Duration::from_secs(20)
            ),
            "pebble did not start: {}",
            self.log()
        );
        assert!(wait_for_port(
            ([127, 0, 0, 1], self.mgmt_port).into(),
            Duration::from_secs(20)
        ));
    }

    fn stop(&mut self) {
        self.proc = None;
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pebble.log")).unwrap_or_default()
    }

    fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A GET on the management API (its HTTPS verified against the test CA).
    fn management(&self, path: &str) -> String {
        let out = Command::new("curl")
            .args(["-sS", "--fail", "--cacert"])
            .arg(self.ca())
            .arg(format!("https://127.0.0.1:{}{path}", self.mgmt_port))
            .output()
            .unwrap();
        assert!(out.status.success(), "{path}: {}", text(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    /// The root that issued Pebble's certificates, written to a file for openssl.
    fn issuing_root(&self) -> PathBuf {
        let path = self.dir.join("issuing-root.pem");
        std::fs::write(&path, self.management("/roots/0")).unwrap();
        path
    }

    /// The revocation status of the certificate with `serial` (openssl's hex).
    fn status(&self, serial: &str) -> String {
        let hex = serial.replace(':', "").to_ascii_lowercase();
        let hex = hex.trim_start_matches('0');
        let json: serde_json::Value =
            serde_json::from_str(&self.management(&format!("/cert-status-by-serial/{hex}")))
                .unwrap();
        json["Status"].as_str().unwrap_or_default().to_string()
    }
}

/// The test's world: dnsmasq saying mx.example.test is 127.0.0.1, Pebble, and a site whose
/// SMTP (STARTTLS) and IMAPS listeners use `cert.pem`/`key.pem`.
struct World {
    _dns: Dns,
    pebble: Pebble,
    site: Site,
    imaps_port: u16,
}

impl World {
    /// `postern serve` on the site's config, its log in `serve.log`.
    fn serve(&self) -> (std::process::Child, PathBuf) {
        let log = self.site.root().join("serve.log");
        let serve = Command::new(common::bin())
            .arg("--config")
            .arg(self.site.config())
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        (serve, log)
    }

    fn new(pebble_env: &[(&str, &str)]) -> World {
        require(&["pebble", "dnsmasq", "openssl", "curl", "python3"]);
        let dns = Dns::start(&[format!("--address=/{HOST}/127.0.0.1")]);
        let site = Site::new("");
        let pebble = Pebble::start(site.root(), dns.port, pebble_env);
        World {
            _dns: dns,
            pebble,
            imaps_port: free_port("127.0.0.1"),
            site,
        }
    }

    /// Writes the config: the listeners and `[acme]` with `acme_extra` lines.
    fn configure(&self, acme_extra: &str) {
        self.configure_http(self.pebble.http_port, acme_extra);
    }

    /// Same, with the built-in HTTP-01 responder on `http_port`.
    fn configure_http(&self, http_port: u16, acme_extra: &str) {
        let p = &self.pebble;
        let text = format!(
            "[server]\nhostname = \"{HOST}\"\npostmaster = \"postmaster@example.test\"\n\n\
             [paths]\nspool = \"spool\"\nmail = \"mail\"\nusers = \"users.toml\"\n\n\
             [[domain]]\nname = \"example.test\"\n\n\
             [[listener]]\nname = \"smtp\"\nprotocol = \"smtp\"\naddress = \"127.0.0.1:{smtp}\"\n\
             tls = \"starttls\"\ncert = \"cert.pem\"\nkey = \"key.pem\"\n\n\
             [[listener]]\nname = \"imaps\"\nprotocol = \"imap\"\naddress = \"127.0.0.1:{imaps}\"\n\
             tls = \"implicit\"\ncert = \"cert.pem\"\nkey = \"key.pem\"\n\n\
             [acme]\ndirectory = \"https://127.0.0.1:{acme}/dir\"\n\
             contact = [\"postmaster@example.test\"]\nca_roots = [\"{ca}\"]\n\
             http_listen = \"127.0.0.1:{http}\"\ntls_alpn_listener = \"127.0.0.1:{tls}\"\n\
             check_interval = \"1h\"\n{acme_extra}\n",
            smtp = self.site.port,
            imaps = self.imaps_port,
            acme = p.acme_port,
            ca = p.ca().display(),
            http = http_port,
            tls = p.tls_port,
        );
        std::fs::write(self.site.config(), text).unwrap();
    }

    fn cert(&self) -> PathBuf {
        self.site.root().join("cert.pem")
    }

    fn key(&self) -> PathBuf {
        self.site.root().join("key.pem")
    }

    fn acme(&self, args: &[&str]) -> Output {
        let mut all = vec!["cert", "acme"];
        all.extend_from_slice(args);
        self.site.postern(&all)
    }

    /// A self-signed placeholder from `cert gen`, valid `days`.
    fn placeholder(&self, days: u32) {
        let out = self.site.postern(&[
            "cert",
            "gen",
            "--cn",
            HOST,
            "--days",
            &days.to_string(),
            "--cert",
            self.cert().to_str().unwrap(),
            "--key",
            self.key().to_str().unwrap(),
            "--force",
        ]);
        assert!(out.status.success(), "{}", text(&out));
    }
}

/// `openssl x509 -noout FIELDS` of a PEM certificate (file).
fn x509(pem: &Path, fields: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-in"])
        .arg(pem)
        .args(fields)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

fn serial_of(pem: &Path) -> String {
    x509(pem, &["-serial"])
        .trim()
        .trim_start_matches("serial=")
        .to_string()
}

/// What `openssl s_client` sees on 127.0.0.1:port (STARTTLS `starttls` or implicit TLS),
/// verifying the chain against `root` and the host name: (verified, issuer, serial).
fn served(port: u16, starttls: Option<&str>, root: &Path, dir: &Path) -> (bool, String, String) {
    let connect = format!("127.0.0.1:{port}");
    let mut args = vec![
        "-connect",
        &connect,
        "-servername",
        HOST,
        "-verify_hostname",
        HOST,
        "-CAfile",
        root.to_str().unwrap(),
    ];
    let quit = match starttls {
        Some(proto) => {
            args.extend(["-starttls", proto]);
            "QUIT\n"
        }
        None => "a LOGOUT\n",
    };
    let out = common::s_client(&args, quit);
    let verified = out.contains("Verify return code: 0 (ok)");
    let begin = out.find("-----BEGIN CERTIFICATE-----").expect(&out);
    let end = out.find("-----END CERTIFICATE-----").expect(&out) + 25;
    let pem = dir.join(format!("served-{port}.pem"));
    std::fs::write(&pem, &out[begin..end]).unwrap();
    let issuer = x509(&pem, &["-issuer"]);
    (verified, issuer, serial_of(&pem))
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// `serve` replaces a self-signed placeholder on its own schedule; `cert acme --force` (renewal)
/// and `--revoke` (replacement) are taken by the running daemon without a restart: the serial
/// `s_client` sees changes, verified against Pebble's root each time, on SMTP STARTTLS and IMAPS.
#[test]
fn serve_obtains_renews_and_replaces_after_revocation_without_restart() {
    let w = World::new(&[]);
    w.configure("");
    w.placeholder(365);
    let (mut serve, log) = w.serve();
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        wait_until(Duration::from_secs(60), || read_log()
            .contains("event=acme_obtained")),
        "serve did not obtain a certificate:\n{}\n{}",
        read_log(),
        w.pebble.log()
    );
    assert!(read_log().contains("why=\"the certificate is self-signed\""));
    let root = w.pebble.issuing_root();
    let dir = w.site.root();
    let first = serial_of(&w.cert());
    // The listeners look at their files at most once a second.
    assert!(wait_until(Duration::from_secs(10), || served(
        w.site.port,
        Some("smtp"),
        &root,
        dir
    )
    .2 == first));
    let (verified, issuer, _) = served(w.site.port, Some("smtp"), &root, dir);
    assert!(verified, "SMTP STARTTLS certificate not verified");
    assert!(issuer.contains("Pebble Intermediate CA"), "{issuer}");
    let (verified, issuer, serial) = served(w.imaps_port, None, &root, dir);
    assert!(verified && issuer.contains("Pebble") && serial == first);

    // Not due: --renew says nothing and changes nothing.
    let out = w.acme(&["--renew"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(out.stdout.is_empty(), "{}", text(&out));
    assert_eq!(serial_of(&w.cert()), first);

    // Renewal forced: the running server serves the new one.
    let out = w.acme(&["--force"]);
    assert!(out.status.success(), "{}", text(&out));
    let second = serial_of(&w.cert());
    assert_ne!(second, first);
    assert!(wait_until(Duration::from_secs(10), || served(
        w.site.port,
        Some("smtp"),
        &root,
        dir
    )
    .2 == second));
    let (verified, renewed_issuer, _) = served(w.site.port, Some("smtp"), &root, dir);
    assert!(verified && renewed_issuer == issuer);
    let (verified, _, serial) = served(w.imaps_port, None, &root, dir);
    assert!(verified && serial == second);
    assert_eq!(w.pebble.status(&second), "Valid");

    // Revoked, then replaced.
    let out = w.acme(&["--revoke"]);
    assert!(out.status.success(), "{}", text(&out));
    let third = serial_of(&w.cert());
    assert_ne!(third, second);
    assert_eq!(w.pebble.status(&second), "Revoked");
    assert_eq!(w.pebble.status(&third), "Valid");
    assert!(wait_until(Duration::from_secs(10), || served(
        w.site.port,
        Some("smtp"),
        &root,
        dir
    )
    .2 == third));
    let (verified, _, _) = served(w.site.port, Some("smtp"), &root, dir);
    assert!(verified);
    assert!(serve.try_wait().unwrap().is_none(), "serve stopped");
    assert!(read_log().contains("event=tls_reloaded"));
    // The key is the daemon's secret; the account key the CA knows us by too.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&w.key()), 0o600);
    let accounts: Vec<PathBuf> = std::fs::read_dir(w.site.spool().join("acme"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(accounts.len(), 1, "{accounts:?}");
    assert_eq!(mode(&accounts[0]), 0o600);
    let _ = serve.kill();
    let _ = serve.wait();
}

/// HTTP-01 by a webroot an existing web server serves (Python's `http.server` on the port Pebble
/// validates): the token file is there during validation and gone afterwards.
#[test]
fn http01_through_a_webroot() {
    let w = World::new(&[]);
    let webroot = w.site.root().join("www");
    std::fs::create_dir_all(&webroot).unwrap();
    w.configure(&format!("webroot = \"{}\"\n", webroot.display()));
    let _web = Proc(
        Command::new("/usr/bin/python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1"])
            .arg(w.pebble.http_port.to_string())
            .arg("--directory")
            .arg(&webroot)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(w.site.root().join("web.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    assert!(wait_for_port(
        ([127, 0, 0, 1], w.pebble.http_port).into(),
        Duration::from_secs(20)
    ));
    let out = w.acme(&[]);
    assert!(out.status.success(), "{}\n{}", text(&out), w.pebble.log());
    assert!(text(&out).contains("obtained a certificate for mx.example.test"));
    assert!(x509(&w.cert(), &["-issuer"]).contains("Pebble Intermediate CA"));
    // Pebble fetched the token over HTTP from the web server.
    let web_log = std::fs::read_to_string(w.site.root().join("web.log")).unwrap();
    assert!(
        web_log.contains("GET /.well-known/acme-challenge/") && web_log.contains(" 200 "),
        "{web_log}"
    );
    let left: Vec<_> = std::fs::read_dir(webroot.join(".well-known/acme-challenge"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "token files left: {left:?}");
    // The chain verifies against Pebble's root for the host name.
    let root = w.pebble.issuing_root();
    let out = Command::new("openssl")
        .args(["verify", "-verify_hostname", HOST, "-CAfile"])
        .arg(&root)
        .arg("-untrusted")
        .arg(w.cert())
        .arg(w.cert())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

/// TLS-ALPN-01 (RFC 8737) on its own listener, with an RSA 2048 key.
#[test]
fn tls_alpn01_with_an_rsa_key() {
    let w = World::new(&[]);
    w.configure("challenge = \"tls-alpn-01\"\nkey_type = \"rsa2048\"\n");
    let out = w.acme(&[]);
    assert!(out.status.success(), "{}\n{}", text(&out), w.pebble.log());
    assert!(text(&out).contains("event=acme_challenge_request challenge=tls-alpn-01"));
    assert!(x509(&w.cert(), &["-issuer"]).contains("Pebble Intermediate CA"));
    assert!(x509(&w.cert(), &["-ext", "subjectAltName"]).contains("DNS:mx.example.test"));
    let key = Command::new("openssl")
        .args(["pkey", "-noout", "-text", "-in"])
        .arg(w.key())
        .output()
        .unwrap();
    assert!(
        text(&key).contains("Private-Key: (2048 bit"),
        "{}",
        text(&key)
    );
    // Nothing listens on the validation port afterwards.
    assert!(std::net::TcpStream::connect(("127.0.0.1", w.pebble.tls_port)).is_err());
}

/// Failures keep the served certificate and say why: the challenge unreachable (a webroot
/// nobody serves), every nonce refused, the directory down; `serve` retries with back-off and
/// warns about a certificate about to expire.
#[test]
fn failures_keep_the_old_certificate() {
    let mut w = World::new(&[]);
    w.configure("");
    // The certificate served is a placeholder, not one from the CA: the account then holds no
    // valid authorization that pebble could hand out again, skipping the challenge (it does so
    // for one order in a hundred even with PEBBLE_AUTHZREUSE=0: `rand.Intn(100) > percent`).
    w.placeholder(30);
    let good = std::fs::read(w.cert()).unwrap();
    let good_key = std::fs::read(w.key()).unwrap();
    let (cert, key) = (w.cert(), w.key());
    let unchanged = |what: &str| {
        assert_eq!(std::fs::read(&cert).unwrap(), good, "{what}: cert changed");
        assert_eq!(
            std::fs::read(&key).unwrap(),
            good_key,
            "{what}: key changed"
        );
    };

    // Challenge unreachable: token files in a webroot no web server serves.
    let webroot = w.site.root().join("www");
    w.configure(&format!("webroot = \"{}\"\n", webroot.display()));
    let out = w.acme(&["--force"]);
    assert_eq!(
        out.status.code(),
        Some(75),
        "{}\n{}",
        text(&out),
        w.pebble.log()
    );
    let said = text(&out);
    assert!(said.contains("validation failed"), "{said}");
    assert!(said.contains("mx.example.test"), "{said}");
    assert!(said.contains("the served certificate is kept"), "{said}");
    unchanged("challenge unreachable");

    // The built-in responder on another port than the one the CA checks.
    w.configure_http(free_port("127.0.0.1"), "");
    let out = w.acme(&["--force"]);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    assert!(text(&out).contains("validation failed"), "{}", text(&out));
    unchanged("responder elsewhere");

    // Every nonce refused (badNonce on each request).
    w.configure("");
    w.pebble.restart(&[("PEBBLE_WFE_NONCEREJECT", "100")]);
    let out = w.acme(&["--force"]);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    assert!(text(&out).contains("badNonce"), "{}", text(&out));
    unchanged("nonces refused");

    // Directory down.
    w.pebble.stop();
    let out = w.acme(&["--force"]);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    assert!(
        text(&out).contains("ACME directory https://127.0.0.1:"),
        "{}",
        text(&out)
    );
    unchanged("directory down");

    // serve with a placeholder about to expire and the directory down: it keeps serving it,
    // retries in 5 minutes, and warns.
    w.placeholder(3);
    let placeholder = std::fs::read(w.cert()).unwrap();
    let (mut serve, log) = w.serve();
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        wait_until(Duration::from_secs(30), || read_log()
            .contains("event=acme_expiry_warning")),
        "{}",
        read_log()
    );
    let l = read_log();
    assert!(l.contains("event=acme_failed"), "{l}");
    assert!(l.contains("retry_in=5m"), "{l}");
    assert!(l.contains("days_left=2"), "{l}");
    assert_eq!(std::fs::read(w.cert()).unwrap(), placeholder);
    assert!(serve.try_wait().unwrap().is_none(), "serve stopped");
    assert!(wait_for_port(w.site.addr(), Duration::from_secs(5)));
    let _ = serve.kill();
    let _ = serve.wait();
}

/// Two hosts sharing the spool (two processes with their own `[cluster] node`) run `cert acme`
/// at once: one obtains the certificate, the other finds its renewal claim
/// (`<spool>/claims/acme`) and leaves it; a third run afterwards finds the renewed files good.
#[test]
fn one_host_renews_at_a_time() {
    let w = World::new(&[]);
    let webroot = w.site.root().join("www");
    std::fs::create_dir_all(&webroot).unwrap();
    w.configure(&format!("webroot = \"{}\"\n", webroot.display()));
    let _web = Proc(
        Command::new("/usr/bin/python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1"])
            .arg(w.pebble.http_port.to_string())
            .arg("--directory")
            .arg(&webroot)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(wait_for_port(
        ([127, 0, 0, 1], w.pebble.http_port).into(),
        Duration::from_secs(20)
    ));
    let runs: Vec<_> = (1..=2)
        .map(|node| {
            let host = w.site.root().join(format!("host{node}.toml"));
            std::fs::write(&host, format!("[cluster]\nnode = {node}\n")).unwrap();
            Command::new(common::bin())
                .arg("--config")
                .arg(w.site.config())
                .args(["cert", "acme"])
                .env("POSTERN_HOST_CONFIG", &host)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<String> = runs
        .into_iter()
        .map(|r| {
            let out = r.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", text(&out));
            text(&out)
        })
        .collect();
    let obtained = outs
        .iter()
        .filter(|o| o.contains("obtained a certificate for mx.example.test"))
        .count();
    assert_eq!(obtained, 1, "{outs:#?}\n{}", w.pebble.log());
    assert!(
        outs.iter()
            .any(|o| o.contains("the certificate is being renewed by process")),
        "{outs:#?}"
    );
    assert!(x509(&w.cert(), &["-issuer"]).contains("Pebble Intermediate CA"));
    // The claim is gone; the next look finds the renewed files good.
    assert!(!w.site.root().join("spool/claims/acme").exists());
    let out = w.acme(&[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("not renewed"), "{}", text(&out));
}
