//! Connection reuse: after a transaction, the connection to a destination waits (at most
//! `remote.connection_reuse` long) for the next message to the same destination; that message
//! sends RSET and goes on the same connection instead of a new one (greeting, TLS, EHLO, AUTH).
//!
//! Keyed by destination, so a connection authenticated for one Servers-table entry never carries
//! mail for another. At most `per_destination` idle connections per key, at most
//! [`MAX_TRANSACTIONS`] transactions per connection; idle ones are closed with QUIT when their
//! time is up (a timer task on the delivery runtime) or when a queue run ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::client::Session;

/// Transactions on one connection before it is closed (as Postfix's default reuse limit).
pub const MAX_TRANSACTIONS: usize = 100;

/// Idle connections by destination.
pub struct Pool {
    idle: Duration,
    per_key: usize,
    conns: Mutex<HashMap<String, Vec<(Instant, Session)>>>,
}

impl Pool {
    pub fn new(idle: Duration, per_key: usize) -> Pool {
        Pool {
            idle,
            per_key: per_key.max(1),
            conns: Mutex::new(HashMap::new()),
        }
    }

    /// Whether connections are kept at all.
    pub fn enabled(&self) -> bool {
        !self.idle.is_zero()
    }

    /// The most recently used idle connection to `key` that is still within its idle time.
    pub async fn take(&self, key: &str) -> Option<Session> {
        let (found, stale) = {
            let Ok(mut map) = self.conns.lock() else {
                return None;
            };
            let list = map.get_mut(key)?;
            let stale = expire(list, self.idle);
            let found = list.pop().map(|(_, s)| s);
            if list.is_empty() {
                map.remove(key);
            }
            (found, stale)
        };
        close(stale).await;
        found
    }

    /// Keep `session` for the next message to `key`; closes it instead when reuse is off, its
    /// transaction limit is reached or the destination already has enough idle connections.
    /// Must be called on the delivery runtime (it starts the idle timer there).
    pub async fn put(self: &Arc<Self>, key: &str, session: Session) {
        if !self.enabled() || session.sent >= MAX_TRANSACTIONS {
            return session.quit().await;
        }
        let extra = {
            let Ok(mut map) = self.conns.lock() else {
                return session.quit().await;
            };
            let list = map.entry(key.to_string()).or_default();
            if list.len() >= self.per_key {
                Some(session)
            } else {
                list.push((Instant::now(), session));
                None
            }
        };
        if let Some(s) = extra {
            return s.quit().await;
        }
        let pool = Arc::clone(self);
        let key = key.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(pool.idle + Duration::from_millis(50)).await;
            pool.reap(&key).await;
        });
    }

    /// Close the connections to `key` whose idle time is up.
    async fn reap(&self, key: &str) {
        let stale = {
            let Ok(mut map) = self.conns.lock() else {
                return;
            };
            let Some(list) = map.get_mut(key) else {
                return;
            };
            let stale = expire(list, self.idle);
            if list.is_empty() {
                map.remove(key);
            }
            stale
        };
        close(stale).await;
    }

    /// Close every idle connection (the end of a queue run).
    pub async fn close_all(&self) {
        let all: Vec<Session> = match self.conns.lock() {
            Ok(mut map) => map
                .drain()
                .flat_map(|(_, list)| list.into_iter().map(|(_, s)| s))
                .collect(),
            Err(_) => return,
        };
        close(all).await;
    }

    /// Idle connections held now (for tests).
    pub fn idle_count(&self) -> usize {
        self.conns
            .lock()
            .map(|m| m.values().map(Vec::len).sum())
            .unwrap_or(0)
    }
}

/// Take out of `list` the entries idle for longer than `idle`.
fn expire(list: &mut Vec<(Instant, Session)>, idle: Duration) -> Vec<Session> {
    let (stale, fresh) = std::mem::take(list)
        .into_iter()
        .partition::<Vec<_>, _>(|(since, _)| since.elapsed() >= idle);
    *list = fresh;
    stale.into_iter().map(|(_, s)| s).collect()
}

async fn close(sessions: Vec<Session>) {
    for s in sessions {
        s.quit().await;
    }
}
