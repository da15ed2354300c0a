//! `postern deliver`, `postern queue …`, `postern sendmail`.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::args::{DeliverArgs, SendmailArgs};
use super::{exit, load_config, CliResult, Failure};
use crate::config::Config;
use crate::deliver::Deliverer;
use crate::spool::{self, Envelope, Origin, QueueId, Recipient, Spool};
use crate::users::UsersCache;

pub(super) fn open(flag: Option<&Path>) -> Result<(Arc<Config>, Deliverer), Failure> {
    let config = Arc::new(load_config(flag)?);
    crate::events::set_format(config.log.format);
    let spool =
        Arc::new(Spool::open(&config.paths.spool).map_err(|e| Failure::new(exit::CANTCREAT, e))?);
    let users = Arc::new(UsersCache::new(&config.paths.users)?);
    let d = Deliverer::new(config.clone(), spool, users);
    Ok((config, d))
}

/// A queue run's stats as the command's result: EX_TEMPFAIL when messages could not be handled.
pub(super) fn run_result(stats: crate::deliver::RunStats) -> CliResult {
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
    let (config, d) = open(flag)?;
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
    d.run_forever(Duration::from_secs(
        config.delivery.scan_interval.0.clamp(1, 3600),
    ))
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
    let (config, d) = open(flag)?;
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
    let message = crate::sendmail::prepare(&raw, ignore_dots, &config.server.hostname);
    let mut recipients = args.recipients.clone();
    if args.from_headers {
        recipients.extend(crate::sendmail::header_recipients(
            &message.headers_for_rcpts,
        ));
    }
    let recipients: Vec<String> = recipients
        .into_iter()
        .map(|r| crate::sendmail::qualify(r.trim(), &config.server.hostname))
        .filter(|r| !r.is_empty())
        .collect();
    if recipients.is_empty() {
        return Err(Failure::new(
            exit::USAGE,
            anyhow::anyhow!("no recipients given"),
        ));
    }
    for r in &recipients {
        crate::smtp::address::check_mailbox(r, true).map_err(|e| {
            Failure::new(exit::DATAERR, anyhow::anyhow!("bad recipient {r:?}: {e}"))
        })?;
    }
    let login = std::env::var("USER").unwrap_or_else(|_| "root".into());
    let sender = match args.from {
        Some(f) if f.is_empty() || f == "<>" => String::new(),
        Some(f) => crate::sendmail::qualify(f.trim_matches(['<', '>']), &config.server.hostname),
        None => crate::sendmail::qualify(&login, &config.server.hostname),
    };
    let id = QueueId::generate();
    let now = spool::now();
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    let received = format!(
        "Received: by {} (postern sendmail, uid {uid}) id {id};\r\n\t{}\r\n",
        config.server.hostname,
        crate::mail::date::rfc5322_date(now)
    );
    if let Some(filter) = &config.filter {
        let input = crate::filter::Input {
            sender: &sender,
            recipients: &recipients,
            client: None,
            origin: "sendmail",
        };
        match crate::filter::run_blocking(filter, &message.bytes, input) {
            crate::filter::Verdict::Accept => {}
            crate::filter::Verdict::Reject(r) => {
                let why = String::from_utf8_lossy(&r.to_bytes()).trim().to_string();
                return Err(Failure::new(exit::DATAERR, anyhow::anyhow!("{why}")));
            }
            crate::filter::Verdict::TempFail(r) => {
                let why = String::from_utf8_lossy(&r.to_bytes()).trim().to_string();
                return Err(Failure::new(exit::TEMPFAIL, anyhow::anyhow!("{why}")));
            }
        }
    }
    let users = d.users.get();
    let all = recipients
        .iter()
        .map(|r| Recipient::new(r.clone()))
        .collect();
    let screened = crate::policy::restrictions::screen(&config, &users, all, &message.bytes);
    for (rcpt, reply) in &screened.refused {
        let why = crate::policy::restrictions::reply_text(reply);
        if screened.all_refused {
            return Err(Failure::new(exit::DATAERR, anyhow::anyhow!("{why}")));
        }
        eprintln!("sendmail: {rcpt}: {why}; a delivery status notification follows");
    }
    let envelope = Envelope {
        sender,
        recipients: screened.recipients,
        received: now,
        origin: Origin::Sendmail,
        client: None,
        helo: None,
        trusted: true,
        auth_user: Some(login),
        size: (received.len() + message.bytes.len()) as u64,
        smtputf8: !message.bytes.is_ascii(),
        dsn_ret: None,
        dsn_envid: None,
    };
    d.spool
        .store_as(&id, &envelope, &[received.as_bytes(), &message.bytes])
        .map_err(|e| Failure::new(exit::TEMPFAIL, e))?;
    crate::events::event("message_received")
        .field("id", &id)
        .field("from", &envelope.sender)
        .field("to", crate::routing::addresses(&envelope.recipients))
        .field("size", envelope.size)
        .field("origin", "sendmail")
        .emit();
    crate::policy::restrictions::log_refused(&id, &envelope.recipients);
    // Immediate attempt; whatever is left waits for the queue runner.
    if config.delivery.immediate {
        let _ = d.attempt(&id, true);
        d.close_idle();
    }
    Ok(())
}
