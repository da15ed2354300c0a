//! Logins as a bounded, shared resource: how many password checks run at once, which clients
//! are locked out, and checks skipped for clients that already hung up.
//!
//! A password check is argon2id (~19 MiB, ~40 ms). Unbounded, a few hundred unauthenticated
//! connections each sending one wrong password would take gigabytes and both cores. So:
//! - [`Gate`]: at most `[auth] concurrent_checks` checks run at once in the process; the rest
//!   wait in arrival order without having allocated anything, and a waiter whose client hung up
//!   (the connection driver sets its cancel flag, see [`super::link::Link::blocking`]) leaves the
//!   queue without checking;
//! - the [`Ledger`] (failures per address and per user across connections): a locked-out client
//!   fails at once, before any check;
//! - [`GuardedUsers`] puts both in front of the users file as the [`Credentials`] every protocol
//!   session uses, and remembers which user name a login tried, for the ledger and the log.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::Config;
use crate::proto::sasl::{Credentials, Ledger, LedgerPolicy, Lockout, Millis, ScramSecret};
use crate::store::logins::LoginFiles;
use crate::store::users::Users;

/// Longest wait for a turn at the gate; a check that waited this long fails.
const GATE_WAIT_LIMIT: Duration = Duration::from_secs(30);
/// How often a waiter looks at its cancel flag.
const GATE_POLL: Duration = Duration::from_millis(50);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A first-come, first-served limit on concurrent password checks, for blocking threads.
pub struct Gate {
    state: Mutex<GateState>,
    turn: Condvar,
}

struct GateState {
    free: usize,
    queue: VecDeque<u64>,
    next_ticket: u64,
}

/// A place at the gate; leaving it lets the next waiter in.
pub struct Pass<'a>(&'a Gate);

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        lock(&self.0.state).free += 1;
        self.0.turn.notify_all();
    }
}

impl Gate {
    pub fn new(places: usize) -> Gate {
        Gate {
            state: Mutex::new(GateState {
                free: places.max(1),
                queue: VecDeque::new(),
                next_ticket: 0,
            }),
            turn: Condvar::new(),
        }
    }

    /// Waits for a place; `None` when `cancel` was set (or the wait took too long) first.
    pub fn enter(&self, cancel: &AtomicBool) -> Option<Pass<'_>> {
        let started = Instant::now();
        let mut s = lock(&self.state);
        let ticket = s.next_ticket;
        s.next_ticket += 1;
        s.queue.push_back(ticket);
        loop {
            if cancel.load(Ordering::SeqCst) || started.elapsed() > GATE_WAIT_LIMIT {
                s.queue.retain(|t| *t != ticket);
                drop(s);
                self.turn.notify_all();
                return None;
            }
            if s.free > 0 && s.queue.front() == Some(&ticket) {
                s.queue.pop_front();
                s.free -= 1;
                drop(s);
                self.turn.notify_all();
                return Some(Pass(self));
            }
            s = self
                .turn
                .wait_timeout(s, GATE_POLL)
                .map_or_else(|e| e.into_inner().0, |(g, _)| g);
        }
    }
}

/// Most passwords [`Remembered`] holds; when full, the expired go, then all.
const REMEMBERED_MOST: usize = 10_000;

/// Passwords the stored hash accepted lately (`[auth] remember_logins`), so that a login
/// repeated within that time (webmail logs in for every page, a sync client for every folder)
/// skips the argon2 check. Held as a keyed digest (HMAC-SHA-256 under a key drawn at random
/// for the process) of the stored hash and the password: never the password, and a changed
/// password (a new stored hash) or another password does not match. An entry lasts the time
/// from its check, not from its last use. Only successes are kept: a wrong password always
/// costs a full check, and lockouts and the gate apply to every login as before.
pub struct Remembered {
    key: [u8; 32],
    ttl: Duration,
    seen: Mutex<std::collections::HashMap<[u8; 32], Instant>>,
}

impl Remembered {
    pub fn new(ttl: Duration) -> Remembered {
        let mut key = [0u8; 32];
        // No key, nothing remembered: every login is checked.
        let ttl = if getrandom::fill(&mut key).is_ok() {
            ttl
        } else {
            Duration::ZERO
        };
        Remembered {
            key,
            ttl,
            seen: Mutex::new(std::collections::HashMap::new()),
        }
    }

    fn digest(&self, stored: &str, password: &str) -> Option<[u8; 32]> {
        use hmac::{KeyInit, Mac};
        let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&self.key).ok()?;
        mac.update(&(stored.len() as u64).to_be_bytes());
        mac.update(stored.as_bytes());
        mac.update(password.as_bytes());
        Some(mac.finalize().into_bytes().into())
    }

    /// Whether `password` was accepted against `stored` within the time.
    pub fn knows(&self, stored: &str, password: &str) -> bool {
        if self.ttl.is_zero() {
            return false;
        }
        let Some(d) = self.digest(stored, password) else {
            return false;
        };
        lock(&self.seen)
            .get(&d)
            .is_some_and(|at| at.elapsed() < self.ttl)
    }

    /// `stored` just accepted `password`.
    pub fn remember(&self, stored: &str, password: &str) {
        if self.ttl.is_zero() {
            return;
        }
        let Some(d) = self.digest(stored, password) else {
            return;
        };
        let mut seen = lock(&self.seen);
        if seen.len() >= REMEMBERED_MOST {
            let ttl = self.ttl;
            seen.retain(|_, at| at.elapsed() < ttl);
            if seen.len() >= REMEMBERED_MOST {
                seen.clear();
            }
        }
        seen.insert(d, Instant::now());
    }
}

/// The process's login state: the gate, and the ledger's rules over the host-wide counts in
/// the spool ([`LoginFiles`]), and the passwords checked lately. Its file work is blocking:
/// callers are on the blocking pool.
pub struct LoginGuard {
    gate: Gate,
    policy: LedgerPolicy,
    spool: PathBuf,
    remembered: Remembered,
}

/// The ledger's clock.
fn now() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl LoginGuard {
    pub fn new(config: &Config) -> LoginGuard {
        LoginGuard {
            gate: Gate::new(config.auth.concurrent_checks()),
            policy: config.auth.ledger(),
            spool: config.paths.spool.clone(),
            remembered: Remembered::new(config.auth.remember_logins.duration()),
        }
    }

    fn ledger(&self) -> Ledger<LoginFiles> {
        Ledger::new(self.policy, LoginFiles::new(&self.spool))
    }

    /// The login state of one connection from `ip`; `exempt` (a trusted network) is never
    /// locked out by its address.
    pub fn client(
        self: &Arc<Self>,
        ip: Option<IpAddr>,
        exempt: bool,
        cancel: Arc<AtomicBool>,
    ) -> Arc<ClientLogin> {
        Arc::new(ClientLogin {
            guard: self.clone(),
            ip: if exempt { None } else { ip },
            cancel,
            tried: Mutex::new(Tried::default()),
        })
    }
}

/// What the current login attempt of a connection tried.
#[derive(Default)]
struct Tried {
    user: Option<String>,
    lockout: Option<Lockout>,
}

/// One connection's side of the login guard.
pub struct ClientLogin {
    guard: Arc<LoginGuard>,
    /// The address the ledger counts (none for exempt clients).
    ip: Option<IpAddr>,
    cancel: Arc<AtomicBool>,
    tried: Mutex<Tried>,
}

impl ClientLogin {
    /// A failed login ended (blocking: file work): counted for the address and the user name tried. Returns that
    /// name and, when the attempt was refused by a lockout, why.
    pub fn failed(&self) -> (Option<String>, Option<Lockout>) {
        let tried = std::mem::take(&mut *lock(&self.tried));
        if tried.lockout.is_none() {
            self.guard
                .ledger()
                .failure(self.ip, tried.user.as_deref(), now());
        }
        (tried.user, tried.lockout)
    }

    /// A login succeeded as `user` (blocking: file work).
    pub fn succeeded(&self, user: &str) {
        *lock(&self.tried) = Tried::default();
        self.guard.ledger().success(self.ip, user, now());
    }

    /// Notes the user name tried; says whether this client must be refused now.
    fn admit(&self, user: &str) -> bool {
        let lockout = self.guard.ledger().lockout(self.ip, Some(user), now());
        let mut tried = lock(&self.tried);
        tried.user = Some(user.chars().take(64).collect());
        tried.lockout = lockout;
        lockout.is_none()
    }

    /// Runs a password check through the gate, unless the client is gone or now locked out.
    fn check(&self, user: &str, verify: impl FnOnce() -> bool) -> bool {
        if !self.admit(user) {
            return false;
        }
        let Some(_pass) = self.guard.gate.enter(&self.cancel) else {
            return false;
        };
        // Failures of other connections may have locked this client out while it waited.
        self.admit(user) && verify()
    }
}

/// The users file behind the login guard: what protocol sessions authenticate against. A login
/// name that is a full address (`alice@example.test`, what Thunderbird and phones send) is the
/// user its mail is delivered to ([`crate::queue::routing`]), so per-domain mailboxes
/// (`bob@alpha.test` and `bob@beta.test` handled to different users) log in by address.
pub struct GuardedUsers {
    pub users: Arc<Users>,
    pub client: Arc<ClientLogin>,
    pub config: Arc<crate::config::Config>,
}

impl GuardedUsers {
    /// The user name of login `name`.
    fn name(&self, name: &str) -> String {
        login_user(&self.config, &self.users, name)
    }
}

/// The user a login name stands for: itself, or — a full address — the user its mail goes to.
pub fn login_user(config: &crate::config::Config, users: &Users, name: &str) -> String {
    if !name.contains('@') || users.is_user(name) {
        return name.to_string();
    }
    match crate::queue::routing::route(config, users, name) {
        Ok(crate::queue::routing::Route::Local { user }) => user,
        _ => name.to_string(),
    }
}

impl Credentials for GuardedUsers {
    /// A password the stored hash accepted lately passes without a new argon2 check
    /// ([`Remembered`]); lockouts and the gate come first either way.
    fn verify_password(&self, user: &str, password: &str) -> bool {
        let name = self.name(user);
        let remembered = &self.client.guard.remembered;
        self.client.check(user, || {
            let stored = self.users.password_hash(&name);
            if stored.is_some_and(|h| remembered.knows(h, password)) {
                return true;
            }
            let ok = self.users.verify_password(&name, password);
            if let (true, Some(h)) = (ok, stored) {
                remembered.remember(h, password);
            }
            ok
        })
    }

    fn verify_pop3_password(&self, user: &str, password: &str) -> bool {
        let name = self.name(user);
        self.client
            .check(user, || self.users.verify_pop3_password(&name, password))
    }

    fn shared_secret(&self, user: &str) -> Option<String> {
        self.client
            .admit(user)
            .then(|| self.users.shared_secret(&self.name(user)))
            .flatten()
    }

    fn scram_sha256(&self, user: &str) -> Option<ScramSecret> {
        self.client
            .admit(user)
            .then(|| self.users.scram_sha256(&self.name(user)))
            .flatten()
    }

    /// No helper is started for a client that is locked out by address; the helper is asked
    /// about a user only when the ledger admits that user name.
    fn ntlm_relay(&self) -> Option<Box<dyn crate::proto::sasl::ntlm::NtlmRelay>> {
        if !self.client.admit("") {
            return None;
        }
        let inner = self.users.ntlm_relay()?;
        Some(Box::new(GuardedRelay {
            inner,
            client: self.client.clone(),
        }))
    }

    fn nt_hash(&self, user: &str) -> Option<[u8; 16]> {
        self.client
            .admit(user)
            .then(|| self.users.nt_hash(&self.name(user)))
            .flatten()
    }

    fn account(&self, login: &str) -> String {
        self.name(login)
    }

    fn quota(&self, user: &str) -> Option<u64> {
        self.users.get(user).and_then(|u| u.quota)
    }
}

/// An NTLM helper behind the login guard: the user an AUTHENTICATE message names must pass the
/// ledger (lockouts) before the helper hears of it, and is noted for the failure count.
struct GuardedRelay {
    inner: Box<dyn crate::proto::sasl::ntlm::NtlmRelay>,
    client: Arc<ClientLogin>,
}

impl crate::proto::sasl::ntlm::NtlmRelay for GuardedRelay {
    fn challenge(&mut self, negotiate: &[u8]) -> Option<Vec<u8>> {
        self.inner.challenge(negotiate)
    }

    fn authenticate(&mut self, authenticate: &[u8]) -> Result<String, bool> {
        let user = crate::proto::sasl::ntlm::parse_authenticate(authenticate)
            .map(|a| a.user)
            .unwrap_or_default();
        if !self.client.admit(&user) {
            return Err(true);
        }
        self.inner.authenticate(authenticate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn the_gate_lets_through_at_most_its_places() {
        let gate = Arc::new(Gate::new(2));
        let inside = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (gate, inside, most) = (gate.clone(), inside.clone(), most.clone());
                std::thread::spawn(move || {
                    let never = AtomicBool::new(false);
                    let _pass = gate.enter(&never).expect("a place");
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    inside.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_remembered_password_is_known_only_for_its_stored_hash_and_its_time() {
        let r = Remembered::new(Duration::from_millis(300));
        let hash = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$one";
        assert!(!r.knows(hash, "secret"));
        r.remember(hash, "secret");
        assert!(r.knows(hash, "secret"));
        assert!(!r.knows(hash, "secret2"));
        assert!(!r.knows(hash, "secre"));
        assert!(!r.knows(hash, ""));
        // A new password (a new stored hash): the old password is not known for it.
        assert!(!r.knows("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$two", "secret"));
        // The length of the hash is in the digest: no shifting of bytes between the two.
        r.remember("ab", "c");
        assert!(!r.knows("a", "bc"));
        std::thread::sleep(Duration::from_millis(350));
        assert!(!r.knows(hash, "secret"), "forgotten after its time");
        let off = Remembered::new(Duration::ZERO);
        off.remember(hash, "secret");
        assert!(!off.knows(hash, "secret"));
    }

    #[test]
    fn a_cancelled_waiter_leaves_without_a_place() {
        let gate = Gate::new(1);
        let never = AtomicBool::new(false);
        let held = gate.enter(&never).unwrap();
        let cancelled = AtomicBool::new(true);
        let start = Instant::now();
        assert!(gate.enter(&cancelled).is_none());
        assert!(start.elapsed() < Duration::from_secs(1));
        drop(held);
        // The queue did not keep the cancelled ticket: the next waiter gets in at once.
        assert!(gate.enter(&never).is_some());
    }
}
