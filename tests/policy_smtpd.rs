//! Receiving rules, handlers and quotas end to end: `postern serve --demo` with extra config,
//! driven by swaks (and a dnsmasq on loopback for the DNS checks).

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{have, run, text, wait_for_mail, Demo};

/// A demo server whose config has `extra` appended (a `[[domain.handler]]` there belongs to the
/// demo's domain, example.test).
fn demo_with(extra: &str) -> Demo {
    let mut d = Demo::start();
    let _ = d.child.kill();
    let _ = d.child.wait();
    let path = d.config();
    let mut config = std::fs::read_to_string(&path).expect("config");
    config.push_str(extra);
    std::fs::write(&path, config).expect("write config");
    // Restart on the same ports (the demo's config holds them).
    let log = std::fs::File::create(d.dir.path().join("server.log")).expect("log");
    d.child = Command::new(common::bin())
        .args(["serve", "--demo"])
        .arg(d.root())
        .args(["--port-offset", &d.offset.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("restart");
    // The old listener is gone once the new one answers with the new config loaded.
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        common::wait_for_port(d.addr(2525), Duration::from_secs(20)),
        "restart failed:\n{}",
        d.log()
    );
    d
}

/// The tests here share demo port ranges; one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// swaks against the demo's plain SMTP port; returns its transcript.
fn swaks(d: &Demo, args: &[&str]) -> String {
    let port = d.port(2525).to_string();
    let server = format!("127.0.0.1:{port}");
    let mut all = vec![
        "--server",
        server.as_str(),
        "--timeout",
        "20",
        "--helo",
        "mta.test",
    ];
    all.extend_from_slice(args);
    text(&run("swaks", &all))
}

fn refused_with(out: &str, reply: &str) -> bool {
    out.lines()
        .any(|l| l.starts_with("<**") && l.contains(reply))
}

const RULES: &str = r#"
[receiving.untrusted]
max_size = "20K"
block_extensions = ["exe"]
block_numeric_sender_domains = true
block_empty_return_path = true

[[receiving.ban]]
field = "recipient"
op = "ends-with"
value = "@example.test"
negate = true
reply = "550 5.7.1 Only example.test recipients are accepted here"

[[domain.handler]]
local = "niel"
mailbox = "demo"
copy_to = "boss@example.test"

[[domain.handler]]
local = "neal"
mailbox = "demo"
block_attachments = true
"#;

#[test]
fn receiving_rules_handlers_and_quota_through_swaks() {
    if !have("swaks") {
        eprintln!("swaks not installed; skipping");
        return;
    }
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let d = demo_with(RULES);
    d.add_user("boss", "boss-password-1");

    // Scenario 4: a recipient outside the LAN-only domain is refused at RCPT.
    let out = swaks(
        &d,
        &[
            "--from",
            "a@example.test",
            "--to",
            "fred@hotmail.test",
            "--quit-after",
            "RCPT",
        ],
    );
    assert!(
        refused_with(&out, "550 5.7.1 Only example.test recipients"),
        "{out}"
    );

    // Open-relay tricks from an untrusted client: none is accepted.
    for rcpt in [
        "victim%hotmail.test@example.test",
        "hotmail.test!victim@example.test",
        "\"victim@hotmail.test\"@example.test",
        "victim@example.test.",
        "victim@[127.0.0.1]",
        "@example.test:victim@hotmail.test",
        "POSTMASTER@HOTMAIL.TEST",
    ] {
        let out = swaks(
            &d,
            &["--from", "a@b.test", "--to", rcpt, "--quit-after", "RCPT"],
        );
        assert!(
            out.lines().any(|l| l.starts_with("<** 5")),
            "accepted {rcpt}:\n{out}"
        );
    }

    // Sender rules at MAIL.
    let out = swaks(
        &d,
        &[
            "--from",
            "a@[192.0.2.1]",
            "--to",
            "demo@example.test",
            "--quit-after",
            "MAIL",
        ],
    );
    assert!(refused_with(&out, "553 5.1.8"), "{out}");
    let out = swaks(
        &d,
        &[
            "--from",
            "<>",
            "--to",
            "demo@example.test",
            "--quit-after",
            "MAIL",
        ],
    );
    assert!(refused_with(&out, "550 5.7.1"), "{out}");

    // After DATA: size for untrusted senders, blocked extensions, a handler without attachments.
    let big = format!("{}\n", "x".repeat(70)).repeat(450);
    let out = swaks(
        &d,
        &[
            "--from",
            "a@b.test",
            "--to",
            "demo@example.test",
            "--body",
            &big,
        ],
    );
    assert!(refused_with(&out, "552 5.3.4"), "{out}");
    let exe = d.dir.path().join("setup.exe");
    std::fs::write(&exe, b"MZ not really").expect("write");
    let attach = format!("@{}", exe.display());
    let out = swaks(
        &d,
        &[
            "--from",
            "a@b.test",
            "--to",
            "demo@example.test",
            "--attach",
            &attach,
        ],
    );
    assert!(refused_with(&out, "550 5.7.1"), "{out}");
    let txt = d.dir.path().join("notes.txt");
    std::fs::write(&txt, b"hello").expect("write");
    let attach = format!("@{}", txt.display());
    let out = swaks(
        &d,
        &[
            "--from",
            "a@b.test",
            "--to",
            "neal@example.test",
            "--attach",
            &attach,
        ],
    );
    assert!(
        refused_with(
            &out,
            "550 5.7.1 <neal@example.test> does not accept attachments"
        ),
        "{out}"
    );

    // Aliases: niel reaches demo, and the handler's copy reaches boss.
    let out = swaks(
        &d,
        &[
            "--from",
            "a@b.test",
            "--to",
            "niel@example.test",
            "--header",
            "Subject: alias",
        ],
    );
    assert!(out.contains("250 2.0.0 Ok: queued"), "{out}");
    let got = wait_for_mail(&d.maildir("demo"), 1, Duration::from_secs(20));
    assert_eq!(got.len(), 1, "log:\n{}", d.log());
    let copy = wait_for_mail(&d.maildir("boss"), 1, Duration::from_secs(20));
    assert_eq!(copy.len(), 1, "copy-to not delivered; log:\n{}", d.log());

    // Quota: demo is now over a 1-byte quota: 452 4.2.2 at RCPT.
    let q = d.postern(&["mbox", "quota", "demo", "--set", "1"]);
    assert!(q.status.success(), "{}", text(&q));
    // `mbox ls --json` and `mbox quota --json` report what the RCPT check counts.
    let files = common::maildir_files(&d.maildir("demo"));
    let on_disk: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum();
    let rows = |args: &[&str]| -> Vec<serde_json::Value> {
        let out = d.postern(args);
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
            .collect()
    };
    let all = rows(&["mbox", "ls", "--json"]);
    let demo = all.iter().find(|v| v["user"] == "demo").expect("demo row");
    let want =
        serde_json::json!({"user": "demo", "bytes": on_disk, "messages": files.len(), "quota": 1});
    assert_eq!(demo, &want, "{all:?}");
    assert!(
        all.iter()
            .any(|v| v["user"] == "boss" && v["quota"].is_null()),
        "{all:?}"
    );
    assert_eq!(rows(&["mbox", "quota", "demo", "--json"]), vec![want]);
    // The server rereads the users file at most once a second.
    std::thread::sleep(Duration::from_millis(1500));
    let out = swaks(
        &d,
        &[
            "--from",
            "a@b.test",
            "--to",
            "demo@example.test",
            "--quit-after",
            "RCPT",
        ],
    );
    assert!(refused_with(&out, "452 4.2.2"), "{out}");

    // Mail that reaches the queue anyway (local injection) is deferred, not lost, and delivered
    // once the quota is lifted.
    let mut sm = Command::new(common::bin())
        .arg("--config")
        .arg(d.config())
        .args(["sendmail", "-f", "root@example.test", "demo@example.test"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("sendmail");
    {
        use std::io::Write;
        let mut stdin = sm.stdin.take().expect("stdin");
        stdin
            .write_all(b"Subject: over quota\n\nwait for me\n")
            .expect("write");
    }
    assert!(sm.wait().expect("wait").success());
    let run_queue = d.postern(&["deliver", "--once"]);
    assert!(run_queue.status.success(), "{}", text(&run_queue));
    let ls = text(&d.postern(&["queue", "ls"]));
    assert!(
        ls.contains("4.2.2"),
        "not deferred for quota:\n{ls}\nlog:\n{}",
        d.log()
    );
    assert_eq!(common::maildir_files(&d.maildir("demo")).len(), 1);
    assert!(d
        .postern(&["mbox", "quota", "demo", "--clear"])
        .status
        .success());
    std::thread::sleep(Duration::from_millis(1500));
    assert!(d.postern(&["queue", "flush"]).status.success());
    let got = wait_for_mail(&d.maildir("demo"), 2, Duration::from_secs(20));
    assert_eq!(
        got.len(),
        2,
        "queue:\n{}",
        text(&d.postern(&["queue", "ls"]))
    );

    // sendmail builds its envelope with the same helper: the handler's copy-to applies too.
    assert!(d.postern_stdin_ok(
        &["sendmail", "niel@example.test"],
        "Subject: by sendmail\n\nto the alias\n"
    ));
    assert_eq!(
        wait_for_mail(&d.maildir("demo"), 3, Duration::from_secs(20)).len(),
        3
    );
    let copies = wait_for_mail(&d.maildir("boss"), 2, Duration::from_secs(20));
    assert_eq!(copies.len(), 2, "no copy from sendmail; log:\n{}", d.log());
}

/// dnsmasq on a loopback port with the records the checks need; killed on drop.
struct Dnsmasq(Child);

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn dnsmasq(port: u16) -> Dnsmasq {
    let child = Command::new("dnsmasq")
        .args([
            "--keep-in-foreground",
            "--no-resolv",
            "--no-hosts",
            "--no-daemon",
            "--conf-file=/dev/null",
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--user=",
            "--pid-file=",
            "--local=/test/",
            &format!("--port={port}"),
            "--mx-host=good.test,mx.good.test,10",
            "--host-record=mx.good.test,127.0.0.1",
            "--mx-host=spoofed.test,mx.spoofed.test,10",
            "--host-record=mx.spoofed.test,192.0.2.1",
            "--host-record=spoofed.test,192.0.2.2",
            "--txt-record=spf-pass.test,v=spf1 ip4:127.0.0.0/8 -all",
            "--txt-record=spf-fail.test,v=spf1 ip4:192.0.2.0/24 -all",
            "--ptr-record=1.0.0.127.in-addr.arpa,localhost.test",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dnsmasq");
    std::thread::sleep(Duration::from_millis(300));
    Dnsmasq(child)
}

#[test]
fn spoofed_sender_and_spf_against_dnsmasq() {
    if !have("swaks") || !have("dnsmasq") {
        eprintln!("swaks or dnsmasq not installed; skipping");
        return;
    }
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let port = 20_000 + (std::process::id() % 5000) as u16;
    let _dns = dnsmasq(port);
    let d = demo_with(&format!(
        r#"
[dns]
servers = ["127.0.0.1:{port}"]
[receiving.untrusted]
spoof_check = "only"
spoof_list = [{{ field = "sender", op = "matches", value = "@(good|spoofed)\\.test$" }}]
spf = "fail"
"#
    ));
    let mail = |from: &str| {
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
    // The MX of good.test is 127.0.0.1: the check passes.
    let out = mail("a@good.test");
    assert!(out.contains("<-  250 2.1.0"), "{out}\nlog:\n{}", d.log());
    // spoofed.test's MX and A are elsewhere, and 127.0.0.1's PTR is not in it.
    let out = mail("a@spoofed.test");
    assert!(refused_with(&out, "550 5.7.1"), "{out}");
    // SPF: allowed, refused (5.7.23), and a domain without SPF.
    assert!(mail("a@spf-pass.test").contains("<-  250 2.1.0"));
    let out = mail("a@spf-fail.test");
    assert!(refused_with(&out, "550 5.7.23"), "{out}\nlog:\n{}", d.log());
    assert!(mail("a@nothing.test").contains("<-  250 2.1.0"));
}
