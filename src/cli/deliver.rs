//! `postern deliver`, `postern queue …`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::args::DeliverArgs;
use super::{exit, load_config, CliResult, Failure};
use crate::config::Config;
use crate::intake::{Handoff, Intake};
use crate::queue::deliver::Deliverer;
use crate::queue::spool::{QueueId, Spool};
use crate::store::users::UsersCache;

/// The config and a deliverer on the process's runtime `rt` (remote delivery runs on it).
pub(super) fn open(
    flag: Option<&Path>,
    rt: &tokio::runtime::Runtime,
) -> Result<(Arc<Config>, Deliverer), Failure> {
    let _on = rt.enter();
    let config = Arc::new(load_config(flag)?);
    crate::events::set_format(config.log.format);
    let spool =
        Arc::new(Spool::open(&config.paths.spool).map_err(|e| Failure::new(exit::CANTCREAT, e))?);
    let users = Arc::new(UsersCache::for_config(&config)?);
    let d = Deliverer::new(config.clone(), spool, users);
    Ok((config, d))
}

/// A queue run's stats as the command's result: EX_TEMPFAIL when messages could not be handled.
pub(super) fn run_result(stats: crate::queue::deliver::RunStats) -> CliResult {
    if stats.errors > 0 {
        return Err(Failure::new(
            exit::TEMPFAIL,
            anyhow::anyhow!(
                "{} messages could not be handled; see the log",
                stats.errors
            ),
        ));
    }
    Ok(())
}

pub(super) fn parse_ids(ids: &[String]) -> Result<Vec<QueueId>, Failure> {
    ids.iter()
        .map(|s| {
            QueueId::parse(s).ok_or_else(|| {
                Failure::new(exit::USAGE, anyhow::anyhow!("{s:?} is not a queue id"))
            })
        })
        .collect()
}

pub fn deliver(flag: Option<&Path>, args: DeliverArgs) -> CliResult {
    let rt = super::process_runtime()?;
    let (config, d) = open(flag, &rt)?;
    let ids = if args.ids.is_empty() {
        None
    } else {
        Some(parse_ids(&args.ids)?)
    };
    let force = ids.is_some();
    // Mail that users without access to the spool left in the maildrop: taken in first.
    let d = Arc::new(d);
    let intake = Arc::new(Intake::new(d.clone(), Handoff::Attempt));
    if args.watch {
        let _on = rt.enter();
        crate::receive::maildrop::spawn(intake);
    } else if ids.is_none() {
        let dir = crate::receive::maildrop::dir(&config.paths.spool);
        if crate::receive::maildrop::ensure_dir(&dir).is_ok() {
            rt.block_on(crate::receive::maildrop::pickup(&intake, &dir));
        }
    }
    if !args.watch {
        // A queue run from cron cleans too (at most once per interval, whoever runs).
        if ids.is_none() {
            d.clean_spool();
        }
        return run_result(d.run_once(force, ids)?);
    }
    watch(flag, &rt, config, d)
}

/// `deliver --watch`: queue runs every `delivery.scan_interval`; at SIGHUP the configuration is
/// read again (from the next scan on; a broken one is refused and the running one kept) and the
/// log file opened again.
fn watch(
    flag: Option<&Path>,
    rt: &tokio::runtime::Runtime,
    mut config: Arc<Config>,
    mut d: Arc<Deliverer>,
) -> CliResult {
    use std::sync::atomic::{AtomicBool, Ordering};
    let hangup = Arc::new(AtomicBool::new(false));
    {
        let _on = rt.enter();
        let mut signals = crate::driver::reload::hangups();
        let seen = hangup.clone();
        rt.spawn(async move {
            while crate::driver::reload::next(&mut signals).await.is_some() {
                seen.store(true, Ordering::SeqCst);
            }
        });
    }
    loop {
        d.run_interval(Duration::from_secs(
            config.delivery.scan_interval.0.clamp(1, 3600),
        ));
        if !hangup.swap(false, Ordering::SeqCst) {
            continue;
        }
        let path = crate::config::resolve_path(flag);
        match open(flag, rt) {
            Ok((c, new)) => {
                (config, d) = (c, Arc::new(new));
                crate::events::event("reloaded")
                    .field("config", path.display())
                    .emit();
            }
            Err(f) => {
                let _ = crate::events::reopen();
                crate::events::event("reload_failed")
                    .field("config", path.display())
                    .field("error", format!("{:#}", f.error))
                    .field("effect", "the running configuration is kept")
                    .emit();
            }
        }
    }
}

pub use super::queue::queue;

/// Offset just after the header section (after the blank line), or the whole length.
pub(super) fn find_header_end(msg: &[u8]) -> usize {
    msg.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .or_else(|| msg.windows(2).position(|w| w == b"\n\n").map(|p| p + 2))
        .unwrap_or(msg.len())
}
