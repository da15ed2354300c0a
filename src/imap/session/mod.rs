//! The IMAP session state machine (RFC 3501 §3): not authenticated → authenticated →
//! selected → logout. Bytes go in with [`Session::receive`]; [`Session::step`] returns the
//! response bytes and what the socket loop must do next ([`Action`]). Authentication runs
//! through the shared [`crate::sasl::Exchange`]; mailboxes are the user's maildir through
//! [`crate::maildir::MailboxState`]. No sockets here: the loop in `server::imap` is thin.
//!
//! Untagged EXISTS / RECENT / EXPUNGE / FETCH updates for changes made by other processes
//! are sent after each command except FETCH, STORE and SEARCH (RFC 3501 §7.4.1: never
//! EXPUNGE during those; their UID forms may get them), and while idling.

mod account;
mod auth;
mod fetch;
mod mailboxes;
mod qresync;
mod selected;
mod shared;
mod transfer;
mod view;

#[cfg(test)]
mod extension_tests;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::Duration;

use super::assembler::{CommandAssembler, Event, Limits, LineEvent};
use super::command::{Command, CommandKind, RequiredState};
use super::parser::ParseErrorKind;
use super::response::{self, Code, Status};
use crate::sasl::{AuthFailures, Availability, Credentials, Exchange, MethodPolicy};

pub use account::Account;
pub use selected::Selected;

/// The per-listener settings a session needs.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Server name for the greeting and SASL challenges.
    pub hostname: String,
    /// The mail volume: one maildir per user under it.
    pub mail_root: PathBuf,
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
}

impl SessionConfig {
    /// Defaults for tests and simple setups: plaintext only over TLS, 64 MiB APPEND.
    pub fn new(hostname: impl Into<String>, mail_root: impl Into<PathBuf>) -> Self {
        SessionConfig {
            hostname: hostname.into(),
            mail_root: mail_root.into(),
            starttls: false,
            tls_active: false,
            methods: MethodPolicy::default(),
            login: Availability::Tls,
            max_append: 64 * 1024 * 1024,
            failures: AuthFailures::new(3),
            max_errors: 50,
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

enum Mode {
    Command,
    Authenticating {
        tag: String,
        mechanism: String,
        exchange: Exchange,
    },
    Idling {
        tag: String,
    },
    Fetching(fetch::FetchJob),
}

/// One IMAP connection's protocol state (see the module docs).
pub struct Session {
    config: SessionConfig,
    input: CommandAssembler,
    mode: Mode,
    account: Option<Account>,
    selected: Option<Selected>,
    condstore: bool,
    qresync: bool,
    failures: AuthFailures,
    errors: u32,
    logout: bool,
    notes: Vec<Note>,
}

/// Output is handed to the socket once it grows beyond this.
const OUTPUT_CHUNK: usize = 256 * 1024;
/// Longest literal accepted outside APPEND (LOGIN passwords, search strings…).
const MAX_OTHER_LITERAL: u64 = 64 * 1024;

impl Session {
    /// A new session.
    pub fn new(config: SessionConfig) -> Session {
        let failures = config.failures.clone();
        let max_literal = config.max_append.max(MAX_OTHER_LITERAL);
        Session {
            config,
            input: CommandAssembler::new(Limits {
                max_literal,
                ..Limits::default()
            }),
            mode: Mode::Command,
            account: None,
            selected: None,
            condstore: false,
            qresync: false,
            failures,
            errors: 0,
            logout: false,
            notes: Vec::new(),
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
        self.account.is_some()
    }

    /// Whether the session waits for a new command with nothing of one received: the
    /// connection's deadline for the next unit of input starts here.
    pub fn at_rest(&self) -> bool {
        matches!(self.mode, Mode::Command) && self.input.is_idle()
    }

    /// The logged-in user.
    pub fn user(&self) -> Option<&str> {
        self.account.as_ref().map(|a| a.name.as_str())
    }

    /// The selected mailbox's maildir, for the socket loop to watch while idling.
    pub fn selected_path(&self) -> Option<PathBuf> {
        self.selected.as_ref().map(|s| s.maildir_path())
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
            ..Limits::default()
        });
    }

    fn capabilities(&self) -> Vec<String> {
        let mut caps: Vec<String> = super::CAPABILITIES.iter().map(|c| c.to_string()).collect();
        if self.account.is_none() {
            if self.config.starttls && !self.config.tls_active {
                caps.push("STARTTLS".into());
            }
            for m in self.config.methods.offered(self.config.tls_active) {
                caps.push(format!("AUTH={}", m.name()));
            }
            if !crate::sasl::mechanism_offered(self.config.login, self.config.tls_active) {
                caps.push("LOGINDISABLED".into());
            }
        }
        caps
    }

    /// Whether the idling session's view rests on a settled mailbox; when not (a change in the
    /// last second), [`Session::idle_check`] should run again a second later.
    pub fn idle_settled(&self) -> bool {
        self.selected.as_ref().is_none_or(Selected::settled)
    }

    /// Between commands (the client has sent nothing for a while): lets an unsettled view of
    /// the selected mailbox become settled and shared, without sending or changing anything.
    /// Returns whether freed memory is worth giving back.
    pub fn settle(&mut self) -> bool {
        if !matches!(self.mode, Mode::Command) {
            return false;
        }
        match self.selected.as_mut() {
            Some(sel) => sel.settle_quietly() && sel.messages.len() >= TRIM_AFTER,
            None => false,
        }
    }

    /// Checks the selected mailbox for changes while idling and returns the untagged
    /// updates (empty when nothing changed).
    pub fn idle_check(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if matches!(self.mode, Mode::Idling { .. }) {
            self.refresh(&mut out, true);
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
                sel.flush_sizes();
                step.trim_memory = sel.state.release() >= TRIM_AFTER;
            }
        }
        step
    }

    fn step_inner(&mut self, creds: &dyn Credentials) -> Step {
        let mut out = Vec::new();
        loop {
            if self.logout {
                return Step::new(out, Action::Close);
            }
            match std::mem::replace(&mut self.mode, Mode::Command) {
                Mode::Fetching(mut job) => {
                    let done = self.continue_fetch(&mut job, &mut out);
                    if !done {
                        self.mode = Mode::Fetching(job);
                        return Step::new(out, Action::Continue);
                    }
                }
                Mode::Idling { tag } => match self.input.next_line() {
                    LineEvent::Incomplete => {
                        self.mode = Mode::Idling { tag };
                        return Step::new(out, Action::Idle);
                    }
                    LineEvent::Line(line) if line.eq_ignore_ascii_case(b"DONE") => {
                        self.refresh(&mut out, true);
                        out.extend(response::tagged(&tag, Status::Ok, None, "IDLE terminated"));
                    }
                    LineEvent::Line(_) | LineEvent::TooLong => {
                        out.extend(response::tagged(&tag, Status::Bad, None, "Expected DONE"));
                    }
                },
                Mode::Authenticating {
                    tag,
                    mechanism,
                    mut exchange,
                } => match self.input.next_line() {
                    LineEvent::Incomplete => {
                        self.mode = Mode::Authenticating {
                            tag,
                            mechanism,
                            exchange,
                        };
                        return Step::new(out, Action::NeedInput);
                    }
                    LineEvent::TooLong => {
                        out.extend(response::tagged(
                            &tag,
                            Status::Bad,
                            None,
                            "Authentication line too long",
                        ));
                    }
                    LineEvent::Line(line) => {
                        let step = exchange.step(&line, creds);
                        if let Some(delay) =
                            self.auth_step(&tag, &mechanism, exchange, step, &mut out)
                        {
                            return Step {
                                output: out,
                                delay: Some(delay),
                                trim_memory: false,
                                action: Action::Continue,
                            };
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
                            let text = e.kind.to_string();
                            // Well-formed requests the server will not do are NO, not BAD.
                            let code = match e.kind {
                                ParseErrorKind::BadCharset(..) => {
                                    Some(Code::BadCharset(vec!["UTF-8".into(), "US-ASCII".into()]))
                                }
                                ParseErrorKind::LiteralTooLarge { .. } => Some(Code::Limit),
                                _ => None,
                            };
                            let status = if code.is_some() {
                                Status::No
                            } else {
                                Status::Bad
                            };
                            match e.tag {
                                Some(tag) => {
                                    out.extend(response::tagged(&tag, status, code.as_ref(), &text))
                                }
                                None => {
                                    out.extend(response::untagged_status(Status::Bad, None, &text))
                                }
                            }
                            if status == Status::Bad && self.count_error(&mut out) {
                                return Step::new(out, Action::Close);
                            }
                        }
                        Event::Command(cmd) => {
                            if let Some(step) = self.command(cmd, creds, &mut out) {
                                return step;
                            }
                        }
                    }
                }
            }
        }
    }

    fn count_error(&mut self, out: &mut Vec<u8>) -> bool {
        self.errors += 1;
        if self.errors >= self.config.max_errors {
            out.extend(response::untagged_status(
                Status::Bye,
                None,
                "Too many errors",
            ));
            self.logout = true;
            return true;
        }
        false
    }

    fn literal(
        &mut self,
        tag: Option<String>,
        command: Option<String>,
        size: u64,
        non_sync: bool,
        creds: &dyn Credentials,
        out: &mut Vec<u8>,
    ) {
        let append = command.as_deref() == Some("APPEND") && self.account.is_some();
        let limit = if append {
            self.config.max_append
        } else {
            MAX_OTHER_LITERAL
        };
        let (code, text) = if size > limit {
            let text = format!("Literal of {size} octets is larger than the limit of {limit}");
            (Code::Limit, text)
        } else if let Some(why) = append.then(|| self.over_quota(creds, size)).flatten() {
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
            Some(tag) => out.extend(response::tagged(&tag, Status::No, Some(&code), &text)),
            None => out.extend(response::untagged_status(Status::Bad, None, &text)),
        }
    }

    /// Runs one command; `Some(step)` when the loop must return at once.
    fn command(
        &mut self,
        cmd: Command,
        creds: &dyn Credentials,
        out: &mut Vec<u8>,
    ) -> Option<Step> {
        let Command { tag, kind } = cmd;
        let allowed = match kind.required_state() {
            RequiredState::Any => true,
            RequiredState::NotAuthenticated => self.account.is_none(),
            RequiredState::Authenticated => self.account.is_some(),
            RequiredState::Selected => self.selected.is_some(),
        };
        if !allowed {
            let why = match kind.required_state() {
                RequiredState::NotAuthenticated => "Already authenticated",
                RequiredState::Selected if self.account.is_some() => "No mailbox selected",
                _ => "Log in first",
            };
            out.extend(response::tagged(
                &tag,
                Status::Bad,
                None,
                &format!("{} not allowed now: {why}", kind.name()),
            ));
            return None;
        }
        if kind.enables_condstore() && !self.condstore {
            self.condstore = true;
            // RFC 7162 §3.1: the first enabling command while a mailbox is selected gets the
            // mailbox's HIGHESTMODSEQ.
            if let Some(sel) = &self.selected {
                out.extend(response::untagged_status(
                    Status::Ok,
                    Some(&Code::HighestModSeq(sel.highestmodseq.max(1))),
                    "CONDSTORE enabled",
                ));
            }
        }
        // RFC 3501 §7.4.1: no EXPUNGE during FETCH, STORE or SEARCH (their UID forms may).
        let refresh_after = match &kind {
            CommandKind::Fetch { uid, .. }
            | CommandKind::Store { uid, .. }
            | CommandKind::Search { uid, .. } => Some(*uid),
            CommandKind::Logout
            | CommandKind::Select { .. }
            | CommandKind::Examine { .. }
            | CommandKind::Close
            | CommandKind::Unselect
            | CommandKind::Idle => None,
            _ => Some(true),
        };
        match kind {
            CommandKind::Capability => {
                let caps = self.capabilities();
                let caps: Vec<&str> = caps.iter().map(String::as_str).collect();
                out.extend(response::capability(&caps));
                out.extend(response::tagged(
                    &tag,
                    Status::Ok,
                    None,
                    "CAPABILITY completed",
                ));
            }
            CommandKind::Noop => {
                self.refresh(out, true);
                out.extend(response::tagged(&tag, Status::Ok, None, "NOOP completed"));
                return None;
            }
            CommandKind::Check => {
                self.refresh(out, true);
                out.extend(response::tagged(&tag, Status::Ok, None, "CHECK completed"));
                return None;
            }
            CommandKind::Logout => {
                out.extend(response::untagged_status(
                    Status::Bye,
                    None,
                    "postern logging out",
                ));
                out.extend(response::tagged(&tag, Status::Ok, None, "LOGOUT completed"));
                self.close_selected();
                self.logout = true;
                return Some(Step::new(std::mem::take(out), Action::Close));
            }
            CommandKind::Id(_) => {
                out.extend(response::id(&[
                    ("name", "postern"),
                    ("version", env!("CARGO_PKG_VERSION")),
                ]));
                out.extend(response::tagged(&tag, Status::Ok, None, "ID completed"));
            }
            CommandKind::StartTls => {
                if !self.config.starttls || self.config.tls_active {
                    out.extend(response::tagged(
                        &tag,
                        Status::Bad,
                        None,
                        "STARTTLS not available on this connection",
                    ));
                    return None;
                }
                out.extend(response::tagged(
                    &tag,
                    Status::Ok,
                    None,
                    "Begin TLS negotiation now",
                ));
                return Some(Step::new(std::mem::take(out), Action::StartTls));
            }
            CommandKind::Login { username, password } => {
                if let Some(delay) = self.login(&tag, &username, &password, creds, out) {
                    return Some(Step {
                        output: std::mem::take(out),
                        delay: Some(delay),
                        trim_memory: false,
                        action: if self.logout {
                            Action::Close
                        } else {
                            Action::Continue
                        },
                    });
                }
            }
            CommandKind::Authenticate {
                mechanism,
                initial_response,
            } => {
                if let Some(delay) =
                    self.authenticate(&tag, &mechanism, initial_response.as_deref(), creds, out)
                {
                    return Some(Step {
                        output: std::mem::take(out),
                        delay: Some(delay),
                        trim_memory: false,
                        action: if self.logout {
                            Action::Close
                        } else {
                            Action::Continue
                        },
                    });
                }
            }
            CommandKind::Enable(caps) => {
                let mut enabled = Vec::new();
                for c in &caps {
                    if c.eq_ignore_ascii_case("CONDSTORE") && !self.condstore {
                        self.condstore = true;
                        enabled.push("CONDSTORE");
                    }
                    // QRESYNC implies CONDSTORE (RFC 7162 §3.2.3).
                    if c.eq_ignore_ascii_case("QRESYNC") && !self.qresync {
                        self.qresync = true;
                        self.condstore = true;
                        if let Some(sel) = self.selected.as_mut() {
                            sel.vanished = true;
                        }
                        enabled.push("QRESYNC");
                    }
                }
                out.extend(response::enabled(&enabled));
                out.extend(response::tagged(&tag, Status::Ok, None, "ENABLE completed"));
            }
            CommandKind::Namespace => {
                out.extend(response::namespace_personal(
                    "",
                    super::mailbox_name::DELIMITER,
                ));
                out.extend(response::tagged(
                    &tag,
                    Status::Ok,
                    None,
                    "NAMESPACE completed",
                ));
            }
            CommandKind::Idle => {
                self.refresh(out, true);
                out.extend(response::continuation("idling"));
                self.mode = Mode::Idling { tag };
                return Some(Step::new(std::mem::take(out), Action::Idle));
            }
            CommandKind::Fetch {
                uid,
                set,
                attributes,
                changed_since,
                vanished,
            } => {
                let since = fetch::Since {
                    modseq: changed_since,
                    vanished,
                };
                if let Some(job) = self.start_fetch(&tag, uid, &set, attributes, since, out) {
                    self.mode = Mode::Fetching(job);
                }
                return None;
            }
            other => self.mailbox_command(&tag, other, creds, out),
        }
        if let Some(expunge) = refresh_after {
            self.refresh_before_tagged(out, expunge);
        }
        None
    }

    /// Sends pending mailbox updates before the tagged reply that `out` ends with.
    fn refresh_before_tagged(&mut self, out: &mut Vec<u8>, expunge: bool) {
        if self.selected.is_none() {
            return;
        }
        // The tagged line is the last one in `out`: updates go right before it.
        let end = out.len().saturating_sub(2);
        let start = out[..end]
            .iter()
            .rposition(|&b| b == b'\n')
            .map(|i| i + 1)
            .unwrap_or(0);
        let tagged = out.split_off(start);
        self.refresh(out, expunge);
        out.extend(tagged);
    }

    fn refresh(&mut self, out: &mut Vec<u8>, expunge: bool) {
        let condstore = self.condstore;
        if let Some(sel) = &mut self.selected {
            if let Err(e) = sel.refresh(out, expunge, condstore) {
                out.extend(response::untagged_status(
                    Status::No,
                    None,
                    &format!("Cannot read the mailbox: {e}"),
                ));
            }
        }
    }

    fn close_selected(&mut self) {
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
