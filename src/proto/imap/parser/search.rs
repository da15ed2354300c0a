//! SEARCH program grammar (RFC 3501 §6.4.4, RFC 7162 MODSEQ).

use super::super::command::{CommandKind, SearchReturn};
use super::super::datetime::Date;
use super::super::search::{ModSeqEntry, SearchKey};
use super::super::sort::{SortCriterion, SortKey};
use super::super::thread::Algorithm;
use super::lexer::{Lex, Lexer};
use super::ParseErrorKind;

/// Deepest nesting of NOT / OR / parentheses accepted.
pub const MAX_SEARCH_DEPTH: usize = 32;
/// Most keys in one program.
pub const MAX_SEARCH_KEYS: usize = 1000;

/// RFC 4731 ESEARCH / RFC 5182 SEARCHRES / RFC 5267: `RETURN (MIN MAX ALL COUNT SAVE UPDATE
/// CONTEXT PARTIAL n:m) ` before the criteria of SEARCH and SORT; `()` is ALL.
fn return_options(lx: &mut Lexer<'_>) -> Lex<Option<Vec<SearchReturn>>> {
    if !lx.eat_keyword("RETURN ") {
        return Ok(None);
    }
    let mut options = Vec::new();
    if !lx.eat_keyword("()") {
        options = lx.paren_list(|lx| {
            let word = lx.keyword()?;
            if word == "PARTIAL" {
                // RFC 5267 §5: `PARTIAL nz-number ":" nz-number`; 500:400 is 400:500.
                lx.sp()?;
                let a = lx.nz_number()?;
                lx.expect(b':', "':'")?;
                let b = lx.nz_number()?;
                return Ok(SearchReturn::Partial(a.min(b), a.max(b)));
            }
            SearchReturn::parse(&word).ok_or(ParseErrorKind::Unknown("search return option"))
        })?;
        // §4.4: one PARTIAL or one ALL, not both.
        let ranges = options
            .iter()
            .filter(|o| matches!(o, SearchReturn::Partial(..) | SearchReturn::All))
            .count();
        if ranges > 1 {
            return Err(ParseErrorKind::Expected("at most one of PARTIAL and ALL"));
        }
    }
    if options.is_empty() {
        options.push(SearchReturn::All);
    }
    lx.sp()?;
    Ok(Some(options))
}

pub(super) fn parse_search(lx: &mut Lexer<'_>, uid: bool) -> Lex<CommandKind> {
    lx.sp()?;
    let returns = return_options(lx)?;
    let mut charset = None;
    if lx.eat_keyword("CHARSET ") {
        let name = String::from_utf8_lossy(&lx.astring()?).to_ascii_uppercase();
        if name != "UTF-8" && name != "US-ASCII" {
            return Err(ParseErrorKind::BadCharset(name));
        }
        charset = Some(name);
        lx.sp()?;
    }
    let criteria = program(lx)?;
    Ok(CommandKind::Search {
        uid,
        charset,
        criteria,
        returns,
    })
}

/// The search keys up to the line end, as one key (an implicit AND).
fn program(lx: &mut Lexer<'_>) -> Lex<SearchKey> {
    let mut budget = MAX_SEARCH_KEYS;
    let mut keys = vec![search_key(lx, 0, &mut budget)?];
    while lx.eat(b' ') {
        keys.push(search_key(lx, 0, &mut budget)?);
    }
    Ok(if keys.len() == 1 {
        keys.pop().unwrap_or(SearchKey::All)
    } else {
        SearchKey::And(keys)
    })
}

/// The charset of SORT and THREAD (required there): UTF-8 or US-ASCII.
fn charset(lx: &mut Lexer<'_>) -> Lex<()> {
    let name = String::from_utf8_lossy(&lx.astring()?).to_ascii_uppercase();
    if name != "UTF-8" && name != "US-ASCII" {
        return Err(ParseErrorKind::BadCharset(name));
    }
    Ok(())
}

/// `SORT [RETURN (options)] (criteria) charset search-keys` (RFC 5256, RFC 5957, RFC 5267).
pub(super) fn parse_sort(lx: &mut Lexer<'_>, uid: bool) -> Lex<CommandKind> {
    lx.sp()?;
    let returns = return_options(lx)?;
    let criteria = lx.paren_list(|lx| {
        let mut reverse = false;
        let mut word = lx.keyword()?;
        if word == "REVERSE" {
            lx.sp()?;
            reverse = true;
            word = lx.keyword()?;
        }
        let key = SortKey::parse(&word).ok_or(ParseErrorKind::Unknown("sort key"))?;
        Ok(SortCriterion { reverse, key })
    })?;
    lx.sp()?;
    charset(lx)?;
    lx.sp()?;
    let search = program(lx)?;
    Ok(CommandKind::Sort {
        uid,
        criteria,
        search,
        returns,
    })
}

/// `THREAD algorithm charset search-keys` (RFC 5256).
pub(super) fn parse_thread(lx: &mut Lexer<'_>, uid: bool) -> Lex<CommandKind> {
    lx.sp()?;
    let word = lx.keyword()?;
    let algorithm = Algorithm::parse(&word).ok_or(ParseErrorKind::Unknown("thread algorithm"))?;
    lx.sp()?;
    charset(lx)?;
    lx.sp()?;
    let search = program(lx)?;
    Ok(CommandKind::Thread {
        uid,
        algorithm,
        search,
    })
}

fn text(lx: &mut Lexer<'_>) -> Lex<String> {
    lx.sp()?;
    Ok(String::from_utf8_lossy(&lx.astring()?).into_owned())
}

fn date(lx: &mut Lexer<'_>) -> Lex<Date> {
    lx.sp()?;
    let quoted = lx.peek() == Some(b'"');
    let raw = if quoted {
        lx.quoted()?
    } else {
        lx.take_while(|b| b.is_ascii_alphanumeric() || b == b'-')
            .to_vec()
    };
    std::str::from_utf8(&raw)
        .ok()
        .and_then(Date::parse_imap)
        .ok_or(ParseErrorKind::BadDate)
}

fn search_key(lx: &mut Lexer<'_>, depth: usize, budget: &mut usize) -> Lex<SearchKey> {
    if depth > MAX_SEARCH_DEPTH || *budget == 0 {
        return Err(ParseErrorKind::TooMany);
    }
    *budget -= 1;
    if lx.eat(b'(') {
        let mut keys = vec![search_key(lx, depth + 1, budget)?];
        while lx.eat(b' ') {
            keys.push(search_key(lx, depth + 1, budget)?);
        }
        lx.close_paren()?;
        return Ok(if keys.len() == 1 {
            keys.pop().unwrap_or(SearchKey::All)
        } else {
            SearchKey::And(keys)
        });
    }
    if lx
        .peek()
        .is_some_and(|b| b.is_ascii_digit() || b == b'*' || b == b'$')
    {
        return Ok(SearchKey::Sequence(lx.sequence_set()?));
    }
    let word = lx.name()?;
    let key = match word.as_str() {
        "ALL" => SearchKey::All,
        "ANSWERED" => SearchKey::Answered,
        "DELETED" => SearchKey::Deleted,
        "DRAFT" => SearchKey::Draft,
        "FLAGGED" => SearchKey::Flagged,
        "NEW" => SearchKey::New,
        "OLD" => SearchKey::Old,
        "RECENT" => SearchKey::Recent,
        "SEEN" => SearchKey::Seen,
        "UNANSWERED" => SearchKey::Unanswered,
        "UNDELETED" => SearchKey::Undeleted,
        "UNDRAFT" => SearchKey::Undraft,
        "UNFLAGGED" => SearchKey::Unflagged,
        "UNSEEN" => SearchKey::Unseen,
        "BCC" => SearchKey::Bcc(text(lx)?),
        "BODY" => SearchKey::Body(text(lx)?),
        "CC" => SearchKey::Cc(text(lx)?),
        "FROM" => SearchKey::From(text(lx)?),
        "SUBJECT" => SearchKey::Subject(text(lx)?),
        "TEXT" => SearchKey::Text(text(lx)?),
        "TO" => SearchKey::To(text(lx)?),
        "KEYWORD" => SearchKey::Keyword(keyword(lx)?),
        "UNKEYWORD" => SearchKey::Unkeyword(keyword(lx)?),
        "HEADER" => {
            let name = text(lx)?;
            SearchKey::Header(name, text(lx)?)
        }
        "BEFORE" => SearchKey::Before(date(lx)?),
        "ON" => SearchKey::On(date(lx)?),
        "SINCE" => SearchKey::Since(date(lx)?),
        "SENTBEFORE" => SearchKey::SentBefore(date(lx)?),
        "SENTON" => SearchKey::SentOn(date(lx)?),
        "SENTSINCE" => SearchKey::SentSince(date(lx)?),
        "LARGER" => {
            lx.sp()?;
            SearchKey::Larger(lx.number()?)
        }
        "SMALLER" => {
            lx.sp()?;
            SearchKey::Smaller(lx.number()?)
        }
        "UID" => {
            lx.sp()?;
            SearchKey::Uid(lx.sequence_set()?)
        }
        "NOT" => {
            lx.sp()?;
            SearchKey::Not(Box::new(search_key(lx, depth + 1, budget)?))
        }
        "OR" => {
            lx.sp()?;
            let a = search_key(lx, depth + 1, budget)?;
            lx.sp()?;
            let b = search_key(lx, depth + 1, budget)?;
            SearchKey::Or(Box::new(a), Box::new(b))
        }
        "MODSEQ" => {
            lx.sp()?;
            let mut entry = None;
            if lx.peek() == Some(b'"') {
                let name = String::from_utf8_lossy(&lx.quoted()?).into_owned();
                lx.sp()?;
                let kind = lx.keyword()?;
                if !matches!(kind.as_str(), "PRIV" | "SHARED" | "ALL") {
                    return Err(ParseErrorKind::Unknown("modseq entry type"));
                }
                entry = Some(ModSeqEntry { name, kind });
                lx.sp()?;
            }
            SearchKey::ModSeq {
                entry,
                modseq: lx.number64()?,
            }
        }
        _ => return Err(ParseErrorKind::Unknown("search key")),
    };
    Ok(key)
}

fn keyword(lx: &mut Lexer<'_>) -> Lex<String> {
    lx.sp()?;
    Ok(String::from_utf8_lossy(lx.atom()?).into_owned())
}
