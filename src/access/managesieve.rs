//! The ManageSieve core for the connection driver: [`crate::proto::managesieve::Session`] with
//! the users file behind the login guard and each user's scripts on the mail volume
//! ([`crate::store::sieve::Scripts`]). Every command with input buffered runs on the blocking
//! pool (a login checks a password; the script commands read and write the volume).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::{Config, TlsMode};
use crate::driver::conversation::{Conversation, Core, Next};
use crate::driver::link::Link;
use crate::driver::login::GuardedUsers;
use crate::driver::{ListenerRuntime, Shared};
use crate::events::event;
use crate::proto::managesieve::{Action, Backend, Event, ManageSieveConfig, Session, StoreFailure};
use crate::proto::sasl::{Credentials, LoginNote};
use crate::receive::policy::trusted_client;
use crate::store::sieve::{Limits, ScriptError, Scripts};

/// RFC 5804 leaves the text outside literals unbounded; SASL responses need a few KiB.
const MAX_LINE: usize = 16 * 1024;

/// Session settings for a connection on a listener that can (`starttls`) offer STARTTLS.
pub fn session_config(c: &Config, starttls: bool, tls: bool) -> ManageSieveConfig {
    ManageSieveConfig {
        hostname: c.server.hostname.clone(),
        sasl: c.auth.imap.sasl(),
        starttls,
        tls_active: tls,
        sieve_extensions: crate::store::sieve::compile::capability(),
        max_redirects: c.sieve.max_redirects,
        max_errors: c.limits.errors.max(1),
        failures: c.auth.failures(),
        max_line: c.limits.line_length.max(MAX_LINE),
        max_literal: c.sieve.max_script_size.0,
    }
}

/// The scripts on the mail volume, for the session's user.
pub struct VolumeScripts {
    credentials: Arc<GuardedUsers>,
    mail: PathBuf,
    config: Arc<Config>,
}

impl VolumeScripts {
    pub fn new(credentials: Arc<GuardedUsers>, config: Arc<Config>) -> VolumeScripts {
        VolumeScripts {
            credentials,
            mail: config.paths.mail.clone(),
            config,
        }
    }

    fn scripts(&self, user: &str) -> Result<Scripts, StoreFailure> {
        Scripts::of(&self.mail, user, Limits::of(&self.config.sieve))
            .ok_or_else(|| StoreFailure::TryLater(format!("user name {user:?} has no mailbox")))
    }
}

fn failure(e: ScriptError) -> StoreFailure {
    let text = e.to_string();
    match e {
        ScriptError::BadName(_) => StoreFailure::BadName(text),
        ScriptError::NoSuchScript(_) => StoreFailure::NonExistent(text),
        ScriptError::Exists(_) => StoreFailure::AlreadyExists(text),
        ScriptError::Active(_) => StoreFailure::Active(text),
        ScriptError::TooMany(_) => StoreFailure::TooMany(text),
        ScriptError::TooLarge { .. } => StoreFailure::TooLarge(text),
        ScriptError::Io(_) => StoreFailure::TryLater(text),
    }
}

impl Backend for VolumeScripts {
    fn credentials(&self) -> &dyn Credentials {
        &*self.credentials
    }

    fn list(&mut self, user: &str) -> Result<Vec<(String, bool)>, StoreFailure> {
        let list = self.scripts(user)?.list().map_err(failure)?;
        Ok(list.into_iter().map(|l| (l.name, l.active)).collect())
    }

    fn get(&mut self, user: &str, name: &str) -> Result<Vec<u8>, StoreFailure> {
        self.scripts(user)?.get(name).map_err(failure)
    }

    fn put(&mut self, user: &str, name: &str, script: &[u8]) -> Result<(), StoreFailure> {
        self.scripts(user)?.put(name, script).map_err(failure)
    }

    fn have_space(&mut self, user: &str, name: &str, size: u64) -> Result<(), StoreFailure> {
        self.scripts(user)?.have_space(name, size).map_err(failure)
    }

    fn delete(&mut self, user: &str, name: &str) -> Result<(), StoreFailure> {
        self.scripts(user)?.delete(name).map_err(failure)
    }

    fn rename(&mut self, user: &str, old: &str, new: &str) -> Result<(), StoreFailure> {
        self.scripts(user)?.rename(old, new).map_err(failure)
    }

    fn set_active(&mut self, user: &str, name: Option<&str>) -> Result<(), StoreFailure> {
        self.scripts(user)?.set_active(name).map_err(failure)
    }

    fn check(&self, script: &[u8]) -> Result<(), String> {
        crate::store::sieve::compile::check(&self.config.sieve, script)
    }
}

/// Serve one ManageSieve connection.
pub async fn handle(shared: Arc<Shared>, listener: Arc<ListenerRuntime>, mut link: Link) {
    let ip = link.peer_ip();
    let trusted = trusted_client(&shared.config, Some(&listener.settings), ip);
    let login = shared.login.client(ip, trusted, link.cancel());
    let users = shared.users.get();
    let secrets = users.has_shared_secrets();
    let guarded = Arc::new(GuardedUsers {
        users,
        client: login.clone(),
        config: shared.config.clone(),
    });
    let starttls = listener.tls.is_some() && listener.settings.tls == TlsMode::Starttls;
    let mut config = session_config(&shared.config, starttls, link.tls);
    config.sasl = config.sasl.with_shared_secrets(secrets);
    let backend = VolumeScripts::new(guarded, shared.config.clone());
    let (session, greeting) = Session::new(config, backend);
    let core = SieveCore {
        session,
        greeting,
        pending: VecDeque::new(),
        notes: Vec::new(),
        listener: listener.settings.name.clone(),
        peer: link.peer,
    };
    let conversation = Conversation {
        shared,
        listener,
        login,
        session: crate::driver::conversation::session_id(),
    };
    conversation.run(&mut link, core, trusted).await;
}

/// The ManageSieve session with what the log needs around it.
pub struct SieveCore {
    session: Session<VolumeScripts>,
    greeting: Vec<u8>,
    pending: VecDeque<Action>,
    notes: Vec<LoginNote>,
    listener: String,
    peer: Option<SocketAddr>,
}

impl SieveCore {
    fn note(&mut self, e: Event) {
        let base = |name| {
            event(name)
                .field("protocol", "managesieve")
                .field("listener", &self.listener)
                .opt("peer", self.peer)
        };
        match e {
            Event::LoginOk { user, mechanism } => {
                self.notes.push(LoginNote::Ok { user, mechanism })
            }
            Event::LoginFailed {
                user,
                mechanism,
                reason,
            } => self.notes.push(LoginNote::Failed {
                user: Some(user).filter(|u| !u.is_empty()),
                mechanism,
                reason,
            }),
            Event::AuthRefused { mechanism, reason } => {
                self.notes.push(LoginNote::Refused { mechanism, reason })
            }
            Event::Changed {
                user,
                command,
                name,
            } => base("sieve_script_changed")
                .field("user", user)
                .field("command", command)
                .field("script", name)
                .emit(),
            Event::StoreFailed { user, error } => base("sieve_store_failed")
                .field("user", user)
                .field("error", error)
                .emit(),
            Event::TooManyErrors => base("too_many_errors").emit(),
        }
    }
}

impl Core for SieveCore {
    const PROTOCOL: &'static str = "managesieve";
    type Effect = std::convert::Infallible;

    fn greeting(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.greeting)
    }

    fn receive(&mut self, bytes: &[u8]) {
        self.session.receive(bytes);
    }

    fn step(&mut self, out: &mut Vec<u8>) -> Next<Self::Effect> {
        loop {
            let Some(action) = self.pending.pop_front() else {
                match self.session.next_actions() {
                    Some(actions) => {
                        self.pending.extend(actions);
                        continue;
                    }
                    None => return Next::Read,
                }
            };
            match action {
                Action::Reply(bytes) => out.extend_from_slice(&bytes),
                Action::Event(e) => self.note(e),
                Action::Pause(d) => return Next::Pause(d),
                Action::StartTls => return Next::StartTls,
                Action::Close => return Next::Close,
            }
        }
    }

    fn heavy(&self) -> bool {
        !self.session.at_rest() || !self.pending.is_empty()
    }

    fn at_rest(&self) -> bool {
        self.session.at_rest() && self.pending.is_empty()
    }

    fn tls_started(&mut self) {
        let again = self.session.tls_started();
        self.pending.push_back(Action::Reply(again));
    }

    fn timeout_reply(&self) -> Vec<u8> {
        b"BYE \"idle timeout, closing connection\"\r\n".to_vec()
    }

    fn shutdown_reply(&self) -> Vec<u8> {
        b"BYE (TRYLATER) \"server shutting down, try again later\"\r\n".to_vec()
    }

    fn take_notes(&mut self) -> Vec<LoginNote> {
        std::mem::take(&mut self.notes)
    }

    fn user(&self) -> Option<String> {
        self.session.user().map(str::to_string)
    }

    async fn effect(&mut self, _link: &mut Link, effect: Self::Effect) -> Result<(), String> {
        match effect {}
    }
}
