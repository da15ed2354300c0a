//! SMTP AUTH (RFC 4954) in the socket loop: run one [`sasl::Exchange`] for an `Action::Auth`.
//!
//! Continuation lines come from the session's buffer first ([`Session::take_line`], so pipelined
//! responses are not lost), then from the socket, each at most [`sasl::MAX_CLIENT_LINE`] bytes
//! and within the idle timeout. Password checks (argon2) run on the blocking pool.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::Protocol;
use crate::events::event;
use crate::net::Io;
use crate::sasl::{self, AuthFailures, Exchange, Mechanism, MethodRefusal, SaslError, Step};
use crate::server::{ListenerRuntime, Shared};
use crate::smtp::{Reply, Session};

/// The connection a login happens on.
pub struct Link<'a> {
    pub shared: &'a Shared,
    pub listener: &'a ListenerRuntime,
    pub peer: Option<SocketAddr>,
    pub failures: &'a mut AuthFailures,
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
        SaslError::LineTooLong => {
            Reply::new(500, "5.5.6", "Authentication exchange line is too long")
        }
        other => Reply::new(501, "5.5.2", format!("Authentication failed: {other}")),
    }
}

/// Run `AUTH mech [initial]` to its end, writing every reply to `io`.
pub async fn run(
    link: Link<'_>,
    session: &mut Session,
    io: &mut Box<dyn Io>,
    buf: &mut [u8],
    mech: &str,
    initial: Option<String>,
) -> Result<Outcome, String> {
    let protocol = link.listener.settings.protocol;
    let tls = session.client().tls;
    let mechanism = match link.shared.config.auth.check(protocol, mech, tls) {
        Ok(m) => m,
        Err(why) => {
            event("auth_refused")
                .field("listener", &link.listener.settings.name)
                .opt("peer", link.peer)
                .field("mechanism", mech.chars().take(40).collect::<String>())
                .field("reason", why)
                .emit();
            let out = session.auth_finished(Err(refusal(why)));
            io.write_all(&out).await.map_err(|e| e.to_string())?;
            return Ok(Outcome::Continue);
        }
    };
    let users = link.shared.users.get();
    let hostname = link.shared.config.server.hostname.clone();
    let (mut exchange, mut step) = blocking(move || {
        Exchange::start(
            mechanism,
            &hostname,
            initial.as_deref().map(str::as_bytes),
            &*users,
        )
    })
    .await?;
    while let Step::Challenge(challenge) = &step {
        io.write_all(format!("334 {challenge}\r\n").as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        io.flush().await.map_err(|e| e.to_string())?;
        step = match read_line(link.shared, session, io, buf).await? {
            Some(line) => {
                let users = link.shared.users.get();
                let (back, next) = blocking(move || {
                    let next = exchange.step(&line, &*users);
                    (exchange, next)
                })
                .await?;
                exchange = back;
                next
            }
            None => Step::Failure(SaslError::LineTooLong),
        };
    }
    finish(link, session, io, mechanism, step).await
}

/// Log the result, apply the failure policy and write the final reply.
async fn finish(
    link: Link<'_>,
    session: &mut Session,
    io: &mut Box<dyn Io>,
    mechanism: Mechanism,
    step: Step,
) -> Result<Outcome, String> {
    let listener = &link.listener.settings.name;
    let err = match step {
        Step::Success { user } => {
            event("login")
                .field("listener", listener)
                .opt("peer", link.peer)
                .field("mechanism", mechanism)
                .field("user", &user)
                .emit();
            let out = session.auth_finished(Ok(user));
            io.write_all(&out).await.map_err(|e| e.to_string())?;
            return Ok(Outcome::Continue);
        }
        Step::Failure(err) => err,
        Step::Challenge(_) => SaslError::Finished,
    };
    if !err.is_credentials_failure() {
        let out = session.auth_finished(Err(protocol_error(&err)));
        io.write_all(&out).await.map_err(|e| e.to_string())?;
        return Ok(Outcome::Continue);
    }
    let verdict = link.failures.record_failure();
    event("login_failed")
        .field("listener", listener)
        .opt("peer", link.peer)
        .field("mechanism", mechanism)
        .field("failures", link.failures.count())
        .field("reason", &err)
        .emit();
    tokio::time::sleep(verdict.delay).await;
    let mut out = session.auth_finished(Err(Reply::new(
        535,
        "5.7.8",
        "Authentication credentials invalid",
    )));
    if verdict.close {
        if !session.is_closed() {
            out.extend(
                Reply::new(421, "4.7.0", "Too many failed logins, closing connection").to_bytes(),
            );
        }
        io.write_all(&out).await.map_err(|e| e.to_string())?;
        return Ok(Outcome::Close("too many failed logins".into()));
    }
    io.write_all(&out).await.map_err(|e| e.to_string())?;
    Ok(Outcome::Continue)
}

/// One client line of the exchange, or `None` when it was longer than the limit (the rest of it
/// has been read and dropped). Idle timeout and end of input end the connection.
async fn read_line(
    shared: &Shared,
    session: &mut Session,
    io: &mut Box<dyn Io>,
    buf: &mut [u8],
) -> Result<Option<Vec<u8>>, String> {
    let idle = shared.config.limits.idle_timeout.duration();
    let mut skipping = false;
    loop {
        if let Some(line) = session.take_line() {
            return Ok((!skipping).then_some(line));
        }
        if session.buffered() > sasl::MAX_CLIENT_LINE {
            session.discard_buffered();
            skipping = true;
        }
        match tokio::time::timeout(idle, io.read(buf)).await {
            Err(_) => {
                let _ = io.write_all(&session.timeout_reply()).await;
                return Err("idle timeout during AUTH".into());
            }
            Ok(Ok(0)) => return Err("connection closed by client during AUTH".into()),
            Ok(Ok(n)) => session.receive(buf.get(..n).unwrap_or_default()),
            Ok(Err(e)) => return Err(e.to_string()),
        }
    }
}

/// Run CPU-heavy credential checks off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("internal error: {e}"))
}

/// The mechanisms to advertise in EHLO on a connection of `protocol`.
pub fn advertised(shared: &Shared, protocol: Protocol, tls: bool) -> Vec<String> {
    shared.config.auth.offered_names(protocol, tls)
}
