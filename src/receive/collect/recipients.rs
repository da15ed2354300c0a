//! Who a collected message is for: addresses from its headers (To, Cc and the envelope headers
//! catch-all providers add), sorted by routing into recipients, loops, and the unrecognised —
//! per the account's delivery mode (seed 000 "POP Collection"). Pure: routing is passed in.

use crate::config::collect::CollectMode;
use crate::queue::routing::{NoRoute, Route};

/// Headers whose addresses are candidate recipients. The envelope headers come first: they name
/// the real envelope recipient, Bcc included.
pub const RECIPIENT_HEADERS: [&str; 6] = [
    "delivered-to",
    "x-original-to",
    "envelope-to",
    "x-envelope-to",
    "to",
    "cc",
];

/// Addresses read from one header section at most.
const MAX_ADDRESSES: usize = 1000;

/// The header section of a message (up to and including the blank line, or all of it).
pub fn header_section(message: &[u8]) -> &[u8] {
    let mut pos = 0;
    for line in message.split_inclusive(|&b| b == b'\n') {
        pos += line.len();
        if line == b"\r\n" || line == b"\n" {
            break;
        }
    }
    message.get(..pos).unwrap_or(message)
}

/// Candidate addresses in [`RECIPIENT_HEADERS`], each once (compared without case).
pub fn header_addresses(message: &[u8]) -> Vec<String> {
    let Ok((headers, _)) = mailparse::parse_headers(header_section(message)) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for name in RECIPIENT_HEADERS {
        for h in headers
            .iter()
            .filter(|h| h.get_key_ref().eq_ignore_ascii_case(name))
        {
            let mut found = Vec::new();
            match mailparse::addrparse_header(h) {
                Ok(list) => {
                    for addr in list.iter() {
                        match addr {
                            mailparse::MailAddr::Single(s) => found.push(s.addr.clone()),
                            mailparse::MailAddr::Group(g) => {
                                found.extend(g.addrs.iter().map(|s| s.addr.clone()))
                            }
                        }
                    }
                }
                Err(_) => found.extend(
                    h.get_value()
                        .split(',')
                        .map(|a| a.trim().trim_matches(['<', '>']).to_string()),
                ),
            }
            for a in found {
                let a = a.trim().to_string();
                let usable = a.contains('@')
                    && a.len() <= 254
                    && !a.bytes().any(|b| b.is_ascii_control() || b == b' ');
                if usable && !out.iter().any(|o| o.eq_ignore_ascii_case(&a)) {
                    out.push(a);
                }
                if out.len() >= MAX_ADDRESSES {
                    return out;
                }
            }
        }
    }
    out
}

/// The envelope sender for a collected message: its `Return-Path`, else the null sender (so a
/// message that cannot be delivered here never bounces to an address nobody gave us).
pub fn envelope_sender(message: &[u8]) -> String {
    let Ok((headers, _)) = mailparse::parse_headers(header_section(message)) else {
        return String::new();
    };
    headers
        .iter()
        .find(|h| h.get_key_ref().eq_ignore_ascii_case("return-path"))
        .map(|h| {
            h.get_value()
                .trim()
                .trim_matches(['<', '>'])
                .trim()
                .to_string()
        })
        .filter(|a| crate::proto::smtp::address::check_mailbox(a, true).is_ok())
        .unwrap_or_default()
}

/// The addresses of the `Delivered-To` fields of `message`'s header section, lower-cased.
pub fn delivered_to(message: &[u8]) -> Vec<String> {
    let head = message.get(..1024 * 1024).unwrap_or(message);
    let mut out = Vec::new();
    for line in head.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if let Some(v) = line
            .get(..13)
            .filter(|n| n.eq_ignore_ascii_case(b"delivered-to:"))
            .and_then(|_| line.get(13..))
        {
            let v = String::from_utf8_lossy(v);
            out.push(
                v.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_ascii_lowercase(),
            );
        }
    }
    out
}

/// Whether `message`'s header section has a `Received:` field this server (`hostname`) wrote:
/// it passed through here before.
pub fn passed_here(message: &[u8], hostname: &str) -> bool {
    let head = message.get(..1024 * 1024).unwrap_or(message);
    let end = head
        .windows(2)
        .position(|w| w == b"\n\n")
        .or_else(|| head.windows(4).position(|w| w == b"\r\n\r\n"))
        .unwrap_or(head.len());
    let text = String::from_utf8_lossy(head.get(..end).unwrap_or(head));
    let mark = format!("by {} (postern", hostname.to_ascii_lowercase());
    text.to_ascii_lowercase().contains(&mark)
}

/// Where one collected message goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolution {
    /// Envelope recipients for the queue.
    pub recipients: Vec<String>,
    /// Addresses that would be forwarded back to the server the message came from.
    pub loops: Vec<String>,
    /// Addresses in a domain hosted here with no mailbox.
    pub unknown: Vec<String>,
    /// Addresses left out by the mode (other domains; forwards in mode `local`).
    pub ignored: Vec<String>,
}

/// Sort `addresses` by `route` according to `mode`. A remote route for the very address found in
/// the message is a loop: that is where the message was just collected from (the seed's warning
/// about domains "hosted on another server").
pub fn resolve(
    addresses: &[String],
    mode: CollectMode,
    catch_all: Option<&str>,
    route: impl Fn(&str) -> Result<Route, NoRoute>,
) -> Resolution {
    let mut r = Resolution::default();
    for a in addresses {
        match route(a) {
            Ok(Route::Local { .. } | Route::Alias { .. }) => r.recipients.push(a.clone()),
            Ok(Route::Remote { address, .. }) if address.eq_ignore_ascii_case(a) => {
                r.loops.push(a.clone())
            }
            Ok(Route::Remote { .. }) if mode != CollectMode::Local => r.recipients.push(a.clone()),
            Ok(Route::Remote { .. }) => r.ignored.push(a.clone()),
            Err(NoRoute::NoSuchUser) => r.unknown.push(a.clone()),
            Err(NoRoute::NotOurs { .. }) | Err(NoRoute::Malformed) => r.ignored.push(a.clone()),
            Err(NoRoute::Loop) => r.loops.push(a.clone()),
        }
    }
    if mode == CollectMode::CatchAll && (r.recipients.is_empty() || !r.unknown.is_empty()) {
        if let Some(c) = catch_all {
            let looping = matches!(route(c), Ok(Route::Remote { ref address, .. }) if address.eq_ignore_ascii_case(c));
            if looping {
                r.loops.push(c.to_string());
            } else if !r.recipients.iter().any(|x| x.eq_ignore_ascii_case(c)) {
                r.recipients.push(c.to_string());
            }
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"Return-Path: <sender@far.test>\r\nDelivered-To: bcc@example.test\r\nTo: Bob <bob@example.test>, \"Jim\" <JIM@example.test>\r\nCc: friend@far.test, undisclosed:;\r\nX-Original-To: jim@example.test\r\nSubject: hi\r\n\r\nTo: body@example.test\r\n";

    /// Seed scenario 3: example.test hosted here with bob, jim and admin; branch.test hosted on
    /// another server (the ISP); far.test somebody else's.
    fn route(a: &str) -> Result<Route, NoRoute> {
        let (local, domain) = a.rsplit_once('@').ok_or(NoRoute::Malformed)?;
        match domain.to_ascii_lowercase().as_str() {
            "example.test" => match local.to_ascii_lowercase().as_str() {
                u @ ("bob" | "jim" | "admin") => Ok(Route::Local { user: u.into() }),
                "fwd" => Ok(Route::Remote {
                    address: "fwd@elsewhere.test".into(),
                    domain: "elsewhere.test".into(),
                    server: None,
                }),
                _ => Err(NoRoute::NoSuchUser),
            },
            "branch.test" => Ok(Route::Remote {
                address: a.into(),
                domain: "branch.test".into(),
                server: None,
            }),
            d => Err(NoRoute::NotOurs { domain: d.into() }),
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn extraction_reads_envelope_headers_and_to_cc_only() {
        assert_eq!(
            header_addresses(MSG),
            strings(&[
                "bcc@example.test",
                "jim@example.test",
                "bob@example.test",
                "friend@far.test"
            ])
        );
        assert_eq!(envelope_sender(MSG), "sender@far.test");
        assert_eq!(envelope_sender(b"Return-Path: <>\r\n\r\n"), "");
        assert!(header_addresses(b"no headers at all, \xff garbage\n").is_empty());
    }

    #[test]
    fn envelope_headers_come_first_in_any_spelling() {
        type Case<'a> = (&'a [u8], &'a [&'a str]);
        let cases: &[Case] = &[
            // Exim's Envelope-To: a comma-separated list of envelope recipients.
            (
                b"To: list@far.test\r\nEnvelope-To: jim@example.test, bob@example.test\r\n\r\n",
                &["jim@example.test", "bob@example.test", "list@far.test"],
            ),
            // X-Envelope-To in angle brackets, lower case, folded onto a second line.
            (
                b"to: list@far.test\nx-envelope-to:\n <bob@example.test>\n\n",
                &["bob@example.test", "list@far.test"],
            ),
            // Both, repeated and in different cases: each address once, Envelope-To's first.
            (
                b"X-Envelope-To: BOB@example.test\nEnvelope-To: jim@example.test\nENVELOPE-TO: bob@example.test\nTo: bob@example.test\n\n",
                &["jim@example.test", "bob@example.test"],
            ),
            // Not an address: ignored; in the body: not a header.
            (
                b"Envelope-To: undisclosed\nSubject: s\n\nX-Envelope-To: body@example.test\n",
                &[],
            ),
        ];
        for (message, want) in cases {
            assert_eq!(
                header_addresses(message),
                strings(want),
                "{}",
                String::from_utf8_lossy(message)
            );
        }
    }

    #[test]
    fn delivery_modes_scenario_3() {
        let catch = Some("admin@example.test");
        type Case<'a> = (&'a [&'a str], CollectMode, &'a [&'a str], &'a [&'a str]);
        let cases: &[Case] = &[
            // Deliver to every recognised To/Cc address.
            (
                &["bob@example.test", "friend@far.test"],
                CollectMode::Recognised,
                &["bob@example.test"],
                &[],
            ),
            (
                &["fwd@example.test"],
                CollectMode::Recognised,
                &["fwd@example.test"],
                &[],
            ),
            // Only local mailboxes.
            (
                &["fwd@example.test", "jim@example.test"],
                CollectMode::Local,
                &["jim@example.test"],
                &[],
            ),
            // Unrecognised to the catch-all.
            (
                &["nobody@example.test", "bob@example.test"],
                CollectMode::CatchAll,
                &["bob@example.test", "admin@example.test"],
                &[],
            ),
            (
                &["friend@far.test"],
                CollectMode::CatchAll,
                &["admin@example.test"],
                &[],
            ),
            (
                &["bob@example.test", "friend@far.test"],
                CollectMode::CatchAll,
                &["bob@example.test"],
                &[],
            ),
            // Nothing recognised and no catch-all: nowhere.
            (&["nobody@example.test"], CollectMode::Recognised, &[], &[]),
            // Domain hosted on another server: never forwarded back (the loop).
            (
                &["anyone@branch.test"],
                CollectMode::Recognised,
                &[],
                &["anyone@branch.test"],
            ),
            (
                &["anyone@branch.test"],
                CollectMode::CatchAll,
                &["admin@example.test"],
                &["anyone@branch.test"],
            ),
        ];
        for (addrs, mode, want, loops) in cases {
            let r = resolve(&strings(addrs), *mode, catch, route);
            assert_eq!(r.recipients, strings(want), "{addrs:?} {mode:?}");
            assert_eq!(r.loops, strings(loops), "{addrs:?} {mode:?}");
        }
        let r = resolve(
            &strings(&["x@far.test"]),
            CollectMode::CatchAll,
            Some("ca@branch.test"),
            route,
        );
        assert_eq!(
            (r.recipients.len(), r.loops),
            (0, strings(&["ca@branch.test"]))
        );
    }
}
