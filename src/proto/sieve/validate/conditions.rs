//! The tests (conditions) of `if`/`elsif`: known tests, their tags and arguments, and the
//! extensions they need.

use super::{Ctx, Kind, Parsed, INDEX_TAGS, MATCH_TAGS, PART_TAGS, R};
use crate::proto::sieve::ast::{BodyTransform, DupId, Test, Zone};
use crate::proto::sieve::extensions::Extension;
use crate::proto::sieve::parser::{Arg, GTest};
use crate::proto::sieve::{message, CompileError};

impl Ctx {
    pub(super) fn test(&self, t: &GTest) -> R<Test> {
        let line = t.line;
        let name = t.name.as_str();
        let no_subtests = || -> R<()> {
            if t.tests.is_empty() {
                Ok(())
            } else {
                Err(CompileError::new(
                    line,
                    format!("{name} takes no nested test"),
                ))
            }
        };
        let split = |spec: &[&[(&str, Kind)]]| self.split(line, name, &t.args, spec);
        Ok(match name {
            "true" | "false" => {
                no_subtests()?;
                split(&[])?.count_pos(0)?;
                if name == "true" {
                    Test::True
                } else {
                    Test::False
                }
            }
            "not" => {
                if !t.args.is_empty() || t.tests.len() != 1 {
                    return Err(CompileError::new(line, "not takes one test"));
                }
                let inner = t
                    .tests
                    .first()
                    .ok_or_else(|| CompileError::new(line, "not takes one test"))?;
                Test::Not(Box::new(self.test(inner)?))
            }
            "allof" | "anyof" => {
                if !t.args.is_empty() || t.tests.is_empty() {
                    return Err(CompileError::new(line, format!("{name} takes a test list")));
                }
                let tests = t
                    .tests
                    .iter()
                    .map(|x| self.test(x))
                    .collect::<R<Vec<_>>>()?;
                if name == "allof" {
                    Test::AllOf(tests)
                } else {
                    Test::AnyOf(tests)
                }
            }
            "address" => {
                no_subtests()?;
                let p = split(&[MATCH_TAGS, PART_TAGS, INDEX_TAGS])?;
                p.count_pos(2)?;
                let headers = self.pos_strings(&p, 0)?;
                for h in &headers {
                    if !h.contains("${") && !message::valid_field_name(h) {
                        return Err(p.err(format!("invalid header field name \"{h}\"")));
                    }
                }
                Test::Address {
                    m: self.matcher(&p)?,
                    part: self.addr_part(&p)?,
                    index: self.index(&p)?,
                    headers: self.templates(&headers),
                    keys: self.templates(&self.pos_strings(&p, 1)?),
                }
            }
            "envelope" => {
                no_subtests()?;
                self.need(Extension::Envelope, line, name)?;
                let p = split(&[MATCH_TAGS, PART_TAGS])?;
                p.count_pos(2)?;
                let parts = self.pos_strings(&p, 0)?;
                for e in &parts {
                    if !e.contains("${")
                        && !["from", "to", "orig_to", "auth"]
                            .contains(&e.to_ascii_lowercase().as_str())
                    {
                        return Err(p.err(format!("unknown envelope part \"{e}\"")));
                    }
                }
                Test::Envelope {
                    m: self.matcher(&p)?,
                    part: self.addr_part(&p)?,
                    parts: self.templates(&parts),
                    keys: self.templates(&self.pos_strings(&p, 1)?),
                }
            }
            "header" => {
                no_subtests()?;
                let p = split(&[MATCH_TAGS, INDEX_TAGS])?;
                p.count_pos(2)?;
                Test::Header {
                    m: self.matcher(&p)?,
                    index: self.index(&p)?,
                    headers: self.templates(&self.pos_strings(&p, 0)?),
                    keys: self.templates(&self.pos_strings(&p, 1)?),
                }
            }
            "exists" => {
                no_subtests()?;
                let p = split(&[])?;
                p.count_pos(1)?;
                Test::Exists(self.templates(&self.pos_strings(&p, 0)?))
            }
            "size" => {
                no_subtests()?;
                let p = split(&[&[(":over", Kind::Flag), (":under", Kind::Flag)]])?;
                p.count_pos(1)?;
                if p.has(":over") == p.has(":under") {
                    return Err(p.err("needs exactly one of :over and :under"));
                }
                let limit = match p.pos.first() {
                    Some(Arg::Number(n)) => *n,
                    _ => return Err(p.err("needs a number")),
                };
                Test::Size {
                    over: p.has(":over"),
                    limit,
                }
            }
            "body" => {
                no_subtests()?;
                self.need(Extension::Body, line, name)?;
                let p = split(&[
                    MATCH_TAGS,
                    &[
                        (":raw", Kind::Flag),
                        (":text", Kind::Flag),
                        (":content", Kind::List),
                    ],
                ])?;
                p.count_pos(1)?;
                let n = [":raw", ":text", ":content"]
                    .iter()
                    .filter(|x| p.has(x))
                    .count();
                if n > 1 {
                    return Err(p.err("more than one body transform"));
                }
                let (transform, content_types) = if p.has(":raw") {
                    (BodyTransform::Raw, Vec::new())
                } else if let Some(c) = p.strs(":content") {
                    (BodyTransform::Content, self.templates(c))
                } else {
                    (BodyTransform::Text, Vec::new())
                };
                Test::Body {
                    m: self.matcher(&p)?,
                    transform,
                    content_types,
                    keys: self.templates(&self.pos_strings(&p, 0)?),
                }
            }
            "date" | "currentdate" => {
                no_subtests()?;
                self.need(Extension::Date, line, name)?;
                let zone_tags: &[(&str, Kind)] = if name == "date" {
                    &[(":zone", Kind::Str), (":originalzone", Kind::Flag)]
                } else {
                    &[(":zone", Kind::Str)]
                };
                let p = if name == "date" {
                    split(&[MATCH_TAGS, zone_tags, INDEX_TAGS])?
                } else {
                    split(&[MATCH_TAGS, zone_tags])?
                };
                let zone = match (p.strs(":zone"), p.has(":originalzone")) {
                    (Some(_), true) => return Err(p.err(":zone and :originalzone together")),
                    (Some(z), false) => {
                        let z = z.first().cloned().unwrap_or_default();
                        Zone::Fixed(
                            parse_numeric_zone(&z)
                                .ok_or_else(|| p.err(format!("invalid zone \"{z}\"")))?,
                        )
                    }
                    (None, true) => Zone::Original,
                    (None, false) => Zone::Local,
                };
                let m = self.matcher(&p)?;
                if name == "date" {
                    p.count_pos(3)?;
                    let part = self.pos_string(&p, 1)?;
                    check_part(&p, &part)?;
                    Test::Date {
                        m,
                        zone,
                        index: self.index(&p)?,
                        header: self.template(&self.pos_string(&p, 0)?),
                        part: self.template(&part),
                        keys: self.templates(&self.pos_strings(&p, 2)?),
                    }
                } else {
                    p.count_pos(2)?;
                    let part = self.pos_string(&p, 0)?;
                    check_part(&p, &part)?;
                    Test::CurrentDate {
                        m,
                        zone,
                        part: self.template(&part),
                        keys: self.templates(&self.pos_strings(&p, 1)?),
                    }
                }
            }
            "string" => {
                no_subtests()?;
                self.need(Extension::Variables, line, name)?;
                let p = split(&[MATCH_TAGS])?;
                p.count_pos(2)?;
                Test::String {
                    m: self.matcher(&p)?,
                    sources: self.templates(&self.pos_strings(&p, 0)?),
                    keys: self.templates(&self.pos_strings(&p, 1)?),
                }
            }
            "hasflag" => {
                no_subtests()?;
                self.need(Extension::Imap4Flags, line, name)?;
                let p = split(&[MATCH_TAGS])?;
                let (vars, keys) = match p.pos.len() {
                    1 => (None, self.pos_strings(&p, 0)?),
                    2 => {
                        self.need(Extension::Variables, line, "hasflag with variables")?;
                        (
                            Some(self.templates(&self.pos_strings(&p, 0)?)),
                            self.pos_strings(&p, 1)?,
                        )
                    }
                    _ => return Err(p.err("expects [variables] flag-list")),
                };
                Test::HasFlag {
                    m: self.matcher(&p)?,
                    vars,
                    keys: self.templates(&keys),
                }
            }
            "spamtest" => {
                no_subtests()?;
                self.need(Extension::SpamTest, line, name)?;
                let p = split(&[MATCH_TAGS, &[(":percent", Kind::Flag)]])?;
                p.count_pos(1)?;
                if p.has(":percent") {
                    self.need(Extension::SpamTestPlus, line, ":percent")?;
                }
                Test::Spam {
                    m: self.matcher(&p)?,
                    percent: p.has(":percent"),
                    key: self.template(&self.pos_string(&p, 0)?),
                }
            }
            "duplicate" => {
                no_subtests()?;
                self.need(Extension::Duplicate, line, name)?;
                let p = split(&[&[
                    (":handle", Kind::Str),
                    (":header", Kind::Str),
                    (":uniqueid", Kind::Str),
                    (":seconds", Kind::Num),
                    (":last", Kind::Flag),
                ]])?;
                p.count_pos(0)?;
                let first = |tag: &str| {
                    p.strs(tag)
                        .and_then(|v| v.first())
                        .map(|s| self.template(s))
                };
                let id = match (first(":header"), first(":uniqueid")) {
                    (Some(_), Some(_)) => return Err(p.err(":header and :uniqueid together")),
                    (Some(h), None) => DupId::Header(h),
                    (None, Some(u)) => DupId::UniqueId(u),
                    (None, None) => DupId::MessageId,
                };
                Test::Duplicate {
                    handle: first(":handle"),
                    id,
                    seconds: p.num(":seconds"),
                    last: p.has(":last"),
                }
            }
            "mailboxexists" => {
                no_subtests()?;
                self.need(Extension::Mailbox, line, name)?;
                let p = split(&[])?;
                p.count_pos(1)?;
                Test::MailboxExists(self.templates(&self.pos_strings(&p, 0)?))
            }
            other => return Err(CompileError::new(line, format!("unknown test \"{other}\""))),
        })
    }
}

fn check_part(p: &Parsed, part: &str) -> R<()> {
    if !part.contains("${") && !message::valid_date_part(part) {
        return Err(p.err(format!("unknown date part \"{part}\"")));
    }
    Ok(())
}

fn parse_numeric_zone(z: &str) -> Option<i32> {
    let b = z.as_bytes();
    if b.len() == 5 && matches!(b.first(), Some(b'+' | b'-')) {
        message::parse_zone(z)
    } else {
        None
    }
}
