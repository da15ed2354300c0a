//! The real [`MailStore`]: each user's maildir on the mail volume ([`MailVolume`]), mailboxes as
//! Maildir++ folders (`Lists/rust` is `.Lists.rust`), their state in [`MailboxState`], and the
//! files the maildir layer keeps for readers: the rendering cache ([`crate::store::maildir::cache`]),
//! subscriptions and special-use attributes ([`crate::store::maildir::meta`]), and the process's
//! shared message lists ([`crate::store::maildir::shared`]).

use std::cell::OnceCell;
use std::fs::File;
use std::io::Read as _;
use std::path::PathBuf;
use std::sync::Arc;

use crate::proto::imap::mailbox_name::MailboxName;
use crate::proto::imap::store::{Account, MailStore, Mailbox, Result};
use crate::store::maildir::cache::Cache;
use crate::store::maildir::counters;
use crate::store::maildir::shared::{self, Current, Header, Stamp};
use crate::store::maildir::{
    meta, read_message_into, FlagOp, Flags, MailVolume, MailboxState, Maildir, MessageDirs,
    MessageInfo, Snapshot, StoreOutcome,
};

/// Users' maildirs on a mail volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaildirStore {
    volume: MailVolume,
}

impl MaildirStore {
    /// The store on the mail volume at `root`.
    pub fn new(root: impl Into<PathBuf>) -> MaildirStore {
        MaildirStore {
            volume: MailVolume::new(root),
        }
    }

    /// The store on `volume` (a volume with system users' maildirs: [`MailVolume::for_config`]).
    pub fn on(volume: MailVolume) -> MaildirStore {
        MaildirStore { volume }
    }

    /// The mail volume.
    pub fn volume(&self) -> &MailVolume {
        &self.volume
    }
}

impl MailStore for MaildirStore {
    type Account = MaildirAccount;
    type Mailbox = MaildirMailbox;

    fn open(&self, user: &str) -> Result<MaildirAccount> {
        Ok(MaildirAccount {
            root: self.volume.create_inbox(user)?,
        })
    }
}

/// A user's maildir: the INBOX, with Maildir++ folders below it.
#[derive(Debug)]
pub struct MaildirAccount {
    root: Maildir,
}

/// The on-disk folder of a mailbox as the maildir layer names it (without the leading dot):
/// `Lists.rust` for `Lists/rust`.
fn folder(name: &MailboxName) -> String {
    let f = name.to_maildir_folder();
    f.strip_prefix('.').unwrap_or(&f).to_string()
}

impl MaildirAccount {
    fn maildir(&self, name: &MailboxName) -> Result<Maildir> {
        if name.is_inbox() {
            Ok(self.root.clone())
        } else {
            self.root.folder(&folder(name))
        }
    }
}

impl Account for MaildirAccount {
    type Mailbox = MaildirMailbox;

    fn mailbox(&self, name: &MailboxName) -> Result<MaildirMailbox> {
        Ok(MaildirMailbox::new(MailboxState::new(self.maildir(name)?)))
    }

    fn mailboxes(&self) -> Result<Vec<MailboxName>> {
        let mut out = vec![MailboxName::inbox()];
        for folder in self.root.folders()? {
            if let Ok(name) = MailboxName::from_maildir_folder(&format!(".{folder}")) {
                if !name.is_inbox() {
                    out.push(name);
                }
            }
        }
        Ok(out)
    }

    fn create(&self, name: &MailboxName) -> Result<()> {
        self.root.create_folder(&folder(name)).map(drop)
    }

    fn ensure(&self, name: &MailboxName) -> Result<bool> {
        self.root.ensure_folder(&folder(name)).map(|(_, made)| made)
    }

    fn delete(&self, name: &MailboxName) -> Result<()> {
        self.root.delete_folder(&folder(name))
    }

    fn rename(&self, from: &MailboxName, to: &MailboxName) -> Result<()> {
        self.root.rename_folder(&folder(from), &folder(to))
    }

    fn recorded_uses(&self, name: &MailboxName) -> Result<Option<Vec<String>>> {
        Ok(meta::special_use(&self.maildir(name)?))
    }

    fn record_uses(&self, name: &MailboxName, attrs: &[String]) -> Result<()> {
        meta::set_special_use(&self.maildir(name)?, attrs)
    }

    fn subscriptions(&self) -> Vec<String> {
        meta::subscriptions(&self.root)
    }

    fn set_subscriptions(&self, names: &[String]) -> Result<()> {
        meta::set_subscriptions(&self.root, names)
    }

    fn setup_done(&self) -> bool {
        meta::setup_done(&self.root)
    }

    fn mark_setup_done(&self) -> Result<()> {
        meta::mark_setup_done(&self.root)
    }

    fn used_bytes(&self) -> Option<u64> {
        crate::store::maildir::quota::usage_cached(&self.root)
            .ok()
            .map(|(bytes, _)| bytes)
    }
}

/// One maildir and its state.
#[derive(Debug)]
pub struct MaildirMailbox {
    state: MailboxState,
    /// The maildir's directory, opened at the first stamp: stamps look relative to it.
    dir: std::sync::OnceLock<Option<std::fs::File>>,
    /// `cur/` and `new/` held open while the session reads messages (until
    /// [`Mailbox::release`], when the client pauses); `None` inside when they could not be
    /// opened (messages are then opened by path).
    dirs: OnceCell<Option<MessageDirs>>,
}

impl MaildirMailbox {
    fn new(state: MailboxState) -> MaildirMailbox {
        MaildirMailbox {
            state,
            dir: std::sync::OnceLock::new(),
            dirs: OnceCell::new(),
        }
    }

    fn maildir(&self) -> &Maildir {
        self.state.maildir()
    }

    /// Opens a message: relative to the open `cur/`/`new/` by its snapshot name, else by
    /// path following a rename; `Ok(None)` once it is gone.
    fn open(&self, info: &MessageInfo) -> std::io::Result<Option<File>> {
        let dirs = self
            .dirs
            .get_or_init(|| MessageDirs::open(self.maildir()).ok());
        if let Some(dirs) = dirs {
            match dirs.open_message(info) {
                Ok(f) => return Ok(Some(f)),
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                Err(_) => {}
            }
        }
        self.state
            .open_message(info)
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
}

impl Mailbox for MaildirMailbox {
    fn same(&self, other: &Self) -> bool {
        self.maildir().path() == other.maildir().path()
    }

    fn watch_path(&self) -> Option<PathBuf> {
        Some(self.maildir().path().to_path_buf())
    }

    fn sync(&mut self) -> Result<Snapshot> {
        self.state.sync()
    }

    fn current(&mut self) -> Result<Current> {
        let md = self.maildir().clone();
        shared::current(
            &md,
            &mut self.state,
            MailboxState::peek_with_position,
            |s| s.try_sync_then(shared::stamp_of),
            |s| s.sync_then(shared::stamp_of),
        )
    }

    fn snapshot(&mut self) -> Result<Snapshot> {
        self.state.snapshot()
    }

    fn after_change(&mut self) -> Result<(u32, Vec<String>)> {
        match self.state.last_header() {
            Some(h) => Ok(h),
            None => self.snapshot().map(|s| (s.uidvalidity, s.keywords)),
        }
    }

    fn release(&mut self) -> usize {
        self.dirs = OnceCell::new();
        self.state.release()
    }

    fn first_recent(&mut self, uidvalidity: u32, claim_below: Option<u32>) -> Result<u32> {
        counters::first_recent(self.maildir(), uidvalidity, claim_below)
    }

    fn store_flags(
        &mut self,
        uids: &[u32],
        op: &FlagOp,
        unchanged_since: Option<u64>,
    ) -> Result<StoreOutcome> {
        self.state.store_flags(uids, op, unchanged_since)
    }

    fn expunge(&mut self, uids: &[u32]) -> Result<Vec<u32>> {
        self.state.expunge(uids)
    }

    fn append(&mut self, bytes: &[u8], flags: &Flags, internal_date: Option<i64>) -> Result<u32> {
        self.state.append(bytes, flags, internal_date)
    }

    fn copy_to(&mut self, uids: &[u32], target: &mut Self) -> Result<Vec<(u32, u32)>> {
        self.state.copy_to(uids, &mut target.state)
    }

    /// Renamed where they can be, copied and expunged where not (a target on another file
    /// system).
    fn move_to(&mut self, uids: &[u32], target: &mut Self) -> Result<Vec<(u32, u32)>> {
        let moved = self.state.move_to(uids, &mut target.state)?;
        let mut pairs = moved.pairs;
        if !moved.elsewhere.is_empty() {
            let copied = self.state.copy_to(&moved.elsewhere, &mut target.state)?;
            let done: Vec<u32> = copied.iter().map(|p| p.0).collect();
            self.state.expunge(&done)?;
            pairs.extend(copied);
            pairs.sort_unstable();
        }
        Ok(pairs)
    }

    fn fill_virtual_sizes(&mut self, snapshot: &mut Snapshot) -> Result<()> {
        self.state.fill_virtual_sizes(snapshot)
    }

    fn record_virtual_sizes(&mut self, sizes: &[(u32, u64)]) -> Result<()> {
        self.state.record_virtual_sizes(sizes)
    }

    fn prefetch(&self, infos: &[&MessageInfo]) {
        crate::store::maildir::prefetch_with(infos, |info| self.open(info).ok().flatten());
    }

    fn read(&self, info: &MessageInfo, limit: u64) -> std::io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.read_into(info, limit, &mut bytes)?;
        Ok(bytes)
    }

    fn read_into(&self, info: &MessageInfo, limit: u64, buf: &mut Vec<u8>) -> std::io::Result<()> {
        let Some(mut file) = self.open(info)? else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "message expunged",
            ));
        };
        read_message_into(&mut file, info.size, limit, buf)
    }

    /// Reads in 16 KiB steps until the empty line that ends the header (or `limit`, or the
    /// end of the file): a SORT over large messages reads their headers only.
    fn read_header(&self, info: &MessageInfo, limit: u64) -> std::io::Result<Vec<u8>> {
        const STEP: usize = 16 * 1024;
        let Some(file) = self.open(info)? else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "message expunged",
            ));
        };
        let mut file = file.take(limit);
        let mut bytes = Vec::with_capacity(STEP.min(usize::try_from(info.size).unwrap_or(STEP)));
        let mut chunk = vec![0u8; STEP];
        loop {
            let n = file.read(&mut chunk)?;
            if n == 0 {
                return Ok(bytes);
            }
            bytes.extend_from_slice(chunk.get(..n).unwrap_or_default());
            if let Some(end) = crate::proto::imap::message::header_end(&bytes) {
                bytes.truncate(end);
                return Ok(bytes);
            }
        }
    }

    fn stamp(&self) -> Stamp {
        match self.dir.get_or_init(|| shared::open_dir(self.maildir())) {
            Some(dir) => shared::stamp_in(self.maildir(), dir),
            None => shared::stamp_of(self.maildir()),
        }
    }

    fn trusted(&self, stamp: Stamp) -> Option<Stamp> {
        shared::trusted(stamp)
    }

    fn shared(&self, stamp: Stamp) -> Option<(Header, Arc<Vec<MessageInfo>>)> {
        shared::lookup(self.maildir().path(), stamp)
    }

    fn publish(&self, stamp: Stamp, header: &Header, messages: &Arc<Vec<MessageInfo>>) {
        shared::publish(self.maildir().path(), stamp, header, messages);
    }

    fn unpublish(&self, messages: &Arc<Vec<MessageInfo>>) {
        shared::unpublish(self.maildir().path(), messages);
    }

    fn files_match(&self, messages: &[MessageInfo]) -> bool {
        shared::files_match(self.maildir(), messages)
    }

    fn load_cache(&self, cache: &mut Cache) {
        cache.load(self.maildir());
    }

    fn save_cache(&self, cache: &mut Cache, present: &dyn Fn(&str) -> bool) {
        // Only a cache: a failure costs a later re-render.
        let _ = cache.save(self.maildir(), present);
    }
}

impl crate::proto::imap::session::SessionConfig<MaildirStore> {
    /// Defaults for tests and simple setups on the maildirs under `mail_root`: plaintext only
    /// over TLS, 64 MiB APPEND.
    pub fn new(hostname: impl Into<String>, mail_root: impl Into<std::path::PathBuf>) -> Self {
        Self::with_store(hostname, MaildirStore::new(mail_root))
    }
}
