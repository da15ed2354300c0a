//! Failed logins across connections: a budget per client address and per user name, with a
//! lockout that doubles each time the budget is spent again.
//!
//! [`super::AuthFailures`] slows down and closes one connection; a client that opens a new
//! connection for every guess (or many at once, or one per inetd-started process) meets this
//! ledger instead. The rules are pure: the caller passes the time and the [`Table`] the counts
//! live in — a file per key shared by every process of the host (`store::logins`), or memory.
//!
//! - An address (IPv4, or the /64 of an IPv6 address: one host's share) that fails
//!   `limit` times within `window` is locked out for `lockout`; each later lockout of the same
//!   address doubles, up to `max_lockout`. While locked out its logins fail at once, without the
//!   password check (which is what costs memory and CPU).
//! - A user name gets the same budget across all addresses, but its lockout does not apply to an
//!   address that has logged in as that user before: an attacker guessing one user's password
//!   cannot lock the owner out of the devices it already uses.
//! - Tables are bounded: [`MemoryTable::MAX_ENTRIES`] in memory; the files are swept of entries
//!   that say nothing any more ([`Count::expired`]).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::Duration;

/// Milliseconds since the Unix epoch: the ledger's clock (comparable across processes).
pub type Millis = u64;

/// The budget and lockout times (from `[auth]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LedgerPolicy {
    /// Failures of one address before it is locked out (0: no address budget).
    pub address_limit: u32,
    /// Failures for one user name before it is locked out (0: no user budget).
    pub user_limit: u32,
    /// How long failures are remembered for the count.
    pub window: Duration,
    /// The first lockout; it doubles with each further one.
    pub lockout: Duration,
    /// The longest lockout.
    pub max_lockout: Duration,
}

impl Default for LedgerPolicy {
    fn default() -> Self {
        LedgerPolicy {
            address_limit: 10,
            user_limit: 20,
            window: Duration::from_secs(15 * 60),
            lockout: Duration::from_secs(60),
            max_lockout: Duration::from_secs(60 * 60),
        }
    }
}

fn ms(d: Duration) -> Millis {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Why a login is refused before its credentials are looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lockout {
    /// The client's address spent its budget.
    Address,
    /// The user name spent its budget (and this address never logged in as it).
    User,
}

impl std::fmt::Display for Lockout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Lockout::Address => "client address locked out after repeated failed logins",
            Lockout::User => "user locked out after repeated failed logins",
        })
    }
}

/// The key an address is counted under: IPv4 as is, IPv6 by its /64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddressKey(u128);

impl AddressKey {
    pub fn of(ip: IpAddr) -> AddressKey {
        match ip {
            IpAddr::V4(v4) => AddressKey(u128::from(u32::from(v4))),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddressKey(u128::from(u32::from(v4))),
                None => AddressKey((u128::from(v6) >> 64 << 64) | 1 << 32),
            },
        }
    }
}

/// The table key of an address's count.
fn address_key(key: AddressKey) -> String {
    format!("address {:032x}", key.0)
}

/// The table key of a user name's count (by its first 64 bytes: what a client sends is
/// otherwise unbounded).
fn user_key(user: &str) -> String {
    format!("user {}", truncate(user))
}

/// The table key of a (user, address) pair that logged in.
fn known_key(user: &str, key: AddressKey) -> String {
    format!("known {:032x} {}", key.0, truncate(user))
}

/// The failures of one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Count {
    failures: u32,
    first: Millis,
    locked_until: Millis,
    lockouts: u32,
    last: Millis,
}

impl Count {
    fn new(now: Millis) -> Count {
        Count {
            failures: 0,
            first: now,
            locked_until: 0,
            lockouts: 0,
            last: now,
        }
    }

    fn locked(&self, now: Millis) -> bool {
        now < self.locked_until
    }

    fn fail(&mut self, now: Millis, limit: u32, policy: &LedgerPolicy) {
        if now.saturating_sub(self.first) > ms(policy.window) {
            self.failures = 0;
            self.first = now;
        }
        self.last = now;
        self.failures = self.failures.saturating_add(1);
        if limit > 0 && self.failures >= limit {
            let doublings = self.lockouts.min(20);
            let lockout = policy
                .lockout
                .checked_mul(1 << doublings)
                .map_or(policy.max_lockout, |d| d.min(policy.max_lockout));
            self.locked_until = now.saturating_add(ms(lockout));
            self.lockouts = self.lockouts.saturating_add(1);
            self.failures = 0;
            self.first = now;
        }
    }

    /// Whether the entry says nothing any more (no lockout running, failures forgotten, and
    /// long enough since the last lockout that the next would start from the first length).
    pub fn expired(&self, now: Millis, policy: &LedgerPolicy) -> bool {
        let quiet = now.saturating_sub(self.last);
        !self.locked(now) && quiet > ms(policy.window) && quiet > ms(policy.max_lockout * 2)
    }

    /// The count as one line of text (how a file table keeps it).
    pub fn line(&self) -> String {
        format!(
            "{} {} {} {} {}\n",
            self.failures, self.first, self.locked_until, self.lockouts, self.last
        )
    }

    /// A count written by [`Count::line`]; none when damaged.
    pub fn parse(text: &str) -> Option<Count> {
        let mut it = text.split_ascii_whitespace();
        Some(Count {
            failures: it.next()?.parse().ok()?,
            first: it.next()?.parse().ok()?,
            locked_until: it.next()?.parse().ok()?,
            lockouts: it.next()?.parse().ok()?,
            last: it.next()?.parse().ok()?,
        })
    }
}

/// Where the counts live. Each call is one step under the table's own locking, so processes
/// sharing a file table count together.
pub trait Table {
    /// The count of `key`, if any.
    fn get(&mut self, key: &str) -> Option<Count>;
    /// Changes the count of `key` (a new one starts from `fresh`).
    fn update(&mut self, key: &str, fresh: Count, change: &mut dyn FnMut(&mut Count));
    /// Whether `key` (a known pair) is recorded.
    fn known(&mut self, key: &str) -> bool;
    /// Records `key` (a known pair) at `now`.
    fn remember(&mut self, key: &str, now: Millis);
}

/// Failed logins by address and by user, across connections, over a [`Table`].
#[derive(Debug)]
pub struct Ledger<T> {
    policy: LedgerPolicy,
    table: T,
}

impl<T: Table> Ledger<T> {
    pub fn new(policy: LedgerPolicy, table: T) -> Ledger<T> {
        Ledger { policy, table }
    }

    /// Whether a login from `ip` (as `user`, when the name is known yet) must be refused now.
    pub fn lockout(
        &mut self,
        ip: Option<IpAddr>,
        user: Option<&str>,
        now: Millis,
    ) -> Option<Lockout> {
        let key = ip.map(AddressKey::of);
        if let Some(key) = key {
            if self
                .table
                .get(&address_key(key))
                .is_some_and(|c| c.locked(now))
            {
                return Some(Lockout::Address);
            }
        }
        let user = user.filter(|u| !u.is_empty())?;
        if !self
            .table
            .get(&user_key(user))
            .is_some_and(|c| c.locked(now))
        {
            return None;
        }
        let known = key.is_some_and(|k| self.table.known(&known_key(user, k)));
        (!known).then_some(Lockout::User)
    }

    /// Records a failed login from `ip` for `user` (when a name was given).
    pub fn failure(&mut self, ip: Option<IpAddr>, user: Option<&str>, now: Millis) {
        let policy = self.policy;
        if let Some(ip) = ip {
            let key = address_key(AddressKey::of(ip));
            self.table.update(&key, Count::new(now), &mut |c| {
                c.fail(now, policy.address_limit, &policy)
            });
        }
        if let Some(user) = user.filter(|u| !u.is_empty()) {
            self.table
                .update(&user_key(user), Count::new(now), &mut |c| {
                    c.fail(now, policy.user_limit, &policy)
                });
        }
    }

    /// Records a successful login: the address's failures are forgotten (not its lockout
    /// history) and the pair is known from now on.
    pub fn success(&mut self, ip: Option<IpAddr>, user: &str, now: Millis) {
        let Some(ip) = ip else { return };
        let key = AddressKey::of(ip);
        if self
            .table
            .get(&address_key(key))
            .is_some_and(|c| c.failures > 0)
        {
            self.table
                .update(&address_key(key), Count::new(now), &mut |c| c.failures = 0);
        }
        self.table.remember(&known_key(user, key), now);
    }
}

/// User names are counted by their first 64 bytes.
fn truncate(user: &str) -> &str {
    let mut end = user.len().min(64);
    while !user.is_char_boundary(end) {
        end -= 1;
    }
    user.get(..end).unwrap_or_default()
}

/// Counts in memory, for one process (and the rules' tests).
#[derive(Debug, Default)]
pub struct MemoryTable {
    counts: HashMap<String, Count>,
    known: HashSet<String>,
}

impl MemoryTable {
    /// Entries kept before the oldest are dropped.
    pub const MAX_ENTRIES: usize = 100_000;
}

impl Table for MemoryTable {
    fn get(&mut self, key: &str) -> Option<Count> {
        self.counts.get(key).copied()
    }

    fn update(&mut self, key: &str, fresh: Count, change: &mut dyn FnMut(&mut Count)) {
        if self.counts.len() >= Self::MAX_ENTRIES && !self.counts.contains_key(key) {
            let mut ages: Vec<(Millis, String)> = self
                .counts
                .iter()
                .map(|(k, c)| (c.last, k.clone()))
                .collect();
            ages.sort_unstable();
            for (_, k) in ages.into_iter().take(Self::MAX_ENTRIES / 10) {
                self.counts.remove(&k);
            }
        }
        change(self.counts.entry(key.to_string()).or_insert(fresh));
    }

    fn known(&mut self, key: &str) -> bool {
        self.known.contains(key)
    }

    fn remember(&mut self, key: &str, _now: Millis) {
        if self.known.len() >= Self::MAX_ENTRIES {
            self.known.clear();
        }
        self.known.insert(key.to_string());
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> LedgerPolicy {
        LedgerPolicy {
            address_limit: 3,
            user_limit: 5,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(10),
            max_lockout: Duration::from_secs(35),
        }
    }

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    fn secs(n: u64) -> Millis {
        n * 1000
    }

    #[test]
    fn an_address_is_locked_out_at_its_limit_and_the_lockout_doubles() {
        let t0: Millis = 1_000_000;
        let mut l = Ledger::new(policy(), MemoryTable::default());
        let a = ip("192.0.2.7");
        for _ in 0..2 {
            l.failure(a, Some("x"), t0);
        }
        assert_eq!(l.lockout(a, None, t0), None);
        l.failure(a, Some("y"), t0);
        assert_eq!(l.lockout(a, None, t0), Some(Lockout::Address));
        assert_eq!(l.lockout(a, None, t0 + secs(9)), Some(Lockout::Address));
        assert_eq!(l.lockout(a, None, t0 + secs(10)), None);
        // The next round locks for 20 s, then 35 (the cap), then 35 again.
        for (round, length) in [(1u64, 20u64), (2, 35), (3, 35)] {
            let t = t0 + secs(100 * round);
            for _ in 0..3 {
                l.failure(a, None, t);
            }
            assert!(
                l.lockout(a, None, t + secs(length - 1)).is_some(),
                "round {round}"
            );
            assert!(
                l.lockout(a, None, t + secs(length)).is_none(),
                "round {round}"
            );
        }
        // Another address is not affected.
        assert_eq!(l.lockout(ip("192.0.2.8"), None, t0), None);
    }

    #[test]
    fn failures_outside_the_window_are_forgotten() {
        let t0: Millis = 1_000_000;
        let mut l = Ledger::new(policy(), MemoryTable::default());
        let a = ip("192.0.2.7");
        l.failure(a, None, t0);
        l.failure(a, None, t0 + secs(30));
        l.failure(a, None, t0 + secs(61));
        assert_eq!(l.lockout(a, None, t0 + secs(61)), None);
    }

    #[test]
    fn ipv6_is_counted_by_its_64_and_mapped_ipv4_as_ipv4() {
        let t0: Millis = 1_000_000;
        let mut l = Ledger::new(policy(), MemoryTable::default());
        for host in ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3"] {
            l.failure(ip(host), None, t0);
        }
        assert!(l.lockout(ip("2001:db8:1:2::99"), None, t0).is_some());
        assert!(l.lockout(ip("2001:db8:1:3::1"), None, t0).is_none());
        for _ in 0..3 {
            l.failure(ip("::ffff:198.51.100.1"), None, t0);
        }
        assert!(l.lockout(ip("198.51.100.1"), None, t0).is_some());
    }

    #[test]
    fn a_user_lockout_spares_addresses_that_logged_in_as_that_user() {
        let t0: Millis = 1_000_000;
        let mut l = Ledger::new(
            LedgerPolicy {
                address_limit: 0,
                ..policy()
            },
            MemoryTable::default(),
        );
        let home = ip("198.51.100.10");
        l.success(home, "carol", t0);
        // Five addresses guess one each: the user budget is spent, no address budget applies.
        for i in 1..=5 {
            l.failure(ip(&format!("203.0.113.{i}")), Some("carol"), t0);
        }
        assert_eq!(
            l.lockout(ip("203.0.113.77"), Some("carol"), t0),
            Some(Lockout::User)
        );
        assert_eq!(l.lockout(home, Some("carol"), t0), None);
        assert_eq!(l.lockout(ip("203.0.113.77"), Some("dave"), t0), None);
        assert_eq!(l.lockout(ip("203.0.113.77"), None, t0), None);
    }

    #[test]
    fn success_forgets_the_address_failures() {
        let t0: Millis = 1_000_000;
        let mut l = Ledger::new(policy(), MemoryTable::default());
        let a = ip("192.0.2.7");
        l.failure(a, None, t0);
        l.failure(a, None, t0);
        l.success(a, "carol", t0);
        l.failure(a, None, t0);
        l.failure(a, None, t0);
        assert_eq!(l.lockout(a, None, t0), None);
    }

    #[test]
    fn zero_limits_never_lock_and_no_address_is_fine() {
        let t0: Millis = 1_000_000;
        let mut l = Ledger::new(
            LedgerPolicy {
                address_limit: 0,
                user_limit: 0,
                ..policy()
            },
            MemoryTable::default(),
        );
        for _ in 0..50 {
            l.failure(ip("192.0.2.7"), Some("u"), t0);
            l.failure(None, Some("u"), t0);
        }
        assert_eq!(l.lockout(ip("192.0.2.7"), Some("u"), t0), None);
    }

    #[test]
    fn tables_stay_bounded() {
        let t0: Millis = 1_000_000;
        let mut l = Ledger::new(policy(), MemoryTable::default());
        for i in 0..(MemoryTable::MAX_ENTRIES as u32 + 500) {
            let addr = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            l.failure(Some(addr), None, t0 + u64::from(i));
        }
        assert!(l.table.counts.len() <= MemoryTable::MAX_ENTRIES);
        // Long user names are counted by a bounded prefix.
        let long = "u".repeat(10_000);
        l.failure(None, Some(&long), t0);
        assert!(l.table.counts.keys().all(|k| k.len() <= "user ".len() + 64));
    }
}
