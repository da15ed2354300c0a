//! Response encoding: strings (atom / quoted / literal choice), NIL, flag lists,
//! status responses with response codes, and the common untagged data lines — as functions,
//! and as the typed responses the session's command handlers return ([`Data`], [`Tagged`]),
//! encoded here and nowhere else. (FETCH data items are rendered by [`super::fetch`].)

use std::fmt::Write as _;

use super::command::StatusItem;
use super::flag::{is_atom_char, Flag};
use super::sequence::SequenceSet;

/// Longest string sent quoted; longer ones become literals.
const MAX_QUOTED: usize = 1024;

/// Whether `s` can be sent as a quoted string (7-bit, no CR/LF/NUL, not too long).
pub fn is_quotable(s: &[u8]) -> bool {
    s.len() <= MAX_QUOTED
        && s.iter()
            .all(|&b| b != 0 && b != b'\r' && b != b'\n' && b < 0x80)
}

/// Writes `s` as a quoted string (escaping `"` and `\`) when possible, else a literal.
pub fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    if is_quotable(s) {
        out.push(b'"');
        for &b in s {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        write_literal(out, s);
    }
}

/// Writes `{n}` CRLF and the bytes.
pub fn write_literal(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'{');
    out.extend_from_slice(itoa::Buffer::new().format(s.len()).as_bytes());
    out.extend_from_slice(b"}\r\n");
    out.extend_from_slice(s);
}

/// Writes `NIL` or a string.
pub fn write_nstring(out: &mut Vec<u8>, s: Option<&[u8]>) {
    match s {
        Some(s) => write_string(out, s),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// Writes an astring: a bare atom when safe (and not `NIL`), else a string.
pub fn write_astring(out: &mut Vec<u8>, s: &[u8]) {
    let atom_ok = !s.is_empty()
        && s.iter().all(|&b| is_atom_char(b) || b == b']')
        && !s.eq_ignore_ascii_case(b"NIL");
    if atom_ok {
        out.extend_from_slice(s);
    } else {
        write_string(out, s);
    }
}

/// Writes a mailbox name (astring; `INBOX` always as an atom).
pub fn write_mailbox(out: &mut Vec<u8>, name: &str) {
    write_astring(out, name.as_bytes());
}

/// Writes `(\Seen $Junk)`.
pub fn write_flag_list(out: &mut Vec<u8>, flags: &[Flag]) {
    out.push(b'(');
    for (i, flag) in flags.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(flag.to_string().as_bytes());
    }
    out.push(b')');
}

/// The condition of a status response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `OK`
    Ok,
    /// `NO`
    No,
    /// `BAD`
    Bad,
    /// `PREAUTH` (greeting only)
    PreAuth,
    /// `BYE`
    Bye,
}

impl Status {
    /// Wire name.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::No => "NO",
            Status::Bad => "BAD",
            Status::PreAuth => "PREAUTH",
            Status::Bye => "BYE",
        }
    }
}

/// A response code in brackets (RFC 3501 §7.1, 4315, 5530, 6154, 7162).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    /// `[ALERT]`
    Alert,
    /// `[BADCHARSET (UTF-8 US-ASCII)]`
    BadCharset(Vec<String>),
    /// `[CAPABILITY ...]`
    Capability(Vec<String>),
    /// `[PARSE]`
    Parse,
    /// `[PERMANENTFLAGS (...)]` (`\*` included when `allow_new`)
    PermanentFlags {
        /// Flags the client can store permanently.
        flags: Vec<Flag>,
        /// Whether new keywords may be created (`\*`).
        allow_new: bool,
    },
    /// `[READ-ONLY]`
    ReadOnly,
    /// `[READ-WRITE]`
    ReadWrite,
    /// `[TRYCREATE]`
    TryCreate,
    /// `[UIDNEXT n]`
    UidNext(u32),
    /// `[UIDVALIDITY n]`
    UidValidity(u32),
    /// `[UNSEEN n]`
    Unseen(u32),
    /// `[APPENDUID validity uids]`
    AppendUid {
        /// Target mailbox UIDVALIDITY.
        validity: u32,
        /// Assigned UIDs.
        uids: SequenceSet,
    },
    /// `[COPYUID validity source-uids dest-uids]`
    CopyUid {
        /// Target mailbox UIDVALIDITY.
        validity: u32,
        /// Source UIDs in order.
        source: SequenceSet,
        /// Destination UIDs in the same order.
        dest: SequenceSet,
    },
    /// `[UIDNOTSTICKY]`
    UidNotSticky,
    /// `[HIGHESTMODSEQ n]`
    HighestModSeq(u64),
    /// `[NOMODSEQ]`
    NoModSeq,
    /// `[MODIFIED set]`
    Modified(SequenceSet),
    /// `[CLOSED]` (previous mailbox closed on re-SELECT)
    Closed,
    /// `[ALREADYEXISTS]`
    AlreadyExists,
    /// `[NONEXISTENT]`
    NonExistent,
    /// `[CANNOT]`
    Cannot,
    /// `[LIMIT]`
    Limit,
    /// `[INUSE]`
    InUse,
    /// `[AUTHENTICATIONFAILED]`
    AuthenticationFailed,
    /// `[PRIVACYREQUIRED]`
    PrivacyRequired,
    /// `[SERVERBUG]`
    ServerBug,
    /// `[OVERQUOTA]`
    OverQuota,
    /// `[UNAVAILABLE]` (RFC 5530: a temporary failure, e.g. a full mail volume)
    Unavailable,
    /// `[EXPUNGEISSUED]`
    ExpungeIssued,
    /// `[USEATTR]` (RFC 6154: a special-use attribute CREATE cannot set)
    UseAttr,
    /// `[NOPERM]` (RFC 5530: not allowed to this user)
    NoPerm,
    /// `[UNKNOWN-CTE]` (RFC 3516: BINARY cannot decode a part)
    UnknownCte,
    /// `[COMPRESSIONACTIVE]` (RFC 4978)
    CompressionActive,
    /// `[BADURL url]` (RFC 4469: a CATENATE URL that names nothing this user may read)
    BadUrl(String),
    /// `[TOOBIG]` (RFC 4469: the message CATENATE makes is larger than the APPEND limit)
    TooBig,
    /// `[NOUPDATE "tag"]` (RFC 5267 §4.3.1: no updates for that search)
    NoUpdate(String),
}

impl Code {
    fn write(&self, out: &mut String) {
        let simple = match self {
            Code::Alert => "ALERT",
            Code::Parse => "PARSE",
            Code::ReadOnly => "READ-ONLY",
            Code::ReadWrite => "READ-WRITE",
            Code::TryCreate => "TRYCREATE",
            Code::UidNotSticky => "UIDNOTSTICKY",
            Code::NoModSeq => "NOMODSEQ",
            Code::Closed => "CLOSED",
            Code::AlreadyExists => "ALREADYEXISTS",
            Code::NonExistent => "NONEXISTENT",
            Code::Cannot => "CANNOT",
            Code::Limit => "LIMIT",
            Code::InUse => "INUSE",
            Code::AuthenticationFailed => "AUTHENTICATIONFAILED",
            Code::PrivacyRequired => "PRIVACYREQUIRED",
            Code::ServerBug => "SERVERBUG",
            Code::OverQuota => "OVERQUOTA",
            Code::Unavailable => "UNAVAILABLE",
            Code::ExpungeIssued => "EXPUNGEISSUED",
            Code::UseAttr => "USEATTR",
            Code::NoPerm => "NOPERM",
            Code::UnknownCte => "UNKNOWN-CTE",
            Code::CompressionActive => "COMPRESSIONACTIVE",
            Code::TooBig => "TOOBIG",
            _ => "",
        };
        if !simple.is_empty() {
            out.push_str(simple);
            return;
        }
        // Writing to a String cannot fail.
        let _ = match self {
            Code::BadCharset(sets) => write!(out, "BADCHARSET ({})", sets.join(" ")),
            Code::Capability(caps) => write!(out, "CAPABILITY {}", caps.join(" ")),
            // url-resp-text: any TEXT-CHAR but "]".
            Code::BadUrl(url) => write!(out, "BADURL {}", url.replace([']', '\r', '\n'], "")),
            // Tags are atoms (no quote or backslash), so quoting them needs no escapes.
            Code::NoUpdate(tag) => write!(out, "NOUPDATE \"{tag}\""),
            Code::PermanentFlags { flags, allow_new } => {
                let mut list: Vec<String> = flags.iter().map(Flag::to_string).collect();
                if *allow_new {
                    list.push("\\*".into());
                }
                write!(out, "PERMANENTFLAGS ({})", list.join(" "))
            }
            Code::UidNext(n) => write!(out, "UIDNEXT {n}"),
            Code::UidValidity(n) => write!(out, "UIDVALIDITY {n}"),
            Code::Unseen(n) => write!(out, "UNSEEN {n}"),
            Code::AppendUid { validity, uids } => write!(out, "APPENDUID {validity} {uids}"),
            Code::CopyUid {
                validity,
                source,
                dest,
            } => write!(out, "COPYUID {validity} {source} {dest}"),
            Code::HighestModSeq(n) => write!(out, "HIGHESTMODSEQ {n}"),
            Code::Modified(set) => write!(out, "MODIFIED {set}"),
            _ => Ok(()),
        };
    }
}

fn status_line(prefix: &str, status: Status, code: Option<&Code>, text: &str) -> Vec<u8> {
    let mut line = String::with_capacity(32 + text.len());
    line.push_str(prefix);
    line.push(' ');
    line.push_str(status.name());
    if let Some(code) = code {
        line.push_str(" [");
        code.write(&mut line);
        line.push(']');
    }
    line.push(' ');
    // Response text may not contain CR or LF; keep it on one line.
    line.extend(
        text.chars()
            .map(|c| if c == '\r' || c == '\n' { ' ' } else { c }),
    );
    line.push_str("\r\n");
    line.into_bytes()
}

/// `tag OK [code] text` CRLF
pub fn tagged(tag: &str, status: Status, code: Option<&Code>, text: &str) -> Vec<u8> {
    status_line(tag, status, code, text)
}

/// `* OK [code] text` CRLF (also `* BYE`, `* PREAUTH`, `* BAD`).
pub fn untagged_status(status: Status, code: Option<&Code>, text: &str) -> Vec<u8> {
    status_line("*", status, code, text)
}

/// `+ text` CRLF
pub fn continuation(text: &str) -> Vec<u8> {
    format!("+ {text}\r\n").into_bytes()
}

/// `* CAPABILITY ...` CRLF
pub fn capability(caps: &[&str]) -> Vec<u8> {
    format!("* CAPABILITY {}\r\n", caps.join(" ")).into_bytes()
}

/// `* n EXISTS` CRLF
pub fn exists(n: u32) -> Vec<u8> {
    format!("* {n} EXISTS\r\n").into_bytes()
}

/// `* n RECENT` CRLF
pub fn recent(n: u32) -> Vec<u8> {
    format!("* {n} RECENT\r\n").into_bytes()
}

/// `* n EXPUNGE` CRLF
pub fn expunge(seq: u32) -> Vec<u8> {
    format!("* {seq} EXPUNGE\r\n").into_bytes()
}

/// `* VANISHED [(EARLIER)] uid-set` CRLF (RFC 7162 §3.2.10)
pub fn vanished(earlier: bool, uids: &SequenceSet) -> Vec<u8> {
    let earlier = if earlier { "(EARLIER) " } else { "" };
    format!("* VANISHED {earlier}{uids}\r\n").into_bytes()
}

/// `* FLAGS (...)` CRLF
pub fn flags(flags: &[Flag]) -> Vec<u8> {
    let mut out = b"* FLAGS ".to_vec();
    write_flag_list(&mut out, flags);
    out.extend_from_slice(b"\r\n");
    out
}

/// `* LIST (attrs) "/" name` CRLF (or LSUB when `lsub`).
pub fn list(lsub: bool, attributes: &[&str], delimiter: Option<char>, name: &str) -> Vec<u8> {
    let mut out = if lsub {
        b"* LSUB (".to_vec()
    } else {
        b"* LIST (".to_vec()
    };
    out.extend_from_slice(attributes.join(" ").as_bytes());
    out.extend_from_slice(b") ");
    match delimiter {
        Some(d) => write_string(&mut out, d.to_string().as_bytes()),
        None => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    write_mailbox(&mut out, name);
    out.extend_from_slice(b"\r\n");
    out
}

/// `* STATUS name (ITEM n ...)` CRLF
pub fn status(name: &str, items: &[(StatusItem, u64)]) -> Vec<u8> {
    let mut out = b"* STATUS ".to_vec();
    write_mailbox(&mut out, name);
    out.extend_from_slice(b" (");
    let body: Vec<String> = items
        .iter()
        .map(|(i, n)| format!("{} {n}", i.name()))
        .collect();
    out.extend_from_slice(body.join(" ").as_bytes());
    out.extend_from_slice(b")\r\n");
    out
}

/// `* SEARCH n n n [(MODSEQ m)]` CRLF
pub fn search(numbers: &[u32], highest_modseq: Option<u64>) -> Vec<u8> {
    let mut out = String::from("* SEARCH");
    for n in numbers {
        let _ = write!(out, " {n}");
    }
    if let Some(m) = highest_modseq {
        let _ = write!(out, " (MODSEQ {m})");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// `* ENABLED cap...` CRLF
pub fn enabled(caps: &[&str]) -> Vec<u8> {
    let mut out = String::from("* ENABLED");
    for c in caps {
        out.push(' ');
        out.push_str(c);
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// `* ID ("name" "postern" ...)` CRLF, or `* ID NIL`.
pub fn id(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = b"* ID ".to_vec();
    if fields.is_empty() {
        out.extend_from_slice(b"NIL");
    } else {
        out.push(b'(');
        for (i, (k, v)) in fields.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            write_string(&mut out, k.as_bytes());
            out.push(b' ');
            write_string(&mut out, v.as_bytes());
        }
        out.push(b')');
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// `* NAMESPACE (("" "/")) NIL NIL` CRLF for a single personal namespace.
pub fn namespace_personal(prefix: &str, delimiter: char) -> Vec<u8> {
    let mut out = b"* NAMESPACE ((".to_vec();
    write_string(&mut out, prefix.as_bytes());
    out.push(b' ');
    write_string(&mut out, delimiter.to_string().as_bytes());
    out.extend_from_slice(b")) NIL NIL\r\n");
    out
}

/// One untagged response, as a command handler (or a mailbox update) produces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    /// `* OK|NO|BAD|BYE [code] text`
    Condition {
        /// The condition.
        status: Status,
        /// The response code.
        code: Option<Code>,
        /// Human-readable text.
        text: String,
    },
    /// `* CAPABILITY ...`
    Capability(Vec<String>),
    /// `* ENABLED ...`
    Enabled(Vec<&'static str>),
    /// `* ID (...)`
    Id(Vec<(&'static str, &'static str)>),
    /// `* NAMESPACE (("prefix" "delimiter")) NIL NIL`
    Namespace {
        /// The personal namespace's prefix.
        prefix: &'static str,
        /// The hierarchy delimiter.
        delimiter: char,
    },
    /// `* FLAGS (...)`
    Flags(Vec<Flag>),
    /// `* n EXISTS`
    Exists(u32),
    /// `* n RECENT`
    Recent(u32),
    /// `* n EXPUNGE`
    Expunge(u32),
    /// `* VANISHED [(EARLIER)] uids`
    Vanished {
        /// `(EARLIER)`: about messages the client may not know of.
        earlier: bool,
        /// The UIDs gone.
        uids: SequenceSet,
    },
    /// `* n FETCH (UID u FLAGS (...) MODSEQ (m))` for a flag change, each item optional.
    FlagsFetch {
        /// Sequence number.
        seq: u32,
        /// `UID u`.
        uid: Option<u32>,
        /// `FLAGS (...)`.
        flags: Option<Vec<Flag>>,
        /// `MODSEQ (m)`.
        modseq: Option<u64>,
    },
    /// `* LIST|LSUB (attributes) "/" name`
    List {
        /// LSUB rather than LIST.
        lsub: bool,
        /// Name attributes (`\HasNoChildren`, `\Sent`…).
        attributes: Vec<String>,
        /// Hierarchy delimiter (`None`: `NIL`).
        delimiter: Option<char>,
        /// The mailbox name (IMAP form).
        name: String,
        /// RFC 5258 §3.5: `("CHILDINFO" ("SUBSCRIBED"))`, a descendant is subscribed.
        child_subscribed: bool,
    },
    /// `* STATUS name (ITEM n ...)`
    Status {
        /// The mailbox name (IMAP form).
        mailbox: String,
        /// The items and their values.
        items: Vec<(StatusItem, u64)>,
    },
    /// `* SORT n ...` (RFC 5256)
    Sort(Vec<u32>),
    /// A response rendered elsewhere (`* THREAD …` CRLF).
    Raw(Vec<u8>),
    /// `* QUOTAROOT mailbox root ...` (RFC 9208 §5.2)
    QuotaRoot {
        /// The mailbox (IMAP form).
        mailbox: String,
        /// Its quota roots.
        roots: Vec<String>,
    },
    /// `* QUOTA root (RESOURCE usage limit ...)` (RFC 9208 §5.1)
    Quota {
        /// The quota root.
        root: String,
        /// Resource name, usage and limit (STORAGE in units of 1024 octets).
        resources: Vec<(&'static str, u64, u64)>,
    },
    /// `* SEARCH n ... [(MODSEQ m)]`
    Search {
        /// Sequence numbers or UIDs.
        numbers: Vec<u32>,
        /// The highest modseq among them (CONDSTORE).
        modseq: Option<u64>,
    },
}

impl Data {
    /// `* OK|NO|BAD|BYE [code] text`.
    pub fn condition(status: Status, code: Option<Code>, text: impl Into<String>) -> Data {
        Data::Condition {
            status,
            code,
            text: text.into(),
        }
    }

    /// Appends the response's bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Data::Condition { status, code, text } => {
                out.extend(untagged_status(*status, code.as_ref(), text))
            }
            Data::Capability(caps) => {
                let caps: Vec<&str> = caps.iter().map(String::as_str).collect();
                out.extend(capability(&caps));
            }
            Data::Enabled(caps) => out.extend(enabled(caps)),
            Data::Id(fields) => out.extend(id(fields)),
            Data::Namespace { prefix, delimiter } => {
                out.extend(namespace_personal(prefix, *delimiter))
            }
            Data::Flags(list) => out.extend(flags(list)),
            Data::Sort(numbers) => {
                out.extend_from_slice(b"* SORT");
                for n in numbers {
                    out.extend_from_slice(format!(" {n}").as_bytes());
                }
                out.extend_from_slice(b"\r\n");
            }
            Data::Raw(bytes) => out.extend_from_slice(bytes),
            Data::QuotaRoot { mailbox, roots } => {
                out.extend_from_slice(b"* QUOTAROOT ");
                write_mailbox(out, mailbox);
                for r in roots {
                    out.push(b' ');
                    write_astring(out, r.as_bytes());
                }
                out.extend_from_slice(b"\r\n");
            }
            Data::Quota { root, resources } => {
                out.extend_from_slice(b"* QUOTA ");
                write_astring(out, root.as_bytes());
                out.extend_from_slice(b" (");
                let items: Vec<String> = resources
                    .iter()
                    .map(|(name, usage, limit)| format!("{name} {usage} {limit}"))
                    .collect();
                out.extend_from_slice(items.join(" ").as_bytes());
                out.extend_from_slice(b")\r\n");
            }
            Data::Exists(n) => out.extend(exists(*n)),
            Data::Recent(n) => out.extend(recent(*n)),
            Data::Expunge(n) => out.extend(expunge(*n)),
            Data::Vanished { earlier, uids } => out.extend(vanished(*earlier, uids)),
            Data::FlagsFetch {
                seq,
                uid,
                flags,
                modseq,
            } => {
                out.extend_from_slice(format!("* {seq} FETCH (").as_bytes());
                let mut first = true;
                let mut space = |out: &mut Vec<u8>| {
                    if !std::mem::replace(&mut first, false) {
                        out.push(b' ');
                    }
                };
                if let Some(uid) = uid {
                    space(out);
                    out.extend_from_slice(format!("UID {uid}").as_bytes());
                }
                if let Some(flags) = flags {
                    space(out);
                    out.extend_from_slice(b"FLAGS ");
                    write_flag_list(out, flags);
                }
                if let Some(m) = modseq {
                    space(out);
                    out.extend_from_slice(format!("MODSEQ ({m})").as_bytes());
                }
                out.extend_from_slice(b")\r\n");
            }
            Data::List {
                lsub,
                attributes,
                delimiter,
                name,
                child_subscribed,
            } => {
                let attrs: Vec<&str> = attributes.iter().map(String::as_str).collect();
                let mut line = list(*lsub, &attrs, *delimiter, name);
                if *child_subscribed && line.ends_with(b"\r\n") {
                    line.truncate(line.len().saturating_sub(2));
                    line.extend_from_slice(b" (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n");
                }
                out.extend(line);
            }
            Data::Status { mailbox, items } => out.extend(status(mailbox, items)),
            Data::Search { numbers, modseq } => out.extend(search(numbers, *modseq)),
        }
    }
}

/// A command's tagged completion: `tag OK|NO|BAD [code] text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged {
    /// The condition.
    pub status: Status,
    /// The response code.
    pub code: Option<Code>,
    /// Human-readable text.
    pub text: String,
}

impl Tagged {
    /// A completion.
    pub fn new(status: Status, code: Option<Code>, text: impl Into<String>) -> Tagged {
        Tagged {
            status,
            code,
            text: text.into(),
        }
    }

    /// Appends `tag status [code] text` CRLF.
    pub fn encode(&self, tag: &str, out: &mut Vec<u8>) {
        out.extend(tagged(tag, self.status, self.code.as_ref(), &self.text));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn string_choice_table() {
        let cases: &[(&[u8], &str)] = &[
            (b"hello", "\"hello\""),
            (b"", "\"\""),
            (b"say \"hi\"", "\"say \\\"hi\\\"\""),
            (b"back\\slash", "\"back\\\\slash\""),
            (b"two\r\nlines", "{10}\r\ntwo\r\nlines"),
            ("caf\u{e9}".as_bytes(), "{5}\r\ncaf\u{e9}"),
            (b"nul\0", "{4}\r\nnul\0"),
        ];
        for &(input, want) in cases {
            assert_eq!(s(|o| write_string(o, input)), want);
        }
        let long = vec![b'a'; MAX_QUOTED + 1];
        assert!(s(|o| write_string(o, &long)).starts_with("{1025}\r\n"));
    }

    #[test]
    fn astring_and_nstring() {
        assert_eq!(s(|o| write_astring(o, b"INBOX")), "INBOX");
        assert_eq!(s(|o| write_astring(o, b"Sent Items")), "\"Sent Items\"");
        assert_eq!(s(|o| write_astring(o, b"nil")), "\"nil\"");
        assert_eq!(s(|o| write_astring(o, b"")), "\"\"");
        assert_eq!(s(|o| write_astring(o, b"a%b")), "\"a%b\"");
        assert_eq!(s(|o| write_nstring(o, None)), "NIL");
        assert_eq!(s(|o| write_nstring(o, Some(b"x"))), "\"x\"");
    }

    #[test]
    fn status_responses_with_codes() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                tagged("a1", Status::Ok, Some(&Code::ReadWrite), "SELECT completed"),
                "a1 OK [READ-WRITE] SELECT completed\r\n",
            ),
            (
                tagged("a2", Status::No, Some(&Code::TryCreate), "no such mailbox"),
                "a2 NO [TRYCREATE] no such mailbox\r\n",
            ),
            (
                untagged_status(
                    Status::Ok,
                    Some(&Code::UidValidity(3857529045)),
                    "UIDs valid",
                ),
                "* OK [UIDVALIDITY 3857529045] UIDs valid\r\n",
            ),
            (
                untagged_status(Status::Ok, Some(&Code::UidNext(4392)), "Predicted next UID"),
                "* OK [UIDNEXT 4392] Predicted next UID\r\n",
            ),
            (
                untagged_status(Status::Ok, Some(&Code::Unseen(12)), "first unseen"),
                "* OK [UNSEEN 12] first unseen\r\n",
            ),
            (
                tagged(
                    "A003",
                    Status::Ok,
                    Some(&Code::AppendUid {
                        validity: 38505,
                        uids: SequenceSet::single(3955),
                    }),
                    "APPEND completed",
                ),
                "A003 OK [APPENDUID 38505 3955] APPEND completed\r\n",
            ),
            (
                tagged(
                    "A004",
                    Status::Ok,
                    Some(&Code::CopyUid {
                        validity: 38505,
                        source: SequenceSet::parse(b"304,319:320").unwrap(),
                        dest: SequenceSet::parse(b"3956:3958").unwrap(),
                    }),
                    "Done",
                ),
                "A004 OK [COPYUID 38505 304,319:320 3956:3958] Done\r\n",
            ),
            (
                untagged_status(
                    Status::Ok,
                    Some(&Code::HighestModSeq(715194045007)),
                    "Highest",
                ),
                "* OK [HIGHESTMODSEQ 715194045007] Highest\r\n",
            ),
            (
                untagged_status(
                    Status::Ok,
                    Some(&Code::PermanentFlags {
                        flags: vec![Flag::Deleted, Flag::Seen],
                        allow_new: true,
                    }),
                    "Limited",
                ),
                "* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n",
            ),
            (
                tagged(
                    "t",
                    Status::No,
                    Some(&Code::BadCharset(vec!["UTF-8".into(), "US-ASCII".into()])),
                    "charset",
                ),
                "t NO [BADCHARSET (UTF-8 US-ASCII)] charset\r\n",
            ),
            (
                untagged_status(
                    Status::Ok,
                    Some(&Code::Capability(vec!["IMAP4rev1".into(), "IDLE".into()])),
                    "ready",
                ),
                "* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n",
            ),
            (
                untagged_status(Status::Ok, Some(&Code::Alert), "line\r\nbreak"),
                "* OK [ALERT] line  break\r\n",
            ),
            (tagged("x", Status::Bad, None, "bad"), "x BAD bad\r\n"),
            (
                tagged(
                    "m",
                    Status::Ok,
                    Some(&Code::Modified(SequenceSet::parse(b"7,9").unwrap())),
                    "Conditional STORE failed",
                ),
                "m OK [MODIFIED 7,9] Conditional STORE failed\r\n",
            ),
        ];
        for (got, want) in cases {
            assert_eq!(String::from_utf8(got).unwrap(), want);
        }
    }

    #[test]
    fn data_lines() {
        assert_eq!(exists(172), b"* 172 EXISTS\r\n");
        assert_eq!(recent(1), b"* 1 RECENT\r\n");
        assert_eq!(expunge(3), b"* 3 EXPUNGE\r\n");
        assert_eq!(
            flags(&[Flag::Answered, Flag::Keyword("$Junk".into())]),
            b"* FLAGS (\\Answered $Junk)\r\n"
        );
        assert_eq!(
            list(false, &["\\HasNoChildren"], Some('/'), "Sent Items"),
            b"* LIST (\\HasNoChildren) \"/\" \"Sent Items\"\r\n".to_vec()
        );
        assert_eq!(
            list(true, &[], None, "INBOX"),
            b"* LSUB () NIL INBOX\r\n".to_vec()
        );
        assert_eq!(
            status(
                "blurdybloop",
                &[(StatusItem::Messages, 231), (StatusItem::UidNext, 44292)]
            ),
            b"* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)\r\n".to_vec()
        );
        assert_eq!(search(&[2, 84, 882], None), b"* SEARCH 2 84 882\r\n");
        assert_eq!(search(&[], Some(9)), b"* SEARCH (MODSEQ 9)\r\n");
        assert_eq!(search(&[], None), b"* SEARCH\r\n");
        assert_eq!(
            namespace_personal("", '/'),
            b"* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n"
        );
        assert_eq!(
            id(&[("name", "postern")]),
            b"* ID (\"name\" \"postern\")\r\n"
        );
        assert_eq!(enabled(&["CONDSTORE"]), b"* ENABLED CONDSTORE\r\n");
        assert_eq!(continuation("Ready"), b"+ Ready\r\n");
        assert_eq!(
            capability(&["IMAP4rev1", "IDLE"]),
            b"* CAPABILITY IMAP4rev1 IDLE\r\n"
        );
    }

    #[test]
    fn typed_responses_encode_as_the_functions_do() {
        let enc = |d: Data| {
            let mut out = Vec::new();
            d.encode(&mut out);
            String::from_utf8(out).unwrap()
        };
        let fetch = |uid, flags, modseq| Data::FlagsFetch {
            seq: 3,
            uid,
            flags,
            modseq,
        };
        assert_eq!(
            enc(fetch(Some(7), Some(vec![Flag::Seen]), Some(9))),
            "* 3 FETCH (UID 7 FLAGS (\\Seen) MODSEQ (9))\r\n"
        );
        assert_eq!(
            enc(fetch(None, Some(vec![]), None)),
            "* 3 FETCH (FLAGS ())\r\n"
        );
        assert_eq!(
            enc(fetch(Some(7), None, Some(9))),
            "* 3 FETCH (UID 7 MODSEQ (9))\r\n"
        );
        assert_eq!(
            enc(Data::condition(Status::Bye, None, "bye\r\nnow")),
            "* BYE bye  now\r\n"
        );
        let list = Data::List {
            lsub: false,
            attributes: vec!["\\HasNoChildren".into(), "\\Sent".into()],
            delimiter: Some('/'),
            name: "Sent Items".into(),
            child_subscribed: false,
        };
        assert_eq!(
            enc(list),
            "* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent Items\"\r\n"
        );
        let mut out = Vec::new();
        Tagged::new(Status::No, Some(Code::TryCreate), "No such mailbox").encode("a1", &mut out);
        assert_eq!(out, b"a1 NO [TRYCREATE] No such mailbox\r\n");
    }
}
