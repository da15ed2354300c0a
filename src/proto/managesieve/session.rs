//! The ManageSieve session: NONAUTHENTICATED (CAPABILITY, STARTTLS, AUTHENTICATE, NOOP,
//! LOGOUT), the SASL exchange, AUTHENTICATED (the script commands of RFC 5804 §2.5–§2.14).

use std::time::Duration;

use super::parser::{Arg, Item, Reader};
use crate::proto::sasl::{
    self, AuthFailures, Credentials, Mechanism, MethodPolicy, MethodRefusal, Step,
};

/// Settings of one session.
#[derive(Debug, Clone)]
pub struct ManageSieveConfig {
    pub hostname: String,
    /// Availability of each SASL mechanism (IMAP's table).
    pub sasl: MethodPolicy,
    /// STARTTLS offered (the listener has a certificate and `tls = "starttls"`).
    pub starttls: bool,
    /// The connection is already encrypted.
    pub tls_active: bool,
    /// The SIEVE capability: the extensions scripts may use, space-separated.
    pub sieve_extensions: String,
    /// The MAXREDIRECTS capability.
    pub max_redirects: usize,
    /// Errors tolerated before the connection is closed.
    pub max_errors: u32,
    /// The failed-login policy.
    pub failures: AuthFailures,
    /// The longest command text outside literals.
    pub max_line: usize,
    /// The largest literal (the largest script).
    pub max_literal: u64,
}

/// Why a script operation failed, as RFC 5804 response codes say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreFailure {
    /// A name the server does not allow (no code; the text says why).
    BadName(String),
    /// `NONEXISTENT`.
    NonExistent(String),
    /// `ALREADYEXISTS`.
    AlreadyExists(String),
    /// `ACTIVE`: the active script cannot be deleted.
    Active(String),
    /// `QUOTA/MAXSCRIPTS`.
    TooMany(String),
    /// `QUOTA/MAXSIZE`.
    TooLarge(String),
    /// `TRYLATER`: the store failed (the text is for the log).
    TryLater(String),
}

/// The scripts of the logged-in user, and the validation of a script.
pub trait Backend {
    /// Where the SASL exchanges look users up.
    fn credentials(&self) -> &dyn Credentials;
    /// The scripts, by name, each with whether it is active.
    fn list(&mut self, user: &str) -> Result<Vec<(String, bool)>, StoreFailure>;
    fn get(&mut self, user: &str, name: &str) -> Result<Vec<u8>, StoreFailure>;
    /// Stores a script (already validated).
    fn put(&mut self, user: &str, name: &str, script: &[u8]) -> Result<(), StoreFailure>;
    fn have_space(&mut self, user: &str, name: &str, size: u64) -> Result<(), StoreFailure>;
    fn delete(&mut self, user: &str, name: &str) -> Result<(), StoreFailure>;
    fn rename(&mut self, user: &str, old: &str, new: &str) -> Result<(), StoreFailure>;
    /// Activates `name` (`None`: deactivates every script).
    fn set_active(&mut self, user: &str, name: Option<&str>) -> Result<(), StoreFailure>;
    /// Compiles `script`: `Err` is the error with its line ("line N: …").
    fn check(&self, script: &[u8]) -> Result<(), String>;
}

/// What happened, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    LoginOk {
        user: String,
        mechanism: String,
    },
    LoginFailed {
        user: String,
        mechanism: String,
        reason: String,
    },
    /// A mechanism refused before any exchange (not available here, or needs TLS).
    AuthRefused {
        mechanism: String,
        reason: String,
    },
    /// A script was stored, activated, renamed or deleted.
    Changed {
        user: String,
        command: &'static str,
        name: String,
    },
    /// The store failed.
    StoreFailed {
        user: String,
        error: String,
    },
    TooManyErrors,
}

/// What the driver does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Reply(Vec<u8>),
    Event(Event),
    Pause(Duration),
    StartTls,
    Close,
}

enum Phase {
    NonAuth,
    Sasl {
        exchange: Box<sasl::Exchange>,
        mechanism: Mechanism,
        /// Challenges sent so far.
        challenges: u32,
    },
    Auth {
        user: String,
    },
    Closed,
}

/// One ManageSieve session.
pub struct Session<B: Backend> {
    config: ManageSieveConfig,
    backend: B,
    reader: Reader,
    phase: Phase,
    tls: bool,
    /// STARTTLS answered: nothing more is read until [`Session::tls_started`].
    awaiting_tls: bool,
    errors: u32,
}

/// `"text"` with `"` and `\` escaped, and the octets a quoted string cannot hold (RFC 5804
/// §4: NUL, CR, LF) as spaces: a script's compile error may quote any of them.
pub fn quoted(text: &str) -> String {
    let mut s = String::with_capacity(text.len() + 2);
    s.push('"');
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                s.push('\\');
                s.push(c);
            }
            '\r' | '\n' | '\0' => s.push(' '),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

fn line(text: &str) -> Action {
    Action::Reply(format!("{text}\r\n").into_bytes())
}

fn ok(text: &str) -> Action {
    line(&format!("OK {}", quoted(text)))
}

/// `NO (code) "text"` (`code` empty: none).
fn no(code: &str, text: &str) -> Action {
    if code.is_empty() {
        line(&format!("NO {}", quoted(text)))
    } else {
        line(&format!("NO ({code}) {}", quoted(text)))
    }
}

fn failure_reply(f: &StoreFailure) -> Action {
    match f {
        StoreFailure::BadName(t) => no("", t),
        StoreFailure::NonExistent(t) => no("NONEXISTENT", t),
        StoreFailure::AlreadyExists(t) => no("ALREADYEXISTS", t),
        StoreFailure::Active(t) => no("ACTIVE", t),
        StoreFailure::TooMany(t) => no("QUOTA/MAXSCRIPTS", t),
        StoreFailure::TooLarge(t) => no("QUOTA/MAXSIZE", t),
        StoreFailure::TryLater(_) => no("TRYLATER", "the script store failed, try again later"),
    }
}

impl<B: Backend> Session<B> {
    /// A session and its greeting (the capabilities, then OK).
    pub fn new(config: ManageSieveConfig, backend: B) -> (Self, Vec<u8>) {
        let reader = Reader::new(config.max_line, config.max_literal);
        let tls = config.tls_active;
        let s = Session {
            config,
            backend,
            reader,
            phase: Phase::NonAuth,
            tls,
            awaiting_tls: false,
            errors: 0,
        };
        let mut greeting = s.capabilities();
        greeting.extend_from_slice(
            format!(
                "OK {}\r\n",
                quoted(&format!("{} ManageSieve ready", s.config.hostname))
            )
            .as_bytes(),
        );
        (s, greeting)
    }

    /// Bytes from the client.
    pub fn receive(&mut self, bytes: &[u8]) {
        self.reader.feed(bytes);
    }

    /// Whether nothing of a next command has arrived.
    pub fn at_rest(&self) -> bool {
        self.reader.is_empty()
    }

    /// The logged-in user.
    pub fn user(&self) -> Option<&str> {
        match &self.phase {
            Phase::Auth { user } => Some(user),
            _ => None,
        }
    }

    /// The next command's actions, if a whole one has arrived.
    pub fn next_actions(&mut self) -> Option<Vec<Action>> {
        if matches!(self.phase, Phase::Closed) || self.awaiting_tls {
            return None;
        }
        let item = self.reader.next_item()?;
        Some(match item {
            Item::Bad(why) => self.error(&format!("syntax error: {why}")),
            Item::TooLarge(size) => {
                if matches!(self.phase, Phase::Sasl { .. }) {
                    self.phase = Phase::NonAuth;
                }
                vec![no(
                    "QUOTA/MAXSIZE",
                    &format!(
                        "{size} octets is more than the {} allowed",
                        self.config.max_literal
                    ),
                )]
            }
            Item::Command(args) => self.command(args),
        })
    }

    /// TLS is up: anything pipelined behind STARTTLS is discarded; the capabilities are sent
    /// again (RFC 5804 §2.2), returned here.
    pub fn tls_started(&mut self) -> Vec<u8> {
        self.reader.clear();
        self.tls = true;
        self.awaiting_tls = false;
        let mut out = self.capabilities();
        out.extend_from_slice(b"OK \"TLS is on\"\r\n");
        out
    }

    /// The capability lines (without the final OK).
    fn capabilities(&self) -> Vec<u8> {
        let mechs: Vec<&str> = self
            .config
            .sasl
            .offered(self.tls)
            .iter()
            .map(Mechanism::name)
            .collect();
        let mut s = String::new();
        s.push_str("\"IMPLEMENTATION\" \"postern\"\r\n");
        s.push_str(&format!("\"SASL\" {}\r\n", quoted(&mechs.join(" "))));
        s.push_str(&format!(
            "\"SIEVE\" {}\r\n",
            quoted(&self.config.sieve_extensions)
        ));
        if self.config.starttls && !self.tls {
            s.push_str("\"STARTTLS\"\r\n");
        }
        s.push_str(&format!(
            "\"MAXREDIRECTS\" \"{}\"\r\n",
            self.config.max_redirects
        ));
        if let Phase::Auth { user } = &self.phase {
            s.push_str(&format!("\"OWNER\" {}\r\n", quoted(user)));
        }
        s.push_str("\"VERSION\" \"1.0\"\r\n");
        s.into_bytes()
    }

    fn error(&mut self, text: &str) -> Vec<Action> {
        self.errors += 1;
        if self.errors >= self.config.max_errors.max(1) {
            self.phase = Phase::Closed;
            return vec![
                Action::Event(Event::TooManyErrors),
                line("BYE \"too many errors\""),
                Action::Close,
            ];
        }
        vec![no("", text)]
    }

    fn command(&mut self, args: Vec<Arg>) -> Vec<Action> {
        if let Phase::Sasl { .. } = self.phase {
            return self.sasl_response(&args);
        }
        let mut it = args.into_iter();
        let name = match it.next() {
            Some(Arg::Atom(a)) => a.to_ascii_uppercase(),
            _ => return self.error("expected a command name"),
        };
        let rest: Vec<Arg> = it.collect();
        match (name.as_str(), &self.phase) {
            ("CAPABILITY", _) if rest.is_empty() => {
                let mut out = vec![Action::Reply(self.capabilities())];
                out.push(ok("capability completed"));
                out
            }
            ("LOGOUT", _) => {
                self.phase = Phase::Closed;
                vec![ok("logout completed"), Action::Close]
            }
            ("NOOP", _) => match rest.first().and_then(Arg::as_str) {
                Some(tag) => vec![line(&format!("OK (TAG {}) \"done\"", quoted(tag)))],
                None => vec![ok("done")],
            },
            ("STARTTLS", Phase::NonAuth) => {
                if self.tls {
                    return self.error("TLS is already on");
                }
                if !self.config.starttls {
                    return self.error("STARTTLS is not available here");
                }
                self.awaiting_tls = true;
                vec![ok("begin TLS negotiation"), Action::StartTls]
            }
            ("AUTHENTICATE", Phase::NonAuth) => self.authenticate(&rest),
            ("UNAUTHENTICATE", Phase::Auth { .. }) => {
                self.phase = Phase::NonAuth;
                vec![ok("unauthenticated")]
            }
            (
                "PUTSCRIPT" | "CHECKSCRIPT" | "SETACTIVE" | "GETSCRIPT" | "DELETESCRIPT"
                | "RENAMESCRIPT" | "LISTSCRIPTS" | "HAVESPACE",
                Phase::Auth { user },
            ) => {
                let user = user.clone();
                self.script_command(&name, &user, &rest)
            }
            (
                "PUTSCRIPT" | "CHECKSCRIPT" | "SETACTIVE" | "GETSCRIPT" | "DELETESCRIPT"
                | "RENAMESCRIPT" | "LISTSCRIPTS" | "HAVESPACE" | "UNAUTHENTICATE",
                _,
            ) => self.error("log in first"),
            ("STARTTLS" | "AUTHENTICATE", _) => self.error("already logged in"),
            _ => self.error("unknown command or wrong arguments"),
        }
    }

    fn authenticate(&mut self, args: &[Arg]) -> Vec<Action> {
        let Some(mech_name) = args.first().and_then(Arg::as_str) else {
            return self.error("AUTHENTICATE needs a mechanism name as a string");
        };
        let Some(mechanism) = Mechanism::from_name(mech_name) else {
            return self.error("unsupported authentication mechanism");
        };
        if let Err(why) = self.config.sasl.check(mechanism, self.tls) {
            let text = match why {
                MethodRefusal::Denied => format!("{} is not available here", mechanism.name()),
                MethodRefusal::NeedsTls => {
                    format!(
                        "{} needs an encrypted connection (STARTTLS first)",
                        mechanism.name()
                    )
                }
            };
            return vec![
                Action::Event(Event::AuthRefused {
                    mechanism: mechanism.name().to_string(),
                    reason: why.to_string(),
                }),
                match why {
                    MethodRefusal::NeedsTls => no("ENCRYPT-NEEDED", &text),
                    MethodRefusal::Denied => no("", &text),
                },
            ];
        }
        let initial = match args.get(1) {
            None => None,
            Some(a) => match a.as_str() {
                Some(s) => Some(s.to_string()),
                None => return self.error("the initial response must be a string"),
            },
        };
        let (exchange, step) = sasl::Exchange::start(
            mechanism,
            &self.config.hostname,
            initial.as_deref().map(str::as_bytes),
            self.backend.credentials(),
        );
        self.phase = Phase::Sasl {
            exchange: Box::new(exchange),
            mechanism,
            challenges: 0,
        };
        self.sasl_step(step)
    }

    /// The client's answer to a challenge: one string (`"*"` cancels).
    fn sasl_response(&mut self, args: &[Arg]) -> Vec<Action> {
        let data = match args {
            [Arg::Str(s)] => s.clone(),
            _ => {
                self.phase = Phase::NonAuth;
                return self.error("expected the SASL response as a string");
            }
        };
        let Phase::Sasl { exchange, .. } = &mut self.phase else {
            return Vec::new();
        };
        let step = exchange.step(&data, self.backend.credentials());
        self.sasl_step(step)
    }

    fn sasl_step(&mut self, step: Step) -> Vec<Action> {
        let (mechanism, scram_final) = match &mut self.phase {
            Phase::Sasl {
                mechanism,
                challenges,
                ..
            } => {
                let is_final = *mechanism == Mechanism::ScramSha256 && *challenges == 1;
                if matches!(step, Step::Challenge(_)) {
                    *challenges += 1;
                }
                (mechanism.name().to_string(), is_final)
            }
            _ => return Vec::new(),
        };
        match step {
            // RFC 5804 §2.1: SCRAM's server-final message goes with the success, as
            // `OK (SASL "…")`, not as one more challenge.
            Step::Challenge(c) if scram_final => {
                let Phase::Sasl { exchange, .. } = &mut self.phase else {
                    return Vec::new();
                };
                let next = exchange.step(b"", self.backend.credentials());
                let mut out = self.sasl_step(next);
                if let Some(Action::Reply(r)) = out.last_mut() {
                    if r.starts_with(b"OK ") {
                        *r = format!("OK (SASL {}) \"logged in\"\r\n", quoted(&c)).into_bytes();
                    }
                }
                out
            }
            Step::Challenge(c) => vec![line(&quoted(&c))],
            Step::Success { user } => {
                let account = self.backend.credentials().account(&user);
                self.phase = Phase::Auth {
                    user: account.clone(),
                };
                vec![
                    Action::Event(Event::LoginOk {
                        user: account,
                        mechanism,
                    }),
                    ok("logged in"),
                ]
            }
            Step::Failure(e) if e.is_credentials_failure() => {
                self.phase = Phase::NonAuth;
                let verdict = self.config.failures.record_failure();
                let mut out = vec![Action::Event(Event::LoginFailed {
                    user: String::new(),
                    mechanism,
                    reason: "credentials".into(),
                })];
                if !verdict.delay.is_zero() {
                    out.push(Action::Pause(verdict.delay));
                }
                if verdict.close {
                    self.phase = Phase::Closed;
                    out.push(line("BYE \"authentication failed, closing connection\""));
                    out.push(Action::Close);
                } else {
                    out.push(no("", "authentication failed"));
                }
                out
            }
            Step::Failure(sasl::SaslError::Unavailable) => {
                self.phase = Phase::NonAuth;
                vec![no("TRYLATER", "authentication is temporarily unavailable")]
            }
            Step::Failure(e) => {
                self.phase = Phase::NonAuth;
                self.error(&e.to_string())
            }
        }
    }

    fn script_command(&mut self, name: &str, user: &str, args: &[Arg]) -> Vec<Action> {
        let text = |i: usize| args.get(i).and_then(Arg::as_str);
        let changed = |command: &'static str, name: &str| {
            Action::Event(Event::Changed {
                user: user.to_string(),
                command,
                name: name.to_string(),
            })
        };
        let result: Result<Vec<Action>, StoreFailure> = match (name, args.len()) {
            ("LISTSCRIPTS", 0) => self.backend.list(user).map(|list| {
                let mut out: Vec<Action> = list
                    .iter()
                    .map(|(n, active)| {
                        line(&format!(
                            "{}{}",
                            quoted(n),
                            if *active { " ACTIVE" } else { "" }
                        ))
                    })
                    .collect();
                out.push(ok("listscripts completed"));
                out
            }),
            ("GETSCRIPT", 1) => match text(0) {
                Some(n) => self.backend.get(user, n).map(|body| {
                    let mut reply = format!("{{{}}}\r\n", body.len()).into_bytes();
                    reply.extend_from_slice(&body);
                    reply.extend_from_slice(b"\r\n");
                    vec![Action::Reply(reply), ok("getscript completed")]
                }),
                None => return self.error("GETSCRIPT needs a script name"),
            },
            ("PUTSCRIPT", 2) => match (text(0), args.get(1)) {
                (Some(n), Some(Arg::Str(body))) => {
                    let n = n.to_string();
                    match self
                        .backend
                        .have_space(user, &n, body.len() as u64)
                        .map(|()| self.backend.check(body))
                    {
                        Ok(Err(why)) => Ok(vec![no("", &why)]),
                        Ok(Ok(())) => self
                            .backend
                            .put(user, &n, body)
                            .map(|()| vec![changed("PUTSCRIPT", &n), ok("putscript completed")]),
                        Err(e) => Err(e),
                    }
                }
                _ => return self.error("PUTSCRIPT needs a script name and a script"),
            },
            ("CHECKSCRIPT", 1) => match args.first() {
                Some(Arg::Str(body)) => Ok(match self.backend.check(body) {
                    Ok(()) => vec![ok("the script is valid")],
                    Err(why) => vec![no("", &why)],
                }),
                _ => return self.error("CHECKSCRIPT needs a script"),
            },
            ("SETACTIVE", 1) => match text(0) {
                Some("") => self
                    .backend
                    .set_active(user, None)
                    .map(|()| vec![changed("SETACTIVE", ""), ok("no script is active")]),
                Some(n) => {
                    let n = n.to_string();
                    // An active script must be valid now (the extensions may have changed).
                    match self.backend.get(user, &n) {
                        Ok(body) => match self.backend.check(&body) {
                            Err(why) => Ok(vec![no("", &why)]),
                            Ok(()) => self.backend.set_active(user, Some(&n)).map(|()| {
                                vec![changed("SETACTIVE", &n), ok("setactive completed")]
                            }),
                        },
                        Err(e) => Err(e),
                    }
                }
                None => return self.error("SETACTIVE needs a script name"),
            },
            ("DELETESCRIPT", 1) => match text(0) {
                Some(n) => {
                    let n = n.to_string();
                    self.backend
                        .delete(user, &n)
                        .map(|()| vec![changed("DELETESCRIPT", &n), ok("deletescript completed")])
                }
                None => return self.error("DELETESCRIPT needs a script name"),
            },
            ("RENAMESCRIPT", 2) => match (text(0), text(1)) {
                (Some(old), Some(new)) => {
                    let (old, new) = (old.to_string(), new.to_string());
                    self.backend
                        .rename(user, &old, &new)
                        .map(|()| vec![changed("RENAMESCRIPT", &new), ok("renamescript completed")])
                }
                _ => return self.error("RENAMESCRIPT needs two script names"),
            },
            ("HAVESPACE", 2) => match (text(0), args.get(1)) {
                (Some(n), Some(Arg::Number(size))) => {
                    let n = n.to_string();
                    self.backend
                        .have_space(user, &n, *size)
                        .map(|()| vec![ok("putscript would succeed")])
                }
                _ => return self.error("HAVESPACE needs a script name and a number"),
            },
            _ => return self.error("wrong arguments"),
        };
        match result {
            Ok(out) => out,
            Err(f) => {
                let mut out = Vec::new();
                if let StoreFailure::TryLater(why) = &f {
                    out.push(Action::Event(Event::StoreFailed {
                        user: user.to_string(),
                        error: why.clone(),
                    }));
                }
                out.push(failure_reply(&f));
                out
            }
        }
    }
}
