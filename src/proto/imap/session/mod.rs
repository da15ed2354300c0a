//! The IMAP session state machine (RFC 3501 §3): not authenticated → authenticated →
//! selected → logout. Bytes go in with [`Session::receive`]; [`Session::step`] returns the
//! response bytes and what the socket loop must do next ([`Action`]). Authentication runs
//! through the shared [`crate::proto::sasl::Exchange`]; mail is reached only through the
//! [`MailStore`] the session is given (the user's maildirs in production, memory in tests).
//! No sockets and no files here: the loop in `server::imap` is thin.
//!
//! Each command is handled in [`commands`] (one file per family) and answers with a typed
//! [`dispatch::Reply`]; [`dispatch`] holds the one exhaustive dispatch and encodes every reply
//! in one place. Untagged EXISTS / RECENT / EXPUNGE / FETCH updates for changes made by other
//! processes are sent before the tagged completion of each command except FETCH, STORE and
//! SEARCH (RFC 3501 §7.4.1: never EXPUNGE during those; their UID forms may get them), and
//! while idling.

mod account;
mod commands;
mod dispatch;
mod selected;
mod view;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::Duration;

use super::assembler::{CommandAssembler, Event, Limits, LineEvent};
use super::parser::ParseErrorKind;
use super::response::{self, Code, Data, Status, Tagged};
use super::store::MailStore;
use crate::proto::sasl::{AuthFailures, Availability, Credentials, Exchange, MethodPolicy};

pub use selected::Selected;

/// The per-listener settings a session needs, and the mail store it reaches mail through.
#[derive(Debug, Clone)]
pub struct SessionConfig<S> {
    /// Server name for the greeting and SASL challenges.
    pub hostname: String,
    /// The users' mail.
    pub store: S,
    /// STARTTLS is offered (the listener has a certificate and `tls = "starttls"`).
    pub starttls: bool,
    /// The connection is already encrypted (implicit TLS, port 993).
    pub tls_active: bool,
    /// SASL mechanisms and their availability.
    pub methods: MethodPolicy,
    /// Availability of the LOGIN command (a plaintext method).
    pub login: Availability,
    /// Largest message APPEND accepts.
    pub max_append: u64,
    /// The failed-login policy of the connection (limit and delays).
    pub failures: AuthFailures,
    /// Protocol errors (BAD) tolerated before the connection is closed.
    pub max_errors: u32,
    /// The longest command text (literals excluded); at least [`MIN_COMMAND_LINE`].
    pub max_line: usize,
}

/// The shortest command-line limit: 64 KiB, as Dovecot's `imap_max_line_length` (RFC 7162
/// §4 asks clients to keep lines within 8,192 octets; long UID sets come close).
pub const MIN_COMMAND_LINE: usize = 64 * 1024;

impl<S> SessionConfig<S> {
    /// Defaults on `store`: plaintext logins only over TLS, 64 MiB APPEND.
    pub fn with_store(hostname: impl Into<String>, store: S) -> Self {
        SessionConfig {
            hostname: hostname.into(),
            store,
            starttls: false,
            tls_active: false,
            methods: MethodPolicy::default(),
            login: Availability::Tls,
            max_append: 64 * 1024 * 1024,
            failures: AuthFailures::new(3),
            max_errors: 50,
            max_line: MIN_COMMAND_LINE,
        }
    }
}

/// What the socket loop does after writing [`Step::output`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read more input, then call [`Session::receive`] and [`Session::step`].
    NeedInput,
    /// More output is ready without input (a long FETCH): call [`Session::step`] again.
    Continue,
    /// Start TLS on the connection, then call [`Session::tls_started`].
    StartTls,
    /// The session idles: wait for input or a change of the selected mailbox
    /// ([`Session::idle_check`] is cheap), whichever comes first.
    Idle,
    /// Start COMPRESS=DEFLATE on the connection (both ways) after writing the output.
    Compress,
    /// Close the connection.
    Close,
}

/// The result of one [`Session::step`].
#[derive(Debug)]
pub struct Step {
    /// Bytes to send.
    pub output: Vec<u8>,
    /// Wait this long before sending (after a failed login).
    pub delay: Option<Duration>,
    /// What to do next.
    pub action: Action,
    /// A large mailbox's state was just dropped: a good moment to give freed memory back.
    pub trim_memory: bool,
}

/// Dropping the state of at least this many messages sets [`Step::trim_memory`].
const TRIM_AFTER: usize = 1000;

/// Something for the connection loop to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// A user logged in.
    LoginOk {
        /// User name.
        user: String,
        /// `LOGIN` or the SASL mechanism.
        mechanism: String,
    },
    /// A login failed.
    LoginFailed {
        /// User name given, if known.
        user: Option<String>,
        /// `LOGIN` or the SASL mechanism.
        mechanism: String,
    },
}

/// What the session is in the middle of.
enum Mode {
    /// Waiting for (or reading) a command.
    Command,
    /// An AUTHENTICATE exchange waits for the client's next line.
    Authenticating {
        tag: String,
        mechanism: String,
        exchange: Exchange,
    },
    /// IDLE waits for `DONE`.
    Idling { tag: String },
    /// A FETCH is being sent in chunks.
    Fetching(commands::fetch::FetchJob),
}

/// The logged-in user and their mail.
struct Login<A> {
    user: String,
    account: A,
}

/// One IMAP connection's protocol state (see the module docs).
pub struct Session<S: MailStore> {
    config: SessionConfig<S>,
    input: CommandAssembler,
    mode: Mode,
    login: Option<Login<S::Account>>,
    selected: Option<Selected<S::Mailbox>>,
    condstore: bool,
    qresync: bool,
    /// `ENABLE IMAP4rev2` (RFC 9051): no `\Recent`, SEARCH answered as ESEARCH, UTF-8
    /// mailbox names, a LIST response in SELECT.
    rev2: bool,
    /// RFC 5182: the UIDs a `SEARCH RETURN (SAVE)` kept, what `$` stands for.
    saved: Vec<u32>,
    /// RFC 5267: the searches kept by `RETURN (UPDATE)` in the selected mailbox.
    contexts: Vec<commands::search::UpdateContext>,
    /// The message list the contexts were last brought up to date with (the numbers the
    /// client knows); while it is the list the view holds, nothing changed.
    contexts_seen: Option<std::sync::Arc<Vec<crate::store::maildir::MessageInfo>>>,
    /// COMPRESS=DEFLATE is on (RFC 4978).
    compressed: bool,
    failures: AuthFailures,
    errors: u32,
    logout: bool,
    notes: Vec<Note>,
    /// A written FETCH step's output, given back by the connection loop ([`Session::recycle`])
    /// for the next step of the same FETCH: one output buffer for the whole command, not a
    /// fresh 320 KiB a step (each page of it faulted in anew).
    spare: Vec<u8>,
}

/// Output is handed to the socket once it grows beyond this.
const OUTPUT_CHUNK: usize = 256 * 1024;
/// Longest literal accepted outside APPEND (LOGIN passwords, search strings…).
const MAX_OTHER_LITERAL: u64 = 64 * 1024;

impl<S: MailStore> Session<S> {
    /// A new session.
    pub fn new(config: SessionConfig<S>) -> Session<S> {
        let failures = config.failures.clone();
        let max_literal = config.max_append.max(MAX_OTHER_LITERAL);
        let max_line = config.max_line.max(MIN_COMMAND_LINE);
        Session {
            config,
            input: CommandAssembler::new(Limits {
                max_literal,
                max_line,
                ..Limits::default()
            }),
            mode: Mode::Command,
            login: None,
            selected: None,
            condstore: false,
            qresync: false,
            rev2: false,
            saved: Vec::new(),
            contexts: Vec::new(),
            contexts_seen: None,
            compressed: false,
            failures,
            errors: 0,
            logout: false,
            notes: Vec::new(),
            spare: Vec::new(),
        }
    }

    /// Takes back the output of a [`Step`] with [`Action::Continue`] once it is written: the
    /// next step of a FETCH fills it again. Kept only while a FETCH is under way.
    pub fn recycle(&mut self, mut output: Vec<u8>) {
        if matches!(self.mode, Mode::Fetching(_)) {
            output.clear();
            self.spare = output;
        }
    }

    /// The greeting, with the capabilities in a response code.
    pub fn greeting(&self) -> Vec<u8> {
        let caps = self.capabilities();
        response::untagged_status(
            Status::Ok,
            Some(&Code::Capability(caps)),
            &format!("{} postern IMAP4rev1 ready", self.config.hostname),
        )
    }

    /// The reply sent when the connection times out.
    pub fn timeout_reply(&self) -> Vec<u8> {
        response::untagged_status(Status::Bye, None, "Autologout; idle for too long")
    }

    /// Whether a user has logged in (for the socket loop's idle timeout).
    pub fn is_authenticated(&self) -> bool {
        self.login.is_some()
    }

    /// Whether the session waits for a new command with nothing of one received: the
    /// connection's deadline for the next unit of input starts here.
    pub fn at_rest(&self) -> bool {
        matches!(self.mode, Mode::Command) && self.input.is_idle()
    }

    /// The logged-in user.
    pub fn user(&self) -> Option<&str> {
        self.login.as_ref().map(|l| l.user.as_str())
    }

    /// The directory of the selected mailbox, for the socket loop to watch while idling.
    pub fn selected_path(&self) -> Option<PathBuf> {
        self.selected.as_ref().and_then(Selected::watch_path)
    }

    /// Takes what happened since the last call, for the log.
    pub fn take_notes(&mut self) -> Vec<Note> {
        std::mem::take(&mut self.notes)
    }

    /// Adds received bytes.
    pub fn receive(&mut self, bytes: &[u8]) {
        self.input.push(bytes);
    }

    /// TLS is now active: forget anything received before it (RFC 3501 §6.2.1).
    pub fn tls_started(&mut self) {
        self.config.tls_active = true;
        self.config.starttls = false;
        self.input = CommandAssembler::new(Limits {
            max_literal: self.config.max_append.max(MAX_OTHER_LITERAL),
            max_line: self.config.max_line.max(MIN_COMMAND_LINE),
            ..Limits::default()
        });
    }

    fn capabilities(&self) -> Vec<String> {
        let mut caps: Vec<String> = super::CAPABILITIES.iter().map(|c| c.to_string()).collect();
        if self.login.is_none() {
            if self.config.starttls && !self.config.tls_active {
                caps.push("STARTTLS".into());
            }
            for m in self.config.methods.offered(self.config.tls_active) {
                caps.push(format!("AUTH={}", m.name()));
            }
            if !crate::proto::sasl::mechanism_offered(self.config.login, self.config.tls_active) {
                caps.push("LOGINDISABLED".into());
            }
        } else if !self.compressed {
            caps.push("COMPRESS=DEFLATE".into());
        }
        // RFC 7889: the APPEND limit, announced so that clients need not send a message only
        // to see it refused with [TOOBIG].
        caps.push(format!("APPENDLIMIT={}", self.config.max_append));
        caps
    }

    /// Whether the idling session's view rests on a settled mailbox; when not (a change in the
    /// last second), [`Session::idle_check`] should run again a second later.
    pub fn idle_settled(&self) -> bool {
        self.selected.as_ref().is_none_or(Selected::settled)
    }

    /// Whether a quiet moment has work: an unsettled view, or sizes learnt not yet stored.
    pub fn wants_settle(&self) -> bool {
        self.selected
            .as_ref()
            .is_some_and(|s| !s.settled() || !s.pending_sizes.is_empty())
    }

    /// Between commands (the client has sent nothing for a while): lets an unsettled view of
    /// the selected mailbox become settled and shared, without sending or changing anything.
    /// Returns whether freed memory is worth giving back.
    pub fn settle(&mut self) -> bool {
        if !matches!(self.mode, Mode::Command) {
            return false;
        }
        match self.selected.as_mut() {
            Some(sel) => sel.settle_quietly() && sel.len() >= TRIM_AFTER,
            None => false,
        }
    }

    /// Checks the selected mailbox for changes while idling and returns the untagged
    /// updates (empty when nothing changed).
    pub fn idle_check(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if matches!(self.mode, Mode::Idling { .. }) {
            let pending = self.updates(true, false);
            let (removed, added) = self.context_changes();
            for d in removed.iter().chain(&pending).chain(&added) {
                d.encode(&mut out);
            }
        }
        out
    }

    /// Advances the session as far as the received input allows.
    pub fn step(&mut self, creds: &dyn Credentials) -> Step {
        let mut step = self.step_inner(creds);
        if matches!(step.action, Action::NeedInput | Action::Idle) {
            // Waiting for the client (maybe for hours): keep one copy of the mailbox, the
            // session's snapshot, not also the state's parsed file.
            if let Some(sel) = self.selected.as_mut() {
                sel.flush_many_sizes();
                step.trim_memory = sel.release_state() >= TRIM_AFTER;
            }
        }
        step
    }

    fn step_inner(&mut self, creds: &dyn Credentials) -> Step {
        // A FETCH step fills one chunk and a message: room for it at once, not by doublings.
        let spare = std::mem::take(&mut self.spare);
        let mut out = match self.mode {
            Mode::Fetching(_) => {
                let mut out = spare;
                out.clear();
                out.reserve(commands::fetch::CHUNK + commands::fetch::CHUNK / 4);
                out
            }
            _ => Vec::new(),
        };
        loop {
            if self.logout {
                return Step::new(out, Action::Close);
            }
            match std::mem::replace(&mut self.mode, Mode::Command) {
                Mode::Fetching(mut job) => {
                    if !self.continue_fetch(&mut job, &mut out) {
                        self.mode = Mode::Fetching(job);
                        return Step::new(out, Action::Continue);
                    }
                }
                Mode::Idling { tag } => match self.input.next_line() {
                    LineEvent::Incomplete => {
                        self.mode = Mode::Idling { tag };
                        return Step::new(out, Action::Idle);
                    }
                    LineEvent::Line(line) => {
                        let reply = self.idle_line(&line);
                        if let Some(step) = self.send(&tag, reply, &mut out) {
                            return step;
                        }
                    }
                    LineEvent::TooLong => {
                        let reply = self.idle_line(b"");
                        if let Some(step) = self.send(&tag, reply, &mut out) {
                            return step;
                        }
                    }
                },
                Mode::Authenticating {
                    tag,
                    mechanism,
                    exchange,
                } => match self.input.next_line() {
                    LineEvent::Incomplete => {
                        self.mode = Mode::Authenticating {
                            tag,
                            mechanism,
                            exchange,
                        };
                        return Step::new(out, Action::NeedInput);
                    }
                    event => {
                        let reply = self.auth_line(&tag, &mechanism, exchange, event, creds);
                        if let Some(step) = self.send(&tag, reply, &mut out) {
                            return step;
                        }
                    }
                },
                Mode::Command => {
                    if out.len() >= OUTPUT_CHUNK {
                        return Step::new(out, Action::Continue);
                    }
                    match self.input.poll() {
                        Event::Incomplete => return Step::new(out, Action::NeedInput),
                        Event::NeedLiteral {
                            tag,
                            command,
                            size,
                            non_sync,
                        } => self.literal(tag, command, size, non_sync, creds, &mut out),
                        Event::Error(e) => {
                            if self.parse_error(e, &mut out) {
                                return Step::new(out, Action::Close);
                            }
                        }
                        Event::Command(cmd) => {
                            let tag = cmd.tag.clone();
                            let reply = self.command(cmd, creds);
                            if let Some(step) = self.send(&tag, reply, &mut out) {
                                return step;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Answers a command that did not parse; `true` when that was one error too many.
    fn parse_error(&mut self, e: super::parser::ParseError, out: &mut Vec<u8>) -> bool {
        let text = e.kind.to_string();
        // Well-formed requests the server will not do are NO, not BAD.
        let code = match e.kind {
            ParseErrorKind::BadCharset(..) => {
                Some(Code::BadCharset(vec!["UTF-8".into(), "US-ASCII".into()]))
            }
            ParseErrorKind::LiteralTooLarge { .. } => Some(Code::Limit),
            // RFC 7889 §4 / RFC 9051 §7.1: a message over APPENDLIMIT is refused [TOOBIG].
            ParseErrorKind::MessageTooBig { .. } => Some(Code::TooBig),
            _ => None,
        };
        let status = if code.is_some() {
            Status::No
        } else {
            Status::Bad
        };
        match e.tag {
            Some(tag) => Tagged::new(status, code, text).encode(&tag, out),
            None => Data::condition(Status::Bad, None, text).encode(out),
        }
        status == Status::Bad && self.count_error(out)
    }

    fn count_error(&mut self, out: &mut Vec<u8>) -> bool {
        self.errors += 1;
        if self.errors >= self.config.max_errors {
            Data::condition(Status::Bye, None, "Too many errors").encode(out);
            self.logout = true;
            return true;
        }
        false
    }

    /// A literal announced: `+ Ready` (unless LITERAL+), or refused before its data is sent.
    fn literal(
        &mut self,
        tag: Option<String>,
        command: Option<String>,
        size: u64,
        non_sync: bool,
        creds: &dyn Credentials,
        out: &mut Vec<u8>,
    ) {
        let append = command.as_deref() == Some("APPEND") && self.login.is_some();
        let limit = if append {
            self.config.max_append
        } else {
            MAX_OTHER_LITERAL
        };
        // A MULTIAPPEND's messages together stay within the APPEND limit (and the line limit).
        let so_far = self.input.command_len() as u64;
        let slack = self.config.max_line.max(MIN_COMMAND_LINE) as u64;
        let (code, text) = if append && so_far.saturating_add(size) > limit.saturating_add(slack) {
            let text = format!(
                "The messages of this APPEND are larger together than the limit of {limit}"
            );
            (Code::TooBig, text)
        } else if size > limit {
            let text = format!("Literal of {size} octets is larger than the limit of {limit}");
            // RFC 7889 §4 / RFC 9051 §7.1: a message over APPENDLIMIT is refused [TOOBIG].
            (if append { Code::TooBig } else { Code::Limit }, text)
        } else if let Some(why) = append.then(|| self.over_quota(creds, size)).flatten() {
            // (Each message's literal alone; a MULTIAPPEND's total is checked when it is whole.)
            // RFC 9208 §5: an APPEND over quota is refused before its data is sent.
            (Code::OverQuota, why)
        } else {
            self.input.accept_literal();
            if !non_sync {
                out.extend(response::continuation("Ready for literal data"));
            }
            return;
        };
        match self.input.reject_literal().or(tag) {
            Some(tag) => Tagged::new(Status::No, Some(code), text).encode(&tag, out),
            None => Data::condition(Status::Bad, None, text).encode(out),
        }
    }

    fn close_selected(&mut self) {
        self.drop_contexts();
        if let Some(mut sel) = self.selected.take() {
            sel.save_cache();
        }
    }
}

impl Step {
    fn new(output: Vec<u8>, action: Action) -> Step {
        Step {
            output,
            delay: None,
            action,
            trim_memory: false,
        }
    }
}
