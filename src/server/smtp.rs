//! The SMTP core for the connection driver: [`crate::smtp::Session`] with the process's policy,
//! users and resolver, and its one effect, storing a message (content filter, then the spool).

use std::sync::Arc;
use std::time::Duration;

use super::driver::{Conversation, Core, Next};
use super::link::Link;
use super::login::GuardedUsers;
use super::ListenerRuntime;
use super::Shared;
use crate::config::{Config, Listener, Protocol};
use crate::events::event;
use crate::policy::lookups::find;
use crate::policy::{assumed_user, trusted_client, Lookups, MaildirUsage, SmtpPolicy, SpoolVolume};
use crate::sasl::LoginNote;
use crate::smtp::received::Trace;
use crate::smtp::{Action, Client, Reply, Session, SessionConfig, Transaction};
use crate::spool::{self, Envelope, Origin, QueueId, Recipient};

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
    let core = SmtpCore {
        session: Session::new(
            session_config(
                &shared.config,
                &listener.settings,
                listener.starttls_ready(),
            ),
            client,
        ),
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
    login: Arc<super::login::ClientLogin>,
}

/// What the SMTP core does with the link between steps.
pub enum SmtpEffect {
    /// Filter and spool a complete message, then answer the client.
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
        let client = self.session.client();
        let reply = match filter(&self.shared, client, &txn).await {
            Some(refusal) => self.session.refused(refusal),
            None => {
                let result = store(&self.shared, client, txn).await;
                self.session.stored(result)
            }
        };
        link.write(&reply).await.map_err(|e| e.to_string())
    }
}

/// The content filter's refusal of `txn`, if there is a filter and it refuses.
async fn filter(shared: &Shared, client: &Client, txn: &Transaction) -> Option<Reply> {
    let cfg = shared.config.filter.as_ref()?;
    let recipients: Vec<String> = txn.recipients.iter().map(|(a, _)| a.clone()).collect();
    let input = crate::filter::Input {
        sender: &txn.sender,
        recipients: &recipients,
        client: client.ip,
        origin: "smtp",
    };
    crate::filter::run(cfg, &txn.data, input).await.refusal()
}

/// Put a received message into the spool; the Ok value is its queue id.
async fn store(shared: &Shared, client: &Client, txn: Transaction) -> Result<String, String> {
    let id = QueueId::generate();
    let received = spool::now();
    let trace = Trace {
        helo: client.helo.as_deref(),
        ip: client.ip,
        hostname: &shared.config.server.hostname,
        esmtp: client.esmtp,
        tls: client.tls,
        authenticated: client.auth_user.is_some(),
        id: id.as_str(),
        single_recipient: match txn.recipients.as_slice() {
            [(only, _)] => Some(only.as_str()),
            _ => None,
        },
        time: received,
    };
    let header = trace.header();
    let size = (header.len() + txn.data.len()) as u64;
    let recipients: Vec<Recipient> = txn
        .recipients
        .iter()
        .map(|(addr, p)| Recipient {
            orcpt: p.orcpt.clone(),
            notify: p.notify.clone(),
            ..Recipient::new(addr.clone())
        })
        .collect();
    let users = shared.users.get();
    let recipients = crate::policy::restrictions::envelope(
        &shared.config,
        &users,
        recipients,
        &txn.refused,
        &txn.data,
    );
    let envelope = Envelope {
        sender: txn.sender.clone(),
        recipients,
        received,
        origin: Origin::Smtp,
        client: client.ip.map(|ip| ip.to_string()),
        helo: client.helo.clone(),
        trusted: client.trusted,
        auth_user: client.auth_user.clone(),
        size,
        smtputf8: txn.params.smtputf8,
        dsn_ret: txn.params.ret.clone(),
        dsn_envid: txn.params.envid.clone(),
    };
    let spool_ref = shared.spool.clone();
    let stored = tokio::task::spawn_blocking(move || {
        spool_ref
            .store_as(&id, &envelope, &[header.as_bytes(), &txn.data])
            .map(|()| (id, envelope))
    })
    .await;
    match stored {
        Ok(Ok((id, envelope))) => {
            event("message_received")
                .field("id", &id)
                .field("from", &envelope.sender)
                .field("to", crate::routing::addresses(&envelope.recipients))
                .field("size", envelope.size)
                .opt("client", envelope.client.as_deref())
                .emit();
            crate::policy::restrictions::log_refused(&id, &envelope.recipients);
            shared.immediate.submit(id.clone());
            Ok(id.to_string())
        }
        Ok(Err(e)) => {
            event("store_failed").field("error", &e).emit();
            Err("spool write failed".into())
        }
        Err(e) => Err(format!("internal error: {e}")),
    }
}

/// How long to wait for in-flight deliveries before an inetd-mode process exits.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(30);
