//! The spool: every accepted message, durably on disk until delivery is done with it.
//!
//! Layout under the spool root:
//! - `tmp/`   partial writes (removed at start-up when stale)
//! - `queue/` one file per message: the envelope as one JSON line, then the message bytes
//! - `hold/`  the same, parked by `queue hold`
//! - `state/` `ID.json`, the mutable delivery state (attempts, next try, per-recipient status),
//!   written only when a delivery attempt leaves work for later. A delivery in progress sets the
//!   owner-execute bit of the queue file, so a deliverer that crashed is seen by the next one.
//! - `claims/` `ID` while a runner sends the message to a remote next hop ([`claim`]): a name made
//!   with `link(2)`, which holds across the hosts of a shared spool when a lock may not.
//! - `free/`  emptied queue files of finished messages, taken again for new ones ([`recycle`]).
//! - `clean.stamp` when the spool was last cleaned of crash debris ([`clean`]).
//! - `scram-decoy.key` the key of SCRAM's decoy salts, made once for every process ([`secret`]).
//!
//! A message is stored by writing `tmp/ID`, fsync, rename to `queue/ID`, fsync of `queue/` (shared
//! among concurrent writers by [`dirsync::DirSync`]); only then is it acknowledged. Deliverers take
//! an exclusive `flock` on the queue file, so any number of them can run at once.

pub mod claim;
mod clean;
pub mod dirsync;
pub mod envelope;
pub mod id;
mod message;
mod recycle;
pub mod secret;

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use clean::CLEAN_INTERVAL;
pub use envelope::{DeliveryState, Envelope, Origin, Recipient, RecipientStatus};
pub use id::QueueId;
pub use message::{LockedMessage, QueuedMessage};

/// First bytes of every queue file, before the envelope JSON.
const MAGIC: &[u8] = b"POSTERN1 ";

/// Where a queued message sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Queue,
    Hold,
}

impl Area {
    fn dir(self) -> &'static str {
        match self {
            Area::Queue => "queue",
            Area::Hold => "hold",
        }
    }
}

/// Spool failures.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool I/O error on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("queue file {path} is damaged: {reason}")]
    Damaged { path: PathBuf, reason: String },
    #[error("no message {0} in the queue")]
    NotFound(String),
    #[error("message {0} is being delivered right now; try again")]
    Busy(String),
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

/// An open spool directory.
pub struct Spool {
    root: PathBuf,
    queue_sync: dirsync::DirSync,
    free: recycle::FreeFiles,
}

impl Spool {
    /// Open the spool at `root`, creating its directories when missing.
    pub fn open(root: &Path) -> Result<Spool, SpoolError> {
        for sub in ["tmp", "queue", "hold", "state", recycle::DIR, claim::DIR] {
            let p = root.join(sub);
            fs::create_dir_all(&p).map_err(io_err(&p))?;
        }
        Ok(Spool {
            root: root.to_path_buf(),
            queue_sync: dirsync::DirSync::new(&root.join("queue")),
            free: recycle::FreeFiles::new(root),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn path(&self, area: Area, id: &QueueId) -> PathBuf {
        self.root.join(area.dir()).join(id.as_str())
    }

    pub(crate) fn state_path(&self, id: &QueueId) -> PathBuf {
        self.root.join("state").join(format!("{id}.json"))
    }

    /// Durably store a new message made of `parts` (e.g. a Received header and the data) with
    /// `envelope`. Returns once the message is on disk and its directory entry is too.
    pub fn store(&self, envelope: &Envelope, parts: &[&[u8]]) -> Result<QueueId, SpoolError> {
        let id = QueueId::generate();
        self.store_as(&id, envelope, parts)?;
        Ok(id)
    }

    /// Like [`Spool::store`], with an id made beforehand (e.g. named in the Received header).
    pub fn store_as(
        &self,
        id: &QueueId,
        envelope: &Envelope,
        parts: &[&[u8]],
    ) -> Result<(), SpoolError> {
        self.store_in(Area::Queue, id, envelope, parts)
    }

    /// Like [`Spool::store_as`], into `area`: [`Area::Hold`] parks a message (a milter's
    /// quarantine) until `queue release`.
    pub fn store_in(
        &self,
        area: Area,
        id: &QueueId,
        envelope: &Envelope,
        parts: &[&[u8]],
    ) -> Result<(), SpoolError> {
        let tmp = self.root.join("tmp").join(id.as_str());
        let json = serde_json::to_vec(envelope).map_err(|e| SpoolError::Damaged {
            path: tmp.clone(),
            reason: e.to_string(),
        })?;
        let result = (|| -> io::Result<()> {
            let mut f = self.free.take(&tmp)?;
            let mut buf = Vec::with_capacity(MAGIC.len() + json.len() + 1);
            buf.extend_from_slice(MAGIC);
            buf.extend_from_slice(&json);
            buf.push(b'\n');
            let mut slices: Vec<io::IoSlice<'_>> = Vec::with_capacity(parts.len() + 1);
            slices.push(io::IoSlice::new(&buf));
            slices.extend(parts.iter().map(|p| io::IoSlice::new(p)));
            write_all_vectored(&mut f, &mut slices)?;
            f.sync_data()?;
            Ok(())
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(io_err(&tmp)(e));
        }
        let dest = self.path(area, id);
        if let Err(e) = fs::rename(&tmp, &dest) {
            let _ = fs::remove_file(&tmp);
            return Err(io_err(&dest)(e));
        }
        match area {
            Area::Queue => self.queue_sync.sync().map_err(io_err(&dest))?,
            Area::Hold => crate::store::durable::sync_dir(&self.root.join(area.dir()))
                .map_err(io_err(&dest))?,
        }
        Ok(())
    }

    /// Ids in `area`, oldest first.
    pub fn list(&self, area: Area) -> Result<Vec<QueueId>, SpoolError> {
        let dir = self.root.join(area.dir());
        let mut ids: Vec<QueueId> = fs::read_dir(&dir)
            .map_err(io_err(&dir))?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().and_then(QueueId::parse))
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Where a message is, if anywhere.
    pub fn find(&self, id: &QueueId) -> Option<Area> {
        [Area::Queue, Area::Hold]
            .into_iter()
            .find(|a| self.path(*a, id).exists())
    }

    /// Read a message's envelope and state without locking it (for listings).
    pub fn peek(&self, area: Area, id: &QueueId) -> Result<QueuedMessage, SpoolError> {
        QueuedMessage::read(self, area, id)
    }

    /// Lock a message for delivery or for an admin command. `Ok(None)` when another process holds
    /// it or it is gone.
    pub fn try_lock(&self, area: Area, id: &QueueId) -> Result<Option<LockedMessage>, SpoolError> {
        LockedMessage::try_open(self, area, id)
    }
}

/// Write every byte of `slices` to `f` (retrying short and interrupted writes).
pub fn write_all_vectored(f: &mut File, mut slices: &mut [io::IoSlice<'_>]) -> io::Result<()> {
    while !slices.is_empty() {
        match f.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => io::IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
