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

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{ListenerRuntime, Shared};
use crate::config::{Config, TlsMode};
use crate::events::event;
use crate::imap::session::{Action, Note, Session, SessionConfig};
use crate::net::Conn;
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

/// Makes every large allocation its own mapping, given back to the system when freed.
/// glibc's default raises that threshold after the first large free, and then serves the next
/// ones — a login's 19 MiB argon2 block, a big mailbox's lists — from thread arenas whose top
/// `malloc_trim` does not release: a few logins on different threads would pin tens of
/// megabytes for as long as the process runs. Once per process, at the first connection.
fn large_allocations_unmapped() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: mallopt only changes a glibc malloc parameter; it has no preconditions.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        }
    });
}

/// Returns freed heap memory to the system, so that an idle session on a large mailbox
/// costs its snapshot and not the peak of its SELECT.
fn trim_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own heap; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Serve one IMAP connection.
pub async fn handle(shared: Arc<Shared>, listener: Arc<ListenerRuntime>, conn: Conn) {
    large_allocations_unmapped();
    let peer = conn.peer;
    event("client_connect")
        .field("listener", &listener.settings.name)
        .opt("peer", peer)
        .field("tls", conn.tls)
        .emit();
    let mut session = Session::new(session_config(&shared, &listener, conn.tls));
    let result = run(&shared, &listener, &mut session, conn).await;
    let mut e = event("client_disconnect")
        .field("listener", &listener.settings.name)
        .opt("peer", peer)
        .opt("user", session.user());
    if let Err(why) = result {
        e = e.field("reason", why);
    }
    e.emit();
}

/// Logs what the session noted; returns whether a login was tried (its password hash took
/// megabytes that are worth giving back: the connection may now sit idle for hours).
fn log_notes(
    session: &mut Session,
    listener: &ListenerRuntime,
    peer: Option<std::net::SocketAddr>,
) -> bool {
    let notes = session.take_notes();
    let login = !notes.is_empty();
    for note in notes {
        match note {
            Note::LoginOk { user, mechanism } => event("login")
                .field("listener", &listener.settings.name)
                .opt("peer", peer)
                .field("user", user)
                .field("mechanism", mechanism)
                .emit(),
            Note::LoginFailed { user, mechanism } => event("login_failed")
                .field("listener", &listener.settings.name)
                .opt("peer", peer)
                .opt("user", user)
                .field("mechanism", mechanism)
                .emit(),
        }
    }
    login
}

async fn run(
    shared: &Shared,
    listener: &ListenerRuntime,
    session: &mut Session,
    conn: Conn,
) -> Result<(), String> {
    let peer = conn.peer;
    let mut io = conn.io;
    let before_login = shared.config.limits.idle_timeout.duration();
    let after_login = before_login.max(AUTHENTICATED_TIMEOUT);
    let io_err = |e: std::io::Error| e.to_string();
    io.write_all(&session.greeting()).await.map_err(io_err)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let users = shared.users.get();
        // The session reads and writes the maildir: keep that off the async workers.
        let step = tokio::task::block_in_place(|| session.step(&*users));
        let login = log_notes(session, listener, peer);
        if step.trim_memory || login {
            trim_memory();
        }
        if let Some(delay) = step.delay {
            tokio::time::sleep(delay).await;
        }
        if !step.output.is_empty() {
            io.write_all(&step.output).await.map_err(io_err)?;
        }
        let timeout = if session.is_authenticated() {
            after_login
        } else {
            before_login
        };
        match step.action {
            Action::Continue => {}
            Action::NeedInput => {
                io.flush().await.map_err(io_err)?;
                let deadline = tokio::time::Instant::now() + timeout;
                // A view of a mailbox changed in the last second settles (and is shared with
                // other sessions) once the client has been quiet for a second.
                let mut unsettled = !session.idle_settled();
                loop {
                    tokio::select! {
                        read = io.read(&mut buf) => {
                            match read {
                                Ok(0) => return Err("connection closed by client".into()),
                                Ok(n) => session.receive(&buf[..n]),
                                Err(e) => return Err(e.to_string()),
                            }
                            break;
                        }
                        () = tokio::time::sleep(IDLE_SETTLE), if unsettled => {
                            unsettled = false;
                            if tokio::task::block_in_place(|| session.settle()) {
                                trim_memory();
                            }
                        }
                        () = tokio::time::sleep_until(deadline) => {
                            let _ = io.write_all(&session.timeout_reply()).await;
                            return Err("idle timeout".into());
                        }
                    }
                }
            }
            Action::Idle => {
                io.flush().await.map_err(io_err)?;
                let deadline = tokio::time::Instant::now() + timeout;
                let mut watching = start_watch(session, listener, peer);
                let mut woken = true;
                loop {
                    // First the changes between the last refresh and the watch being set up,
                    // then after each wake-up.
                    let updates = tokio::task::block_in_place(|| session.idle_check());
                    if !updates.is_empty() {
                        io.write_all(&updates).await.map_err(io_err)?;
                        io.flush().await.map_err(io_err)?;
                    }
                    // A view from the last second is looked at once more when the mailbox
                    // has settled (it then shares its message list with other sessions);
                    // once per wake-up, so a clock-skewed mailbox is not polled.
                    let unsettled = woken && !session.idle_settled();
                    woken = false;
                    tokio::select! {
                        read = io.read(&mut buf) => match read {
                            Ok(0) => return Err("connection closed by client".into()),
                            Ok(n) => {
                                session.receive(&buf[..n]);
                                break;
                            }
                            Err(e) => return Err(e.to_string()),
                        },
                        () = watching.next_change() => woken = true,
                        () = tokio::time::sleep(IDLE_SETTLE), if unsettled => {}
                        () = tokio::time::sleep_until(deadline) => {
                            let _ = io.write_all(&session.timeout_reply()).await;
                            return Err("idle timeout".into());
                        }
                    }
                }
            }
            Action::StartTls => {
                io.flush().await.map_err(io_err)?;
                let Some(acceptor) = &listener.tls else {
                    return Err("STARTTLS without a certificate".into());
                };
                match tokio::time::timeout(super::TLS_HANDSHAKE_LIMIT, acceptor.accept(io)).await {
                    Ok(Ok(tls)) => io = Box::new(tls),
                    Ok(Err(e)) => return Err(format!("TLS handshake failed: {e}")),
                    Err(_) => return Err("TLS handshake timed out".into()),
                }
                session.tls_started();
            }
            Action::Close => {
                let _ = io.flush().await;
                let _ = io.shutdown().await;
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
