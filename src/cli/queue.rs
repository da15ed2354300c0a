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
use crate::queue::deliver::{remote, Deliverer};
use crate::queue::spool::{
    self, Area, LockedMessage, QueueId, QueuedMessage, RecipientStatus, Spool,
};
use crate::store::users::Users;

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

/// The domain jobs of a message: its pending recipients grouped by where they really go (the
/// destination the runner connects to: `local`, a domain's MX, `server NAME`), so that mail
/// for many domains through one gateway is one job.
fn jobs<'m>(d: &Deliverer, users: &Users, m: &'m QueuedMessage) -> BTreeMap<String, Vec<&'m str>> {
    let mut jobs: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for r in &m.state.recipients {
        if r.status == RecipientStatus::Pending {
            jobs.entry(remote::job_of(&d.config, users, &r.address))
                .or_default()
                .push(&r.address);
        }
    }
    jobs
}

/// Whether `m` has a pending recipient in `domain`, or a job called `domain`.
fn has_domain(d: &Deliverer, users: &Users, m: &QueuedMessage, domain: &str) -> bool {
    let domain = domain.to_ascii_lowercase();
    jobs(d, users, m).iter().any(|(job, rcpts)| {
        *job == domain
            || rcpts.iter().any(|a| {
                a.rsplit_once('@')
                    .is_some_and(|(_, dom)| dom.eq_ignore_ascii_case(&domain))
            })
    })
}

fn json_of(
    jobs: &BTreeMap<String, Vec<&str>>,
    id: &QueueId,
    area: Area,
    m: &QueuedMessage,
    now: u64,
) -> serde_json::Value {
    let pending: Vec<&str> = m
        .state
        .recipients
        .iter()
        .filter(|r| r.status == RecipientStatus::Pending)
        .map(|r| r.address.as_str())
        .collect();
    let jobs: Vec<serde_json::Value> = jobs
        .iter()
        .map(|(dest, rcpts)| serde_json::json!({"destination": dest, "recipients": rcpts}))
        .collect();
    serde_json::json!({
        "id": id.as_str(),
        "held": area == Area::Hold,
        "quarantine": m.envelope.quarantine,
        "size": m.envelope.size,
        "received": m.envelope.received,
        "age": now.saturating_sub(m.envelope.received),
        "sender": m.envelope.sender,
        "recipients": pending,
        "jobs": jobs,
        "attempts": m.state.attempts,
        "next_try": m.state.next_try,
        "last_error": m.state.last_error(),
        "status": m.state.last_outcome().map(|o| o.status),
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
    let rt = super::process_runtime()?;
    let (_config, d) = open(flag, &rt)?;
    let spool = &d.spool;
    let users = d.users.get();
    let mut out = std::io::stdout().lock();
    let now = spool::now();
    match cmd {
        QueueCommand::Ls { json } => {
            let mut messages = Vec::new();
            for area in [Area::Queue, Area::Hold] {
                for id in spool.list(area)? {
                    if let Ok(m) = spool.peek(area, &id) {
                        messages.push((id, area, m));
                    }
                }
            }
            // Each message under every job it has (held ones under "(held)"), with the
            // recipients of that job.
            let mut by_job: BTreeMap<String, Vec<(usize, Vec<&str>)>> = BTreeMap::new();
            for (n, (id, area, m)) in messages.iter().enumerate() {
                let jobs = jobs(&d, &users, m);
                if json {
                    writeln!(out, "{}", json_of(&jobs, id, *area, m, now))?;
                    continue;
                }
                if *area == Area::Hold {
                    let all = jobs.into_values().flatten().collect();
                    by_job.entry("(held)".into()).or_default().push((n, all));
                    continue;
                }
                for (job, rcpts) in jobs {
                    by_job.entry(job).or_default().push((n, rcpts));
                }
            }
            if messages.is_empty() && !json {
                writeln!(out, "the queue is empty")?;
            }
            for (job, list) in by_job {
                writeln!(out, "{job}: {} message(s)", list.len())?;
                for (n, rcpts) in list {
                    let Some((id, area, m)) = messages.get(n) else {
                        continue;
                    };
                    let next = m.state.next_try.saturating_sub(now);
                    writeln!(
                        out,
                        "  {id}{}  {}  {}  <{}>  {}  attempts={}  next={}  {}",
                        if *area == Area::Hold { "!" } else { "" },
                        m.envelope.size,
                        age(now.saturating_sub(m.envelope.received)),
                        m.envelope.sender,
                        rcpts.join(","),
                        m.state.attempts,
                        if next == 0 { "now".into() } else { age(next) },
                        match (&m.envelope.quarantine, *area) {
                            (Some(why), Area::Hold) => format!("quarantined: {why}"),
                            _ => m.state.last_error().unwrap_or_default(),
                        }
                    )?;
                }
            }
        }
        QueueCommand::Show {
            id,
            json,
            body: with_body,
        } => {
            let id = parse_ids(&[id])?.remove(0);
            let area = spool.find(&id).ok_or_else(|| {
                Failure::new(
                    exit::NOINPUT,
                    anyhow::anyhow!("no message {id} in the queue"),
                )
            })?;
            let m = spool.peek(area, &id)?;
            let body = m.read_body()?;
            let headers = body.get(..find_header_end(&body)).unwrap_or(&body);
            if json {
                let v = serde_json::json!({
                    "id": id.as_str(),
                    "held": area == Area::Hold,
                    "envelope": m.envelope,
                    "state": m.state,
                    "headers": String::from_utf8_lossy(headers),
                });
                let mut v = v;
                if let (true, Some(map)) = (with_body, v.as_object_mut()) {
                    map.insert(
                        "message".into(),
                        String::from_utf8_lossy(&body).into_owned().into(),
                    );
                }
                writeln!(out, "{v}")?;
            } else {
                let held = if area == Area::Hold { " (held)" } else { "" };
                writeln!(out, "id: {id}{held}")?;
                writeln!(out, "sender: <{}>", m.envelope.sender)?;
                writeln!(out, "size: {}", m.envelope.size)?;
                writeln!(out, "age: {}", age(now.saturating_sub(m.envelope.received)))?;
                let origin = match m.envelope.origin {
                    crate::queue::spool::Origin::Smtp => "smtp",
                    crate::queue::spool::Origin::Sendmail => "sendmail",
                    crate::queue::spool::Origin::Collect => "collect",
                    crate::queue::spool::Origin::Bounce => {
                        "bounce (a delivery status notification)"
                    }
                };
                writeln!(out, "origin: {origin}")?;
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
                    let status = match r.status {
                        crate::queue::spool::RecipientStatus::Pending => "pending",
                        crate::queue::spool::RecipientStatus::Delivered => "delivered",
                        crate::queue::spool::RecipientStatus::Failed => "failed",
                    };
                    writeln!(
                        out,
                        "recipient: <{}> {} {}",
                        r.address,
                        status,
                        r.outcome
                            .as_ref()
                            .map(|o| o.to_string())
                            .unwrap_or_default()
                    )?;
                }
                writeln!(out)?;
                out.write_all(if with_body { &body } else { headers })?;
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
                            .is_ok_and(|m| has_domain(&d, &users, &m, &dom))
                    })
                    .collect(),
            };
            // A progress bar on a terminal (drawn on stderr); nothing when the output goes elsewhere.
            let tty = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
            let stats = if tty && !ids.is_empty() {
                let bar = indicatif::ProgressBar::new(ids.len() as u64);
                if let Ok(style) = indicatif::ProgressStyle::with_template(
                    "{spinner} flushing the queue {pos}/{len} [{bar:30}] {elapsed}",
                ) {
                    bar.set_style(style.progress_chars("=> "));
                }
                bar.enable_steady_tick(Duration::from_millis(100));
                let stats = d.run_with_progress(true, Some(ids), &|_| bar.inc(1));
                bar.finish_and_clear();
                stats?
            } else {
                d.run_once(true, Some(ids))?
            };
            run_result(stats)?;
        }
        QueueCommand::TlsReport { day } => tls_report(&d, &rt, day)?,
        QueueCommand::Hold { ids } => {
            for id in parse_ids(&ids)? {
                // Holding a held message is done already.
                if spool.find(&id) == Some(Area::Hold) {
                    continue;
                }
                lock(spool, &id, Some(Area::Queue))?.move_to(Area::Hold)?;
                crate::events::event("held").field("id", &id).emit();
            }
        }
        QueueCommand::Release { ids } => {
            for id in parse_ids(&ids)? {
                if spool.find(&id) == Some(Area::Queue) {
                    continue;
                }
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

/// `queue tls-report`: each MTA-STS domain's report of `day`, mailed to its `rua=mailto:`;
/// a domain's attempts (every host's file) are marked sent (`….jsonl.sent`) once the report is
/// queued, under a claim on the domain's report so that two runs never send it twice.
fn tls_report(d: &Deliverer, rt: &tokio::runtime::Runtime, day: Option<String>) -> CliResult {
    use crate::queue::deliver::remote::tlsrpt;
    let day = day.unwrap_or_else(|| tlsrpt::day_of(spool::now().saturating_sub(86_400)));
    let valid = day.len() == 10
        && day.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !valid {
        return Err(Failure::new(
            exit::USAGE,
            anyhow::anyhow!("--day {day:?}: expected YYYY-MM-DD"),
        ));
    }
    let config = d.config.clone();
    let resolver = {
        let _on = rt.enter();
        crate::dns::resolver(&config.dns()).map_err(|e| Failure::new(exit::TEMPFAIL, e))?
    };
    let mut failed = 0;
    for listed in tlsrpt::recorded(&config, &day) {
        let domain = listed.domain;
        // One reporter at a time (every host's cron may run this): the claim, then the
        // records again (another reporter may have sent them just before).
        let Some(claim) = tlsrpt::claim_report(&config, &day, &domain) else {
            println!("{domain}: the report for {day} is being sent by another run; left to it");
            continue;
        };
        let Some(recorded) = tlsrpt::recorded_for(&config, &day, &domain) else {
            claim.release();
            continue;
        };
        let attempts = recorded.attempts;
        let name = format!("_smtp._tls.{domain}");
        let to = match rt.block_on(crate::dns::txt(&resolver, &name)) {
            Ok(records) => tlsrpt::rua(&records),
            Err(e) => {
                eprintln!("{domain}: {e}; not reported");
                failed += 1;
                claim.release();
                continue;
            }
        };
        if to.is_empty() {
            println!("{domain}: no TLSRPT record with rua=mailto: at {name}; not reported");
            claim.release();
            continue;
        }
        let json = tlsrpt::report(&config, &domain, &day, &attempts).to_string();
        let sub = crate::intake::Submission {
            origin: crate::intake::Origin::Notification,
            sender: config.server.postmaster.clone(),
            recipients: to
                .iter()
                .map(|a| spool::Recipient::new(a.clone()))
                .collect(),
            data: tlsrpt::message(&config, &domain, &day, &to, json.as_bytes()),
        };
        let Ok(outcome) = crate::intake::accept_notification(d, sub, &mut crate::intake::NoRecord);
        match outcome {
            crate::intake::Outcome::Accepted(_) => {
                tlsrpt::mark_sent(&recorded.files);
                crate::events::event("tlsrpt_sent")
                    .field("domain", &domain)
                    .field("day", &day)
                    .field("to", to.join(","))
                    .field("sessions", attempts.len())
                    .emit();
                println!(
                    "{domain}: report for {day} ({} sessions) sent to {}",
                    attempts.len(),
                    to.join(", ")
                );
            }
            other => {
                failed += 1;
                let why = match other {
                    crate::intake::Outcome::Failed(e) => e.to_string(),
                    crate::intake::Outcome::Refused(r) => r.text(),
                    crate::intake::Outcome::Accepted(_) => String::new(),
                };
                eprintln!("{domain}: the report could not be queued: {why}");
            }
        }
        claim.release();
    }
    if failed > 0 {
        return Err(Failure::new(
            exit::TEMPFAIL,
            anyhow::anyhow!("{failed} reports not sent; run again later"),
        ));
    }
    Ok(())
}
