//! From the generic tree to the typed one: known commands and tests, their tags and arguments,
//! and every extension `require`d before use (RFC 5228 §3.2, §2.7, and each extension's
//! grammar). Errors carry the line.

use super::ast::{AddrPart, Command, FlagOp, Index, Modifier, Test, VacationCmd};
use super::compare::{Comparator, MatchKind, Matcher, Rel};
use super::extensions::{Extension, Extensions};
use super::parser::{Arg, GCommand};
use super::strings::{self, Template};
use super::{encoded, message, CompileError, Script};
use crate::proto::imap::mailbox_name::MailboxName;

mod conditions;

type R<T> = Result<T, CompileError>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Flag,
    Num,
    Str,
    List,
}

/// Tags every match-capable test takes.
const MATCH_TAGS: &[(&str, Kind)] = &[
    (":comparator", Kind::Str),
    (":is", Kind::Flag),
    (":contains", Kind::Flag),
    (":matches", Kind::Flag),
    (":value", Kind::Str),
    (":count", Kind::Str),
];
const PART_TAGS: &[(&str, Kind)] = &[
    (":all", Kind::Flag),
    (":localpart", Kind::Flag),
    (":domain", Kind::Flag),
    (":user", Kind::Flag),
    (":detail", Kind::Flag),
];
const INDEX_TAGS: &[(&str, Kind)] = &[(":index", Kind::Num), (":last", Kind::Flag)];

enum Val {
    Flag,
    Num(u64),
    Strs(Vec<String>),
}

struct Parsed {
    line: usize,
    what: String,
    tags: Vec<(String, Val)>,
    pos: Vec<Arg>,
}

impl Parsed {
    fn has(&self, tag: &str) -> bool {
        self.tags.iter().any(|(t, _)| t == tag)
    }
    fn num(&self, tag: &str) -> Option<u64> {
        self.tags.iter().find_map(|(t, v)| match v {
            Val::Num(n) if t == tag => Some(*n),
            _ => None,
        })
    }
    fn strs(&self, tag: &str) -> Option<&Vec<String>> {
        self.tags.iter().find_map(|(t, v)| match v {
            Val::Strs(s) if t == tag => Some(s),
            _ => None,
        })
    }
    fn err(&self, msg: impl std::fmt::Display) -> CompileError {
        CompileError::new(self.line, format!("{}: {msg}", self.what))
    }
    fn count_pos(&self, n: usize) -> R<()> {
        if self.pos.len() != n {
            return Err(self.err(format!(
                "expects {n} positional argument(s), got {}",
                self.pos.len()
            )));
        }
        Ok(())
    }
}

struct Ctx {
    enabled: Extensions,
    required: Extensions,
}

pub(crate) fn validate(cmds: &[GCommand], enabled: &Extensions) -> R<Script> {
    let mut ctx = Ctx {
        enabled: *enabled,
        required: Extensions::none(),
    };
    let mut start = 0;
    for c in cmds {
        if c.name != "require" {
            break;
        }
        start += 1;
        if !c.tests.is_empty() || c.block.is_some() {
            return Err(CompileError::new(c.line, "require takes a string list"));
        }
        let [Arg::Strings { values, .. }] = c.args.as_slice() else {
            return Err(CompileError::new(c.line, "require takes a string list"));
        };
        for name in values {
            let ext = Extension::from_name(name)
                .filter(|e| ctx.enabled.contains(*e))
                .ok_or_else(|| {
                    CompileError::new(c.line, format!("unsupported extension \"{name}\""))
                })?;
            ctx.required.insert(ext);
            // spamtestplus implies spamtest; ereject is reject's sibling (RFC 5429 §2.1).
            if ext == Extension::SpamTestPlus {
                ctx.required.insert(Extension::SpamTest);
            }
        }
    }
    let commands = ctx.block(cmds.get(start..).unwrap_or_default())?;
    Ok(Script {
        commands,
        required: ctx.required,
        enabled: ctx.enabled,
    })
}

impl Ctx {
    fn need(&self, ext: Extension, line: usize, what: &str) -> R<()> {
        if self.required.contains(ext) {
            Ok(())
        } else {
            Err(CompileError::new(
                line,
                format!("{what} requires require \"{}\"", ext.name()),
            ))
        }
    }

    fn template(&self, s: &str) -> Template {
        let s = if self.required.contains(Extension::EncodedCharacter) {
            encoded::decode(s)
        } else {
            s.to_string()
        };
        if self.required.contains(Extension::Variables) {
            Template::parse(&s)
        } else {
            Template::literal(s)
        }
    }

    fn templates(&self, v: &[String]) -> Vec<Template> {
        v.iter().map(|s| self.template(s)).collect()
    }

    fn split(&self, line: usize, what: &str, args: &[Arg], spec: &[&[(&str, Kind)]]) -> R<Parsed> {
        let mut p = Parsed {
            line,
            what: what.to_string(),
            tags: Vec::new(),
            pos: Vec::new(),
        };
        let mut it = args.iter().peekable();
        while let Some(a) = it.next() {
            match a {
                Arg::Tag(t) => {
                    if !p.pos.is_empty() {
                        return Err(p.err(format!("tag :{t} after positional arguments")));
                    }
                    let tag = format!(":{t}");
                    let kind = spec
                        .iter()
                        .flat_map(|s| s.iter())
                        .find(|(n, _)| *n == tag)
                        .map(|(_, k)| *k)
                        .ok_or_else(|| p.err(format!("unknown tag {tag}")))?;
                    if p.has(&tag) {
                        return Err(p.err(format!("tag {tag} given twice")));
                    }
                    let val = match kind {
                        Kind::Flag => Val::Flag,
                        Kind::Num => match it.next() {
                            Some(Arg::Number(n)) => Val::Num(*n),
                            _ => return Err(p.err(format!("{tag} needs a number"))),
                        },
                        Kind::Str => match it.next() {
                            Some(Arg::Strings {
                                values,
                                list: false,
                            }) => Val::Strs(values.clone()),
                            _ => return Err(p.err(format!("{tag} needs a string"))),
                        },
                        Kind::List => match it.next() {
                            Some(Arg::Strings { values, .. }) => Val::Strs(values.clone()),
                            _ => return Err(p.err(format!("{tag} needs a string list"))),
                        },
                    };
                    p.tags.push((tag, val));
                }
                other => p.pos.push(other.clone()),
            }
        }
        Ok(p)
    }

    fn pos_strings(&self, p: &Parsed, i: usize) -> R<Vec<String>> {
        match p.pos.get(i) {
            Some(Arg::Strings { values, .. }) => Ok(values.clone()),
            _ => Err(p.err(format!("argument {} must be a string list", i + 1))),
        }
    }

    fn pos_string(&self, p: &Parsed, i: usize) -> R<String> {
        match p.pos.get(i) {
            Some(Arg::Strings {
                values,
                list: false,
            }) => Ok(values.first().cloned().unwrap_or_default()),
            _ => Err(p.err(format!("argument {} must be a string", i + 1))),
        }
    }

    fn matcher(&self, p: &Parsed) -> R<Matcher> {
        let mut m = Matcher::default();
        if let Some(c) = p.strs(":comparator") {
            let name = c.first().map(String::as_str).unwrap_or_default();
            m.cmp = Comparator::from_name(name)
                .ok_or_else(|| p.err(format!("unknown comparator \"{name}\"")))?;
            if m.cmp == Comparator::AsciiNumeric {
                self.need(
                    Extension::AsciiNumeric,
                    p.line,
                    "comparator i;ascii-numeric",
                )?;
            }
        }
        let kinds = [":is", ":contains", ":matches", ":value", ":count"];
        let given: Vec<&&str> = kinds.iter().filter(|k| p.has(k)).collect();
        if given.len() > 1 {
            return Err(p.err("more than one match type"));
        }
        m.kind = match given.first().map(|k| **k) {
            None | Some(":is") => MatchKind::Is,
            Some(":contains") => MatchKind::Contains,
            Some(":matches") => MatchKind::Matches,
            Some(tag) => {
                self.need(Extension::Relational, p.line, tag)?;
                let op = p
                    .strs(tag)
                    .and_then(|v| v.first())
                    .cloned()
                    .unwrap_or_default();
                let rel = Rel::from_name(&op)
                    .ok_or_else(|| p.err(format!("unknown relational operator \"{op}\"")))?;
                if tag == ":value" {
                    MatchKind::Value(rel)
                } else {
                    MatchKind::Count(rel)
                }
            }
        };
        if m.cmp == Comparator::AsciiNumeric
            && matches!(m.kind, MatchKind::Contains | MatchKind::Matches)
        {
            return Err(p.err("i;ascii-numeric does not support substring matches"));
        }
        Ok(m)
    }

    fn addr_part(&self, p: &Parsed) -> R<AddrPart> {
        let parts = [
            (":all", AddrPart::All),
            (":localpart", AddrPart::Local),
            (":domain", AddrPart::Domain),
            (":user", AddrPart::User),
            (":detail", AddrPart::Detail),
        ];
        let given: Vec<_> = parts.iter().filter(|(t, _)| p.has(t)).collect();
        if given.len() > 1 {
            return Err(p.err("more than one address part"));
        }
        let part = given.first().map_or(AddrPart::All, |(_, a)| *a);
        if matches!(part, AddrPart::User | AddrPart::Detail) {
            self.need(Extension::Subaddress, p.line, ":user/:detail")?;
        }
        Ok(part)
    }

    fn index(&self, p: &Parsed) -> R<Option<Index>> {
        match p.num(":index") {
            Some(n) => {
                self.need(Extension::Index, p.line, ":index")?;
                if n == 0 {
                    return Err(p.err(":index counts from 1"));
                }
                Ok(Some(Index {
                    n,
                    last: p.has(":last"),
                }))
            }
            None if p.has(":last") => Err(p.err(":last needs :index")),
            None => Ok(None),
        }
    }

    fn flags_tag(&self, p: &Parsed) -> R<Option<Vec<Template>>> {
        match p.strs(":flags") {
            Some(f) => {
                self.need(Extension::Imap4Flags, p.line, ":flags")?;
                Ok(Some(self.templates(f)))
            }
            None => Ok(None),
        }
    }

    fn copy_tag(&self, p: &Parsed) -> R<bool> {
        if p.has(":copy") {
            self.need(Extension::Copy, p.line, ":copy")?;
            return Ok(true);
        }
        Ok(false)
    }

    fn block(&self, cmds: &[GCommand]) -> R<Vec<Command>> {
        let mut out: Vec<Command> = Vec::with_capacity(cmds.len());
        let mut prev_if = false;
        for c in cmds {
            let is_if = matches!(c.name.as_str(), "if" | "elsif");
            match c.name.as_str() {
                "if" => {
                    let (test, block) = self.cond(c)?;
                    out.push(Command::If {
                        branches: vec![(test, block)],
                        otherwise: None,
                    });
                }
                "elsif" | "else" => {
                    let Some(Command::If {
                        branches,
                        otherwise,
                    }) = out.last_mut().filter(|_| prev_if)
                    else {
                        return Err(CompileError::new(
                            c.line,
                            format!("{} without a preceding if", c.name),
                        ));
                    };
                    if c.name == "elsif" {
                        let (test, block) = self.cond(c)?;
                        branches.push((test, block));
                    } else {
                        if !c.args.is_empty() || !c.tests.is_empty() {
                            return Err(CompileError::new(c.line, "else takes no arguments"));
                        }
                        let body = c
                            .block
                            .as_deref()
                            .ok_or_else(|| CompileError::new(c.line, "else needs a block"))?;
                        *otherwise = Some(self.block(body)?);
                    }
                }
                _ => out.push(self.command(c)?),
            }
            prev_if = is_if;
        }
        Ok(out)
    }

    fn cond(&self, c: &GCommand) -> R<(Test, Vec<Command>)> {
        if !c.args.is_empty() || c.tests.len() != 1 || c.test_list {
            return Err(CompileError::new(
                c.line,
                format!("{} needs one test", c.name),
            ));
        }
        let test = self.test(
            c.tests
                .first()
                .ok_or_else(|| CompileError::new(c.line, format!("{} needs one test", c.name)))?,
        )?;
        let body = c
            .block
            .as_deref()
            .ok_or_else(|| CompileError::new(c.line, format!("{} needs a block", c.name)))?;
        Ok((test, self.block(body)?))
    }

    fn command(&self, c: &GCommand) -> R<Command> {
        let line = c.line;
        let name = c.name.as_str();
        if !c.tests.is_empty() {
            return Err(CompileError::new(line, format!("{name} takes no test")));
        }
        if c.block.is_some() {
            return Err(CompileError::new(line, format!("{name} takes no block")));
        }
        let simple = |spec: &[&[(&str, Kind)]]| self.split(line, name, &c.args, spec);
        Ok(match name {
            "require" => {
                return Err(CompileError::new(
                    line,
                    "require must come before other commands",
                ))
            }
            "stop" => {
                simple(&[])?.count_pos(0)?;
                Command::Stop
            }
            "keep" => {
                let p = simple(&[&[(":flags", Kind::List)]])?;
                p.count_pos(0)?;
                Command::Keep {
                    flags: self.flags_tag(&p)?,
                }
            }
            "discard" => {
                simple(&[])?.count_pos(0)?;
                Command::Discard
            }
            "redirect" => {
                let p = simple(&[&[(":copy", Kind::Flag)]])?;
                p.count_pos(1)?;
                let addr = self.pos_string(&p, 0)?;
                let address = self.template(&addr);
                if let Some(a) = address.as_literal() {
                    if !plausible_address(a) {
                        return Err(p.err(format!("invalid address \"{a}\"")));
                    }
                }
                Command::Redirect {
                    address,
                    copy: self.copy_tag(&p)?,
                }
            }
            "fileinto" => {
                self.need(Extension::FileInto, line, name)?;
                let p = simple(&[&[
                    (":copy", Kind::Flag),
                    (":create", Kind::Flag),
                    (":flags", Kind::List),
                ]])?;
                p.count_pos(1)?;
                if p.has(":create") {
                    self.need(Extension::Mailbox, line, ":create")?;
                }
                let mailbox = self.template(&self.pos_string(&p, 0)?);
                if let Some(name) = mailbox.as_literal() {
                    if let Err(e) = MailboxName::from_unicode(name) {
                        return Err(p.err(format!("mailbox name \"{name}\": {e}")));
                    }
                }
                Command::FileInto {
                    mailbox,
                    flags: self.flags_tag(&p)?,
                    create: p.has(":create"),
                    copy: self.copy_tag(&p)?,
                }
            }
            "reject" | "ereject" => {
                let ext = if name == "reject" {
                    Extension::Reject
                } else {
                    Extension::Ereject
                };
                self.need(ext, line, name)?;
                let p = simple(&[])?;
                p.count_pos(1)?;
                Command::Reject {
                    reason: self.template(&self.pos_string(&p, 0)?),
                    extended: name == "ereject",
                }
            }
            "set" => {
                self.need(Extension::Variables, line, name)?;
                let p = simple(&[&[
                    (":lower", Kind::Flag),
                    (":upper", Kind::Flag),
                    (":lowerfirst", Kind::Flag),
                    (":upperfirst", Kind::Flag),
                    (":quotewildcard", Kind::Flag),
                    (":length", Kind::Flag),
                ]])?;
                p.count_pos(2)?;
                let var = self.pos_string(&p, 0)?;
                if !strings::valid_variable_name(&var) {
                    return Err(p.err(format!("invalid variable name \"{var}\"")));
                }
                let mut modifiers: Vec<Modifier> = p
                    .tags
                    .iter()
                    .filter_map(|(t, _)| {
                        Some(match t.as_str() {
                            ":lower" => Modifier::Lower,
                            ":upper" => Modifier::Upper,
                            ":lowerfirst" => Modifier::LowerFirst,
                            ":upperfirst" => Modifier::UpperFirst,
                            ":quotewildcard" => Modifier::QuoteWildcard,
                            ":length" => Modifier::Length,
                            _ => return None,
                        })
                    })
                    .collect();
                modifiers.sort_by_key(|m| std::cmp::Reverse(strings::precedence(*m)));
                if modifiers.windows(2).any(
                    |w| matches!(w, [a, b] if strings::precedence(*a) == strings::precedence(*b)),
                ) {
                    return Err(p.err("two modifiers of the same precedence"));
                }
                Command::Set {
                    name: var.to_ascii_lowercase(),
                    value: self.template(&self.pos_string(&p, 1)?),
                    modifiers,
                }
            }
            "setflag" | "addflag" | "removeflag" => {
                self.need(Extension::Imap4Flags, line, name)?;
                let p = simple(&[])?;
                let op = match name {
                    "setflag" => FlagOp::Set,
                    "addflag" => FlagOp::Add,
                    _ => FlagOp::Remove,
                };
                let (var, flags) = match p.pos.len() {
                    1 => (None, self.pos_strings(&p, 0)?),
                    2 => {
                        self.need(Extension::Variables, line, "a flag variable")?;
                        let v = self.pos_string(&p, 0)?;
                        if !strings::valid_variable_name(&v) {
                            return Err(p.err(format!("invalid variable name \"{v}\"")));
                        }
                        (
                            Some(Template::literal(v.to_ascii_lowercase())),
                            self.pos_strings(&p, 1)?,
                        )
                    }
                    _ => return Err(p.err("expects [variable] flag-list")),
                };
                Command::Flags {
                    op,
                    var,
                    flags: self.templates(&flags),
                }
            }
            "vacation" => {
                self.need(Extension::Vacation, line, name)?;
                let p = simple(&[&[
                    (":days", Kind::Num),
                    (":seconds", Kind::Num),
                    (":subject", Kind::Str),
                    (":from", Kind::Str),
                    (":addresses", Kind::List),
                    (":mime", Kind::Flag),
                    (":handle", Kind::Str),
                ]])?;
                p.count_pos(1)?;
                if p.has(":seconds") {
                    self.need(Extension::VacationSeconds, line, ":seconds")?;
                    if p.has(":days") {
                        return Err(p.err(":days and :seconds together"));
                    }
                }
                let seconds = match (p.num(":days"), p.num(":seconds")) {
                    (Some(d), _) => Some(d.saturating_mul(86400)),
                    (None, s) => s,
                };
                let one = |tag: &str| {
                    p.strs(tag)
                        .and_then(|v| v.first())
                        .map(|s| self.template(s))
                };
                Command::Vacation(Box::new(VacationCmd {
                    seconds,
                    subject: one(":subject"),
                    from: one(":from"),
                    addresses: p
                        .strs(":addresses")
                        .map(|v| self.templates(v))
                        .unwrap_or_default(),
                    mime: p.has(":mime"),
                    handle: one(":handle"),
                    reason: self.template(&self.pos_string(&p, 0)?),
                }))
            }
            "addheader" => {
                self.need(Extension::EditHeader, line, name)?;
                let p = simple(&[&[(":last", Kind::Flag)]])?;
                p.count_pos(2)?;
                let field = self.template(&self.pos_string(&p, 0)?);
                if let Some(f) = field.as_literal() {
                    if !message::valid_field_name(f) {
                        return Err(p.err(format!("invalid header field name \"{f}\"")));
                    }
                }
                Command::AddHeader {
                    name: field,
                    value: self.template(&self.pos_string(&p, 1)?),
                    last: p.has(":last"),
                }
            }
            "deleteheader" => {
                self.need(Extension::EditHeader, line, name)?;
                let p = simple(&[MATCH_TAGS, INDEX_TAGS])?;
                if p.pos.is_empty() || p.pos.len() > 2 {
                    return Err(p.err("expects a field name and optional value patterns"));
                }
                let index = match p.num(":index") {
                    Some(0) => return Err(p.err(":index counts from 1")),
                    Some(n) => Some(Index {
                        n,
                        last: p.has(":last"),
                    }),
                    None if p.has(":last") => return Err(p.err(":last needs :index")),
                    None => None,
                };
                let field = self.template(&self.pos_string(&p, 0)?);
                if let Some(f) = field.as_literal() {
                    if !message::valid_field_name(f) {
                        return Err(p.err(format!("invalid header field name \"{f}\"")));
                    }
                }
                let values = if p.pos.len() == 2 {
                    Some(self.templates(&self.pos_strings(&p, 1)?))
                } else {
                    None
                };
                Command::DeleteHeader {
                    index,
                    m: self.matcher(&p)?,
                    name: field,
                    values,
                }
            }
            "include" => {
                self.need(Extension::Include, line, name)?;
                let p = simple(&[&[
                    (":personal", Kind::Flag),
                    (":global", Kind::Flag),
                    (":once", Kind::Flag),
                    (":optional", Kind::Flag),
                ]])?;
                p.count_pos(1)?;
                if p.has(":personal") && p.has(":global") {
                    return Err(p.err(":personal and :global together"));
                }
                let script = self.pos_string(&p, 0)?;
                if !valid_script_name(&script) {
                    return Err(p.err(format!("invalid script name \"{script}\"")));
                }
                Command::Include {
                    global: p.has(":global"),
                    once: p.has(":once"),
                    optional: p.has(":optional"),
                    name: Template::literal(script),
                }
            }
            "return" => {
                self.need(Extension::Include, line, name)?;
                simple(&[])?.count_pos(0)?;
                Command::Return
            }
            "global" => {
                self.need(Extension::Include, line, name)?;
                self.need(Extension::Variables, line, name)?;
                let p = simple(&[])?;
                p.count_pos(1)?;
                let names = self.pos_strings(&p, 0)?;
                for n in &names {
                    if !strings::valid_variable_name(n) {
                        return Err(p.err(format!("invalid variable name \"{n}\"")));
                    }
                }
                Command::Global(names.iter().map(|n| n.to_ascii_lowercase()).collect())
            }
            other => {
                return Err(CompileError::new(
                    line,
                    format!("unknown command \"{other}\""),
                ))
            }
        })
    }
}

/// An address `redirect` may send to: `local@domain`, no spaces or angle brackets.
pub(crate) fn plausible_address(a: &str) -> bool {
    let a = a.trim();
    match a.rsplit_once('@') {
        Some((l, d)) => {
            !l.is_empty()
                && !d.is_empty()
                && a.len() <= 512
                && !a
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || "<>,".contains(c))
        }
        None => false,
    }
}

/// A script name `include` may ask for: no `/`, no control characters, not `.`/`..`, short.
pub(crate) fn valid_script_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 255
        && n != "."
        && n != ".."
        && !n.chars().any(|c| c == '/' || c.is_control())
}
