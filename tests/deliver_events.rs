//! Registered events: one structured log line each for connect, disconnect, message received,
//! delivered, deferred and failed — in logfmt and in JSON (`log.format = "json"`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use common::site::Site;
use common::*;

/// Parse a logfmt line (`k=v k="quoted v"`) into a map.
fn logfmt(line: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = line.trim();
    while !rest.is_empty() {
        let (key, after) = rest
            .split_once('=')
            .unwrap_or_else(|| panic!("not logfmt: {line}"));
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            let mut end = None;
            let mut escaped = false;
            for (i, c) in q.char_indices() {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            let end = end.unwrap_or_else(|| panic!("unterminated quote: {line}"));
            (
                q[..end].replace("\\\"", "\"").replace("\\\\", "\\"),
                &q[end + 1..],
            )
        } else {
            let end = after.find(' ').unwrap_or(after.len());
            (after[..end].to_string(), &after[end..])
        };
        out.insert(key.to_string(), value);
        rest = next.trim_start();
    }
    out
}

fn json(line: &str) -> BTreeMap<String, String> {
    let v: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {line}"))
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string()),
            )
        })
        .collect()
}

/// Every event of a log, parsed; every non-empty line must be one event.
fn events(log: &str, json_format: bool) -> Vec<BTreeMap<String, String>> {
    log.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| if json_format { json(l) } else { logfmt(l) })
        .inspect(|e| assert!(e.contains_key("ts") && e.contains_key("event"), "{e:?}"))
        .collect()
}

fn one<'a>(events: &'a [BTreeMap<String, String>], name: &str) -> &'a BTreeMap<String, String> {
    let found: Vec<_> = events.iter().filter(|e| e["event"] == name).collect();
    assert_eq!(found.len(), 1, "expected one {name} event in {events:#?}");
    found[0]
}

fn check_events(json_format: bool) {
    // Remote mail goes to a gateway on a loopback port where nothing listens: deferred.
    let gateway = common::port_offset() + 2526;
    let extra = format!(
        "[delivery]\nimmediate = false\ngateway = \"127.0.0.1:{gateway}\"\n\n[log]\nformat = \"{}\"\n",
        if json_format { "json" } else { "logfmt" }
    );
    let site = Site::new(&extra);
    let daemon = site.smtpd("smtpd");
    // One SMTP session: a local recipient and a relayed one (loopback is trusted).
    let out = python(
        r#"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
s.sendmail("alice@client.test", ["demo@example.test", "bob@remote.test"], "Subject: events\r\nMessage-ID: <events.1@client.test>\r\n\r\nhi \"there\"\r\n")
s.quit()
"#,
        &[&site.port.to_string()],
    );
    assert!(out.is_empty(), "{out}");
    // A message for a user who is gone by the time the queue runs: a permanent failure (from the
    // null sender, so that no bounce adds events of its own).
    site.add_user("gone", "pw");
    let mut sm = site
        .command()
        // -v: sendmail shows its log lines (silent otherwise, for cron).
        .args(["sendmail", "-v", "-f", "<>", "gone@example.test"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sendmail");
    sm.stdin
        .take()
        .expect("stdin")
        .write_all(b"Subject: to be failed\n\nbye\n")
        .expect("write");
    let sm = sm.wait_with_output().expect("sendmail");
    assert!(sm.status.success(), "{}", text(&sm));
    let del = site.postern(&["user", "del", "gone"]);
    assert!(del.status.success(), "{}", text(&del));

    let run = site.postern(&["deliver", "--once"]);
    assert!(run.status.success(), "{}", text(&run));
    assert_eq!(
        wait_for_mail(&site.maildir("demo"), 1, Duration::from_secs(5)).len(),
        1
    );

    std::thread::sleep(Duration::from_millis(200));
    let smtpd = events(&daemon.log(), json_format);
    // The harness's port probe was a session too; the mail session is the last one.
    let connects: Vec<_> = smtpd
        .iter()
        .filter(|e| e["event"] == "client_connect")
        .collect();
    assert_eq!(connects.len(), 2, "{smtpd:#?}");
    let connect = connects[1];
    assert!(connect["peer"].starts_with("127.0.0.1:"), "{connect:?}");
    assert_eq!(connect["trusted"], "true");
    let disconnects: Vec<_> = smtpd
        .iter()
        .filter(|e| e["event"] == "client_disconnect" && e["peer"] == connect["peer"])
        .collect();
    assert_eq!(disconnects.len(), 1, "{smtpd:#?}");
    let received = one(&smtpd, "message_received");
    assert_eq!(received["from"], "alice@client.test");
    assert_eq!(received["to"], "demo@example.test,bob@remote.test");
    assert!(
        received["size"].parse::<u64>().is_ok_and(|s| s > 20),
        "{received:?}"
    );
    let id = received["id"].clone();
    // The message carries its connection's session id and its Message-ID.
    assert_eq!(received["session"], connect["session"], "{received:?}");
    assert_eq!(received["session"].len(), 12, "{received:?}");
    assert_eq!(disconnects[0]["session"], connect["session"]);
    assert_eq!(received["message_id"], "<events.1@client.test>");

    let sendmail = events(&String::from_utf8_lossy(&sm.stderr), json_format);
    let failed_id = one(&sendmail, "message_received")["id"].clone();

    let deliver = events(&String::from_utf8_lossy(&run.stderr), json_format);
    let delivered = one(&deliver, "delivered");
    // A local delivery names the mailbox and the address it was sent to (Postfix's orig_to).
    assert_eq!(
        (
            delivered["id"].as_str(),
            delivered["to"].as_str(),
            delivered["orig_to"].as_str()
        ),
        (id.as_str(), "demo", "demo@example.test")
    );
    let deferred = one(&deliver, "deferred");
    assert_eq!(
        (deferred["id"].as_str(), deferred["to"].as_str()),
        (id.as_str(), "bob@remote.test")
    );
    assert!(!deferred["reason"].is_empty());
    let failed = one(&deliver, "failed");
    assert_eq!(
        (failed["id"].as_str(), failed["to"].as_str()),
        (failed_id.as_str(), "gone@example.test")
    );
    assert!(failed["reason"].contains("5.1.1"), "{failed:?}");
}

#[test]
fn events_in_logfmt() {
    check_events(false);
}

#[test]
fn events_in_json() {
    check_events(true);
}
