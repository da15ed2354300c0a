//! Greylisting end to end: the demo with `[receiving.untrusted] greylist = true` and a short
//! delay, swaks from loopback addresses as the clients, a restart in between, and a second
//! process (smtpd under inetd) sharing the state. dnsmasq serves the allowlist.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
mod policy_support;
mod remote_support;

use std::time::Duration;

use common::{have, Demo};
use policy_support::{demo_with, mail_of, queued, refused_with, swaks, swaks_auth, swaks_inetd};
use remote_support::Dns;

fn demo(dns: &Dns) -> Demo {
    assert!(
        have("dnsmasq"),
        "dnsmasq is not installed (bin/install-test-deps)"
    );
    demo_with(&format!(
        "\n[dns]\nservers = [\"127.0.0.1:{}\"]\ntimeout = \"1s\"\nattempts = 1\n\
         [receiving]\ndnswl = [\"wl.test\"]\n\
         [receiving.greylisting]\ndelay = \"3s\"\n\
         [receiving.untrusted]\ngreylist = true\n",
        dns.port
    ))
}

fn send(d: &Demo, ip: &str, from: &str) -> String {
    swaks(
        d,
        &[
            "--local-interface",
            ip,
            "--from",
            from,
            "--to",
            "demo@example.test",
        ],
    )
}

#[test]
fn a_new_triplet_waits_the_delay_and_is_remembered_across_restarts_and_processes() {
    let dns = Dns::start(&["--host-record=5.0.0.127.wl.test,127.0.15.1".to_string()]);
    let mut d = demo(&dns);
    let out = send(&d, "127.0.0.3", "a@sender.test");
    assert!(
        refused_with(
            &out,
            "451 4.7.1 <demo@example.test>: Recipient address rejected: Greylisted, try again in 3 seconds"
        ),
        "{out}"
    );
    // Too soon: still deferred, with what is left of the wait.
    let out = send(&d, "127.0.0.3", "a@sender.test");
    assert!(refused_with(&out, "451 4.7.1"), "{out}");
    // An allowlisted client and an authenticated one pass at once.
    assert!(queued(&send(&d, "127.0.0.5", "a@sender.test")));
    let auth = swaks_auth(
        &d,
        &[
            "--local-interface",
            "127.0.0.3",
            "--from",
            "demo@example.test",
            "--to",
            "demo@example.test",
        ],
    );
    assert!(queued(&auth), "{auth}");
    std::thread::sleep(Duration::from_millis(3200));
    // The state survives a restart.
    d.restart();
    // The retry after the delay passes; from another address of the same /24 too.
    assert!(queued(&send(&d, "127.0.0.9", "a@sender.test")));
    // A known triplet passes in another process: smtpd under inetd.
    let out = swaks_inetd(
        &d,
        "127.0.0.3",
        &["--from", "a@sender.test", "--to", "demo@example.test"],
    );
    assert!(queued(&out), "{out}");
    // Another sender from the same client is a new triplet.
    let out = send(&d, "127.0.0.3", "b@sender.test");
    assert!(refused_with(&out, "451 4.7.1"), "{out}");
    assert_eq!(mail_of(&d, "demo", 4).len(), 4);
    let log = d.log();
    assert!(
        log.lines().any(|l| l.contains("event=greylisted")
            && l.contains("ip=127.0.0.3")
            && l.contains("from=a@sender.test")),
        "{log}"
    );
    // The state is files under the spool, one per triplet, none named by client text.
    let dir = d.root().join("spool").join("greylist");
    let files: usize = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|f| std::fs::read_dir(f.path()).map(|r| r.count()).unwrap_or(0))
        .sum();
    assert_eq!(files, 2, "two triplets recorded");
}
