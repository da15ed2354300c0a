//! imapd in each hosting mode, through the real superservers: inetd (socat EXEC, STARTTLS
//! listener), systemd `Accept=no` and `Accept=yes` (`systemd-socket-activate`, the implicit-TLS
//! listener `imaps`), and a plain pipe on stdin/stdout. IDLE works in inetd mode too.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::{bin, have, python, wait_for_port, Demo};

/// A loopback port nothing listens on right now (the kernel's choice).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// A superserver process, killed when dropped; its stderr (and imapd's) in `log`.
struct Host {
    child: Child,
    log: std::path::PathBuf,
}

impl Host {
    fn start(program: &str, args: &[String], port: u16, log: &Path) -> Host {
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).expect("log"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        let host = Host {
            child,
            log: log.to_path_buf(),
        };
        assert!(
            wait_for_port(([127, 0, 0, 1], port).into(), Duration::from_secs(20)),
            "{program} did not listen: {}",
            host.log()
        );
        host
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Three messages straight into the demo user's maildir.
fn fill(maildir: &Path) {
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).expect("maildir");
    }
    for i in 0..3 {
        std::fs::write(
            maildir.join(format!("new/1700000000.hosted{i}.host")),
            format!("Subject: hosted {i}\nFrom: a@example.org\n\nbody {i}\n"),
        )
        .expect("message");
    }
}

const CLIENTS: &str = r#"
import imaplib, smtplib, ssl, sys, time
inetd, systemd, accept, smtp, pw, cafile = sys.argv[1:7]
ctx = ssl.create_default_context(cafile=cafile); ctx.check_hostname = False
def check(M, mode):
    assert M.login('demo', pw)[0] == 'OK', mode
    typ, data = M.select('INBOX'); assert data == [b'3'], (mode, data)
    typ, data = M.fetch('2', '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
    assert b'Subject: hosted 1' in data[0][1], (mode, data)
    print(mode, 'ok')

# inetd (socat), the STARTTLS listener: plaintext first, LOGIN only after STARTTLS.
M = imaplib.IMAP4('127.0.0.1', int(inetd), timeout=20)
assert 'STARTTLS' in M.capabilities and 'LOGINDISABLED' in M.capabilities, M.capabilities
M.starttls(ctx)
check(M, 'inetd')
# IDLE in a process of its own: a delivery through the demo's smtpd shows up at once.
M.send(b'I1 IDLE\r\n'); assert M.readline().startswith(b'+')
s = smtplib.SMTP('127.0.0.1', int(smtp)); s.sendmail('a@example.org', ['demo@example.test'],
    b'Subject: idle under inetd\r\n\r\nhi\r\n'); s.quit()
sent = time.time(); M.sock.settimeout(20)
line = M.readline(); delay = time.time() - sent
assert line == b'* 4 EXISTS\r\n', line
assert delay < 1.0, f'IDLE under inetd took {delay:.3f}s'
assert M.readline() == b'* 4 RECENT\r\n'
M.send(b'DONE\r\n')
assert M.readline().startswith(b'I1 OK'), 'DONE'
M.store('4', '+FLAGS.SILENT', r'(\Deleted)'); M.expunge()
M.logout()

# systemd Accept=no (one long-running imapd on the passed socket), implicit TLS: twice.
for i in range(2):
    M = imaplib.IMAP4_SSL('127.0.0.1', int(systemd), ssl_context=ctx, timeout=20)
    check(M, f'systemd {i}')
    M.logout()
# systemd Accept=yes (the connection is stdin/stdout), implicit TLS.
M = imaplib.IMAP4_SSL('127.0.0.1', int(accept), ssl_context=ctx, timeout=20)
assert 'AUTH=PLAIN' in M.capabilities and 'STARTTLS' not in M.capabilities, M.capabilities
check(M, 'accept')
M.logout()
"#;

#[test]
fn hosted_by_inetd_and_by_systemd_sockets_with_implicit_tls() {
    assert!(
        have("socat") && have("systemd-socket-activate"),
        "socat and systemd-socket-activate are needed (bin/install-test-deps)"
    );
    let demo = Demo::start();
    fill(&demo.maildir("demo"));
    let postern = format!("{} --config {}", bin().display(), demo.config().display());
    let (inetd, systemd, accept) = (free_port(), free_port(), free_port());
    let logs = demo.dir.path();
    let socat = Host::start(
        "socat",
        &[
            format!("TCP-LISTEN:{inetd},bind=127.0.0.1,reuseaddr,fork"),
            format!("EXEC:{postern} imapd --inetd --listener imap"),
        ],
        inetd,
        &logs.join("socat.log"),
    );
    let config = demo.config().display().to_string();
    let postern_args = |extra: &[&str]| -> Vec<String> {
        let mut v = vec![
            "--".to_string(),
            bin().display().to_string(),
            "--config".into(),
            config.clone(),
            "imapd".into(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let mut args = vec!["-l".to_string(), format!("127.0.0.1:{systemd}")];
    args.extend(postern_args(&["--listener", "imaps"]));
    let activate = Host::start(
        "systemd-socket-activate",
        &args,
        systemd,
        &logs.join("activate.log"),
    );
    let mut args = vec![
        "-l".to_string(),
        format!("127.0.0.1:{accept}"),
        "-a".into(),
        "--inetd".into(),
    ];
    args.extend(postern_args(&["--inetd", "--listener", "imaps"]));
    let accept_host = Host::start(
        "systemd-socket-activate",
        &args,
        accept,
        &logs.join("accept.log"),
    );
    let cert = demo.root().join("cert.pem");
    let out = python(
        CLIENTS,
        &[
            &inetd.to_string(),
            &systemd.to_string(),
            &accept.to_string(),
            &demo.port(2525).to_string(),
            &demo.password(),
            cert.to_str().expect("utf-8 path"),
        ],
    );
    assert_eq!(
        out,
        "inetd ok\nsystemd 0 ok\nsystemd 1 ok\naccept ok\n",
        "socat:\n{}\nactivate:\n{}\naccept:\n{}",
        socat.log(),
        activate.log(),
        accept_host.log()
    );
    // Accept=no: one process served both connections on the socket it was handed.
    let log = activate.log();
    assert_eq!(log.matches("event=listening").count(), 1, "{log}");
    assert_eq!(log.matches("event=login ").count(), 2, "{log}");
    assert!(
        !socat.log().contains("idle_watch_failed"),
        "{}",
        socat.log()
    );
}

#[test]
fn inetd_on_a_pipe() {
    let demo = Demo::start();
    let mut child = Command::new(bin())
        .arg("--config")
        .arg(demo.config())
        .args(["imapd", "--inetd"])
        .env("TCPREMOTEIP", "192.0.2.9")
        .env("TCPREMOTEPORT", "4343")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("imapd --inetd");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"a CAPABILITY\r\nb LOGIN demo x\r\nc LOGOUT\r\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    let text = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}\n{log}");
    assert!(text.starts_with("* OK [CAPABILITY IMAP4rev1 "), "{text}");
    // No TLS on a pipe: plaintext logins are refused and say so.
    assert!(text.contains(" LOGINDISABLED"), "{text}");
    assert!(text.contains("b NO [PRIVACYREQUIRED]"), "{text}");
    assert!(
        text.ends_with("* BYE postern logging out\r\nc OK LOGOUT completed\r\n"),
        "{text}"
    );
    assert!(log.contains("peer=192.0.2.9:4343"), "{log}");
}
