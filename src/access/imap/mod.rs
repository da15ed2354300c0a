//! The IMAP core for the connection driver: [`crate::proto::imap::session::Session`] with the users
//! file, and its one effect, IDLE watching the selected maildir.
//!
//! IDLE sees new mail through inotify ([`watch`]: one instance per process, woken by changes
//! in the maildir's `new/`, `cur/` and state file), so a delivery shows up at once. When the
//! maildir cannot be watched the session polls, every [`IDLE_FALLBACK_POLL`] (three `stat`
//! calls; a full sync only when one of them moved); on a volume shared with other hosts
//! (`[cluster]`), whose changes make no inotify events here, it also polls every
//! `[cluster] idle_poll`.

pub mod store;
mod watch;

use std::sync::Arc;
use std::time::Duration;

use crate::access::imap::store::MaildirStore;
use crate::config::{Config, TlsMode};
use crate::driver::conversation::{read_into, Conversation, Core, Next};
use crate::driver::link::Link;
use crate::driver::login::{ClientLogin, GuardedUsers};
use crate::driver::{ListenerRuntime, Shared};
use crate::events::event;
use crate::proto::imap::session::{Action, Note, Session, SessionConfig};
use crate::proto::sasl::{Availability, LoginNote, MethodPolicy};
use crate::receive::policy::trusted_client;

/// How often an idling session looks at its maildir when it cannot watch it.
pub const IDLE_FALLBACK_POLL: Duration = Duration::from_secs(1);
/// How long after a change a quiet session looks at its mailbox once more (to settle into the
/// shared list).
const IDLE_SETTLE: Duration = Duration::from_millis(1100);
/// How soon an idling session whose view is not settled (taken within the file clock's tick
/// of a change) looks again: a delivery in that same tick is reported this late at worst; the
/// second look is for file systems that keep whole seconds only.
const IDLE_RECHECKS: [Duration; 2] = [Duration::from_millis(20), Duration::from_millis(2100)];
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
) -> SessionConfig<MaildirStore> {
    let c = &shared.config;
    let (methods, login) = auth_methods(c);
    SessionConfig {
        hostname: c.server.hostname.clone(),
        store: MaildirStore::on(crate::store::maildir::MailVolume::for_config(c)),
        starttls: listener.tls.is_some() && listener.settings.tls == TlsMode::Starttls,
        tls_active,
        methods,
        login,
        max_append: c.limits.message_size.0,
        failures: c.auth.failures(),
        max_errors: c.limits.errors.max(1),
        max_line: c.limits.line_length,
    }
}

/// Serve one IMAP connection.
pub async fn handle(shared: Arc<Shared>, listener: Arc<ListenerRuntime>, mut link: Link) {
    let ip = link.peer_ip();
    let trusted = trusted_client(&shared.config, Some(&listener.settings), ip);
    let login = shared.login.client(ip, trusted, link.cancel());
    let mut config = session_config(&shared, &listener, link.tls);
    config.methods = config.methods.for_store(shared.users.get().capabilities());
    let core = ImapCore {
        session: Session::new(config),
        held: None,
        shared: shared.clone(),
        listener_name: listener.settings.name.clone(),
        login: login.clone(),
    };
    let conversation = Conversation {
        shared,
        listener,
        login,
        session: crate::driver::conversation::session_id(),
    };
    conversation.run(&mut link, core, trusted).await;
}

/// An IMAP session with the users file behind it.
pub struct ImapCore {
    session: Session<MaildirStore>,
    /// Output and what follows it, held back for a failed login's delay.
    held: Option<(Vec<u8>, Action)>,
    shared: Arc<Shared>,
    listener_name: String,
    login: Arc<ClientLogin>,
}

/// What the IMAP core does with the link between steps.
pub enum ImapEffect {
    /// IDLE: send the selected mailbox's changes as they happen, until the client sends DONE.
    Idle,
    /// COMPRESS=DEFLATE: the link deflates both ways from now on.
    Compress,
}

impl Core for ImapCore {
    const PROTOCOL: &'static str = "imap";
    type Effect = ImapEffect;

    fn greeting(&mut self) -> Vec<u8> {
        self.session.greeting()
    }

    fn receive(&mut self, bytes: &[u8]) {
        self.session.receive(bytes);
    }

    fn step(&mut self, out: &mut Vec<u8>) -> Next<ImapEffect> {
        let (output, action) = match self.held.take() {
            Some(held) => held,
            None => {
                let creds = GuardedUsers {
                    users: self.shared.users.get(),
                    client: self.login.clone(),
                    config: self.shared.config.clone(),
                };
                let step = self.session.step(&creds);
                if step.trim_memory {
                    crate::driver::trim_memory();
                }
                if let Some(delay) = step.delay {
                    self.held = Some((step.output, step.action));
                    return Next::Pause(delay);
                }
                (step.output, step.action)
            }
        };
        // The session's output is handed over, not copied (a FETCH step is 256 KiB or more).
        if out.is_empty() {
            *out = output;
        } else {
            out.extend_from_slice(&output);
        }
        match action {
            Action::Continue => Next::Continue,
            Action::NeedInput => Next::Read,
            Action::Idle => Next::Effect(ImapEffect::Idle),
            Action::StartTls => Next::StartTls,
            Action::Compress => Next::Effect(ImapEffect::Compress),
            Action::Close => Next::Close,
        }
    }

    fn recycle(&mut self, output: Vec<u8>) {
        self.session.recycle(output);
    }

    /// Every step may read or write the maildir, or check a password.
    fn heavy(&self) -> bool {
        self.held.is_none()
    }

    fn at_rest(&self) -> bool {
        self.session.at_rest()
    }

    fn patience(&self, idle: Duration) -> Duration {
        if self.session.is_authenticated() {
            idle.max(AUTHENTICATED_TIMEOUT)
        } else {
            idle
        }
    }

    fn tls_started(&mut self) {
        self.session.tls_started();
    }

    fn timeout_reply(&self) -> Vec<u8> {
        self.session.timeout_reply()
    }

    fn shutdown_reply(&self) -> Vec<u8> {
        b"* BYE [UNAVAILABLE] Server shutting down, try again later\r\n".to_vec()
    }

    fn take_notes(&mut self) -> Vec<LoginNote> {
        self.session
            .take_notes()
            .into_iter()
            .map(|note| match note {
                Note::LoginOk { user, mechanism } => LoginNote::Ok { user, mechanism },
                Note::LoginFailed { user, mechanism } => LoginNote::Failed {
                    user,
                    mechanism,
                    reason: "credentials".into(),
                },
            })
            .collect()
    }

    fn user(&self) -> Option<String> {
        self.session.user().map(str::to_string)
    }

    /// A view of a mailbox changed in the last second settles (and is shared with other
    /// sessions) once the client has been quiet for a second.
    fn settle_after(&self) -> Option<Duration> {
        self.session.wants_settle().then_some(IDLE_SETTLE)
    }

    fn settle(&mut self) {
        self.session.settle();
    }

    async fn effect(&mut self, link: &mut Link, effect: ImapEffect) -> Result<(), String> {
        if let ImapEffect::Compress = effect {
            return link.start_compress().await.map_err(|e| e.to_string());
        }
        let io_err = |e: std::io::Error| e.to_string();
        let mut watching = self.start_watch(link.peer);
        let mut rechecks = IDLE_RECHECKS.iter();
        loop {
            if link.shutting_down() {
                return crate::driver::conversation::goodbye(link, self.shutdown_reply()).await;
            }
            // First the changes between the last refresh and the watch being set up, then
            // after each wake-up.
            let updates = self.on_blocking_pool(link, Session::idle_check).await?;
            if !updates.is_empty() {
                link.send(&updates).await.map_err(io_err)?;
            }
            // A view taken within the file clock's tick of a change is looked at again shortly
            // (it then rests on a trusted stamp and shares the process's list); twice per
            // wake-up at most, so a clock-skewed mailbox is not polled.
            let recheck = if self.session.idle_settled() {
                None
            } else {
                rechecks.next().copied()
            };
            let shutdown = link.shutdown();
            tokio::select! {
                done = read_into(link, self) => return done,
                () = shutdown => {}
                () = watching.next_change() => rechecks = IDLE_RECHECKS.iter(),
                () = sleep_or_never(recheck) => {}
            }
        }
    }
}

impl ImapCore {
    /// Runs `work` on the session on the blocking pool (it reads the maildir).
    async fn on_blocking_pool<T: Send + 'static>(
        &mut self,
        link: &mut Link,
        work: fn(&mut Session<MaildirStore>) -> T,
    ) -> Result<T, String> {
        let stand_in = Session::new(SessionConfig::new("", ""));
        let mut session = std::mem::replace(&mut self.session, stand_in);
        let (session, out) = link
            .blocking(move || {
                let out = work(&mut session);
                (session, out)
            })
            .await?;
        self.session = session;
        Ok(out)
    }

    fn start_watch(&self, peer: Option<std::net::SocketAddr>) -> Watching {
        let Some(path) = self.session.selected_path() else {
            return Watching::Nothing;
        };
        // On a volume other hosts share, their deliveries and expunges make no inotify events
        // here: look every `[cluster] idle_poll` as well.
        let cluster = &self.shared.config.cluster;
        let poll = cluster
            .is_shared(&path)
            .then(|| cluster.idle_poll.duration());
        match (watch::watch(&path), poll) {
            (Ok(w), None) => Watching::Events(w),
            (Ok(w), Some(every)) => Watching::EventsAndPoll(w, every),
            (Err(e), poll) => {
                event("idle_watch_failed")
                    .field("listener", &self.listener_name)
                    .opt("peer", peer)
                    .field("error", e)
                    .emit();
                Watching::Poll(poll.unwrap_or(IDLE_FALLBACK_POLL))
            }
        }
    }
}

/// Sleeps for `d`, or forever without one.
async fn sleep_or_never(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

/// How an idling session learns of changes to its selected mailbox.
enum Watching {
    /// inotify events.
    Events(watch::MaildirWatch),
    /// inotify events for this host's changes, and a look every so often for other hosts' (a
    /// shared volume: `[cluster] idle_poll`).
    EventsAndPoll(watch::MaildirWatch, Duration),
    /// Watching failed (or stopped): look this often.
    Poll(Duration),
    /// No mailbox selected: nothing can change.
    Nothing,
}

impl Watching {
    /// Returns when the mailbox may have changed.
    async fn next_change(&mut self) {
        let fallback = match self {
            Watching::Events(w) => {
                if w.changed().await {
                    return;
                }
                IDLE_FALLBACK_POLL
            }
            Watching::EventsAndPoll(w, every) => {
                let every = *every;
                tokio::select! {
                    alive = w.changed() => if alive { return },
                    () = tokio::time::sleep(every) => return,
                }
                every
            }
            Watching::Poll(every) => return tokio::time::sleep(*every).await,
            Watching::Nothing => return std::future::pending().await,
        };
        // The reader stopped: poll from now on (and look once right away).
        *self = Watching::Poll(fallback);
    }
}
