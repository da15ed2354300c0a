//! Collection (SPEC §6, seed 000 "POP Collection"): pull mail from remote POP3 accounts into the
//! local queue, so that routing, filters and quotas apply to it like to any other mail.
//!
//! One pass over an account: lock its state, connect (TLS as configured), log in, list UIDL and
//! LIST, [`plan::plan`] what to fetch and delete, RETR each new message, find its recipients from
//! the headers ([`recipients`]), hand it to the [`crate::intake`] (content filter, handlers,
//! the spool; trusted) with the UIDL recorded in the journal around the write ([`state`]), and
//! delete on the server only what is durably queued (policy
//! `always`) or has left the queue (`delivered`). Deletions take effect at QUIT; a pass that
//! breaks off deletes nothing and the next one starts from the journal. Messages left on the
//! server on purpose (too big, unroutable, refused by the filter, malformed) are logged once per
//! UIDL and counted on every pass; see [`state`] for which are fetched again.
//!
//! The account state's file work (opening and replaying it, the journal around each write,
//! the snapshot at the end) runs on the runtime's blocking pool: the journal beside the
//! intake's own write, the rest through [`Held::io`]; its in-memory bookkeeping under a lock
//! held for no more than a map update.

pub mod auth;
pub mod client;
pub mod plan;
pub mod proto;
pub mod recipients;
pub mod state;

use std::io::Read;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::config::collect::{CollectAccount, CollectTls, DeletePolicy};
use crate::config::Config;
use crate::events::event;
use crate::intake::{Intake, Origin, Outcome, Record, Refusal, StoreError, Submission};
use crate::queue::routing::route;
use crate::queue::spool::{QueueId, Recipient, Spool, SpoolError};
use crate::store::users::UsersCache;
use client::Client;
use proto::{Capabilities, Status};
use state::SkipReason;

/// Why a pass over an account failed.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("cannot resolve {server}: {reason}")]
    Dns { server: String, reason: String },
    #[error("cannot connect to {server}: {reason}")]
    Connect { server: String, reason: String },
    #[error("timed out waiting for the server")]
    Timeout,
    #[error("the server closed the connection")]
    Dropped,
    #[error("TLS failed: {0}")]
    Tls(String),
    #[error("the server does not offer STLS and the account requires it")]
    NoStls,
    #[error(transparent)]
    Proto(#[from] proto::BadReply),
    #[error("the server sent an over-long line")]
    LineTooLong,
    #[error("the server refused {command}: {text}")]
    Refused { command: String, text: String },
    #[error("login with {method} failed: {text}")]
    Login { method: &'static str, text: String },
    #[error("cannot log in: {0}")]
    Auth(#[from] auth::AuthError),
    #[error("the server does not support UIDL, needed to collect each message once")]
    NoUidl,
    #[error("network error: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error("cannot queue: {0}")]
    Intake(String),
    #[error(transparent)]
    State(#[from] state::StateError),
    #[error(
        "the account state is unusable after a failed step; the next pass starts from its files"
    )]
    StateLost,
    #[error(transparent)]
    TlsSetup(#[from] crate::driver::tls::TlsError),
    #[error("cannot read password file {path}: {reason}")]
    Password { path: String, reason: String },
    #[error("another pass over this account is running")]
    Busy,
}

/// Watches a pass (the CLI's progress bar).
pub trait Progress: Send {
    /// The pass will fetch `messages` messages of `bytes` octets in all.
    fn begin(&mut self, _messages: usize, _bytes: u64) {}
    /// One more message of `bytes` octets was read.
    fn message(&mut self, _bytes: u64) {}
    /// The pass is over (`ok`: it did not fail), before its outcome is logged.
    fn end(&mut self, _ok: bool) {}
}

/// No progress display.
pub struct NoProgress;
impl Progress for NoProgress {}

/// What a pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub listed: usize,
    pub fetched: usize,
    pub bytes: u64,
    pub deleted: usize,
    pub too_big: usize,
    pub malformed: usize,
    /// Messages with no recipient here and no catch-all: left on the server.
    pub unroutable: usize,
    /// Addresses not forwarded back to the server they came from.
    pub loops: usize,
    /// New messages left for the next pass (per-pass maximum).
    pub later: usize,
    /// Messages the content filter (or every recipient's handler) refused for good (this pass or
    /// before): left on the server.
    pub refused: usize,
    /// Messages for a local mailbox they would take over its quota: left on the server, fetched
    /// again next pass.
    pub over_quota: usize,
}

/// Collects mail for the accounts of one config.
pub struct Collector {
    pub config: Arc<Config>,
    pub spool: Arc<Spool>,
    pub users: Arc<UsersCache>,
    /// Where fetched messages go in (and how they are handed to delivery).
    pub intake: Arc<Intake>,
}

/// Where a fetched message came from.
struct Source {
    peer: Option<std::net::IpAddr>,
    tls: bool,
}

/// An account's state, locked for one pass, shared between the pass and the blocking pool.
#[derive(Clone)]
struct Held(Arc<Mutex<state::StateStore>>);

impl Held {
    /// The state for in-memory bookkeeping (no file work under this lock).
    fn get(&self) -> Result<MutexGuard<'_, state::StateStore>, CollectError> {
        self.0.lock().map_err(|_| CollectError::StateLost)
    }

    /// File work on the state, on the blocking pool.
    async fn io<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut state::StateStore) -> Result<T, state::StateError> + Send + 'static,
    ) -> Result<T, CollectError> {
        let held = self.clone();
        tokio::task::spawn_blocking(move || Ok(work(&mut *held.get()?)?))
            .await
            .map_err(|_| CollectError::StateLost)?
    }
}

/// The account's journal around the intake's write: `intent` before it, `queued` once the
/// message is durable (see [`state`]); both on the blocking pool, beside the write.
struct Journal {
    held: Held,
    uidl: String,
}

impl Record for Journal {
    type Error = CollectError;

    fn before(&mut self, id: &QueueId) -> Result<(), CollectError> {
        self.held.get()?.intent(&self.uidl, id.as_str())?;
        Ok(())
    }

    fn after(&mut self, id: &QueueId) -> Result<(), CollectError> {
        let now = crate::queue::spool::now();
        self.held.get()?.queued(&self.uidl, id.as_str(), now)?;
        Ok(())
    }
}

/// Longest password file read.
const MAX_PASSWORD_FILE: u64 = 4096;

fn password(account: &CollectAccount) -> Result<crate::proto::secret::Secret, CollectError> {
    if let Some(p) = &account.password {
        return Ok(p.clone());
    }
    let Some(path) = &account.password_file else {
        return Ok(crate::proto::secret::Secret::default());
    };
    let err = |reason: String| CollectError::Password {
        path: path.display().to_string(),
        reason,
    };
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_PASSWORD_FILE).read_to_string(&mut text))
        .map_err(|e| err(e.to_string()))?;
    let line = crate::proto::secret::Secret::from(text.lines().next().unwrap_or(""));
    if line.is_empty() {
        return Err(err("it is empty".into()));
    }
    Ok(line)
}

async fn capabilities(c: &mut Client) -> Result<Capabilities, CollectError> {
    match c.command("CAPA").await? {
        Status::Ok(_) => Ok(Capabilities::parse(&c.listing().await?)),
        _ => Ok(Capabilities::default()),
    }
}

async fn login(
    c: &mut Client,
    method: auth::Method,
    user: &str,
    pass: &str,
    timestamp: Option<&str>,
) -> Result<(), CollectError> {
    let failed = |text: String| CollectError::Login {
        method: method.name(),
        text,
    };
    let mut status = match method {
        auth::Method::UserPass => {
            if let Status::Err(t) | Status::Continue(t) = c.command(&format!("USER {user}")).await?
            {
                return Err(failed(t));
            }
            c.command(&format!("PASS {pass}")).await?
        }
        auth::Method::Apop => {
            let ts = timestamp.unwrap_or_default();
            c.command(&auth::apop_command(ts, user, pass)).await?
        }
        m => c.command(&auth::auth_command(m, user, pass)).await?,
    };
    for _ in 0..4 {
        match status {
            Status::Ok(_) => return Ok(()),
            Status::Err(t) => return Err(failed(t)),
            Status::Continue(challenge) => match auth::answer(method, &challenge, user, pass) {
                Ok(a) => status = c.command(&a).await?,
                Err(e) => {
                    let _ = c.command("*").await;
                    return Err(e.into());
                }
            },
        }
    }
    Err(failed("too many challenges".into()))
}

impl Collector {
    /// One pass over `account`.
    pub async fn run_account(
        &self,
        account: &CollectAccount,
        progress: &mut dyn Progress,
    ) -> Result<Summary, CollectError> {
        let spool = self.spool.clone();
        let name = account.name.clone();
        let store = tokio::task::spawn_blocking(move || {
            state::StateStore::open(spool.root(), &name, |id| {
                QueueId::parse(id).is_some_and(|id| spool.find(&id).is_some())
            })
        })
        .await
        .map_err(|_| CollectError::StateLost)??;
        let store = Held(Arc::new(Mutex::new(store.ok_or(CollectError::Busy)?)));
        let pass = password(account)?;
        let timeout = account.timeout.duration();
        let verify = account.tls != CollectTls::Opportunistic;
        let connector = match account.tls {
            CollectTls::None => None,
            _ => Some(crate::driver::tls::connector(
                account.trust_anchor.as_deref(),
                !verify,
            )?),
        };
        let resolver = crate::dns::resolver(&self.config.dns());
        let mut c = Client::connect(&resolver, &account.server, account.port(), timeout).await?;
        if let (CollectTls::Implicit, Some(conn)) = (account.tls, &connector) {
            c = c.start_tls(conn, &account.server).await?;
        }
        let greeting = match c.status().await? {
            Status::Ok(t) => t,
            Status::Err(t) | Status::Continue(t) => {
                return Err(CollectError::Refused {
                    command: "the connection".into(),
                    text: t,
                })
            }
        };
        let mut caps = capabilities(&mut c).await?;
        if let (CollectTls::Starttls | CollectTls::Opportunistic, Some(conn)) =
            (account.tls, &connector)
        {
            if caps.has("STLS") {
                c.ok("STLS", "STLS").await?;
                c = c.start_tls(conn, &account.server).await?;
                caps = capabilities(&mut c).await?;
            } else if account.tls == CollectTls::Starttls {
                let _ = c.command("QUIT").await;
                return Err(CollectError::NoStls);
            }
        }
        let timestamp = proto::greeting_timestamp(&greeting);
        // `best`: the next method when one is refused (RFC 1939: still in AUTHORIZATION).
        let methods = auth::candidates(account.auth, &caps, timestamp)?;
        let last = methods.len().saturating_sub(1);
        for (i, method) in methods.into_iter().enumerate() {
            match login(&mut c, method, &account.user, pass.expose(), timestamp).await {
                Ok(()) => break,
                Err(CollectError::Login { method, text }) if i < last => {
                    event("collect_auth_fallback")
                        .field("account", &account.name)
                        .field("method", method)
                        .field("reply", &text)
                        .emit();
                }
                Err(e) => return Err(e),
            }
        }

        if !matches!(c.command("UIDL").await?, Status::Ok(_)) {
            let _ = c.command("QUIT").await;
            return Err(CollectError::NoUidl);
        }
        let uidl = c.listing().await?;
        c.ok("LIST", "LIST").await?;
        let list = c.listing().await?;
        let listing = proto::join_listings(&uidl, &list)?;
        let max_size = account
            .max_message_size
            .map(|s| s.0)
            .unwrap_or(self.config.limits.message_size.0)
            .min(self.config.limits.message_size.0);
        let p = {
            let mut state = store.get()?;
            let p = plan::plan(
                &listing,
                &state.state.seen,
                &state.state.skipped,
                account.delete,
                max_size,
                account.max_messages,
                |id| QueueId::parse(id).is_none_or(|id| self.spool.find(&id).is_none()),
            );
            state.forget(&p.vanished);
            p
        };
        let mut sum = Summary {
            listed: listing.len(),
            too_big: p.too_big.len(),
            later: p.later,
            refused: p.refused,
            malformed: p.malformed,
            ..Summary::default()
        };
        let now = crate::queue::spool::now();
        for m in &p.too_big {
            if !store.get()?.skip(&m.uidl, SkipReason::TooBig, now) {
                continue;
            }
            event("collect_too_big")
                .field("account", &account.name)
                .field("uidl", &m.uidl)
                .field("size", m.size)
                .field("limit", max_size)
                .emit();
        }
        for m in &p.delete {
            c.ok(&format!("DELE {}", m.number), "DELE").await?;
            sum.deleted += 1;
        }
        progress.begin(p.fetch.len(), p.fetch.iter().map(|m| m.size).sum());
        let mut fetched = Vec::new();
        for m in &p.fetch {
            c.ok(&format!("RETR {}", m.number), "RETR").await?;
            let data = c.data(max_size).await?;
            progress.message(m.size);
            if !data.complete() {
                incomplete(account, &store, &mut sum, &m.uidl, &data, max_size, now)?;
                continue;
            }
            let from = Source {
                peer: c.peer.map(|p| p.ip()),
                tls: c.tls,
            };
            let queued = self.queue(account, &store, &m.uidl, &data.bytes, from, &mut sum);
            let Some(id) = queued.await? else {
                continue;
            };
            sum.fetched += 1;
            sum.bytes += data.bytes.len() as u64;
            if account.delete == DeletePolicy::Always {
                c.ok(&format!("DELE {}", m.number), "DELE").await?;
                sum.deleted += 1;
            }
            fetched.push((m.number, id));
        }
        if account.delete == DeletePolicy::Delivered {
            for (number, id) in &fetched {
                if self.spool.find(id).is_none() {
                    c.ok(&format!("DELE {number}"), "DELE").await?;
                    sum.deleted += 1;
                }
            }
        }
        // The server deletes at QUIT (RFC 1939 UPDATE state).
        c.ok("QUIT", "QUIT").await?;
        store.io(|s| s.finish(crate::queue::spool::now())).await?;
        Ok(sum)
    }

    /// Queue one fetched message; `Ok(None)` when it has nowhere to go (left on the server).
    async fn queue(
        &self,
        account: &CollectAccount,
        store: &Held,
        uidl: &str,
        bytes: &[u8],
        from: Source,
        sum: &mut Summary,
    ) -> Result<Option<QueueId>, CollectError> {
        let users = self.users.get();
        let addresses = recipients::header_addresses(bytes);
        let res = recipients::resolve(
            &addresses,
            account.mode,
            account.catch_all.as_deref(),
            |a| route(&self.config, &users, a),
        );
        for a in &res.loops {
            sum.loops += 1;
            event("collect_loop")
                .field("account", &account.name)
                .field("uidl", uidl)
                .field("address", a)
                .field(
                    "reason",
                    "routes back to a remote server; not forwarded to where it was collected from",
                )
                .emit();
        }
        let mut rcpts = res.recipients;
        rcpts.truncate(self.config.limits.recipients);
        // A mailbox this server has delivered the message to before (it has our Received line
        // and its Delivered-To names an address of that mailbox: collected from our own POP3)
        // does not get it again. (The provider's own Delivered-To, without our Received line,
        // is not that.)
        let delivered = if recipients::passed_here(bytes, &self.config.server.hostname) {
            recipients::delivered_to(bytes)
        } else {
            Vec::new()
        };
        let mailbox = |a: &str| match crate::queue::routing::route_expanded(&self.config, &users, a)
        {
            Ok(crate::queue::routing::Route::Local { user }) => Some(user),
            _ => None,
        };
        let here_before: Vec<String> = delivered.iter().filter_map(|d| mailbox(d)).collect();
        let before = rcpts.len();
        rcpts.retain(|r| {
            let again = mailbox(r).is_some_and(|u| here_before.contains(&u));
            if again {
                event("collect_duplicate")
                    .field("account", &account.name)
                    .field("uidl", uidl)
                    .field("to", r)
                    .field(
                        "reason",
                        "its Delivered-To names this mailbox: delivered here before",
                    )
                    .emit();
            }
            !again
        });
        if rcpts.is_empty() && before > 0 {
            store
                .get()?
                .skip(uidl, SkipReason::Duplicate, crate::queue::spool::now());
            return Ok(None);
        }
        if rcpts.is_empty() {
            sum.unroutable += 1;
            if !store
                .get()?
                .skip(uidl, SkipReason::Unroutable, crate::queue::spool::now())
            {
                return Ok(None);
            }
            event("collect_unroutable")
                .field("account", &account.name)
                .field("uidl", uidl)
                .field("addresses", addresses.join(","))
                .field("action", "left on the server")
                .emit();
            return Ok(None);
        }
        // A local mailbox it would take over quota: left on the server for the next pass, like
        // a tempfail (smtpd answers 452 at RCPT), rather than queued to wait (and, with
        // `delete = "always"`, deleted on the server meanwhile).
        if let Some((rcpt, why)) = self.over_quota(&users, &rcpts, bytes.len() as u64) {
            sum.over_quota += 1;
            event("collect_over_quota")
                .field("account", &account.name)
                .field("uidl", uidl)
                .field("to", rcpt)
                .field("reason", why)
                .field("action", "left on the server, tried again next pass")
                .emit();
            return Ok(None);
        }
        let sub = Submission {
            origin: Origin::Collect {
                account: account.name.clone(),
                server: account.server.clone(),
                peer: from.peer,
                tls: from.tls,
                uidl: uidl.to_string(),
            },
            sender: recipients::envelope_sender(bytes),
            recipients: rcpts.into_iter().map(Recipient::new).collect(),
            data: bytes.to_vec(),
        };
        let journal = Journal {
            held: store.clone(),
            uidl: uidl.to_string(),
        };
        let outcome = match self.intake.accept_recorded(sub, journal).await? {
            Outcome::Accepted(a) => return Ok(Some(a.id)),
            Outcome::Failed(StoreError::Spool(e)) => return Err(e.into()),
            Outcome::Failed(e) => return Err(CollectError::Intake(e.to_string())),
            Outcome::Refused(r) => r,
        };
        // Refused for good (by the filter, or by every recipient's handler): left on the server
        // and remembered, never fetched again. For now (the filter's tempfail): left on the
        // server, tried again next pass.
        if !outcome.is_temporary() {
            sum.refused += 1;
            store
                .get()?
                .skip(uidl, SkipReason::Refused, crate::queue::spool::now());
        }
        let e = match &outcome {
            Refusal::Filter { temporary, .. } | Refusal::Authentication { temporary, .. } => {
                event("collect_filtered")
                    .field("account", &account.name)
                    .field("uidl", uidl)
                    .field("verdict", if *temporary { "tempfail" } else { "reject" })
            }
            Refusal::Recipients(_) | Refusal::Sieve { .. } => event("collect_refused")
                .field("account", &account.name)
                .field("uidl", uidl)
                .field("reason", outcome.text()),
        };
        let action = if outcome.is_temporary() {
            "left on the server, tried again next pass"
        } else {
            "left on the server, not fetched again"
        };
        e.field("action", action).emit();
        Ok(None)
    }

    /// The first recipient whose local mailbox `size` more bytes would take over its quota.
    fn over_quota(
        &self,
        users: &crate::store::users::Users,
        rcpts: &[String],
        size: u64,
    ) -> Option<(String, crate::receive::policy::Exceeded)> {
        let usage = crate::store::maildir::MailVolume::for_config(&self.config);
        rcpts
            .iter()
            .find_map(|r| match route(&self.config, users, r) {
                Ok(crate::queue::routing::Route::Local { user }) => {
                    crate::receive::policy::exceeds_quota(users, &usage, &user, size)
                        .map(|e| (r.clone(), e))
                }
                _ => None,
            })
    }

    /// One pass over `account` with its outcome logged (`collect_done` / `collect_failed`).
    /// Returns whether it failed.
    pub async fn run_logged(&self, account: &CollectAccount, progress: &mut dyn Progress) -> bool {
        let result = self.run_account(account, progress).await;
        progress.end(result.is_ok());
        match result {
            Ok(s) => {
                event("collect_done")
                    .field("account", &account.name)
                    .field("listed", s.listed)
                    .field("fetched", s.fetched)
                    .field("bytes", s.bytes)
                    .field("deleted", s.deleted)
                    .field("too_big", s.too_big)
                    .field("malformed", s.malformed)
                    .field("unroutable", s.unroutable)
                    .field("loops", s.loops)
                    .field("later", s.later)
                    .field("refused", s.refused)
                    .field("over_quota", s.over_quota)
                    .emit();
                false
            }
            Err(CollectError::Busy) => {
                event("collect_busy")
                    .field("account", &account.name)
                    .field("reason", CollectError::Busy)
                    .emit();
                false
            }
            Err(e) => {
                event("collect_failed")
                    .field("account", &account.name)
                    .field("server", format!("{}:{}", account.server, account.port()))
                    .field("error", e)
                    .emit();
                true
            }
        }
    }
}

/// A RETR whose data cannot be queued (too big after all, or a line too long to read): counted,
/// remembered under `skipped` and logged when that is news.
fn incomplete(
    account: &CollectAccount,
    store: &Held,
    sum: &mut Summary,
    uidl: &str,
    data: &proto::Data,
    max_size: u64,
    now: u64,
) -> Result<(), CollectError> {
    let (name, count, reason) = if data.too_big {
        ("collect_too_big", &mut sum.too_big, SkipReason::TooBig)
    } else {
        (
            "collect_malformed",
            &mut sum.malformed,
            SkipReason::Malformed,
        )
    };
    *count += 1;
    if !store.get()?.skip(uidl, reason, now) {
        return Ok(());
    }
    let e = event(name)
        .field("account", &account.name)
        .field("uidl", uidl);
    let e = if data.too_big {
        e.field("limit", max_size)
            .field("action", "left on the server")
    } else {
        e.field("reason", "a line longer than the line limit")
            .field("line_limit", proto::MAX_DATA_LINE)
            .field("action", "left on the server, not fetched again")
    };
    e.emit();
    Ok(())
}

/// Whether `account` is due for a pass at `now`.
pub fn due(spool_root: &std::path::Path, account: &CollectAccount, now: u64) -> bool {
    now.saturating_sub(state::last_run(spool_root, &account.name)) >= account.interval.0
}

/// `serve`'s collection schedule: one task per account of `collector`'s config, a pass whenever
/// it is due.
pub fn spawn_schedule(collector: Arc<Collector>) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for (i, account) in collector.config.collect.iter().enumerate() {
        let collector = collector.clone();
        let account = account.clone();
        tasks.push(tokio::spawn(async move {
            // Stagger the accounts a little so that they do not all start at once.
            tokio::time::sleep(std::time::Duration::from_secs(i as u64 % 60)).await;
            let root = collector.spool.root().to_path_buf();
            loop {
                let last = state::last_run(&root, &account.name);
                let wait = (last + account.interval.0).saturating_sub(crate::queue::spool::now());
                if wait > 0 {
                    tokio::time::sleep(std::time::Duration::from_secs(wait.min(3600))).await;
                    continue;
                }
                collector.run_logged(&account, &mut NoProgress).await;
                if state::last_run(&root, &account.name) == last {
                    // Failed or busy (no pass recorded): wait one interval before trying again.
                    tokio::time::sleep(account.interval.duration()).await;
                }
            }
        }));
    }
    tasks
}
