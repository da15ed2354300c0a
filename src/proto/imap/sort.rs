//! SORT (RFC 5256 §2–3, with RFC 5957's DISPLAYFROM / DISPLAYTO): what a sort needs of each
//! message ([`SortFields`], taken once from its header), the base subject (§2.1), and the
//! ordering of messages by a list of sort criteria, ties broken by sequence number (§3).

use std::cmp::Ordering;

use super::datetime::DateTime;
use super::envelope::{parse_address_list, Address};
use super::message::header_fields;

/// One sort key of a SORT command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// `ARRIVAL`: the internal date.
    Arrival,
    /// `CC`: the mailbox (local part) of the first Cc address.
    Cc,
    /// `DATE`: the sent date (`Date:`, in UTC), the internal date when it has none.
    Date,
    /// `FROM`: the mailbox (local part) of the first From address.
    From,
    /// `SIZE`: RFC822.SIZE.
    Size,
    /// `SUBJECT`: the base subject.
    Subject,
    /// `TO`: the mailbox (local part) of the first To address.
    To,
    /// `DISPLAYFROM` (RFC 5957): the display name of the first From address, else its address.
    DisplayFrom,
    /// `DISPLAYTO` (RFC 5957): the same for To.
    DisplayTo,
}

impl SortKey {
    /// The key named `word` (upper case), if any.
    pub fn parse(word: &str) -> Option<SortKey> {
        Some(match word {
            "ARRIVAL" => SortKey::Arrival,
            "CC" => SortKey::Cc,
            "DATE" => SortKey::Date,
            "FROM" => SortKey::From,
            "SIZE" => SortKey::Size,
            "SUBJECT" => SortKey::Subject,
            "TO" => SortKey::To,
            "DISPLAYFROM" => SortKey::DisplayFrom,
            "DISPLAYTO" => SortKey::DisplayTo,
            _ => return None,
        })
    }
}

/// One sort criterion: a key, possibly reversed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortCriterion {
    /// `REVERSE` before the key.
    pub reverse: bool,
    /// The key.
    pub key: SortKey,
}

/// What SORT and THREAD need of one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SortFields {
    /// Sequence number (the final tie-break) — or whatever number the caller reports.
    pub seq: u32,
    /// The number reported for it (sequence number or UID).
    pub number: u32,
    /// Internal date, seconds since the epoch.
    pub arrival: i64,
    /// Sent date in seconds since the epoch (the internal date when `Date:` is missing or bad).
    pub date: i64,
    /// RFC822.SIZE.
    pub size: u64,
    /// The base subject, upper-cased for comparison (i;ascii-casemap).
    pub subject: String,
    /// Whether the subject was a reply or forward (`Re:`, `Fwd:`, `(fwd)` removed).
    pub reply: bool,
    /// First From, To, Cc mailboxes (upper-cased).
    pub from: String,
    /// See `from`.
    pub to: String,
    /// See `from`.
    pub cc: String,
    /// RFC 5957 display forms (upper-cased).
    pub display_from: String,
    /// See `display_from`.
    pub display_to: String,
    /// `Message-ID:` (its first `<…>`), if any.
    pub message_id: Option<String>,
    /// `References:` ids in order, else the first id of `In-Reply-To:`.
    pub references: Vec<String>,
}

/// Most message ids taken from one References field.
const MAX_REFERENCES: usize = 256;

impl SortFields {
    /// The fields of a message from its header block.
    pub fn from_header(seq: u32, number: u32, header: &[u8], arrival: i64, size: u64) -> Self {
        let fields = header_fields(header);
        let raw = |name: &str| fields.iter().find(|f| f.is(name));
        let decoded = |name: &str| raw(name).map(|f| decode(f.raw)).unwrap_or_default();
        let first = |name: &str| {
            raw(name)
                .map(|f| parse_address_list(&f.value()))
                .unwrap_or_default()
                .into_iter()
                .find(|a| a.host.is_some())
        };
        let date = raw("Date")
            .and_then(|f| DateTime::parse_rfc5322(&String::from_utf8_lossy(&f.value())))
            .map_or(arrival, |d| d.unix());
        let (subject, reply) = base_subject(&decoded("Subject"));
        let (from, to, cc) = (first("From"), first("To"), first("Cc"));
        let mailbox = |a: &Option<Address>| {
            a.as_ref()
                .and_then(|a| a.mailbox.as_deref())
                .map(|m| String::from_utf8_lossy(m).to_ascii_uppercase())
                .unwrap_or_default()
        };
        let ids = |name: &str| {
            raw(name)
                .map(|f| message_ids(&f.value()))
                .unwrap_or_default()
        };
        let mut references = ids("References");
        if references.is_empty() {
            references = ids("In-Reply-To").into_iter().take(1).collect();
        }
        references.truncate(MAX_REFERENCES);
        SortFields {
            seq,
            number,
            arrival,
            date,
            size,
            subject: subject.to_ascii_uppercase(),
            reply,
            from: mailbox(&from),
            to: mailbox(&to),
            cc: mailbox(&cc),
            display_from: display(&from),
            display_to: display(&to),
            message_id: ids("Message-ID").into_iter().next(),
            references,
        }
    }
}

/// RFC 5957 §3: the display name (decoded) if there is one, else `mailbox@host`.
fn display(a: &Option<Address>) -> String {
    let Some(a) = a else {
        return String::new();
    };
    let name = a
        .name
        .as_deref()
        .map(|n| decode(&[b"X: ".as_slice(), n].concat()))
        .filter(|n| !n.trim().is_empty());
    let text = name.unwrap_or_else(|| {
        let mailbox = String::from_utf8_lossy(a.mailbox.as_deref().unwrap_or_default());
        match a.host.as_deref().filter(|h| !h.is_empty()) {
            Some(h) => format!("{mailbox}@{}", String::from_utf8_lossy(h)),
            None => mailbox.into_owned(),
        }
    });
    text.to_ascii_uppercase()
}

/// A raw header line's value with encoded words decoded (lossy fallback).
fn decode(raw: &[u8]) -> String {
    match mailparse::parse_header(raw) {
        Ok((header, _)) => header.get_value(),
        Err(_) => String::from_utf8_lossy(raw).into_owned(),
    }
}

/// The `<…>` message ids in a header value, in order (without the brackets' contents'
/// whitespace).
pub fn message_ids(value: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(value);
    let mut out = Vec::new();
    let mut rest = text.as_ref();
    while let Some(start) = rest.find('<') {
        let after = rest.get(start + 1..).unwrap_or_default();
        let Some(end) = after.find('>') else { break };
        let id: String = after
            .get(..end)
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if !id.is_empty() {
            out.push(id);
        }
        rest = after.get(end + 1..).unwrap_or_default();
        if out.len() > MAX_REFERENCES * 4 {
            break;
        }
    }
    out
}

/// RFC 5256 §2.1: the base subject of a (decoded) subject, and whether it was a reply or a
/// forward (a `Re:`/`Fw:`/`Fwd:` leader, a `(fwd)` trailer or a `[fwd: …]` wrapper removed).
pub fn base_subject(subject: &str) -> (String, bool) {
    // (1) Whitespace runs become one space.
    let mut s = subject.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut reply = false;
    loop {
        // (2) Trailing "(fwd)" and whitespace.
        loop {
            let trimmed = s.trim_end();
            let lower = trimmed.to_ascii_lowercase();
            if lower.ends_with("(fwd)") {
                s = trimmed
                    .get(..trimmed.len() - 5)
                    .unwrap_or_default()
                    .to_string();
                reply = true;
            } else {
                s = trimmed.to_string();
                break;
            }
        }
        // (3)–(5) Leading subj-leader and subj-blob, until neither goes.
        loop {
            let before = s.clone();
            s = s.trim_start().to_string();
            if let Some(rest) = strip_refwd(&s) {
                s = rest;
                reply = true;
            }
            if let Some(rest) = strip_blob(&s) {
                // A blob goes only if something is left.
                if !rest.trim().is_empty() {
                    s = rest;
                }
            }
            if s == before {
                break;
            }
        }
        // (6) "[fwd: …]".
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("[fwd:") && s.ends_with(']') {
            s = s.get(5..s.len() - 1).unwrap_or_default().to_string();
            reply = true;
            continue;
        }
        break;
    }
    (s, reply)
}

/// A `subj-blob`: `[` anything but brackets `]` and whitespace; what follows it, if there is one.
fn strip_blob(s: &str) -> Option<String> {
    let rest = s.strip_prefix('[')?;
    let end = rest.find(['[', ']'])?;
    if rest.get(end..end + 1) != Some("]") {
        return None;
    }
    Some(rest.get(end + 1..)?.trim_start().to_string())
}

/// `subj-refwd`: `re` / `fw` / `fwd`, whitespace, optional blobs, `:`; what follows it.
fn strip_refwd(s: &str) -> Option<String> {
    let lower = s.to_ascii_lowercase();
    let skip = ["fwd", "fw", "re"]
        .iter()
        .find(|p| lower.starts_with(*p))
        .map(|p| p.len())?;
    let mut rest = s.get(skip..)?.trim_start().to_string();
    while let Some(after) = strip_blob(&rest) {
        rest = after;
    }
    Some(rest.strip_prefix(':')?.to_string())
}

/// Orders two messages by the criteria, then by sequence number (RFC 5256 §3).
pub fn compare(a: &SortFields, b: &SortFields, criteria: &[SortCriterion]) -> Ordering {
    for c in criteria {
        let o = match c.key {
            SortKey::Arrival => a.arrival.cmp(&b.arrival),
            SortKey::Cc => a.cc.cmp(&b.cc),
            SortKey::Date => a.date.cmp(&b.date),
            SortKey::From => a.from.cmp(&b.from),
            SortKey::Size => a.size.cmp(&b.size),
            SortKey::Subject => a.subject.cmp(&b.subject),
            SortKey::To => a.to.cmp(&b.to),
            SortKey::DisplayFrom => a.display_from.cmp(&b.display_from),
            SortKey::DisplayTo => a.display_to.cmp(&b.display_to),
        };
        let o = if c.reverse { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.seq.cmp(&b.seq)
}

/// Sorts messages by the criteria; returns their numbers in order.
pub fn sort(mut messages: Vec<SortFields>, criteria: &[SortCriterion]) -> Vec<u32> {
    messages.sort_by(|a, b| compare(a, b, criteria));
    messages.into_iter().map(|m| m.number).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_subjects() {
        let cases = [
            ("Hello", "Hello", false),
            ("Re: Hello", "Hello", true),
            ("RE:   Re: re:Hello  ", "Hello", true),
            ("Fwd: Hello (fwd)", "Hello", true),
            ("[list] Re: [other] Hello", "Hello", true),
            ("Re [list]: Hello", "Hello", true),
            ("[fwd: Re: Hello]", "Hello", true),
            ("[only blob]", "[only blob]", false),
            ("  spaced \t  out  ", "spaced out", false),
            ("Re:", "", true),
            ("Fw: x", "x", true),
            ("Reply to all", "Reply to all", false),
        ];
        for (input, want, reply) in cases {
            assert_eq!(base_subject(input), (want.to_string(), reply), "{input}");
        }
    }

    fn fields(seq: u32, header: &str, arrival: i64, size: u64) -> SortFields {
        SortFields::from_header(seq, seq, header.as_bytes(), arrival, size)
    }

    #[test]
    fn fields_from_a_header() {
        let f = fields(
            1,
            "From: \"Zed\" <alpha@x.example>\r\nTo: bob@y.example (Bob B)\r\n\
Cc: carol@z\r\nSubject: =?utf-8?q?Re=3A_caf=C3=A9?=\r\nDate: Thu, 1 Jan 1970 01:00:00 +0100\r\n\
Message-ID: <id-1@x>\r\nReferences: <a@x> <b@x>\r\nIn-Reply-To: <b@x>\r\n\r\n",
            500,
            10,
        );
        assert_eq!(f.from, "ALPHA");
        assert_eq!(f.display_from, "ZED");
        assert_eq!(f.to, "BOB");
        assert_eq!(f.display_to, "BOB B");
        assert_eq!(f.cc, "CAROL");
        assert_eq!(f.date, 0);
        assert_eq!((f.subject.as_str(), f.reply), ("CAFé", true));
        assert_eq!(f.message_id.as_deref(), Some("id-1@x"));
        assert_eq!(f.references, vec!["a@x", "b@x"]);
        let bare = fields(2, "In-Reply-To: <q@x> <r@x>\r\nDate: junk\r\n\r\n", 77, 1);
        assert_eq!(bare.references, vec!["q@x"]);
        assert_eq!(bare.date, 77, "a bad Date: sorts by arrival");
        assert_eq!(bare.display_from, "");
    }

    #[test]
    fn sorting_by_criteria_with_ties_by_sequence() {
        let msgs = vec![
            fields(1, "Subject: b\r\nFrom: z@x\r\n\r\n", 30, 300),
            fields(2, "Subject: Re: a\r\nFrom: y@x\r\n\r\n", 10, 100),
            fields(3, "Subject: a\r\nFrom: y@x\r\n\r\n", 20, 100),
            fields(4, "Subject: c\r\nFrom: \"A\" <w@x>\r\n\r\n", 20, 200),
        ];
        let c = |reverse, key| SortCriterion { reverse, key };
        let run = |crit: &[SortCriterion]| sort(msgs.clone(), crit);
        assert_eq!(run(&[c(false, SortKey::Arrival)]), vec![2, 3, 4, 1]);
        assert_eq!(run(&[c(true, SortKey::Arrival)]), vec![1, 3, 4, 2]);
        assert_eq!(run(&[c(false, SortKey::Subject)]), vec![2, 3, 1, 4]);
        assert_eq!(
            run(&[c(false, SortKey::Size), c(true, SortKey::Subject)]),
            vec![2, 3, 4, 1]
        );
        assert_eq!(run(&[c(false, SortKey::From)]), vec![4, 2, 3, 1]);
        assert_eq!(run(&[c(false, SortKey::DisplayFrom)]), vec![4, 2, 3, 1]);
        assert_eq!(run(&[c(true, SortKey::Date)]), vec![1, 3, 4, 2]);
    }
}
