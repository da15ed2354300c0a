//! Mailbox names: modified UTF-7 (RFC 3501 §5.1.3), validation, the mapping to
//! Maildir++ folders, and LIST wildcard matching.
//!
//! Clients see names with `/` as the hierarchy delimiter (`Lists/rust`); on disk a
//! mailbox is the Maildir++ folder `.Lists.rust` beside `cur/new/tmp` of the
//! user's maildir, and INBOX is the maildir itself (folder name `""`). Folder
//! segments on disk are modified UTF-7 (as Courier and Dovecot store them), with
//! a `.` inside a segment written as `&AC4-`, so `v1.2` becomes `.v1&AC4-2`.
//! A name can never point outside the maildir: `.`/`..` segments, empty
//! segments, control characters, wildcards and over-long names are refused.

/// The hierarchy delimiter presented to clients.
pub const DELIMITER: char = '/';
/// Longest on-disk folder name (one directory entry).
pub const MAX_FOLDER_BYTES: usize = 255;
/// Deepest hierarchy accepted.
pub const MAX_SEGMENTS: usize = 32;

/// Why a mailbox name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name is empty.
    #[error("empty mailbox name")]
    Empty,
    /// Invalid or non-canonical modified UTF-7.
    #[error("invalid modified UTF-7 in mailbox name")]
    BadUtf7,
    /// A control character.
    #[error("control character in mailbox name")]
    ControlChar,
    /// `a//b`, a leading or a trailing delimiter.
    #[error("empty hierarchy level in mailbox name")]
    EmptySegment,
    /// A `.` or `..` level.
    #[error("'.' and '..' are not allowed as mailbox name levels")]
    DotSegment,
    /// `%` or `*` in a name.
    #[error("wildcards are not allowed in mailbox names")]
    Wildcard,
    /// Too long or too deep.
    #[error("mailbox name too long")]
    TooLong,
    /// An on-disk folder name that is not a Maildir++ folder.
    #[error("not a Maildir++ folder name")]
    NotAFolder,
}

/// A validated mailbox name, held as Unicode hierarchy levels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailboxName {
    segments: Vec<String>,
}

impl MailboxName {
    /// Validates a name as a client sent it (modified UTF-7, `/`-delimited).
    /// `inbox` in any case is INBOX.
    pub fn parse(imap_name: &str) -> Result<Self, NameError> {
        if imap_name.len() > 4 * MAX_FOLDER_BYTES {
            return Err(NameError::TooLong);
        }
        let decoded = utf7_decode(imap_name)?;
        Self::from_unicode(&decoded)
    }

    /// Validates a CREATE argument: like [`MailboxName::parse`], but one trailing
    /// delimiter (the client's hint that it will create children, RFC 3501 §6.3.3)
    /// is dropped.
    pub fn parse_for_create(imap_name: &str) -> Result<Self, NameError> {
        Self::parse(imap_name.strip_suffix(DELIMITER).unwrap_or(imap_name))
    }

    /// Validates a Unicode name (`/`-delimited).
    pub fn from_unicode(name: &str) -> Result<Self, NameError> {
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        let mut segments = Vec::new();
        for (i, segment) in name.split(DELIMITER).enumerate() {
            if segments.len() >= MAX_SEGMENTS {
                return Err(NameError::TooLong);
            }
            check_segment(segment)?;
            if i == 0 && segment.eq_ignore_ascii_case("INBOX") {
                segments.push("INBOX".to_string());
            } else {
                segments.push(segment.to_string());
            }
        }
        let name = MailboxName { segments };
        if name.to_maildir_folder().len() > MAX_FOLDER_BYTES {
            return Err(NameError::TooLong);
        }
        Ok(name)
    }

    /// The INBOX.
    pub fn inbox() -> Self {
        MailboxName {
            segments: vec!["INBOX".into()],
        }
    }

    /// Whether this is INBOX itself.
    pub fn is_inbox(&self) -> bool {
        matches!(self.segments.as_slice(), [one] if one == "INBOX")
    }

    /// The hierarchy levels (Unicode).
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// The parent mailbox, if any.
    pub fn parent(&self) -> Option<MailboxName> {
        match self.segments.split_last() {
            Some((_, parents)) if !parents.is_empty() => Some(MailboxName {
                segments: parents.to_vec(),
            }),
            _ => None,
        }
    }

    /// Whether `self` is strictly below `ancestor` in the hierarchy.
    pub fn is_below(&self, ancestor: &MailboxName) -> bool {
        self.segments.len() > ancestor.segments.len()
            && self.segments.starts_with(&ancestor.segments)
    }

    /// The name as sent to clients: modified UTF-7, `/`-delimited.
    pub fn to_imap(&self) -> String {
        utf7_encode(&self.to_unicode())
    }

    /// The Unicode name, `/`-delimited.
    pub fn to_unicode(&self) -> String {
        self.segments.join("/")
    }

    /// The Maildir++ folder: `""` for INBOX, `.A.B` otherwise.
    pub fn to_maildir_folder(&self) -> String {
        if self.is_inbox() {
            return String::new();
        }
        let mut out = String::new();
        for segment in &self.segments {
            out.push('.');
            out.push_str(&encode(segment, |c| c != '.' && c != '/'));
        }
        out
    }

    /// The mailbox a Maildir++ folder name stands for (`""` is INBOX).
    pub fn from_maildir_folder(folder: &str) -> Result<Self, NameError> {
        if folder.is_empty() {
            return Ok(Self::inbox());
        }
        let rest = folder.strip_prefix('.').ok_or(NameError::NotAFolder)?;
        if folder.len() > MAX_FOLDER_BYTES || folder.contains('/') {
            return Err(NameError::NotAFolder);
        }
        let mut unicode = String::new();
        for (i, segment) in rest.split('.').enumerate() {
            if i > 0 {
                unicode.push(DELIMITER);
            }
            let decoded = decode(segment, false)?;
            if decoded.contains(DELIMITER) {
                return Err(NameError::NotAFolder);
            }
            unicode.push_str(&decoded);
        }
        Self::from_unicode(&unicode)
    }
}

fn check_segment(segment: &str) -> Result<(), NameError> {
    if segment.is_empty() {
        return Err(NameError::EmptySegment);
    }
    if segment == "." || segment == ".." {
        return Err(NameError::DotSegment);
    }
    if segment.chars().any(|c| c.is_control()) {
        return Err(NameError::ControlChar);
    }
    if segment.contains(['%', '*']) {
        return Err(NameError::Wildcard);
    }
    Ok(())
}

/// Maps a client's mailbox name to its Maildir++ folder (see the module docs).
pub fn to_maildir_folder(imap_name: &str) -> Result<String, NameError> {
    Ok(MailboxName::parse(imap_name)?.to_maildir_folder())
}

/// Maps a Maildir++ folder back to the name shown to clients (modified UTF-7).
pub fn from_maildir_folder(folder: &str) -> Result<String, NameError> {
    Ok(MailboxName::from_maildir_folder(folder)?.to_imap())
}

/// Encodes Unicode as modified UTF-7.
pub fn utf7_encode(text: &str) -> String {
    encode(text, |_| true)
}

/// Decodes modified UTF-7, refusing invalid or non-canonical input.
pub fn utf7_decode(text: &str) -> Result<String, NameError> {
    let decoded = decode(text, true)?;
    if utf7_encode(&decoded) != text {
        return Err(NameError::BadUtf7);
    }
    Ok(decoded)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// Encodes with printable ASCII for which `direct` holds sent as itself.
fn encode(text: &str, direct: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |out: &mut String, pending: &mut Vec<u16>| {
        if pending.is_empty() {
            return;
        }
        out.push('&');
        let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
            let chars = chunk.len() + 1;
            for i in 0..chars {
                let digit = (n >> (18 - 6 * i) & 63) as usize;
                out.push(char::from(B64.get(digit).copied().unwrap_or(b'A')));
            }
        }
        out.push('-');
        pending.clear();
    };
    for c in text.chars() {
        if (' '..='~').contains(&c) && direct(c) {
            flush(&mut out, &mut pending);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut out, &mut pending);
    out
}

/// Decodes modified UTF-7; `strict` refuses 8-bit or control bytes outside runs.
fn decode(text: &str, strict: bool) -> Result<String, NameError> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices();
    while let Some((_, c)) = chars.next() {
        if c != '&' {
            if strict && !(' '..='~').contains(&c) {
                return Err(NameError::BadUtf7);
            }
            out.push(c);
            continue;
        }
        let mut bits = 0u32;
        let mut nbits = 0u32;
        let mut units: Vec<u16> = Vec::new();
        let mut closed = false;
        let mut empty = true;
        for (_, c) in chars.by_ref() {
            if c == '-' {
                closed = true;
                break;
            }
            empty = false;
            let v = B64
                .iter()
                .position(|&b| b as char == c)
                .ok_or(NameError::BadUtf7)? as u32;
            bits = bits << 6 | v;
            nbits += 6;
            if nbits >= 16 {
                nbits -= 16;
                units.push((bits >> nbits) as u16);
                bits &= (1 << nbits) - 1;
            }
        }
        if !closed || (bits != 0) {
            return Err(NameError::BadUtf7);
        }
        if empty {
            out.push('&');
            continue;
        }
        if units.is_empty() {
            return Err(NameError::BadUtf7);
        }
        out.push_str(&String::from_utf16(&units).map_err(|_| NameError::BadUtf7)?);
    }
    Ok(out)
}

/// Combines a LIST reference and pattern (plain concatenation, as most servers do).
pub fn list_canonical(reference: &str, pattern: &str) -> String {
    format!("{reference}{pattern}")
}

/// Whether `name` matches a LIST pattern (`*` matches anything, `%` anything but
/// the delimiter). Both are Unicode, `/`-delimited; the `INBOX` prefix matches
/// case-insensitively.
pub fn list_matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    if p.len() > 1024 || n.len() > 1024 {
        return false;
    }
    let inbox_prefix =
        name.get(..5).is_some_and(|s| s == "INBOX") && matches!(n.get(5), None | Some('/'));
    let eq = |pc: char, c: char, i: usize| {
        if inbox_prefix && i < 5 {
            pc.eq_ignore_ascii_case(&c)
        } else {
            pc == c
        }
    };
    // dp[j] = pattern[..i] matches name[..j]
    let mut dp = vec![false; n.len() + 1];
    if let Some(empty) = dp.first_mut() {
        *empty = true;
    }
    for &pc in &p {
        dp = match pc {
            '*' | '%' => {
                let mut reach = false;
                dp.iter()
                    .enumerate()
                    .map(|(j, &matched)| {
                        if pc == '%' && j > 0 && n.get(j - 1) == Some(&DELIMITER) {
                            reach = false;
                        }
                        reach |= matched;
                        reach
                    })
                    .collect()
            }
            // next[j + 1] = dp[j] && pattern char matches name[j]; nothing matches name[..0].
            _ => std::iter::once(false)
                .chain(
                    dp.iter()
                        .zip(&n)
                        .enumerate()
                        .map(|(j, (&matched, &c))| matched && eq(pc, c, j)),
                )
                .collect(),
        };
    }
    dp.last().copied().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf7_known_answers() {
        // RFC 3501 §5.1.3 example and common names.
        let cases: &[(&str, &str)] = &[
            (
                "~peter/mail/\u{65e5}\u{672c}\u{8a9e}/\u{53f0}\u{5317}",
                "~peter/mail/&ZeVnLIqe-/&U,BTFw-",
            ),
            ("Entw\u{fc}rfe", "Entw&APw-rfe"),
            ("Gel\u{f6}schte Elemente", "Gel&APY-schte Elemente"),
            ("A&B", "A&-B"),
            ("&", "&-"),
            ("plain", "plain"),
            ("\u{1f600}", "&2D3eAA-"),
            ("", ""),
        ];
        for &(unicode, utf7) in cases {
            assert_eq!(utf7_encode(unicode), utf7, "{unicode}");
            assert_eq!(utf7_decode(utf7).as_deref(), Ok(unicode), "{utf7}");
        }
    }

    #[test]
    fn utf7_rejects_invalid_and_non_canonical() {
        for bad in [
            "&",
            "&ZeVnLIqe",
            "&AGE-",
            "&Ze!-",
            "&U,BTF2XlZyyKng-x\u{e9}",
            "caf\u{e9}",
            "&2D0-",
            "&ZeVnLA-&ZeVnLA-",
        ] {
            assert!(utf7_decode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn maildir_folder_mapping() {
        let cases: &[(&str, &str, &str)] = &[
            ("INBOX", "", "INBOX"),
            ("inbox", "", "INBOX"),
            ("Sent", ".Sent", "Sent"),
            ("Lists/rust", ".Lists.rust", "Lists/rust"),
            ("INBOX/sub", ".INBOX.sub", "INBOX/sub"),
            ("inBox/sub", ".INBOX.sub", "INBOX/sub"),
            ("v1.2", ".v1&AC4-2", "v1.2"),
            ("Entw&APw-rfe", ".Entw&APw-rfe", "Entw&APw-rfe"),
            ("A&-B", ".A&-B", "A&-B"),
            ("Sent Items", ".Sent Items", "Sent Items"),
            (".hidden", ".&AC4-hidden", ".hidden"),
        ];
        for &(imap, folder, back) in cases {
            assert_eq!(to_maildir_folder(imap).as_deref(), Ok(folder), "{imap}");
            assert_eq!(from_maildir_folder(folder).as_deref(), Ok(back), "{folder}");
        }
    }

    #[test]
    fn bad_names_are_refused() {
        let long = "a".repeat(300);
        let deep = vec!["a"; 40].join("/");
        let cases: &[(&str, NameError)] = &[
            ("", NameError::Empty),
            ("..", NameError::DotSegment),
            ("a/../b", NameError::DotSegment),
            ("../etc", NameError::DotSegment),
            ("a/./b", NameError::DotSegment),
            ("a//b", NameError::EmptySegment),
            ("/a", NameError::EmptySegment),
            ("a/", NameError::EmptySegment),
            ("a\u{1}b", NameError::BadUtf7),
            ("a%", NameError::Wildcard),
            ("a*b", NameError::Wildcard),
            ("&Ze", NameError::BadUtf7),
            (&long, NameError::TooLong),
            (&deep, NameError::TooLong),
        ];
        for (name, want) in cases {
            assert_eq!(
                MailboxName::parse(name).err().as_ref(),
                Some(want),
                "{name}"
            );
        }
        assert_eq!(
            MailboxName::from_unicode("a\u{7}b").err(),
            Some(NameError::ControlChar)
        );
    }

    #[test]
    fn bad_folders_are_refused() {
        for folder in [
            "Sent", ".", "..", ".a..b", ".a.", ".a/b", ".&Ze", ".a.&AC8-",
        ] {
            assert!(
                MailboxName::from_maildir_folder(folder).is_err(),
                "{folder}"
            );
        }
    }

    #[test]
    fn hierarchy_helpers() {
        let name = MailboxName::parse("Lists/rust/users").unwrap();
        assert_eq!(name.parent().unwrap().to_imap(), "Lists/rust");
        assert!(name.is_below(&MailboxName::parse("Lists").unwrap()));
        assert!(!name.is_below(&name));
        assert!(MailboxName::parse("iNbOx").unwrap().is_inbox());
        assert!(!MailboxName::parse("INBOX/x").unwrap().is_inbox());
        assert_eq!(MailboxName::inbox().parent(), None);
    }

    #[test]
    fn list_matching_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "INBOX", true),
            ("*", "Lists/rust", true),
            ("%", "Lists", true),
            ("%", "Lists/rust", false),
            ("Lists/%", "Lists/rust", true),
            ("Lists/%", "Lists/rust/users", false),
            ("Lists/*", "Lists/rust/users", true),
            ("Lists*", "Lists", true),
            ("L%s", "Lists", true),
            ("L%s", "La/s", false),
            ("L*s", "La/s", true),
            ("inbox", "INBOX", true),
            ("InBox/%", "INBOX/sub", true),
            ("sent", "Sent", false),
            ("", "INBOX", false),
            ("%/%", "a/b", true),
            ("%/%", "a", false),
            ("*/b", "a/x/b", true),
            ("%b", "a/b", false),
        ];
        for &(pattern, name, want) in cases {
            assert_eq!(list_matches(pattern, name), want, "{pattern} vs {name}");
        }
        assert_eq!(list_canonical("Lists/", "%"), "Lists/%");
    }

    #[test]
    fn create_may_end_in_a_delimiter() {
        assert_eq!(
            MailboxName::parse_for_create("owatagusiam/")
                .unwrap()
                .to_imap(),
            "owatagusiam"
        );
        assert_eq!(
            MailboxName::parse_for_create("a/b").unwrap().to_imap(),
            "a/b"
        );
        assert_eq!(
            MailboxName::parse_for_create("a//"),
            Err(NameError::EmptySegment)
        );
        assert_eq!(MailboxName::parse_for_create("/"), Err(NameError::Empty));
    }
}
