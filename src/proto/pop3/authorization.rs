//! The AUTHORIZATION state: USER/PASS, APOP (RFC 1939), AUTH (RFC 5034) through the shared
//! [`crate::proto::sasl::Exchange`], STLS (RFC 2595) and the failed-login policy.

use super::command::Command;
use super::maildrop::Backend;
use super::session::{reply, Action, Event, Phase, Session};
use crate::proto::sasl::{self, Mechanism, MethodRefusal, Step};

impl<B: Backend> Session<B> {
    pub(super) fn authorization(&mut self, cmd: Command) -> Vec<Action> {
        match cmd {
            Command::Quit => {
                self.phase = Phase::Closed;
                vec![
                    reply(&format!(
                        "+OK {} POP3 server signing off",
                        self.config.hostname
                    )),
                    Action::Close,
                ]
            }
            Command::User(name) => {
                if let Err(why) = sasl::check_availability(self.config.methods.user_pass, self.tls)
                {
                    return self.error(&refusal("USER/PASS", why));
                }
                self.phase = Phase::Authorization { user: Some(name) };
                vec![reply("+OK send PASS")]
            }
            Command::Pass(password) => {
                let user = match &mut self.phase {
                    Phase::Authorization { user } => user.take(),
                    _ => None,
                };
                let Some(user) = user else {
                    return self.error("send USER first");
                };
                if self
                    .backend
                    .credentials()
                    .verify_pop3_password(&user, password.expose())
                {
                    let account = self.backend.credentials().account(&user);
                    self.login(&account, "USER")
                } else {
                    self.auth_failed(&user, "USER")
                }
            }
            Command::Apop(user, digest) => {
                if let Err(why) = sasl::check_availability(self.config.methods.apop, self.tls) {
                    return self.error(&refusal("APOP", why));
                }
                // A user without a shared secret fails exactly like a wrong digest.
                let secret = self.backend.credentials().shared_secret(&user);
                let ok =
                    secret.is_some_and(|s| sasl::apop_digest_matches(&self.banner, &s, &digest));
                if ok {
                    let account = self.backend.credentials().account(&user);
                    self.login(&account, "APOP")
                } else {
                    self.auth_failed(&user, "APOP")
                }
            }
            Command::Auth(None) => {
                let mut s = String::from("+OK supported mechanisms follow\r\n");
                for m in self.config.sasl.offered(self.tls) {
                    s.push_str(m.name());
                    s.push_str("\r\n");
                }
                s.push_str(".\r\n");
                vec![Action::Reply(s.into_bytes())]
            }
            Command::Auth(Some((name, initial))) => self.auth_start(&name, initial),
            Command::Stls => {
                if self.tls {
                    return self.error("already using TLS");
                }
                if !self.config.stls {
                    return self.error("STLS not available here");
                }
                self.phase = Phase::Authorization { user: None };
                vec![reply("+OK begin TLS negotiation"), Action::StartTls]
            }
            _ => self.error("not logged in"),
        }
    }

    fn auth_start(&mut self, name: &str, initial: Option<String>) -> Vec<Action> {
        let Some(mechanism) = Mechanism::from_name(name) else {
            return self.error("unsupported authentication mechanism");
        };
        if let Err(why) = self.config.sasl.check(mechanism, self.tls) {
            return self.error(&refusal(mechanism.name(), why));
        }
        let (exchange, step) = sasl::Exchange::start(
            mechanism,
            &self.config.hostname,
            initial.as_deref().map(str::as_bytes),
            self.backend.credentials(),
        );
        self.phase = Phase::Sasl {
            exchange: Box::new(exchange),
            mechanism,
        };
        self.sasl_step(step)
    }

    /// A client line during an AUTH exchange (`*` cancels; the exchange decodes the rest).
    pub(super) fn sasl_line(&mut self, line: &[u8]) -> Vec<Action> {
        let Phase::Sasl { exchange, .. } = &mut self.phase else {
            return Vec::new();
        };
        let step = exchange.step(line, self.backend.credentials());
        self.sasl_step(step)
    }

    fn sasl_step(&mut self, step: Step) -> Vec<Action> {
        let mechanism = match &self.phase {
            Phase::Sasl { mechanism, .. } => mechanism.name(),
            _ => return Vec::new(),
        };
        match step {
            Step::Challenge(c) => vec![Action::Reply(format!("+ {c}\r\n").into_bytes())],
            Step::Success { user } => self.login(&user, mechanism),
            Step::Failure(e) if e.is_credentials_failure() => self.auth_failed("", mechanism),
            Step::Failure(e) => {
                self.phase = Phase::Authorization { user: None };
                self.error(&e.to_string())
            }
        }
    }

    /// A failed login: log it, wait the policy's delay, `-ERR [AUTH]`, close at the limit.
    fn auth_failed(&mut self, user: &str, mechanism: &str) -> Vec<Action> {
        self.phase = Phase::Authorization { user: None };
        let verdict = self.config.failures.record_failure();
        let mut out = vec![Action::Event(Event::LoginFailed {
            user: user.to_string(),
            mechanism: mechanism.to_string(),
            reason: "credentials".to_string(),
        })];
        if !verdict.delay.is_zero() {
            out.push(Action::Pause(verdict.delay));
        }
        if verdict.close {
            out.push(reply(
                "-ERR [AUTH] authentication failed, closing connection",
            ));
            out.push(Action::Close);
            self.phase = Phase::Closed;
            return out;
        }
        out.extend(self.error("[AUTH] authentication failed"));
        out
    }
}

/// The `-ERR` text for a login method this connection may not use.
fn refusal(method: &str, why: MethodRefusal) -> String {
    match why {
        MethodRefusal::Denied => format!("{method} not available here"),
        MethodRefusal::NeedsTls => {
            format!("{method} needs an encrypted connection (use STLS first)")
        }
    }
}
