//! The running server: shared state, the listeners of each daemon, immediate delivery.

pub mod imap;
pub mod immediate;
pub mod pop3;
pub mod smtp;

use std::sync::Arc;

use anyhow::Context;

use crate::config::{Config, Listener, Protocol, TlsMode};
use crate::deliver::Deliverer;
use crate::net::{self, Conn};
use crate::spool::Spool;
use crate::users::UsersCache;
use tokio_rustls::TlsAcceptor;

/// Everything the daemons of one process share.
pub struct Shared {
    pub config: Arc<Config>,
    pub spool: Arc<Spool>,
    pub users: Arc<UsersCache>,
    pub deliverer: Arc<Deliverer>,
    pub immediate: immediate::Immediate,
}

impl Shared {
    /// Open the spool and users file named by the config and start the immediate-delivery worker.
    pub fn open(config: Arc<Config>) -> anyhow::Result<Arc<Shared>> {
        crate::events::set_format(config.log.format);
        let spool = Arc::new(
            Spool::open(&config.paths.spool)
                .with_context(|| format!("cannot open spool {}", config.paths.spool.display()))?,
        );
        let users = Arc::new(UsersCache::new(&config.paths.users)?);
        let deliverer = Arc::new(Deliverer::new(config.clone(), spool.clone(), users.clone()));
        let immediate = immediate::Immediate::start(deliverer.clone());
        Ok(Arc::new(Shared {
            config,
            spool,
            users,
            deliverer,
            immediate,
        }))
    }
}

/// Load the TLS acceptor of a listener that has a certificate.
pub fn acceptor(listener: &Listener) -> anyhow::Result<Option<TlsAcceptor>> {
    match (&listener.cert, &listener.key, listener.tls) {
        (_, _, TlsMode::None) => Ok(None),
        (Some(c), Some(k), _) => Ok(Some(
            crate::tls::load_acceptor(c, k)
                .with_context(|| format!("listener {:?}", listener.name))?,
        )),
        _ => anyhow::bail!(
            "listener {:?} uses TLS but has no cert and key",
            listener.name
        ),
    }
}

/// Serve one connection: implicit TLS first when the listener says so.
pub async fn handle(shared: Arc<Shared>, listener: Arc<ListenerRuntime>, mut conn: Conn) {
    if listener.settings.tls == TlsMode::Implicit {
        let Some(acceptor) = &listener.tls else {
            return;
        };
        match tokio::time::timeout(TLS_HANDSHAKE_LIMIT, acceptor.accept(conn.io)).await {
            Ok(Ok(tls)) => conn.io = Box::new(tls),
            Ok(Err(e)) => {
                crate::events::event("tls_failed")
                    .field("listener", &listener.settings.name)
                    .opt("peer", conn.peer)
                    .field("error", e)
                    .emit();
                return;
            }
            Err(_) => return,
        }
        conn.tls = true;
    }
    match listener.settings.protocol {
        Protocol::Smtp | Protocol::Submission => smtp::handle(shared, listener, conn).await,
        Protocol::Pop3 => pop3::handle(shared, listener, conn).await,
        Protocol::Imap => imap::handle(shared, listener, conn).await,
    }
}

/// How long a client may take for a TLS handshake.
pub const TLS_HANDSHAKE_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// A listener's settings and its loaded TLS acceptor.
pub struct ListenerRuntime {
    pub settings: Listener,
    pub tls: Option<TlsAcceptor>,
}

impl ListenerRuntime {
    pub fn new(settings: Listener) -> anyhow::Result<ListenerRuntime> {
        let tls = acceptor(&settings)?;
        Ok(ListenerRuntime { settings, tls })
    }
}

/// Run every listener in `listeners` until the process ends.
pub async fn run_listeners(
    shared: Arc<Shared>,
    listeners: Vec<(Listener, tokio::net::TcpListener)>,
) -> anyhow::Result<()> {
    let mut tasks = Vec::new();
    let mut loaded = Vec::new();
    for (cfg, socket) in listeners {
        loaded.push((Arc::new(ListenerRuntime::new(cfg)?), socket));
    }
    for (cfg, socket) in loaded {
        let shared = shared.clone();
        let max = shared.config.limits.connections;
        crate::events::event("listening")
            .field("listener", &cfg.settings.name)
            .field(
                "protocol",
                format!("{:?}", cfg.settings.protocol).to_lowercase(),
            )
            .opt("address", socket.local_addr().ok())
            .emit();
        tasks.push(tokio::spawn(net::accept_loop(socket, max, move |conn| {
            handle(shared.clone(), cfg.clone(), conn)
        })));
    }
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}
