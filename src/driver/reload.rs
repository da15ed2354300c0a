//! SIGHUP: read the configuration again without a restart.
//!
//! The daemons with listeners (`serve`, standalone, systemd `Accept=no`) keep a current
//! *generation*: the shared state ([`Shared`]) and the listeners' settings with their TLS
//! acceptors. At SIGHUP the configuration file is read and validated again; a broken one is
//! refused (`reload_failed`, each problem with its line) and the running one kept. A good one
//! makes a new generation (users file, certificates, routing, policy, delivery) that every new
//! connection uses (`reloaded`); sessions already open (an IMAP IDLE, a POP3 session) finish on
//! the settings they started with. The listening sockets stay: a listener whose address changed,
//! or a new one, needs a restart (`reload_partial`). The log file is opened again in any case
//! (logrotate's `postrotate`).

use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};

use super::{ListenerRuntime, Shared};
use crate::config::Config;
use crate::events::event;

/// The state new connections get.
pub struct Generation {
    pub shared: Arc<Shared>,
    /// One per listening socket, in the order of the sockets.
    pub listeners: Vec<Arc<ListenerRuntime>>,
}

/// The current generation, replaced at each successful reload.
#[derive(Clone)]
pub struct Current(Arc<RwLock<Arc<Generation>>>);

impl Current {
    pub fn new(shared: Arc<Shared>, listeners: Vec<Arc<ListenerRuntime>>) -> Current {
        Current(Arc::new(RwLock::new(Arc::new(Generation {
            shared,
            listeners,
        }))))
    }

    /// The generation for a new connection.
    pub fn get(&self) -> Arc<Generation> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, generation: Generation) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(generation);
    }
}

/// Called with the new shared state after a successful reload (`serve`: the queue runner and
/// the collection schedule move to it).
pub type Then = Box<dyn Fn(&Arc<Shared>) + Send + Sync>;

/// How a process reloads: the file it was started with, and what else moves to the new state.
pub struct Reload {
    pub config_path: PathBuf,
    pub then: Option<Then>,
}

/// The process's SIGHUPs (`None` when they cannot be caught: then none arrive).
pub fn hangups() -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
}

/// The next SIGHUP (never, without a handler).
pub async fn next(hangups: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match hangups {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// Read the configuration again and make the generation new connections get.
pub fn reload(current: &Current, how: Option<&Reload>) {
    let _ = sd_notify::notify(&reloading());
    let Some(how) = how else {
        let _ = crate::events::reopen();
        event("reload_failed")
            .field(
                "error",
                "this process was started without a configuration file",
            )
            .emit();
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
        return;
    };
    match load(current, how) {
        Ok(()) => {}
        Err(e) => {
            if let Err(e) = crate::events::reopen() {
                event("log_reopen_failed").field("error", e).emit();
            }
            event("reload_failed")
                .field("config", how.config_path.display())
                .field("error", e)
                .field("effect", "the running configuration is kept")
                .emit();
        }
    }
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
}

fn reloading() -> Vec<sd_notify::NotifyState<'static>> {
    let mut states = vec![sd_notify::NotifyState::Reloading];
    if let Ok(now) = sd_notify::NotifyState::monotonic_usec_now() {
        states.push(now);
    }
    states
}

fn load(current: &Current, how: &Reload) -> Result<(), String> {
    let config = crate::config::load(&how.config_path).map_err(|e| e.to_string())?;
    let config = Arc::new(config);
    let old = current.get();
    let listeners = renew_listeners(&config, &old.listeners)?;
    let shared = old
        .shared
        .renew(config.clone())
        .map_err(|e| format!("{e:#}"))?;
    crate::events::configure(&config.log);
    crate::queue::spool::id::set_node(config.cluster.node);
    let missing = missing_listeners(&config, &old.listeners);
    current.set(Generation {
        shared: shared.clone(),
        listeners,
    });
    if let Some(then) = &how.then {
        then(&shared);
    }
    event("reloaded")
        .field("config", how.config_path.display())
        .field("sessions_on_old_settings", shared.sessions.count())
        .emit();
    if !missing.is_empty() {
        event("reload_partial")
            .field("listeners", missing.join(","))
            .field("effect", "new or moved listeners need a restart")
            .emit();
    }
    Ok(())
}

/// Each socket's listener settings from `config`: the listener of the same name (its address
/// stays the socket's), or the old settings when the config has none of that name (sockets
/// from `--listen`, inetd or systemd without `--listener`). Certificates are loaded again.
fn renew_listeners(
    config: &Config,
    old: &[Arc<ListenerRuntime>],
) -> Result<Vec<Arc<ListenerRuntime>>, String> {
    old.iter()
        .map(|l| {
            let mut settings = config
                .listener(&l.settings.name)
                .cloned()
                .unwrap_or_else(|| l.settings.clone());
            settings.address = l.settings.address;
            ListenerRuntime::new(settings)
                .map(Arc::new)
                .map_err(|e| format!("{e:#}"))
        })
        .collect()
}

/// Listeners of `config` no socket serves (or serves at another address).
fn missing_listeners(config: &Config, running: &[Arc<ListenerRuntime>]) -> Vec<String> {
    config
        .listeners
        .iter()
        .filter(|l| {
            !running
                .iter()
                .any(|r| r.settings.name == l.name && r.settings.address == l.address)
        })
        .filter(|l| {
            // A daemon serves its own protocol's listeners only.
            running
                .iter()
                .any(|r| r.settings.protocol.daemon() == l.protocol.daemon())
        })
        .map(|l| l.name.clone())
        .collect()
}

/// The directory in the spool where running servers say which configuration they serve.
const RUNNING: &str = "running";

/// The registrations of this host: `<spool>/running`, or `<spool>/running/node-N` for
/// `[cluster] node` N > 0. Process ids mean something only on their own host, so hosts
/// sharing a spool keep theirs apart (and never take another host's for stale).
fn running_dir(spool: &std::path::Path) -> PathBuf {
    match crate::queue::spool::id::node() {
        0 => spool.join(RUNNING),
        n => spool.join(RUNNING).join(format!("node-{n}")),
    }
}

/// The claim of a `[cluster] node` number by a running server on a shared spool: held (an
/// exclusive `flock`, released when the process ends however it ends) while the server runs.
pub struct NodeClaim(#[allow(dead_code)] std::fs::File);

/// Claims this host's `[cluster] node` number in a shared `spool` for a running server, so
/// that two hosts given the same number (their queue ids could collide) are caught: waits up to
/// `patience` for a holder to go (the bricks of a cluster file system drop the locks of a
/// crashed host only when they notice its connection is gone), then says who holds it.
pub fn claim_node(
    spool: &std::path::Path,
    hostname: &str,
    patience: std::time::Duration,
) -> Result<NodeClaim, String> {
    use std::io::Write as _;
    let node = crate::queue::spool::id::node();
    let dir = spool.join(RUNNING);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(format!("node-{node}.lock"));
    let mut file =
        crate::store::keyfile::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let start = std::time::Instant::now();
    let mut told = false;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => return Err(format!("{}: {e}", path.display())),
        }
        // The holder's host name, as it wrote it (read within a bound: it is a host name).
        let mut holder = String::new();
        if let Ok(f) = std::fs::File::open(&path) {
            use std::io::Read as _;
            let _ = f.take(256).read_to_string(&mut holder);
        }
        let holder = holder.trim();
        if start.elapsed() >= patience {
            return Err(format!(
                "[cluster] node {node} is held by a running server on {holder:?} sharing this \
                 spool: give every host its own node number"
            ));
        }
        if !told {
            crate::events::event("cluster_node_busy")
                .field("node", node)
                .field("holder", holder)
                .emit();
            told = true;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    file.set_len(0)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(format!("{hostname}\n").as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(NodeClaim(file))
}

/// This process, registered as serving a configuration (`<spool>/running/<pid>` holding the
/// config file's path) so that commands editing that file can tell it; removed when dropped.
pub struct Registered(PathBuf);

impl Drop for Registered {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn canonical(path: &std::path::Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Register this process in `spool` as serving `config` (best effort: `None` when the spool is
/// not writable).
pub fn register(spool: &std::path::Path, config: &std::path::Path) -> Option<Registered> {
    let dir = running_dir(spool);
    std::fs::create_dir_all(&dir).ok()?;
    let file = dir.join(std::process::id().to_string());
    let text = canonical(config).to_string_lossy().into_owned();
    crate::store::durable::replace_cached(&file, text.as_bytes(), 0o644).ok()?;
    Some(Registered(file))
}

/// The binary a process runs (without the ` (deleted)` of one replaced since it started).
fn exe(pid: &str) -> Option<PathBuf> {
    let link = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    let text = link.to_string_lossy();
    Some(PathBuf::from(
        text.strip_suffix(" (deleted)").unwrap_or(&text).to_string(),
    ))
}

/// Send SIGHUP to every running server registered in `spool` as serving `config` (a postern
/// process, alive): the pids told. Registrations of processes that are gone are removed.
pub fn tell_running(spool: &std::path::Path, config: &std::path::Path) -> Vec<u32> {
    let want = canonical(config);
    let mine = exe("self");
    let Ok(entries) = std::fs::read_dir(running_dir(spool)) else {
        return Vec::new();
    };
    let mut told = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(pid) = name.parse::<u32>() else {
            continue;
        };
        let Some(theirs) = exe(&name) else {
            // Gone (or not ours to see): a stale registration.
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                let _ = std::fs::remove_file(entry.path());
            }
            continue;
        };
        let serves = std::fs::read_to_string(entry.path()).unwrap_or_default();
        let same_binary = mine.as_ref().is_some_and(|m| {
            m == &theirs || m.file_name().is_some() && m.file_name() == theirs.file_name()
        });
        if !same_binary || want != std::path::Path::new(serves.trim()) {
            continue;
        }
        let Ok(raw) = i32::try_from(pid) else {
            continue;
        };
        // SAFETY: kill has no memory-safety preconditions; the pid is a live postern process
        // registered for this configuration.
        if unsafe { libc::kill(raw, libc::SIGHUP) } == 0 {
            told.push(pid);
        }
    }
    told.sort_unstable();
    told
}
