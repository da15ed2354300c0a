//! The running server: shared state, the listeners of each daemon, immediate delivery.

pub mod immediate;
pub mod smtp;

use std::sync::Arc;

use anyhow::Context;

use crate::config::{Config, Listener, Protocol};
use crate::deliver::Deliverer;
use crate::net::{self, Conn};
use crate::spool::Spool;
use crate::users::UsersCache;

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

/// Serve one connection on a listener of the given protocol.
pub async fn handle(shared: Arc<Shared>, listener: Arc<Listener>, conn: Conn) {
    match listener.protocol {
        Protocol::Smtp | Protocol::Submission => smtp::handle(shared, listener, conn).await,
        Protocol::Pop3 | Protocol::Imap => {
            crate::events::event("unsupported_listener")
                .field("listener", &listener.name)
                .emit();
        }
    }
}

/// Run every listener in `listeners` until the process ends.
pub async fn run_listeners(shared: Arc<Shared>, listeners: Vec<(Listener, tokio::net::TcpListener)>) {
    let mut tasks = Vec::new();
    for (cfg, socket) in listeners {
        let shared = shared.clone();
        let cfg = Arc::new(cfg);
        let max = shared.config.limits.connections;
        crate::events::event("listening")
            .field("listener", &cfg.name)
            .field("protocol", format!("{:?}", cfg.protocol).to_lowercase())
            .opt("address", socket.local_addr().ok())
            .emit();
        tasks.push(tokio::spawn(net::accept_loop(socket, max, move |conn| {
            handle(shared.clone(), cfg.clone(), conn)
        })));
    }
    for t in tasks {
        let _ = t.await;
    }
}
