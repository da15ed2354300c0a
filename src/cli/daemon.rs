//! `postern serve`, `smtpd`, `popd`, `imapd`: choosing the hosting mode and running it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::Context;

use super::args::{DaemonArgs, ServeArgs};
use super::{exit, load_config, CliResult, Failure};
use crate::config::{Config, Listener, Protocol, TlsMode};
use crate::driver::net;
use crate::driver::{self, Shared};

/// How long a stopping daemon waits for blocking work after its sessions have ended.
const SHUTDOWN_LEFTOVERS: Duration = Duration::from_secs(2);

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    super::process_runtime()
}

/// The listener settings a daemon uses for sockets it did not get from the config.
fn listener_settings(
    config: &Config,
    protocol: Protocol,
    name: Option<&str>,
) -> Result<Listener, Failure> {
    if let Some(name) = name {
        let l = config.listener(name).ok_or_else(|| {
            Failure::new(
                exit::CONFIG,
                anyhow::anyhow!("no listener named {name:?} in the config"),
            )
        })?;
        if l.protocol.daemon() != protocol.daemon() {
            return Err(Failure::new(
                exit::USAGE,
                anyhow::anyhow!("listener {name:?} is not for {}", protocol.daemon()),
            ));
        }
        return Ok(l.clone());
    }
    Ok(Listener {
        name: protocol.daemon().to_string(),
        protocol,
        address: ([0, 0, 0, 0], 0).into(),
        tls: TlsMode::None,
        cert: None,
        key: None,
        trusted: false,
    })
}

pub fn daemon(flag: Option<&Path>, protocol: Protocol, args: DaemonArgs) -> CliResult {
    let config = Arc::new(load_config(flag)?);
    let rt = runtime()?;
    let result = rt.block_on(async move {
        let shared = Shared::open(config.clone()).map_err(|e| Failure::new(exit::CONFIG, e))?;
        if args.inetd {
            let settings = listener_settings(&config, protocol, args.listener.as_deref())?;
            let listener = Arc::new(
                driver::ListenerRuntime::new(settings)
                    .map_err(|e| Failure::new(exit::CONFIG, e))?,
            );
            let conn = net::inetd_conn().context("cannot use standard input as the connection")?;
            // A superserver may send SIGTERM the moment the connection closes (socat does):
            // caught from the start, it ends the session if one is still going, and then
            // messages already handed over (in the spool) still get their immediate delivery,
            // the wait bounded by DRAIN_LIMIT.
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .context("cannot catch SIGTERM")?;
            // One session: SIGHUP does not end it (it keeps the settings it started with); the
            // log file is opened again.
            let mut hangups = driver::reload::hangups();
            let session = driver::handle(shared.clone(), listener, conn);
            tokio::pin!(session);
            loop {
                tokio::select! {
                    () = &mut session => break,
                    _ = term.recv() => {
                        crate::events::event("terminated").field("signal", "TERM").emit();
                        break;
                    }
                    Some(()) = driver::reload::next(&mut hangups) => {
                        let _ = crate::events::reopen();
                    }
                }
            }
            tokio::time::timeout(crate::receive::smtp::DRAIN_LIMIT, shared.immediate.drain())
                .await
                .ok();
            return Ok(());
        }
        let mut sockets = Vec::new();
        if !args.listen.is_empty() {
            let settings = listener_settings(&config, protocol, args.listener.as_deref())?;
            for addr in &args.listen {
                let mut l = settings.clone();
                l.address = *addr;
                sockets.push((
                    l,
                    net::bind(*addr)
                        .await
                        .map_err(|e| Failure::new(exit::OSERR, e))?,
                ));
            }
        } else if net::has_systemd_listeners() {
            let settings = listener_settings(&config, protocol, args.listener.as_deref())?;
            for socket in net::systemd_listeners().context("cannot use the sockets from systemd")? {
                let mut l = settings.clone();
                if let Ok(addr) = socket.local_addr() {
                    l.address = addr;
                }
                sockets.push((l, socket));
            }
        } else {
            for l in config
                .listeners
                .iter()
                .filter(|l| l.protocol.daemon() == protocol.daemon())
            {
                if args.listener.as_deref().is_some_and(|n| n != l.name) {
                    continue;
                }
                sockets.push((
                    l.clone(),
                    net::bind(l.address)
                        .await
                        .map_err(|e| Failure::new(exit::OSERR, e))?,
                ));
            }
        }
        if sockets.is_empty() {
            return Err(Failure::new(
                exit::CONFIG,
                anyhow::anyhow!(
                    "no {} listener: configure one, or use --listen or --inetd",
                    protocol.daemon()
                ),
            ));
        }
        let reload = driver::reload::Reload {
            config_path: crate::config::resolve_path(flag),
            then: None,
        };
        driver::run_listeners(shared, sockets, Some(reload))
            .await
            .map_err(|e| Failure::new(exit::CONFIG, e))?;
        Ok(())
    });
    // Work still running on the blocking pool (a delivery attempt) is not waited for past this:
    // everything in the spool is crash-safe.
    rt.shutdown_timeout(SHUTDOWN_LEFTOVERS);
    result
}

pub fn serve(flag: Option<&Path>, args: ServeArgs) -> CliResult {
    let config_path: Option<PathBuf> = match &args.demo {
        Some(dir) => Some(super::demo::ensure(dir, args.port_offset)?),
        None => flag.map(Path::to_path_buf),
    };
    let config = Arc::new(load_config(config_path.as_deref())?);
    if let Some(dir) = &args.demo {
        eprintln!(
            "postern demo in {}: user demo, password in {}; SMTP 127.0.0.1:{}, IMAP {}, POP3 {}, \
             ManageSieve {}",
            dir.display(),
            dir.join("demo-password").display(),
            2525 + args.port_offset,
            2143 + args.port_offset,
            2110 + args.port_offset,
            4190 + args.port_offset
        );
    }
    let rt = runtime()?;
    let result = rt.block_on(async move {
        let shared = Shared::open(config.clone()).map_err(|e| Failure::new(exit::CONFIG, e))?;
        let mut sockets = Vec::new();
        for l in &config.listeners {
            sockets.push((
                l.clone(),
                net::bind(l.address)
                    .await
                    .map_err(|e| Failure::new(exit::OSERR, e))?,
            ));
        }
        // On a spool shared with other hosts, this host's `[cluster] node` (part of every queue
        // id it makes) is claimed first, for as long as the server runs.
        let spool = shared.config.paths.spool.clone();
        let _node = if shared.config.cluster.is_shared(&spool) {
            let hostname = shared.config.server.hostname.clone();
            // A crashed host's claim goes when the file system's bricks notice its connection
            // is gone (TCP keepalive, ~40 s with GlusterFS's defaults) or once it is back.
            let patience = shared.config.cluster.node_wait.duration();
            let claim = tokio::task::spawn_blocking(move || {
                driver::reload::claim_node(&spool, &hostname, patience)
            })
            .await
            .map_err(|e| Failure::new(exit::SOFTWARE, e))?
            .map_err(|e| Failure::new(exit::CONFIG, anyhow::anyhow!(e)))?;
            Some(claim)
        } else {
            None
        };
        // The queue runner: retries, anything the immediate attempts missed, and mail waiting
        // for a full volume to have room (blocking work: its own thread). After a reload it
        // goes on with the new deliverer from its next scan.
        let runner = Arc::new(RwLock::new(shared.deliverer.clone()));
        let current = runner.clone();
        std::thread::Builder::new()
            .name("queue-runner".into())
            .spawn(move || loop {
                let d = current
                    .read()
                    .map_or_else(|e| e.into_inner().clone(), |d| d.clone());
                let secs = d.config.delivery.scan_interval.0.clamp(1, 3600);
                d.run_interval(Duration::from_secs(secs));
            })
            .map_err(|e| Failure::new(exit::OSERR, e))?;
        // Local submissions by users who cannot write the spool (postdrop's role).
        crate::receive::maildrop::spawn(shared.intake.clone());
        let schedule = Mutex::new(collect_schedule(&shared));
        // Certificates from the ACME CA: checked at start and every acme.check_interval.
        let acme = Mutex::new(crate::acme::spawn_schedule(shared.config.clone()));
        let then: driver::reload::Then = Box::new(move |shared| {
            if let Ok(mut d) = runner.write() {
                *d = shared.deliverer.clone();
            }
            if let Ok(mut tasks) = schedule.lock() {
                for t in tasks.drain(..) {
                    t.abort();
                }
                *tasks = collect_schedule(shared);
            }
            if let Ok(mut task) = acme.lock() {
                if let Some(t) = task.take() {
                    t.abort();
                }
                *task = crate::acme::spawn_schedule(shared.config.clone());
            }
        });
        let reload = driver::reload::Reload {
            config_path: crate::config::resolve_path(config_path.as_deref()),
            then: Some(then),
        };
        if sockets.is_empty() {
            crate::events::event("no_listeners")
                .field("running", "queue runner and collection")
                .emit();
        }
        driver::run_listeners(shared, sockets, Some(reload))
            .await
            .map_err(|e| Failure::new(exit::CONFIG, e))?;
        Ok(())
    });
    // Work still running on the blocking pool (a delivery attempt) is not waited for past this:
    // everything in the spool is crash-safe.
    rt.shutdown_timeout(SHUTDOWN_LEFTOVERS);
    result
}

/// `serve`'s collection schedule over `shared`.
fn collect_schedule(shared: &Arc<Shared>) -> Vec<tokio::task::JoinHandle<()>> {
    crate::receive::collect::spawn_schedule(Arc::new(crate::receive::collect::Collector {
        config: shared.config.clone(),
        spool: shared.spool.clone(),
        users: shared.users.clone(),
        intake: shared.intake.clone(),
    }))
}
