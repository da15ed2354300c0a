//! LOGIN and AUTHENTICATE (through the shared SASL exchanges), and what follows a
//! successful login: opening the user's maildir.

use std::time::Duration;

use super::account::AccountError;
use super::{Account, Mode, Note, Session};
use crate::imap::response::{self, Code, Status};
use crate::sasl::{self, Credentials, Exchange, Mechanism, MethodRefusal, SaslError};

impl Session {
    /// LOGIN; returns a delay when the login failed.
    pub(super) fn login(
        &mut self,
        tag: &str,
        user: &str,
        password: &str,
        creds: &dyn Credentials,
        out: &mut Vec<u8>,
    ) -> Option<Duration> {
        if !sasl::mechanism_offered(self.config.login, self.config.tls_active) {
            let code =
                (self.config.login != sasl::Availability::Deny).then_some(Code::PrivacyRequired);
            out.extend(response::tagged(
                tag,
                Status::No,
                code.as_ref(),
                "LOGIN is disabled on this connection; use STARTTLS or AUTHENTICATE",
            ));
            return None;
        }
        if creds.verify_password(user, password) {
            self.logged_in(tag, user, "LOGIN", out);
            None
        } else {
            Some(self.login_failed(tag, Some(user.to_string()), "LOGIN", out))
        }
    }

    /// AUTHENTICATE mech [initial-response].
    pub(super) fn authenticate(
        &mut self,
        tag: &str,
        mechanism: &str,
        initial: Option<&str>,
        creds: &dyn Credentials,
        out: &mut Vec<u8>,
    ) -> Option<Duration> {
        let Some(mech) = Mechanism::from_name(mechanism) else {
            out.extend(response::tagged(
                tag,
                Status::No,
                Some(&Code::Cannot),
                &format!("Unsupported authentication mechanism {mechanism}"),
            ));
            return None;
        };
        if let Err(refusal) = self.config.methods.check(mech, self.config.tls_active) {
            let (code, text) = match refusal {
                MethodRefusal::NeedsTls => (
                    Code::PrivacyRequired,
                    "This mechanism needs an encrypted connection; use STARTTLS",
                ),
                _ => (Code::Cannot, "This mechanism is not available"),
            };
            out.extend(response::tagged(tag, Status::No, Some(&code), text));
            return None;
        }
        let (exchange, step) = Exchange::start(
            mech,
            &self.config.hostname,
            initial.map(str::as_bytes),
            creds,
        );
        self.auth_step(tag, mech.name(), exchange, step, out)
    }

    /// Acts on one step of an exchange; returns a delay after a failed login.
    pub(super) fn auth_step(
        &mut self,
        tag: &str,
        mechanism: &str,
        exchange: Exchange,
        step: sasl::Step,
        out: &mut Vec<u8>,
    ) -> Option<Duration> {
        match step {
            sasl::Step::Challenge(text) => {
                out.extend(format!("+ {text}\r\n").as_bytes());
                self.mode = Mode::Authenticating {
                    tag: tag.to_string(),
                    mechanism: mechanism.to_string(),
                    exchange,
                };
                None
            }
            sasl::Step::Success { user } => {
                self.logged_in(tag, &user, mechanism, out);
                None
            }
            sasl::Step::Failure(e) if e.is_credentials_failure() => {
                Some(self.login_failed(tag, None, mechanism, out))
            }
            sasl::Step::Failure(SaslError::Cancelled) => {
                out.extend(response::tagged(
                    tag,
                    Status::Bad,
                    None,
                    "Authentication cancelled",
                ));
                None
            }
            sasl::Step::Failure(e) => {
                out.extend(response::tagged(tag, Status::Bad, None, &e.to_string()));
                None
            }
        }
    }

    fn logged_in(&mut self, tag: &str, user: &str, mechanism: &str, out: &mut Vec<u8>) {
        match Account::open(&self.config.mail_root, user) {
            Ok(account) => {
                // Default folders that cannot be made now (a full volume) do not keep the user
                // from the mailboxes there are: a warning, and another try at the next login.
                if let Err(e) = account.first_login_setup() {
                    let (code, text) = super::mailboxes::maildir_code(&e);
                    out.extend(response::untagged_status(
                        Status::No,
                        Some(&code),
                        &format!("Cannot make the default mailboxes now: {text}"),
                    ));
                }
                self.account = Some(account);
                self.notes.push(Note::LoginOk {
                    user: user.to_string(),
                    mechanism: mechanism.to_string(),
                });
                let caps = self.capabilities();
                out.extend(response::tagged(
                    tag,
                    Status::Ok,
                    Some(&Code::Capability(caps)),
                    "Logged in",
                ));
            }
            Err(e) => {
                let (code, text) = match &e {
                    AccountError::Maildir(m) => super::mailboxes::maildir_code(m),
                    other => (Code::ServerBug, other.to_string()),
                };
                out.extend(response::tagged(
                    tag,
                    Status::No,
                    Some(&code),
                    &format!("Cannot open the mailbox: {text}"),
                ));
            }
        }
    }

    fn login_failed(
        &mut self,
        tag: &str,
        user: Option<String>,
        mechanism: &str,
        out: &mut Vec<u8>,
    ) -> Duration {
        self.notes.push(Note::LoginFailed {
            user,
            mechanism: mechanism.to_string(),
        });
        let verdict = self.failures.record_failure();
        out.extend(response::tagged(
            tag,
            Status::No,
            Some(&Code::AuthenticationFailed),
            "Authentication failed",
        ));
        if verdict.close {
            out.extend(response::untagged_status(
                Status::Bye,
                None,
                "Too many failed logins",
            ));
            self.logout = true;
        }
        verdict.delay
    }
}
