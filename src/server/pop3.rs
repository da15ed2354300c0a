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

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{ListenerRuntime, Shared};
use crate::config::{Config, TlsMode};
use crate::events::event;
use crate::net::Conn;
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
pub async fn handle(shared: Arc<Shared>, listener: Arc<ListenerRuntime>, conn: Conn) {
    let labels = Labels {
        listener: listener.settings.name.clone(),
        peer: conn.peer,
    };
    event("client_connect")
        .field("listener", &labels.listener)
        .opt("peer", labels.peer)
        .field("tls", conn.tls)
        .emit();
    let backend = VolumeBackend::new(shared.users.get(), shared.config.paths.mail.clone());
    let banner = crate::sasl::apop_banner(&shared.config.server.hostname);
    let config = session_config(&shared, &listener, conn.tls);
    let (session, greeting) = Session::new(config, banner, backend);
    let work = Box::new(Work {
        session,
        reader: LineReader::new(MAX_LINE),
        pending: VecDeque::new(),
        stream: None,
        held: None,
        labels: labels.clone(),
    });
    let idle = shared.config.limits.idle_timeout.duration();
    let result = run(&listener, work, conn, greeting, idle).await;
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
        Event::LoginOk { user, mechanism } => base("login")
            .field("mechanism", mechanism)
            .field("user", user)
            .emit(),
        Event::LoginFailed {
            user,
            mechanism,
            reason,
        } => base("login_failed")
            .field("mechanism", mechanism)
            .opt("user", (!user.is_empty()).then_some(user))
            .field("reason", reason)
            .emit(),
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
    conn: Conn,
    greeting: Vec<u8>,
    idle: Duration,
) -> Result<(), String> {
    let mut io = conn.io;
    let mut buf = vec![0u8; 64 * 1024];
    let mut slow = false;
    let io_err = |e: std::io::Error| e.to_string();
    if let Err(e) = io.write_all(&greeting).await {
        return Err(io_err(e));
    }
    loop {
        let (w, out, next) = if slow {
            tokio::task::spawn_blocking(move || {
                let mut out = Vec::new();
                let next = work.step(&mut out, false);
                (work, out, next)
            })
            .await
            .map_err(|e| format!("internal error: {e}"))?
        } else {
            let mut out = Vec::new();
            let next = work.step(&mut out, true);
            (work, out, next)
        };
        work = w;
        slow = false;
        let written = async {
            if !out.is_empty() {
                io.write_all(&out).await?;
            }
            if !matches!(next, Next::More | Next::Slow) {
                io.flush().await?;
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
                let _ = io.shutdown().await;
                return Ok(());
            }
            Next::StartTls => {
                let Some(acceptor) = &listener.tls else {
                    return Err("STLS without a certificate".into());
                };
                match tokio::time::timeout(super::TLS_HANDSHAKE_LIMIT, acceptor.accept(io)).await {
                    Ok(Ok(tls)) => io = Box::new(tls),
                    Ok(Err(e)) => return Err(format!("TLS handshake failed: {e}")),
                    Err(_) => return Err("TLS handshake timed out".into()),
                }
                // RFC 2595 §4: anything pipelined behind STLS in plaintext is discarded.
                work.reader.clear();
                work.session.tls_started();
            }
            Next::Input => match tokio::time::timeout(idle, io.read(&mut buf)).await {
                Err(_) => {
                    let _ = io
                        .write_all(b"-ERR idle timeout, closing connection\r\n")
                        .await;
                    let _ = io.flush().await;
                    work.dropped();
                    return Err("idle timeout".into());
                }
                Ok(Ok(0)) => {
                    work.dropped();
                    return Err("connection closed by client".into());
                }
                Ok(Ok(n)) => work.reader.feed(&buf[..n]),
                Ok(Err(e)) => {
                    work.dropped();
                    return Err(io_err(e));
                }
            },
        }
    }
}
