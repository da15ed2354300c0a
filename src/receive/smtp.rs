//! The SMTP core for the connection driver: [`crate::proto::smtp::Session`] with the process's policy,
//! users and resolver, and its one effect, handing a received message to the intake.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::config::dnsbl::DnsblStage;
use crate::config::{Config, Listener, Protocol};
use crate::driver::conversation::{Conversation, Core, Next};
use crate::driver::link::Link;
use crate::driver::login::GuardedUsers;
use crate::driver::ListenerRuntime;
use crate::driver::Shared;
use crate::intake::{Origin, Outcome, StoreError, Submission};
use crate::proto::sasl::LoginNote;
use crate::proto::smtp::{Action, Client, Reply, Session, SessionConfig, Transaction};
use crate::queue::spool::Recipient;
use crate::receive::policy::dnsbl;
use crate::receive::policy::lookups::find;
use crate::receive::policy::{assumed_user, trusted_client, Lookups, SmtpPolicy, SpoolVolume};
use crate::store::greylist::Greylist;
use crate::store::rates::{Counter, Rates};

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
    let mut refusal = match ip.filter(|_| dnsbl_at_connect(&shared.config, &client)) {
        Some(ip) => refused_at_connect(&shared, &mut link, ip).await,
        None => None,
    };
    // Connections a minute and at once, from the address and from its /24 or /64.
    let rates = shared.config.receiving.rates;
    let mut _places = Vec::new();
    if let Some(ip) = ip.filter(|_| !trusted) {
        let sources = [
            (
                ip.to_string(),
                rates.connections_per_ip,
                rates.connections_at_once_per_ip,
            ),
            (
                crate::store::greylist::network(ip),
                rates.connections_per_network,
                rates.connections_at_once_per_network,
            ),
        ];
        for (source, per_minute, at_once) in sources {
            if refusal.is_none() && per_minute > 0 {
                refusal = over_connection_rate(&shared, &mut link, &source, per_minute).await;
            }
            if refusal.is_none() && at_once > 0 {
                match connection_place(&shared, &mut link, &source, at_once).await {
                    Ok(place) => _places.extend(place),
                    Err(reply) => refusal = Some(reply),
                }
            }
        }
    }
    let session_id = crate::driver::conversation::session_id();
    let mut config = session_config(
        &shared.config,
        &listener.settings,
        listener.starttls_ready(),
    );
    config.auth = config.auth.for_store(shared.users.get().capabilities());
    let mut session = Session::new(config, client);
    if let Some(reply) = refusal {
        session.refuse_at_connect(reply);
    }
    let core = SmtpCore {
        session_id: session_id.clone(),
        session,
        shared: shared.clone(),
        listener: listener.clone(),
        login: login.clone(),
    };
    let conversation = Conversation {
        shared,
        listener,
        login,
        session: session_id,
    };
    conversation.run(&mut link, core, trusted).await;
}

/// Whether the DNS lists are asked about `client` before the greeting.
fn dnsbl_at_connect(config: &Config, client: &Client) -> bool {
    let r = &config.receiving;
    r.dnsbl_at == DnsblStage::Connect
        && !r.dnsbl.is_empty()
        && !client.trusted
        && client.auth_user.is_none()
}

/// The DNS lists' refusal of `ip` before the greeting, if they name it (the lookups on the
/// blocking pool with the process's resolver; a failed lookup is no listing).
async fn refused_at_connect(shared: &Arc<Shared>, link: &mut Link, ip: IpAddr) -> Option<Reply> {
    let s = shared.clone();
    let found = link
        .blocking(move || dnsbl::look_up(&*s.resolver, ip, &s.config.receiving))
        .await
        .ok()?;
    let threshold = shared.config.receiving.dnsbl_threshold();
    let refusal = dnsbl::verdict(ip, threshold, &found);
    dnsbl::log(ip, threshold, &found, refusal.is_some());
    refusal
}

/// `421 4.7.0` when `source` (an address, or a /24 or /64) opened more than `limit`
/// connections this minute (host-wide).
async fn over_connection_rate(
    shared: &Arc<Shared>,
    link: &mut Link,
    source: &str,
    limit: u32,
) -> Option<Reply> {
    let spool = shared.config.paths.spool.clone();
    let counter = Counter {
        key: format!("connections from {source}"),
        limit,
    };
    let now = crate::queue::spool::now();
    let hit = link.blocking(move || Rates::new(&spool).hit(&[counter], now));
    let over = hit.await.ok()?.ok()??;
    if over.count == limit.saturating_add(1) {
        crate::events::event("rate_limited")
            .field("counter", &over.key)
            .field("limit", limit)
            .field("retry", over.retry)
            .emit();
    }
    Some(Reply::new(
        421,
        "4.7.0",
        format!(
            "Too many connections from {source} this minute; try again in {} seconds",
            over.retry
        ),
    ))
}

/// One of `source`'s `limit` places for connections at once (an address, or a /24 or /64),
/// held host-wide for the connection's life; `421 4.7.0` when all are taken (a file error
/// takes nothing and refuses nothing).
async fn connection_place(
    shared: &Arc<Shared>,
    link: &mut Link,
    source: &str,
    limit: u32,
) -> Result<Option<crate::store::slots::Slot>, Reply> {
    let spool = shared.config.paths.spool.clone();
    let key = format!("connections from {source}");
    let taken = link.blocking(move || crate::store::slots::Slots::new(&spool).take(&key, limit));
    match taken.await {
        Ok(Ok(Some(place))) => Ok(Some(place)),
        Ok(Ok(None)) => {
            crate::events::event("rate_limited")
                .field("counter", format!("connections at once from {source}"))
                .field("limit", limit)
                .emit();
            Err(Reply::new(
                421,
                "4.7.0",
                format!("Too many connections from {source} at once; try again later"),
            ))
        }
        Ok(Err(_)) | Err(_) => Ok(None),
    }
}

/// An SMTP session with what it needs from the process.
pub struct SmtpCore {
    session: Session,
    /// The connection's id in the log (`session=`), shared by its events.
    session_id: String,
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
            host_state: true,
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
                        let usage = crate::store::maildir::MailVolume::for_config(&shared.config);
                        let space = SpoolVolume(&paths.spool);
                        let receiving = &shared.config.receiving;
                        let greylist = Greylist::new(&paths.spool);
                        find(
                            &lookups,
                            receiving,
                            &*shared.resolver,
                            &usage,
                            &space,
                            &greylist,
                            &Rates::new(&paths.spool),
                        )
                    })
                    .await?;
                self.session.found(found);
                return Ok(());
            }
        };
        let sub = submission(self.session.client(), &self.session_id, txn);
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
pub fn submission(client: &Client, session: &str, txn: Transaction) -> Submission {
    Submission {
        origin: Origin::Smtp {
            client: client.clone(),
            session: Some(session.to_string()),
            smtputf8: txn.params.smtputf8,
            dsn_ret: txn.params.ret,
            dsn_envid: txn.params.envid,
            requiretls: txn.params.requiretls,
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
