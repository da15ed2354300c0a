//! The running server: shared state, the listeners of each daemon.

pub mod admission;
pub mod compress;
pub mod conversation;
pub mod link;
pub mod login;
pub mod net;
pub mod reload;
pub mod shutdown;
pub mod tls;

use std::sync::Arc;

use anyhow::Context;

use crate::config::{Config, Listener, Protocol, TlsMode};
use crate::intake::{Handoff, Immediate, Intake};
use crate::queue::deliver::Deliverer;
use crate::queue::spool::Spool;
use crate::store::users::UsersCache;
use link::{Link, Timing};
use net::Conn;
use tokio_rustls::TlsAcceptor;

/// Everything the daemons of one process share.
pub struct Shared {
    pub config: Arc<Config>,
    pub spool: Arc<Spool>,
    pub users: Arc<UsersCache>,
    pub deliverer: Arc<Deliverer>,
    pub immediate: Immediate,
    /// Where every accepted message goes in (smtpd's, collect's).
    pub intake: Arc<Intake>,
    /// Password checks and failed-login budgets of the process.
    pub login: Arc<login::LoginGuard>,
    /// Set to `true` when the process shuts down: clients at rest get a goodbye (one flag for
    /// every generation of a reloaded process).
    pub shutdown: Arc<tokio::sync::watch::Sender<bool>>,
    /// Sessions running now.
    pub sessions: shutdown::Sessions,
    /// The process's one resolver (receiving checks), with its cache.
    pub resolver: Arc<crate::dns::Resolver>,
}

impl Shared {
    /// Open the spool and users file named by the config and start the immediate-delivery worker.
    pub fn open(config: Arc<Config>) -> anyhow::Result<Arc<Shared>> {
        large_allocations_unmapped();
        Shared::build(config, None)
    }

    /// The state for `config` after a reload: a new users cache, deliverer, immediate-delivery
    /// worker, intake and resolver; the failed-login ledger, the shutdown flag and the session
    /// count carry over. Sessions already running keep the generation they started with.
    pub fn renew(&self, config: Arc<Config>) -> anyhow::Result<Arc<Shared>> {
        Shared::build(config, Some(self))
    }

    /// The one place the state is made (at start, and at each reload with what carries over
    /// from `previous`): a part added here is reloaded too.
    fn build(config: Arc<Config>, previous: Option<&Shared>) -> anyhow::Result<Arc<Shared>> {
        crate::events::set_format(config.log.format);
        let spool = Arc::new(
            Spool::open(&config.paths.spool)
                .with_context(|| format!("cannot open spool {}", config.paths.spool.display()))?,
        );
        let users = Arc::new(UsersCache::for_config(&config)?);
        if previous.is_none() {
            use_scram_decoy_key(spool.root());
        }
        let deliverer = Arc::new(Deliverer::new(config.clone(), spool.clone(), users.clone()));
        let immediate = Immediate::start(deliverer.clone());
        let resolver = Arc::new(crate::dns::Resolver::new(config.dns()));
        let intake = Arc::new(
            Intake::new(deliverer.clone(), Handoff::Worker(immediate.clone()))
                .with_resolver(resolver.clone()),
        );
        let (login, shutdown, sessions) = match previous {
            Some(p) => (p.login.clone(), p.shutdown.clone(), p.sessions.clone()),
            None => (
                Arc::new(login::LoginGuard::new(&config)),
                Arc::new(tokio::sync::watch::Sender::new(false)),
                shutdown::Sessions::default(),
            ),
        };
        Ok(Arc::new(Shared {
            config,
            spool,
            users,
            deliverer,
            immediate,
            intake,
            login,
            shutdown,
            sessions,
            resolver,
        }))
    }
}

/// Give SCRAM the spool's decoy key, made there by the first process that needs it; without
/// it SCRAM-SHA-256 fails closed (every exchange refused), and the log says why.
fn use_scram_decoy_key(spool: &std::path::Path) {
    use crate::queue::spool::secret::{load_or_create, SCRAM_DECOY_KEY};
    match load_or_create(spool, SCRAM_DECOY_KEY) {
        Ok(key) => crate::proto::sasl::set_scram_decoy_key(key),
        Err(e) => crate::events::event("scram_unavailable")
            .field("error", e.to_string())
            .field(
                "effect",
                "SCRAM-SHA-256 logins fail until it is fixed and the server restarted",
            )
            .emit(),
    }
}

/// Load the TLS acceptor of a listener that has a certificate.
pub fn acceptor(listener: &Listener) -> anyhow::Result<Option<TlsAcceptor>> {
    match (&listener.cert, &listener.key, listener.tls) {
        (_, _, TlsMode::None) => Ok(None),
        (Some(c), Some(k), _) => Ok(Some(
            crate::driver::tls::load_acceptor(c, k)
                .with_context(|| format!("listener {:?}", listener.name))?,
        )),
        _ => anyhow::bail!(
            "listener {:?} uses TLS but has no cert and key",
            listener.name
        ),
    }
}

/// Serve one connection: implicit TLS first when the listener says so.
pub async fn handle(shared: Arc<Shared>, listener: Arc<ListenerRuntime>, conn: Conn) {
    let mut link = Link::new(conn, Timing::from_limits(&shared.config.limits));
    if listener.settings.tls == TlsMode::Implicit {
        let Some(acceptor) = &listener.tls else {
            return;
        };
        if let Err(e) = link.start_tls(acceptor).await {
            crate::events::event("tls_failed")
                .field("listener", &listener.settings.name)
                .opt("peer", link.peer)
                .field("error", e)
                .emit();
            return;
        }
    }
    match listener.settings.protocol {
        Protocol::Smtp | Protocol::Submission => {
            crate::receive::smtp::handle(shared, listener, link).await
        }
        Protocol::Pop3 => crate::access::pop3::handle(shared, listener, link).await,
        Protocol::Imap => crate::access::imap::handle(shared, listener, link).await,
        Protocol::Managesieve => crate::access::managesieve::handle(shared, listener, link).await,
    }
}

/// Answer a client beyond a connection cap (after the TLS handshake on an implicit-TLS
/// listener) and close, all within [`admission::REFUSAL_TIME`].
async fn refuse(shared: Arc<Shared>, listener: Arc<ListenerRuntime>, conn: Conn) {
    let timing = Timing::from_limits(&shared.config.limits);
    let mut link = Link::new(conn, timing);
    let reply = admission::busy_reply(listener.settings.protocol, &shared.config.server.hostname);
    let _ = tokio::time::timeout(admission::REFUSAL_TIME, async {
        if listener.settings.tls == TlsMode::Implicit {
            let Some(acceptor) = &listener.tls else {
                return;
            };
            if link.start_tls(acceptor).await.is_err() {
                return;
            }
        }
        link.say_last(&reply).await;
        link.close().await;
    })
    .await;
}

/// Makes every large allocation its own mapping, given back to the system when freed.
/// glibc's default raises that threshold after the first large free, and then serves the next
/// ones — a login's 19 MiB argon2 block, a big mailbox's lists — from thread arenas whose top
/// `malloc_trim` does not release: a few logins on different threads would pin tens of
/// megabytes for as long as the process runs. Once per process.
fn large_allocations_unmapped() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: mallopt only changes a glibc malloc parameter; it has no preconditions.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        }
    });
}

/// Returns freed heap memory to the system (after a login's password check, or a large
/// mailbox's listing), so an idle session costs what it holds and not its peak.
pub fn trim_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own heap; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// A listener's settings and its loaded TLS acceptor.
pub struct ListenerRuntime {
    pub settings: Listener,
    pub tls: Option<TlsAcceptor>,
}

impl ListenerRuntime {
    /// Whether STARTTLS (STLS) can be offered: `tls = "starttls"` and a certificate loaded.
    pub fn starttls_ready(&self) -> bool {
        self.tls.is_some() && self.settings.tls == TlsMode::Starttls
    }

    pub fn new(settings: Listener) -> anyhow::Result<ListenerRuntime> {
        let tls = acceptor(&settings)?;
        Ok(ListenerRuntime { settings, tls })
    }
}

/// Run every listener in `listeners` until a shutdown signal ([`shutdown`]); at SIGHUP, read
/// the configuration again as `reload` says ([`reload`]).
pub async fn run_listeners(
    shared: Arc<Shared>,
    listeners: Vec<(Listener, tokio::net::TcpListener)>,
    reload: Option<reload::Reload>,
) -> anyhow::Result<()> {
    let mut loaded = Vec::new();
    let mut sockets = Vec::new();
    for (cfg, socket) in listeners {
        loaded.push(Arc::new(ListenerRuntime::new(cfg)?));
        sockets.push(socket);
    }
    let caps = vec![shared.config.limits.connections; loaded.len()];
    let budget = admission::fit_connection_caps(&caps);
    crate::events::event("descriptors")
        .field("limit", budget.limit)
        .field("connections", budget.caps.iter().sum::<usize>())
        .field("lowered", budget.lowered)
        .emit();
    let current = reload::Current::new(shared.clone(), loaded.clone());
    // Commands that edit the configuration (`domain handlers …`) find this process here.
    let _registered = reload
        .as_ref()
        .and_then(|r| reload::register(&shared.config.paths.spool, &r.config_path));
    let mut tasks = Vec::new();
    for (index, ((cfg, socket), cap)) in
        loaded.into_iter().zip(sockets).zip(budget.caps).enumerate()
    {
        let admission = Arc::new(admission::Admission::new(
            &shared.config,
            &cfg.settings,
            cap,
        ));
        crate::events::event("listening")
            .field("listener", &cfg.settings.name)
            .field(
                "protocol",
                format!("{:?}", cfg.settings.protocol).to_lowercase(),
            )
            .opt("address", socket.local_addr().ok())
            .field("connections", cap)
            .emit();
        let current = current.clone();
        tasks.push(tokio::spawn(net::accept_loop(socket, move |conn| {
            let now = current.get();
            if let Some(listener) = now.listeners.get(index) {
                dispatch(&now.shared, listener, &admission, conn);
            }
        })));
    }
    shutdown::ready();
    let signal = shutdown::signal();
    tokio::pin!(signal);
    let mut hangup = reload::hangups();
    let accepting: Vec<_> = tasks.iter().map(|t| t.abort_handle()).collect();
    let mut all_stopped = tokio::spawn(async move {
        if tasks.is_empty() {
            // `serve` without listeners: the queue runner and the collection until a signal.
            std::future::pending::<()>().await;
        }
        for t in tasks {
            let _ = t.await;
        }
    });
    loop {
        tokio::select! {
            name = &mut signal => {
                shutdown::graceful(&current.get().shared, accepting, &mut all_stopped, name).await;
                break;
            }
            _ = &mut all_stopped => break,
            Some(()) = reload::next(&mut hangup) => reload::reload(&current, reload.as_ref()),
        }
    }
    Ok(())
}

/// Start a session for a new connection, or refuse it when a cap is reached.
fn dispatch(
    shared: &Arc<Shared>,
    listener: &Arc<ListenerRuntime>,
    admission: &admission::Admission,
    conn: Conn,
) {
    let (shared, listener) = (shared.clone(), listener.clone());
    match admission.admit(conn.peer_ip()) {
        Ok(place) => {
            tokio::spawn(async move {
                handle(shared, listener, conn).await;
                drop(place);
            });
        }
        Err(why) => {
            crate::events::event("connection_refused")
                .field("listener", &listener.settings.name)
                .opt("peer", conn.peer)
                .field("limit", why.as_str())
                .emit();
            // Answering is bounded too; beyond that the connection just closes.
            if let Ok(answering) = admission.refusals.clone().try_acquire_owned() {
                tokio::spawn(async move {
                    refuse(shared, listener, conn).await;
                    drop(answering);
                });
            }
        }
    }
}
