//! `postern deliver`, `postern queue …`, `postern sendmail`.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::args::{DeliverArgs, SendmailArgs};
use super::{exit, load_config, CliResult, Failure};
use crate::config::Config;
use crate::intake::{Handoff, Intake, Origin, Outcome, Submission};
use crate::queue::deliver::Deliverer;
use crate::queue::spool::{QueueId, Recipient, Spool};
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
    let users = Arc::new(UsersCache::new(&config.paths.users)?);
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
    mut d: Deliverer,
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
                (config, d) = (c, new);
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

/// Largest message sendmail reads from standard input.
const SENDMAIL_MAX: u64 = 64 * 1024 * 1024;

pub fn sendmail(flag: Option<&Path>, args: SendmailArgs) -> CliResult {
    let rt = super::process_runtime()?;
    let (config, d) = open(flag, &rt)?;
    let ignore_dots = args.ignore_dots || args.options.iter().any(|o| o == "=i" || o == "i");
    let mut raw = Vec::new();
    std::io::stdin()
        .take(SENDMAIL_MAX + 1)
        .read_to_end(&mut raw)?;
    if raw.len() as u64 > SENDMAIL_MAX || raw.len() as u64 > config.limits.message_size.0 {
        return Err(Failure::new(
            exit::DATAERR,
            anyhow::anyhow!("message too large"),
        ));
    }
    let message = crate::receive::sendmail::prepare(&raw, ignore_dots, &config.server.hostname);
    let mut recipients = args.recipients.clone();
    if args.from_headers {
        recipients.extend(crate::receive::sendmail::header_recipients(
            &message.headers_for_rcpts,
        ));
    }
    let recipients: Vec<String> = recipients
        .into_iter()
        .map(|r| crate::receive::sendmail::qualify(r.trim(), &config.server.hostname))
        .filter(|r| !r.is_empty())
        .collect();
    if recipients.is_empty() {
        return Err(Failure::new(
            exit::USAGE,
            anyhow::anyhow!("no recipients given"),
        ));
    }
    for r in &recipients {
        crate::proto::smtp::address::check_mailbox(r, true).map_err(|e| {
            Failure::new(exit::DATAERR, anyhow::anyhow!("bad recipient {r:?}: {e}"))
        })?;
    }
    let login = std::env::var("USER").unwrap_or_else(|_| "root".into());
    let sender = match args.from {
        Some(f) if f.is_empty() || f == "<>" => String::new(),
        Some(f) => {
            crate::receive::sendmail::qualify(f.trim_matches(['<', '>']), &config.server.hostname)
        }
        None => crate::receive::sendmail::qualify(&login, &config.server.hostname),
    };
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    let sub = Submission {
        origin: Origin::Sendmail { uid, login },
        sender,
        recipients: recipients.into_iter().map(Recipient::new).collect(),
        data: message.bytes,
    };
    let intake = Intake::new(Arc::new(d), Handoff::Attempt);
    let outcome = rt.block_on(intake.accept(sub));
    intake.deliverer().close_idle();
    match outcome {
        Outcome::Accepted(a) => {
            for (rcpt, reply) in &a.refused {
                let why = crate::receive::policy::restrictions::reply_text(reply);
                eprintln!("sendmail: {rcpt}: {why}; a delivery status notification follows");
            }
        }
        Outcome::Refused(r) => {
            let code = if r.is_temporary() {
                exit::TEMPFAIL
            } else {
                exit::DATAERR
            };
            return Err(Failure::new(code, anyhow::anyhow!("{}", r.text())));
        }
        Outcome::Failed(e) => return Err(Failure::new(exit::TEMPFAIL, e)),
    }
    Ok(())
}
