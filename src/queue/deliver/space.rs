//! Deliveries waiting for a full mail volume to have room again.
//!
//! A local delivery that fails because the maildir's file system is full (ENOSPC, or EDQUOT
//! from a disk quota) is deferred like any other temporary failure, but the message's state
//! also names the maildir (`space_wait`). Such a message is due again as soon as that file
//! system has room for it (`statvfs`: its size plus [`MARGIN`]), not at its normal retry time:
//! any runner that looks at it (`deliver --once`, a queue scan) delivers it then, and the
//! long-running runners (`serve`, `deliver --watch`) keep the ids they know of here and look at
//! the volumes every [`POLL`] between their scans.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use crate::queue::spool::QueueId;

/// How often a long-running runner looks at the volumes messages wait for.
pub const POLL: Duration = Duration::from_secs(1);

/// Room needed besides the message itself (the file's blocks, the directory entry, the
/// mailbox state the reader rewrites).
pub const MARGIN: u64 = 64 * 1024;

/// Messages known to wait for room: id → (maildir, message size).
#[derive(Default)]
pub struct SpaceWaits {
    waiting: Mutex<HashMap<QueueId, (PathBuf, u64)>>,
}

/// Whether the file system of `dir` has room for a message of `size` bytes (unknown: yes, so
/// that a volume that cannot be asked is retried on the normal schedule at worst).
pub fn has_room(dir: &Path, size: u64) -> bool {
    crate::freespace::available(dir).map_or(true, |free| free >= size.saturating_add(MARGIN))
}

impl SpaceWaits {
    /// `id` waits for room in `dir` for `size` bytes.
    pub fn note(&self, id: &QueueId, dir: &Path, size: u64) {
        if let Ok(mut w) = self.waiting.lock() {
            w.insert(id.clone(), (dir.to_path_buf(), size));
        }
    }

    /// `id` no longer waits (delivered, deferred for another reason, or gone).
    pub fn forget(&self, id: &QueueId) {
        if let Ok(mut w) = self.waiting.lock() {
            w.remove(id);
        }
    }

    /// Whether any message waits.
    pub fn any(&self) -> bool {
        self.waiting.lock().is_ok_and(|w| !w.is_empty())
    }

    /// The waiting messages whose volume now has room for them (one `statvfs` per directory).
    pub fn ready(&self) -> Vec<QueueId> {
        let Ok(w) = self.waiting.lock() else {
            return Vec::new();
        };
        let mut free: HashMap<&Path, Option<u64>> = HashMap::new();
        let mut out: Vec<QueueId> = w
            .iter()
            .filter(|(_, (dir, size))| {
                let avail = *free
                    .entry(dir.as_path())
                    .or_insert_with(|| crate::freespace::available(dir).ok());
                avail.is_none_or(|a| a >= size.saturating_add(MARGIN))
            })
            .map(|(id, _)| id.clone())
            .collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_messages_are_ready_when_their_volume_has_room() {
        let dir = tempfile::tempdir().expect("tmp");
        let w = SpaceWaits::default();
        assert!(!w.any());
        let (a, b) = (QueueId::generate(), QueueId::generate());
        w.note(&a, dir.path(), 1);
        w.note(&b, &dir.path().join("missing/maildir"), u64::MAX);
        assert!(w.any());
        assert_eq!(w.ready(), vec![a.clone()], "b needs more than any disk has");
        assert!(has_room(dir.path(), 1) && !has_room(dir.path(), u64::MAX));
        w.forget(&a);
        assert!(w.ready().is_empty());
        w.forget(&b);
        assert!(!w.any());
    }
}
