//! An in-memory [`MailStore`] for the session tests: users' mailboxes with the maildir state's
//! rules (UIDs from UIDNEXT, one modseq per change, a table of at most 26 keywords, `\Recent`
//! for the session whose sync numbers a delivery), shared by every session opened on it as the
//! volume is shared by processes. [`MemoryStore::deliver`] and [`MemoryStore::remove`] play the
//! other processes (local delivery, a POP3 deletion).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Account, MailStore, Mailbox, Result};
use crate::proto::imap::mailbox_name::MailboxName;
use crate::store::maildir::cache::Cache;
use crate::store::maildir::name::crlf_size;
use crate::store::maildir::shared::{Current, Header, Stamp};
use crate::store::maildir::{FlagOp, Flags, MaildirError, MessageInfo, Snapshot, StoreOutcome};

/// Internal date of delivered messages.
const DELIVERY_DATE: i64 = 1_700_000_000;

/// Every user's mail, in memory (clones share it).
#[derive(Clone, Default)]
pub struct MemoryStore {
    volume: Arc<Mutex<Volume>>,
}

#[derive(Default)]
struct Volume {
    users: HashMap<String, UserMail>,
    /// The next UIDVALIDITY and message identity handed out.
    counter: u32,
}

#[derive(Default)]
struct UserMail {
    /// Mailboxes by name segments (`["INBOX"]`, `["Lists", "rust"]`).
    boxes: BTreeMap<Vec<String>, MemBox>,
    subscriptions: Vec<String>,
    setup_done: bool,
}

struct MemBox {
    uidvalidity: u32,
    uidnext: u32,
    highestmodseq: u64,
    keywords: Vec<String>,
    messages: Vec<Stored>,
    /// Delivered, not numbered yet (the next sync does, and reports them recent).
    pending: Vec<Stored>,
    uses: Option<Vec<String>>,
    /// Bumped by every change: the mailbox's stamp.
    version: u64,
    /// The first UID no session has claimed as `\Recent`.
    recent_from: u32,
}

#[derive(Clone)]
struct Stored {
    info: MessageInfo,
    bytes: Arc<Vec<u8>>,
}

fn poisoned() -> MaildirError {
    MaildirError::io("memory", std::io::Error::other("lock poisoned"))
}

fn no_such(key: &[String]) -> MaildirError {
    MaildirError::NoSuchFolder(key.join("/"))
}

impl Volume {
    fn next(&mut self) -> u32 {
        self.counter += 1;
        self.counter
    }

    fn user(&mut self, user: &str) -> Result<&mut UserMail> {
        self.users
            .get_mut(user)
            .ok_or_else(|| MaildirError::BadUser(user.to_string()))
    }

    fn mailbox(&mut self, user: &str, key: &[String]) -> Result<&mut MemBox> {
        self.user(user)?
            .boxes
            .get_mut(key)
            .ok_or_else(|| no_such(key))
    }

    fn new_box(&mut self) -> MemBox {
        MemBox {
            uidvalidity: 1_000 + self.next(),
            uidnext: 1,
            highestmodseq: 1,
            keywords: Vec::new(),
            messages: Vec::new(),
            pending: Vec::new(),
            uses: None,
            version: 0,
            recent_from: 1,
        }
    }

    /// A message not in any mailbox yet, under a new identity.
    fn stored(&mut self, bytes: Vec<u8>, flags: Flags, date: i64) -> Stored {
        let id = self.next();
        Stored {
            info: MessageInfo {
                uid: 0,
                file_name: format!("{id}.memory").into(),
                in_new: false,
                size: bytes.len() as u64,
                vsize: Some(crlf_size(&bytes, false)),
                internal_date: date,
                flags,
                modseq: 0,
            },
            bytes: Arc::new(bytes),
        }
    }
}

impl MemBox {
    fn snapshot(&self, recent: Vec<u32>) -> Snapshot {
        Snapshot {
            uidvalidity: self.uidvalidity,
            uidnext: self.uidnext,
            highestmodseq: self.highestmodseq,
            keywords: self.keywords.clone(),
            messages: self.messages.iter().map(|m| m.info.clone()).collect(),
            recent,
        }
    }

    /// Adds messages under new UIDs, one modseq each; returns the UIDs.
    fn add(&mut self, stored: Vec<Stored>) -> Result<Vec<u32>> {
        let mut uids = Vec::with_capacity(stored.len());
        for mut m in stored {
            m.info.flags.to_info_letters(&mut self.keywords)?;
            self.highestmodseq += 1;
            m.info.uid = self.uidnext;
            m.info.modseq = self.highestmodseq;
            self.uidnext += 1;
            uids.push(m.info.uid);
            self.messages.push(m);
        }
        self.version += 1;
        Ok(uids)
    }

    fn find(&self, uid: u32) -> Option<&Stored> {
        self.messages.iter().find(|m| m.info.uid == uid)
    }

    /// Removes messages; returns the UIDs removed.
    fn remove(&mut self, uids: &[u32]) -> Vec<u32> {
        let mut removed = Vec::new();
        self.messages.retain(|m| {
            let gone = uids.contains(&m.info.uid);
            if gone {
                removed.push(m.info.uid);
            }
            !gone
        });
        if !removed.is_empty() {
            self.highestmodseq += 1;
            self.version += 1;
        }
        removed
    }
}

impl MemoryStore {
    /// An empty volume.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn lock(&self) -> Result<MutexGuard<'_, Volume>> {
        self.volume.lock().map_err(|_| poisoned())
    }

    /// Local delivery into the INBOX of `user` (made when missing).
    pub fn deliver(&self, user: &str, message: &[u8]) {
        let Ok(mut v) = self.lock() else { return };
        if !v.users.contains_key(user) {
            let inbox = v.new_box();
            let mut mail = UserMail::default();
            mail.boxes
                .insert(MailboxName::inbox().segments().to_vec(), inbox);
            v.users.insert(user.to_string(), mail);
        }
        let stored = v.stored(message.to_vec(), Flags::new(), DELIVERY_DATE);
        if let Ok(inbox) = v.mailbox(user, MailboxName::inbox().segments()) {
            inbox.pending.push(stored);
            inbox.version += 1;
        }
    }

    /// Another process (POP3) deletes message `uid` of the INBOX of `user`.
    pub fn remove(&self, user: &str, uid: u32) {
        if let Ok(mut v) = self.lock() {
            if let Ok(inbox) = v.mailbox(user, MailboxName::inbox().segments()) {
                inbox.remove(&[uid]);
            }
        }
    }
}

impl MailStore for MemoryStore {
    type Account = MemoryAccount;
    type Mailbox = MemoryMailbox;

    fn open(&self, user: &str) -> Result<MemoryAccount> {
        if !crate::store::users::valid_user_name(user) {
            return Err(MaildirError::BadUser(user.to_string()));
        }
        let mut v = self.lock()?;
        if !v.users.contains_key(user) {
            let inbox = v.new_box();
            let mut mail = UserMail::default();
            mail.boxes
                .insert(MailboxName::inbox().segments().to_vec(), inbox);
            v.users.insert(user.to_string(), mail);
        }
        Ok(MemoryAccount {
            store: self.clone(),
            user: user.to_string(),
        })
    }
}

/// One user's mail in a [`MemoryStore`].
pub struct MemoryAccount {
    store: MemoryStore,
    user: String,
}

impl MemoryAccount {
    fn with<R>(&self, f: impl FnOnce(&mut Volume, &str) -> Result<R>) -> Result<R> {
        let mut v = self.store.lock()?;
        f(&mut v, &self.user)
    }
}

impl Account for MemoryAccount {
    type Mailbox = MemoryMailbox;

    fn mailbox(&self, name: &MailboxName) -> Result<MemoryMailbox> {
        let key = name.segments().to_vec();
        self.with(|v, user| v.mailbox(user, &key).map(drop))?;
        Ok(MemoryMailbox {
            store: self.store.clone(),
            user: self.user.clone(),
            key,
        })
    }

    fn mailboxes(&self) -> Result<Vec<MailboxName>> {
        self.with(|v, user| {
            let mut out = vec![MailboxName::inbox()];
            for key in v.user(user)?.boxes.keys() {
                if let Ok(name) = MailboxName::from_unicode(&key.join("/")) {
                    if !name.is_inbox() {
                        out.push(name);
                    }
                }
            }
            Ok(out)
        })
    }

    fn create(&self, name: &MailboxName) -> Result<()> {
        self.with(|v, user| {
            if v.user(user)?.boxes.contains_key(name.segments()) {
                return Err(MaildirError::FolderExists(name.to_unicode()));
            }
            let fresh = v.new_box();
            v.user(user)?.boxes.insert(name.segments().to_vec(), fresh);
            Ok(())
        })
    }

    fn ensure(&self, name: &MailboxName) -> Result<bool> {
        match self.create(name) {
            Ok(()) => Ok(true),
            Err(MaildirError::FolderExists(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn delete(&self, name: &MailboxName) -> Result<()> {
        self.with(|v, user| {
            v.user(user)?
                .boxes
                .remove(name.segments())
                .map(drop)
                .ok_or_else(|| no_such(name.segments()))
        })
    }

    fn rename(&self, from: &MailboxName, to: &MailboxName) -> Result<()> {
        self.with(|v, user| {
            let boxes = &mut v.user(user)?.boxes;
            let (from, to) = (from.segments(), to.segments());
            if !boxes.contains_key(from) {
                return Err(no_such(from));
            }
            if boxes.contains_key(to) {
                return Err(MaildirError::FolderExists(to.join("/")));
            }
            if to.starts_with(from) {
                return Err(MaildirError::InvalidFolderName(to.join("/")));
            }
            let moving: Vec<Vec<String>> = boxes
                .keys()
                .filter(|k| k.starts_with(from))
                .cloned()
                .collect();
            for key in moving {
                if let Some(b) = boxes.remove(&key) {
                    let mut new_key = to.to_vec();
                    new_key.extend(key.iter().skip(from.len()).cloned());
                    boxes.insert(new_key, b);
                }
            }
            Ok(())
        })
    }

    fn recorded_uses(&self, name: &MailboxName) -> Result<Option<Vec<String>>> {
        self.with(|v, user| Ok(v.mailbox(user, name.segments())?.uses.clone()))
    }

    fn record_uses(&self, name: &MailboxName, attrs: &[String]) -> Result<()> {
        self.with(|v, user| {
            v.mailbox(user, name.segments())?.uses = Some(attrs.to_vec());
            Ok(())
        })
    }

    fn subscriptions(&self) -> Vec<String> {
        self.with(|v, user| Ok(v.user(user)?.subscriptions.clone()))
            .unwrap_or_default()
    }

    fn set_subscriptions(&self, names: &[String]) -> Result<()> {
        self.with(|v, user| {
            v.user(user)?.subscriptions = names.to_vec();
            Ok(())
        })
    }

    fn setup_done(&self) -> bool {
        self.with(|v, user| Ok(v.user(user)?.setup_done))
            .unwrap_or(false)
    }

    fn mark_setup_done(&self) -> Result<()> {
        self.with(|v, user| {
            v.user(user)?.setup_done = true;
            Ok(())
        })
    }

    fn used_bytes(&self) -> Option<u64> {
        self.with(|v, user| {
            Ok(v.user(user)?
                .boxes
                .values()
                .flat_map(|b| b.messages.iter().chain(&b.pending))
                .map(|m| m.info.size)
                .sum())
        })
        .ok()
    }
}

/// One mailbox in a [`MemoryStore`].
pub struct MemoryMailbox {
    store: MemoryStore,
    user: String,
    key: Vec<String>,
}

impl MemoryMailbox {
    fn with<R>(&self, f: impl FnOnce(&mut MemBox) -> Result<R>) -> Result<R> {
        let mut v = self.store.lock()?;
        f(v.mailbox(&self.user, &self.key)?)
    }

    /// Takes messages out of this mailbox (`remove`) or copies them, into `target`.
    fn transfer(&mut self, uids: &[u32], target: &Self, remove: bool) -> Result<Vec<(u32, u32)>> {
        let mut v = self.store.lock()?;
        let source = v.mailbox(&self.user, &self.key)?;
        let picked: Vec<Stored> = uids
            .iter()
            .filter_map(|&u| source.find(u))
            .cloned()
            .collect();
        let from: Vec<u32> = picked.iter().map(|m| m.info.uid).collect();
        if remove {
            source.remove(&from);
        }
        let mut copies = Vec::with_capacity(picked.len());
        for m in picked {
            let mut copy = v.stored(m.bytes.to_vec(), m.info.flags, m.info.internal_date);
            copy.info.vsize = m.info.vsize;
            copies.push(copy);
        }
        let to = v.mailbox(&target.user, &target.key)?.add(copies)?;
        Ok(from.into_iter().zip(to).collect())
    }
}

impl Mailbox for MemoryMailbox {
    fn same(&self, other: &Self) -> bool {
        self.user == other.user && self.key == other.key
    }

    fn watch_path(&self) -> Option<PathBuf> {
        None
    }

    fn sync(&mut self) -> Result<Snapshot> {
        self.with(|b| {
            let pending = std::mem::take(&mut b.pending);
            let recent = if pending.is_empty() {
                Vec::new()
            } else {
                b.add(pending)?
            };
            Ok(b.snapshot(recent))
        })
    }

    /// A sync; the stamp taken before it (nothing here is shared between sessions).
    fn current(&mut self) -> Result<Current> {
        let stamp = self.stamp();
        let snap = self.sync()?;
        Ok(Current {
            header: Header::of(&snap),
            messages: Arc::new(snap.messages),
            stamp: Some(stamp),
        })
    }

    fn snapshot(&mut self) -> Result<Snapshot> {
        self.with(|b| Ok(b.snapshot(Vec::new())))
    }

    fn release(&mut self) -> usize {
        0
    }

    fn first_recent(&mut self, uidvalidity: u32, claim_below: Option<u32>) -> Result<u32> {
        self.with(|b| {
            if b.uidvalidity != uidvalidity {
                return Ok(1);
            }
            let first = b.recent_from;
            if let Some(upto) = claim_below {
                b.recent_from = first.max(upto);
            }
            Ok(first)
        })
    }

    fn store_flags(
        &mut self,
        uids: &[u32],
        op: &FlagOp,
        unchanged_since: Option<u64>,
    ) -> Result<StoreOutcome> {
        self.with(|b| {
            let mut out = StoreOutcome::default();
            let modseq = b.highestmodseq + 1;
            let mut changed = false;
            for &uid in uids {
                let Some(m) = b.messages.iter_mut().find(|m| m.info.uid == uid) else {
                    out.missing.push(uid);
                    continue;
                };
                if unchanged_since.is_some_and(|since| m.info.modseq > since) {
                    out.modified.push(uid);
                    continue;
                }
                let wanted = op.apply(&m.info.flags);
                if wanted == m.info.flags {
                    out.stored.push((uid, wanted, m.info.modseq));
                    continue;
                }
                wanted.to_info_letters(&mut b.keywords)?;
                m.info.flags = wanted.clone();
                m.info.modseq = modseq;
                changed = true;
                out.stored.push((uid, wanted, modseq));
            }
            if changed {
                b.highestmodseq = modseq;
                b.version += 1;
            }
            Ok(out)
        })
    }

    fn expunge(&mut self, uids: &[u32]) -> Result<Vec<u32>> {
        self.with(|b| Ok(b.remove(uids)))
    }

    fn append(&mut self, bytes: &[u8], flags: &Flags, internal_date: Option<i64>) -> Result<u32> {
        let mut v = self.store.lock()?;
        let date = internal_date.unwrap_or(DELIVERY_DATE).max(0);
        let stored = v.stored(bytes.to_vec(), flags.clone(), date);
        let uids = v.mailbox(&self.user, &self.key)?.add(vec![stored])?;
        uids.first().copied().ok_or_else(|| no_such(&self.key))
    }

    fn copy_to(&mut self, uids: &[u32], target: &mut Self) -> Result<Vec<(u32, u32)>> {
        self.transfer(uids, target, false)
    }

    fn move_to(&mut self, uids: &[u32], target: &mut Self) -> Result<Vec<(u32, u32)>> {
        self.transfer(uids, target, true)
    }

    fn fill_virtual_sizes(&mut self, snapshot: &mut Snapshot) -> Result<()> {
        self.with(|b| {
            for m in snapshot.messages.iter_mut().filter(|m| m.vsize.is_none()) {
                m.vsize = b.find(m.uid).map(|s| crlf_size(&s.bytes, false));
            }
            Ok(())
        })
    }

    fn record_virtual_sizes(&mut self, sizes: &[(u32, u64)]) -> Result<()> {
        self.with(|b| {
            for &(uid, size) in sizes {
                if let Some(m) = b.messages.iter_mut().find(|m| m.info.uid == uid) {
                    m.info.vsize.get_or_insert(size);
                }
            }
            Ok(())
        })
    }

    fn read(&self, info: &MessageInfo, limit: u64) -> std::io::Result<Vec<u8>> {
        let found = self
            .with(|b| Ok(b.find(info.uid).map(|m| m.bytes.clone())))
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let bytes = found
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "message expunged"))?;
        let end = usize::try_from(limit)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        Ok(bytes.get(..end).unwrap_or_default().to_vec())
    }

    fn stamp(&self) -> Stamp {
        let version = self.with(|b| Ok(b.version)).unwrap_or(u64::MAX);
        Stamp::version(version)
    }

    /// Nothing here changes in the same clock tick unseen: every stamp can be relied on.
    fn trusted(&self, stamp: Stamp) -> Option<Stamp> {
        Some(stamp)
    }

    fn shared(&self, _stamp: Stamp) -> Option<(Header, Arc<Vec<MessageInfo>>)> {
        None
    }

    fn publish(&self, _stamp: Stamp, _header: &Header, _messages: &Arc<Vec<MessageInfo>>) {}

    fn files_match(&self, messages: &[MessageInfo]) -> bool {
        self.with(|b| {
            Ok(b.pending.is_empty()
                && b.messages.len() == messages.len()
                && b.messages.iter().zip(messages).all(|(m, n)| m.info == *n))
        })
        .unwrap_or(false)
    }

    fn load_cache(&self, _cache: &mut Cache) {}

    fn save_cache(&self, cache: &mut Cache, present: &dyn Fn(&str) -> bool) {
        if cache.prune(present) {
            cache.mark_clean();
        }
    }
}
