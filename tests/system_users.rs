//! System accounts as mail users (`[users] source = "both"`, PAM), with real clients: accounts
//! made with `useradd`/`chpasswd`/`usermod -L` in a private copy of /etc (a mount namespace; the
//! host's /etc is never touched), the daemons started inside it, logins with Python's imaplib and
//! poplib (STARTTLS), swaks (AUTH PLAIN and LOGIN over STARTTLS) and curl; mail to a system user
//! lands in `~/Maildir`, made with the user's ownership, and is read back over IMAP. And SASL
//! NTLM of system users through a standalone Samba: smbd's password database (tdbsam) and
//! winbindd started by the test in the same namespace, verified by `ntlm_auth`'s squid-2.5-ntlmssp
//! helper protocol, with curl and Python's ntlm-auth as clients.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
mod ntlm_support;
mod system_support;

use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use common::*;
use system_support::PrivateEtc;

/// Logs in over IMAP (STARTTLS, LOGIN) and POP3 (STLS, USER/PASS): prints `imap ok|fail SECONDS`
/// and `pop3 ok|fail SECONDS`; with a third argument, also the INBOX subjects over IMAP.
const LOGIN: &str = r#"
import imaplib, poplib, ssl, sys, time, email
host, imap_port, pop3_port, cafile, user, pw = sys.argv[1:7]
ctx = ssl.create_default_context(cafile=cafile)
t = time.monotonic()
try:
    m = imaplib.IMAP4(host, int(imap_port)); m.starttls(ssl_context=ctx); m.login(user, pw)
    if len(sys.argv) > 7:
        m.select("INBOX")
        typ, data = m.search(None, "ALL")
        for num in data[0].split():
            typ, msg = m.fetch(num, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            print("subject", email.message_from_bytes(msg[0][1])["Subject"])
    m.logout(); print("imap ok %.2f" % (time.monotonic() - t))
except imaplib.IMAP4.error as e:
    print("imap fail %.2f %s" % (time.monotonic() - t, e))
t = time.monotonic()
try:
    p = poplib.POP3(host, int(pop3_port)); p.stls(context=ctx); p.user(user); p.pass_(pw)
    p.quit(); print("pop3 ok %.2f" % (time.monotonic() - t))
except poplib.error_proto as e:
    print("pop3 fail %.2f %s" % (time.monotonic() - t, e))
"#;

/// smtplib's CRAM-MD5 (after STARTTLS; it prefers CRAM-MD5 when offered) and poplib's APOP for
/// alice with the second-chance secret, then APOP with the PAM password: `cram CODE`,
/// `apop ok|fail`, `apop-pam ok|fail`.
const CRAM_APOP: &str = r#"
import smtplib, poplib, ssl, sys
sub, pop3, cafile = sys.argv[1:4]
ctx = ssl.create_default_context(cafile=cafile)
s = smtplib.SMTP("127.0.0.1", int(sub), timeout=20); s.starttls(context=ctx); s.ehlo("c.test")
assert "CRAM-MD5" in s.esmtp_features.get("auth", ""), s.esmtp_features
s.user, s.password = "alice", "Second-1"
code, _ = s.auth("CRAM-MD5", s.auth_cram_md5)
print("cram", code); s.quit()
for label, pw in [("apop", "Second-1"), ("apop-pam", "Alice-pw-2")]:
    p = poplib.POP3("127.0.0.1", int(pop3))
    try:
        p.apop("alice", pw); print(label, "ok")
    except poplib.error_proto as e:
        print(label, "fail", e)
    p.quit()
"#;

struct Site {
    demo: Demo,
    etc: PrivateEtc,
}

impl Site {
    fn start(users: &str) -> Site {
        assert!(have("swaks") && have("curl") && have("nsenter") && have("useradd"));
        let mut demo = Demo::start();
        let _ = demo.child.kill();
        let _ = demo.child.wait();
        let etc = PrivateEtc::new();
        std::fs::copy(
            concat!(env!("CARGO_MANIFEST_DIR"), "/dist/pam.d/postern"),
            etc.etc().join("pam.d/postern"),
        )
        .unwrap();
        let mut config = std::fs::read_to_string(demo.config()).unwrap();
        config.push_str(users);
        config.push_str("\n[auth]\naddress_failures = 0\nuser_failures = 0\n");
        std::fs::write(demo.config(), config).unwrap();
        // The demo directory is 0700 and root's: fine, postern runs as root here.
        let log = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(demo.dir.path().join("server.log"))
            .unwrap();
        demo.child = etc
            .command(&bin())
            .args(["serve", "--demo"])
            .arg(demo.root())
            .args(["--port-offset", &demo.offset.to_string()])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let imap = demo.addr(2143);
        assert!(
            wait_for_child_port(&mut demo.child, imap),
            "server did not start: {}",
            demo.log()
        );
        Site { demo, etc }
    }

    fn login(&self, user: &str, pw: &str, list: bool) -> String {
        let cert = self.demo.root().join("cert.pem").display().to_string();
        let imap = self.demo.port(2143).to_string();
        let pop3 = self.demo.port(2110).to_string();
        let mut args = vec!["127.0.0.1", &imap, &pop3, &cert, user, pw];
        if list {
            args.push("list");
        }
        python(LOGIN, &args)
    }

    fn swaks_auth(&self, user: &str, pw: &str, method: &str) -> Output {
        run(
            "swaks",
            &[
                "--server",
                "127.0.0.1",
                "--port",
                &self.demo.port(2587).to_string(),
                "--tls",
                "--tls-verify",
                "--tls-ca-path",
                &self.demo.root().join("cert.pem").display().to_string(),
                "--auth",
                method,
                "--auth-user",
                user,
                "--auth-password",
                pw,
                "--from",
                &format!("{user}@example.test"),
                "--to",
                "demo@example.test",
                "--quit-after",
                "AUTH",
            ],
        )
    }
}

use std::process::Output;

fn seconds(line: &str) -> f64 {
    line.split_whitespace()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn system_accounts_log_in_through_pam_and_get_mail_in_their_home_maildir() {
    let site = Site::start(
        "\n[users]\nsource = \"both\"\n[users.system]\ngroup = \"mailers\"\nmin_uid = 2000\nmaildir = \"home\"\npam_timeout = \"5s\"\n",
    );
    let etc = &site.etc;
    etc.ok("groupadd", &["-g", "2500", "mailers"], None);
    etc.add_account("alice", 2001, Some("mailers"), "Alice-pw-1");
    etc.add_account("bob", 2002, Some("mailers"), "Bob-pw-1");
    etc.add_account("carol", 2003, None, "Carol-pw-1");
    etc.add_account("lowuid", 1500, Some("mailers"), "Low-pw-1");
    etc.ok("chpasswd", &[], Some("root:Root-pw-1\n"));
    etc.ok("usermod", &["-a", "-G", "mailers", "root"], None);
    etc.ok("usermod", &["-L", "bob"], None);
    // An expired account (chage -E 0): the password is right, PAM refuses the account.
    etc.add_account("dave", 2004, Some("mailers"), "Dave-pw-1");
    etc.ok("chage", &["-E", "0", "dave"], None);
    // The host's passwd file knows none of them.
    let host = std::fs::read_to_string("/etc/passwd").unwrap();
    assert!(
        !host.contains("alice:x:2001"),
        "the host's /etc/passwd was changed"
    );

    // alice, a member of the group: IMAP and POP3 (STARTTLS), SMTP AUTH PLAIN and LOGIN.
    let out = site.login("alice", "Alice-pw-1", false);
    assert!(
        out.contains("imap ok") && out.contains("pop3 ok"),
        "{out}\n{}",
        site.demo.log()
    );
    for method in ["PLAIN", "LOGIN"] {
        let out = site.swaks_auth("alice", "Alice-pw-1", method);
        assert!(text(&out).contains("235 "), "{method}: {}", text(&out));
    }
    // The full address logs in too.
    let out = site.login("alice@example.test", "Alice-pw-1", false);
    assert!(out.contains("imap ok"), "{out}");
    // curl, IMAP over STARTTLS (AUTH=PLAIN: the demo's file user has a shared secret, so
    // CRAM-MD5 is offered too, which curl would prefer and alice cannot use).
    let curl = run(
        "curl",
        &[
            "-sS",
            "--login-options",
            "AUTH=PLAIN",
            "--ssl-reqd",
            "--cacert",
            &site.demo.root().join("cert.pem").display().to_string(),
            "--user",
            "alice:Alice-pw-1",
            &format!("imap://127.0.0.1:{}/", site.demo.port(2143)),
        ],
    );
    assert!(text(&curl).contains("INBOX"), "curl: {}", text(&curl));

    // Everyone else fails, with the usual delay (1 s for the first failure).
    for (who, user, pw) in [
        ("a wrong password", "alice", "wrong"),
        ("a locked account", "bob", "Bob-pw-1"),
        ("an expired account", "dave", "Dave-pw-1"),
        ("not in the group", "carol", "Carol-pw-1"),
        ("below min_uid", "lowuid", "Low-pw-1"),
        ("uid 0", "root", "Root-pw-1"),
        ("an unknown user", "nobody-here", "x"),
    ] {
        let out = site.login(user, pw, false);
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines.iter().any(|l| l.starts_with("imap fail")),
            "{who}: {out}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with("pop3 fail")),
            "{who}: {out}"
        );
        for l in lines.iter().filter(|l| l.contains(" fail ")) {
            assert!(seconds(l) >= 0.9, "{who}: no failure delay: {l}");
        }
        let out = site.swaks_auth(user, pw, "PLAIN");
        assert!(text(&out).contains("535 "), "{who}: {}", text(&out));
    }
    assert!(
        site.demo.log().contains("pam_failed"),
        "{}",
        site.demo.log()
    );
    assert!(
        site.demo.log().contains("event=pam_failed user=dave"),
        "{}",
        site.demo.log()
    );

    // A password changed with chpasswd works at the next login, without a restart.
    etc.ok("chpasswd", &[], Some("alice:Alice-pw-2\n"));
    let out = site.login("alice", "Alice-pw-2", false);
    assert!(out.contains("imap ok") && out.contains("pop3 ok"), "{out}");
    let out = site.login("alice", "Alice-pw-1", false);
    assert!(out.contains("imap fail"), "{out}");

    // CRAM-MD5 and APOP: PAM's password cannot answer a challenge; the second-chance secret
    // stored in alice's extras entry can (seed "Understanding WinGate mail security").
    let out = site.demo.postern(&["user", "add", "--system", "alice"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(site.demo.postern_stdin_ok(
        &[
            "user",
            "passwd",
            "alice",
            "--system",
            "--shared-secret",
            "--password-stdin"
        ],
        "Second-1\n",
    ));
    let cram = python(
        CRAM_APOP,
        &[
            &site.demo.port(2587).to_string(),
            &site.demo.port(2110).to_string(),
            &site.demo.root().join("cert.pem").display().to_string(),
        ],
    );
    assert!(cram.contains("cram 235"), "{cram}\n{}", site.demo.log());
    assert!(
        cram.contains("apop ok") && cram.contains("apop-pam fail"),
        "{cram}"
    );
    // PLAIN still takes the PAM password, not the secret.
    let out = site.login("alice", "Alice-pw-2", false);
    assert!(out.contains("imap ok"), "{out}");

    // Mail to alice lands in ~alice/Maildir, made as hers, and is read over IMAP.
    let swaks = run(
        "swaks",
        &[
            "--server",
            "127.0.0.1",
            "--port",
            &site.demo.port(2525).to_string(),
            "--from",
            "someone@elsewhere.test",
            "--to",
            "alice@example.test",
            "--header",
            "Subject: for a system user",
        ],
    );
    assert!(text(&swaks).contains("250 "), "{}", text(&swaks));
    let maildir = etc.home("alice").join("Maildir");
    let files = wait_for_mail(&maildir, 1, Duration::from_secs(10));
    assert_eq!(files.len(), 1, "{}", site.demo.log());
    let meta = std::fs::metadata(&maildir).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (2001, 2001), "maildir owner");
    assert!(!site.demo.maildir("alice").exists(), "not on the volume");
    let out = site.login("alice", "Alice-pw-2", true);
    assert!(out.contains("subject for a system user"), "{out}");
    // Mail to a non-member is refused at RCPT.
    let swaks = run(
        "swaks",
        &[
            "--server",
            "127.0.0.1",
            "--port",
            &site.demo.port(2525).to_string(),
            "--from",
            "someone@elsewhere.test",
            "--to",
            "carol@example.test",
        ],
    );
    assert!(text(&swaks).contains("550 "), "{}", text(&swaks));
    // The file user of the demo still logs in (source = "both").
    let start = Instant::now();
    let out = site.login("demo", &site.demo.password(), false);
    assert!(out.contains("imap ok") && out.contains("pop3 ok"), "{out}");
    assert!(start.elapsed() < Duration::from_secs(20));
}

/// A private smb.conf: a standalone server whose SAM (tdbsam) and every directory live under
/// `dir`; only loopback.
fn smb_conf(dir: &std::path::Path) -> String {
    let d = dir.display();
    format!(
        "[global]\n  workgroup = POSTERNTEST\n  netbios name = POSTERNTEST\n  security = user\n\
         \x20 server role = standalone server\n  passdb backend = tdbsam:{d}/private/passdb.tdb\n\
         \x20 private dir = {d}/private\n  lock directory = {d}/lock\n  state directory = {d}/state\n\
         \x20 cache directory = {d}/cache\n  pid directory = {d}/pid\n  ncalrpc dir = {d}/ncalrpc\n\
         \x20 log file = {d}/log.%m\n  interfaces = lo\n  bind interfaces only = yes\n\
         \x20 disable netbios = yes\n  smb ports = 1445\n  ntlm auth = ntlmv2-only\n"
    )
}

#[test]
fn ntlm_of_system_users_through_samba_winbind() {
    assert!(
        have("winbindd") && have("smbpasswd") && have("ntlm_auth") && have("wbinfo"),
        "samba, winbind and samba-common-bin are not installed (bin/install-test-deps)"
    );
    let site = Site::start(
        "\n[users]\nsource = \"system\"\n[users.system]\nmin_uid = 2000\nntlm_auth = \"/usr/bin/ntlm_auth\"\n\
         [auth.smtp]\nntlm = \"tls\"\n[auth.pop3]\nntlm = \"tls\"\n[auth.imap]\nntlm = \"tls\"\n",
    );
    let etc = &site.etc;
    let samba = etc.dir.path().join("samba");
    for sub in ["private", "lock", "state", "cache", "pid", "ncalrpc"] {
        std::fs::create_dir_all(samba.join(sub)).unwrap();
    }
    std::fs::write(etc.etc().join("samba/smb.conf"), smb_conf(&samba)).unwrap();
    // The Unix password and Samba's differ: NTLM must be checked by Samba.
    etc.add_account("alice", 2001, None, "Unix-pw-1");
    etc.add_account("lowuid", 1500, None, "Unix-pw-2");
    for (user, pw) in [("alice", "Samba-pw-1"), ("lowuid", "Samba-pw-2")] {
        etc.ok(
            "smbpasswd",
            &["-s", "-a", user],
            Some(&format!("{pw}\n{pw}\n")),
        );
    }
    // Killed when the test ends, passed or failed.
    let mut winbindd = KillOnDrop(
        etc.command(std::path::Path::new("winbindd"))
            .args(["-F", "--no-process-group", "--debug-stdout", "-d", "1"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let start = Instant::now();
    while !etc.run("wbinfo", &["-p"], None).status.success() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "winbindd did not answer"
        );
        assert!(winbindd.0.try_wait().unwrap().is_none(), "winbindd exited");
        std::thread::sleep(Duration::from_millis(200));
    }
    // ntlm_auth itself checks alice's Samba password (the helper postern runs needs this).
    etc.ok(
        "ntlm_auth",
        &[
            "--domain=POSTERNTEST",
            "--username=alice",
            "--password=Samba-pw-1",
        ],
        None,
    );

    // source = "system": no SCRAM (its verifiers live only in the users file); NTLM is offered
    // (ntlm_auth is configured), after TLS as configured.
    let ehlo = |tls: bool| {
        let port = site.demo.port(2587).to_string();
        let mut args = vec![
            "--server",
            "127.0.0.1",
            "--port",
            &port,
            "--quit-after",
            "EHLO",
        ];
        if tls {
            args.push("--tls");
        }
        let out = run("swaks", &args);
        let auth = text(&out)
            .lines()
            .find(|l| l.contains("250-AUTH") || l.contains("250 AUTH"))
            .unwrap_or("")
            .to_string();
        auth
    };
    let plain_ehlo = ehlo(false);
    assert!(
        !plain_ehlo.contains("NTLM") && !plain_ehlo.contains("SCRAM"),
        "{plain_ehlo}"
    );
    let tls_ehlo = ehlo(true);
    assert!(
        tls_ehlo.contains("NTLM") && tls_ehlo.contains("PLAIN"),
        "{tls_ehlo}"
    );
    assert!(!tls_ehlo.contains("SCRAM"), "{tls_ehlo}");

    let imap = format!("imap://127.0.0.1:{}/", site.demo.port(2143));
    let pop3 = format!("pop3://127.0.0.1:{}/", site.demo.port(2110));
    let smtp = format!("smtp://127.0.0.1:{}", site.demo.port(2587));
    let mail = site.demo.root().join("msg.eml");
    std::fs::write(&mail, "Subject: NTLM through Samba\r\n\r\nhi\r\n").unwrap();
    let mail = mail.display().to_string();
    let send = [
        "--mail-from",
        "alice@example.test",
        "--mail-rcpt",
        "alice@example.test",
        "-T",
        &mail,
    ];
    for (url, extra) in [(&imap, &[][..]), (&pop3, &[][..]), (&smtp, &send[..])] {
        let out = ntlm_support::curl_ntlm(&site.demo, url, "alice", "Samba-pw-1", extra);
        assert!(
            out.status.success(),
            "{url}: {}\n{}",
            text(&out),
            site.demo.log()
        );
        let out = ntlm_support::curl_ntlm(&site.demo, url, "alice", "Unix-pw-1", extra);
        assert!(
            !out.status.success(),
            "{url} with the Unix password: {}",
            text(&out)
        );
    }
    let out = ntlm_support::python_ntlm(&site.demo, "alice", "Samba-pw-1");
    assert!(
        out.contains("imap ok True") && out.contains("pop3 ok"),
        "{out}\n{}",
        site.demo.log()
    );
    let out = ntlm_support::python_ntlm(&site.demo, "alice", "wrong");
    assert!(
        out.contains("imap fail") && out.contains("pop3 fail"),
        "{out}"
    );
    // Samba knows lowuid, but it is not a mail user here (below min_uid).
    let out = ntlm_support::python_ntlm(&site.demo, "lowuid", "Samba-pw-2");
    assert!(
        out.contains("imap fail") && out.contains("pop3 fail"),
        "{out}"
    );
    assert!(
        site.demo.log().contains("ntlm_auth_not_a_mail_user"),
        "{}",
        site.demo.log()
    );
    // Plaintext logins of the same system user still go through PAM.
    let out = site.login("alice", "Unix-pw-1", false);
    assert!(out.contains("imap ok") && out.contains("pop3 ok"), "{out}");
}

/// A child process killed (and reaped) when dropped.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A PAM module that hangs (pam_exec of `sleep 20`) is a failed login after `pam_timeout` plus
/// the failure delay, logged as `pam_timeout`; the server keeps serving everyone else.
#[test]
fn a_hung_pam_module_is_a_failed_login() {
    let site = Site::start(
        "\n[users]\nsource = \"both\"\n[users.system]\npam_service = \"postern-hang\"\nmin_uid = 2000\npam_timeout = \"2s\"\n",
    );
    std::fs::write(
        site.etc.etc().join("pam.d/postern-hang"),
        "auth required pam_exec.so /bin/sleep 20\naccount required pam_permit.so\n",
    )
    .unwrap();
    site.etc.add_account("alice", 2001, None, "Alice-pw-1");
    let out = site.login("alice", "Alice-pw-1", false);
    let imap = out.lines().find(|l| l.starts_with("imap ")).unwrap_or("");
    assert!(imap.starts_with("imap fail"), "{out}");
    assert!(seconds(imap) >= 2.9, "timeout and delay: {imap}");
    assert!(seconds(imap) < 15.0, "not bounded by pam_timeout: {imap}");
    assert!(
        site.demo.log().contains("pam_timeout"),
        "{}",
        site.demo.log()
    );
    // The file user logs in meanwhile.
    let out = site.login("demo", &site.demo.password(), false);
    assert!(out.contains("imap ok") && out.contains("pop3 ok"), "{out}");
}
