//! Local recipients written to their mailboxes by the intake itself, before the message is
//! acknowledged, so that a message for local users costs one durable write instead of two (the
//! spool, then the maildir).
//!
//! Only when it is simple: every recipient routes to a local mailbox, none is refused, none asks
//! for a success report (NOTIFY=SUCCESS), no loop is seen, at most [`MAX_MAILBOXES`] mailboxes.
//! Anything else goes through the spool as before. The writing is the queue runner's own local
//! delivery ([`crate::queue::deliver::local`]: Return-Path and Delivered-To, quota, the maildir's
//! `tmp/` → fsync → `new/` with a name made from the id and the recipient's index); a recipient
//! it does not deliver (over quota, a full or failing volume) stays pending for the spool. A
//! delivery counts only once `new/` is fsynced (shared with concurrent deliveries into that
//! maildir through the deliverer's [`crate::queue::spool::dirsync::DirSync`]).

use std::fs;
use std::path::PathBuf;

use crate::queue::deliver::loops::Hops;
use crate::queue::deliver::{dsn, local, Deliverer, RecipientResult};
use crate::queue::routing::{route_expanded as route, Route};
use crate::queue::spool::{Envelope, QueueId, RecipientStatus};

/// Most mailboxes written before the acknowledgement: each costs two fsyncs the client waits
/// for. A message for more goes through the spool and is delivered after it.
pub const MAX_MAILBOXES: usize = 8;

/// What was delivered now.
#[derive(Debug, Default)]
pub(super) struct Now {
    /// Recipients (indexes into the envelope) durably in their mailboxes.
    pub delivered: Vec<usize>,
    /// The mailbox (user) each of those went to, for the log.
    pub mailboxes: Vec<(usize, String)>,
    /// The files written: (maildir, delivery key), to take back if the message is not
    /// accepted after all.
    written: Vec<(PathBuf, String)>,
    /// The recipient's Sieve script refused the message (`reject`/`ereject`) and it may be
    /// refused in protocol: its reason. Nothing is delivered then.
    pub refused: Option<String>,
}

/// The recipients of `env` to write now, as (index, user), when every one of them may be.
fn plan(d: &Deliverer, env: &Envelope, message: &[u8]) -> Option<Vec<(usize, String)>> {
    let users = d.users.get();
    let hops = Hops::of(message);
    let mut plan: Vec<(usize, String)> = Vec::with_capacity(env.recipients.len());
    let mut mailboxes = 0;
    for (i, r) in env.recipients.iter().enumerate() {
        if r.status != RecipientStatus::Pending
            || dsn::wants(r, dsn::Kind::Success)
            || hops.check(&r.address, d.config.limits.max_hops).is_some()
        {
            return None;
        }
        let Ok(Route::Local { user }) = route(&d.config, &users, &r.address) else {
            return None;
        };
        if !plan.iter().any(|(_, u)| *u == user) {
            mailboxes += 1;
        }
        plan.push((i, user));
    }
    (mailboxes <= MAX_MAILBOXES && !plan.is_empty()).then_some(plan)
}

/// Write message `id` (`message`: as it would be queued, trace header included) to the
/// mailboxes of the recipients of `env`, when every one is local and simple (else nothing).
/// With `may_refuse` (an SMTP transaction) and a single recipient, a Sieve `reject`/`ereject`
/// refuses the message ([`Now::refused`], RFC 5429 §2.1.1); with several it stays a bounce
/// (§2.1.2: the others may take it).
pub(super) fn deliver(
    d: &Deliverer,
    id: &QueueId,
    env: &Envelope,
    message: &[u8],
    may_refuse: bool,
) -> Now {
    let mut now = Now::default();
    let Some(plan) = plan(d, env, message) else {
        return now;
    };
    let job = local::Job {
        id,
        sender: &env.sender,
        recovering: false,
        filter_effects: false,
        auth: env.auth_user.as_deref(),
        refuse_in_protocol: may_refuse && plan.len() == 1 && env.recipients.len() == 1,
    };
    // (index, directories to sync) of each delivery; two recipients in one mailbox get one
    // copy, as in the queue runner.
    let mut done: Vec<(usize, Vec<PathBuf>)> = Vec::with_capacity(plan.len());
    let mut users_done: Vec<(&str, Vec<PathBuf>)> = Vec::new();
    for (i, user) in &plan {
        if let Some((_, dirs)) = users_done.iter().find(|(u, _)| u == user) {
            done.push((*i, dirs.clone()));
            continue;
        }
        let Some(r) = env.recipients.get(*i) else {
            continue;
        };
        let mut landed = local::Landed::default();
        let result = local::deliver(d, &job, *i, user, r, message, &mut landed);
        // Even an unfinished delivery (a Sieve copy written before another failed) is taken
        // back if the message is not accepted.
        now.written.extend(landed.files);
        if landed.refused.is_some() {
            now.refused = landed.refused;
            now.take_back();
            return now;
        }
        if let RecipientResult::Delivered = result {
            users_done.push((user, landed.dirs.clone()));
            done.push((*i, landed.dirs));
        }
    }
    // Durable once each new/ (or cur/) is synced; a maildir whose sync fails keeps its
    // recipients pending (the queue runner's delivery finds the file already there by its name).
    let mut dirs: Vec<&PathBuf> = users_done.iter().flat_map(|(_, dirs)| dirs).collect();
    dirs.sort();
    dirs.dedup();
    let failed: Vec<&PathBuf> = dirs
        .into_iter()
        .filter(|dir| d.dir_sync((*dir).clone()).sync().is_err())
        .collect();
    now.delivered = done
        .iter()
        .filter(|(_, dirs)| !dirs.iter().any(|dir| failed.contains(&dir)))
        .map(|(i, _)| *i)
        .collect();
    now.mailboxes = plan
        .into_iter()
        .filter(|(i, _)| now.delivered.contains(i))
        .collect();
    now
}

impl Now {
    /// Remove what was written (best effort): the message was not accepted after all.
    pub(super) fn take_back(&self) {
        for (maildir, key) in &self.written {
            let marker = format!(".{key}.");
            for sub in ["new", "cur"] {
                let Ok(entries) = fs::read_dir(maildir.join(sub)) else {
                    continue;
                };
                for e in entries.flatten() {
                    if e.file_name().to_str().is_some_and(|n| n.contains(&marker)) {
                        let _ = fs::remove_file(e.path());
                    }
                }
            }
        }
    }
}
