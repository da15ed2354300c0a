//! The POP3 socket loop around [`crate::pop3::Session`]: read, step, write.
//!
//! The slow steps (logins: password hashing, opening and syncing the maildrop; QUIT: deleting
//! files; messages larger than [`INLINE_MESSAGE`]) run on the blocking pool, one hop per batch of
//! pipelined commands, producing at most [`OUT_BATCH`] octets. The quick TRANSACTION commands
//! (STAT, LIST, UIDL, DELE, and RETR/TOP of an ordinary message: one open and a read or two from
//! the page cache) run in place, as a hop per command would cost more than the work.

use std::collections::VecDeque;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::link::{Input, Link};
use super::login::{ClientLogin, GuardedUsers};
use super::{ListenerRuntime, Shared};
use crate::config::{Config, TlsMode};
use crate::events::event;
use crate::policy::trusted_client;
use crate::pop3::{
    Action, Event, Line, LineReader, MessageStream, Pop3Config, Session, VolumeBackend, MAX_LINE,
};
use crate::sasl::{AuthFailures, MethodPolicy, Pop3Methods};

/// Output produced per turn before it is written to the client.
pub const OUT_BATCH: usize = 256 * 1024;

/// Messages up to this size (as sent) are read in place; larger ones on the blocking pool.
pub const INLINE_MESSAGE: u64 = 128 * 1024;

/// The POP3 login-method settings from `[auth.pop3]` and `[auth]`'s failed-login policy.
pub fn auth_settings(config: &Config) -> (Pop3Methods, MethodPolicy, AuthFailures) {
    let auth = &config.auth;
    (auth.pop3.methods(), auth.pop3.sasl(), auth.failures())
}

/// Session settings for `listener` on a connection that is (`tls`) or is not encrypted yet.
pub fn session_config(shared: &Shared, listener: &ListenerRuntime, tls: bool) -> Pop3Config {
    let c = &shared.config;
    let (methods, sasl, failures) = auth_settings(c);
    Pop3Config {
        hostname: c.server.hostname.clone(),
        methods,
        sasl,
        stls: listener.tls.is_some() && listener.settings.tls == TlsMode::Starttls,
        tls_active: tls,
        max_errors: c.limits.errors,
        failures,
    }
}

/// Serve one POP3 connection.
pub async fn handle(shared: Arc<Shared>, listener: Arc<ListenerRuntime>, mut link: Link) {
    let ip = link.peer_ip();
    let trusted = trusted_client(&shared.config, Some(&listener.settings), ip);
    let labels = Labels {
        listener: listener.settings.name.clone(),
        peer: link.peer,
        login: shared.login.client(ip, trusted, link.cancel()),
    };
    event("client_connect")
        .field("listener", &labels.listener)
        .opt("peer", labels.peer)
        .field("tls", link.tls)
        .emit();
    let users = shared.users.get();
    let guarded = Arc::new(GuardedUsers {
        users: users.clone(),
        client: labels.login.clone(),
    });
    let backend =
        VolumeBackend::new(users, shared.config.paths.mail.clone()).with_credentials(guarded);
    let banner = crate::sasl::apop_banner(&shared.config.server.hostname);
    let config = session_config(&shared, &listener, link.tls);
    let (session, greeting) = Session::new(config, banner, backend);
    let work = Box::new(Work {
        session,
        reader: LineReader::new(MAX_LINE),
        pending: VecDeque::new(),
        stream: None,
        held: None,
        labels: labels.clone(),
    });
    let result = run(&listener, work, &mut link, greeting).await;
    let mut e = event("client_disconnect")
        .field("listener", &labels.listener)
        .opt("peer", labels.peer);
    if let Err(why) = result {
        e = e.field("reason", why);
    }
    e.emit();
}

/// Who the events of a connection are about.
#[derive(Clone)]
struct Labels {
    listener: String,
    peer: Option<SocketAddr>,
    login: Arc<ClientLogin>,
}

/// A session with its input buffer and the actions not yet carried out.
struct Work {
    session: Session<VolumeBackend>,
    reader: LineReader,
    pending: VecDeque<Action>,
    stream: Option<MessageStream>,
    /// A line taken from the reader that must run on the blocking pool.
    held: Option<Vec<u8>>,
    labels: Labels,
}

/// What the async side does after a batch.
enum Next {
    /// Write the output and come back for more (a long message, or much pipelined input).
    More,
    /// Write the output and read from the client.
    Input,
    /// Write the output, wait, come back.
    Pause(Duration),
    /// Write the output, then the TLS handshake.
    StartTls,
    /// Write the output and close.
    Close,
    /// Write the output and run the next step on the blocking pool.
    Slow,
}

impl Work {
    /// Carries out pending actions and buffered lines until the output is full, input runs
    /// out, or the async side must act. With `quick_only`, stops with [`Next::Slow`] before
    /// anything slow instead of doing it.
    fn step(&mut self, out: &mut Vec<u8>, quick_only: bool) -> Next {
        loop {
            if out.len() >= OUT_BATCH {
                return Next::More;
            }
            if let Some(stream) = &mut self.stream {
                if let Err(why) = drain(stream, out, OUT_BATCH) {
                    // The +OK is gone already: the reply cannot be ended properly.
                    event("pop3_read_failed")
                        .field("listener", &self.labels.listener)
                        .opt("peer", self.labels.peer)
                        .field("error", why)
                        .emit();
                    self.stream = None;
                    self.pending.clear();
                    self.pending.extend(self.session.disconnected());
                    self.pending.push_back(Action::Close);
                } else if out.len() < OUT_BATCH {
                    self.stream = None; // finished
                }
                continue;
            }
            if let Some(action) = self.pending.pop_front() {
                match action {
                    Action::Reply(bytes) => out.extend_from_slice(&bytes),
                    Action::Stream(s) if quick_only && s.size_hint() > INLINE_MESSAGE => {
                        self.pending.push_front(Action::Stream(s));
                        return Next::Slow;
                    }
                    Action::Stream(s) => self.stream = Some(s),
                    Action::Event(e) => emit(&self.labels, e),
                    Action::Pause(d) => return Next::Pause(d),
                    Action::StartTls => return Next::StartTls,
                    Action::Close => return Next::Close,
                }
                continue;
            }
            let line = match self.held.take() {
                Some(line) => Line::Complete(line),
                None => match self.reader.next_line() {
                    Some(line) => line,
                    None => return Next::Input,
                },
            };
            let actions = match line {
                Line::Complete(line) if quick_only && self.session.is_slow(&line) => {
                    self.held = Some(line);
                    return Next::Slow;
                }
                Line::Complete(line) => self.session.line(&line),
                Line::TooLong => self.session.line_too_long(),
            };
            self.pending.extend(actions);
        }
    }

    /// The connection ended without QUIT: log the session's end (no deletions).
    fn dropped(&mut self) {
        for a in self.session.disconnected() {
            if let Action::Event(e) = a {
                emit(&self.labels, e);
            }
        }
    }
}

/// Appends converted message bytes to `out` until it holds `limit` octets or the message ends.
fn drain(stream: &mut MessageStream, out: &mut Vec<u8>, limit: usize) -> std::io::Result<()> {
    let mut chunk = [0u8; 16 * 1024];
    while out.len() < limit {
        let want = chunk.len().min(limit - out.len());
        let n = match stream.read(&mut chunk[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.extend_from_slice(&chunk[..n]);
    }
    Ok(())
}

fn emit(labels: &Labels, e: Event) {
    let base = |name| {
        event(name)
            .field("protocol", "pop3")
            .field("listener", &labels.listener)
            .opt("peer", labels.peer)
    };
    match e {
        Event::LoginOk { user, mechanism } => {
            labels.login.succeeded(&user);
            base("login")
                .field("mechanism", mechanism)
                .field("user", user)
                .emit();
            super::trim_memory();
        }
        Event::LoginFailed {
            user,
            mechanism,
            reason,
        } => {
            let (tried, lockout) = labels.login.failed();
            let user = Some(user).filter(|u| !u.is_empty()).or(tried);
            base("login_failed")
                .field("mechanism", mechanism)
                .opt("user", user)
                .field("reason", lockout.map_or(reason, |l| l.to_string()))
                .emit();
            super::trim_memory();
        }
        Event::End {
            retrieved,
            retrieved_bytes,
            deleted,
            quit,
        } => base("pop3_session_end")
            .field("retrieved", retrieved)
            .field("retrieved_bytes", retrieved_bytes)
            .field("deleted", deleted)
            .field("quit", quit)
            .emit(),
        Event::TooManyErrors => base("too_many_errors").emit(),
    }
}

async fn run(
    listener: &ListenerRuntime,
    mut work: Box<Work>,
    link: &mut Link,
    greeting: Vec<u8>,
) -> Result<(), String> {
    let mut slow = false;
    let io_err = |e: std::io::Error| e.to_string();
    link.write(&greeting).await.map_err(io_err)?;
    loop {
        let (w, out, next) = if slow {
            link.blocking(move || {
                let mut out = Vec::new();
                let next = work.step(&mut out, false);
                (work, out, next)
            })
            .await?
        } else {
            let mut out = Vec::new();
            let next = work.step(&mut out, true);
            (work, out, next)
        };
        work = w;
        slow = false;
        let written = async {
            if !out.is_empty() {
                link.write(&out).await?;
            }
            if !matches!(next, Next::More | Next::Slow) {
                link.flush().await?;
            }
            Ok::<(), std::io::Error>(())
        }
        .await;
        if let Err(e) = written {
            work.dropped();
            return Err(io_err(e));
        }
        match next {
            Next::More => {}
            Next::Slow => slow = true,
            Next::Pause(d) => tokio::time::sleep(d).await,
            Next::Close => {
                link.close().await;
                return Ok(());
            }
            Next::StartTls => {
                let Some(acceptor) = &listener.tls else {
                    return Err("STLS without a certificate".into());
                };
                link.start_tls(acceptor).await?;
                // RFC 2595 §4: anything pipelined behind STLS in plaintext is discarded.
                work.reader.clear();
                work.session.tls_started();
            }
            Next::Input => {
                if work.reader.is_empty() {
                    link.begin_unit(link.patience());
                }
                match link.read().await {
                    Input::TimedOut => {
                        link.say_last(b"-ERR idle timeout, closing connection\r\n")
                            .await;
                        work.dropped();
                        return Err("idle timeout".into());
                    }
                    Input::Closed => {
                        work.dropped();
                        return Err("connection closed by client".into());
                    }
                    Input::Data(bytes) => work.reader.feed(bytes),
                }
            }
        }
    }
}
