//! Delivery status notifications (RFC 3464 `multipart/report`): bounces for failed recipients,
//! delay warnings, and the success reports NOTIFY=SUCCESS asks for ("delivered" into a mailbox
//! here, "relayed" to a next hop that does not speak DSN), honouring the RFC 3461 parameters kept
//! in the envelope (NOTIFY, ORCPT, RET, ENVID). Never sent to the null sender, so never a bounce
//! of a bounce.

use crate::proto::mail::date::rfc5322_date;
use crate::proto::mail::{Class, Outcome, Status};
use crate::queue::spool::{Envelope, Origin, QueueId, Recipient};

/// Returned in full up to this size; larger originals come back as headers only.
const FULL_RETURN_LIMIT: usize = 10 * 1024 * 1024;

/// What the notification reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Failure,
    Delay,
    Success,
}

/// The Action field of one recipient (RFC 3464 §2.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Failed,
    Delayed,
    /// Delivered into a mailbox here.
    Delivered,
    /// Handed to a next hop that does not support DSN: no further reports will come.
    Relayed,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Failed => "failed",
            Action::Delayed => "delayed",
            Action::Delivered => "delivered",
            Action::Relayed => "relayed",
        }
    }

    /// The status class a report with this action gives (RFC 3464 §2.3.4: a failed recipient
    /// has a 5.x.x status, a delayed one 4.x.x, a delivered or relayed one 2.x.x).
    fn class(self) -> Class {
        match self {
            Action::Failed => Class::Permanent,
            Action::Delayed => Class::Transient,
            Action::Delivered | Action::Relayed => Class::Success,
        }
    }
}

/// One recipient in the report, with what became of it and why.
pub struct Entry<'a> {
    pub recipient: &'a Recipient,
    pub action: Action,
    pub outcome: Outcome,
}

/// Everything a notification is made from.
pub struct Report<'a> {
    pub kind: Kind,
    pub reporting_mta: &'a str,
    pub postmaster: &'a str,
    pub id: &'a QueueId,
    pub envelope: &'a Envelope,
    pub entries: Vec<Entry<'a>>,
    pub original: &'a [u8],
    pub now: u64,
    /// For delay warnings: when we give up.
    pub retry_until: Option<u64>,
}

/// Whether a notification may go to this message's sender at all.
pub fn may_notify(envelope: &Envelope) -> bool {
    !envelope.sender.is_empty() && envelope.origin != Origin::Bounce
}

/// Whether `r`'s NOTIFY asks for this kind of report. No NOTIFY means FAILURE,DELAY (one of
/// the two readings RFC 3461 §4.1 allows, and Postfix's): delay warnings are configured by the
/// administrator (`remote.delay_warning`), so a sender who said nothing gets them.
pub fn wants(r: &Recipient, kind: Kind) -> bool {
    match r.notify.as_deref() {
        None => kind != Kind::Success,
        Some(n) => {
            let n = n.to_ascii_uppercase();
            let word = match kind {
                Kind::Failure => "FAILURE",
                Kind::Delay => "DELAY",
                Kind::Success => "SUCCESS",
            };
            n.split(',').any(|w| w.trim() == word)
        }
    }
}

/// The Status field: the outcome's status, in the class of the action.
pub fn status_of(outcome: &Outcome, action: Action) -> Status {
    outcome.status.with_class(action.class())
}

fn header_end(msg: &[u8]) -> usize {
    msg.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .unwrap_or(msg.len())
}

/// The notification message (headers and body, CRLF line ends).
pub fn render(r: &Report<'_>) -> Vec<u8> {
    let boundary = format!("{}/{}", r.id, r.reporting_mta);
    let sender = &r.envelope.sender;
    let (subject, intro, tag) = match r.kind {
        Kind::Failure => (
            "Undelivered Mail Returned to Sender",
            "I'm sorry to have to inform you that your message could not\r\nbe delivered to one or more recipients. The details are below.",
            "dsn",
        ),
        Kind::Delay => (
            "Delayed Mail (still being retried)",
            "This is a warning only; you do not need to resend your message.\r\nDelivery to the recipients below has been delayed; I will keep trying.",
            "delay",
        ),
        Kind::Success => (
            "Successful Mail Delivery Report",
            "Your message was successfully delivered to the destinations listed below.\r\nFor a destination that was relayed, you may still hear from the systems\r\nfurther along.",
            "success",
        ),
    };
    let mut m = String::new();
    m += &format!(
        "From: Mail Delivery System <{}>\r\nTo: <{sender}>\r\nSubject: {subject}\r\n",
        r.postmaster
    );
    m += &format!(
        "Date: {}\r\nMessage-ID: <{}.{}@{}>\r\nAuto-Submitted: auto-replied\r\n",
        rfc5322_date(r.now),
        r.id,
        tag,
        r.reporting_mta
    );
    m += &format!(
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n\r\n"
    );
    m += "This is a MIME-encapsulated message.\r\n\r\n";
    m += &format!("--{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n");
    m += &format!(
        "This is the mail system at host {}.\r\n\r\n{intro}\r\n\r\n",
        r.reporting_mta
    );
    for e in &r.entries {
        m += &format!(
            "<{}>: {}\r\n",
            e.recipient.address,
            ascii(&e.outcome.to_string())
        );
    }
    m += &format!("\r\n--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n");
    m += &format!("Reporting-MTA: dns; {}\r\n", r.reporting_mta);
    m += &format!("X-Postern-Queue-ID: {}\r\n", r.id);
    if let Some(envid) = &r.envelope.dsn_envid {
        m += &format!("Original-Envelope-Id: {}\r\n", ascii(envid));
    }
    m += &format!("X-Postern-Sender: rfc822; {sender}\r\n");
    m += &format!("Arrival-Date: {}\r\n", rfc5322_date(r.envelope.received));
    for e in &r.entries {
        m += "\r\n";
        m += &format!("Final-Recipient: rfc822; {}\r\n", e.recipient.address);
        if let Some(o) = &e.recipient.orcpt {
            let o = if o.contains(';') {
                o.clone()
            } else {
                format!("rfc822; {o}")
            };
            m += &format!("Original-Recipient: {}\r\n", ascii(&o));
        }
        m += &format!("Action: {}\r\n", e.action.as_str());
        m += &format!("Status: {}\r\n", status_of(&e.outcome, e.action));
        if let Some(mta) = &e.outcome.remote_mta {
            m += &format!("Remote-MTA: dns; {}\r\n", ascii(&mta.host));
        }
        if let Some(d) = e.outcome.diagnostic_code() {
            m += &format!("Diagnostic-Code: {}\r\n", ascii(&d));
        }
        m += &format!("Last-Attempt-Date: {}\r\n", rfc5322_date(r.now));
        if let Some(until) = r.retry_until {
            m += &format!("Will-Retry-Until: {}\r\n", rfc5322_date(until));
        }
    }
    // The original as quoted, with CRLF line ends only (an old queue file may hold bare ones,
    // and the header/body split needs them too).
    let original = crate::proto::smtp::lineends::canonical(r.original);
    // RFC 3461 §4.3: the full message only ever comes back in a failure report; never for a
    // REQUIRETLS message, whatever RET says (RFC 8689 §5: the report may travel without TLS).
    let headers_only = r.kind != Kind::Failure
        || r.envelope.requiretls
        || r.envelope
            .dsn_ret
            .as_deref()
            .is_some_and(|v| v.eq_ignore_ascii_case("HDRS"))
        || original.len() > FULL_RETURN_LIMIT;
    let (ctype, part) = if headers_only {
        let headers = original.get(..header_end(&original)).unwrap_or(&original);
        ("text/rfc822-headers", headers)
    } else {
        ("message/rfc822", &original[..])
    };
    m += &format!("\r\n--{boundary}\r\nContent-Type: {ctype}\r\n\r\n");
    let mut bytes = m.into_bytes();
    bytes.extend_from_slice(part);
    if !bytes.ends_with(b"\r\n") {
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    bytes
}

/// Keep report fields to printable ASCII on one line.
fn ascii(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '?'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rcpt(addr: &str, notify: Option<&str>) -> Recipient {
        let mut r = Recipient::new(addr);
        r.notify = notify.map(str::to_string);
        r
    }

    #[test]
    fn notify_rules() {
        assert!(wants(&rcpt("a@x.test", None), Kind::Failure));
        assert!(wants(&rcpt("a@x.test", None), Kind::Delay));
        assert!(!wants(&rcpt("a@x.test", None), Kind::Success));
        assert!(!wants(&rcpt("a@x.test", Some("FAILURE")), Kind::Delay));
        assert!(wants(&rcpt("a@x.test", Some("SUCCESS")), Kind::Success));
        for kind in [Kind::Failure, Kind::Delay, Kind::Success] {
            assert!(!wants(&rcpt("a@x.test", Some("NEVER")), kind));
        }
        assert!(wants(&rcpt("a@x.test", Some("SUCCESS,DELAY")), Kind::Delay));
        assert!(!wants(
            &rcpt("a@x.test", Some("SUCCESS,DELAY")),
            Kind::Failure
        ));
    }

    fn outcome(reason: &str, class: Class) -> Outcome {
        Outcome::from_legacy(reason, class)
    }

    #[test]
    fn status_agrees_with_the_action() {
        let r = outcome(
            "550 5.1.1 <b@x.test>: user unknown (at mx.x.test[127.0.0.1]:25)",
            Class::Permanent,
        );
        assert_eq!(status_of(&r, Action::Failed).to_string(), "5.1.1");
        assert_eq!(
            r.diagnostic_code().as_deref(),
            Some("smtp; 550 5.1.1 <b@x.test>: user unknown")
        );
        let expired = outcome("4.4.7 message expired", Class::Transient);
        assert_eq!(status_of(&expired, Action::Failed).to_string(), "5.4.7");
        let refused = outcome("connection refused", Class::Transient);
        assert_eq!(status_of(&refused, Action::Delayed).to_string(), "4.0.0");
        let queued = outcome("250 2.6.0 queued as X", Class::Success);
        assert_eq!(status_of(&queued, Action::Relayed).to_string(), "2.6.0");
        let delivered = outcome("delivered to mailbox", Class::Success);
        assert_eq!(
            status_of(&delivered, Action::Delivered).to_string(),
            "2.0.0"
        );
        let nx = outcome("5.1.2 domain does not exist", Class::Permanent);
        assert_eq!(nx.diagnostic_code(), None);
    }

    #[test]
    fn report_parses_as_multipart_report() {
        let id = QueueId::generate();
        let env = Envelope {
            sender: "s@here.test".into(),
            recipients: vec![rcpt("b@x.test", None)],
            received: 1_700_000_000,
            origin: Origin::Smtp,
            client: None,
            helo: None,
            trusted: true,
            auth_user: None,
            size: 10,
            smtputf8: false,
            dsn_ret: Some("HDRS".into()),
            dsn_envid: Some("E1".into()),
            quarantine: None,
            requiretls: false,
        };
        let reason = outcome(
            "550 5.1.1 unknown (at mx.x.test[127.0.0.1]:25)",
            Class::Permanent,
        );
        let mut with_orcpt = env.recipients[0].clone();
        with_orcpt.orcpt = Some("rfc822;B@x.test".into());
        let bytes = render(&Report {
            kind: Kind::Failure,
            reporting_mta: "mail.here.test",
            postmaster: "postmaster@here.test",
            id: &id,
            envelope: &env,
            entries: vec![Entry {
                recipient: &with_orcpt,
                action: Action::Failed,
                outcome: reason.clone(),
            }],
            original: b"Subject: hi\r\n\r\nsecret body\r\n",
            now: 1_700_000_100,
            retry_until: None,
        });
        let mail = mailparse::parse_mail(&bytes).expect("parse");
        assert_eq!(mail.ctype.mimetype, "multipart/report");
        assert_eq!(mail.subparts.len(), 3);
        assert_eq!(mail.subparts[1].ctype.mimetype, "message/delivery-status");
        let status =
            String::from_utf8_lossy(mail.subparts[1].get_body_raw().expect("raw").as_slice())
                .to_string();
        for want in [
            "Reporting-MTA: dns; mail.here.test",
            "Original-Envelope-Id: E1",
            "Final-Recipient: rfc822; b@x.test",
            "Original-Recipient: rfc822;B@x.test",
            "Action: failed",
            "Status: 5.1.1",
            "Remote-MTA: dns; mx.x.test",
            "Diagnostic-Code: smtp; 550 5.1.1 unknown",
        ] {
            assert!(status.contains(want), "{want} missing in\n{status}");
        }
        assert_eq!(mail.subparts[2].ctype.mimetype, "text/rfc822-headers");
        assert!(!String::from_utf8_lossy(&bytes).contains("secret body"));
        // An original with bare line ends is quoted with CRLF only, and still split right.
        let smuggling = b"Subject: hi\n\nsecret body\r\n\n.\nMAIL FROM:<ceo@here.test>\r\n";
        // A REQUIRETLS message comes back as headers only, even with RET=FULL (RFC 8689 §5).
        for (ret, requiretls) in [
            (Some("HDRS"), false),
            (None, false),
            (Some("FULL"), false),
            (Some("FULL"), true),
            (None, true),
        ] {
            let env = Envelope {
                dsn_ret: ret.map(String::from),
                requiretls,
                ..env.clone()
            };
            let bytes = render(&Report {
                kind: Kind::Failure,
                reporting_mta: "mail.here.test",
                postmaster: "postmaster@here.test",
                id: &id,
                envelope: &env,
                entries: vec![Entry {
                    recipient: &with_orcpt,
                    action: Action::Failed,
                    outcome: reason.clone(),
                }],
                original: smuggling,
                now: 1_700_000_100,
                retry_until: None,
            });
            assert!(
                crate::proto::smtp::lineends::is_canonical(&bytes),
                "{ret:?}"
            );
            let text = String::from_utf8_lossy(&bytes);
            let full = ret != Some("HDRS") && !requiretls;
            assert_eq!(
                text.contains("secret body"),
                full,
                "{ret:?} {requiretls}\n{text}"
            );
            assert!(text.contains("Subject: hi"), "{text}");
        }
    }
}
