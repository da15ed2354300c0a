//! The queue runner: takes messages from the spool and delivers each recipient along its route.
//!
//! Any number of runners may work on one spool at once (cron's `deliver --once`, `deliver --watch`,
//! the immediate attempt after smtpd accepts a message): each message is taken under its lock, and
//! local deliveries have stable names, so nothing is delivered twice even after a crash. Before a
//! message goes to a remote next hop it is also claimed by name ([`crate::queue::spool::claim`]):
//! a lock can fail on a shared volume (a restarted GlusterFS brick forgets them), a name cannot.

pub mod dsn;
pub(crate) mod local;
pub(crate) mod loops;
mod notify;
pub mod outcomes;
pub mod remote;
mod runner;
pub mod sieve;
pub mod space;
mod vacation;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::config::Config;
use crate::events::event;
use crate::proto::mail::{self, Class};
use crate::queue::routing::{route_expanded as route, NoRoute, Route};
use crate::queue::spool::dirsync::DirSync;
use crate::queue::spool::{now, Area, LockedMessage, QueueId, RecipientStatus, Spool, SpoolError};
use crate::store::users::UsersCache;
use outcomes::{no_route_outcome, outcome_fields, status};

/// What became of one message in one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every recipient is done; the message left the queue.
    Finished,
    /// Some recipients wait for a later attempt.
    Deferred,
    /// Another runner holds it, or it is gone.
    Skipped,
    /// Its next attempt is not due yet.
    NotDue,
}

/// Counts from one queue run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RunStats {
    pub finished: usize,
    pub deferred: usize,
    pub skipped: usize,
    pub not_due: usize,
    pub errors: usize,
}

/// Result of trying one recipient.
pub enum RecipientResult {
    /// Into a mailbox here.
    Delivered,
    /// Taken by the next hop (its reply in the outcome); `dsn`: the next hop supports DSN (and
    /// reports success itself when asked).
    Relayed { outcome: mail::Outcome, dsn: bool },
    /// Temporary failure: try again later.
    Defer(mail::Outcome),
    /// The file system of the maildir `dir` is full: try again as soon as it has room.
    DeferForSpace {
        outcome: mail::Outcome,
        dir: PathBuf,
    },
    /// Permanent failure: bounce.
    Fail(mail::Outcome),
}

/// Delivers queued messages.
pub struct Deliverer {
    pub config: Arc<Config>,
    pub spool: Arc<Spool>,
    pub users: Arc<UsersCache>,
    syncs: Mutex<HashMap<PathBuf, Arc<DirSync>>>,
    remote: remote::Remote,
    /// `delivery.concurrency`: messages in delivery at once in this process, whoever asks (the
    /// queue runner's threads and the immediate attempts share it).
    slots: remote::Limiter,
    /// Messages deferred because a mail volume was full, retried once it has room.
    space: space::SpaceWaits,
    /// The host part of local delivery names: this host's name, or on a mail volume shared
    /// with other hosts [`SHARED_DELIVERY_HOST`], the same on every host.
    pub(crate) delivery_host: String,
    /// Whether remote deliveries are claimed by name ([`crate::queue::spool::claim`]): on a
    /// spool shared with other hosts only. On one host the queue file's lock is enough, and a
    /// claim would cost a few metadata operations and a `.done` file per message.
    claims: bool,
}

/// The host part of local delivery names on a mail volume shared with other hosts. A delivery
/// name is then the same whichever host writes it (time and key come from the queue id, which
/// already says which host made it), so if two hosts ever deliver one message at once — a
/// GlusterFS brick back from a restart does not know the queue-file locks taken while it was
/// away — the second `link(2)` finds the first copy (`EEXIST`) instead of making another.
pub const SHARED_DELIVERY_HOST: &str = "cluster";

impl Deliverer {
    pub fn new(config: Arc<Config>, spool: Arc<Spool>, users: Arc<UsersCache>) -> Deliverer {
        let delivery_host = if config.cluster.is_shared(&config.paths.mail) {
            SHARED_DELIVERY_HOST.to_string()
        } else {
            config.server.hostname.clone()
        };
        let claims = config.cluster.is_shared(&config.paths.spool);
        Deliverer {
            claims,
            remote: remote::Remote::new(&config),
            slots: remote::Limiter::new(config.delivery.concurrency.max(1)),
            config,
            spool,
            users,
            syncs: Mutex::new(HashMap::new()),
            space: space::SpaceWaits::default(),
            delivery_host,
        }
    }

    /// The shared directory syncer of `dir` (the queue runner's and the intake's, so that
    /// concurrent deliveries into one maildir share its fsyncs).
    pub(crate) fn dir_sync(&self, dir: PathBuf) -> Arc<DirSync> {
        match self.syncs.lock() {
            Ok(mut map) => map
                .entry(dir.clone())
                .or_insert_with(|| Arc::new(DirSync::new(&dir)))
                .clone(),
            Err(_) => Arc::new(DirSync::new(&dir)),
        }
    }

    /// [`Deliverer::attempt`] within the process's `delivery.concurrency`: waits for a free slot.
    /// Every top-level attempt goes through here (not the notifications an attempt sends, which
    /// use their parent's slot).
    pub fn attempt_in_turn(&self, id: &QueueId, force: bool) -> Result<Outcome, SpoolError> {
        let _slot = self.slots.acquire("");
        self.attempt(id, force)
    }

    /// Try to deliver one message. `force` ignores its next-try time.
    pub fn attempt(&self, id: &QueueId, force: bool) -> Result<Outcome, SpoolError> {
        let Some(mut msg) = self.spool.try_lock(Area::Queue, id)? else {
            return Ok(Outcome::Skipped);
        };
        let now = now();
        if !force && msg.msg.state.next_try > now {
            // Deferred for a full volume: due as soon as it has room again.
            let size = msg.msg.envelope.size;
            match msg.msg.state.space_wait.clone() {
                Some(dir) if space::has_room(&dir, size) => {}
                Some(dir) => {
                    self.space.note(id, &dir, size);
                    return Ok(Outcome::NotDue);
                }
                None => {
                    self.space.forget(id);
                    return Ok(Outcome::NotDue);
                }
            }
        }
        msg.msg.state.space_wait = None;
        msg.mark_busy()?;
        let body = msg.read_body()?;
        let users = self.users.get();
        let mut touched_maildirs = Vec::new();
        let mut delivered_to: Vec<String> = Vec::new();
        let loops = match msg.msg.envelope.origin {
            crate::queue::spool::Origin::Collect => loops::Hops::of(&body).without_delivered_to(),
            _ => loops::Hops::of(&body),
        };
        let mut remote_pending = Vec::new();
        let mut successes = Vec::new();
        for i in 0..msg.msg.state.recipients.len() {
            let Some(r) = msg.msg.state.recipients.get(i) else {
                break;
            };
            if r.status != RecipientStatus::Pending {
                continue;
            }
            let address = r.address.clone();
            let recipient = r.clone();
            if let Some(why) = loops.check(&address, self.config.limits.max_hops) {
                successes.extend(self.record(&mut msg, i, RecipientResult::Fail(why), None));
                continue;
            }
            // The mailbox of a local delivery, for the log.
            let mut mailbox: Option<String> = None;
            let result = match route(&self.config, &users, &address) {
                // Two recipients ending in one mailbox (aliases, a copy-to of one's own
                // address) get one copy, as Postfix's local(8) duplicate filter does.
                Ok(Route::Local { user }) if delivered_to.contains(&user) => {
                    mailbox = Some(user);
                    RecipientResult::Delivered
                }
                Ok(Route::Local { user }) => {
                    let job = local::Job {
                        id: &msg.msg.id,
                        sender: &msg.msg.envelope.sender,
                        recovering: msg.recovering,
                        filter_effects: true,
                        auth: msg.msg.envelope.auth_user.as_deref(),
                        refuse_in_protocol: false,
                    };
                    let mut landed = local::Landed::default();
                    let r = local::deliver(self, &job, i, &user, &recipient, &body, &mut landed);
                    if let RecipientResult::Delivered = r {
                        touched_maildirs.extend(landed.dirs);
                        delivered_to.push(user.clone());
                    }
                    mailbox = Some(user);
                    r
                }
                // Accepted for a domain that is not ours: the sender was allowed to relay.
                Ok(Route::Remote {
                    address: to,
                    domain,
                    server,
                }) => {
                    remote_pending.push(remote::Pending {
                        index: i,
                        domain,
                        server,
                        forward: (!to.eq_ignore_ascii_case(&address)).then_some(to),
                    });
                    continue;
                }
                Err(NoRoute::NotOurs { domain }) => {
                    remote_pending.push(remote::Pending {
                        index: i,
                        domain,
                        server: None,
                        forward: None,
                    });
                    continue;
                }
                Ok(Route::Alias { .. }) => unreachable_alias(),
                Err(why) => match no_route_outcome(&why) {
                    Some(o) => RecipientResult::Fail(o),
                    None => continue,
                },
            };
            successes.extend(self.record(&mut msg, i, result, mailbox.as_deref()));
        }
        let mut claim = None;
        if self.claims && !remote_pending.is_empty() && self.spool.finished_before(id) {
            // This message already left the queue after its remote delivery: its queue file is
            // a name the replicated volume brought back. Dropped, not sent again. (Only claims
            // leave `.done` marks: on a spool of one host there is nothing to look for.)
            event("queue_file_removed")
                .field("id", id)
                .field("reason", "finished")
                .emit();
            msg.remove(&self.spool)?;
            return Ok(Outcome::Skipped);
        }
        if !remote_pending.is_empty() {
            // The message is claimed by name before it goes to a next hop: a lock may fail
            // where a name cannot (a restarted GlusterFS brick forgets locks).
            match self.claim(&mut msg)? {
                Some(c) => claim = c,
                None => return Ok(Outcome::Skipped),
            }
            let recipients = &msg.msg.state.recipients;
            remote_pending.retain(|p| {
                recipients
                    .get(p.index)
                    .is_some_and(|r| r.status == RecipientStatus::Pending)
            });
        }
        if !remote_pending.is_empty() {
            // Each destination's results are recorded in the state file as soon as they are
            // known (while more destinations follow): a runner taking over this claim after a
            // crash sends only to the recipients whose outcome was never recorded.
            let envelope = msg.msg.envelope.clone();
            let recipients = msg.msg.state.recipients.clone();
            let mut failed_save = None;
            remote::deliver_each(
                &self.config,
                &self.remote,
                id,
                &envelope,
                &recipients,
                &body,
                remote_pending,
                &mut |results, more| {
                    for (i, result) in results {
                        successes.extend(self.record(&mut msg, i, result, None));
                    }
                    if more && failed_save.is_none() {
                        failed_save = msg.save_progress().err();
                    }
                },
            );
            if let Some(e) = failed_save {
                event("delivery_progress_not_saved")
                    .field("id", id)
                    .field("error", &e)
                    .emit();
            }
        }
        // Deliveries are durable only once new/ (cur/ for a copy with flags) is synced; then
        // the queue entry may go.
        touched_maildirs.sort();
        touched_maildirs.dedup();
        for new in touched_maildirs {
            if let Err(e) = self.dir_sync(new.clone()).sync() {
                return Err(SpoolError::Io {
                    path: new,
                    source: e,
                });
            }
        }
        let outcome = self.finish_attempt(msg, now, &body, &successes)?;
        // Released only once the results are recorded (or the message is gone): a runner
        // claiming after this reads them. A failed record keeps the claim until it is stale.
        match (claim, outcome) {
            (Some(c), Outcome::Finished) => c.finish(),
            (Some(c), _) => c.release(),
            (None, _) => {}
        }
        Ok(outcome)
    }

    /// Claims `msg` for remote delivery ([`crate::queue::spool::claim`]) and takes the results
    /// another runner recorded meanwhile. `None`: another runner has it, or finished it (the
    /// attempt ends without a word written). `Some(None)`: claims are off (a spool of one host,
    /// or a test hook).
    fn claim(
        &self,
        msg: &mut LockedMessage,
    ) -> Result<Option<Option<crate::queue::spool::claim::Claim>>, SpoolError> {
        use crate::queue::spool::claim::{Claimant, Claimed};
        if !self.claims
            || cfg!(debug_assertions)
                && std::env::var_os("POSTERN_TEST_NO_DELIVERY_CLAIMS").is_some()
        {
            return Ok(Some(None));
        }
        let who = Claimant {
            node: self.config.cluster.node,
            host: &self.config.server.hostname,
            timeout: self.config.cluster.claim_timeout.duration(),
        };
        let id = msg.msg.id.clone();
        let claim = match self.spool.claim(&id, &who)? {
            Claimed::Ours { claim, took_over } => {
                if let Some(h) = took_over {
                    event("claim_taken_over")
                        .field("id", &id)
                        .field("node", h.node)
                        .field("host", &h.host)
                        .field("pid", h.pid)
                        .field("age", now().saturating_sub(h.time))
                        .emit();
                }
                claim
            }
            Claimed::Held(h) => {
                let e = event("delivery_claimed").field("id", &id);
                let e = match h {
                    Some(h) => e
                        .field("node", h.node)
                        .field("host", &h.host)
                        .field("pid", h.pid),
                    None => e,
                };
                e.emit();
                return Ok(None);
            }
        };
        match msg.refresh_claimed() {
            Ok(true) => Ok(Some(Some(claim))),
            Ok(false) => {
                claim.release();
                Ok(None)
            }
            Err(e) => {
                claim.release();
                Err(e)
            }
        }
    }

    /// Clean the spool of crash debris when no runner has for [`crate::queue::spool::CLEAN_INTERVAL`]
    /// (every queue run asks; see [`Spool::clean_if_due`]), logged as `spool_cleaned`.
    pub fn clean_spool(&self) {
        match self.spool.clean_if_due(crate::queue::spool::CLEAN_INTERVAL) {
            Ok(None) => {}
            Ok(Some(removed)) => {
                event("spool_cleaned").field("removed", removed).emit();
                let greylist = crate::store::greylist::Greylist::new(self.spool.root());
                let times = self.config.receiving.greylisting.times();
                let expired = greylist.sweep(crate::queue::spool::now(), times);
                if expired > 0 {
                    event("greylist_swept").field("removed", expired).emit();
                }
                let rates = crate::store::rates::Rates::new(self.spool.root());
                rates.sweep(crate::queue::spool::now());
                crate::store::slots::Slots::new(self.spool.root()).sweep();
                let logins = crate::store::logins::LoginFiles::new(self.spool.root());
                logins.sweep(
                    crate::queue::spool::now().saturating_mul(1000),
                    &self.config.auth.ledger(),
                );
                self.sweep_sieve_records();
            }
            Err(e) => event("spool_clean_failed").field("error", e).emit(),
        }
    }

    /// Removes the expired vacation and duplicate records of every user (`sieve_swept`).
    fn sweep_sieve_records(&self) {
        use crate::store::sieve::tracking::{Kind, Tracker};
        let now = crate::queue::spool::now();
        let volume = crate::store::maildir::MailVolume::new(&self.config.paths.mail);
        let mut removed = 0;
        for u in self.users.get().iter() {
            if let Some(maildir) = volume.inbox_path(&u.name) {
                for kind in [Kind::Vacation, Kind::Duplicate] {
                    removed += Tracker::new(&maildir, kind).sweep(now);
                }
            }
        }
        if removed > 0 {
            event("sieve_swept").field("removed", removed).emit();
        }
    }

    /// Close the remote connections kept for reuse (after attempts outside a queue run).
    pub fn close_idle(&self) {
        self.remote.close_idle();
    }

    /// Record one recipient's result in the message state, and log it. A delivery whose
    /// NOTIFY asks for a success report (and that no next hop reports on) is returned.
    fn record(
        &self,
        msg: &mut LockedMessage,
        i: usize,
        result: RecipientResult,
        mailbox: Option<&str>,
    ) -> Option<notify::Success> {
        let id = msg.msg.id.clone();
        let sender = msg.msg.envelope.sender.clone();
        let r = msg.msg.state.recipients.get_mut(i)?;
        let address = r.address.clone();
        let wants_success = dsn::wants(r, dsn::Kind::Success);
        let (outcome, report) = match result {
            RecipientResult::Delivered => {
                let o = mail::Outcome::new(status::DELIVERED, "delivered to mailbox");
                (o, Some(dsn::Action::Delivered))
            }
            RecipientResult::Relayed { outcome, dsn } => {
                (outcome, (!dsn).then_some(dsn::Action::Relayed))
            }
            RecipientResult::Defer(o) => (o.with_class(Class::Transient), None),
            RecipientResult::DeferForSpace { outcome, dir } => {
                msg.msg.state.space_wait = Some(dir);
                (outcome.with_class(Class::Transient), None)
            }
            RecipientResult::Fail(o) => (o.with_class(Class::Permanent), None),
        };
        let r = msg.msg.state.recipients.get_mut(i)?;
        r.outcome = Some(outcome.clone());
        match outcome.class() {
            Class::Success => {
                r.status = RecipientStatus::Delivered;
                crate::intake::delivered_event(&id, &sender, &address, mailbox).emit();
                return report
                    .filter(|_| wants_success)
                    .map(|action| notify::Success {
                        index: i,
                        action,
                        outcome,
                    });
            }
            Class::Transient => {
                let e = event("deferred")
                    .field("id", &id)
                    .field("to", &address)
                    .field("reason", &outcome);
                outcome_fields(e, &outcome).emit();
            }
            Class::Permanent => {
                r.status = RecipientStatus::Failed;
                let e = event("failed")
                    .field("id", &id)
                    .field("to", &address)
                    .field("reason", &outcome);
                outcome_fields(e, &outcome).emit();
            }
        }
        None
    }

    fn finish_attempt(
        &self,
        mut msg: LockedMessage,
        now: u64,
        body: &[u8],
        successes: &[notify::Success],
    ) -> Result<Outcome, SpoolError> {
        let delivery = &self.config.delivery;
        let attempts = msg.msg.state.attempts + 1;
        let give_up = if now.saturating_sub(msg.msg.envelope.received) > delivery.lifetime.0 {
            Some("message expired in the queue".to_string())
        } else {
            delivery
                .max_attempts
                .filter(|&max| attempts >= max)
                .map(|max| format!("gave up after {max} attempts"))
        };
        if let Some(why) = give_up {
            for r in msg.msg.state.recipients.iter_mut() {
                if r.status == RecipientStatus::Pending {
                    r.status = RecipientStatus::Failed;
                    r.outcome = Some(outcomes::expired(r.outcome.take(), &why));
                }
            }
        }
        // Successes and failures are reported now (once each), delays once, before the entry
        // can go.
        notify::successes(self, &msg, body, now, successes);
        notify::failures(self, &mut msg, body, now);
        match (&msg.msg.state.space_wait, msg.msg.is_finished()) {
            (Some(dir), false) => self.space.note(&msg.msg.id, dir, msg.msg.envelope.size),
            _ => self.space.forget(&msg.msg.id),
        }
        if msg.msg.is_finished() {
            msg.remove(&self.spool)?;
            return Ok(Outcome::Finished);
        }
        notify::delay(self, &mut msg, body, now);
        let state = &mut msg.msg.state;
        state.attempts = attempts;
        let wait = self.config.delivery.retry_after(state.attempts);
        state.next_try = now + wait.as_secs();
        msg.save_state()?;
        Ok(Outcome::Deferred)
    }

    /// One pass over the queue (or over `ids`), `concurrency` messages at a time.
    pub fn run_once(&self, force: bool, ids: Option<Vec<QueueId>>) -> Result<RunStats, SpoolError> {
        self.run_with_progress(force, ids, &|_| {})
    }

    /// Like [`Deliverer::run_once`], calling `progress(done)` after each message.
    pub fn run_with_progress(
        &self,
        force: bool,
        ids: Option<Vec<QueueId>>,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<RunStats, SpoolError> {
        let ids = match ids {
            Some(ids) => ids,
            None => self.spool.list(Area::Queue)?,
        };
        let next = std::sync::atomic::AtomicUsize::new(0);
        let stats = Mutex::new(RunStats::default());
        let workers = self
            .config
            .delivery
            .concurrency
            .clamp(1, 64)
            .min(ids.len().max(1));
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(id) = ids.get(i) else { break };
                    let result = self.attempt_in_turn(id, force);
                    progress(i + 1);
                    let Ok(mut s) = stats.lock() else { break };
                    match result {
                        Ok(Outcome::Finished) => s.finished += 1,
                        Ok(Outcome::Deferred) => s.deferred += 1,
                        Ok(Outcome::Skipped) => s.skipped += 1,
                        Ok(Outcome::NotDue) => s.not_due += 1,
                        Err(e) => {
                            s.errors += 1;
                            event("delivery_error")
                                .field("id", id)
                                .field("error", e)
                                .emit();
                        }
                    }
                });
            }
        });
        self.remote.close_idle();
        Ok(stats.into_inner().unwrap_or_default())
    }
}

/// A queued recipient is routed without the aliases ([`route`] is the expanded stage), so no
/// route is an alias; were one, it fails with a reason rather than being lost silently.
fn unreachable_alias() -> RecipientResult {
    RecipientResult::Fail(crate::proto::mail::Outcome::new(
        outcomes::status::NO_SUCH_USER,
        "address is an alias that was not expanded when the message was accepted",
    ))
}
