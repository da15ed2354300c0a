//! The POP3 core for the connection driver: [`crate::pop3::Session`] on the mail volume, with
//! its line reader, its queue of actions and the message being sent.
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

use super::driver::{Conversation, Core, Next};
use super::link::Link;
use super::login::GuardedUsers;
use super::{ListenerRuntime, Shared};
use crate::config::Config;
use crate::events::event;
use crate::policy::trusted_client;
use crate::pop3::{
    Action, Event, Line, LineReader, MessageStream, Pop3Config, Session, VolumeBackend, MAX_LINE,
};
use crate::sasl::{AuthFailures, LoginNote, MethodPolicy, Pop3Methods};

/// Output produced per turn before it is written to the client.
pub const OUT_BATCH: usize = 256 * 1024;

/// Messages up to this size (as sent) are read in place; larger ones on the blocking pool.
pub const INLINE_MESSAGE: u64 = 128 * 1024;

/// The POP3 login-method settings from `[auth.pop3]` and `[auth]`'s failed-login policy.
pub fn auth_settings(config: &Config) -> (Pop3Methods, MethodPolicy, AuthFailures) {
    let auth = &config.auth;
    (auth.pop3.methods(), auth.pop3.sasl(), auth.failures())
}

/// Session settings for a connection that can offer STLS (`stls`) and is (`tls`) or is not
/// encrypted yet.
pub fn session_config(c: &Config, stls: bool, tls: bool) -> Pop3Config {
    let (methods, sasl, failures) = auth_settings(c);
    Pop3Config {
        hostname: c.server.hostname.clone(),
        methods,
        sasl,
        stls,
        tls_active: tls,
        max_errors: c.limits.errors,
        failures,
        max_line: c.limits.line_length.max(MAX_LINE),
    }
}

/// Serve one POP3 connection.
pub async fn handle(shared: Arc<Shared>, listener: Arc<ListenerRuntime>, mut link: Link) {
    let ip = link.peer_ip();
    let trusted = trusted_client(&shared.config, Some(&listener.settings), ip);
    let login = shared.login.client(ip, trusted, link.cancel());
    let labels = Labels {
        listener: listener.settings.name.clone(),
        peer: link.peer,
    };
    let users = shared.users.get();
    let guarded = Arc::new(GuardedUsers {
        users: users.clone(),
        client: login.clone(),
    });
    let backend =
        VolumeBackend::new(users, shared.config.paths.mail.clone()).with_credentials(guarded);
    let mut config = session_config(&shared.config, listener.starttls_ready(), link.tls);
    // No unguessable timestamp, no APOP in this session (the others still work).
    let banner = crate::sasl::apop_banner(&shared.config.server.hostname).unwrap_or_else(|_| {
        config.methods.apop = crate::sasl::Availability::Deny;
        String::new()
    });
    let reader = LineReader::new(config.max_line);
    let (session, greeting) = Session::new(config, banner, backend);
    let core = Pop3Core {
        session,
        greeting,
        reader,
        pending: VecDeque::new(),
        stream: None,
        held: None,
        slow: false,
        notes: Vec::new(),
        labels,
    };
    let conversation = Conversation {
        shared,
        listener,
        login,
    };
    conversation.run(&mut link, core, trusted).await;
}

/// Who the events of a connection are about.
struct Labels {
    listener: String,
    peer: Option<SocketAddr>,
}

/// A session with its input buffer and the actions not yet carried out.
pub struct Pop3Core {
    session: Session<VolumeBackend>,
    greeting: Vec<u8>,
    reader: LineReader,
    pending: VecDeque<Action>,
    stream: Option<MessageStream>,
    /// A line taken from the reader that must run on the blocking pool.
    held: Option<Vec<u8>>,
    /// The next step has slow work: run it on the blocking pool.
    slow: bool,
    notes: Vec<LoginNote>,
    labels: Labels,
}

impl Core for Pop3Core {
    const PROTOCOL: &'static str = "pop3";
    type Effect = std::convert::Infallible;

    fn greeting(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.greeting)
    }

    fn receive(&mut self, bytes: &[u8]) {
        self.reader.feed(bytes);
    }

    /// Carries out pending actions and buffered lines until the output is full, input runs
    /// out, or the driver must act. A quick step stops before anything slow (a login, opening
    /// the maildrop, QUIT, a large message) and asks for the next step on the blocking pool.
    fn step(&mut self, out: &mut Vec<u8>) -> Next<Self::Effect> {
        let quick_only = !std::mem::take(&mut self.slow);
        loop {
            if out.len() >= OUT_BATCH {
                return Next::Continue;
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
                        return self.slow_next();
                    }
                    Action::Stream(s) => self.stream = Some(s),
                    Action::Event(e) => self.event(e),
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
                    None => return Next::Read,
                },
            };
            let actions = match line {
                Line::Complete(line) if quick_only && self.session.is_slow(&line) => {
                    self.held = Some(line);
                    return self.slow_next();
                }
                Line::Complete(line) => self.session.line(&line),
                Line::TooLong => self.session.line_too_long(),
            };
            self.pending.extend(actions);
        }
    }

    fn heavy(&self) -> bool {
        self.slow
    }

    fn at_rest(&self) -> bool {
        self.reader.is_empty()
            && self.pending.is_empty()
            && self.stream.is_none()
            && self.held.is_none()
    }

    fn tls_started(&mut self) {
        // RFC 2595 §4: anything pipelined behind STLS in plaintext is discarded.
        self.reader.clear();
        self.session.tls_started();
    }

    fn timeout_reply(&self) -> Vec<u8> {
        b"-ERR idle timeout, closing connection\r\n".to_vec()
    }

    fn shutdown_reply(&self) -> Vec<u8> {
        b"-ERR [SYS/TEMP] server shutting down, try again later\r\n".to_vec()
    }

    fn take_notes(&mut self) -> Vec<LoginNote> {
        std::mem::take(&mut self.notes)
    }

    /// The connection ended without QUIT: log the session's end (no deletions).
    fn dropped(&mut self) {
        for a in self.session.disconnected() {
            if let Action::Event(e) = a {
                self.event(e);
            }
        }
    }

    async fn effect(&mut self, _link: &mut Link, effect: Self::Effect) -> Result<(), String> {
        match effect {}
    }
}

impl Pop3Core {
    fn slow_next(&mut self) -> Next<std::convert::Infallible> {
        self.slow = true;
        Next::Continue
    }

    /// Logins go to the driver (log and ledger); the rest is logged here.
    fn event(&mut self, e: Event) {
        let base = |name| {
            event(name)
                .field("protocol", "pop3")
                .field("listener", &self.labels.listener)
                .opt("peer", self.labels.peer)
        };
        match e {
            Event::LoginOk { user, mechanism } => {
                self.notes.push(LoginNote::Ok {
                    user,
                    mechanism: mechanism.to_string(),
                });
            }
            Event::LoginFailed {
                user,
                mechanism,
                reason,
            } => self.notes.push(LoginNote::Failed {
                user: Some(user).filter(|u| !u.is_empty()),
                mechanism: mechanism.to_string(),
                reason: reason.to_string(),
            }),
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
}

/// Appends converted message bytes to `out` until it holds `limit` octets or the message ends.
fn drain(stream: &mut MessageStream, out: &mut Vec<u8>, limit: usize) -> std::io::Result<()> {
    let mut chunk = [0u8; 16 * 1024];
    while out.len() < limit {
        let want = chunk.len().min(limit - out.len());
        let n = match stream.read(chunk.get_mut(..want).unwrap_or_default()) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
    Ok(())
}
