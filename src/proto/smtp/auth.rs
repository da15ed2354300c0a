//! SMTP AUTH (RFC 4954) inside the session: one [`Exchange`] per AUTH command, its `334`
//! challenges, the final reply, and the failed-login policy (a delay before `535`, then `421` at
//! the limit). Credentials come from the policy ([`super::Policy::credentials`]); a check may
//! take tens of milliseconds (argon2), so the connection driver runs a step that can reach one
//! ([`Session::may_check_credentials`]) off the async workers.

use super::session::{Action, Mode, Session};
use crate::proto::mail::Reply;
use crate::proto::sasl::{
    self, Credentials, Exchange, LoginNote, Mechanism, MethodRefusal, SaslError, Step as SaslStep,
};

/// Refusal reply for a mechanism the client may not use now.
fn refusal(why: MethodRefusal) -> Reply {
    match why {
        MethodRefusal::Denied => Reply::new(504, "5.5.4", "Authentication mechanism not available"),
        MethodRefusal::NeedsTls => Reply::new(
            538,
            "5.7.11",
            "Encryption required for requested authentication mechanism",
        ),
    }
}

/// The reply to a failed exchange that is not a wrong password.
fn protocol_error(err: &SaslError) -> Reply {
    match err {
        SaslError::Cancelled => Reply::new(501, "5.0.0", "Authentication cancelled"),
        // RFC 4954 §6: a temporary failure, the client may try again later.
        SaslError::Unavailable => Reply::new(454, "4.7.0", "Temporary authentication failure"),
        SaslError::LineTooLong => {
            Reply::new(500, "5.5.6", "Authentication exchange line is too long")
        }
        other => Reply::new(501, "5.5.2", format!("Authentication failed: {other}")),
    }
}

impl Session {
    /// `AUTH mech [initial]`, once the command itself is allowed here.
    pub(super) fn auth_start(
        &mut self,
        name: &str,
        initial: Option<String>,
        creds: Option<&dyn Credentials>,
        out: &mut Vec<u8>,
    ) -> Option<Action> {
        let checked = Mechanism::from_name(name)
            .ok_or(MethodRefusal::Denied)
            .and_then(|m| self.cfg.auth.check(m, self.client.tls).map(|()| m));
        let (mechanism, creds) = match (checked, creds) {
            (Ok(m), Some(creds)) => (m, creds),
            (Err(why), _) => return self.auth_refused(name, why, out),
            (Ok(_), None) => return self.auth_refused(name, MethodRefusal::Denied, out),
        };
        let initial = initial.as_deref().map(str::as_bytes);
        let (exchange, step) = Exchange::start(mechanism, &self.cfg.hostname, initial, creds);
        self.auth_step(mechanism, exchange, step, out)
    }

    fn auth_refused(
        &mut self,
        name: &str,
        why: MethodRefusal,
        out: &mut Vec<u8>,
    ) -> Option<Action> {
        self.notes.push(LoginNote::Refused {
            mechanism: name.chars().take(40).collect(),
            reason: why.to_string(),
        });
        self.error(out, refusal(why));
        None
    }

    /// A client line of the exchange, once one is buffered. Lines longer than
    /// [`sasl::MAX_CLIENT_LINE`] are skipped to their end and fail the exchange.
    pub(super) fn auth_input(
        &mut self,
        mechanism: Mechanism,
        mut exchange: Exchange,
        skipping: bool,
        creds: Option<&dyn Credentials>,
        out: &mut Vec<u8>,
    ) -> Option<Action> {
        let Some(nl) = self.input.iter().position(|&b| b == b'\n') else {
            let skipping = skipping || self.input.len() > sasl::MAX_CLIENT_LINE;
            if skipping {
                self.input.clear();
            }
            self.mode = Mode::Authenticating {
                mechanism,
                exchange,
                skipping,
            };
            return Some(Action::NeedInput);
        };
        let mut line: Vec<u8> = self.input.drain(..=nl).collect();
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let step = match creds {
            _ if skipping || line.len() > sasl::MAX_CLIENT_LINE => {
                SaslStep::Failure(SaslError::LineTooLong)
            }
            Some(creds) => exchange.step(&line, creds),
            None => SaslStep::Failure(SaslError::InvalidCredentials),
        };
        self.auth_step(mechanism, exchange, step, out)
    }

    fn auth_step(
        &mut self,
        mechanism: Mechanism,
        exchange: Exchange,
        step: SaslStep,
        out: &mut Vec<u8>,
    ) -> Option<Action> {
        let err = match step {
            SaslStep::Challenge(text) => {
                out.extend_from_slice(format!("334 {text}\r\n").as_bytes());
                self.mode = Mode::Authenticating {
                    mechanism,
                    exchange,
                    skipping: false,
                };
                return None;
            }
            SaslStep::Success { user } => {
                self.notes.push(LoginNote::Ok {
                    user: user.clone(),
                    mechanism: mechanism.name().to_string(),
                });
                self.client.auth_user = Some(user);
                self.client.trusted = true;
                Reply::new(235, "2.7.0", "Authentication successful").write_to(out);
                return None;
            }
            SaslStep::Failure(err) => err,
        };
        if !err.is_credentials_failure() {
            self.error(out, protocol_error(&err));
            return None;
        }
        self.notes.push(LoginNote::Failed {
            user: None,
            mechanism: mechanism.name().to_string(),
            reason: err.to_string(),
        });
        // The reply waits for the failure delay: it is sent by the next step.
        let verdict = self.failures.record_failure();
        let mut later = Vec::new();
        self.error(
            &mut later,
            Reply::new(535, "5.7.8", "Authentication credentials invalid"),
        );
        if verdict.close && !matches!(self.mode, Mode::Closed) {
            Reply::new(421, "4.7.0", "Too many failed logins, closing connection")
                .write_to(&mut later);
            self.mode = Mode::Closed;
        }
        if verdict.close {
            self.close_reason = Some("too many failed logins");
        }
        self.pending = later;
        Some(Action::Pause(verdict.delay))
    }

    /// Whether the next step may check a password: an AUTH exchange is waiting for input that
    /// has arrived, or an AUTH command is among the buffered lines.
    pub fn may_check_credentials(&self) -> bool {
        match &self.mode {
            Mode::Authenticating { .. } => self.input.contains(&b'\n'),
            Mode::Command => self.input.split(|&b| b == b'\n').any(|line| {
                line.get(..5)
                    .is_some_and(|w| w.eq_ignore_ascii_case(b"auth "))
            }),
            _ => false,
        }
    }
}
