//! The hosting modes of SPEC §1, each through the real thing that hosts it and the shipped
//! example that configures it: inetd (socat running the `examples/inetd.conf` line), systemd
//! `Accept=no` and `Accept=yes` (`systemd-socket-activate` running the `examples/systemd` units'
//! ExecStart), standalone `--listen`, and a pipe with `TCPREMOTEIP`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::site::Site;
use common::*;

const INSTALLED: &str = "/usr/local/bin/postern";

fn example(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(rel)
}

/// The values of `key=` lines in a systemd unit.
fn unit_values(rel: &str, key: &str) -> Vec<String> {
    let text = std::fs::read_to_string(example(rel)).expect("read unit");
    text.lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix(&format!("{key}="))
                .map(str::to_string)
        })
        .collect()
}

/// A unit's ExecStart as argv, with the installed path replaced by the binary under test.
fn exec_start(rel: &str) -> Vec<String> {
    let line = unit_values(rel, "ExecStart").pop().expect("ExecStart");
    let line = line.trim_start_matches(['-', '@', '+', '!']);
    let mut argv: Vec<String> = line.split_whitespace().map(str::to_string).collect();
    assert_eq!(argv[0], INSTALLED, "{rel}: ExecStart runs {INSTALLED}");
    argv[0] = bin().to_string_lossy().into_owned();
    argv
}

/// A process killed when dropped (with its log).
struct Host {
    child: Child,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn host(program: &str, args: &[String], site: &Site) -> Host {
    let child = Command::new(program)
        .args(args)
        .env("POSTERN_CONFIG", site.config())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(site.root().join("host.log")).expect("log"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        wait_for_port(site.addr(), Duration::from_secs(20)),
        "{program} did not listen: {}",
        std::fs::read_to_string(site.root().join("host.log")).unwrap_or_default()
    );
    Host { child }
}

/// Send `n` messages with swaks to `addr` and check they all reach demo's maildir.
fn swaks_delivers(site: &Site, addr: std::net::SocketAddr, n: usize) -> Vec<String> {
    for i in 0..n {
        let out = run(
            "swaks",
            &[
                "--server",
                &addr.ip().to_string(),
                "--port",
                &addr.port().to_string(),
                "--from",
                "alice@client.test",
                "--to",
                "demo@example.test",
                "--h-Subject",
                &format!("hosted {i}"),
            ],
        );
        assert!(
            out.status.success(),
            "{}\nhost log:\n{}",
            text(&out),
            std::fs::read_to_string(site.root().join("host.log")).unwrap_or_default()
        );
    }
    let files = wait_for_mail(&site.maildir("demo"), n, Duration::from_secs(15));
    assert_eq!(
        files.len(),
        n,
        "host log:\n{}",
        std::fs::read_to_string(site.root().join("host.log")).unwrap_or_default()
    );
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).expect("read"))
        .collect()
}

#[test]
fn inetd_line_through_socat() {
    let text = std::fs::read_to_string(example("inetd.conf")).expect("inetd.conf");
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .expect("a service line");
    let f: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        (f[0], f[1], f[2], f[3]),
        ("smtp", "stream", "tcp", "nowait"),
        "{line}"
    );
    assert_eq!(f[5], INSTALLED);
    // inetd passes f[6..] as argv (argv[0] first); socat's EXEC gives argv[0] itself.
    let command = format!("{} {}", bin().display(), f[7..].join(" "));
    let site = Site::new("");
    // Unlike inetd, socat sends the service SIGTERM as soon as the client hangs up; smtpd must
    // still make the immediate delivery attempt for what it accepted.
    let _h = host(
        "socat",
        &[
            format!("TCP-LISTEN:{},bind=127.0.0.1,reuseaddr,fork", site.port),
            format!("EXEC:{command}"),
        ],
        &site,
    );
    let msgs = swaks_delivers(&site, site.addr(), 2);
    // socat hands the peer over in SOCAT_PEERADDR; it reaches the Received header.
    assert!(msgs.iter().all(|m| m.contains("[127.0.0.1]")), "{msgs:?}");
}

#[test]
fn systemd_accept_no_through_systemd_socket_activate() {
    let socket = "systemd/postern-smtpd.socket";
    assert_eq!(unit_values(socket, "Accept"), ["no"]);
    assert_eq!(unit_values(socket, "ListenStream"), ["25"]);
    let service = "systemd/postern-smtpd.service";
    assert_eq!(
        unit_values(service, "Environment"),
        ["POSTERN_CONFIG=/etc/postern/postern.toml"]
    );
    let site = Site::new("");
    let mut args = vec![
        "-l".to_string(),
        site.addr().to_string(),
        "-E".into(),
        "POSTERN_CONFIG".into(),
    ];
    args.extend(exec_start(service));
    let _h = host("systemd-socket-activate", &args, &site);
    // One long-running process serves several connections on the passed socket.
    swaks_delivers(&site, site.addr(), 3);
    let log = std::fs::read_to_string(site.root().join("host.log")).unwrap_or_default();
    assert_eq!(log.matches("event=listening").count(), 1, "{log}");
}

#[test]
fn systemd_accept_yes_through_systemd_socket_activate() {
    let socket = "systemd/accept-yes/postern-smtpd.socket";
    assert_eq!(unit_values(socket, "Accept"), ["yes"]);
    let service = "systemd/accept-yes/postern-smtpd@.service";
    assert_eq!(unit_values(service, "StandardInput"), ["socket"]);
    let site = Site::new("");
    let mut args = vec![
        "--inetd".to_string(),
        "-a".into(),
        "-l".into(),
        site.addr().to_string(),
        "-E".into(),
        "POSTERN_CONFIG".into(),
    ];
    args.extend(exec_start(service));
    let _h = host("systemd-socket-activate", &args, &site);
    let msgs = swaks_delivers(&site, site.addr(), 2);
    // The peer address comes from the socket on stdin.
    assert!(msgs.iter().all(|m| m.contains("[127.0.0.1]")), "{msgs:?}");
}

#[test]
fn standalone_listen_on_two_addresses() {
    let site = Site::new("");
    let a = site.addr().to_string();
    let b = format!("127.0.0.2:{}", site.port);
    let _h = host(
        bin().to_str().expect("utf8"),
        &[
            "smtpd".into(),
            "--listen".into(),
            a,
            "--listen".into(),
            b.clone(),
        ],
        &site,
    );
    assert!(wait_for_port(
        b.parse().expect("addr"),
        Duration::from_secs(10)
    ));
    swaks_delivers(&site, b.parse().expect("addr"), 1);
}

#[test]
fn inetd_on_a_pipe_takes_the_peer_from_tcpremoteip() {
    let site = Site::new("");
    // argv[0] dispatch: a `postern-smtpd` link runs `postern smtpd`.
    let link = site.root().join("postern-smtpd");
    std::os::unix::fs::symlink(bin(), &link).expect("symlink");
    let mut child = Command::new(&link)
        .arg("--inetd")
        .env("POSTERN_CONFIG", site.config())
        .env("TCPREMOTEIP", "192.0.2.7")
        .env("TCPREMOTEPORT", "4242")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut input = child.stdin.take().expect("stdin");
    let mut output = BufReader::new(child.stdout.take().expect("stdout"));
    let mut replies = Vec::new();
    let read_reply = |out: &mut BufReader<_>| loop {
        let mut line = String::new();
        if out.read_line(&mut line).expect("read") == 0 {
            return "<EOF>".to_string();
        }
        if line.len() < 4 || line.as_bytes()[3] != b'-' {
            return line.trim_end().to_string();
        }
    };
    replies.push(read_reply(&mut output));
    for cmd in [
        "EHLO pipe.client.test\r\n",
        "MAIL FROM:<carol@client.test>\r\n",
        "RCPT TO:<someone@elsewhere.test>\r\n",
        "RCPT TO:<demo@example.test>\r\n",
        "DATA\r\n",
        "Subject: through a pipe\r\n\r\npiped\r\n.\r\n",
        "QUIT\r\n",
    ] {
        input.write_all(cmd.as_bytes()).expect("write");
        replies.push(read_reply(&mut output));
    }
    drop(input);
    let status = child.wait().expect("wait");
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut log)
        .expect("log");
    assert!(status.success(), "{replies:?}\n{log}");
    let codes: Vec<&str> = replies.iter().map(|r| &r[..3]).collect();
    // 192.0.2.7 is not in a trusted network (only loopback is): no relaying.
    assert_eq!(
        codes,
        ["220", "250", "250", "554", "250", "354", "250", "221"],
        "{replies:?}"
    );
    assert!(
        log.contains("event=client_connect") && log.contains("peer=192.0.2.7:4242"),
        "{log}"
    );
    let files = wait_for_mail(&site.maildir("demo"), 1, Duration::from_secs(10));
    assert_eq!(files.len(), 1, "{log}");
    let msg = std::fs::read_to_string(&files[0]).expect("read");
    assert!(
        msg.contains("from pipe.client.test") && msg.contains("[192.0.2.7]"),
        "{msg}"
    );
}

#[test]
fn implicit_tls_listener_under_systemd_accept_yes() {
    // `--listener NAME` gives a socket from inetd/systemd a configured listener's settings: here
    // an implicit-TLS (SMTPS) one, its certificate made by `cert gen`.
    let site = Site::new(
        "[[listener]]\nname = \"smtps\"\nprotocol = \"submission\"\naddress = \"127.0.0.1:0\"\n\
         tls = \"implicit\"\ncert = \"cert.pem\"\nkey = \"key.pem\"\n",
    );
    let cert = site.root().join("cert.pem");
    let out = site.postern(&[
        "cert",
        "gen",
        "--cn",
        "mx.example.test",
        "--san",
        "127.0.0.1",
        "--cert",
        cert.to_str().expect("utf8"),
        "--key",
        site.root().join("key.pem").to_str().expect("utf8"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let args: Vec<String> = [
        "--inetd",
        "-a",
        "-l",
        &site.addr().to_string(),
        "-E",
        "POSTERN_CONFIG",
        bin().to_str().expect("utf8"),
        "smtpd",
        "--inetd",
        "--listener",
        "smtps",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let _h = host("systemd-socket-activate", &args, &site);
    let out = run(
        "swaks",
        &[
            "--server",
            "127.0.0.1",
            "--port",
            &site.port.to_string(),
            "--tls-on-connect",
            "--tls-verify",
            "--tls-ca-path",
            cert.to_str().expect("utf8"),
            "--auth",
            "PLAIN",
            "--auth-user",
            "demo",
            "--auth-password",
            "secret",
            "--from",
            "demo@example.test",
            "--to",
            "demo@example.test",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("235 2.7.0"), "{}", text(&out));
    assert!(
        text(&out).contains("250 2.0.0 Ok: queued"),
        "{}",
        text(&out)
    );
    let files = wait_for_mail(&site.maildir("demo"), 1, Duration::from_secs(15));
    assert_eq!(files.len(), 1);
    let msg = std::fs::read_to_string(&files[0]).expect("read");
    assert!(
        msg.contains("with ESMTPS"),
        "the Received header says TLS:\n{msg}"
    );
}
