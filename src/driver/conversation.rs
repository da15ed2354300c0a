//! The connection driver: one loop that runs any protocol core over a [`Link`].
//!
//! A core ([`Core`]) is the protocol session with what it needs from the process (users, policy,
//! the mail volume). It takes input bytes and, step by step, produces output and one [`Next`]:
//! read more, go on (its output is large: write it first), start TLS, pause, close, or carry out
//! an effect (store a message, idle on a mailbox) that the core runs asynchronously with the
//! link. This loop owns everything around it, once for every protocol: deadlines per unit of
//! input and write timeouts (through the link), write batching, STARTTLS, connect, login and
//! disconnect events with the failed-login ledger, the one rule for blocking work (a step that
//! may check a password or touch the mail volume runs on the blocking pool, see
//! [`Link::blocking`]), and graceful shutdown (a client at rest gets the core's shutdown reply).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::link::{Input, Link, Owned};
use super::login::ClientLogin;
use super::{ListenerRuntime, Shared};
use crate::events::event;
use crate::proto::sasl::LoginNote;

/// What a core asks of the driver after a step.
pub enum Next<E> {
    /// Write the output and wait for the client's next bytes.
    Read,
    /// Write the output (a large reply in parts) and step again at once.
    Continue,
    /// Write the output, run the TLS handshake, tell the core.
    StartTls,
    /// Write the output, wait this long, step again (the delay after a failed login).
    Pause(Duration),
    /// Write the output and close the connection.
    Close,
    /// Write the output, then let the core carry out this effect with the link.
    Effect(E),
}

/// A protocol session as the driver runs it.
pub trait Core: Send + 'static {
    /// `smtp`, `pop3` or `imap`, for the events.
    const PROTOCOL: &'static str;
    /// Work the core does with the link between steps.
    type Effect: Send;

    /// The first bytes sent.
    fn greeting(&mut self) -> Vec<u8>;
    /// Bytes from the client.
    fn receive(&mut self, bytes: &[u8]);
    /// Advances as far as the input allows, appending output to `out`.
    fn step(&mut self, out: &mut Vec<u8>) -> Next<Self::Effect>;
    /// Whether the next step may block (check a password, read or write the mail volume).
    fn heavy(&self) -> bool;
    /// Whether the core waits for a new command with nothing of one received.
    fn at_rest(&self) -> bool;
    /// The time a unit of input may take, given the configured `idle` time.
    fn patience(&self, idle: Duration) -> Duration {
        idle
    }
    /// TLS is now active.
    fn tls_started(&mut self);
    /// The last words to a client that timed out.
    fn timeout_reply(&self) -> Vec<u8>;
    /// The last words to a client at rest when the server shuts down.
    fn shutdown_reply(&self) -> Vec<u8>;
    /// Gives back the output of a [`Next::Continue`] step once it is written, for the next
    /// step to fill again (the core may keep it or drop it).
    fn recycle(&mut self, _output: Vec<u8>) {}
    /// Logins since the last call.
    fn take_notes(&mut self) -> Vec<LoginNote>;
    /// The logged-in user, for the disconnect event.
    fn user(&self) -> Option<String> {
        None
    }
    /// Why the core closed the connection, when it was not the client's wish (for the log).
    fn close_reason(&self) -> Option<String> {
        None
    }
    /// The connection ended without the protocol's goodbye (client gone, timeout, error).
    fn dropped(&mut self) {}
    /// After this long without input, [`Core::settle`] is worth calling (once).
    fn settle_after(&self) -> Option<Duration> {
        None
    }
    /// The client has been quiet for [`Core::settle_after`].
    fn settle(&mut self) {}
    /// Carries out an effect; an `Err` ends the connection with that reason.
    fn effect<'a>(
        &'a mut self,
        link: &'a mut Link,
        effect: Self::Effect,
    ) -> impl Future<Output = Result<(), String>> + Send + 'a;
}

/// The connection a core runs on, with the process state around it.
pub struct Conversation {
    pub shared: Arc<Shared>,
    pub listener: Arc<ListenerRuntime>,
    pub login: Arc<ClientLogin>,
    /// The connection's id in the log (`session=`): its events and the messages it hands in.
    pub session: String,
}

/// A new connection id: 12 hex digits, random (unique enough to follow one connection's lines
/// among a day's).
pub fn session_id() -> String {
    format!("{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff)
}

impl Conversation {
    /// Runs `core` on `link` to the end, with the connect and disconnect events.
    pub async fn run<C: Core>(&self, link: &mut Link, core: C, trusted: bool) {
        let peer = link.peer;
        let listener = &self.listener.settings.name;
        event("client_connect")
            .field("protocol", C::PROTOCOL)
            .field("listener", listener)
            .opt("peer", peer)
            .field("session", &self.session)
            .field("tls", link.tls)
            .field("trusted", trusted)
            .emit();
        link.watch_shutdown(self.shared.shutdown.subscribe());
        let _session = self.shared.sessions.enter();
        let mut core = Some(Box::new(core));
        let result = self.drive(link, &mut core).await;
        let mut e = event("client_disconnect")
            .field("protocol", C::PROTOCOL)
            .field("listener", listener)
            .opt("peer", peer)
            .field("session", &self.session)
            .opt("user", core.as_ref().and_then(|c| c.user()));
        if let Err(why) = result {
            if let Some(c) = core.as_mut() {
                c.dropped();
            }
            e = e.field("reason", why);
        }
        e.emit();
    }

    async fn drive<C: Core>(
        &self,
        link: &mut Link,
        slot: &mut Option<Box<C>>,
    ) -> Result<(), String> {
        let io_err = |e: std::io::Error| e.to_string();
        let Some(core) = slot.as_mut() else {
            return Ok(());
        };
        let greeting = core.greeting();
        link.write(&greeting).await.map_err(io_err)?;
        let mut stepped = None;
        loop {
            let (out, next) = match stepped.take() {
                Some(done) => done,
                None => self.step(link, slot).await?,
            };
            let Some(core) = slot.as_mut() else {
                return Ok(());
            };
            let notes = core.take_notes();
            if !notes.is_empty() {
                self.log_notes(C::PROTOCOL, notes, link).await;
            }
            if let Next::Continue = next {
                stepped = Some(write_while_stepping(link, slot, out).await?);
                continue;
            }
            link.send(&out).await.map_err(io_err)?;
            match next {
                Next::Continue => {}
                Next::Pause(d) => tokio::time::sleep(d).await,
                Next::Close => {
                    link.close().await;
                    return core.close_reason().map_or(Ok(()), Err);
                }
                Next::StartTls => {
                    let Some(acceptor) = &self.listener.tls else {
                        return Err("STARTTLS without a certificate".into());
                    };
                    link.start_tls(acceptor).await?;
                    core.tls_started();
                }
                Next::Effect(effect) => core.effect(link, effect).await?,
                Next::Read => {
                    if core.at_rest() {
                        link.begin_unit(core.patience(link.patience()));
                    }
                    read(link, slot).await?;
                }
            }
        }
    }

    /// One step of the core, on the blocking pool when it may block.
    async fn step<C: Core>(
        &self,
        link: &mut Link,
        slot: &mut Option<Box<C>>,
    ) -> Result<(Vec<u8>, Next<C::Effect>), String> {
        let Some(mut core) = slot.take() else {
            return Err("internal error: no session".into());
        };
        if !core.heavy() {
            let mut out = Vec::new();
            let next = core.step(&mut out);
            *slot = Some(core);
            return Ok((out, next));
        }
        let (core, out, next) = link
            .blocking(move || {
                let mut out = Vec::new();
                let next = core.step(&mut out);
                (core, out, next)
            })
            .await?;
        *slot = Some(core);
        Ok((out, next))
    }

    /// The log's reason for a failed login: what the user store says about `user`, so the
    /// admin sees at once a user who does not exist, or one without the shared secret that
    /// CRAM-MD5 and APOP need (the client is told only that the login failed).
    fn failure_reason(&self, user: Option<&str>, mechanism: &str, reason: String) -> String {
        let Some(name) = user else {
            return reason;
        };
        let users = self.shared.users.get();
        let name = super::login::login_user(&self.shared.config, &users, name);
        if !users.is_user(&name) {
            return format!("{reason}: no such user");
        }
        match users.get(&name) {
            None if mechanism.eq_ignore_ascii_case("CRAM-MD5")
                || mechanism.eq_ignore_ascii_case("APOP") =>
            {
                format!("{reason}: the system user has no shared secret for {mechanism}")
            }
            None => reason,
            Some(u)
                if u.shared_secret.is_none()
                    && (mechanism.eq_ignore_ascii_case("CRAM-MD5")
                        || mechanism.eq_ignore_ascii_case("APOP")) =>
            {
                format!(
                    "{reason}: the user has no shared secret for {mechanism} (postern user \
                     passwd --shared-secret)"
                )
            }
            Some(_) => reason,
        }
    }

    /// Logs logins and keeps the failed-login ledger (host-wide files: on the blocking pool).
    async fn log_notes(&self, protocol: &'static str, notes: Vec<LoginNote>, link: &mut Link) {
        let listener = &self.listener.settings.name;
        let peer = link.peer;
        for note in notes {
            let base = |name| {
                event(name)
                    .field("protocol", protocol)
                    .field("listener", listener)
                    .opt("peer", peer)
                    .field("session", &self.session)
            };
            match note {
                LoginNote::Ok { user, mechanism } => {
                    let (login, name) = (self.login.clone(), user.clone());
                    let _ = link.blocking(move || login.succeeded(&name)).await;
                    base("login")
                        .field("mechanism", mechanism)
                        .field("user", user)
                        .emit();
                    super::trim_memory();
                }
                LoginNote::Failed {
                    user,
                    mechanism,
                    reason,
                } => {
                    let login = self.login.clone();
                    let (tried, lockout) = link
                        .blocking(move || login.failed())
                        .await
                        .unwrap_or_default();
                    let user = user.filter(|u| !u.is_empty()).or(tried);
                    let reason = match lockout {
                        Some(l) => l.to_string(),
                        None => self.failure_reason(user.as_deref(), &mechanism, reason),
                    };
                    base("login_failed")
                        .field("mechanism", mechanism)
                        .opt("user", user)
                        .field("reason", reason)
                        .emit();
                    super::trim_memory();
                }
                LoginNote::Refused { mechanism, reason } => base("auth_refused")
                    .field("mechanism", mechanism)
                    .field("reason", reason)
                    .emit(),
            }
        }
    }
}

/// Writes the output of a [`Next::Continue`] step while the core takes its next step (on the
/// blocking pool when it may block): a long FETCH renders its next part while the last one is
/// on its way to the client, instead of the two taking turns. The written output is then given
/// back to the core ([`Core::recycle`]). The step reads no input, so none is read meanwhile; a
/// client that hung up fails the write.
async fn write_while_stepping<C: Core>(
    link: &mut Link,
    slot: &mut Option<Box<C>>,
    out: Vec<u8>,
) -> Result<(Vec<u8>, Next<C::Effect>), String> {
    let io_err = |e: std::io::Error| e.to_string();
    let Some(mut core) = slot.take() else {
        return Err("internal error: no session".into());
    };
    if !core.heavy() {
        let written = link.write(&out).await;
        core.recycle(out);
        let mut next_out = Vec::new();
        let next = core.step(&mut next_out);
        *slot = Some(core);
        written.map_err(io_err)?;
        return Ok((next_out, next));
    }
    let task = tokio::task::spawn_blocking(move || {
        let mut next_out = Vec::new();
        let next = core.step(&mut next_out);
        (core, next_out, next)
    });
    let written = link.write(&out).await;
    if written.is_err() {
        // The client is gone: a step waiting for a password check need not wait its turn.
        link.cancel()
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
    let (mut core, next_out, next) = task.await.map_err(|e| format!("internal error: {e}"))?;
    core.recycle(out);
    *slot = Some(core);
    written.map_err(io_err)?;
    Ok((next_out, next))
}

/// Waits for the client's next bytes; settles the core when it has been quiet; at rest, a
/// shutdown ends the connection with the core's goodbye.
async fn read<C: Core>(link: &mut Link, slot: &mut Option<Box<C>>) -> Result<(), String> {
    let Some(core) = slot.as_mut() else {
        return Err("internal error: no session".into());
    };
    let mut settle = core.settle_after();
    let at_rest = core.at_rest();
    loop {
        let Some(core) = slot.as_mut() else {
            return Err("internal error: no session".into());
        };
        if at_rest && link.shutting_down() {
            return goodbye(link, core.shutdown_reply()).await;
        }
        let shutdown = link.shutdown();
        let input = tokio::select! {
            input = link.read() => input.into_owned(),
            () = sleep_or_never(settle) => {
                settle = None;
                if let Some(mut owned) = slot.take() {
                    let settled = link.blocking(move || {
                        owned.settle();
                        owned
                    });
                    *slot = Some(settled.await?);
                }
                super::trim_memory();
                continue;
            }
            () = shutdown, if at_rest => continue,
        };
        return match input {
            Owned::Data(bytes) => {
                core.receive(&bytes);
                Ok(())
            }
            Owned::Closed => Err("connection closed by client".into()),
            Owned::TimedOut => {
                link.say_last(&core.timeout_reply()).await;
                Err("idle timeout".into())
            }
        };
    }
}

/// The server shuts down: the core's goodbye, then the connection ends.
pub async fn goodbye(link: &mut Link, reply: Vec<u8>) -> Result<(), String> {
    link.say_last(&reply).await;
    link.close().await;
    Err("server shutting down".into())
}

async fn sleep_or_never(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

/// Reads link input into `core` for an effect that waits on the client (IMAP IDLE): the
/// shared timeout and end-of-input handling.
pub async fn read_into<C: Core>(link: &mut Link, core: &mut C) -> Result<(), String> {
    match link.read().await {
        Input::Data(bytes) => {
            core.receive(bytes);
            Ok(())
        }
        Input::Closed => Err("connection closed by client".into()),
        Input::TimedOut => {
            let bye = core.timeout_reply();
            link.say_last(&bye).await;
            Err("idle timeout".into())
        }
    }
}
