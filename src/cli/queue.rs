//! `postern queue ls | show | abort | flush | hold | release`.
//!
//! Safe beside a running `deliver --watch` or `serve`: every change takes the message's lock
//! (waiting a while for a delivery in progress to end), and the runner skips what it cannot lock
//! or no longer finds in `queue/`.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use super::args::QueueCommand;
use super::deliver::{find_header_end, open, parse_ids, run_result};
use super::{exit, CliResult, Failure};
use crate::spool::{self, Area, LockedMessage, QueueId, QueuedMessage, RecipientStatus, Spool};

/// How long a command waits for a message that is being delivered right now.
const LOCK_WAIT: Duration = Duration::from_secs(30);

fn age(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// The domain jobs of a message: pending recipients grouped by domain.
fn jobs(m: &QueuedMessage) -> BTreeMap<String, Vec<&str>> {
    let mut jobs: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for r in &m.state.recipients {
        if r.status == RecipientStatus::Pending {
            let domain = r.address.rsplit_once('@').map_or("", |(_, d)| d);
            jobs.entry(domain.to_ascii_lowercase())
                .or_default()
                .push(&r.address);
        }
    }
    jobs
}

fn json_of(id: &QueueId, area: Area, m: &QueuedMessage, now: u64) -> serde_json::Value {
    let pending: Vec<&str> = jobs(m).into_values().flatten().collect();
    let jobs: Vec<serde_json::Value> = jobs(m)
        .into_iter()
        .map(|(domain, rcpts)| serde_json::json!({"domain": domain, "recipients": rcpts}))
        .collect();
    serde_json::json!({
        "id": id.as_str(),
        "held": area == Area::Hold,
        "size": m.envelope.size,
        "received": m.envelope.received,
        "age": now.saturating_sub(m.envelope.received),
        "sender": m.envelope.sender,
        "recipients": pending,
        "jobs": jobs,
        "attempts": m.state.attempts,
        "next_try": m.state.next_try,
        "last_error": m.state.last_error,
    })
}

/// Lock a message, waiting while a deliverer holds it.
fn lock(spool: &Spool, id: &QueueId, want: Option<Area>) -> Result<LockedMessage, Failure> {
    let start = Instant::now();
    loop {
        let area = spool.find(id).ok_or_else(|| {
            Failure::new(
                exit::NOINPUT,
                anyhow::anyhow!("no message {id} in the queue"),
            )
        })?;
        if let Some(w) = want {
            if w != area {
                let where_ = if area == Area::Hold {
                    "held"
                } else {
                    "not held"
                };
                return Err(Failure::new(
                    exit::USAGE,
                    anyhow::anyhow!("message {id} is {where_}"),
                ));
            }
        }
        if let Some(m) = spool.try_lock(area, id)? {
            return Ok(m);
        }
        if start.elapsed() > LOCK_WAIT {
            return Err(Failure::new(
                exit::TEMPFAIL,
                anyhow::anyhow!("message {id} is being delivered; try again"),
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn queue(flag: Option<&Path>, cmd: QueueCommand) -> CliResult {
    let (_config, d) = open(flag)?;
    let spool = &d.spool;
    let mut out = std::io::stdout().lock();
    let now = spool::now();
    match cmd {
        QueueCommand::Ls { json } => {
            let mut by_job: BTreeMap<String, Vec<(QueueId, Area, QueuedMessage)>> = BTreeMap::new();
            for area in [Area::Queue, Area::Hold] {
                for id in spool.list(area)? {
                    let Ok(m) = spool.peek(area, &id) else {
                        continue;
                    };
                    if json {
                        writeln!(out, "{}", json_of(&id, area, &m, now))?;
                        continue;
                    }
                    let key = if area == Area::Hold {
                        "(held)".to_string()
                    } else {
                        jobs(&m).into_keys().collect::<Vec<_>>().join(",")
                    };
                    by_job.entry(key).or_default().push((id, area, m));
                }
            }
            for (job, msgs) in by_job {
                writeln!(out, "{job}: {} message(s)", msgs.len())?;
                for (id, area, m) in msgs {
                    let next = m.state.next_try.saturating_sub(now);
                    writeln!(
                        out,
                        "  {id}{}  {}  {}  <{}>  {}  attempts={}  next={}  {}",
                        if area == Area::Hold { "!" } else { "" },
                        m.envelope.size,
                        age(now.saturating_sub(m.envelope.received)),
                        m.envelope.sender,
                        jobs(&m)
                            .into_values()
                            .flatten()
                            .collect::<Vec<_>>()
                            .join(","),
                        m.state.attempts,
                        if next == 0 { "now".into() } else { age(next) },
                        m.state.last_error.as_deref().unwrap_or("")
                    )?;
                }
            }
        }
        QueueCommand::Show { id, json } => {
            let id = parse_ids(&[id])?.remove(0);
            let area = spool.find(&id).ok_or_else(|| {
                Failure::new(
                    exit::NOINPUT,
                    anyhow::anyhow!("no message {id} in the queue"),
                )
            })?;
            let m = spool.peek(area, &id)?;
            let body = m.read_body()?;
            let headers = &body[..find_header_end(&body)];
            if json {
                let v = serde_json::json!({
                    "id": id.as_str(),
                    "held": area == Area::Hold,
                    "envelope": m.envelope,
                    "state": m.state,
                    "headers": String::from_utf8_lossy(headers),
                });
                writeln!(out, "{v}")?;
            } else {
                let held = if area == Area::Hold { " (held)" } else { "" };
                writeln!(out, "id: {id}{held}")?;
                writeln!(out, "sender: <{}>", m.envelope.sender)?;
                writeln!(out, "size: {}", m.envelope.size)?;
                writeln!(out, "age: {}", age(now.saturating_sub(m.envelope.received)))?;
                writeln!(out, "origin: {:?}", m.envelope.origin)?;
                if let Some(c) = &m.envelope.client {
                    writeln!(out, "client: {c}")?;
                }
                writeln!(out, "attempts: {}", m.state.attempts)?;
                writeln!(
                    out,
                    "next try: in {}",
                    age(m.state.next_try.saturating_sub(now))
                )?;
                for r in &m.state.recipients {
                    writeln!(
                        out,
                        "recipient: <{}> {:?} {}",
                        r.address,
                        r.status,
                        r.last_error.as_deref().unwrap_or("")
                    )?;
                }
                writeln!(out)?;
                out.write_all(headers)?;
            }
        }
        QueueCommand::Abort { ids, bounce } => {
            for id in parse_ids(&ids)? {
                let m = lock(spool, &id, None)?;
                d.abort(m, bounce)?;
            }
        }
        QueueCommand::Flush { domain } => {
            let ids = spool.list(Area::Queue)?;
            let ids: Vec<QueueId> = match domain {
                None => ids,
                Some(dom) => ids
                    .into_iter()
                    .filter(|id| {
                        spool
                            .peek(Area::Queue, id)
                            .is_ok_and(|m| jobs(&m).contains_key(&dom.to_ascii_lowercase()))
                    })
                    .collect(),
            };
            let stats = if std::io::stdout().is_terminal() && !ids.is_empty() {
                let bar = indicatif::ProgressBar::new(ids.len() as u64);
                let stats = d.run_with_progress(true, Some(ids), &|_| bar.inc(1));
                bar.finish_and_clear();
                stats?
            } else {
                d.run_once(true, Some(ids))?
            };
            run_result(stats)?;
        }
        QueueCommand::Hold { ids } => {
            for id in parse_ids(&ids)? {
                lock(spool, &id, Some(Area::Queue))?.move_to(Area::Hold)?;
                crate::events::event("held").field("id", &id).emit();
            }
        }
        QueueCommand::Release { ids } => {
            for id in parse_ids(&ids)? {
                let mut m = lock(spool, &id, Some(Area::Hold))?;
                m.move_to(Area::Queue)?;
                // Released mail is due at once.
                m.msg.state.next_try = 0;
                m.save_state()?;
                crate::events::event("released").field("id", &id).emit();
            }
        }
    }
    Ok(())
}
