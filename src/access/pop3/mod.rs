//! The POP3 core for the connection driver: a [`crate::proto::pop3::Conversation`] on the mail volume
//! behind the login guard, and its log lines; the maildrop on the mail volume it reads.
//!
//! The slow steps (logins: password hashing, opening and syncing the maildrop; QUIT: deleting
//! files; large messages) run on the blocking pool, one hop per batch of pipelined commands.
//! The quick TRANSACTION commands (STAT, LIST, UIDL, DELE, and RETR/TOP of an ordinary message:
//! one open and a read or two from the page cache) run in place, as a hop per command would cost
//! more than the work.

pub mod maildir_drop;
pub mod volume;

pub use maildir_drop::MaildirMaildrop;
pub use volume::VolumeBackend;

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::Config;
use crate::driver::conversation::{Conversation, Core, Next};
use crate::driver::link::Link;
use crate::driver::login::GuardedUsers;
use crate::driver::{ListenerRuntime, Shared};
use crate::events::event;
use crate::proto::pop3::{
    Conversation as Pop3Conversation, Event, Note, Pop3Config, Session, Turn, MAX_LINE,
};
use crate::proto::sasl::{AuthFailures, LoginNote, MethodPolicy, Pop3Methods};
use crate::receive::policy::trusted_client;

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
    let caps = users.capabilities();
    let guarded = Arc::new(GuardedUsers {
        users: users.clone(),
        client: login.clone(),
        config: shared.config.clone(),
    });
    let backend = VolumeBackend::new(users, shared.config.paths.mail.clone())
        .on_volume(crate::store::maildir::MailVolume::for_config(
            &shared.config,
        ))
        .with_credentials(guarded);
    let mut config = session_config(&shared.config, listener.starttls_ready(), link.tls);
    config.sasl = config.sasl.for_store(caps);
    config.methods = config.methods.for_store(caps);
    // No unguessable timestamp, no APOP in this session (the others still work).
    let banner =
        crate::proto::sasl::apop_banner(&shared.config.server.hostname).unwrap_or_else(|_| {
            config.methods.apop = crate::proto::sasl::Availability::Deny;
            String::new()
        });
    let max_line = config.max_line;
    let (session, greeting) = Session::new(config, banner, backend);
    let core = Pop3Core {
        conversation: Pop3Conversation::new(session, max_line),
        greeting,
        notes: Vec::new(),
        labels,
    };
    let conversation = Conversation {
        shared,
        listener,
        login,
        session: crate::driver::conversation::session_id(),
    };
    conversation.run(&mut link, core, trusted).await;
}

/// Who the events of a connection are about.
struct Labels {
    listener: String,
    peer: Option<SocketAddr>,
}

/// The POP3 conversation with what the log needs around it.
pub struct Pop3Core {
    conversation: Pop3Conversation<VolumeBackend>,
    greeting: Vec<u8>,
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
        self.conversation.receive(bytes);
    }

    fn step(&mut self, out: &mut Vec<u8>) -> Next<Self::Effect> {
        let turn = self.conversation.step(out);
        self.log();
        match turn {
            Turn::Read => Next::Read,
            Turn::More | Turn::Slow => Next::Continue,
            Turn::Pause(d) => Next::Pause(d),
            Turn::StartTls => Next::StartTls,
            Turn::Close => Next::Close,
        }
    }

    fn heavy(&self) -> bool {
        self.conversation.is_slow()
    }

    fn at_rest(&self) -> bool {
        self.conversation.at_rest()
    }

    fn tls_started(&mut self) {
        self.conversation.tls_started();
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

    fn dropped(&mut self) {
        self.conversation.dropped();
        self.log();
    }

    async fn effect(&mut self, _link: &mut Link, effect: Self::Effect) -> Result<(), String> {
        match effect {}
    }
}

impl Pop3Core {
    /// Logins go to the driver (log and ledger); the rest is logged here.
    fn log(&mut self) {
        let base = |name| {
            event(name)
                .field("protocol", "pop3")
                .field("listener", &self.labels.listener)
                .opt("peer", self.labels.peer)
        };
        for note in self.conversation.take_notes() {
            match note {
                Note::Session(Event::LoginOk { user, mechanism }) => {
                    self.notes.push(LoginNote::Ok { user, mechanism })
                }
                Note::Session(Event::LoginFailed {
                    user,
                    mechanism,
                    reason,
                }) => self.notes.push(LoginNote::Failed {
                    user: Some(user).filter(|u| !u.is_empty()),
                    mechanism,
                    reason,
                }),
                Note::Session(Event::End {
                    retrieved,
                    retrieved_bytes,
                    deleted,
                    quit,
                }) => base("pop3_session_end")
                    .field("retrieved", retrieved)
                    .field("retrieved_bytes", retrieved_bytes)
                    .field("deleted", deleted)
                    .field("quit", quit)
                    .emit(),
                Note::Session(Event::TooManyErrors) => base("too_many_errors").emit(),
                Note::ReadFailed(why) => base("pop3_read_failed").field("error", why).emit(),
            }
        }
    }
}
