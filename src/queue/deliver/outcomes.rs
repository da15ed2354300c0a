//! The outcomes a delivery attempt reaches here rather than at a next hop, each with its RFC 3463
//! status: routing (no such mailbox, a bad address, a handler loop), loops (too many hops, our
//! own Delivered-To), local delivery (over quota, a full volume, a maildir that cannot be
//! written) and giving up (expired, aborted). Remote outcomes come from the next hop's reply
//! (`remote::client`) and from DNS (`remote::dns_outcome`). Also the event fields every outcome
//! is logged with.

use std::path::Path;

use crate::events::Event;
use crate::proto::mail::Outcome;
use crate::queue::routing::NoRoute;

/// The statuses of the outcomes decided here.
pub mod status {
    use crate::proto::mail::{Class, Status};

    /// 2.0.0: delivered into a mailbox here.
    pub const DELIVERED: Status = Status::new(Class::Success, 0, 0);
    /// 5.1.1: no such mailbox here.
    pub const NO_SUCH_USER: Status = Status::new(Class::Permanent, 1, 1);
    /// 5.1.3: the recipient address is malformed.
    pub const BAD_ADDRESS: Status = Status::new(Class::Permanent, 1, 3);
    /// 5.3.0: the user's name cannot be a mailbox directory.
    pub const UNUSABLE_MAILBOX: Status = Status::new(Class::Permanent, 3, 0);
    /// 4.2.2: the mailbox is over its quota.
    pub const OVER_QUOTA: Status = Status::new(Class::Transient, 2, 2);
    /// 4.3.1: the mail volume is full.
    pub const VOLUME_FULL: Status = Status::new(Class::Transient, 3, 1);
    /// 4.3.0: the maildir cannot be written for another reason.
    pub const MAILDIR_FAILED: Status = Status::new(Class::Transient, 3, 0);
    /// 5.4.6: a routing loop (handlers forwarding in a circle, too many hops, our own
    /// Delivered-To).
    pub const LOOP: Status = Status::new(Class::Permanent, 4, 6);
    /// 5.4.7: delivery time expired (lifetime or `max_attempts`).
    pub const EXPIRED: Status = Status::new(Class::Permanent, 4, 7);
    /// 5.7.1: refused by the recipient's Sieve script (`reject`, RFC 5429).
    pub const REJECTED_BY_FILTER: Status = Status::new(Class::Permanent, 7, 1);
    /// 5.0.0: aborted by the administrator, or failed with no reason recorded.
    pub const FAILED: Status = Status::new(Class::Permanent, 0, 0);
}

/// An event's fields for an outcome: its `status`, and the `reply` and `remote_mta` when
/// there were ones.
pub(crate) fn outcome_fields(e: Event, o: &Outcome) -> Event {
    e.field("status", o.status)
        .opt("reply", o.reply.as_ref())
        .opt("remote_mta", o.remote_mta.as_ref())
}

/// Why a recipient has no route here, when that is final (`None`: not ours, goes remote).
pub fn no_route_outcome(why: &NoRoute) -> Option<Outcome> {
    let (s, text) = match why {
        NoRoute::NotOurs { .. } => return None,
        NoRoute::NoSuchUser => (status::NO_SUCH_USER, "no such mailbox here"),
        NoRoute::Malformed => (status::BAD_ADDRESS, "bad recipient address"),
        NoRoute::Loop => (status::LOOP, "address handlers forward in a loop"),
    };
    Some(Outcome::new(s, text))
}

/// A user name that is not usable as a directory.
pub fn unusable_mailbox(user: &str) -> Outcome {
    Outcome::new(
        status::UNUSABLE_MAILBOX,
        format!("user name {user:?} is not usable as a mailbox"),
    )
}

/// The user's mailbox is over its quota: retried.
pub fn over_quota(user: &str) -> Outcome {
    Outcome::new(
        status::OVER_QUOTA,
        format!("mailbox of {user} is over quota"),
    )
}

/// Writing into `maildir` failed with `e`: a full volume (retried as soon as it has room) or
/// something else (retried on the schedule).
pub fn maildir_failed(maildir: &Path, e: &std::io::Error) -> Outcome {
    if crate::freespace::is_full(e) {
        Outcome::new(
            status::VOLUME_FULL,
            format!(
                "mail volume full: cannot write to maildir {}: {e}",
                maildir.display()
            ),
        )
    } else {
        Outcome::new(
            status::MAILDIR_FAILED,
            format!("cannot write to maildir {}: {e}", maildir.display()),
        )
    }
}

/// More `Received` headers than `max_hops`.
pub fn too_many_hops(received: usize, max_hops: usize) -> Outcome {
    Outcome::new(
        status::LOOP,
        format!("routing loop detected: {received} Received headers (limit {max_hops})"),
    )
}

/// The message already carries our `Delivered-To` for `address`.
pub fn forwarding_loop(address: &str) -> Outcome {
    Outcome::new(status::LOOP, format!("mail forwarding loop for {address}"))
}

/// A recipient still pending when the message expires or runs out of attempts (`why`).
pub fn expired(last: Option<Outcome>, why: &str) -> Outcome {
    Outcome::ending(last, status::EXPIRED, why)
}

/// A recipient still pending when `queue abort --bounce` removes the message.
pub fn aborted(last: Option<Outcome>) -> Outcome {
    Outcome::ending(last, status::FAILED, "message aborted by the administrator")
}

/// A failed recipient with no recorded outcome (not written by any version; a damaged state).
pub fn unknown_failure() -> Outcome {
    Outcome::new(status::FAILED, "delivery failed")
}

/// The recipient's Sieve script rejected the message (RFC 5429): a failure report to the
/// sender with the script's reason.
pub fn rejected_by_filter(reason: &str) -> Outcome {
    let reason: String = reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(500)
        .collect();
    Outcome::new(
        status::REJECTED_BY_FILTER,
        format!("rejected by the recipient's filter: {}", reason.trim()),
    )
}

/// Most lines of a script's reason in a `550` reply, and characters per line.
const REFUSAL_LINES: usize = 10;
const REFUSAL_LINE_CHARS: usize = 400;

/// The `550 5.7.1` reply that refuses a message in protocol for a Sieve `reject`/`ereject`
/// (RFC 5429 §2.1.1): the script's reason, a line of the reply for each of its lines (at most
/// 10 of 400 characters), in ASCII (anything else becomes `?`: the reply may not be UTF-8);
/// a reason with no text gives a generic one.
pub fn refused_by_filter_reply(reason: &str) -> crate::proto::mail::Reply {
    let mut lines: Vec<String> = reason
        .lines()
        .map(|l| {
            l.chars()
                .map(|c| match c {
                    '\t' => ' ',
                    c if c.is_ascii_control() => ' ',
                    c if !c.is_ascii() => '?',
                    c => c,
                })
                .take(REFUSAL_LINE_CHARS)
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect();
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    while lines.first().is_some_and(String::is_empty) {
        lines.remove(0);
    }
    lines.truncate(REFUSAL_LINES);
    if lines.is_empty() {
        lines.push("Message rejected by the recipient's filter".into());
    }
    let mut reply = crate::proto::mail::Reply::new(550, "5.7.1", "");
    reply.lines = lines;
    reply
}

/// The intake leaves a message whose Sieve actions send or bounce mail to the queue runner
/// (not logged: the recipient stays pending in the spool).
pub fn filter_needs_queue() -> Outcome {
    Outcome::new(
        status::MAILDIR_FAILED,
        "the recipient's filter acts through the queue",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::DnsError;
    use crate::proto::mail::{Class, RemoteMta, Status};
    use crate::queue::deliver::remote::{client, dns_outcome, ConnectError};

    #[test]
    fn a_sieve_refusal_reply_is_the_reason_in_ascii_lines() {
        let table: &[(&str, &[&str])] = &[
            ("not wanted here", &["not wanted here"]),
            (
                "No thanks:\r\nnot from you.\r\n",
                &["No thanks:", "not from you."],
            ),
            ("caf\u{e9}\tbar\u{7}", &["caf? bar"]),
            ("", &["Message rejected by the recipient's filter"]),
            ("\n\n  \n", &["Message rejected by the recipient's filter"]),
        ];
        for (reason, lines) in table {
            let r = refused_by_filter_reply(reason);
            assert_eq!(r.enhanced, Status::parse("5.7.1"));
            let want: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            assert_eq!((r.code, r.lines), (550, want), "{reason:?}");
        }
        let long = "x".repeat(1000) + &"\nline".repeat(20);
        let r = refused_by_filter_reply(&long);
        assert_eq!(r.lines.len(), 10);
        assert_eq!(r.lines.first().map(String::len), Some(400));
        assert_eq!(
            String::from_utf8_lossy(&refused_by_filter_reply("a\nb").to_bytes()),
            "550-5.7.1 a\r\n550 5.7.1 b\r\n"
        );
    }

    fn is(o: &Outcome, class: Class, s: &str) -> bool {
        o.class() == class && Status::parse(s) == Some(o.status)
    }

    /// Every class of outcome, decided here or taken from a next hop or DNS, with its status
    /// and whether a report names a Remote-MTA and a Diagnostic-Code.
    #[test]
    fn every_class_of_outcome() {
        let peer = RemoteMta::new("mx.x.test", "127.0.0.1:25".parse().expect("addr"));
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let enospc = std::io::Error::from_raw_os_error(libc::ENOSPC);
        let eacces = std::io::Error::from_raw_os_error(libc::EACCES);
        let maildir = Path::new("/var/mail/postern/bob");
        let cases: Vec<(&str, Outcome, Class, &str, bool, bool)> = vec![
            // what, outcome, class, status, Remote-MTA, Diagnostic-Code
            (
                "remote 5xx with an enhanced code",
                client::reply_outcome(550, "5.1.1 <b@x.test>: unknown", "RCPT TO").at(peer.clone()),
                Class::Permanent,
                "5.1.1",
                true,
                true,
            ),
            (
                "remote 5xx without one",
                client::reply_outcome(554, "no thanks", "MAIL FROM").at(peer.clone()),
                Class::Permanent,
                "5.0.0",
                true,
                true,
            ),
            (
                "remote 4xx",
                client::reply_outcome(451, "4.3.2 try later", "end of DATA").at(peer.clone()),
                Class::Transient,
                "4.3.2",
                true,
                true,
            ),
            (
                "connection refused",
                client::connect_outcome(&ConnectError::Tcp(refused), &peer),
                Class::Transient,
                "4.4.1",
                false,
                false,
            ),
            (
                "timeout",
                client::connect_outcome(
                    &ConnectError::GreetingTimeout(std::time::Duration::from_secs(30)),
                    &peer,
                ),
                Class::Transient,
                "4.4.2",
                true,
                false,
            ),
            (
                "NXDOMAIN",
                dns_outcome(&DnsError::NoSuchDomain("x.test".into())),
                Class::Permanent,
                "5.1.2",
                false,
                false,
            ),
            (
                "SERVFAIL",
                dns_outcome(&DnsError::Temporary(
                    "MX lookup for x.test failed: SERVFAIL".into(),
                )),
                Class::Transient,
                "4.4.3",
                false,
                false,
            ),
            (
                "null MX",
                dns_outcome(&DnsError::NullMx("x.test".into())),
                Class::Permanent,
                "5.1.10",
                false,
                false,
            ),
            (
                "host without an address",
                dns_outcome(&DnsError::NoAddress("mx.x.test".into())),
                Class::Permanent,
                "5.4.4",
                false,
                false,
            ),
            (
                "local over quota",
                over_quota("bob"),
                Class::Transient,
                "4.2.2",
                false,
                false,
            ),
            (
                "local volume full",
                maildir_failed(maildir, &enospc),
                Class::Transient,
                "4.3.1",
                false,
                false,
            ),
            (
                "local maildir not writable",
                maildir_failed(maildir, &eacces),
                Class::Transient,
                "4.3.0",
                false,
                false,
            ),
            (
                "local hop loop",
                too_many_hops(51, 50),
                Class::Permanent,
                "5.4.6",
                false,
                false,
            ),
            (
                "local Delivered-To loop",
                forwarding_loop("b@here.test"),
                Class::Permanent,
                "5.4.6",
                false,
                false,
            ),
            (
                "mailbox missing",
                no_route_outcome(&NoRoute::NoSuchUser).expect("final"),
                Class::Permanent,
                "5.1.1",
                false,
                false,
            ),
            (
                "malformed address",
                no_route_outcome(&NoRoute::Malformed).expect("final"),
                Class::Permanent,
                "5.1.3",
                false,
                false,
            ),
            (
                "handler loop",
                no_route_outcome(&NoRoute::Loop).expect("final"),
                Class::Permanent,
                "5.4.6",
                false,
                false,
            ),
            (
                "unusable user name",
                unusable_mailbox("../x"),
                Class::Permanent,
                "5.3.0",
                false,
                false,
            ),
            (
                "expired",
                expired(None, "message expired in the queue"),
                Class::Permanent,
                "5.4.7",
                false,
                false,
            ),
            (
                "aborted",
                aborted(None),
                Class::Permanent,
                "5.0.0",
                false,
                false,
            ),
        ];
        for (what, o, class, want, mta, diagnostic) in cases {
            assert!(is(&o, class, want), "{what}: {o:?}");
            assert_eq!(o.remote_mta.is_some(), mta, "{what}: {o:?}");
            assert_eq!(o.diagnostic_code().is_some(), diagnostic, "{what}: {o:?}");
            assert!(
                o.to_string().starts_with(&format!("{want} ")),
                "{what}: {o}"
            );
        }
        assert_eq!(
            no_route_outcome(&NoRoute::NotOurs {
                domain: "x.test".into()
            }),
            None
        );
        assert_eq!(
            over_quota("bob").to_string(),
            "4.2.2 mailbox of bob is over quota"
        );
    }

    /// Giving up keeps the last remote reply and MTA for the report, and quotes the last error.
    #[test]
    fn giving_up_keeps_the_last_reply() {
        let peer = RemoteMta::new("mx.x.test", "127.0.0.1:25".parse().expect("addr"));
        let last = client::reply_outcome(450, "4.2.1 busy", "RCPT TO").at(peer.clone());
        let o = expired(Some(last), "gave up after 3 attempts");
        assert_eq!(o.status.to_string(), "5.4.7");
        assert_eq!(o.remote_mta, Some(peer));
        assert_eq!(o.diagnostic_code().as_deref(), Some("smtp; 450 4.2.1 busy"));
        assert_eq!(
            o.to_string(),
            "5.4.7 gave up after 3 attempts; last error: 4.2.1 refused at RCPT TO: \
             450 4.2.1 busy (at mx.x.test[127.0.0.1]:25)"
        );
        let o = aborted(Some(over_quota("bob")));
        assert_eq!(
            o.to_string(),
            "5.0.0 message aborted by the administrator; last error: 4.2.2 mailbox of bob is over quota"
        );
    }
}
