//! Vacation auto-replies (RFC 5230, RFC 6131) through the queue, with RFC 3834's manners: never
//! to `<>`, to a list, to Auto-Submitted mail, to a mailer daemon, to mail not addressed to the
//! user, nor to the user's own addresses; at most once per (sender, handle) within the period,
//! tracked durably per user ([`crate::store::sieve::tracking`]). The reply goes from `<>` with
//! `Auto-Submitted: auto-replied`, `In-Reply-To` and `References`, and the subject `Auto: …`
//! unless the script gave one.

use std::path::Path;

use base64::prelude::{Engine as _, BASE64_STANDARD};
use mailparse::MailHeaderMap as _;

use super::Deliverer;
use crate::events::event;
use crate::proto::sieve::Vacation;
use crate::queue::spool::QueueId;
use crate::store::sieve::tracking::{Kind, Tracker};

/// The delivery a vacation answers.
#[derive(Clone, Copy)]
pub struct Recipient<'a> {
    pub id: &'a QueueId,
    pub user: &'a str,
    /// The user's maildir (where the replies sent are recorded).
    pub maildir: &'a Path,
    /// The envelope sender (whom the reply goes to).
    pub sender: &'a str,
    /// The address delivered to.
    pub address: &'a str,
    /// The addresses the message was sent to before that one (an alias of ours, the client's
    /// ORCPT: [`super::sieve::original_recipients`]).
    pub original: &'a [String],
}

/// The user's own addresses (RFC 5230 §4.5): the address delivered to and the original
/// recipients (each also without its `+detail`), the user at every domain hosted here, and the
/// script's `:addresses`.
fn own_addresses(
    d: &Deliverer,
    user: &str,
    address: &str,
    original: &[String],
    v: &Vacation,
) -> Vec<String> {
    let mut own = vec![address.to_string()];
    own.extend(original.iter().cloned());
    let delim = &d.config.addresses.recipient_delimiter;
    for a in std::iter::once(address).chain(original.iter().map(String::as_str)) {
        if let (Some((local, domain)), false) = (a.rsplit_once('@'), delim.is_empty()) {
            if let Some((base, _)) = local.split_once(delim.as_str()) {
                own.push(format!("{base}@{domain}"));
            }
        }
    }
    for dom in &d.config.domains {
        if d.config.is_hosted_here(&dom.name) {
            own.push(format!("{user}@{}", dom.name));
        }
    }
    own.extend(v.addresses.iter().cloned());
    own
}

/// Whether to answer, and if so the reply's bytes; `Err`: why not (for the log).
pub fn vacation(d: &Deliverer, r: &Recipient<'_>, message: &[u8], v: &Vacation) {
    let Recipient {
        id,
        user,
        maildir,
        sender,
        address,
        original,
    } = *r;
    let skipped = |why: &str| {
        event("sieve_vacation_skipped")
            .field("id", id)
            .field("user", user)
            .field("to", sender)
            .field("reason", why)
            .emit();
    };
    let own = own_addresses(d, user, address, original, v);
    if let Err(why) = crate::proto::sieve::vacation::should_reply(message, sender, &own) {
        return skipped(&why.to_string());
    }
    if own.iter().any(|a| a.eq_ignore_ascii_case(sender)) {
        return skipped("the sender is the user");
    }
    let now = crate::queue::spool::now();
    let period = d.config.sieve.vacation_period(v.period_seconds);
    let tracker = Tracker::new(maildir, Kind::Vacation);
    let key = format!("{}\0{}", sender.to_ascii_lowercase(), v.handle);
    if tracker.seen(&key, now) {
        return skipped("already answered within the period");
    }
    // Recorded first: a crash between the two loses one reply rather than sending two.
    if let Err(e) = tracker.record(&key, now.saturating_add(period)) {
        return skipped(&format!("cannot record the reply: {e}"));
    }
    let data = render(d, address, sender, message, v, now);
    let sub = crate::intake::Submission {
        origin: crate::intake::Origin::Notification,
        sender: String::new(),
        recipients: vec![crate::queue::spool::Recipient::new(sender)],
        data,
    };
    super::sieve::queue(d, sub, id, "sieve_vacation_sent", sender);
}

/// A header value without line ends or other control characters.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// An unstructured header value: as it is when ASCII, else RFC 2047 encoded words.
fn encoded(s: &str) -> String {
    let s = clean(s);
    if s.is_ascii() {
        return s;
    }
    // Encoded words of at most 45 input bytes (60 base64 characters), split on characters.
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in s.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(chunk);
    }
    words
        .iter()
        .map(|w| format!("=?UTF-8?B?{}?=", BASE64_STANDARD.encode(w.as_bytes())))
        .collect::<Vec<_>>()
        .join("\r\n ")
}

/// The reply message.
fn render(
    d: &Deliverer,
    address: &str,
    sender: &str,
    message: &[u8],
    v: &Vacation,
    now: u64,
) -> Vec<u8> {
    let (headers, _) = mailparse::parse_headers(message).unwrap_or_default();
    let subject = match &v.subject {
        Some(s) => s.clone(),
        None => {
            let orig = headers.get_first_value("Subject").unwrap_or_default();
            format!("Auto: {}", orig.trim())
        }
    };
    let from = v.from.clone().unwrap_or_else(|| address.to_string());
    let msgid = headers
        .get_first_value("Message-ID")
        .map(|m| clean(m.trim()))
        .filter(|m| m.starts_with('<') && m.ends_with('>'));
    let references = headers
        .get_first_value("References")
        .map(|r| clean(r.trim()))
        .filter(|r| !r.is_empty());
    let mut random = [0u8; 12];
    let _ = getrandom::fill(&mut random);
    let token: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let mut h = String::new();
    h.push_str(&format!("From: {}\r\n", clean(&from)));
    h.push_str(&format!("To: <{}>\r\n", clean(sender)));
    h.push_str(&format!("Subject: {}\r\n", encoded(&subject)));
    h.push_str(&format!(
        "Date: {}\r\n",
        crate::proto::mail::date::rfc5322_date(now)
    ));
    h.push_str(&format!(
        "Message-ID: <vacation.{now}.{token}@{}>\r\n",
        d.config.server.hostname
    ));
    if let Some(m) = &msgid {
        h.push_str(&format!("In-Reply-To: {m}\r\n"));
        let refs = match &references {
            Some(r) => format!("{r} {m}"),
            None => m.clone(),
        };
        h.push_str(&format!("References: {refs}\r\n"));
    }
    h.push_str("Auto-Submitted: auto-replied (vacation)\r\n");
    h.push_str("MIME-Version: 1.0\r\n");
    let mut out = h.into_bytes();
    if v.mime {
        // The reason is a MIME entity: its own header fields, an empty line, its body.
        let entity = v.reason.replace("\r\n", "\n").replace('\n', "\r\n");
        out.extend_from_slice(entity.as_bytes());
    } else {
        out.extend_from_slice(
            b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
        );
        let body = v.reason.replace("\r\n", "\n").replace('\n', "\r\n");
        out.extend_from_slice(body.as_bytes());
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_encoded_when_not_ascii() {
        assert_eq!(encoded("Auto: hi\r\nBcc: x"), "Auto: hi  Bcc: x");
        let e = encoded("Auto: Grüße");
        assert!(e.starts_with("=?UTF-8?B?") && e.ends_with("?="), "{e}");
    }
}
