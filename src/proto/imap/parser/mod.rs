//! The IMAP command grammar: one complete command (as assembled by
//! [`super::assembler::CommandAssembler`], literals inline) to a [`Command`].

mod fetch;
pub(crate) mod lexer;
mod search;
mod select;

use super::command::{
    AppendMessage, CatPart, Command, CommandKind, ListReturnOption, ListSelectOption, StatusItem,
    StoreMode,
};
use super::datetime::DateTime;
use super::flag::is_atom_char;
use super::sequence::SequenceError;
use lexer::{Lex, Lexer};

/// A command that could not be parsed; the session answers `tag BAD reason`
/// (or `* BAD` without a tag), except [`ParseErrorKind::BadCharset`] which is a
/// `NO [BADCHARSET (UTF-8 US-ASCII)]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct ParseError {
    /// The tag, when one could be read.
    pub tag: Option<String>,
    /// What went wrong.
    pub kind: ParseErrorKind,
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    /// No valid tag at the start of the line.
    #[error("missing or invalid tag")]
    BadTag,
    /// The command word is not known.
    #[error("unknown command {0}")]
    UnknownCommand(String),
    /// The grammar wanted something else.
    #[error("syntax error: expected {0}")]
    Expected(&'static str),
    /// Bytes after the end of the command.
    #[error("syntax error: unexpected data at end of command")]
    TrailingData,
    /// A number out of range or malformed.
    #[error("invalid number")]
    BadNumber,
    /// A malformed sequence set.
    #[error("invalid sequence set: {0}")]
    BadSequence(SequenceError),
    /// A malformed flag.
    #[error("invalid flag")]
    BadFlag,
    /// A malformed date or date-time.
    #[error("invalid date")]
    BadDate,
    /// A quoted string without its closing quote.
    #[error("unterminated quoted string")]
    UnterminatedQuote,
    /// A backslash not followed by `"` or `\`.
    #[error("invalid escape in quoted string")]
    BadEscape,
    /// A string that must be UTF-8 was not.
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    /// An unknown FETCH attribute, STATUS item, search key or option.
    #[error("unknown {0}")]
    Unknown(&'static str),
    /// Lists, keys or parentheses beyond the parser's limits.
    #[error("too many items or nesting too deep")]
    TooMany,
    /// SEARCH CHARSET other than UTF-8 / US-ASCII.
    #[error("unsupported charset {0}")]
    BadCharset(String),
    /// The command line was longer than the limit (from the assembler).
    #[error("command line too long")]
    LineTooLong,
    /// A literal over the size limit (from the assembler).
    #[error("literal of {size} octets is larger than the limit of {limit}")]
    LiteralTooLarge {
        /// The announced size.
        size: u64,
        /// The largest literal accepted.
        limit: u64,
    },
    /// An APPEND message over the APPEND limit (`APPENDLIMIT`, RFC 7889), from the assembler.
    #[error("message of {size} octets is larger than the APPEND limit of {limit}")]
    MessageTooBig {
        /// The announced size.
        size: u64,
        /// The largest message accepted.
        limit: u64,
    },
}

impl ParseError {
    /// Whether the reply is `NO` (a well-formed but unsupported request) rather than `BAD`.
    pub fn is_no(&self) -> bool {
        matches!(
            self.kind,
            ParseErrorKind::BadCharset(_)
                | ParseErrorKind::LiteralTooLarge { .. }
                | ParseErrorKind::MessageTooBig { .. }
        )
    }
}

/// Parses one complete command (ending in CRLF or LF, literals inline).
pub fn parse_command(input: &[u8]) -> Result<Command, ParseError> {
    let mut lx = Lexer::new(input);
    let tag = parse_tag(&mut lx).map_err(|kind| ParseError { tag: None, kind })?;
    let result = (|| -> Lex<CommandKind> {
        lx.sp()?;
        let kind = parse_kind(&mut lx)?;
        lx.end()?;
        Ok(kind)
    })();
    result
        .map(|kind| Command {
            tag: tag.clone(),
            kind,
        })
        .map_err(|kind| ParseError {
            tag: Some(tag),
            kind,
        })
}

/// Reads the tag at the start of a line, if there is a valid one (for error replies).
pub fn peek_tag(line: &[u8]) -> Option<String> {
    let mut lx = Lexer::new(line);
    let tag = parse_tag(&mut lx).ok()?;
    (lx.peek() == Some(b' ') || lx.at_eol()).then_some(tag)
}

fn parse_tag(lx: &mut Lexer<'_>) -> Lex<String> {
    let tag = lx.take_while(|b| (is_atom_char(b) || b == b']') && b != b'+');
    if tag.is_empty() || tag.len() > 64 {
        return Err(ParseErrorKind::BadTag);
    }
    Ok(String::from_utf8_lossy(tag).into_owned())
}

fn parse_kind(lx: &mut Lexer<'_>) -> Lex<CommandKind> {
    let word = lx.keyword()?;
    let kind = match word.as_str() {
        "CAPABILITY" => CommandKind::Capability,
        "NOOP" => CommandKind::Noop,
        "LOGOUT" => CommandKind::Logout,
        "STARTTLS" => CommandKind::StartTls,
        "AUTHENTICATE" => {
            lx.sp()?;
            let mechanism = lx.keyword()?;
            let initial_response = if lx.eat(b' ') {
                let text =
                    lx.take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
                if text.is_empty() {
                    return Err(ParseErrorKind::Expected("a base64 initial response"));
                }
                Some(String::from_utf8_lossy(text).into_owned())
            } else {
                None
            };
            CommandKind::Authenticate {
                mechanism,
                initial_response,
            }
        }
        "LOGIN" => {
            lx.sp()?;
            let username = lx.astring_utf8()?;
            lx.sp()?;
            let password = lx.astring_utf8()?;
            CommandKind::Login { username, password }
        }
        "SELECT" | "EXAMINE" => select::parse_select(lx, word == "SELECT")?,
        "CREATE" => {
            lx.sp()?;
            let mailbox = lx.astring_utf8()?;
            let mut special_use = Vec::new();
            if lx.eat(b' ') {
                lx.expect(b'(', "'('")?;
                if !lx.eat_keyword("USE ") {
                    return Err(ParseErrorKind::Unknown("create parameter"));
                }
                special_use = lx.paren_list(|lx| {
                    lx.expect(b'\\', "a special-use attribute")?;
                    Ok(String::from_utf8_lossy(lx.atom()?).into_owned())
                })?;
                lx.expect(b')', "')'")?;
            }
            CommandKind::Create {
                mailbox,
                special_use,
            }
        }
        "DELETE" => CommandKind::Delete {
            mailbox: one_mailbox(lx)?,
        },
        "SUBSCRIBE" => CommandKind::Subscribe {
            mailbox: one_mailbox(lx)?,
        },
        "UNSUBSCRIBE" => CommandKind::Unsubscribe {
            mailbox: one_mailbox(lx)?,
        },
        "RENAME" => {
            let from = one_mailbox(lx)?;
            let to = one_mailbox(lx)?;
            CommandKind::Rename { from, to }
        }
        "LIST" => parse_list(lx)?,
        "LSUB" => {
            lx.sp()?;
            let reference = lx.astring_utf8()?;
            lx.sp()?;
            let pattern = lx.list_mailbox()?;
            CommandKind::Lsub { reference, pattern }
        }
        "STATUS" => {
            let mailbox = one_mailbox(lx)?;
            lx.sp()?;
            let items = lx.paren_list(status_item)?;
            CommandKind::Status { mailbox, items }
        }
        "APPEND" => parse_append(lx)?,
        "COMPRESS" => {
            lx.sp()?;
            CommandKind::Compress {
                mechanism: lx.keyword()?,
            }
        }
        "GETQUOTA" => {
            lx.sp()?;
            CommandKind::GetQuota {
                root: lx.astring_utf8()?,
            }
        }
        "GETQUOTAROOT" => CommandKind::GetQuotaRoot {
            mailbox: one_mailbox(lx)?,
        },
        "SETQUOTA" => {
            lx.sp()?;
            let root = lx.astring_utf8()?;
            lx.sp()?;
            let limits = if lx.eat_keyword("()") {
                Vec::new()
            } else {
                lx.paren_list(|lx| {
                    let resource = lx.keyword()?;
                    lx.sp()?;
                    Ok((resource, lx.number64()?))
                })?
            };
            CommandKind::SetQuota { root, limits }
        }
        "IDLE" => CommandKind::Idle,
        "NAMESPACE" => CommandKind::Namespace,
        "ENABLE" => {
            let mut caps = Vec::new();
            while lx.eat(b' ') {
                if caps.len() >= lexer::MAX_LIST_ITEMS {
                    return Err(ParseErrorKind::TooMany);
                }
                caps.push(lx.keyword()?);
            }
            if caps.is_empty() {
                return Err(ParseErrorKind::Expected("a capability"));
            }
            CommandKind::Enable(caps)
        }
        "ID" => {
            lx.sp()?;
            if lx.eat_keyword("NIL") {
                CommandKind::Id(None)
            } else {
                // Liberal where nothing is ambiguous: spaces around the pairs and between key
                // and value (`ID ( "name" "x" )`, as imaplib-based clients send) and an empty
                // list are accepted.
                lx.expect(b'(', "'('")?;
                let mut fields = Vec::new();
                loop {
                    while lx.eat(b' ') {}
                    if lx.eat(b')') {
                        break;
                    }
                    if fields.len() >= 30 {
                        return Err(ParseErrorKind::TooMany);
                    }
                    let key =
                        String::from_utf8(lx.string()?).map_err(|_| ParseErrorKind::InvalidUtf8)?;
                    lx.sp()?;
                    while lx.eat(b' ') {}
                    let value = lx.nstring_utf8()?;
                    fields.push((key, value));
                    if !matches!(lx.peek(), Some(b' ' | b')')) {
                        return Err(ParseErrorKind::Expected("a space or ')'"));
                    }
                }
                CommandKind::Id(Some(fields))
            }
        }
        "CHECK" => CommandKind::Check,
        "CLOSE" => CommandKind::Close,
        "UNSELECT" => CommandKind::Unselect,
        "CANCELUPDATE" => {
            // RFC 5267 §5: `"CANCELUPDATE" 1*(SP quoted)`.
            let mut tags = Vec::new();
            while lx.eat(b' ') {
                if tags.len() >= lexer::MAX_LIST_ITEMS {
                    return Err(ParseErrorKind::TooMany);
                }
                tags.push(String::from_utf8_lossy(&lx.quoted()?).into_owned());
            }
            if tags.is_empty() {
                return Err(ParseErrorKind::Expected("a quoted tag"));
            }
            CommandKind::CancelUpdate(tags)
        }
        "EXPUNGE" => CommandKind::Expunge { uids: None },
        "SEARCH" => search::parse_search(lx, false)?,
        "SORT" => search::parse_sort(lx, false)?,
        "THREAD" => search::parse_thread(lx, false)?,
        "FETCH" => fetch::parse_fetch(lx, false)?,
        "STORE" => parse_store(lx, false)?,
        "COPY" | "MOVE" => parse_copy(lx, false, &word)?,
        "UID" => {
            lx.sp()?;
            let sub = lx.keyword()?;
            match sub.as_str() {
                "SEARCH" => search::parse_search(lx, true)?,
                "SORT" => search::parse_sort(lx, true)?,
                "THREAD" => search::parse_thread(lx, true)?,
                "FETCH" => fetch::parse_fetch(lx, true)?,
                "STORE" => parse_store(lx, true)?,
                "COPY" | "MOVE" => parse_copy(lx, true, &sub)?,
                "EXPUNGE" => {
                    lx.sp()?;
                    CommandKind::Expunge {
                        uids: Some(lx.sequence_set()?),
                    }
                }
                _ => return Err(ParseErrorKind::UnknownCommand(format!("UID {sub}"))),
            }
        }
        _ => return Err(ParseErrorKind::UnknownCommand(word)),
    };
    Ok(kind)
}

fn one_mailbox(lx: &mut Lexer<'_>) -> Lex<String> {
    lx.sp()?;
    lx.astring_utf8()
}

fn status_item(lx: &mut Lexer<'_>) -> Lex<StatusItem> {
    Ok(match lx.keyword()?.as_str() {
        "MESSAGES" => StatusItem::Messages,
        "RECENT" => StatusItem::Recent,
        "UIDNEXT" => StatusItem::UidNext,
        "UIDVALIDITY" => StatusItem::UidValidity,
        "UNSEEN" => StatusItem::Unseen,
        "HIGHESTMODSEQ" => StatusItem::HighestModSeq,
        "SIZE" => StatusItem::Size,
        "DELETED" => StatusItem::Deleted,
        _ => return Err(ParseErrorKind::Unknown("status item")),
    })
}

fn parse_list(lx: &mut Lexer<'_>) -> Lex<CommandKind> {
    lx.sp()?;
    let mut select = Vec::new();
    if lx.peek() == Some(b'(') {
        lx.expect(b'(', "'('")?;
        if !lx.eat(b')') {
            loop {
                select.push(match lx.keyword()?.as_str() {
                    "SUBSCRIBED" => ListSelectOption::Subscribed,
                    "REMOTE" => ListSelectOption::Remote,
                    "RECURSIVEMATCH" => ListSelectOption::RecursiveMatch,
                    "SPECIAL-USE" => ListSelectOption::SpecialUse,
                    _ => return Err(ParseErrorKind::Unknown("list selection option")),
                });
                if select.len() > 16 {
                    return Err(ParseErrorKind::TooMany);
                }
                if lx.eat(b')') {
                    break;
                }
                lx.list_sp()?;
            }
        }
        lx.sp()?;
    }
    let reference = lx.astring_utf8()?;
    lx.sp()?;
    let patterns = if lx.peek() == Some(b'(') {
        lx.paren_list(|lx| lx.list_mailbox())?
    } else {
        vec![lx.list_mailbox()?]
    };
    let mut returns = Vec::new();
    if lx.eat(b' ') {
        if !lx.eat_keyword("RETURN ") {
            return Err(ParseErrorKind::Expected("RETURN"));
        }
        lx.expect(b'(', "'('")?;
        if !lx.eat(b')') {
            loop {
                returns.push(match lx.keyword()?.as_str() {
                    "SUBSCRIBED" => ListReturnOption::Subscribed,
                    "CHILDREN" => ListReturnOption::Children,
                    "SPECIAL-USE" => ListReturnOption::SpecialUse,
                    "STATUS" => {
                        lx.sp()?;
                        ListReturnOption::Status(lx.paren_list(status_item)?)
                    }
                    _ => return Err(ParseErrorKind::Unknown("list return option")),
                });
                if returns.len() > 16 {
                    return Err(ParseErrorKind::TooMany);
                }
                if lx.eat(b')') {
                    break;
                }
                lx.list_sp()?;
            }
        }
    }
    Ok(CommandKind::List {
        reference,
        patterns,
        select,
        returns,
    })
}

/// A FETCH section spec written without brackets (`1.2.TEXT`, as an IMAP URL's `;SECTION=`).
pub(crate) fn parse_section(spec: &str) -> Option<super::section::Section> {
    let text = format!("[{spec}]");
    let mut lx = Lexer::new(text.as_bytes());
    let section = fetch::section(&mut lx).ok()?;
    lx.rest().is_empty().then_some(section)
}

/// Most messages in one MULTIAPPEND.
pub const MAX_MULTIAPPEND: usize = 1000;

fn parse_append(lx: &mut Lexer<'_>) -> Lex<CommandKind> {
    let mailbox = one_mailbox(lx)?;
    lx.sp()?;
    let first = append_message(lx)?;
    // RFC 3502 MULTIAPPEND: more `[flags] [date] literal` after a space.
    let mut more = Vec::new();
    while lx.eat(b' ') {
        if more.len() >= MAX_MULTIAPPEND {
            return Err(ParseErrorKind::TooMany);
        }
        more.push(append_message(lx)?);
    }
    Ok(CommandKind::Append {
        mailbox,
        flags: first.flags,
        internal_date: first.internal_date,
        message: first.message,
        catenate: first.catenate,
        more,
    })
}

fn append_message(lx: &mut Lexer<'_>) -> Lex<AppendMessage> {
    let mut flags = Vec::new();
    if lx.peek() == Some(b'(') {
        flags = lx.flag_list()?;
        lx.sp()?;
    }
    let mut internal_date = None;
    if lx.peek() == Some(b'"') {
        let text = lx.quoted()?;
        let text = std::str::from_utf8(&text).map_err(|_| ParseErrorKind::BadDate)?;
        internal_date = Some(DateTime::parse_imap(text).ok_or(ParseErrorKind::BadDate)?);
        lx.sp()?;
    }
    // RFC 4469 CATENATE: `CATENATE (TEXT literal / URL astring ...)`.
    if lx.eat_keyword("CATENATE ") {
        let parts = lx.paren_list(|lx| {
            if lx.eat_keyword("TEXT ") {
                lx.eat(b'~');
                Ok(CatPart::Text(lx.literal()?.to_vec()))
            } else if lx.eat_keyword("URL ") {
                Ok(CatPart::Url(lx.astring_utf8()?))
            } else {
                Err(ParseErrorKind::Unknown("catenate part"))
            }
        })?;
        return Ok(AppendMessage {
            flags,
            internal_date,
            message: Vec::new(),
            catenate: Some(parts),
        });
    }
    // RFC 3516 §4.4: with BINARY, the message may come as a literal8 (`~{n}`).
    lx.eat(b'~');
    let message = lx.literal()?.to_vec();
    Ok(AppendMessage {
        flags,
        internal_date,
        message,
        catenate: None,
    })
}

fn parse_store(lx: &mut Lexer<'_>, uid: bool) -> Lex<CommandKind> {
    lx.sp()?;
    let set = lx.sequence_set()?;
    lx.sp()?;
    let mut unchanged_since = None;
    if lx.eat(b'(') {
        if !lx.eat_keyword("UNCHANGEDSINCE ") {
            return Err(ParseErrorKind::Unknown("store modifier"));
        }
        unchanged_since = Some(lx.number64()?);
        lx.expect(b')', "')'")?;
        lx.sp()?;
    }
    let mode = if lx.eat(b'+') {
        StoreMode::Add
    } else if lx.eat(b'-') {
        StoreMode::Remove
    } else {
        StoreMode::Replace
    };
    let item = lx.name()?;
    let silent = match item.as_str() {
        "FLAGS" => false,
        "FLAGS.SILENT" => true,
        _ => return Err(ParseErrorKind::Unknown("store item")),
    };
    lx.sp()?;
    let flags = if lx.peek() == Some(b'(') {
        lx.flag_list()?
    } else {
        let mut flags = vec![lx.flag()?];
        while lx.eat(b' ') {
            if flags.len() >= lexer::MAX_LIST_ITEMS {
                return Err(ParseErrorKind::TooMany);
            }
            flags.push(lx.flag()?);
        }
        flags
    };
    Ok(CommandKind::Store {
        uid,
        set,
        unchanged_since,
        mode,
        silent,
        flags,
    })
}

fn parse_copy(lx: &mut Lexer<'_>, uid: bool, word: &str) -> Lex<CommandKind> {
    lx.sp()?;
    let set = lx.sequence_set()?;
    let mailbox = one_mailbox(lx)?;
    Ok(if word == "MOVE" {
        CommandKind::Move { uid, set, mailbox }
    } else {
        CommandKind::Copy { uid, set, mailbox }
    })
}

#[cfg(test)]
mod tests;
