//! Running a compiled script: commands, variables, actions and their conflicts, includes,
//! header edits. Tests are in `tests_eval`.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;

use super::ast::{Command, FlagOp, Index, VacationCmd};
use super::compare::{MatchKind, Matcher};
use super::extensions::Extension;
use super::message::{self, Message};
use super::strings::{apply_modifiers, Part, Template};
use super::{
    compile_with_limits, Action, Budget, Environment, Input, Outcome, RuntimeError, Script,
    Vacation,
};
use crate::proto::imap::mailbox_name::MailboxName;

pub(super) enum Flow {
    Next,
    Stop,
    Return,
}

/// Variables of one script (RFC 5229 scoping; `global` names go to the shared table).
pub(super) struct Frame {
    pub locals: HashMap<String, String>,
    pub global_names: Vec<String>,
    /// Whether this script required `variables` (match variables are set only then).
    pub variables: bool,
}

pub(super) struct State<'a, 'e> {
    pub input: &'a Input<'a>,
    pub env: &'e mut dyn Environment,
    pub budget: &'a Budget,
    pub msg: Message<'a>,
    pub edited: bool,
    pub edits: usize,
    pub steps: u64,
    /// Work left (`Budget::max_work`): spent by expansions and matches, checked at each step.
    pub fuel: Cell<u64>,
    pub actions: Vec<Action>,
    pub implicit_keep: bool,
    pub redirects: usize,
    /// imap4flags' internal variable.
    pub flags: Vec<String>,
    pub globals: HashMap<String, String>,
    pub matches: Vec<String>,
    pub text_parts: Option<Vec<String>>,
    /// Parsed addresses per header field (cleared when the header is edited).
    pub addresses: Vec<Option<Vec<String>>>,
    includes: HashMap<(bool, String), Rc<Script>>,
    included: Vec<(bool, String)>,
    stack: Vec<(bool, String)>,
    enabled: super::Extensions,
}

pub(super) fn run(
    script: &Script,
    input: &Input<'_>,
    env: &mut dyn Environment,
    budget: &Budget,
) -> Result<Outcome, RuntimeError> {
    let mut st = State {
        input,
        env,
        budget,
        msg: Message::parse(input.message),
        edited: false,
        edits: 0,
        steps: 0,
        fuel: Cell::new(budget.max_work),
        actions: Vec::new(),
        implicit_keep: true,
        redirects: 0,
        flags: Vec::new(),
        globals: HashMap::new(),
        matches: Vec::new(),
        text_parts: None,
        addresses: Vec::new(),
        includes: HashMap::new(),
        included: Vec::new(),
        stack: Vec::new(),
        enabled: script.enabled,
    };
    let mut frame = Frame {
        locals: HashMap::new(),
        global_names: Vec::new(),
        variables: script.required.contains(Extension::Variables),
    };
    st.block(&script.commands, &mut frame)?;
    if st.implicit_keep {
        // An explicit copy into INBOX (`fileinto :copy "INBOX"`) is the implicit keep too.
        let flags = st.flags.clone();
        if let Some(Action::Keep { flags: have }) = st
            .actions
            .iter_mut()
            .find(|a| matches!(a, Action::Keep { .. }))
        {
            merge_flags(have, &flags);
            st.implicit_keep = false;
        }
    }
    Ok(Outcome {
        implicit_keep: st.implicit_keep,
        implicit_keep_flags: if st.implicit_keep {
            st.flags.clone()
        } else {
            Vec::new()
        },
        edited_header: st.edited.then(|| st.msg.header_bytes()),
        actions: st.actions,
    })
}

impl State<'_, '_> {
    pub fn step(&mut self) -> Result<(), RuntimeError> {
        self.steps += 1;
        if self.steps > self.budget.max_steps {
            return Err(RuntimeError::TooManySteps(self.budget.max_steps));
        }
        if self.fuel.get() == 0 {
            return Err(RuntimeError::TooMuchWork(self.budget.max_work));
        }
        Ok(())
    }

    /// A template's text with variables and match variables substituted.
    pub fn expand<'t>(&self, frame: &Frame, t: &'t Template) -> Cow<'t, str> {
        if let [Part::Lit(s)] = t.parts.as_slice() {
            return Cow::Borrowed(s);
        }
        // At most a string's length: a template of many long variables stays bounded.
        let max = self.budget.limits.max_string_len;
        let mut out = String::new();
        for p in &t.parts {
            let piece = match p {
                Part::Lit(s) => s.as_str(),
                Part::Match(n) => self.matches.get(*n).map_or("", String::as_str),
                Part::Var(name) => self.var(frame, name),
            };
            if out.len() + piece.len() > max {
                let mut end = max.saturating_sub(out.len());
                while !piece.is_char_boundary(end) {
                    end -= 1;
                }
                out.push_str(piece.get(..end).unwrap_or_default());
                break;
            }
            out.push_str(piece);
        }
        self.spend(out.len() as u64);
        Cow::Owned(out)
    }

    /// Spend `n` units of work (0 left makes the next step fail).
    pub fn spend(&self, n: u64) {
        self.fuel.set(self.fuel.get().saturating_sub(n));
    }

    pub fn expand_all(&self, frame: &Frame, ts: &[Template]) -> Vec<String> {
        ts.iter()
            .map(|t| self.expand(frame, t).into_owned())
            .collect()
    }

    pub fn var<'s>(&'s self, frame: &'s Frame, name: &str) -> &'s str {
        if let Some(g) = name.strip_prefix("global.") {
            return self.globals.get(g).map_or("", String::as_str);
        }
        if name.contains('.') {
            return "";
        }
        if frame.global_names.iter().any(|n| n == name) {
            self.globals.get(name).map_or("", String::as_str)
        } else {
            frame.locals.get(name).map_or("", String::as_str)
        }
    }

    fn set_var(
        &mut self,
        frame: &mut Frame,
        name: &str,
        value: String,
    ) -> Result<(), RuntimeError> {
        let value = truncate(value, self.budget.max_variable_len);
        let (global, name) = match name.strip_prefix("global.") {
            Some(g) => (true, g),
            None => (frame.global_names.iter().any(|n| n == name), name),
        };
        let table = if global {
            &mut self.globals
        } else {
            &mut frame.locals
        };
        if !table.contains_key(name) {
            if table.len() >= self.budget.max_variables {
                return Err(RuntimeError::TooManyVariables(self.budget.max_variables));
            }
            table.insert(name.to_string(), value);
        } else if let Some(v) = table.get_mut(name) {
            *v = value;
        }
        Ok(())
    }

    pub fn block(&mut self, cmds: &[Command], frame: &mut Frame) -> Result<Flow, RuntimeError> {
        for c in cmds {
            match self.command(c, frame)? {
                Flow::Next => {}
                other => return Ok(other),
            }
        }
        Ok(Flow::Next)
    }

    fn command(&mut self, c: &Command, frame: &mut Frame) -> Result<Flow, RuntimeError> {
        self.step()?;
        match c {
            Command::If {
                branches,
                otherwise,
            } => {
                for (test, body) in branches {
                    if self.test(test, frame)? {
                        return self.block(body, frame);
                    }
                }
                if let Some(body) = otherwise {
                    return self.block(body, frame);
                }
            }
            Command::Stop => return Ok(Flow::Stop),
            Command::Return => return Ok(Flow::Return),
            Command::Keep { flags } => {
                let flags = self.flag_arg(frame, flags.as_deref());
                self.deliver_check("keep")?;
                self.implicit_keep = false;
                self.keep(flags)?;
            }
            Command::Discard => {
                self.implicit_keep = false;
                if !self.actions.contains(&Action::Discard) {
                    self.push(Action::Discard)?;
                }
            }
            Command::FileInto {
                mailbox,
                flags,
                create,
                copy,
            } => {
                let mailbox = self.expand(frame, mailbox).into_owned();
                if let Err(e) = MailboxName::from_unicode(&mailbox) {
                    return Err(RuntimeError::Invalid(format!(
                        "fileinto: mailbox name {mailbox:?}: {e}"
                    )));
                }
                let flags = self.flag_arg(frame, flags.as_deref());
                self.deliver_check("fileinto")?;
                if !copy {
                    self.implicit_keep = false;
                }
                if mailbox.eq_ignore_ascii_case("INBOX") {
                    // Filing into INBOX is keeping: one copy, whichever way it was asked for.
                    self.keep(flags)?;
                    return Ok(Flow::Next);
                }
                let existing = self.actions.iter_mut().find_map(|a| match a {
                    Action::FileInto {
                        mailbox: m,
                        flags: f,
                        create: c,
                        copy: cp,
                    } if *m == mailbox => Some((f, c, cp)),
                    _ => None,
                });
                if let Some((f, c, cp)) = existing {
                    merge_flags(f, &flags);
                    *c |= *create;
                    *cp &= *copy;
                } else {
                    self.push(Action::FileInto {
                        mailbox,
                        flags,
                        create: *create,
                        copy: *copy,
                    })?;
                }
            }
            Command::Redirect { address, copy } => {
                let address = self.expand(frame, address).trim().to_string();
                if !super::validate::plausible_address(&address) {
                    return Err(RuntimeError::Invalid(format!(
                        "redirect: invalid address {address:?}"
                    )));
                }
                self.deliver_check("redirect")?;
                if !copy {
                    self.implicit_keep = false;
                }
                let existing = self.actions.iter_mut().find_map(|a| match a {
                    Action::Redirect { address: x, copy } if x.eq_ignore_ascii_case(&address) => {
                        Some(copy)
                    }
                    _ => None,
                });
                if let Some(cp) = existing {
                    *cp &= *copy;
                } else {
                    self.redirects += 1;
                    if self.redirects > self.budget.max_redirects {
                        return Err(RuntimeError::TooManyRedirects(self.budget.max_redirects));
                    }
                    self.push(Action::Redirect {
                        address,
                        copy: *copy,
                    })?;
                }
            }
            Command::Reject { reason, extended } => {
                let name = if *extended { "ereject" } else { "reject" };
                for a in &self.actions {
                    let other = match a {
                        Action::Keep { .. } => "keep",
                        Action::FileInto { .. } => "fileinto",
                        Action::Redirect { .. } => "redirect",
                        Action::Vacation(_) => "vacation",
                        Action::Reject { extended: true, .. } => "ereject",
                        Action::Reject { .. } => "reject",
                        Action::Discard => continue,
                    };
                    return Err(RuntimeError::Conflict(name, other));
                }
                let reason = self.expand(frame, reason).into_owned();
                self.implicit_keep = false;
                self.push(Action::Reject {
                    reason,
                    extended: *extended,
                })?;
            }
            Command::Set {
                name,
                value,
                modifiers,
            } => {
                let v = self.expand(frame, value).into_owned();
                let v = apply_modifiers(v, modifiers);
                self.set_var(frame, name, v)?;
            }
            Command::Flags { op, var, flags } => {
                let given = self.expand_all(frame, flags);
                let given = normalize_flags(given.iter().map(String::as_str));
                let current = match var {
                    None => self.flags.clone(),
                    Some(v) => {
                        let name = self.expand(frame, v).into_owned();
                        normalize_flags(std::iter::once(self.var(frame, &name)))
                    }
                };
                let new = match op {
                    FlagOp::Set => given,
                    FlagOp::Add => {
                        let mut c = current;
                        merge_flags(&mut c, &given);
                        c
                    }
                    FlagOp::Remove => current
                        .into_iter()
                        .filter(|f| !given.iter().any(|g| g.eq_ignore_ascii_case(f)))
                        .collect(),
                };
                match var {
                    None => self.flags = new,
                    Some(v) => {
                        let name = self.expand(frame, v).into_owned();
                        self.set_var(frame, &name, new.join(" "))?;
                    }
                }
            }
            Command::Vacation(v) => self.vacation(v, frame)?,
            Command::AddHeader { name, value, last } => {
                let name = self.expand(frame, name).into_owned();
                if !message::valid_field_name(&name) {
                    return Err(RuntimeError::Invalid(format!(
                        "addheader: invalid field name {name:?}"
                    )));
                }
                let value = self.expand(frame, value).into_owned();
                self.edit()?;
                let f =
                    message::Field::new(format!("{name}: {}", encode_value(&value)).into_bytes());
                if *last {
                    self.msg.fields.push(f);
                } else {
                    self.msg.fields.insert(0, f);
                }
            }
            Command::DeleteHeader {
                index,
                m,
                name,
                values,
            } => {
                let name = self.expand(frame, name).to_ascii_lowercase();
                if !message::valid_field_name(&name) {
                    return Err(RuntimeError::Invalid(format!(
                        "deleteheader: invalid field name {name:?}"
                    )));
                }
                // Trace fields stay (RFC 5293 §6: Received and Auto-Submitted are protected).
                if name == "received" || name == "auto-submitted" {
                    return Ok(Flow::Next);
                }
                self.edit()?;
                let keys = values.as_ref().map(|v| self.expand_all(frame, v));
                self.delete_header(&name, *index, m, keys.as_deref());
            }
            Command::Include {
                global,
                once,
                optional,
                name,
            } => {
                let name = self.expand(frame, name).into_owned();
                return self.include(*global, *once, *optional, name);
            }
            Command::Global(names) => {
                for n in names {
                    if !frame.global_names.contains(n) {
                        frame.global_names.push(n.clone());
                    }
                }
            }
        }
        Ok(Flow::Next)
    }

    fn keep(&mut self, flags: Vec<String>) -> Result<(), RuntimeError> {
        if let Some(Action::Keep { flags: have }) = self
            .actions
            .iter_mut()
            .find(|a| matches!(a, Action::Keep { .. }))
        {
            merge_flags(have, &flags);
            Ok(())
        } else {
            self.push(Action::Keep { flags })
        }
    }

    fn push(&mut self, a: Action) -> Result<(), RuntimeError> {
        if self.actions.len() >= self.budget.max_actions {
            return Err(RuntimeError::TooManyActions(self.budget.max_actions));
        }
        self.actions.push(a);
        Ok(())
    }

    /// keep/fileinto/redirect after a reject conflict (RFC 5429 §2.1).
    fn deliver_check(&self, what: &'static str) -> Result<(), RuntimeError> {
        for a in &self.actions {
            if let Action::Reject { extended, .. } = a {
                return Err(RuntimeError::Conflict(
                    if *extended { "ereject" } else { "reject" },
                    what,
                ));
            }
        }
        Ok(())
    }

    fn edit(&mut self) -> Result<(), RuntimeError> {
        self.edits += 1;
        if self.edits > self.budget.max_header_edits {
            return Err(RuntimeError::TooManyHeaderEdits(
                self.budget.max_header_edits,
            ));
        }
        self.edited = true;
        self.addresses.clear();
        Ok(())
    }

    fn flag_arg(&self, frame: &Frame, flags: Option<&[Template]>) -> Vec<String> {
        match flags {
            Some(list) => {
                let v = self.expand_all(frame, list);
                normalize_flags(v.iter().map(String::as_str))
            }
            None => self.flags.clone(),
        }
    }

    fn delete_header(
        &mut self,
        name: &str,
        index: Option<Index>,
        m: &Matcher,
        keys: Option<&[String]>,
    ) {
        let positions: Vec<usize> = self
            .msg
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| f.lname == name)
            .map(|(i, _)| i)
            .collect();
        let chosen: Vec<usize> = match index {
            Some(ix) => {
                let n = usize::try_from(ix.n).unwrap_or(usize::MAX);
                let pick = if ix.last {
                    positions
                        .len()
                        .checked_sub(n)
                        .and_then(|i| positions.get(i))
                } else {
                    n.checked_sub(1).and_then(|i| positions.get(i))
                };
                pick.copied().into_iter().collect()
            }
            None => positions,
        };
        let m = Matcher {
            cmp: m.cmp,
            kind: match m.kind {
                MatchKind::Count(r) => MatchKind::Value(r),
                k => k,
            },
        };
        let mut fuel = self.fuel.get();
        let mut remove: Vec<usize> = chosen
            .into_iter()
            .filter(|&i| match keys {
                None => true,
                Some(keys) => self.msg.fields.get(i).is_some_and(|f| {
                    keys.iter()
                        .any(|k| m.matches_with(f.value(), k, None, &mut fuel))
                }),
            })
            .collect();
        self.fuel.set(fuel);
        remove.sort_unstable();
        for i in remove.into_iter().rev() {
            if i < self.msg.fields.len() {
                self.msg.fields.remove(i);
            }
        }
    }

    fn vacation(&mut self, v: &VacationCmd, frame: &Frame) -> Result<(), RuntimeError> {
        for a in &self.actions {
            match a {
                Action::Vacation(_) => return Err(RuntimeError::Conflict("vacation", "vacation")),
                Action::Reject { extended, .. } => {
                    return Err(RuntimeError::Conflict(
                        "vacation",
                        if *extended { "ereject" } else { "reject" },
                    ))
                }
                _ => {}
            }
        }
        let reason = self.expand(frame, &v.reason).into_owned();
        let subject = v
            .subject
            .as_ref()
            .map(|s| self.expand(frame, s).into_owned());
        let from = v.from.as_ref().map(|s| self.expand(frame, s).into_owned());
        let handle = match &v.handle {
            Some(h) => self.expand(frame, h).into_owned(),
            None => {
                // RFC 5230 §4.2: the same reason, :subject, :from and :mime give the same handle.
                let mut h = Fnv::new();
                h.write(reason.as_bytes());
                h.write(b"\0");
                h.write(subject.as_deref().unwrap_or_default().as_bytes());
                h.write(b"\0");
                h.write(from.as_deref().unwrap_or_default().as_bytes());
                h.write(if v.mime { b"\x01" } else { b"\x00" });
                format!("auto-{:016x}", h.0)
            }
        };
        let action = Action::Vacation(Vacation {
            reason,
            subject,
            from,
            addresses: self.expand_all(frame, &v.addresses),
            mime: v.mime,
            handle,
            period_seconds: v.seconds.unwrap_or(7 * 86400),
            to: self.input.envelope.from.clone(),
        });
        self.push(action)
    }

    fn include(
        &mut self,
        global: bool,
        once: bool,
        optional: bool,
        name: String,
    ) -> Result<Flow, RuntimeError> {
        if !super::validate::valid_script_name(&name) {
            return Err(RuntimeError::Invalid(format!(
                "include: invalid script name {name:?}"
            )));
        }
        let key = (global, name);
        if once && self.included.contains(&key) {
            return Ok(Flow::Next);
        }
        if self.stack.contains(&key) {
            return Err(RuntimeError::IncludeLoop(key.1));
        }
        if self.stack.len() >= self.budget.max_include_depth {
            return Err(RuntimeError::IncludeTooDeep(self.budget.max_include_depth));
        }
        let script = match self.includes.get(&key) {
            Some(s) => Rc::clone(s),
            None => {
                if self.includes.len() >= self.budget.max_includes {
                    return Err(RuntimeError::TooManyIncludes(self.budget.max_includes));
                }
                let Some(source) = self.env.include(global, &key.1) else {
                    if optional {
                        return Ok(Flow::Next);
                    }
                    return Err(RuntimeError::IncludeMissing(key.1));
                };
                let s = compile_with_limits(&source, &self.enabled, &self.budget.limits).map_err(
                    |error| RuntimeError::IncludeCompile {
                        name: key.1.clone(),
                        error,
                    },
                )?;
                let s = Rc::new(s);
                self.includes.insert(key.clone(), Rc::clone(&s));
                s
            }
        };
        if !self.included.contains(&key) {
            self.included.push(key.clone());
        }
        self.stack.push(key);
        let mut frame = Frame {
            locals: HashMap::new(),
            global_names: Vec::new(),
            variables: script.required.contains(Extension::Variables),
        };
        let flow = self.block(&script.commands, &mut frame);
        self.stack.pop();
        match flow? {
            Flow::Stop => Ok(Flow::Stop),
            Flow::Next | Flow::Return => Ok(Flow::Next),
        }
    }
}

/// Truncate to at most `max` bytes at a character boundary.
fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut at = max;
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        s.truncate(at);
    }
    s
}

/// Split flag strings on spaces, drop invalid flags, and duplicates (case-insensitive) —
/// RFC 5232 §3.
pub(super) fn normalize_flags<'x>(items: impl Iterator<Item = &'x str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in items {
        for f in item.split_whitespace() {
            if valid_flag(f) && !out.iter().any(|o| o.eq_ignore_ascii_case(f)) {
                out.push(f.to_string());
            }
        }
    }
    out
}

fn valid_flag(f: &str) -> bool {
    if let Some(sys) = f.strip_prefix('\\') {
        return ["seen", "answered", "flagged", "deleted", "draft"]
            .iter()
            .any(|s| s.eq_ignore_ascii_case(sys));
    }
    !f.is_empty()
        && f.len() <= 255
        && f.bytes()
            .all(|b| (33..127).contains(&b) && !b"(){%*\"\\]".contains(&b))
}

fn merge_flags(have: &mut Vec<String>, add: &[String]) {
    for f in add {
        if !have.iter().any(|h| h.eq_ignore_ascii_case(f)) {
            have.push(f.clone());
        }
    }
}

/// A header value as it goes into the message: line breaks unfolded to spaces, non-ASCII as
/// an RFC 2047 encoded-word (RFC 5293 §4).
fn encode_value(v: &str) -> String {
    let v: String = v
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect();
    if v.is_ascii() {
        return v;
    }
    use base64::Engine as _;
    format!(
        "=?UTF-8?B?{}?=",
        base64::engine::general_purpose::STANDARD.encode(v.as_bytes())
    )
}

/// FNV-1a, 64 bit: a stable digest for default vacation handles.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, b: &[u8]) {
        for &x in b {
            self.0 ^= u64::from(x);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}
