//! The selected mailbox: the session's view of it (sequence numbers, flags, `\Recent`), and
//! bringing that view up to date with untagged responses.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use super::view::imap_flags;
use crate::proto::imap::flag::Flag;
use crate::proto::imap::mailbox_name::MailboxName;
use crate::proto::imap::response::{Code, Data, Status};
use crate::proto::imap::sequence::{SeqNumber, SequenceSet};
use crate::proto::imap::store::Mailbox;
use crate::store::maildir::cache::Cache;
use crate::store::maildir::shared::{Header, Stamp};
use crate::store::maildir::{MaildirError, MessageInfo};

/// Virtual sizes learnt that are stored between commands; fewer wait for a quiet moment.
const FLUSH_SIZES: usize = 256;

/// The selected mailbox (see the module docs).
pub struct Selected<M> {
    /// Its name.
    pub name: MailboxName,
    /// EXAMINE (or no write access).
    pub read_only: bool,
    pub(super) mailbox: M,
    /// Messages in sequence order (ascending UID); shared with other sessions on the same
    /// unchanged mailbox ([`Mailbox::shared`]): change it through [`Selected::messages_mut`].
    pub(super) messages: Arc<Vec<MessageInfo>>,
    pub(super) recent: HashSet<u32>,
    pub(super) uidvalidity: u32,
    pub(super) uidnext: u32,
    pub(super) highestmodseq: u64,
    pub(super) keywords: Vec<String>,
    pub(super) cache: Cache,
    stamp: Option<Stamp>,
    /// Messages gone from the store whose EXPUNGE could not be sent yet.
    deferred: bool,
    /// QRESYNC is enabled: removals are announced as `VANISHED`, not `EXPUNGE`.
    pub(super) vanished: bool,
    /// IMAP4rev2 is enabled (RFC 9051): this session neither claims nor reports `\Recent`.
    rev2: bool,
    /// Virtual sizes learnt while sending messages, not yet in the state file.
    pub(super) pending_sizes: Vec<(u32, u64)>,
}

impl<M: Mailbox> Selected<M> {
    /// Opens a mailbox: takes its messages as they are now (the list other sessions share
    /// while the mailbox is unchanged, else a sync) as the view this session starts from
    /// (`rev2`: for an IMAP4rev2 session, which has no `\Recent`).
    pub fn open(
        name: MailboxName,
        mut mailbox: M,
        read_only: bool,
        rev2: bool,
    ) -> Result<Self, MaildirError> {
        let cur = mailbox.current()?;
        let mut sel = Selected {
            name,
            read_only,
            recent: HashSet::new(),
            uidvalidity: cur.header.uidvalidity,
            uidnext: cur.header.uidnext,
            highestmodseq: cur.header.highestmodseq,
            keywords: cur.header.keywords,
            messages: cur.messages,
            mailbox,
            cache: Cache::new(),
            stamp: cur.stamp,
            deferred: false,
            vanished: false,
            rev2,
            pending_sizes: Vec::new(),
        };
        sel.claim_recent(0);
        Ok(sel)
    }

    /// RFC 3501 §2.3.2: the messages above UID `above` that no other session has been told of
    /// become recent in this one; a read-write session claims them (so no other session will
    /// see them recent), a read-only one (EXAMINE) only looks. A marker that cannot be read
    /// makes nothing recent.
    fn claim_recent(&mut self, above: u32) {
        if self.rev2 {
            return;
        }
        let claim = (!self.read_only).then_some(self.uidnext);
        let Ok(first) = self.mailbox.first_recent(self.uidvalidity, claim) else {
            return;
        };
        let from = first.max(above.saturating_add(1));
        let start = self.messages.partition_point(|m| m.uid < from);
        let uids = self.messages.get(start..).unwrap_or_default();
        self.recent.extend(uids.iter().map(|m| m.uid));
    }

    /// IMAP4rev2 was enabled with this mailbox selected: from now on nothing is `\Recent`
    /// and no `RECENT` response is sent (RFC 9051 Appendix E item 5).
    pub(super) fn forget_recent(&mut self) {
        self.rev2 = true;
        self.recent.clear();
    }

    /// The number of messages in the view.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether the view holds no message.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// The message list, to change (copied first when other sessions share it).
    pub(super) fn messages_mut(&mut self) -> &mut Vec<MessageInfo> {
        self.own();
        Arc::make_mut(&mut self.messages)
    }

    /// Before the list changes: the process's registry lets go of it (it no longer describes
    /// the mailbox), so that a session alone on it changes it in place instead of copying it.
    fn own(&mut self) {
        if Arc::strong_count(&self.messages) > 1 {
            self.mailbox.unpublish(&self.messages);
        }
    }

    /// The message at `index` of the view, to change.
    pub(super) fn message_mut(&mut self, index: usize) -> Option<&mut MessageInfo> {
        self.messages_mut().get_mut(index)
    }

    /// The view's index of the message with this UID.
    pub(super) fn index_of(&self, uid: u32) -> Option<usize> {
        self.messages.binary_search_by_key(&uid, |m| m.uid).ok()
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
        match self.mailbox.shared(stamp) {
            Some((header, theirs)) if Arc::ptr_eq(&theirs, &self.messages) => drop(header),
            Some((header, theirs)) if header == self.header() && *theirs == *self.messages => {
                self.messages = theirs;
            }
            _ => self.mailbox.publish(stamp, &self.header(), &self.messages),
        }
    }

    /// Whether the view rests on a trusted stamp (nothing can have changed unseen); an idling
    /// session that is not settled looks again a second later.
    pub fn settled(&self) -> bool {
        self.stamp.is_some()
    }

    /// Between commands, once the mailbox is a second old: if the store still holds exactly
    /// this view, the view gets its trusted stamp and is shared. Nothing in the store or in the
    /// view changes (no sync: new messages keep their `\Recent` for whoever reports them); a
    /// difference is left for the next command to find. Returns whether the private list was
    /// given up for a shared one.
    pub fn settle_quietly(&mut self) -> bool {
        self.flush_sizes();
        if self.stamp.is_some() || self.deferred {
            return false;
        }
        let Some(stamp) = self.mailbox.trusted(self.mailbox.stamp()) else {
            return false;
        };
        // Another session's checked list under this stamp: the same as ours, or news for the
        // next command.
        if let Some((header, theirs)) = self.mailbox.shared(stamp) {
            if header != self.header() || *theirs != *self.messages {
                return false;
            }
            self.stamp = Some(stamp);
            let mine = Arc::ptr_eq(&theirs, &self.messages);
            self.messages = theirs;
            return !mine;
        }
        let Ok(snap) = self.mailbox.snapshot() else {
            return false;
        };
        self.mailbox.release();
        let same = snap.uidvalidity == self.uidvalidity
            && snap.uidnext == self.uidnext
            && snap.highestmodseq == self.highestmodseq
            && snap.keywords == self.keywords
            && snap.messages == *self.messages
            && self.mailbox.files_match(&self.messages)
            && self.mailbox.stamp() == stamp;
        if !same {
            return false;
        }
        self.stamp = Some(stamp);
        let before = Arc::as_ptr(&self.messages);
        self.share();
        !std::ptr::eq(before, Arc::as_ptr(&self.messages))
    }

    /// The directory to watch while idling.
    pub fn watch_path(&self) -> Option<PathBuf> {
        self.mailbox.watch_path()
    }

    /// Whether something may have changed in the store since the last sync.
    pub fn maybe_changed(&self) -> bool {
        self.deferred || self.stamp != Some(self.mailbox.stamp())
    }

    /// Forces the next refresh to sync.
    pub(super) fn touch(&mut self) {
        self.stamp = None;
    }

    /// Drops the state the mailbox keeps between calls; how many messages it held.
    pub(super) fn release_state(&mut self) -> usize {
        self.mailbox.release()
    }

    /// The `* FLAGS` and `PERMANENTFLAGS` of this mailbox.
    pub(super) fn flag_lines(&self) -> [Data; 2] {
        let mut flags = vec![
            Flag::Answered,
            Flag::Flagged,
            Flag::Deleted,
            Flag::Seen,
            Flag::Draft,
        ];
        flags.extend(self.keywords.iter().filter_map(|k| Flag::parse(k)));
        let (permanent, allow_new) = if self.read_only {
            (Vec::new(), false)
        } else {
            (flags.clone(), self.keywords.len() < 26)
        };
        [
            Data::Flags(flags),
            Data::condition(
                Status::Ok,
                Some(Code::PermanentFlags {
                    flags: permanent,
                    allow_new,
                }),
                "Flags permitted",
            ),
        ]
    }

    /// The untagged part of the SELECT/EXAMINE response.
    pub(super) fn select_data(&self, condstore: bool) -> Vec<Data> {
        let mut out = Vec::from(self.flag_lines());
        out.push(Data::Exists(self.messages.len() as u32));
        // RFC 9051 §6.3.2: no RECENT and no UNSEEN code for an IMAP4rev2 session.
        if !self.rev2 {
            out.push(Data::Recent(self.recent.len() as u32));
        }
        if let Some(i) = self
            .messages
            .iter()
            .position(|m| !m.flags.contains(crate::store::maildir::Flag::Seen))
            .filter(|_| !self.rev2)
        {
            out.push(Data::condition(
                Status::Ok,
                Some(Code::Unseen(i as u32 + 1)),
                "First unseen",
            ));
        }
        out.push(Data::condition(
            Status::Ok,
            Some(Code::UidValidity(self.uidvalidity)),
            "UIDs valid",
        ));
        out.push(Data::condition(
            Status::Ok,
            Some(Code::UidNext(self.uidnext)),
            "Predicted next UID",
        ));
        if condstore {
            out.push(Data::condition(
                Status::Ok,
                Some(Code::HighestModSeq(self.highestmodseq.max(1))),
                "Highest",
            ));
        }
        out
    }

    /// Brings the view up to date with the store: EXISTS / RECENT / FETCH (FLAGS) and, when
    /// `expunge` is allowed, EXPUNGE responses.
    pub fn refresh(&mut self, expunge: bool, condstore: bool) -> Result<Vec<Data>, MaildirError> {
        if !self.maybe_changed() {
            return Ok(Vec::new());
        }
        let cur = self.mailbox.current()?;
        self.stamp = cur.stamp;
        let mut out = Vec::new();
        if !Arc::ptr_eq(&cur.messages, &self.messages) || cur.header != self.header() {
            self.apply(&cur.header, &cur.messages, &mut out, expunge, condstore);
        }
        // The view is the mailbox again: share the one list.
        if !self.deferred
            && !Arc::ptr_eq(&cur.messages, &self.messages)
            && cur.messages.len() == self.messages.len()
            && *cur.messages == *self.messages
        {
            self.messages = cur.messages;
        }
        Ok(out)
    }

    fn apply(
        &mut self,
        header: &Header,
        messages: &[MessageInfo],
        out: &mut Vec<Data>,
        expunge: bool,
        condstore: bool,
    ) {
        if header.uidvalidity != self.uidvalidity {
            // The state was rebuilt: every UID changed. Start over from the new state.
            let all: Vec<u32> = self.messages.iter().map(|m| m.uid).collect();
            out.extend(self.remove_uids(&all));
            self.messages_mut().clear();
            self.recent.clear();
            self.uidvalidity = header.uidvalidity;
            out.push(Data::condition(
                Status::Ok,
                Some(Code::UidValidity(header.uidvalidity)),
                "UIDVALIDITY changed",
            ));
        }
        let mut found = align(&self.messages, messages);
        if expunge {
            let gone: Vec<u32> = self
                .messages
                .iter()
                .zip(&found)
                .filter(|(_, now)| now.is_none())
                .map(|(m, _)| m.uid)
                .collect();
            if !gone.is_empty() {
                out.extend(self.remove_uids(&gone));
                // The view lost exactly the messages the store no longer has.
                found.retain(Option::is_some);
            }
            self.deferred = false;
        } else {
            self.deferred = found.iter().any(Option::is_none);
        }
        // A new keyword is announced before the FETCH responses that carry it.
        if header.keywords != self.keywords {
            self.keywords = header.keywords.clone();
            out.extend(self.flag_lines());
        }
        // Only touch (and so stop sharing) the list when a message differs.
        let differs = self
            .messages
            .iter()
            .zip(&found)
            .any(|(m, now)| now.is_some_and(|now| now != m));
        if differs {
            self.own();
            let recent = &self.recent;
            let messages = Arc::make_mut(&mut self.messages);
            for (i, (m, now)) in messages.iter_mut().zip(&found).enumerate() {
                let Some(now) = *now else {
                    continue;
                };
                if now == m {
                    continue;
                }
                let changed = now.flags != m.flags;
                *m = now.clone();
                if changed {
                    // RFC 7162 §3.1: with CONDSTORE on, such FETCHes carry UID and MODSEQ.
                    out.push(Data::FlagsFetch {
                        seq: i as u32 + 1,
                        uid: condstore.then_some(m.uid),
                        flags: Some(imap_flags(&m.flags, recent.contains(&m.uid))),
                        modseq: condstore.then_some(m.modseq.max(1)),
                    });
                }
            }
        }
        let last = self.messages.last().map(|m| m.uid).unwrap_or(0);
        let first_new = messages.partition_point(|m| m.uid <= last);
        let new = messages.get(first_new..).unwrap_or_default();
        let added = !new.is_empty();
        if added {
            self.messages_mut().extend_from_slice(new);
        }
        self.uidnext = header.uidnext;
        self.highestmodseq = header.highestmodseq;
        if added {
            self.claim_recent(last);
            out.push(Data::Exists(self.messages.len() as u32));
            if !self.rev2 {
                out.push(Data::Recent(self.recent.len() as u32));
            }
        }
    }

    /// Removes messages from the view: `* n EXPUNGE` for each (or, with QRESYNC, one
    /// `* VANISHED uids`).
    pub(super) fn remove_uids(&mut self, uids: &[u32]) -> Vec<Data> {
        let mut out = Vec::new();
        if uids.is_empty() {
            return out;
        }
        let mut gone = uids.to_vec();
        gone.sort_unstable();
        let is_gone = |uid: u32| gone.binary_search(&uid).is_ok();
        // Each message going: its index and UID.
        let at: Vec<(usize, u32)> = (self.messages.iter().enumerate())
            .filter(|(_, m)| is_gone(m.uid))
            .map(|(i, m)| (i, m.uid))
            .collect();
        if at.is_empty() {
            return out;
        }
        let vanished = self.vanished;
        // From the end, so that each EXPUNGE names the number the message has once the ones
        // above it are gone.
        if !vanished {
            out.extend(at.iter().rev().map(|&(i, _)| Data::Expunge(i as u32 + 1)));
        }
        let removed: Vec<u32> = at.iter().map(|&(_, uid)| uid).collect();
        for uid in &removed {
            self.recent.remove(uid);
        }
        self.own();
        Arc::make_mut(&mut self.messages).retain(|m| !is_gone(m.uid));
        if let (true, Some(uids)) = (vanished, SequenceSet::from_numbers(&removed)) {
            out.push(Data::Vanished {
                earlier: false,
                uids,
            });
        }
        out
    }

    /// The message indices `set` names (sequence numbers or UIDs); `Err` for a sequence
    /// number beyond the mailbox.
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
                out.extend((lo as usize).saturating_sub(1)..hi as usize);
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// The messages at these indices of the view (indices beyond it are skipped).
    pub(super) fn at<'a>(
        &'a self,
        indices: &'a [usize],
    ) -> impl Iterator<Item = &'a MessageInfo> + 'a {
        indices.iter().filter_map(|&i| self.messages.get(i))
    }

    /// Between commands: stores the virtual sizes learnt once there are many of them (a write
    /// of the state file per FETCH of one message would cost more than computing it again).
    pub(super) fn flush_many_sizes(&mut self) {
        if self.pending_sizes.len() >= FLUSH_SIZES {
            self.flush_sizes();
        }
    }

    /// Stores the virtual sizes learnt since the last call (the client is quiet, or the mailbox
    /// is being closed).
    pub(super) fn flush_sizes(&mut self) {
        if !self.pending_sizes.is_empty() {
            let sizes = std::mem::take(&mut self.pending_sizes);
            // Only a cache of what can be computed again: a failure costs a later re-read.
            let _ = self.mailbox.record_virtual_sizes(&sizes);
        }
    }

    /// Saves the cache (dropping entries of messages no longer here) and the sizes learnt.
    pub fn save_cache(&mut self) {
        self.flush_sizes();
        // Nothing to write (the usual case): no set of the mailbox's names to build (a LOGOUT
        // or SELECT of a large mailbox otherwise pays for it).
        if !self.cache.is_dirty() {
            return;
        }
        let present: HashSet<&str> = self.messages.iter().map(|m| m.base()).collect();
        self.mailbox
            .save_cache(&mut self.cache, &|b| present.contains(b));
    }
}

/// Pairs each message of `view` with the message of `now` that has its UID, if any: both
/// ascend by UID, so one walk through both does it (no table of `now` to build).
fn align<'a>(view: &[MessageInfo], now: &'a [MessageInfo]) -> Vec<Option<&'a MessageInfo>> {
    let mut rest = now.iter().peekable();
    view.iter()
        .map(|m| {
            while rest.next_if(|n| n.uid < m.uid).is_some() {}
            rest.next_if(|n| n.uid == m.uid)
        })
        .collect()
}
