//! Reading queued messages, and the lock a deliverer or admin command holds on one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;

use super::{io_err, Area, DeliveryState, Envelope, QueueId, Spool, SpoolError, MAGIC};

/// The queue-file mode bit that marks a delivery in progress (owner execute).
const BUSY_BIT: u32 = 0o100;

/// Longest envelope line accepted when reading a queue file.
const MAX_ENVELOPE: u64 = 16 * 1024 * 1024;

/// A queued message's envelope and state, read without a lock.
#[derive(Debug, Clone)]
pub struct QueuedMessage {
    pub id: QueueId,
    pub area: Area,
    pub envelope: Envelope,
    pub state: DeliveryState,
    /// Byte offset of the message in the queue file.
    pub body_offset: u64,
    pub path: PathBuf,
    /// Whether a state file exists for it (`state/ID.json`).
    pub state_saved: bool,
}

impl QueuedMessage {
    pub(crate) fn read(spool: &Spool, area: Area, id: &QueueId) -> Result<Self, SpoolError> {
        let path = spool.path(area, id);
        let file = File::open(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                SpoolError::NotFound(id.to_string())
            } else {
                io_err(&path)(e)
            }
        })?;
        let read = Self::from_file(spool, area, id, &file, path.clone());
        // Read without a lock: the file may have been finished and recycled meanwhile (its
        // inode emptied and given to another message); then the message is gone.
        if !still_at(&file, &path) {
            return Err(SpoolError::NotFound(id.to_string()));
        }
        read
    }

    fn from_file(
        spool: &Spool,
        area: Area,
        id: &QueueId,
        file: &File,
        path: PathBuf,
    ) -> Result<Self, SpoolError> {
        let mut reader = BufReader::new(file.take(MAX_ENVELOPE));
        let mut line = Vec::new();
        reader.read_until(b'\n', &mut line).map_err(io_err(&path))?;
        let damaged = |reason: &str| SpoolError::Damaged {
            path: path.clone(),
            reason: reason.to_string(),
        };
        if !line.ends_with(b"\n") {
            return Err(damaged("no complete envelope line"));
        }
        let json = line
            .strip_prefix(MAGIC)
            .ok_or_else(|| damaged("not a postern queue file"))?;
        let envelope: Envelope =
            serde_json::from_slice(json).map_err(|e| damaged(&format!("envelope: {e}")))?;
        let state_path = spool.state_path(id);
        let (mut state, state_saved) = match fs::read(&state_path) {
            Ok(bytes) => (
                serde_json::from_slice::<DeliveryState>(&bytes)
                    .map_err(|e| damaged(&format!("state file: {e}")))?,
                true,
            ),
            Err(e) if e.kind() == io::ErrorKind::NotFound => (DeliveryState::default(), false),
            Err(e) => return Err(io_err(&state_path)(e)),
        };
        if state.recipients.len() != envelope.recipients.len() {
            state.recipients = envelope.recipients.clone();
        }
        Ok(QueuedMessage {
            id: id.clone(),
            area,
            envelope,
            state,
            body_offset: line.len() as u64,
            path,
            state_saved,
        })
    }

    /// The message bytes.
    pub fn read_body(&self) -> Result<Vec<u8>, SpoolError> {
        let f = File::open(&self.path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => SpoolError::NotFound(self.id.to_string()),
            _ => io_err(&self.path)(e),
        })?;
        read_body_of(&f, self)
    }

    /// Whether every recipient is done (delivered or failed).
    pub fn is_finished(&self) -> bool {
        self.state
            .recipients
            .iter()
            .all(|r| r.status != super::RecipientStatus::Pending)
    }
}

/// A message locked for exclusive handling (delivery, hold, abort). The lock is an `flock` on the
/// queue file and ends when this is dropped.
pub struct LockedMessage {
    pub msg: QueuedMessage,
    file: File,
    spool_root: PathBuf,
    /// Set when a previous deliverer left its busy mark: it crashed mid-delivery.
    pub recovering: bool,
}

impl LockedMessage {
    pub(crate) fn try_open(
        spool: &Spool,
        area: Area,
        id: &QueueId,
    ) -> Result<Option<Self>, SpoolError> {
        let path = spool.path(area, id);
        let file = match OpenOptions::new().read(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&path)(e)),
        };
        match file.try_lock() {
            // A test hook (debug builds only): runners that do not honour each other's locks,
            // as after a GlusterFS brick restart, to show what the delivery claim prevents.
            _ if cfg!(debug_assertions)
                && std::env::var_os("POSTERN_TEST_IGNORE_QUEUE_LOCKS").is_some() => {}
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Ok(None),
            Err(fs::TryLockError::Error(e)) => return Err(io_err(&path)(e)),
        }
        // Another process may have finished (recycled) or moved it between open and lock.
        if !still_at(&file, &path) {
            return Ok(None);
        }
        let meta = file.metadata().map_err(io_err(&path))?;
        if meta.len() == 0 {
            // No message was ever an empty file here (a queue file is renamed into place only
            // once written and fsynced): a replicated volume brought back a finished message's
            // name without its bytes. Nothing to deliver; drop the name.
            let _ = fs::remove_file(&path);
            crate::events::event("queue_file_removed")
                .field("id", id)
                .field("reason", "empty")
                .emit();
            return Ok(None);
        }
        let mode = meta.mode();
        let msg = QueuedMessage::from_file(spool, area, id, &file, path)?;
        let recovering = mode & BUSY_BIT != 0;
        Ok(Some(LockedMessage {
            msg,
            file,
            spool_root: spool.root().to_path_buf(),
            recovering,
        }))
    }

    fn spool_path(&self, sub: &str, name: String) -> PathBuf {
        self.spool_root.join(sub).join(name)
    }

    /// Once this runner holds the message's delivery claim: re-reads the delivery state, taking
    /// the results another runner recorded (it held the lock too, which a restarted GlusterFS
    /// brick allows) over this attempt's pending ones. `false` when the message left the queue
    /// meanwhile (another runner finished it).
    pub fn refresh_claimed(&mut self) -> Result<bool, SpoolError> {
        if !still_at(&self.file, &self.msg.path) {
            return Ok(false);
        }
        let p = self.spool_path("state", format!("{}.json", self.msg.id));
        let fresh = match fs::read(&p) {
            Ok(bytes) => match serde_json::from_slice::<DeliveryState>(&bytes) {
                Ok(s) => s,
                Err(e) => {
                    return Err(SpoolError::Damaged {
                        path: p,
                        reason: format!("state file: {e}"),
                    })
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
            Err(e) => return Err(io_err(&p)(e)),
        };
        self.msg.state_saved = true;
        if fresh.recipients.len() != self.msg.state.recipients.len() {
            return Ok(true);
        }
        for (ours, theirs) in self.msg.state.recipients.iter_mut().zip(fresh.recipients) {
            if ours.status == super::RecipientStatus::Pending
                && theirs.status != super::RecipientStatus::Pending
            {
                *ours = theirs;
            }
        }
        Ok(true)
    }

    /// Mark the message as being delivered (a crash leaves the mark for the next deliverer).
    /// The mark is the owner-execute bit of the queue file, as Postfix marks its queue files:
    /// no file is created per delivery.
    pub fn mark_busy(&self) -> Result<(), SpoolError> {
        self.set_mode(0o600 | BUSY_BIT)
    }

    fn set_mode(&self, mode: u32) -> Result<(), SpoolError> {
        self.file
            .set_permissions(fs::Permissions::from_mode(mode))
            .map_err(io_err(&self.msg.path))
    }

    /// The message bytes.
    pub fn read_body(&self) -> Result<Vec<u8>, SpoolError> {
        read_body_of(&self.file, &self.msg)
    }

    /// Durably record the delivery state (after an attempt that leaves work for later).
    pub fn save_state(&mut self) -> Result<(), SpoolError> {
        self.save_progress()?;
        self.set_mode(0o600)
    }

    /// Durably records the delivery state in the middle of an attempt (the recipients done so
    /// far), keeping the busy mark: the attempt goes on.
    pub fn save_progress(&mut self) -> Result<(), SpoolError> {
        let p = self.spool_path("state", format!("{}.json", self.msg.id));
        let bytes = serde_json::to_vec(&self.msg.state).map_err(|e| SpoolError::Damaged {
            path: p.clone(),
            reason: e.to_string(),
        })?;
        crate::store::durable::replace(&p, &bytes, 0o600).map_err(io_err(&p))?;
        self.msg.state_saved = true;
        Ok(())
    }

    /// The message is done with: remove it from the spool.
    pub fn remove(self, spool: &Spool) -> Result<(), SpoolError> {
        spool
            .free
            .recycle(&self.file, &self.msg.path, &self.msg.id)
            .map_err(io_err(&self.msg.path))?;
        if self.msg.state_saved {
            let _ = fs::remove_file(self.spool_path("state", format!("{}.json", self.msg.id)));
        }
        Ok(())
    }

    /// Move the message to another area (hold / release), keeping the lock.
    pub fn move_to(&mut self, area: Area) -> Result<(), SpoolError> {
        if area == self.msg.area {
            return Ok(());
        }
        let dest = self.spool_root.join(area.dir()).join(self.msg.id.as_str());
        fs::rename(&self.msg.path, &dest).map_err(io_err(&dest))?;
        if let Some(dir) = dest.parent() {
            crate::store::durable::sync_dir(dir).map_err(io_err(dir))?;
        }
        self.msg.path = dest;
        self.msg.area = area;
        Ok(())
    }
}

/// The message bytes of `msg`, read from its open queue file. The buffer is sized from the file
/// itself, never from the envelope's claim (a damaged envelope must not make us allocate).
fn read_body_of(mut f: &File, msg: &QueuedMessage) -> Result<Vec<u8>, SpoolError> {
    let len = f.metadata().map_err(io_err(&msg.path))?.len();
    f.seek(SeekFrom::Start(msg.body_offset))
        .map_err(io_err(&msg.path))?;
    let mut body = Vec::with_capacity(len.saturating_sub(msg.body_offset) as usize);
    f.read_to_end(&mut body).map_err(io_err(&msg.path))?;
    if !still_at(f, &msg.path) {
        return Err(SpoolError::NotFound(msg.id.to_string()));
    }
    Ok(body)
}

/// Whether `path` still names the open `file` (it was not finished, moved or recycled).
fn still_at(file: &File, path: &std::path::Path) -> bool {
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev() && a.nlink() > 0,
        _ => false,
    }
}
