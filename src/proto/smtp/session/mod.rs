//! The SMTP server session as a state machine: bytes in, reply bytes and actions out. No I/O.
//!
//! The socket loop feeds input with [`Session::receive`], then calls [`Session::step`] until it
//! answers [`Action::NeedInput`]; each step's `output` is written before the action is carried out
//! (replies to pipelined commands are gathered into one write). A [`Action::Store`] pauses the
//! session until [`Session::stored`] reports whether the spool has the message.

use std::net::IpAddr;
use std::time::Duration;

use super::address;
use super::command::{self, Command, CommandError, MailParams, RcptParams};
use super::data::{ChunkCheck, DataProblem, DataReceiver, DataStatus};
use crate::proto::mail::Reply;
use crate::proto::sasl::{AuthFailures, Credentials, Exchange, LoginNote, Mechanism, MethodPolicy};
use crate::proto::smtp::lookups::{Found, Lookups};

/// Settings of one session, from the config and the listener.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub hostname: String,
    pub max_size: u64,
    pub max_recipients: usize,
    pub line_limit: usize,
    pub max_errors: u32,
    /// STARTTLS can be offered (listener has `tls = "starttls"` and a certificate).
    pub starttls: bool,
    /// Submission listener: AUTH is required before MAIL.
    pub submission: bool,
    /// Which SASL mechanisms may be used (and are advertised), with and without TLS.
    pub auth: MethodPolicy,
    /// The failed-login policy of the connection.
    pub failures: AuthFailures,
}

/// What is known about the client.
#[derive(Debug, Clone, Default)]
pub struct Client {
    pub ip: Option<IpAddr>,
    /// Trusted network, trusted listener, or authenticated.
    pub trusted: bool,
    pub tls: bool,
    pub auth_user: Option<String>,
    pub helo: Option<String>,
    pub esmtp: bool,
}

/// Decisions the session asks of policy (pure functions over the config and users).
pub trait Policy {
    /// What must be looked up (DNS) before [`Policy::check_sender`] can answer; the session
    /// asks the driver for it with [`Action::Lookup`].
    fn sender_lookups(&self, _client: &Client, _sender: &str) -> Lookups {
        Lookups::default()
    }
    /// Whether this sender may start a transaction with these MAIL parameters (SIZE=…), given
    /// what was `found`.
    fn check_sender(
        &self,
        client: &Client,
        sender: &str,
        params: &MailParams,
        found: &Found,
    ) -> Result<(), Reply>;
    /// What must be looked up (a mailbox's usage) before [`Policy::check_recipient`].
    fn recipient_lookups(&self, _client: &Client, _txn: &Transaction, _rcpt: &str) -> Lookups {
        Lookups::default()
    }
    /// Whether `rcpt` is accepted in this transaction (its sender and MAIL parameters so far).
    fn check_recipient(
        &self,
        client: &Client,
        txn: &Transaction,
        rcpt: &str,
        found: &Found,
    ) -> Result<(), Reply>;
    /// Whether the complete message (after DATA or the last BDAT) is accepted. `Err`: refused
    /// (size and content rules), the transaction ends with that reply. `Ok`: the recipients, by
    /// index, that refuse it themselves (a handler's size limit or attachment ban), with their
    /// replies. When every recipient refuses, the message is refused with the first reply; else
    /// it is stored for the others and [`Transaction::refused`] says whom to bounce.
    fn check_message(&self, _client: &Client, _txn: &Transaction) -> Result<Refusals, Reply> {
        Ok(Vec::new())
    }
    /// Where AUTH checks credentials; `None`: AUTH is not available.
    fn credentials(&self) -> Option<&dyn Credentials> {
        None
    }
}

/// Recipients (indexes into [`Transaction::recipients`]) that refuse a message, with the reply.
pub type Refusals = Vec<(usize, Reply)>;

/// A complete mail transaction, ready for the spool.
#[derive(Debug, Clone, Default)]
pub struct Transaction {
    pub sender: String,
    pub params: MailParams,
    pub recipients: Vec<(String, RcptParams)>,
    pub data: Vec<u8>,
    /// Recipients that refused the message after DATA while others took it (they get a
    /// delivery status notification instead).
    pub refused: Refusals,
}

/// What the socket loop must do after writing a step's output.
#[derive(Debug)]
pub enum Action {
    /// Read more input (with the idle timeout), then `receive` it and step again.
    NeedInput,
    /// Store the message durably, then call `stored`.
    Store(Transaction),
    /// Start TLS now; input buffered after the STARTTLS command has been discarded.
    StartTls,
    /// Wait this long (after a failed login), then step again.
    Pause(Duration),
    /// Look these up and hand the result to [`Session::found`], then step again.
    Lookup(Lookups),
    /// Close the connection.
    Close,
}

/// One step's result.
#[derive(Debug)]
pub struct Step {
    pub output: Vec<u8>,
    pub action: Action,
}

pub(super) enum Mode {
    Command,
    /// Skipping the rest of an over-long command line.
    Discard,
    Data(DataReceiver),
    /// Reading a BDAT chunk: bytes left, whether LAST, and what becomes of it.
    Bdat {
        left: u64,
        last: bool,
        chunk: Chunk,
    },
    AwaitStore,
    /// A MAIL or RCPT waits for what its policy check needs looked up.
    AwaitFound(Box<Asked>),
    /// An AUTH exchange waits for the client's next line (`skipping` an over-long one).
    Authenticating {
        mechanism: Mechanism,
        exchange: Exchange,
        skipping: bool,
    },
    Closed,
}

/// What becomes of a BDAT chunk being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Chunk {
    /// Part of the message: kept and checked.
    Keep,
    /// Would make the message too big: read and dropped, then the transaction fails.
    TooBig,
    /// Already answered with an error: read and dropped (RFC 3030 §4.2).
    Skip,
}

/// A command waiting for its lookups.
pub(super) enum Asked {
    Mail {
        sender: String,
        params: MailParams,
        lookups: Lookups,
    },
    Rcpt {
        rcpt: String,
        params: RcptParams,
        lookups: Lookups,
    },
}

/// Recipients beyond the limit before the session is closed (RFC 5321 §4.5.3.1.10 allows 452s).
const RECIPIENT_OVERSHOOT: usize = 1000;

/// One SMTP session.
pub struct Session {
    pub(super) cfg: SessionConfig,
    pub(super) client: Client,
    pub(super) mode: Mode,
    pub(super) input: Vec<u8>,
    /// Output held back by a pause, sent at the start of the next step.
    pub(super) pending: Vec<u8>,
    pub(super) failures: AuthFailures,
    pub(super) notes: Vec<LoginNote>,
    txn: Option<Transaction>,
    /// Whether the current transaction is using BDAT (then DATA is refused).
    bdat_used: bool,
    /// A BDAT transaction failed before its LAST chunk: chunks the client had already pipelined
    /// are read and dropped until LAST (as Postfix does), without counting as errors.
    bdat_failed: bool,
    /// The DATA rules, applied to the BDAT chunks of this transaction.
    bdat_check: ChunkCheck,
    errors: u32,
    overshoot: usize,
    /// Why the session closed the connection itself.
    pub(super) close_reason: Option<&'static str>,
    /// What the driver found for the command waiting in [`Mode::AwaitFound`].
    found: Option<Found>,
    /// Refused at connect (RFC 5321 §3.1): the greeting is this 554, and every command but QUIT
    /// is answered 503.
    refused: Option<Reply>,
}

impl Session {
    pub fn new(cfg: SessionConfig, client: Client) -> Session {
        Session {
            failures: cfg.failures.clone(),
            bdat_check: ChunkCheck::new(cfg.line_limit),
            cfg,
            client,
            mode: Mode::Command,
            input: Vec::with_capacity(4096),
            pending: Vec::new(),
            notes: Vec::new(),
            txn: None,
            bdat_used: false,
            bdat_failed: false,
            errors: 0,
            overshoot: 0,
            close_reason: None,
            found: None,
            refused: None,
        }
    }

    /// Refuse the client at connect with `reply`: it is the greeting; after a 554 the session
    /// only waits for QUIT (RFC 5321 §3.1), after a 421 it closes at once (§3.8).
    pub fn refuse_at_connect(&mut self, reply: Reply) {
        self.close_reason = Some("refused at connect");
        if reply.code == 421 {
            self.mode = Mode::Closed;
        }
        self.refused = Some(reply);
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The 220 greeting (or the refusal at connect).
    pub fn greeting(&self) -> Vec<u8> {
        if let Some(refusal) = &self.refused {
            return refusal.to_bytes();
        }
        Reply::plain(220, vec![format!("{} ESMTP postern", self.cfg.hostname)]).to_bytes()
    }

    /// The reply sent when the client was idle too long.
    pub fn timeout_reply(&self) -> Vec<u8> {
        Reply::new(
            421,
            "4.4.2",
            format!("{} Idle timeout, closing connection", self.cfg.hostname),
        )
        .to_bytes()
    }

    /// The reply sent when the server shuts down or cannot go on.
    pub fn shutdown_reply(&self) -> Vec<u8> {
        Reply::new(
            421,
            "4.3.2",
            format!("{} Service shutting down", self.cfg.hostname),
        )
        .to_bytes()
    }

    /// Add input read from the client.
    pub fn receive(&mut self, bytes: &[u8]) {
        self.input.extend_from_slice(bytes);
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        matches!(self.mode, Mode::Closed)
    }

    /// Whether a transaction is in progress (for logging a client that vanished mid-DATA).
    pub fn in_data(&self) -> bool {
        matches!(self.mode, Mode::Data(_) | Mode::Bdat { .. })
    }

    /// Whether the session waits for a new command with nothing of one buffered: the
    /// connection's deadline for the next unit of input starts here.
    pub fn at_rest(&self) -> bool {
        matches!(self.mode, Mode::Command) && self.input.is_empty()
    }

    /// Process buffered input until more is needed or an action is due.
    pub fn step(&mut self, policy: &dyn Policy) -> Step {
        let mut out = std::mem::take(&mut self.pending);
        loop {
            let action = match std::mem::replace(&mut self.mode, Mode::Command) {
                Mode::Command => self.command_step(policy, &mut out),
                Mode::Discard => self.discard_step(&mut out),
                Mode::Data(rx) => self.data_step(rx, policy, &mut out),
                Mode::Bdat { left, last, chunk } => {
                    self.bdat_step(left, last, chunk, policy, &mut out)
                }
                Mode::AwaitStore => {
                    self.mode = Mode::AwaitStore;
                    Some(Action::NeedInput)
                }
                Mode::AwaitFound(asked) => self.resume(asked, policy, &mut out),
                Mode::Authenticating {
                    mechanism,
                    exchange,
                    skipping,
                } => self.auth_input(
                    mechanism,
                    exchange,
                    skipping,
                    policy.credentials(),
                    &mut out,
                ),
                Mode::Closed => {
                    self.mode = Mode::Closed;
                    Some(Action::Close)
                }
            };
            if let Some(action) = action {
                return Step {
                    output: out,
                    action,
                };
            }
        }
    }

    /// What the driver found for the last [`Action::Lookup`].
    pub fn found(&mut self, found: Found) {
        self.found = Some(found);
    }

    /// A command waiting for its lookups goes on once they are found.
    fn resume(
        &mut self,
        asked: Box<Asked>,
        policy: &dyn Policy,
        out: &mut Vec<u8>,
    ) -> Option<Action> {
        let Some(found) = self.found.take() else {
            let lookups = match &*asked {
                Asked::Mail { lookups, .. } | Asked::Rcpt { lookups, .. } => lookups.clone(),
            };
            self.mode = Mode::AwaitFound(asked);
            return Some(Action::Lookup(lookups));
        };
        self.mode = Mode::Command;
        match *asked {
            Asked::Mail { sender, params, .. } => {
                self.mail_checked(sender, params, policy, &found, out)
            }
            Asked::Rcpt { rcpt, params, .. } => {
                self.rcpt_checked(rcpt, params, policy, &found, out)
            }
        }
        None
    }

    /// The spool's answer for the message of the last `Store` action.
    pub fn stored(&mut self, result: Result<String, String>) -> Vec<u8> {
        self.mode = Mode::Command;
        self.reset_transaction();
        match result {
            Ok(id) => Reply::new(250, "2.0.0", format!("Ok: queued as {id}")).to_bytes(),
            Err(why) => Reply::new(
                451,
                "4.3.0",
                format!("Local error, message not queued: {why}"),
            )
            .to_bytes(),
        }
    }

    /// The message was refused after its data was read (the content filter): the transaction ends
    /// with `reply`.
    pub fn refused(&mut self, reply: Reply) -> Vec<u8> {
        self.mode = Mode::Command;
        self.reset_transaction();
        reply.to_bytes()
    }

    /// TLS is up: forget what was said before (RFC 3207 §4.2), wait for a new EHLO.
    pub fn tls_started(&mut self) {
        self.client.tls = true;
        self.client.helo = None;
        self.client.esmtp = false;
        self.input.clear();
        self.reset_transaction();
        self.mode = Mode::Command;
    }

    /// Logins (and refused mechanisms) since the last call, for the log.
    pub fn take_notes(&mut self) -> Vec<LoginNote> {
        std::mem::take(&mut self.notes)
    }

    /// Why the session ended the connection (too many errors or failed logins), if it did.
    pub fn close_reason(&self) -> Option<&'static str> {
        self.close_reason
    }

    fn too_many_errors(&mut self) -> Vec<u8> {
        self.mode = Mode::Closed;
        self.close_reason = Some("too many errors");
        Reply::new(
            421,
            "4.7.0",
            format!("{} Too many errors, closing connection", self.cfg.hostname),
        )
        .to_bytes()
    }

    fn reset_transaction(&mut self) {
        self.txn = None;
        self.bdat_used = false;
        self.bdat_failed = false;
        self.bdat_check = ChunkCheck::new(self.cfg.line_limit);
    }

    fn discard_step(&mut self, _out: &mut [u8]) -> Option<Action> {
        match self.input.iter().position(|&b| b == b'\n') {
            Some(nl) => {
                self.input.drain(..=nl);
                self.mode = Mode::Command;
                None
            }
            None => {
                self.input.clear();
                self.mode = Mode::Discard;
                Some(Action::NeedInput)
            }
        }
    }

    fn command_step(&mut self, policy: &dyn Policy, out: &mut Vec<u8>) -> Option<Action> {
        let Some(nl) = self.input.iter().position(|&b| b == b'\n') else {
            if self.input.len() > self.cfg.line_limit {
                self.input.clear();
                self.mode = Mode::Discard;
                self.error(out, Reply::new(500, "5.5.2", "Line too long"));
                return None;
            }
            return Some(Action::NeedInput);
        };
        let mut line: Vec<u8> = self.input.drain(..=nl).collect();
        if line.len() > self.cfg.line_limit {
            self.error(out, Reply::new(500, "5.5.2", "Line too long"));
            return None;
        }
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let text = match std::str::from_utf8(&line) {
            Ok(t) if !t.contains(['\0', '\r']) => t,
            _ => {
                self.error(
                    out,
                    Reply::new(500, "5.5.2", "Invalid characters in command"),
                );
                return None;
            }
        };
        match command::parse(text) {
            Ok(cmd) => self.command(cmd, policy, out),
            Err(CommandError::Unknown) => {
                self.error(out, Reply::new(500, "5.5.2", "Command not recognized"));
                None
            }
            Err(CommandError::Syntax(why)) => {
                self.error(
                    out,
                    Reply::new(501, "5.5.4", format!("Syntax error: {why}")),
                );
                None
            }
            Err(CommandError::Parameter(why)) => {
                self.error(out, Reply::new(555, "5.5.4", why));
                None
            }
        }
    }

    /// Send an error reply and count it; close after too many.
    pub(super) fn error(&mut self, out: &mut Vec<u8>, reply: Reply) {
        reply.write_to(out);
        self.errors += 1;
        if self.errors >= self.cfg.max_errors {
            let bye = self.too_many_errors();
            out.extend(bye);
        }
    }

    fn ehlo_reply(&self, name: &str) -> Reply {
        let mut lines = vec![
            format!("{} Hello {}", self.cfg.hostname, name),
            "PIPELINING".into(),
            format!("SIZE {}", self.cfg.max_size),
            "8BITMIME".into(),
            "ENHANCEDSTATUSCODES".into(),
            "SMTPUTF8".into(),
            "CHUNKING".into(),
            "DSN".into(),
        ];
        if self.cfg.starttls && !self.client.tls {
            lines.push("STARTTLS".into());
        }
        if self.client.tls {
            // RFC 8689 §4.1: offered on TLS connections only.
            lines.push("REQUIRETLS".into());
        }
        let mechanisms = self.cfg.auth.offered_names(self.client.tls);
        if !mechanisms.is_empty() && self.client.auth_user.is_none() {
            lines.push(format!("AUTH {mechanisms}"));
        }
        lines.push("HELP".into());
        Reply::plain(250, lines)
    }

    fn command(&mut self, cmd: Command, policy: &dyn Policy, out: &mut Vec<u8>) -> Option<Action> {
        if !matches!(cmd, Command::Bdat(..)) {
            // Any other command ends the dropping of chunks after a failed BDAT.
            self.bdat_failed = false;
        }
        if self.refused.is_some() && !matches!(cmd, Command::Quit) {
            self.error(
                out,
                Reply::new(
                    503,
                    "5.5.1",
                    "Bad sequence of commands; only QUIT is accepted",
                ),
            );
            return None;
        }
        let in_bdat = self.bdat_used && self.txn.is_some();
        match cmd {
            Command::Ehlo(name) | Command::Helo(name) if in_bdat => {
                let _ = name;
                self.error(
                    out,
                    Reply::new(503, "5.5.1", "BDAT transaction in progress"),
                );
            }
            Command::Ehlo(name) => {
                self.reset_transaction();
                self.ehlo_reply(&name).write_to(out);
                self.client.helo = Some(name);
                self.client.esmtp = true;
            }
            Command::Helo(name) => {
                self.reset_transaction();
                Reply::plain(250, vec![self.cfg.hostname.clone()]).write_to(out);
                self.client.helo = Some(name);
                self.client.esmtp = false;
            }
            Command::Mail(path, params) => return self.mail(path, params, policy, out),
            Command::Rcpt(path, params) => return self.rcpt(path, params, policy, out),
            Command::Data => return self.data(out),
            Command::Bdat(size, last) => return self.bdat(size, last, out),
            Command::Rset => {
                self.reset_transaction();
                Reply::new(250, "2.0.0", "Ok").write_to(out);
            }
            Command::Noop => Reply::new(250, "2.0.0", "Ok").write_to(out),
            Command::Quit => {
                Reply::new(
                    221,
                    "2.0.0",
                    format!("{} closing connection", self.cfg.hostname),
                )
                .write_to(out);
                self.mode = Mode::Closed;
                return Some(Action::Close);
            }
            Command::Vrfy => Reply::new(
                252,
                "2.5.0",
                "Cannot VRFY user, but will accept message and attempt delivery",
            )
            .write_to(out),
            Command::Expn => self.error(out, Reply::new(502, "5.5.1", "EXPN not available")),
            Command::Help => Reply::new(
                214,
                "2.0.0",
                "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH",
            )
            .write_to(out),
            Command::StartTls => {
                if !self.cfg.starttls {
                    self.error(out, Reply::new(502, "5.5.1", "STARTTLS not available"));
                } else if self.client.tls {
                    self.error(out, Reply::new(503, "5.5.1", "TLS already active"));
                } else if self.txn.is_some() {
                    self.error(
                        out,
                        Reply::new(503, "5.5.1", "STARTTLS not allowed during a transaction"),
                    );
                } else {
                    Reply::new(220, "2.0.0", "Ready to start TLS").write_to(out);
                    // Anything pipelined after STARTTLS is discarded (command injection).
                    self.input.clear();
                    return Some(Action::StartTls);
                }
            }
            Command::Auth(mech, initial) => {
                if self.client.auth_user.is_some() {
                    self.error(out, Reply::new(503, "5.5.1", "Already authenticated"));
                } else if self.txn.is_some() {
                    self.error(
                        out,
                        Reply::new(503, "5.5.1", "AUTH not allowed during a transaction"),
                    );
                } else if !self.client.esmtp {
                    self.error(out, Reply::new(503, "5.5.1", "Send EHLO first"));
                } else {
                    return self.auth_start(&mech, initial, policy.credentials(), out);
                }
            }
        }
        None
    }

    fn mail(
        &mut self,
        path: String,
        params: MailParams,
        policy: &dyn Policy,
        out: &mut Vec<u8>,
    ) -> Option<Action> {
        self.mail_syntax(path, params, policy, out);
        None
    }

    fn mail_syntax(
        &mut self,
        path: String,
        params: MailParams,
        policy: &dyn Policy,
        out: &mut Vec<u8>,
    ) {
        if self.client.helo.is_none() {
            return self.error(out, Reply::new(503, "5.5.1", "Send HELO/EHLO first"));
        }
        if self.txn.is_some() {
            return self.error(out, Reply::new(503, "5.5.1", "Nested MAIL command"));
        }
        if self.cfg.submission && self.client.auth_user.is_none() {
            return self.error(out, Reply::new(530, "5.7.0", "Authentication required"));
        }
        if (params.smtputf8 || params.eight_bit || params.ret.is_some()) && !self.client.esmtp {
            return self.error(out, Reply::new(555, "5.5.4", "ESMTP parameters need EHLO"));
        }
        if params.requiretls && !self.client.tls {
            return self.error(
                out,
                Reply::new(555, "5.5.4", "REQUIRETLS is offered only over TLS"),
            );
        }
        if params.size.is_some_and(|s| s > self.cfg.max_size) {
            return self.error(
                out,
                Reply::new(
                    552,
                    "5.3.4",
                    format!(
                        "Message size exceeds fixed limit of {} bytes",
                        self.cfg.max_size
                    ),
                ),
            );
        }
        let sender = match address::parse_path(&path, true, params.smtputf8) {
            Ok(s) => s,
            Err(e) => {
                return self.error(
                    out,
                    Reply::new(501, "5.1.7", format!("Bad sender address: {e}")),
                )
            }
        };
        let lookups = policy.sender_lookups(&self.client, &sender);
        if !lookups.is_empty() {
            self.mode = Mode::AwaitFound(Box::new(Asked::Mail {
                sender,
                params,
                lookups,
            }));
            return;
        }
        self.mail_checked(sender, params, policy, &Found::default(), out);
    }

    fn mail_checked(
        &mut self,
        sender: String,
        params: MailParams,
        policy: &dyn Policy,
        found: &Found,
        out: &mut Vec<u8>,
    ) {
        if let Err(reply) = policy.check_sender(&self.client, &sender, &params, found) {
            return self.error(out, reply);
        }
        Reply::new(250, "2.1.0", "Sender ok").write_to(out);
        self.txn = Some(Transaction {
            sender,
            params,
            ..Transaction::default()
        });
    }

    fn rcpt(
        &mut self,
        path: String,
        params: RcptParams,
        policy: &dyn Policy,
        out: &mut Vec<u8>,
    ) -> Option<Action> {
        self.rcpt_syntax(path, params, policy, out);
        None
    }

    fn rcpt_syntax(
        &mut self,
        path: String,
        params: RcptParams,
        policy: &dyn Policy,
        out: &mut Vec<u8>,
    ) {
        let Some(txn) = self.txn.as_ref() else {
            return self.error(out, Reply::new(503, "5.5.1", "Need MAIL before RCPT"));
        };
        if txn.recipients.len() >= self.cfg.max_recipients {
            Reply::new(452, "4.5.3", "Too many recipients").write_to(out);
            self.overshoot += 1;
            if self.overshoot > RECIPIENT_OVERSHOOT {
                out.extend(self.too_many_errors());
            }
            return;
        }
        let utf8 = txn.params.smtputf8;
        let rcpt = match address::parse_path(&path, false, utf8) {
            Ok(r) => r,
            Err(e) => {
                return self.error(
                    out,
                    Reply::new(501, "5.1.3", format!("Bad recipient address: {e}")),
                )
            }
        };
        let lookups = policy.recipient_lookups(&self.client, txn, &rcpt);
        if !lookups.is_empty() {
            self.mode = Mode::AwaitFound(Box::new(Asked::Rcpt {
                rcpt,
                params,
                lookups,
            }));
            return;
        }
        self.rcpt_checked(rcpt, params, policy, &Found::default(), out);
    }

    fn rcpt_checked(
        &mut self,
        rcpt: String,
        params: RcptParams,
        policy: &dyn Policy,
        found: &Found,
        out: &mut Vec<u8>,
    ) {
        let Some(txn) = self.txn.as_ref() else {
            return self.error(out, Reply::new(503, "5.5.1", "Need MAIL before RCPT"));
        };
        if let Err(reply) = policy.check_recipient(&self.client, txn, &rcpt, found) {
            return self.error(out, reply);
        }
        Reply::new(250, "2.1.5", "Recipient ok").write_to(out);
        if let Some(txn) = self.txn.as_mut() {
            txn.recipients.push((rcpt, params));
        }
    }

    fn data(&mut self, out: &mut Vec<u8>) -> Option<Action> {
        if self.bdat_used {
            self.error(out, Reply::new(503, "5.5.1", "DATA not allowed after BDAT"));
            return None;
        }
        match &self.txn {
            None => self.error(out, Reply::new(503, "5.5.1", "Need MAIL command")),
            Some(t) if t.recipients.is_empty() => {
                self.error(out, Reply::new(554, "5.5.1", "No valid recipients"))
            }
            Some(_) => {
                Reply::plain(354, vec!["End data with <CR><LF>.<CR><LF>".into()]).write_to(out);
                self.mode = Mode::Data(DataReceiver::new(self.cfg.max_size, self.cfg.line_limit));
            }
        }
        None
    }

    fn data_step(
        &mut self,
        mut rx: DataReceiver,
        policy: &dyn Policy,
        out: &mut Vec<u8>,
    ) -> Option<Action> {
        match rx.feed(&self.input) {
            DataStatus::More(n) => {
                self.input.drain(..n);
                self.mode = Mode::Data(rx);
                Some(Action::NeedInput)
            }
            DataStatus::Done(n) => {
                self.input.drain(..n);
                match rx.finish() {
                    Ok(data) => self.finish_message(data, policy, out),
                    Err(problem) => {
                        self.reset_transaction();
                        self.error(out, problem_reply(problem, self.cfg.max_size));
                        None
                    }
                }
            }
        }
    }

    fn finish_message(
        &mut self,
        data: Vec<u8>,
        policy: &dyn Policy,
        out: &mut Vec<u8>,
    ) -> Option<Action> {
        let mut txn = self.txn.take().unwrap_or_default();
        txn.data = data;
        let verdict = match policy.check_message(&self.client, &txn) {
            Ok(refused) if refused.len() < txn.recipients.len() => Ok(refused),
            Ok(mut refused) if !refused.is_empty() => Err(refused.swap_remove(0).1),
            Ok(_) => Err(Reply::new(554, "5.5.1", "No valid recipients")),
            Err(reply) => Err(reply),
        };
        match verdict {
            Ok(refused) => txn.refused = refused,
            Err(reply) => {
                self.reset_transaction();
                self.mode = Mode::Command;
                self.error(out, reply);
                return None;
            }
        }
        self.mode = Mode::AwaitStore;
        Some(Action::Store(txn))
    }

    fn bdat(&mut self, size: u64, last: bool, out: &mut Vec<u8>) -> Option<Action> {
        if self.bdat_failed {
            // Pipelined after a chunk that failed: read and drop, until LAST.
            Reply::new(
                554,
                "5.5.0",
                format!("Discarded {size} octets after an earlier error in this transaction"),
            )
            .write_to(out);
            self.bdat_failed = !last;
            self.mode = Mode::Bdat {
                left: size,
                last,
                chunk: Chunk::Skip,
            };
            return None;
        }
        let ok = matches!(&self.txn, Some(t) if !t.recipients.is_empty());
        if !ok {
            let reply = if self.txn.is_none() {
                Reply::new(503, "5.5.1", "Need MAIL command")
            } else {
                Reply::new(554, "5.5.1", "No valid recipients")
            };
            // The chunk must still be read (RFC 3030 §4.2); it is dropped.
            self.error(out, reply);
            if !matches!(self.mode, Mode::Closed) {
                self.mode = Mode::Bdat {
                    left: size,
                    last,
                    chunk: Chunk::Skip,
                };
            }
            return None;
        }
        self.bdat_used = true;
        let total = self.txn.as_ref().map_or(0, |t| t.data.len() as u64) + size;
        let chunk = if total <= self.cfg.max_size {
            Chunk::Keep
        } else {
            Chunk::TooBig
        };
        self.mode = Mode::Bdat {
            left: size,
            last,
            chunk,
        };
        None
    }

    fn bdat_step(
        &mut self,
        left: u64,
        last: bool,
        chunk: Chunk,
        policy: &dyn Policy,
        out: &mut Vec<u8>,
    ) -> Option<Action> {
        let take = usize::try_from(left)
            .unwrap_or(usize::MAX)
            .min(self.input.len());
        if chunk == Chunk::Keep {
            let bytes = self.input.get(..take).unwrap_or_default();
            self.bdat_check.feed(bytes);
            // Once a problem is found the rest is not kept (the transaction fails anyway).
            if self.bdat_check.problem().is_none() {
                if let Some(txn) = self.txn.as_mut() {
                    txn.data.extend_from_slice(bytes);
                }
            }
        }
        self.input.drain(..take);
        let left = left - take as u64;
        if left > 0 {
            self.mode = Mode::Bdat { left, last, chunk };
            return Some(Action::NeedInput);
        }
        self.mode = Mode::Command;
        let problem = match chunk {
            Chunk::Skip => return None,
            Chunk::TooBig => Some(DataProblem::TooBig),
            Chunk::Keep if last => self.bdat_check.finish(),
            Chunk::Keep => self.bdat_check.problem(),
        };
        if let Some(problem) = problem {
            // Refused as DATA refuses it; chunks already pipelined are dropped until LAST.
            self.reset_transaction();
            self.bdat_failed = !last;
            self.error(out, problem_reply(problem, self.cfg.max_size));
            return None;
        }
        if last {
            let data = self
                .txn
                .as_mut()
                .map(|t| std::mem::take(&mut t.data))
                .unwrap_or_default();
            return self.finish_message(data, policy, out);
        }
        let got = self.txn.as_ref().map_or(0, |t| t.data.len());
        Reply::new(250, "2.0.0", format!("{got} octets received")).write_to(out);
        None
    }
}

fn problem_reply(problem: DataProblem, max: u64) -> Reply {
    match problem {
        DataProblem::TooBig => Reply::new(
            552,
            "5.3.4",
            format!("Message size exceeds fixed limit of {max} bytes"),
        ),
        DataProblem::BareLineEnd => Reply::new(
            554,
            "5.6.0",
            "Message contains bare CR or LF; lines must end with CRLF (RFC 5321 §2.3.8)",
        ),
        DataProblem::LineTooLong => {
            Reply::new(554, "5.6.0", "Message has a line longer than 1000 bytes")
        }
        DataProblem::Nul => Reply::new(554, "5.6.0", "Message contains NUL bytes"),
    }
}

#[cfg(test)]
mod tests;
