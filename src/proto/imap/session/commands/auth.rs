//! The not-authenticated state (RFC 3501 §6.2): STARTTLS, LOGIN and AUTHENTICATE (through the
//! shared SASL exchanges, with SASL-IR, RFC 4959), and what follows a successful login: opening
//! the user's mail and the first-login setup.

use crate::proto::imap::assembler::LineEvent;
use crate::proto::imap::response::{Code, Data, Status};
use crate::proto::imap::session::account::first_login_setup;
use crate::proto::imap::session::dispatch::{Reply, Then};
use crate::proto::imap::session::{Login, Mode, Note, Session};
use crate::proto::imap::store::MailStore;
use crate::proto::sasl::{self, Credentials, Exchange, Mechanism, MethodRefusal, SaslError};

use super::store_code;

impl<S: MailStore> Session<S> {
    /// STARTTLS, where the listener offers it and TLS is not on yet.
    pub(in crate::proto::imap::session) fn starttls(&self) -> Reply {
        if !self.config.starttls || self.config.tls_active {
            return Reply::bad("STARTTLS not available on this connection");
        }
        Reply::ok("Begin TLS negotiation now").then(Then::StartTls)
    }

    /// LOGIN (a plaintext method, so only where the policy allows it).
    pub(in crate::proto::imap::session) fn login_command(
        &mut self,
        user: &str,
        password: &str,
        creds: &dyn Credentials,
    ) -> Reply {
        if !sasl::mechanism_offered(self.config.login, self.config.tls_active) {
            let code =
                (self.config.login != sasl::Availability::Deny).then_some(Code::PrivacyRequired);
            return Reply::no(
                code,
                "LOGIN is disabled on this connection; use STARTTLS or AUTHENTICATE",
            );
        }
        if creds.verify_password(user, password) {
            self.logged_in(&creds.account(user), "LOGIN")
        } else {
            self.login_failed(Some(user.to_string()), "LOGIN")
        }
    }

    /// AUTHENTICATE mech [initial-response].
    pub(in crate::proto::imap::session) fn authenticate(
        &mut self,
        tag: &str,
        mechanism: &str,
        initial: Option<&str>,
        creds: &dyn Credentials,
    ) -> Reply {
        let Some(mech) = Mechanism::from_name(mechanism) else {
            return Reply::no(
                Some(Code::Cannot),
                format!("Unsupported authentication mechanism {mechanism}"),
            );
        };
        if let Err(refusal) = self.config.methods.check(mech, self.config.tls_active) {
            let (code, text) = match refusal {
                MethodRefusal::NeedsTls => (
                    Code::PrivacyRequired,
                    "This mechanism needs an encrypted connection; use STARTTLS",
                ),
                _ => (Code::Cannot, "This mechanism is not available"),
            };
            return Reply::no(Some(code), text);
        }
        let (exchange, step) = Exchange::start(
            mech,
            &self.config.hostname,
            initial.map(str::as_bytes),
            creds,
        );
        self.auth_step(tag, mech.name(), exchange, step)
    }

    /// A line of an AUTHENTICATE exchange in progress.
    pub(in crate::proto::imap::session) fn auth_line(
        &mut self,
        tag: &str,
        mechanism: &str,
        mut exchange: Exchange,
        line: LineEvent,
        creds: &dyn Credentials,
    ) -> Reply {
        match line {
            LineEvent::Line(line) => {
                let step = exchange.step(&line, creds);
                self.auth_step(tag, mechanism, exchange, step)
            }
            LineEvent::TooLong | LineEvent::Incomplete => {
                Reply::bad("Authentication line too long")
            }
        }
    }

    /// Acts on one step of an exchange.
    fn auth_step(
        &mut self,
        tag: &str,
        mechanism: &str,
        exchange: Exchange,
        step: sasl::Step,
    ) -> Reply {
        match step {
            sasl::Step::Challenge(text) => {
                self.mode = Mode::Authenticating {
                    tag: tag.to_string(),
                    mechanism: mechanism.to_string(),
                    exchange,
                };
                Reply::continuation(text)
            }
            sasl::Step::Success { user } => self.logged_in(&user, mechanism),
            sasl::Step::Failure(e) if e.is_credentials_failure() => {
                self.login_failed(None, mechanism)
            }
            sasl::Step::Failure(SaslError::Cancelled) => Reply::bad("Authentication cancelled"),
            sasl::Step::Failure(e) => Reply::bad(e.to_string()),
        }
    }

    fn logged_in(&mut self, user: &str, mechanism: &str) -> Reply {
        let account = match self.config.store.open(user) {
            Ok(account) => account,
            Err(e) => {
                let (code, text) = store_code(&e);
                return Reply::no(Some(code), format!("Cannot open the mailbox: {text}"));
            }
        };
        // Default folders that cannot be made now (a full volume) do not keep the user from the
        // mailboxes there are: a warning, and another try at the next login.
        let mut data = Vec::new();
        if let Err(e) = first_login_setup(&account) {
            let (code, text) = store_code(&e);
            data.push(Data::condition(
                Status::No,
                Some(code),
                format!("Cannot make the default mailboxes now: {text}"),
            ));
        }
        self.login = Some(Login {
            user: user.to_string(),
            account,
        });
        self.notes.push(Note::LoginOk {
            user: user.to_string(),
            mechanism: mechanism.to_string(),
        });
        let caps = self.capabilities();
        Reply::done(Status::Ok, Some(Code::Capability(caps)), "Logged in").with(data)
    }

    /// A failed login: NO after the connection's delay, and BYE after too many.
    fn login_failed(&mut self, user: Option<String>, mechanism: &str) -> Reply {
        self.notes.push(Note::LoginFailed {
            user,
            mechanism: mechanism.to_string(),
        });
        let verdict = self.failures.record_failure();
        let mut reply = Reply::no(Some(Code::AuthenticationFailed), "Authentication failed");
        if verdict.close {
            reply.after = Some(Data::condition(Status::Bye, None, "Too many failed logins"));
            reply.then = Then::Close;
            self.logout = true;
        }
        reply.pause = Some(verdict.delay);
        reply
    }
}
