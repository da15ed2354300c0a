//! Queue ids: unique across processes, sortable by time, safe as file names.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Crockford base32 digits: sortable in ASCII order, no I/L/O/U.
const DIGITS: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Length of every queue id.
pub const ID_LEN: usize = 18;

static SEQUENCE: AtomicU32 = AtomicU32::new(0);
/// `[cluster] node` of this host (0-7), set once the configuration is loaded.
static NODE: AtomicU32 = AtomicU32::new(0);
/// Bits of a Linux process id (`PID_MAX_LIMIT` is 2^22): the node number sits above them.
const PID_BITS: u32 = 22;

/// This host's node number (`[cluster] node`).
pub fn node() -> u8 {
    NODE.load(Ordering::Relaxed) as u8
}

/// Sets this host's node number (`[cluster] node`), so that hosts sharing one spool never make
/// the same id: two processes of two hosts may have the same process id in the same
/// microsecond, never the same node number too.
pub fn set_node(node: u8) {
    NODE.store(u32::from(node.min(7)), Ordering::Relaxed);
}

/// A queue id: 11 digits of microseconds since the epoch, 5 of the process id (with the host's
/// `[cluster] node` in the 3 bits above the 22 a process id can use), 2 of a per-process
/// sequence number, all base32. Ids made later sort later (to the microsecond).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueId(String);

impl QueueId {
    /// A fresh id.
    pub fn generate() -> QueueId {
        let micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed) as u64;
        let mut s = String::with_capacity(ID_LEN);
        push_base32(&mut s, micros, 11);
        let pid = u64::from(std::process::id()) & ((1 << PID_BITS) - 1);
        let node = u64::from(NODE.load(Ordering::Relaxed));
        push_base32(&mut s, node << PID_BITS | pid, 5);
        push_base32(&mut s, seq, 2);
        QueueId(s)
    }

    /// Parse an id given by a user or found on disk; `None` unless it is exactly an id.
    pub fn parse(s: &str) -> Option<QueueId> {
        (s.len() == ID_LEN && s.bytes().all(|b| DIGITS.contains(&b))).then(|| QueueId(s.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// When the id was made, in seconds since the epoch.
    pub fn unix_time(&self) -> u64 {
        let mut v: u64 = 0;
        for b in self.0.bytes().take(11) {
            let d = DIGITS.iter().position(|&x| x == b).unwrap_or(0) as u64;
            v = v << 5 | d;
        }
        v / 1_000_000
    }
}

impl std::fmt::Display for QueueId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn push_base32(s: &mut String, value: u64, digits: u32) {
    for i in (0..digits).rev() {
        let d = (value >> (5 * i)) & 31;
        s.extend(DIGITS.get(d as usize).map(|&c| c as char));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_sortable_and_parse() {
        let ids: Vec<QueueId> = (0..2000).map(|_| QueueId::generate()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len());
        for w in ids.windows(2) {
            assert!(w[0].as_str()[..11] <= w[1].as_str()[..11]);
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        assert!(ids[0].unix_time().abs_diff(now) < 5);
        assert_eq!(QueueId::parse(ids[0].as_str()), Some(ids[0].clone()));
    }

    #[test]
    fn the_node_number_sits_above_the_process_id() {
        let field = |id: &QueueId| {
            id.as_str()[11..16].bytes().fold(0u64, |v, b| {
                v << 5 | DIGITS.iter().position(|&x| x == b).expect("digit") as u64
            })
        };
        set_node(5);
        let on_five = QueueId::generate();
        set_node(0);
        let on_zero = QueueId::generate();
        let pid = u64::from(std::process::id());
        assert_eq!(field(&on_five), 5 << PID_BITS | pid);
        assert_eq!(field(&on_zero), pid);
        assert_ne!(on_five.as_str()[11..16], on_zero.as_str()[11..16]);
    }

    #[test]
    fn parse_refuses_anything_else() {
        for bad in [
            "",
            "../../etc/passwd",
            "0123456789ABCDEFG",
            "0123456789ABCDEFGHI",
            "0123456789abcdefgh",
            "01234567/9ABCDEFGH",
            "0123456789ABCDEFGU",
        ] {
            assert!(QueueId::parse(bad).is_none(), "{bad:?}");
        }
    }
}
