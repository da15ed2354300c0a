//! SMTP AUTH (RFC 4954) in the socket loop: run one [`sasl::Exchange`] for an `Action::Auth`.
//!
//! Continuation lines come from the session's buffer first ([`Session::take_line`], so pipelined
//! responses are not lost), then from the connection, each at most [`sasl::MAX_CLIENT_LINE`]
//! bytes and each within the connection's deadline for a unit of input. Password checks
//! (argon2) run on the blocking pool behind the process's login guard
//! ([`crate::server::login`]), which also keeps the failed-login budget across connections.

use std::sync::Arc;

use crate::config::Protocol;
use crate::events::event;
use crate::sasl::{self, AuthFailures, Exchange, Mechanism, MethodRefusal, SaslError, Step};
use crate::server::link::{Input, Link};
use crate::server::login::{ClientLogin, GuardedUsers};
use crate::server::{ListenerRuntime, Shared};
use crate::smtp::{Reply, Session};

/// One login on a connection, with what it needs from around it.
pub struct Login<'a> {
    pub shared: &'a Shared,
    pub listener: &'a ListenerRuntime,
    pub failures: &'a mut AuthFailures,
    pub login: &'a Arc<ClientLogin>,
}

/// How an exchange ended for the socket loop.
pub enum Outcome {
    /// Replies are written; go on with the session.
    Continue,
    /// Close the connection (too many failed logins); the reason is for the log.
    Close(String),
}

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

impl Login<'_> {
    fn credentials(&self) -> GuardedUsers {
        GuardedUsers {
            users: self.shared.users.get(),
            client: self.login.clone(),
        }
    }

    /// Run `AUTH mech [initial]` to its end, writing every reply to `link`.
    pub async fn run(
        &mut self,
        session: &mut Session,
        link: &mut Link,
        mech: &str,
        initial: Option<String>,
    ) -> Result<Outcome, String> {
        let io_err = |e: std::io::Error| e.to_string();
        let protocol = self.listener.settings.protocol;
        let tls = session.client().tls;
        let mechanism = match self.shared.config.auth.check(protocol, mech, tls) {
            Ok(m) => m,
            Err(why) => {
                event("auth_refused")
                    .field("listener", &self.listener.settings.name)
                    .opt("peer", link.peer)
                    .field("mechanism", mech.chars().take(40).collect::<String>())
                    .field("reason", why)
                    .emit();
                let out = session.auth_finished(Err(refusal(why)));
                link.write(&out).await.map_err(io_err)?;
                return Ok(Outcome::Continue);
            }
        };
        let creds = self.credentials();
        let hostname = self.shared.config.server.hostname.clone();
        let (mut exchange, mut step) = link
            .blocking(move || {
                Exchange::start(
                    mechanism,
                    &hostname,
                    initial.as_deref().map(str::as_bytes),
                    &creds,
                )
            })
            .await?;
        while let Step::Challenge(challenge) = &step {
            link.send(format!("334 {challenge}\r\n").as_bytes())
                .await
                .map_err(io_err)?;
            step = match read_line(session, link).await? {
                Some(line) => {
                    let creds = self.credentials();
                    let (back, next) = link
                        .blocking(move || {
                            let next = exchange.step(&line, &creds);
                            (exchange, next)
                        })
                        .await?;
                    exchange = back;
                    next
                }
                None => Step::Failure(SaslError::LineTooLong),
            };
        }
        self.finish(session, link, mechanism, step).await
    }

    /// Log the result, apply the failure policy and write the final reply.
    async fn finish(
        &mut self,
        session: &mut Session,
        link: &mut Link,
        mechanism: Mechanism,
        step: Step,
    ) -> Result<Outcome, String> {
        let io_err = |e: std::io::Error| e.to_string();
        let listener = &self.listener.settings.name;
        let err = match step {
            Step::Success { user } => {
                self.login.succeeded(&user);
                event("login")
                    .field("protocol", "smtp")
                    .field("listener", listener)
                    .opt("peer", link.peer)
                    .field("mechanism", mechanism)
                    .field("user", &user)
                    .emit();
                let out = session.auth_finished(Ok(user));
                link.write(&out).await.map_err(io_err)?;
                super::super::trim_memory();
                return Ok(Outcome::Continue);
            }
            Step::Failure(err) => err,
            Step::Challenge(_) => SaslError::Finished,
        };
        if !err.is_credentials_failure() {
            let out = session.auth_finished(Err(protocol_error(&err)));
            link.write(&out).await.map_err(io_err)?;
            return Ok(Outcome::Continue);
        }
        let (user, lockout) = self.login.failed();
        let verdict = self.failures.record_failure();
        let reason = lockout.map_or_else(|| err.to_string(), |l| l.to_string());
        event("login_failed")
            .field("protocol", "smtp")
            .field("listener", listener)
            .opt("peer", link.peer)
            .field("mechanism", mechanism)
            .opt("user", user)
            .field("failures", self.failures.count())
            .field("reason", reason)
            .emit();
        super::super::trim_memory();
        tokio::time::sleep(verdict.delay).await;
        let mut out = session.auth_finished(Err(Reply::new(
            535,
            "5.7.8",
            "Authentication credentials invalid",
        )));
        if verdict.close {
            if !session.is_closed() {
                out.extend(
                    Reply::new(421, "4.7.0", "Too many failed logins, closing connection")
                        .to_bytes(),
                );
            }
            link.write(&out).await.map_err(io_err)?;
            return Ok(Outcome::Close("too many failed logins".into()));
        }
        link.write(&out).await.map_err(io_err)?;
        Ok(Outcome::Continue)
    }
}

/// One client line of the exchange, or `None` when it was longer than the limit (the rest of it
/// has been read and dropped). A timeout or the end of input ends the connection.
async fn read_line(session: &mut Session, link: &mut Link) -> Result<Option<Vec<u8>>, String> {
    let mut skipping = false;
    link.begin_unit(link.patience());
    loop {
        if let Some(line) = session.take_line() {
            return Ok((!skipping).then_some(line));
        }
        if session.buffered() > sasl::MAX_CLIENT_LINE {
            session.discard_buffered();
            skipping = true;
        }
        match link.read().await {
            Input::TimedOut => {
                link.say_last(&session.timeout_reply()).await;
                return Err("idle timeout during AUTH".into());
            }
            Input::Closed => return Err("connection closed by client during AUTH".into()),
            Input::Data(bytes) => session.receive(bytes),
        }
    }
}

/// The mechanisms to advertise in EHLO on a connection of `protocol`.
pub fn advertised(shared: &Shared, protocol: Protocol, tls: bool) -> Vec<String> {
    shared.config.auth.offered_names(protocol, tls)
}
