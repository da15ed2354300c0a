//! The SMTP core for the connection driver: [`crate::proto::smtp::Session`] with the process's policy,
//! users and resolver, and its one effect, handing a received message to the intake.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, Listener, Protocol};
use crate::driver::conversation::{Conversation, Core, Next};
use crate::driver::link::Link;
use crate::driver::login::GuardedUsers;
use crate::driver::ListenerRuntime;
use crate::driver::Shared;
use crate::intake::{Origin, Outcome, StoreError, Submission};
use crate::proto::sasl::LoginNote;
use crate::proto::smtp::{Action, Client, Session, SessionConfig, Transaction};
use crate::queue::spool::Recipient;
use crate::receive::policy::lookups::find;
use crate::receive::policy::{
    assumed_user, trusted_client, Lookups, MaildirUsage, SmtpPolicy, SpoolVolume,
};

/// Session settings for `listener` (`tls_ready`: it can offer STARTTLS).
pub fn session_config(c: &Config, listener: &Listener, tls_ready: bool) -> SessionConfig {
    SessionConfig {
        hostname: c.server.hostname.clone(),
        max_size: c.limits.message_size.0,
        max_recipients: c.limits.recipients,
        line_limit: c.limits.line_length,
        max_errors: c.limits.errors,
        starttls: tls_ready,
        submission: listener.protocol == Protocol::Submission,
        auth: c.auth.sasl(listener.protocol),
        failures: c.auth.failures(),
    }
}

/// Serve one SMTP connection.
pub async fn handle(shared: Arc<Shared>, listener: Arc<ListenerRuntime>, mut link: Link) {
    let ip = link.peer_ip();
    let client = Client {
        ip,
        trusted: trusted_client(&shared.config, Some(&listener.settings), ip),
        auth_user: ip.and_then(|ip| assumed_user(&shared.config, ip).map(str::to_string)),
        tls: link.tls,
        ..Client::default()
    };
    let trusted = client.trusted;
    let login = shared.login.client(ip, trusted, link.cancel());
    let mut config = session_config(
        &shared.config,
        &listener.settings,
        listener.starttls_ready(),
    );
    config.auth = config
        .auth
        .with_shared_secrets(shared.users.get().has_shared_secrets());
    let core = SmtpCore {
        session: Session::new(config, client),
        shared: shared.clone(),
        listener: listener.clone(),
        login: login.clone(),
    };
    let conversation = Conversation {
        shared,
        listener,
        login,
    };
    conversation.run(&mut link, core, trusted).await;
}

/// An SMTP session with what it needs from the process.
pub struct SmtpCore {
    session: Session,
    shared: Arc<Shared>,
    listener: Arc<ListenerRuntime>,
    login: Arc<crate::driver::login::ClientLogin>,
}

/// What the SMTP core does with the link between steps.
pub enum SmtpEffect {
    /// Hand a complete message to the intake, then answer the client.
    Store(Transaction),
    /// Find what a MAIL or RCPT check needs (DNS, a mailbox's usage, the spool's free space),
    /// on the blocking pool with the process's resolver.
    Lookup(Lookups),
}

impl Core for SmtpCore {
    const PROTOCOL: &'static str = "smtp";
    type Effect = SmtpEffect;

    fn greeting(&mut self) -> Vec<u8> {
        self.session.greeting()
    }

    fn receive(&mut self, bytes: &[u8]) {
        self.session.receive(bytes);
    }

    fn step(&mut self, out: &mut Vec<u8>) -> Next<SmtpEffect> {
        let users = self.shared.users.get();
        let creds = GuardedUsers {
            users: users.clone(),
            client: self.login.clone(),
            config: self.shared.config.clone(),
        };
        let policy = SmtpPolicy {
            listener: Some(&self.listener.settings.name),
            dns: true,
            quotas: true,
            spool_space: true,
            creds: Some(&creds),
            ..SmtpPolicy::new(&self.shared.config, &users)
        };
        let step = self.session.step(&policy);
        out.extend_from_slice(&step.output);
        match step.action {
            Action::NeedInput => Next::Read,
            Action::Store(txn) => Next::Effect(SmtpEffect::Store(txn)),
            Action::StartTls => Next::StartTls,
            Action::Pause(d) => Next::Pause(d),
            Action::Lookup(lookups) => Next::Effect(SmtpEffect::Lookup(lookups)),
            Action::Close => Next::Close,
        }
    }

    fn heavy(&self) -> bool {
        self.session.may_check_credentials()
    }

    fn at_rest(&self) -> bool {
        self.session.at_rest()
    }

    fn tls_started(&mut self) {
        self.session.tls_started();
    }

    fn timeout_reply(&self) -> Vec<u8> {
        self.session.timeout_reply()
    }

    fn shutdown_reply(&self) -> Vec<u8> {
        self.session.shutdown_reply()
    }

    fn take_notes(&mut self) -> Vec<LoginNote> {
        self.session.take_notes()
    }

    fn close_reason(&self) -> Option<String> {
        self.session.close_reason().map(str::to_string)
    }

    async fn effect(&mut self, link: &mut Link, effect: SmtpEffect) -> Result<(), String> {
        let txn = match effect {
            SmtpEffect::Store(txn) => txn,
            SmtpEffect::Lookup(lookups) => {
                let shared = self.shared.clone();
                let found = link
                    .blocking(move || {
                        let paths = &shared.config.paths;
                        let usage = MaildirUsage(&paths.mail);
                        let space = SpoolVolume(&paths.spool);
                        find(&lookups, &*shared.resolver, &usage, &space)
                    })
                    .await?;
                self.session.found(found);
                return Ok(());
            }
        };
        let sub = submission(self.session.client(), txn);
        let reply = match self.shared.intake.accept(sub).await {
            Outcome::Accepted(a) => self.session.stored(Ok(a.id.to_string())),
            Outcome::Refused(r) => self.session.refused(r.reply()),
            Outcome::Failed(StoreError::Spool(_)) => {
                self.session.stored(Err("spool write failed".into()))
            }
            Outcome::Failed(e) => self.session.stored(Err(e.to_string())),
        };
        link.write(&reply).await.map_err(|e| e.to_string())
    }
}

/// The intake's submission of a message received in this session. (The handlers' refusals the
/// session found at the end of DATA, to answer there, are found again by the intake's screening:
/// the same function on the same message.)
fn submission(client: &Client, txn: Transaction) -> Submission {
    Submission {
        origin: Origin::Smtp {
            client: client.clone(),
            smtputf8: txn.params.smtputf8,
            dsn_ret: txn.params.ret,
            dsn_envid: txn.params.envid,
        },
        sender: txn.sender,
        recipients: txn
            .recipients
            .into_iter()
            .map(|(addr, p)| Recipient {
                orcpt: p.orcpt,
                notify: p.notify,
                ..Recipient::new(addr)
            })
            .collect(),
        data: txn.data,
    }
}

/// How long to wait for in-flight deliveries before an inetd-mode process exits.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(30);
