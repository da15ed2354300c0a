//! Connections at once per destination, across the runner's threads.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};

/// Counts busy slots per destination; `acquire` blocks while a destination is full.
pub struct Limiter {
    max: usize,
    busy: Mutex<HashMap<String, usize>>,
    freed: Condvar,
}

/// A taken slot, given back when dropped.
pub struct Slot<'a> {
    limiter: &'a Limiter,
    key: String,
}

impl Limiter {
    pub fn new(max: usize) -> Limiter {
        Limiter {
            max: max.max(1),
            busy: Mutex::new(HashMap::new()),
            freed: Condvar::new(),
        }
    }

    /// Wait for a free slot for `key`.
    pub fn acquire(&self, key: &str) -> Slot<'_> {
        if let Ok(busy) = self.busy.lock() {
            let max = self.max;
            let waited = self
                .freed
                .wait_while(busy, |b| b.get(key).copied().unwrap_or(0) >= max);
            if let Ok(mut busy) = waited {
                *busy.entry(key.to_string()).or_default() += 1;
            }
        }
        Slot {
            limiter: self,
            key: key.to_string(),
        }
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let Ok(mut busy) = self.limiter.busy.lock() {
            if let Some(n) = busy.get_mut(&self.key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    busy.remove(&self.key);
                }
            }
        }
        self.limiter.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn never_more_than_max_per_key() {
        let l = Limiter::new(2);
        let now = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    let _slot = l.acquire("a.test");
                    let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(n, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    now.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }
}
