//! The SMTP socket loop around [`crate::smtp::Session`]: read, step, write, store.

mod auth;

use std::sync::Arc;
use std::time::Duration;

use super::link::{Input, Link};
use super::login::ClientLogin;
use super::ListenerRuntime;
use super::Shared;
use crate::config::{Protocol, TlsMode};
use crate::dns::Resolver;
use crate::events::event;
use crate::policy::{assumed_user, trusted_client, MaildirUsage, SmtpPolicy, SpoolVolume};
use crate::smtp::received::Trace;
use crate::smtp::{Action, Client, Reply, Session, SessionConfig, Transaction};
use crate::spool::{self, Envelope, Origin, QueueId, Recipient};

/// Session settings for `listener`.
pub fn session_config(shared: &Shared, listener: &ListenerRuntime) -> SessionConfig {
    let tls_ready = listener.tls.is_some() && listener.settings.tls == TlsMode::Starttls;
    let listener = &listener.settings;
    let c = &shared.config;
    SessionConfig {
        hostname: c.server.hostname.clone(),
        max_size: c.limits.message_size.0,
        max_recipients: c.limits.recipients,
        line_limit: c.limits.line_length,
        max_errors: c.limits.errors,
        starttls: tls_ready,
        submission: listener.protocol == Protocol::Submission,
        auth_mechanisms: Vec::new(),
    }
}

/// Serve one SMTP connection.
pub async fn handle(shared: Arc<Shared>, listener: Arc<ListenerRuntime>, mut link: Link) {
    let peer = link.peer;
    let ip = link.peer_ip();
    let client = Client {
        ip,
        trusted: trusted_client(&shared.config, Some(&listener.settings), ip),
        auth_user: ip.and_then(|ip| assumed_user(&shared.config, ip).map(str::to_string)),
        tls: link.tls,
        ..Client::default()
    };
    event("client_connect")
        .field("listener", &listener.settings.name)
        .opt("peer", peer)
        .field("trusted", client.trusted)
        .emit();
    let login = shared.login.client(ip, client.trusted, link.cancel());
    let mut session = Session::new(session_config(&shared, &listener), client);
    let protocol = listener.settings.protocol;
    session.set_auth_mechanisms(auth::advertised(&shared, protocol, link.tls));
    let result = run(&shared, &listener, &mut session, &mut link, &login).await;
    let mut e = event("client_disconnect")
        .field("listener", &listener.settings.name)
        .opt("peer", peer);
    if let Err(why) = result {
        e = e.field("reason", why);
    }
    e.emit();
}

async fn run(
    shared: &Shared,
    listener: &ListenerRuntime,
    session: &mut Session,
    link: &mut Link,
    login: &Arc<ClientLogin>,
) -> Result<(), String> {
    let io_err = |e: std::io::Error| e.to_string();
    link.write(&session.greeting()).await.map_err(io_err)?;
    let resolver = Resolver::new(shared.config.dns());
    let mut failures = shared.config.auth.failures();
    loop {
        let users = shared.users.get();
        let usage = MaildirUsage(&shared.config.paths.mail);
        let space = SpoolVolume(&shared.config.paths.spool);
        let policy = SmtpPolicy {
            listener: Some(&listener.settings.name),
            dns: Some(&resolver),
            usage: Some(&usage),
            spool_space: Some(&space),
            ..SmtpPolicy::new(&shared.config, &users)
        };
        let step = session.step(&policy);
        if !step.output.is_empty() {
            link.write(&step.output).await.map_err(io_err)?;
        }
        match step.action {
            Action::NeedInput => {
                link.flush().await.map_err(io_err)?;
                if session.at_rest() {
                    link.begin_unit(link.patience());
                }
                match link.read().await {
                    Input::Data(bytes) => session.receive(bytes),
                    Input::TimedOut => {
                        link.say_last(&session.timeout_reply()).await;
                        return Err("idle timeout".into());
                    }
                    Input::Closed => {
                        return if session.in_data() {
                            Err("connection lost during DATA; nothing stored".into())
                        } else {
                            Err("connection closed by client".into())
                        };
                    }
                }
            }
            Action::Store(txn) => {
                let reply = match filter(shared, session.client(), &txn).await {
                    Some(refusal) => session.refused(refusal),
                    None => {
                        let result = store(shared, session.client(), txn).await;
                        session.stored(result)
                    }
                };
                link.write(&reply).await.map_err(io_err)?;
            }
            Action::StartTls => {
                let Some(acceptor) = &listener.tls else {
                    return Err("STARTTLS without a certificate".into());
                };
                link.start_tls(acceptor).await?;
                session.tls_started();
                let protocol = listener.settings.protocol;
                session.set_auth_mechanisms(auth::advertised(shared, protocol, true));
            }
            Action::Auth(mech, initial) => {
                let mut exchange = auth::Login {
                    shared,
                    listener,
                    failures: &mut failures,
                    login,
                };
                let outcome = exchange.run(session, link, &mech, initial).await?;
                if let auth::Outcome::Close(why) = outcome {
                    link.close().await;
                    return Err(why);
                }
            }
            Action::Close => {
                link.close().await;
                return Ok(());
            }
        }
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
