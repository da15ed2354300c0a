//! Running a compiled script: commands, variables, actions and their conflicts, includes,
//! header edits. Tests are in `tests_eval`.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;

use super::ast::{Command, FlagOp};
use super::extensions::Extension;
use super::message::{self, Message};
use super::strings::{apply_modifiers, Part, Template};
mod headers;
mod include;
mod reply;

use super::{Action, Budget, Environment, Input, Outcome, RuntimeError, Script};
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
                let f = message::Field::new(
                    format!("{name}: {}", headers::encode_value(&value)).into_bytes(),
                );
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

    fn flag_arg(&self, frame: &Frame, flags: Option<&[Template]>) -> Vec<String> {
        match flags {
            Some(list) => {
                let v = self.expand_all(frame, list);
                normalize_flags(v.iter().map(String::as_str))
            }
            None => self.flags.clone(),
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
