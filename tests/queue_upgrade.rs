//! A queue that survives an upgrade: queue and state files exactly as version 0.1 wrote them
//! (`tests/data/spool-0.1`, made by its `sendmail` and `deliver --once`) are listed with typed
//! outcomes, then delivered and bounced correctly by this version:
//!
//! - `1K1QS6E6S4Q00Z8500`, never attempted: bob@here.test (local), small@here.test refused at
//!   intake by its handler's `max_size` (`552 5.2.3 …`, not yet bounced), far@remote.test;
//! - `1K1QS6E8DJ300Z8A00`, attempted once: busy@remote.test deferred by smtp-sink's
//!   `450 4.3.0 Error: command failed` at mx.remote.test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
mod remote_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::text;
use remote_support::{free_port, require, Dns, Dsn, Sender, Sink};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/spool-0.1");
const NEVER_TRIED: &str = "1K1QS6E6S4Q00Z8500";
const DEFERRED: &str = "1K1QS6E8DJ300Z8A00";

/// Copy the 0.1 spool files into `spool` (mode 0600, as the spool writes them).
fn install_fixtures(spool: &Path) {
    for sub in ["queue", "state"] {
        let to = spool.join(sub);
        std::fs::create_dir_all(&to).expect("spool dir");
        for e in std::fs::read_dir(Path::new(FIXTURES).join(sub)).expect("fixtures") {
            let e = e.expect("entry");
            let dest = to.join(e.file_name());
            std::fs::copy(e.path(), &dest).expect("copy");
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o600)).expect("mode");
        }
    }
}

#[test]
fn a_queue_written_by_0_1_delivers_and_bounces() {
    require(&["dnsmasq", "smtp-sink"]);
    let tmp = tempfile::tempdir().expect("tmp");
    let port = free_port("127.0.0.31");
    let dns = Dns::start(&[
        "--mx-host=remote.test,mx.remote.test,10".into(),
        "--host-record=mx.remote.test,127.0.0.31".into(),
    ]);
    // The fixtures are from 2026-12: a lifetime that outlasts any clock this runs on.
    let s = Sender::new(
        "immediate = false\nlifetime = \"36500d\"",
        &format!(
            "[[domain.handler]]\nlocal = \"small\"\nmailbox = \"bob\"\nmax_size = \"2K\"\n\n\
             [remote]\nmx_port = {port}\nconnect_timeout = \"3s\"\ncommand_timeout = \"10s\"\n\
             [dns]\nservers = [\"127.0.0.1:{}\"]\ntimeout = \"2s\"\n",
            dns.port
        ),
    );
    let out = s.postern_stdin(&["user", "add", "bob", "--password-stdin"], b"pw\n");
    assert!(out.status.success(), "{}", text(&out));
    install_fixtures(&s.dir.path().join("spool"));

    // Listed with the outcomes read back from 0.1's one-line reasons.
    let q = s.queue();
    assert_eq!(q.len(), 2, "{q:?}");
    let deferred = q
        .iter()
        .find(|m| m["id"] == DEFERRED)
        .expect("deferred one");
    assert_eq!(deferred["attempts"], 1);
    assert_eq!(
        deferred["last_error"],
        "4.3.0 450 4.3.0 Error: command failed (at mx.remote.test[127.0.0.1]:2526)"
    );
    assert_eq!(deferred["status"], "4.3.0");
    let show = s.postern(&["queue", "show", DEFERRED, "--json"]);
    assert!(show.status.success(), "{}", text(&show));
    let v: serde_json::Value = serde_json::from_slice(&show.stdout).expect("show json");
    let o = &v["state"]["recipients"][0]["outcome"];
    assert_eq!(o["status"], "4.3.0", "{v}");
    assert_eq!(o["reply"]["code"], 450, "{v}");
    assert_eq!(o["remote_mta"]["host"], "mx.remote.test", "{v}");
    assert_eq!(o["remote_mta"]["address"], "127.0.0.1:2526", "{v}");
    let show = s.postern(&["queue", "show", NEVER_TRIED, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&show.stdout).expect("show json");
    let small = &v["state"]["recipients"][1];
    assert_eq!(small["status"], "failed", "{v}");
    assert_eq!(small["outcome"]["status"], "5.2.3", "{v}");

    // Delivered: bob here, far and busy at the (now accepting) MX; small bounced once, with the
    // reply 0.1 recorded as its Diagnostic-Code.
    let sink = Sink::start("127.0.0.31", port, &tmp.path().join("mx"), &[]);
    let out = s.postern(&["queue", "flush"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(s.queue().is_empty(), "{:?}", s.queue());
    let relayed = sink.wait_for(2);
    assert_eq!(relayed.len(), 2, "{relayed:?}");
    for (rcpt, subject) in [
        ("far@remote.test", "Subject: before the upgrade"),
        ("busy@remote.test", "Subject: deferred before the upgrade"),
    ] {
        let m = relayed
            .iter()
            .find(|m| m.contains(&format!("X-Rcpt-Args: <{rcpt}>")))
            .unwrap_or_else(|| panic!("{rcpt} not relayed: {relayed:?}"));
        assert!(m.contains(subject), "{m}");
    }
    let bob = common::wait_for_mail(
        &s.dir.path().join("mail").join("bob"),
        1,
        std::time::Duration::from_secs(10),
    );
    assert_eq!(bob.len(), 1, "bob's copy, and not small's");
    let mail = s.wait_alice(1);
    assert_eq!(mail.len(), 1, "one bounce");
    let dsn = Dsn::parse(&mail[0]);
    assert_eq!(dsn.recipients.len(), 1, "{:?}", dsn.recipients);
    let r = dsn.recipient("small@here.test");
    assert_eq!(r["action"], "failed");
    assert_eq!(r["status"], "5.2.3");
    assert_eq!(
        r["diagnostic-code"],
        "smtp; 552 5.2.3 <small@here.test>: Message size exceeds this recipient's limit of \
         2048 bytes"
    );
    assert!(r.get("remote-mta").is_none(), "refused here: {r:?}");
    assert!(dsn.original.contains("Subject: before the upgrade"));
}
