//! The IMAP socket loop around [`crate::imap::session::Session`]: read, step, write;
//! STARTTLS through the listener's acceptor; IDLE watching the selected maildir.
//!
//! IDLE sees new mail through inotify ([`watch`]: one instance per process, woken by changes
//! in the maildir's `new/`, `cur/` and state file), so a delivery shows up at once. Only when
//! the maildir cannot be watched does the session poll, every [`IDLE_FALLBACK_POLL`] (three
//! `stat` calls; a full sync only when one of them moved).

mod watch;

use std::sync::Arc;
use std::time::Duration;

use super::link::{Input, Link, Owned};
use super::login::{ClientLogin, GuardedUsers};
use super::{ListenerRuntime, Shared};
use crate::config::{Config, TlsMode};
use crate::events::event;
use crate::imap::session::{Action, Note, Session, SessionConfig};
use crate::policy::trusted_client;
use crate::sasl::{Availability, MethodPolicy};

/// How often an idling session looks at its maildir when it cannot watch it.
pub const IDLE_FALLBACK_POLL: Duration = Duration::from_secs(1);
/// How long after a change an idling session looks at its mailbox once more.
const IDLE_SETTLE: Duration = Duration::from_millis(1100);
/// RFC 3501 §5.4: the autologout timer of an authenticated session is at least 30 minutes.
pub const AUTHENTICATED_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// SASL and LOGIN availability for IMAP, from `[auth.imap]`.
pub fn auth_methods(config: &Config) -> (MethodPolicy, Availability) {
    (config.auth.imap.sasl(), config.auth.imap.login_command)
}

/// Session settings for a connection on `listener`.
pub fn session_config(
    shared: &Shared,
    listener: &ListenerRuntime,
    tls_active: bool,
) -> SessionConfig {
    let c = &shared.config;
    let (methods, login) = auth_methods(c);
    SessionConfig {
        hostname: c.server.hostname.clone(),
        mail_root: c.paths.mail.clone(),
        starttls: listener.tls.is_some() && listener.settings.tls == TlsMode::Starttls,
        tls_active,
        methods,
        login,
        max_append: c.limits.message_size.0,
        failures: c.auth.failures(),
        max_errors: c.limits.errors.max(1),
    }
}

/// Serve one IMAP connection.
pub async fn handle(shared: Arc<Shared>, listener: Arc<ListenerRuntime>, mut link: Link) {
    let peer = link.peer;
    let ip = link.peer_ip();
    event("client_connect")
        .field("listener", &listener.settings.name)
        .opt("peer", peer)
        .field("tls", link.tls)
        .emit();
    let trusted = trusted_client(&shared.config, Some(&listener.settings), ip);
    let login = shared.login.client(ip, trusted, link.cancel());
    let mut session = Box::new(Session::new(session_config(&shared, &listener, link.tls)));
    let result = run(&shared, &listener, &mut session, &mut link, &login).await;
    let mut e = event("client_disconnect")
        .field("listener", &listener.settings.name)
        .opt("peer", peer)
        .opt("user", session.user());
    if let Err(why) = result {
        e = e.field("reason", why);
    }
    e.emit();
}

/// Logs what the session noted and keeps the login ledger; returns whether a login was tried
/// (its password hash took megabytes that are worth giving back: the connection may now sit
/// idle for hours).
fn log_notes(
    session: &mut Session,
    listener: &ListenerRuntime,
    peer: Option<std::net::SocketAddr>,
    login: &ClientLogin,
) -> bool {
    let notes = session.take_notes();
    let tried = !notes.is_empty();
    for note in notes {
        match note {
            Note::LoginOk { user, mechanism } => {
                login.succeeded(&user);
                event("login")
                    .field("protocol", "imap")
                    .field("listener", &listener.settings.name)
                    .opt("peer", peer)
                    .field("user", user)
                    .field("mechanism", mechanism)
                    .emit()
            }
            Note::LoginFailed { user, mechanism } => {
                let (seen, lockout) = login.failed();
                let mut e = event("login_failed")
                    .field("protocol", "imap")
                    .field("listener", &listener.settings.name)
                    .opt("peer", peer)
                    .opt("user", user.or(seen))
                    .field("mechanism", mechanism);
                if let Some(lockout) = lockout {
                    e = e.field("reason", lockout);
                }
                e.emit()
            }
        }
    }
    tried
}

/// One step of the session. Before login (when a step may check a password) it runs on the
/// blocking pool through the link, so a client that hangs up meanwhile cancels its queued
/// check; after login in place (it reads and writes the maildir: kept off the async workers).
async fn step(
    session: &mut Box<Session>,
    link: &mut Link,
    creds: GuardedUsers,
) -> Result<crate::imap::session::Step, String> {
    if session.is_authenticated() {
        return Ok(tokio::task::block_in_place(|| session.step(&creds)));
    }
    let placeholder = Box::new(Session::new(SessionConfig::new("", "")));
    let mut owned = std::mem::replace(session, placeholder);
    let (back, step) = link
        .blocking(move || {
            let step = owned.step(&creds);
            (owned, step)
        })
        .await?;
    *session = back;
    Ok(step)
}

async fn run(
    shared: &Shared,
    listener: &ListenerRuntime,
    session: &mut Box<Session>,
    link: &mut Link,
    login: &Arc<ClientLogin>,
) -> Result<(), String> {
    let peer = link.peer;
    let before_login = link.patience();
    let after_login = before_login.max(AUTHENTICATED_TIMEOUT);
    let io_err = |e: std::io::Error| e.to_string();
    link.write(&session.greeting()).await.map_err(io_err)?;
    loop {
        let creds = GuardedUsers {
            users: shared.users.get(),
            client: login.clone(),
        };
        let step = step(session, link, creds).await?;
        let tried_login = log_notes(session, listener, peer, login);
        if step.trim_memory || tried_login {
            super::trim_memory();
        }
        if let Some(delay) = step.delay {
            tokio::time::sleep(delay).await;
        }
        if !step.output.is_empty() {
            link.write(&step.output).await.map_err(io_err)?;
        }
        let patience = if session.is_authenticated() {
            after_login
        } else {
            before_login
        };
        match step.action {
            Action::Continue => {}
            Action::NeedInput => {
                link.flush().await.map_err(io_err)?;
                if session.at_rest() {
                    link.begin_unit(patience);
                }
                // A view of a mailbox changed in the last second settles (and is shared with
                // other sessions) once the client has been quiet for a second.
                let unsettled = !session.idle_settled();
                let input = if unsettled {
                    tokio::select! {
                        input = link.read() => Some(input.into_owned()),
                        () = tokio::time::sleep(IDLE_SETTLE) => None,
                    }
                } else {
                    Some(link.read().await.into_owned())
                };
                let input = match input {
                    Some(input) => input,
                    None => {
                        if tokio::task::block_in_place(|| session.settle()) {
                            super::trim_memory();
                        }
                        link.read().await.into_owned()
                    }
                };
                match input {
                    Owned::Data(bytes) => session.receive(&bytes),
                    Owned::Closed => return Err("connection closed by client".into()),
                    Owned::TimedOut => {
                        link.say_last(&session.timeout_reply()).await;
                        return Err("idle timeout".into());
                    }
                }
            }
            Action::Idle => {
                link.flush().await.map_err(io_err)?;
                link.begin_unit(patience);
                let mut watching = start_watch(session, listener, peer);
                let mut woken = true;
                loop {
                    // First the changes between the last refresh and the watch being set up,
                    // then after each wake-up.
                    let updates = tokio::task::block_in_place(|| session.idle_check());
                    if !updates.is_empty() {
                        link.send(&updates).await.map_err(io_err)?;
                    }
                    // A view from the last second is looked at once more when the mailbox
                    // has settled (it then shares its message list with other sessions);
                    // once per wake-up, so a clock-skewed mailbox is not polled.
                    let unsettled = woken && !session.idle_settled();
                    woken = false;
                    tokio::select! {
                        input = link.read() => match input {
                            Input::Data(bytes) => {
                                session.receive(bytes);
                                break;
                            }
                            Input::Closed => return Err("connection closed by client".into()),
                            Input::TimedOut => {
                                let bye = session.timeout_reply();
                                link.say_last(&bye).await;
                                return Err("idle timeout".into());
                            }
                        },
                        () = watching.next_change() => woken = true,
                        () = tokio::time::sleep(IDLE_SETTLE), if unsettled => {}
                    }
                }
            }
            Action::StartTls => {
                let Some(acceptor) = &listener.tls else {
                    return Err("STARTTLS without a certificate".into());
                };
                link.start_tls(acceptor).await?;
                session.tls_started();
            }
            Action::Close => {
                link.close().await;
                return Ok(());
            }
        }
    }
}

/// How an idling session learns of changes to its selected mailbox.
enum Watching {
    /// inotify events.
    Events(watch::MaildirWatch),
    /// Watching failed: look every [`IDLE_FALLBACK_POLL`].
    Poll,
    /// No mailbox selected: nothing can change.
    Nothing,
}

impl Watching {
    /// Returns when the mailbox may have changed.
    async fn next_change(&mut self) {
        if let Watching::Events(w) = self {
            if w.changed().await {
                return;
            }
            // The reader stopped: poll from now on (and look once right away).
            *self = Watching::Poll;
            return;
        }
        match self {
            Watching::Poll => tokio::time::sleep(IDLE_FALLBACK_POLL).await,
            _ => std::future::pending().await,
        }
    }
}

fn start_watch(
    session: &Session,
    listener: &ListenerRuntime,
    peer: Option<std::net::SocketAddr>,
) -> Watching {
    let Some(path) = session.selected_path() else {
        return Watching::Nothing;
    };
    match watch::watch(&path) {
        Ok(w) => Watching::Events(w),
        Err(e) => {
            event("idle_watch_failed")
                .field("listener", &listener.settings.name)
                .opt("peer", peer)
                .field("error", e)
                .emit();
            Watching::Poll
        }
    }
}
