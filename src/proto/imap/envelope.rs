//! ENVELOPE (RFC 3501 §7.4.2): the header fields clients show in a message list,
//! with RFC 5322 address lists (groups, route addresses) parsed leniently.
//! Encoded words are left as they are.

use super::message::{header_fields, HeaderField};
use super::response::write_nstring;

/// Most addresses parsed from one header field.
pub const MAX_ADDRESSES: usize = 1000;

/// One address-list entry as IMAP presents it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// Display name (`addr-name`).
    pub name: Option<Vec<u8>>,
    /// Source route (`addr-adl`), e.g. `@a,@b`.
    pub route: Option<Vec<u8>>,
    /// Local part, or the group name for a group start.
    pub mailbox: Option<Vec<u8>>,
    /// Domain; `None` only for group start/end markers.
    pub host: Option<Vec<u8>>,
}

impl Address {
    fn group_start(name: Vec<u8>) -> Self {
        Address {
            name: None,
            route: None,
            mailbox: Some(name),
            host: None,
        }
    }

    fn group_end() -> Self {
        Address {
            name: None,
            route: None,
            mailbox: None,
            host: None,
        }
    }

    /// Writes `(name adl mailbox host)`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.push(b'(');
        write_nstring(out, self.name.as_deref());
        out.push(b' ');
        write_nstring(out, self.route.as_deref());
        out.push(b' ');
        write_nstring(out, self.mailbox.as_deref());
        out.push(b' ');
        write_nstring(out, self.host.as_deref());
        out.push(b')');
    }
}

/// The ENVELOPE of one message (or embedded message).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    /// `Date:` as written.
    pub date: Option<Vec<u8>>,
    /// `Subject:` as written (unfolded).
    pub subject: Option<Vec<u8>>,
    /// `From:`
    pub from: Vec<Address>,
    /// `Sender:` (defaults to From)
    pub sender: Vec<Address>,
    /// `Reply-To:` (defaults to From)
    pub reply_to: Vec<Address>,
    /// `To:`
    pub to: Vec<Address>,
    /// `Cc:`
    pub cc: Vec<Address>,
    /// `Bcc:`
    pub bcc: Vec<Address>,
    /// `In-Reply-To:`
    pub in_reply_to: Option<Vec<u8>>,
    /// `Message-ID:`
    pub message_id: Option<Vec<u8>>,
}

impl Envelope {
    /// Builds the envelope from a header block.
    pub fn from_header(header: &[u8]) -> Self {
        let fields = header_fields(header);
        let first = |name: &str| fields.iter().find(|f| f.is(name)).map(HeaderField::value);
        let addresses = |name: &str| {
            fields
                .iter()
                .find(|f| f.is(name))
                .map(|f| parse_address_list(&f.value()))
                .unwrap_or_default()
        };
        let from = addresses("From");
        let mut sender = addresses("Sender");
        if sender.is_empty() {
            sender = from.clone();
        }
        let mut reply_to = addresses("Reply-To");
        if reply_to.is_empty() {
            reply_to = from.clone();
        }
        Envelope {
            date: first("Date"),
            subject: first("Subject"),
            from,
            sender,
            reply_to,
            to: addresses("To"),
            cc: addresses("Cc"),
            bcc: addresses("Bcc"),
            in_reply_to: first("In-Reply-To"),
            message_id: first("Message-ID"),
        }
    }

    /// Writes the parenthesised ENVELOPE structure.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.push(b'(');
        write_nstring(out, self.date.as_deref());
        out.push(b' ');
        write_nstring(out, self.subject.as_deref());
        for list in [
            &self.from,
            &self.sender,
            &self.reply_to,
            &self.to,
            &self.cc,
            &self.bcc,
        ] {
            out.push(b' ');
            write_address_list(out, list);
        }
        out.push(b' ');
        write_nstring(out, self.in_reply_to.as_deref());
        out.push(b' ');
        write_nstring(out, self.message_id.as_deref());
        out.push(b')');
    }

    /// The rendered ENVELOPE as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }
}

fn write_address_list(out: &mut Vec<u8>, list: &[Address]) {
    if list.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for a in list {
        a.write(out);
    }
    out.push(b')');
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(Vec<u8>),
    Quoted(Vec<u8>),
    Special(u8),
    /// A comment's text (without its parentheses): the display name of `user@host (Name)`.
    Comment(Vec<u8>),
}

fn tokenize(value: &[u8]) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&b) = value.get(i) {
        if tokens.len() >= MAX_ADDRESSES * 16 {
            break;
        }
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'(' => {
                let mut depth = 0usize;
                let mut text = Vec::new();
                while let Some(&c) = value.get(i) {
                    match c {
                        b'(' => {
                            if depth > 0 {
                                text.push(c);
                            }
                            depth += 1;
                        }
                        b')' => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                i += 1;
                                break;
                            }
                            text.push(c);
                        }
                        b'\\' => {
                            i += 1;
                            text.extend(value.get(i));
                        }
                        b'\r' | b'\n' => {}
                        _ => text.push(c),
                    }
                    i += 1;
                }
                tokens.push(Token::Comment(text.trim_ascii().to_vec()));
            }
            b'"' => {
                i += 1;
                let mut s = Vec::new();
                while let Some(&c) = value.get(i) {
                    if c == b'"' {
                        break;
                    }
                    if c == b'\\' && i + 1 < value.len() {
                        i += 1;
                    }
                    s.extend(value.get(i));
                    i += 1;
                }
                i += 1;
                tokens.push(Token::Quoted(s));
            }
            b'[' => {
                let rest = value.get(i..).unwrap_or_default();
                let len = rest
                    .iter()
                    .position(|&c| c == b']')
                    .map_or(rest.len(), |p| p + 1);
                tokens.push(Token::Word(rest.get(..len).unwrap_or_default().to_vec()));
                i += len;
            }
            b'<' | b'>' | b'@' | b',' | b':' | b';' => {
                tokens.push(Token::Special(b));
                i += 1;
            }
            _ => {
                let rest = value.get(i..).unwrap_or_default();
                let len = rest
                    .iter()
                    .position(|c| b" \t\r\n()\"[<>@,:;".contains(c))
                    .unwrap_or(rest.len());
                tokens.push(Token::Word(rest.get(..len).unwrap_or_default().to_vec()));
                i += len;
            }
        }
    }
    tokens
}

/// The text of the tokens (comments left out), joined by `sep`.
fn text_of(tokens: &[Token], sep: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let words = tokens.iter().filter(|t| !matches!(t, Token::Comment(_)));
    for (i, t) in words.enumerate() {
        if i > 0 {
            out.extend_from_slice(sep);
        }
        match t {
            Token::Word(w) | Token::Quoted(w) => out.extend_from_slice(w),
            Token::Special(c) => out.push(*c),
            Token::Comment(_) => {}
        }
    }
    out
}

/// Parses an address-list header value (groups included) into IMAP addresses.
pub fn parse_address_list(value: &[u8]) -> Vec<Address> {
    let tokens = tokenize(value);
    let mut out = Vec::new();
    let mut i = 0;
    let mut in_group = false;
    while i < tokens.len() && out.len() < MAX_ADDRESSES {
        // One mailbox or group start: tokens up to ',' / ';' / ':' outside <>.
        let start = i;
        let mut angle = false;
        while let Some(t) = tokens.get(i) {
            match t {
                Token::Special(b'<') => angle = true,
                Token::Special(b'>') => angle = false,
                Token::Special(b',') | Token::Special(b';') if !angle => break,
                Token::Special(b':') if !angle && !in_group => break,
                _ => {}
            }
            i += 1;
        }
        let chunk = tokens.get(start..i).unwrap_or_default();
        match tokens.get(i) {
            Some(Token::Special(b':')) => {
                out.push(Address::group_start(text_of(chunk, b" ")));
                in_group = true;
                i += 1;
                continue;
            }
            Some(Token::Special(b';')) => {
                if let Some(a) = mailbox(chunk) {
                    out.push(a);
                }
                if in_group {
                    out.push(Address::group_end());
                    in_group = false;
                }
            }
            _ => {
                if let Some(a) = mailbox(chunk) {
                    out.push(a);
                }
            }
        }
        i += 1;
    }
    if in_group {
        out.push(Address::group_end());
    }
    out
}

fn mailbox(all: &[Token]) -> Option<Address> {
    // RFC 5322 §3.4: `user@host (Real Name)` — with no phrase, the last non-empty comment is
    // what a reader shows as the name (as Dovecot and c-client do); comments elsewhere (inside
    // the address) are whitespace.
    let mut angle = false;
    let mut comment = None;
    for t in all {
        match t {
            Token::Special(b'<') => angle = true,
            Token::Special(b'>') => angle = false,
            Token::Comment(c) if !angle && !c.is_empty() => comment = Some(c.clone()),
            _ => {}
        }
    }
    let tokens: Vec<Token> = all
        .iter()
        .filter(|t| !matches!(t, Token::Comment(_)))
        .cloned()
        .collect();
    let tokens = tokens.as_slice();
    if tokens.is_empty() {
        return None;
    }
    let lt = tokens.iter().position(|t| *t == Token::Special(b'<'));
    let (name, spec) = match lt {
        Some(lt) => {
            let (before, from) = tokens.split_at_checked(lt)?;
            let inside = from.get(1..).unwrap_or_default();
            let end = inside
                .iter()
                .position(|t| *t == Token::Special(b'>'))
                .unwrap_or(inside.len());
            let name = text_of(before, b" ");
            (
                Some(name).filter(|n| !n.is_empty()),
                inside.get(..end).unwrap_or_default(),
            )
        }
        None => (None, tokens),
    };
    let (route, spec) = match spec.iter().position(|t| *t == Token::Special(b':')) {
        Some(colon) if spec.first() == Some(&Token::Special(b'@')) => {
            let (route, rest) = spec.split_at_checked(colon)?;
            (Some(text_of(route, b"")), rest.get(1..).unwrap_or_default())
        }
        _ => (None, spec),
    };
    let at = spec.iter().rposition(|t| *t == Token::Special(b'@'));
    let (local, host) = match at {
        Some(at) => {
            let (local, rest) = spec.split_at_checked(at)?;
            (
                text_of(local, b""),
                text_of(rest.get(1..).unwrap_or_default(), b""),
            )
        }
        None => (text_of(spec, b""), Vec::new()),
    };
    if local.is_empty() && host.is_empty() && name.is_none() {
        return None;
    }
    let name = name.or(comment);
    Some(Address {
        name,
        route,
        mailbox: Some(local),
        host: Some(host),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(list: &[Address]) -> String {
        let mut out = Vec::new();
        write_address_list(&mut out, list);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn address_lists() {
        let cases: &[(&str, &str)] = &[
        ("Terry Gray <gray@cac.washington.edu>", "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\"))"),
        ("imap@cac.washington.edu", "((NIL NIL \"imap\" \"cac.washington.edu\"))"),
        ("\"Doe, John\" <john@example.com>, jane@example.com", "((\"Doe, John\" NIL \"john\" \"example.com\")(NIL NIL \"jane\" \"example.com\"))"),
        ("<@a.example,@b.example:joe@c.example>", "((NIL \"@a.example,@b.example\" \"joe\" \"c.example\"))"),
        ("undisclosed-recipients:;", "((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL))"),
        ("Friends: a@x.example, B <b@y.example>;, c@z.example", "((NIL NIL \"Friends\" NIL)(NIL NIL \"a\" \"x.example\")(\"B\" NIL \"b\" \"y.example\")(NIL NIL NIL NIL)(NIL NIL \"c\" \"z.example\"))"),
        ("john.doe@example.com (John Doe)", "((\"John Doe\" NIL \"john.doe\" \"example.com\"))"),
        ("<user-from (comment)@ (comment) domain.org>", "((NIL NIL \"user-from\" \"domain.org\"))"),
        ("a@b (outer (inner) \\) x), c@d ()", "((\"outer (inner) ) x\" NIL \"a\" \"b\")(NIL NIL \"c\" \"d\"))"),
        ("Real <r@x.example> (note)", "((\"Real\" NIL \"r\" \"x.example\"))"),
        ("=?utf-8?q?J=C3=B6rg?= <jorg@example.com>", "((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"jorg\" \"example.com\"))"),
        ("root", "((NIL NIL \"root\" \"\"))"),
        ("", "NIL"),
        (",,,", "NIL"),
        ("<broken@example.com", "((NIL NIL \"broken\" \"example.com\"))"),
        ("\"unterminated <x@y>", "((NIL NIL \"unterminated <x@y>\" \"\"))"),
    ];
        for &(input, want) in cases {
            let got = render(&parse_address_list(input.as_bytes()));
            assert_eq!(got, want, "{input}");
        }
    }

    #[test]
    fn rfc3501_example_envelope() {
        let header = b"Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\n\
From: Terry Gray <gray@cac.washington.edu>\r\n\
Subject: IMAP4rev1 WG mtg summary and minutes\r\n\
To: imap@cac.washington.edu\r\n\
cc: minutes@CNRI.Reston.VA.US,\r\n John Klensin <KLENSIN@MIT.EDU>\r\n\
Message-Id: <B27397-0100000@cac.washington.edu>\r\n\r\n";
        let got = String::from_utf8(Envelope::from_header(header).to_bytes()).unwrap();
        assert_eq!(
        got,
        "(\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \"IMAP4rev1 WG mtg summary and minutes\" \
((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) \
((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((NIL NIL \"imap\" \"cac.washington.edu\")) \
((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL \
\"<B27397-0100000@cac.washington.edu>\")"
    );
    }

    #[test]
    fn empty_header_gives_all_nil() {
        let got = String::from_utf8(Envelope::from_header(b"").to_bytes()).unwrap();
        assert_eq!(got, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
    }

    #[test]
    fn sender_and_reply_to_are_kept_when_present() {
        let env = Envelope::from_header(b"From: a@x\r\nSender: s@x\r\nReply-To: r@x\r\n\r\n");
        assert_eq!(env.sender[0].mailbox.as_deref(), Some(&b"s"[..]));
        assert_eq!(env.reply_to[0].mailbox.as_deref(), Some(&b"r"[..]));
    }

    #[test]
    fn eight_bit_subject_becomes_literal() {
        let got = Envelope::from_header("Subject: caf\u{e9}\r\n\r\n".as_bytes()).to_bytes();
        assert!(String::from_utf8_lossy(&got).starts_with("(NIL {5}\r\ncaf"));
    }
}
