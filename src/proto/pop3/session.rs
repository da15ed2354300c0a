//! The POP3 session state machine: AUTHORIZATION → TRANSACTION → UPDATE (RFC 1939).
//!
//! The AUTHORIZATION commands (USER/PASS, APOP, AUTH, STLS) live in `authorization.rs`; this
//! file holds the session, its replies and the TRANSACTION and UPDATE states.

use std::time::Duration;

use super::command::{self, Command, CommandError};
use super::line::MAX_LINE;
use super::maildrop::{Backend, Maildrop, MaildropError, OpenError};
use super::stream::MessageStream;
use crate::proto::sasl::{self, AuthFailures, MethodPolicy, Pop3Methods};

/// The per-listener settings a session needs.
#[derive(Debug, Clone)]
pub struct Pop3Config {
    /// Server name for the greeting and SASL challenges.
    pub hostname: String,
    /// Availability of USER/PASS and APOP.
    pub methods: Pop3Methods,
    /// Availability of each SASL mechanism for AUTH.
    pub sasl: MethodPolicy,
    /// STLS offered (the listener has a certificate and `tls = "starttls"`).
    pub stls: bool,
    /// The connection is already encrypted (implicit TLS, port 995).
    pub tls_active: bool,
    /// Errors tolerated before the connection is closed.
    pub max_errors: u32,
    /// The failed-login policy (delays, and when to close).
    pub failures: AuthFailures,
    /// The longest line taken, CRLF included (at least [`MAX_LINE`]: SASL responses need it).
    pub max_line: usize,
}

impl Pop3Config {
    /// Defaults: the shared method defaults (plaintext methods only over TLS), 10 errors, the
    /// shared failed-login policy.
    pub fn new(hostname: impl Into<String>) -> Self {
        Pop3Config {
            hostname: hostname.into(),
            methods: Pop3Methods::default(),
            sasl: MethodPolicy::default(),
            stls: false,
            tls_active: false,
            max_errors: 10,
            failures: AuthFailures::default(),
            max_line: MAX_LINE,
        }
    }
}

/// Something for the connection loop to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A user logged in.
    LoginOk {
        /// User name.
        user: String,
        /// `USER`, `APOP` or the SASL mechanism.
        mechanism: String,
    },
    /// A login failed.
    LoginFailed {
        /// User name given, if any.
        user: String,
        /// `USER`, `APOP` or the SASL mechanism.
        mechanism: String,
        /// `credentials`, `in-use` or a temporary failure text.
        reason: String,
    },
    /// The session ended.
    End {
        /// Messages retrieved with RETR.
        retrieved: u32,
        /// Octets of those messages.
        retrieved_bytes: u64,
        /// Messages deleted in UPDATE.
        deleted: usize,
        /// Whether the session ended with QUIT (a drop applies no deletion).
        quit: bool,
    },
    /// The connection was closed because of too many errors.
    TooManyErrors,
}

/// What the connection loop must do, in order.
#[derive(Debug)]
pub enum Action {
    /// Send these bytes.
    Reply(Vec<u8>),
    /// Send this message body (drain the reader into the socket).
    Stream(MessageStream),
    /// Wait this long before going on (the delay after a failed login).
    Pause(Duration),
    /// Start TLS now (the `+OK` has been queued before), then call [`Session::tls_started`].
    StartTls,
    /// Log this.
    Event(Event),
    /// Close the connection (after sending everything queued).
    Close,
}

pub(super) enum Phase<D> {
    Authorization {
        user: Option<String>,
    },
    Sasl {
        exchange: Box<sasl::Exchange>,
        mechanism: sasl::Mechanism,
    },
    Transaction(Box<Transaction<D>>),
    Closed,
}

pub(super) struct Transaction<D> {
    drop: D,
    deleted: Vec<bool>,
    retrieved: u32,
    retrieved_bytes: u64,
}

/// One POP3 session.
pub struct Session<B: Backend> {
    pub(super) config: Pop3Config,
    pub(super) backend: B,
    pub(super) banner: String,
    pub(super) tls: bool,
    pub(super) phase: Phase<B::Drop>,
    errors: u32,
}

pub(super) fn reply(s: &str) -> Action {
    Action::Reply(format!("{s}\r\n").into_bytes())
}

impl<B: Backend> Session<B> {
    /// Starts a session; returns it and the greeting to send. `banner` is the APOP
    /// timestamp (see [`crate::proto::sasl::apop_banner`]); it is shown only while APOP is offered.
    pub fn new(config: Pop3Config, banner: String, backend: B) -> (Self, Vec<u8>) {
        let tls = config.tls_active;
        let greeting = if sasl::mechanism_offered(config.methods.apop, tls) {
            format!("+OK {} POP3 server ready {banner}\r\n", config.hostname)
        } else {
            format!("+OK {} POP3 server ready\r\n", config.hostname)
        };
        let session = Session {
            config,
            backend,
            banner,
            tls,
            phase: Phase::Authorization { user: None },
            errors: 0,
        };
        (session, greeting.into_bytes())
    }

    /// Whether the session has ended (no more input should be read).
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    /// Whether the client is logged in.
    pub fn is_authenticated(&self) -> bool {
        matches!(self.phase, Phase::Transaction(_))
    }

    /// Whether handling `line` may take long: a login (password hashing, opening and syncing
    /// the maildrop) or QUIT (deleting files). Everything else in TRANSACTION only reads the
    /// snapshot or opens one message file, so the socket loop may run it in place.
    pub fn is_slow(&self, line: &[u8]) -> bool {
        !self.is_authenticated() || command::parse(line) == Ok(Command::Quit)
    }

    /// A line longer than the limit ([`Pop3Config::max_line`]) was received and dropped.
    pub fn line_too_long(&mut self) -> Vec<Action> {
        if let Phase::Sasl { .. } = self.phase {
            self.phase = Phase::Authorization { user: None };
        }
        self.error("line too long")
    }

    /// The TLS handshake after STLS succeeded.
    pub fn tls_started(&mut self) {
        self.tls = true;
        self.phase = Phase::Authorization { user: None };
    }

    /// Handles one received line (with or without its CRLF).
    pub fn line(&mut self, line: &[u8]) -> Vec<Action> {
        if self.is_closed() {
            return Vec::new();
        }
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() + 2 > self.config.max_line {
            return self.line_too_long();
        }
        if let Phase::Sasl { .. } = self.phase {
            return self.sasl_line(line);
        }
        match command::parse(line) {
            Ok(cmd) => self.command(cmd),
            Err(CommandError::Unknown) => self.error("unknown command"),
            Err(e) => self.error(&e.to_string()),
        }
    }

    /// The connection dropped: no deletions are applied.
    pub fn disconnected(&mut self) -> Vec<Action> {
        let phase = std::mem::replace(&mut self.phase, Phase::Closed);
        match phase {
            Phase::Transaction(tx) => vec![Action::Event(Event::End {
                retrieved: tx.retrieved,
                retrieved_bytes: tx.retrieved_bytes,
                deleted: 0,
                quit: false,
            })],
            _ => Vec::new(),
        }
    }

    pub(super) fn error(&mut self, reason: &str) -> Vec<Action> {
        self.errors += 1;
        let mut out = vec![reply(&format!("-ERR {reason}"))];
        if self.errors >= self.config.max_errors {
            out.push(reply("-ERR too many errors, closing connection"));
            out.extend(self.disconnected());
            out.push(Action::Event(Event::TooManyErrors));
            out.push(Action::Close);
            self.phase = Phase::Closed;
        }
        out
    }

    /// Enters TRANSACTION for `user` (authenticated by `mechanism`), or explains why not.
    pub(super) fn login(&mut self, user: &str, mechanism: &str) -> Vec<Action> {
        let failed = |reason: &str| {
            Action::Event(Event::LoginFailed {
                user: user.to_string(),
                mechanism: mechanism.to_string(),
                reason: reason.to_string(),
            })
        };
        match self.backend.open_maildrop(user) {
            Ok(drop) => {
                let n = drop.messages().len();
                let size: u64 = drop.messages().iter().map(|m| m.size).sum();
                self.phase = Phase::Transaction(Box::new(Transaction {
                    drop,
                    deleted: vec![false; n],
                    retrieved: 0,
                    retrieved_bytes: 0,
                }));
                vec![
                    Action::Event(Event::LoginOk {
                        user: user.to_string(),
                        mechanism: mechanism.to_string(),
                    }),
                    reply(&format!("+OK {user} has {n} messages ({size} octets)")),
                ]
            }
            Err(OpenError::InUse) => {
                self.phase = Phase::Authorization { user: None };
                let mut out = vec![failed("in-use")];
                out.extend(self.error("[IN-USE] mailbox is locked by another POP3 session"));
                out
            }
            Err(OpenError::Temporary(why)) => {
                self.phase = Phase::Authorization { user: None };
                let mut out = vec![failed(&why)];
                out.extend(self.error("[SYS/TEMP] mailbox unavailable, try again later"));
                out
            }
        }
    }

    fn capabilities(&self) -> Vec<Action> {
        let mut s = String::from("+OK capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n");
        let authorization = matches!(self.phase, Phase::Authorization { .. });
        if authorization && sasl::mechanism_offered(self.config.methods.user_pass, self.tls) {
            s.push_str("USER\r\n");
        }
        let mechs = self.config.sasl.offered_names(self.tls);
        if authorization && !mechs.is_empty() {
            s.push_str(&format!("SASL {mechs}\r\n"));
        }
        if authorization && self.config.stls && !self.tls {
            s.push_str("STLS\r\n");
        }
        s.push_str("IMPLEMENTATION postern\r\n.\r\n");
        vec![Action::Reply(s.into_bytes())]
    }

    fn command(&mut self, cmd: Command) -> Vec<Action> {
        if cmd == Command::Capa {
            return self.capabilities();
        }
        if matches!(self.phase, Phase::Transaction(_)) {
            return self.transaction(cmd);
        }
        self.authorization(cmd)
    }

    fn transaction(&mut self, cmd: Command) -> Vec<Action> {
        let Phase::Transaction(tx) = &mut self.phase else {
            return Vec::new();
        };
        let out: Result<Vec<Action>, String> = match cmd {
            Command::Stat => {
                let (n, size) = tx.totals();
                Ok(vec![reply(&format!("+OK {n} {size}"))])
            }
            Command::List(None) => Ok(vec![tx.listing(
                format!("+OK {} messages ({} octets)", tx.totals().0, tx.totals().1),
                |m| m.size.to_string(),
            )]),
            Command::List(Some(arg)) => tx.index(&arg).and_then(|i| {
                Ok(vec![reply(&format!(
                    "+OK {} {}",
                    i + 1,
                    tx.message(i)?.size
                ))])
            }),
            Command::Uidl(None) => Ok(vec![tx
                .listing("+OK unique-id listing follows".to_string(), |m| {
                    m.uidl.clone()
                })]),
            Command::Uidl(Some(arg)) => tx.index(&arg).and_then(|i| {
                Ok(vec![reply(&format!(
                    "+OK {} {}",
                    i + 1,
                    tx.message(i)?.uidl
                ))])
            }),
            Command::Retr(arg) => tx.index(&arg).and_then(|i| {
                let size = tx.message(i)?.size;
                let stream = tx.open(i, None)?;
                tx.retrieved += 1;
                tx.retrieved_bytes += size;
                Ok(vec![
                    reply(&format!("+OK {size} octets")),
                    Action::Stream(stream),
                ])
            }),
            Command::Top(arg, lines) => tx.index(&arg).and_then(|i| {
                let n = command::number(&lines).ok_or("invalid line count")?;
                let stream = tx.open(i, Some(n))?;
                Ok(vec![
                    reply("+OK top of message follows"),
                    Action::Stream(stream),
                ])
            }),
            Command::Dele(arg) => tx.index(&arg).map(|i| {
                if let Some(deleted) = tx.deleted.get_mut(i) {
                    *deleted = true;
                }
                vec![reply(&format!("+OK message {} deleted", i + 1))]
            }),
            Command::Noop => Ok(vec![reply("+OK")]),
            Command::Rset => {
                tx.deleted.iter_mut().for_each(|d| *d = false);
                let (n, size) = tx.totals();
                Ok(vec![reply(&format!(
                    "+OK maildrop has {n} messages ({size} octets)"
                ))])
            }
            Command::Quit => return self.update(),
            Command::Stls => Err("STLS only in AUTHORIZATION state".into()),
            _ => Err("already logged in".into()),
        };
        out.unwrap_or_else(|why| self.error(&why))
    }

    fn update(&mut self) -> Vec<Action> {
        let Phase::Transaction(mut tx) = std::mem::replace(&mut self.phase, Phase::Closed) else {
            return Vec::new();
        };
        let marked: Vec<usize> = (tx.deleted.iter().enumerate())
            .filter(|(_, d)| **d)
            .map(|(i, _)| i)
            .collect();
        let (line, deleted) = if marked.is_empty() {
            (
                format!("+OK {} POP3 server signing off", self.config.hostname),
                0,
            )
        } else {
            match tx.drop.delete(&marked) {
                Ok(n) => (
                    format!(
                        "+OK {} POP3 server signing off ({n} messages deleted)",
                        self.config.hostname
                    ),
                    n,
                ),
                Err(_) => (
                    "-ERR [SYS/TEMP] some deleted messages not removed".to_string(),
                    0,
                ),
            }
        };
        vec![
            Action::Event(Event::End {
                retrieved: tx.retrieved,
                retrieved_bytes: tx.retrieved_bytes,
                deleted,
                quit: true,
            }),
            reply(&line),
            Action::Close,
        ]
    }
}

impl<D: Maildrop> Transaction<D> {
    fn totals(&self) -> (usize, u64) {
        self.drop
            .messages()
            .iter()
            .zip(&self.deleted)
            .filter(|(_, d)| !**d)
            .fold((0, 0), |(n, s), (m, _)| (n + 1, s + m.size))
    }

    /// A multi-line listing `n <field>` of the messages not marked deleted.
    fn listing(
        &self,
        first: String,
        field: impl Fn(&super::maildrop::DropMessage) -> String,
    ) -> Action {
        use std::fmt::Write as _;
        let mut s = first;
        s.push_str("\r\n");
        for (i, (m, deleted)) in self.drop.messages().iter().zip(&self.deleted).enumerate() {
            if !deleted {
                let _ = write!(s, "{} {}\r\n", i + 1, field(m));
            }
        }
        s.push_str(".\r\n");
        Action::Reply(s.into_bytes())
    }

    /// The index of a message-number argument that exists and is not deleted.
    fn index(&self, arg: &str) -> Result<usize, String> {
        let n = command::number(arg).ok_or_else(|| format!("invalid message number {arg:?}"))?;
        let count = self.deleted.len();
        if n == 0 || n as usize > count {
            return Err(format!(
                "no such message, only {count} messages in maildrop"
            ));
        }
        let i = n as usize - 1;
        match self.deleted.get(i) {
            Some(false) => Ok(i),
            _ => Err(format!("message {n} already deleted")),
        }
    }

    /// The message at index `i` (one [`Self::index`] found).
    fn message(&self, i: usize) -> Result<&super::maildrop::DropMessage, String> {
        self.drop
            .messages()
            .get(i)
            .ok_or_else(|| format!("no such message {}", i + 1))
    }

    fn open(&mut self, i: usize, top: Option<u64>) -> Result<MessageStream, String> {
        let size = self.message(i)?.size;
        match self.drop.open(i) {
            Ok(r) => Ok(MessageStream::with_size(r, top, size)),
            Err(MaildropError::Gone) => {
                Err(format!("message {} was deleted by another session", i + 1))
            }
            Err(MaildropError::Io(_)) => Err("[SYS/TEMP] cannot read message".into()),
        }
    }
}
