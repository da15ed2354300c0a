//! The intake's steps on a real spool and mail volume in a temporary directory: each origin's
//! envelope, the handlers' refusals, and which messages go to the maildir at once.

use std::path::Path;
use std::sync::Arc;

use super::write::{prepare, write};
use super::*;
use crate::proto::smtp::Client;
use crate::queue::spool::{self, Area, RecipientStatus, Spool};
use crate::store::users::UsersCache;

/// A deliverer on a site in `dir`: users bob and ann, domain example.test, a handler that
/// takes at most 100 bytes for small@.
fn deliverer(dir: &Path) -> Deliverer {
    let text = "[server]\nhostname = \"mx.example.test\"\npostmaster = \"pm@example.test\"\n\
        [paths]\nspool = \"spool\"\nmail = \"mail\"\nusers = \"users.toml\"\n\
        [[domain]]\nname = \"example.test\"\n\
        [[domain.handler]]\nlocal = \"small\"\nmailbox = \"bob\"\nmax_size = \"100\"\n";
    let config = crate::config::parse(text, dir).expect("config");
    std::fs::write(
        dir.join("users.toml"),
        "[[user]]\nname = \"bob\"\npassword = \"x\"\n[[user]]\nname = \"ann\"\npassword = \"x\"\n",
    )
    .expect("users");
    let spool = Spool::open(&config.paths.spool).expect("spool");
    let users = UsersCache::new(&config.paths.users).expect("users");
    Deliverer::new(Arc::new(config), Arc::new(spool), Arc::new(users))
}

fn submission(origin: Origin, to: &[&str], data: &[u8]) -> Submission {
    Submission {
        origin,
        sender: "a@client.test".into(),
        recipients: to.iter().map(|r| Recipient::new(*r)).collect(),
        data: data.to_vec(),
    }
}

fn smtp() -> Origin {
    Origin::Smtp {
        client: Client {
            ip: Some([192, 0, 2, 1].into()),
            trusted: false,
            tls: true,
            auth_user: Some("bob".into()),
            helo: Some("client.test".into()),
            esmtp: true,
        },
        session: Some("0123456789ab".into()),
        smtputf8: true,
        dsn_ret: Some("HDRS".into()),
        dsn_envid: Some("E1".into()),
        requiretls: false,
    }
}

fn maildir_count(d: &Deliverer, user: &str) -> usize {
    ["new", "cur"]
        .iter()
        .map(|s| std::fs::read_dir(d.config.paths.mail.join(user).join(s)).map_or(0, |e| e.count()))
        .sum()
}

#[test]
fn each_origin_fills_the_envelope_as_before() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = deliverer(dir.path());
    let users = d.users.get();
    let data = b"Subject: x\r\n\r\nhi\r\n";
    let check = |origin: Origin, facts: (Option<&str>, Option<&str>, bool, Option<&str>, bool)| {
        let p = prepare(
            &d.config,
            &users,
            submission(origin, &["bob@example.test"], data),
        )
        .expect("taken");
        let w = write(&d, p, false).expect("written");
        let m = d.spool.peek(Area::Queue, &w.id).expect("queued");
        let e = &m.envelope;
        let (client, helo, trusted, auth, smtputf8) = facts;
        assert_eq!(e.client.as_deref(), client);
        assert_eq!(e.helo.as_deref(), helo);
        assert_eq!(e.trusted, trusted);
        assert_eq!(e.auth_user.as_deref(), auth);
        assert_eq!(e.smtputf8, smtputf8);
        let body = m.read_body().expect("body");
        assert_eq!(e.size, body.len() as u64);
        assert!(body.ends_with(data));
        (e.clone(), body)
    };
    let (e, body) = check(
        smtp(),
        (
            Some("192.0.2.1"),
            Some("client.test"),
            false,
            Some("bob"),
            true,
        ),
    );
    assert_eq!(e.origin, spool::Origin::Smtp);
    assert_eq!(
        (e.dsn_ret.as_deref(), e.dsn_envid.as_deref()),
        (Some("HDRS"), Some("E1"))
    );
    assert!(body.starts_with(b"Received: from client.test ([192.0.2.1])"));
    let sendmail = Origin::Sendmail {
        uid: 1000,
        login: "ann".into(),
        dsn_ret: None,
        dsn_envid: None,
    };
    let (e, body) = check(sendmail, (None, None, true, Some("ann"), false));
    assert_eq!(e.origin, spool::Origin::Sendmail);
    assert!(body.starts_with(b"Received: by mx.example.test (postern sendmail, uid 1000)"));
    let collect = Origin::Collect {
        account: "isp".into(),
        server: "pop.isp.test".into(),
        peer: Some([192, 0, 2, 9].into()),
        tls: true,
        uidl: "u1".into(),
    };
    let (e, body) = check(
        collect,
        (Some("192.0.2.9"), Some("pop.isp.test"), true, None, false),
    );
    assert_eq!(e.origin, spool::Origin::Collect);
    assert!(body.starts_with(b"Received: from pop.isp.test ([192.0.2.9])"));
    let (e, body) = check(Origin::Notification, (None, None, true, None, false));
    assert_eq!(e.origin, spool::Origin::Bounce);
    assert_eq!(body, data, "no trace header on a notification");
}

#[test]
fn handlers_refuse_for_themselves_or_for_all() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = deliverer(dir.path());
    let users = d.users.get();
    let big = vec![b'x'; 200];
    let all = prepare(
        &d.config,
        &users,
        submission(smtp(), &["small@example.test"], &big),
    );
    let Err(Refusal::Recipients(list)) = all else {
        panic!("not refused")
    };
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].1.code, 552);
    let p = prepare(
        &d.config,
        &users,
        submission(smtp(), &["small@example.test", "ann@example.test"], &big),
    )
    .expect("taken for ann");
    // Refused by one: not simple, queued (the runner bounces to the sender).
    let w = write(&d, p, true).expect("written");
    assert!(w.queued);
    let m = d.spool.peek(Area::Queue, &w.id).expect("queued");
    let statuses: Vec<_> = m.envelope.recipients.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [RecipientStatus::Failed, RecipientStatus::Pending]
    );
    // Notifications are not screened.
    let p = prepare(
        &d.config,
        &users,
        submission(Origin::Notification, &["small@example.test"], &big),
    );
    assert!(p.is_ok());
}

#[test]
fn only_simple_local_mail_goes_to_the_maildir_at_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = deliverer(dir.path());
    let users = d.users.get();
    let data = b"Subject: x\r\n\r\nhi\r\n";
    let go = |origin: Origin, to: &[&str], now: bool| {
        let p = prepare(&d.config, &users, submission(origin, to, data)).expect("taken");
        write(&d, p, now).expect("written")
    };
    // Two local mailboxes, bob's under two addresses: written (one copy each), nothing queued.
    let w = go(
        smtp(),
        &["bob@example.test", "ann@example.test", "small@example.test"],
        true,
    );
    assert!(!w.queued && d.spool.find(&w.id).is_none());
    assert_eq!(w.accepted().delivered, 3);
    assert_eq!((maildir_count(&d, "bob"), maildir_count(&d, "ann")), (1, 1));
    // Not when delivery is not immediate, nor for collected mail.
    let w = go(smtp(), &["bob@example.test"], false);
    assert!(w.queued);
    let collect = Origin::Collect {
        account: "isp".into(),
        server: "pop.isp.test".into(),
        peer: None,
        tls: false,
        uidl: "u2".into(),
    };
    assert!(go(collect, &["bob@example.test"], true).queued);
    // A remote recipient or an unknown one: all of it queued, nothing written now.
    assert!(go(smtp(), &["bob@example.test", "x@remote.test"], true).queued);
    assert!(go(smtp(), &["nobody@example.test"], true).queued);
    assert_eq!(maildir_count(&d, "bob"), 1);
    // NOTIFY=SUCCESS: queued, for the runner's report.
    let mut sub = submission(smtp(), &["bob@example.test"], data);
    sub.recipients[0].notify = Some("SUCCESS".into());
    let p = prepare(&d.config, &users, sub).expect("taken");
    assert!(write(&d, p, true).expect("written").queued);
    assert_eq!(maildir_count(&d, "bob"), 1);
}
