//! The selected mailbox: the session's view of it (sequence numbers, flags, `\Recent`),
//! bringing that view up to date with untagged responses, and the commands of the
//! selected state other than FETCH.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::shared::{self, Header, Stamp};
use super::view::{imap_flags, maildir_flags, View};
use crate::imap::cache::Cache;
use crate::imap::command::StoreMode;
use crate::imap::flag::Flag;
use crate::imap::mailbox_name::MailboxName;
use crate::imap::response::{self, Code, Status};
use crate::imap::search::{self, SearchContext, SearchKey};
use crate::imap::sequence::{SeqNumber, SequenceSet};
use crate::maildir::{FlagOp, MailboxState, Maildir, MaildirError, MessageInfo, Snapshot};

/// The selected mailbox (see the module docs).
pub struct Selected {
    /// Its name.
    pub name: MailboxName,
    /// EXAMINE (or no write access).
    pub read_only: bool,
    pub(super) state: MailboxState,
    pub(super) maildir: Maildir,
    /// Messages in sequence order (ascending UID); shared with other sessions on the same
    /// unchanged mailbox ([`shared`]): change it through [`Selected::messages_mut`].
    pub(super) messages: Arc<Vec<MessageInfo>>,
    pub(super) recent: HashSet<u32>,
    pub(super) uidvalidity: u32,
    pub(super) uidnext: u32,
    pub(super) highestmodseq: u64,
    pub(super) keywords: Vec<String>,
    pub(super) cache: Cache,
    stamp: Option<Stamp>,
    /// Messages gone from disk whose EXPUNGE could not be sent yet.
    deferred: bool,
    /// QRESYNC is enabled: removals are announced as `VANISHED`, not `EXPUNGE`.
    pub(super) vanished: bool,
    /// Virtual sizes learnt while sending messages, not yet in the state file.
    pub(super) pending_sizes: Vec<(u32, u64)>,
}

fn mtime_ns(path: &std::path::Path) -> i128 {
    fs::metadata(path)
        .map(|m| i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()))
        .unwrap_or(-1)
}

fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

impl Selected {
    /// Opens a mailbox: syncs its state and takes the snapshot this session starts from.
    pub fn open(
        name: MailboxName,
        maildir: Maildir,
        read_only: bool,
    ) -> Result<Self, MaildirError> {
        let mut state = MailboxState::new(maildir.clone());
        let stamp = Self::trusted(Self::stamp_of(&maildir));
        let cache = Cache::new(maildir.path());
        // Another session's list, if nothing changed on disk since it synced.
        if let Some((header, messages)) = stamp.and_then(|s| shared::lookup(maildir.path(), s)) {
            return Ok(Selected {
                name,
                read_only,
                recent: HashSet::new(),
                uidvalidity: header.uidvalidity,
                uidnext: header.uidnext,
                highestmodseq: header.highestmodseq,
                keywords: header.keywords,
                messages,
                state,
                cache,
                stamp,
                maildir,
                deferred: false,
                vanished: false,
                pending_sizes: Vec::new(),
            });
        }
        let snap = state.sync()?;
        let mut sel = Selected {
            name,
            read_only,
            recent: snap.recent.iter().copied().collect(),
            uidvalidity: snap.uidvalidity,
            uidnext: snap.uidnext,
            highestmodseq: snap.highestmodseq,
            keywords: snap.keywords,
            messages: Arc::new(snap.messages),
            state,
            cache,
            stamp,
            maildir,
            deferred: false,
            vanished: false,
            pending_sizes: Vec::new(),
        };
        sel.share();
        Ok(sel)
    }

    /// The message list, to change (copied first when other sessions share it).
    pub(super) fn messages_mut(&mut self) -> &mut Vec<MessageInfo> {
        Arc::make_mut(&mut self.messages)
    }

    fn header(&self) -> Header {
        Header {
            uidvalidity: self.uidvalidity,
            uidnext: self.uidnext,
            highestmodseq: self.highestmodseq,
            keywords: self.keywords.clone(),
        }
    }

    /// After a sync under a trusted stamp: take the list other sessions hold if it is the same,
    /// else offer ours. Not while gone messages wait for their EXPUNGE (the list is not the
    /// mailbox then).
    fn share(&mut self) {
        let Some(stamp) = self.stamp else {
            return;
        };
        if self.deferred {
            return;
        }
        let path = self.maildir.path().to_path_buf();
        match shared::lookup(&path, stamp) {
            Some((header, theirs)) if Arc::ptr_eq(&theirs, &self.messages) => drop(header),
            Some((header, theirs)) if header == self.header() && *theirs == *self.messages => {
                self.messages = theirs;
            }
            _ => shared::publish(&path, stamp, &self.header(), &self.messages),
        }
    }

    /// Whether the view rests on a trusted stamp (nothing can have changed unseen); an idling
    /// session that is not settled looks again a second later.
    pub fn settled(&self) -> bool {
        self.stamp.is_some()
    }

    /// Between commands, once the mailbox is a second old: if the disk still holds exactly
    /// this view, the view gets its trusted stamp and is shared. Nothing on disk or in the view
    /// changes (no sync: new messages keep their `\Recent` for whoever reports them); a
    /// difference is left for the next command to find. Returns whether the private list was
    /// given up for a shared one.
    pub fn settle_quietly(&mut self) -> bool {
        if self.stamp.is_some() || self.deferred {
            return false;
        }
        let Some(stamp) = Self::trusted(Self::stamp_of(&self.maildir)) else {
            return false;
        };
        let Ok(snap) = self.state.snapshot() else {
            return false;
        };
        self.state.release();
        let same = snap.uidvalidity == self.uidvalidity
            && snap.uidnext == self.uidnext
            && snap.highestmodseq == self.highestmodseq
            && snap.keywords == self.keywords
            && snap.messages == *self.messages
            && shared::files_match(&self.maildir, &self.messages)
            && Self::stamp_of(&self.maildir) == stamp;
        if !same {
            return false;
        }
        self.stamp = Some(stamp);
        let before = Arc::as_ptr(&self.messages);
        self.share();
        !std::ptr::eq(before, Arc::as_ptr(&self.messages))
    }

    /// The maildir directory.
    pub fn maildir_path(&self) -> PathBuf {
        self.maildir.path().to_path_buf()
    }

    fn stamp_of(md: &Maildir) -> Stamp {
        (
            mtime_ns(&md.new_dir()),
            mtime_ns(&md.cur()),
            mtime_ns(&md.path().join("postern-state")),
        )
    }

    /// A stamp taken within the last second may miss a change made in the same clock
    /// tick; such a stamp is not trusted (the next refresh syncs anyway).
    fn trusted(stamp: Stamp) -> Option<Stamp> {
        let newest = stamp.0.max(stamp.1).max(stamp.2);
        (now_ns() - newest > 1_000_000_000).then_some(stamp)
    }

    /// Whether something may have changed on disk since the last sync.
    pub fn maybe_changed(&self) -> bool {
        self.deferred || self.stamp != Some(Self::stamp_of(&self.maildir))
    }

    /// Forces the next refresh to sync.
    pub(super) fn touch(&mut self) {
        self.stamp = None;
    }

    /// The `* FLAGS` and `PERMANENTFLAGS` of this mailbox.
    pub(super) fn flag_lines(&self, out: &mut Vec<u8>) {
        let mut flags = vec![
            Flag::Answered,
            Flag::Flagged,
            Flag::Deleted,
            Flag::Seen,
            Flag::Draft,
        ];
        flags.extend(self.keywords.iter().filter_map(|k| Flag::parse(k)));
        out.extend(response::flags(&flags));
        let (permanent, allow_new) = if self.read_only {
            (Vec::new(), false)
        } else {
            (flags, self.keywords.len() < 26)
        };
        out.extend(response::untagged_status(
            Status::Ok,
            Some(&Code::PermanentFlags {
                flags: permanent,
                allow_new,
            }),
            "Flags permitted",
        ));
    }

    /// The untagged part of the SELECT/EXAMINE response.
    pub(super) fn select_response(&self, out: &mut Vec<u8>, condstore: bool) {
        self.flag_lines(out);
        out.extend(response::exists(self.messages.len() as u32));
        out.extend(response::recent(self.recent.len() as u32));
        if let Some(i) = self
            .messages
            .iter()
            .position(|m| !m.flags.contains(crate::maildir::Flag::Seen))
        {
            out.extend(response::untagged_status(
                Status::Ok,
                Some(&Code::Unseen(i as u32 + 1)),
                "First unseen",
            ));
        }
        out.extend(response::untagged_status(
            Status::Ok,
            Some(&Code::UidValidity(self.uidvalidity)),
            "UIDs valid",
        ));
        out.extend(response::untagged_status(
            Status::Ok,
            Some(&Code::UidNext(self.uidnext)),
            "Predicted next UID",
        ));
        if condstore {
            out.extend(response::untagged_status(
                Status::Ok,
                Some(&Code::HighestModSeq(self.highestmodseq.max(1))),
                "Highest",
            ));
        }
    }

    /// Brings the view up to date with the disk, writing EXISTS / RECENT / FETCH (FLAGS)
    /// and, when `expunge` is allowed, EXPUNGE responses.
    pub fn refresh(
        &mut self,
        out: &mut Vec<u8>,
        expunge: bool,
        condstore: bool,
    ) -> Result<(), MaildirError> {
        if !self.maybe_changed() {
            return Ok(());
        }
        let stamp = Self::stamp_of(&self.maildir);
        let snap = self.state.sync()?;
        self.stamp = Self::trusted(stamp);
        self.apply(snap, out, expunge, condstore);
        self.share();
        Ok(())
    }

    fn apply(&mut self, snap: Snapshot, out: &mut Vec<u8>, expunge: bool, condstore: bool) {
        if snap.uidvalidity != self.uidvalidity {
            // The state was rebuilt: every UID changed. Start over from the new state.
            let all: Vec<u32> = self.messages.iter().map(|m| m.uid).collect();
            self.remove_uids(out, &all);
            self.messages_mut().clear();
            self.recent.clear();
            self.uidvalidity = snap.uidvalidity;
            out.extend(response::untagged_status(
                Status::Ok,
                Some(&Code::UidValidity(snap.uidvalidity)),
                "UIDVALIDITY changed",
            ));
        }
        self.recent.extend(snap.recent.iter().copied());
        let current: HashMap<u32, &MessageInfo> =
            snap.messages.iter().map(|m| (m.uid, m)).collect();
        if expunge {
            let gone: Vec<u32> = self
                .messages
                .iter()
                .filter(|m| !current.contains_key(&m.uid))
                .map(|m| m.uid)
                .collect();
            self.remove_uids(out, &gone);
            self.deferred = false;
        } else {
            self.deferred = self.messages.iter().any(|m| !current.contains_key(&m.uid));
        }
        // Only touch (and so stop sharing) the list when a message differs.
        let differs = self
            .messages
            .iter()
            .any(|m| current.get(&m.uid).is_some_and(|now| *now != m));
        if differs {
            let messages = Arc::make_mut(&mut self.messages);
            for (i, m) in messages.iter_mut().enumerate() {
                let Some(&now) = current.get(&m.uid) else {
                    continue;
                };
                if now == m {
                    continue;
                }
                let changed = now.flags != m.flags;
                *m = now.clone();
                if changed {
                    // RFC 7162 §3.1: with CONDSTORE on, such FETCHes carry UID and MODSEQ.
                    let mut line = if condstore {
                        format!("* {} FETCH (UID {} FLAGS ", i + 1, m.uid)
                    } else {
                        format!("* {} FETCH (FLAGS ", i + 1)
                    }
                    .into_bytes();
                    response::write_flag_list(
                        &mut line,
                        &imap_flags(&m.flags, self.recent.contains(&m.uid)),
                    );
                    if condstore {
                        line.extend(format!(" MODSEQ ({})", m.modseq.max(1)).as_bytes());
                    }
                    line.extend(b")\r\n");
                    out.extend(line);
                }
            }
        }
        let last = self.messages.last().map(|m| m.uid).unwrap_or(0);
        let mut added = false;
        let new: Vec<&MessageInfo> = snap.messages.iter().filter(|m| m.uid > last).collect();
        if !new.is_empty() {
            self.messages_mut().extend(new.into_iter().cloned());
            added = true;
        }
        if snap.keywords != self.keywords {
            self.keywords = snap.keywords;
            self.flag_lines(out);
        }
        if added {
            out.extend(response::exists(self.messages.len() as u32));
            out.extend(response::recent(self.recent.len() as u32));
        }
        self.uidnext = snap.uidnext;
        self.highestmodseq = snap.highestmodseq;
    }

    /// Removes messages from the view, writing `* n EXPUNGE` for each (or, with QRESYNC,
    /// one `* VANISHED uids`).
    pub(super) fn remove_uids(&mut self, out: &mut Vec<u8>, uids: &[u32]) {
        if uids.is_empty() {
            return;
        }
        let gone: HashSet<u32> = uids.iter().copied().collect();
        let mut removed = Vec::new();
        if !self.messages.iter().any(|m| gone.contains(&m.uid)) {
            return;
        }
        let vanished = self.vanished;
        let messages = Arc::make_mut(&mut self.messages);
        for i in (0..messages.len()).rev() {
            if gone.contains(&messages[i].uid) {
                if !vanished {
                    out.extend(response::expunge(i as u32 + 1));
                }
                let m = messages.remove(i);
                self.recent.remove(&m.uid);
                removed.push(m.uid);
            }
        }
        removed.reverse();
        if let (true, Some(set)) = (self.vanished, SequenceSet::from_numbers(&removed)) {
            out.extend(response::vanished(false, &set));
        }
    }

    /// Indices of the messages a set names (sequence numbers or UIDs); `Err` for a
    /// sequence number beyond the mailbox.
    /// The message indices `set` names, or `None` after answering the command BAD.
    pub(super) fn resolve_or_bad(
        &self,
        tag: &str,
        set: &SequenceSet,
        uid: bool,
        out: &mut Vec<u8>,
    ) -> Option<Vec<usize>> {
        match self.resolve(set, uid) {
            Ok(i) => Some(i),
            Err(e) => {
                out.extend(response::tagged(tag, Status::Bad, None, &e));
                None
            }
        }
    }

    /// Whether the mailbox was opened read-only; if so the command is answered NO [READ-ONLY].
    pub(super) fn refuse_if_read_only(&self, tag: &str, out: &mut Vec<u8>) -> bool {
        if self.read_only {
            out.extend(response::tagged(
                tag,
                Status::No,
                Some(&Code::ReadOnly),
                "Mailbox is read-only",
            ));
        }
        self.read_only
    }

    pub(super) fn resolve(&self, set: &SequenceSet, uid: bool) -> Result<Vec<usize>, String> {
        let count = self.messages.len();
        let mut out = Vec::new();
        if uid {
            let largest = self.messages.last().map(|m| m.uid).unwrap_or(0);
            for (lo, hi) in set.normalized(largest) {
                let a = self.messages.partition_point(|m| m.uid < lo);
                let b = self.messages.partition_point(|m| m.uid <= hi);
                out.extend(a..b);
            }
        } else {
            for r in &set.ranges {
                for end in [r.start, r.end] {
                    if let SeqNumber::Value(n) = end {
                        if n as usize > count {
                            return Err(format!(
                                "Invalid message sequence number {n} (the mailbox has {count} messages)"
                            ));
                        }
                    }
                }
            }
            for (lo, hi) in set.normalized(count as u32) {
                out.extend(lo as usize - 1..hi as usize);
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// Whether a message carries `\Deleted`.
    fn deleted(m: &MessageInfo) -> bool {
        m.flags.contains(crate::maildir::Flag::Deleted)
    }

    /// STORE.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn store(
        &mut self,
        tag: &str,
        uid: bool,
        set: &SequenceSet,
        unchanged_since: Option<u64>,
        mode: StoreMode,
        silent: bool,
        flags: &[Flag],
        condstore: bool,
        out: &mut Vec<u8>,
    ) {
        if self.refuse_if_read_only(tag, out) {
            return;
        }
        let Some(idx) = self.resolve_or_bad(tag, set, uid, out) else {
            return;
        };
        let wanted = match maildir_flags(flags) {
            Ok(f) => f,
            Err(k) => {
                out.extend(response::tagged(
                    tag,
                    Status::Bad,
                    None,
                    &format!("Invalid keyword {k}"),
                ));
                return;
            }
        };
        let op = match mode {
            StoreMode::Replace => FlagOp::Replace(wanted),
            StoreMode::Add => FlagOp::Add(wanted),
            StoreMode::Remove => FlagOp::Remove(wanted),
        };
        let uids: Vec<u32> = idx.iter().map(|&i| self.messages[i].uid).collect();
        let outcome = match self.state.store_flags(&uids, &op, unchanged_since) {
            Ok(o) => o,
            Err(MaildirError::TooManyKeywords) => {
                out.extend(response::tagged(
                    tag,
                    Status::No,
                    Some(&Code::Limit),
                    "Too many keywords in this mailbox",
                ));
                return;
            }
            Err(e) => {
                out.extend(response::tagged(
                    tag,
                    Status::No,
                    Some(&Code::ServerBug),
                    &e.to_string(),
                ));
                return;
            }
        };
        let condstore = condstore || unchanged_since.is_some();
        for (u, f, modseq) in &outcome.stored {
            let Ok(i) = self.messages.binary_search_by_key(u, |m| m.uid) else {
                continue;
            };
            let m = &mut Arc::make_mut(&mut self.messages)[i];
            m.flags = f.clone();
            m.modseq = *modseq;
            self.highestmodseq = self.highestmodseq.max(*modseq);
            if silent && !condstore {
                continue;
            }
            let mut line = format!("* {} FETCH (", i + 1).into_bytes();
            let mut items = Vec::new();
            if uid || condstore {
                items.push(format!("UID {u}").into_bytes());
            }
            if !silent {
                let mut f = b"FLAGS ".to_vec();
                response::write_flag_list(&mut f, &imap_flags(&m.flags, self.recent.contains(u)));
                items.push(f);
            }
            if condstore {
                items.push(format!("MODSEQ ({})", m.modseq.max(1)).into_bytes());
            }
            line.extend(items.join(&b' '));
            line.extend(b")\r\n");
            out.extend(line);
        }
        // Keep our own changes from being reported again as someone else's.
        if let Ok(snap) = self.state.snapshot() {
            self.keywords = snap.keywords;
        }
        let modified: Vec<u32> = outcome
            .modified
            .iter()
            .filter_map(|u| {
                if uid {
                    Some(*u)
                } else {
                    self.messages
                        .binary_search_by_key(u, |m| m.uid)
                        .ok()
                        .map(|i| i as u32 + 1)
                }
            })
            .collect();
        match SequenceSet::from_numbers(&modified) {
            Some(set) => out.extend(response::tagged(
                tag,
                Status::Ok,
                Some(&Code::Modified(set)),
                "Conditional STORE failed for some messages",
            )),
            None => out.extend(response::tagged(tag, Status::Ok, None, "STORE completed")),
        }
    }

    /// SEARCH.
    pub(super) fn search(&self, tag: &str, uid: bool, criteria: &SearchKey, out: &mut Vec<u8>) {
        let max_seq = self.messages.len() as u32;
        let max_uid = self.messages.last().map(|m| m.uid).unwrap_or(0);
        let mut hits = Vec::new();
        let mut highest = 0u64;
        for (i, m) in self.messages.iter().enumerate() {
            let view = View::new(m, self.recent.contains(&m.uid), &self.maildir);
            let ctx = SearchContext {
                seq: i as u32 + 1,
                max_seq,
                max_uid,
            };
            if search::matches(criteria, ctx, &view).unwrap_or(false) {
                hits.push(if uid { m.uid } else { i as u32 + 1 });
                highest = highest.max(m.modseq.max(1));
            }
        }
        let modseq = (criteria.uses_modseq() && !hits.is_empty()).then_some(highest);
        out.extend(response::search(&hits, modseq));
        out.extend(response::tagged(tag, Status::Ok, None, "SEARCH completed"));
    }

    /// EXPUNGE / UID EXPUNGE / the silent expunge of CLOSE.
    pub(super) fn expunge(
        &mut self,
        uids: Option<&SequenceSet>,
        out: Option<&mut Vec<u8>>,
    ) -> Result<(), MaildirError> {
        let largest = self.messages.last().map(|m| m.uid).unwrap_or(0);
        let doomed: Vec<u32> = self
            .messages
            .iter()
            .filter(|m| Self::deleted(m))
            .filter(|m| uids.is_none_or(|s| s.contains(m.uid, largest)))
            .map(|m| m.uid)
            .collect();
        if doomed.is_empty() {
            return Ok(());
        }
        let removed = self.state.expunge(&doomed)?;
        if let Some(out) = out {
            self.remove_uids(out, &removed);
        }
        Ok(())
    }

    /// Stores the virtual sizes learnt since the last call (the client paused, or the mailbox
    /// is being closed).
    pub(super) fn flush_sizes(&mut self) {
        if !self.pending_sizes.is_empty() {
            let sizes = std::mem::take(&mut self.pending_sizes);
            // Only a cache of what can be computed again: a failure costs a later re-read.
            let _ = self.state.record_virtual_sizes(&sizes);
        }
    }

    /// Saves the cache (dropping entries of messages no longer here) and the sizes learnt.
    pub fn save_cache(&mut self) {
        self.flush_sizes();
        let present: HashSet<&str> = self.messages.iter().map(|m| m.base()).collect();
        let _ = self.cache.save(|b| present.contains(b));
    }
}
