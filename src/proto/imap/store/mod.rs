//! What the IMAP session needs from the mail volume, as traits: a [`MailStore`] opens a logged-in
//! user's [`Account`] (its mailboxes by name, subscriptions, special-use attributes, quota
//! usage), and an account opens a [`Mailbox`] (the mailbox state: UIDs, flags, modseqs,
//! messages, the rendering cache and the process's shared message lists). The session does no
//! I/O of its own: everything on disk goes through these, so its tests run on the in-memory
//! store ([`memory`]) as POP3's do, and the real one ([`maildir::MaildirStore`]) sits on the
//! maildir layer.
//!
//! The data types are the maildir layer's ([`Snapshot`], [`MessageInfo`], [`FlagOp`]…): plain
//! values, the same for every store. Errors are [`MaildirError`]s, whose kinds (no such folder,
//! exists already, too many keywords, a full volume) the session turns into response codes.

#[cfg(test)]
pub mod memory;

use std::path::PathBuf;
use std::sync::Arc;

use crate::proto::imap::mailbox_name::MailboxName;
use crate::store::maildir::cache::Cache;
use crate::store::maildir::shared::{Current, Header, Stamp};
use crate::store::maildir::{FlagOp, Flags, MaildirError, MessageInfo, Snapshot, StoreOutcome};

/// Result of a store operation.
pub type Result<T> = std::result::Result<T, MaildirError>;

/// The mail volume: each user's mail, opened after a successful login.
pub trait MailStore {
    /// A user's mail.
    type Account: Account<Mailbox = Self::Mailbox>;
    /// One mailbox of it.
    type Mailbox: Mailbox;

    /// The mail of `user` (made when it does not exist yet: a user who never got mail has an
    /// empty INBOX).
    fn open(&self, user: &str) -> Result<Self::Account>;
}

/// A logged-in user's mail: the INBOX and the folders below it, addressed by IMAP name.
pub trait Account {
    /// One mailbox.
    type Mailbox: Mailbox;

    /// The mailbox `name`; [`MaildirError::NoSuchFolder`] when it does not exist.
    fn mailbox(&self, name: &MailboxName) -> Result<Self::Mailbox>;
    /// The mailboxes that exist: INBOX first, then the folders (names the store cannot show as
    /// mailbox names are left out).
    fn mailboxes(&self) -> Result<Vec<MailboxName>>;
    /// Makes the mailbox `name` ([`MaildirError::FolderExists`] when it exists).
    fn create(&self, name: &MailboxName) -> Result<()>;
    /// The mailbox `name`, made (or finished, when an earlier attempt stopped half-way) if it
    /// is not there whole; `true` when it was made.
    fn ensure(&self, name: &MailboxName) -> Result<bool>;
    /// Deletes the mailbox `name` and its messages (not the mailboxes below it).
    fn delete(&self, name: &MailboxName) -> Result<()>;
    /// Renames the mailbox `from` (not INBOX) and the mailboxes below it to `to`.
    fn rename(&self, from: &MailboxName, to: &MailboxName) -> Result<()>;
    /// The special-use attributes recorded for an existing mailbox; `Ok(None)` when none were
    /// ever recorded.
    fn recorded_uses(&self, name: &MailboxName) -> Result<Option<Vec<String>>>;
    /// Records the special-use attributes of a mailbox.
    fn record_uses(&self, name: &MailboxName, attrs: &[String]) -> Result<()>;
    /// The subscribed names (IMAP form).
    fn subscriptions(&self) -> Vec<String>;
    /// Replaces the subscribed names.
    fn set_subscriptions(&self, names: &[String]) -> Result<()>;
    /// Whether the first-login setup is done.
    fn setup_done(&self) -> bool;
    /// Marks the first-login setup as done.
    fn mark_setup_done(&self) -> Result<()>;
    /// Bytes the user's mail takes as quotas count it, if known.
    fn used_bytes(&self) -> Option<u64>;
}

/// One mailbox: its state (shared with delivery, POP3 and other IMAP sessions), its messages
/// and the rendering cache. Cheap to open; reads nothing until used.
pub trait Mailbox {
    /// Whether `other` is the same mailbox.
    fn same(&self, other: &Self) -> bool;
    /// The directory an idling session watches for changes, if there is one.
    fn watch_path(&self) -> Option<PathBuf>;

    /// Brings the state up to date with the messages (numbering new ones, dropping gone
    /// ones, picking up flag changes): see [`crate::store::maildir::MailboxState::sync`].
    fn sync(&mut self) -> Result<Snapshot>;
    /// The messages now: the list another session of the process published while nothing
    /// changed since, else a [`Mailbox::sync`] (one per process at a time, its result offered
    /// to the other sessions): see [`crate::store::maildir::shared::current`].
    fn current(&mut self) -> Result<Current>;
    /// The state as last recorded, without looking for changes.
    fn snapshot(&mut self) -> Result<Snapshot>;
    /// UIDVALIDITY and the keywords as this handle's last change left them (what a STORE or
    /// an APPEND through it just recorded), without copying the messages' list.
    fn after_change(&mut self) -> Result<(u32, Vec<String>)> {
        let s = self.snapshot()?;
        Ok((s.uidvalidity, s.keywords))
    }
    /// The first UID of this mailbox (under `uidvalidity`) that no session has been told of as
    /// `\Recent` (RFC 3501 §2.3.2); with `claim_below`, the caller's session takes every UID
    /// below it as its own recent ones (a SELECT, not an EXAMINE or a STATUS). Shared with every
    /// other process that opens the mailbox, `popd` included.
    fn first_recent(&mut self, uidvalidity: u32, claim_below: Option<u32>) -> Result<u32>;
    /// Forgets the state kept between calls; returns how many messages it held.
    fn release(&mut self) -> usize;
    /// Changes the flags of `uids` (CONDSTORE: not those changed after `unchanged_since`).
    fn store_flags(
        &mut self,
        uids: &[u32],
        op: &FlagOp,
        unchanged_since: Option<u64>,
    ) -> Result<StoreOutcome>;
    /// Removes messages; returns the UIDs removed (including ones already gone).
    fn expunge(&mut self, uids: &[u32]) -> Result<Vec<u32>>;
    /// Adds a message with these flags and internal date (default now); returns its UID.
    fn append(&mut self, bytes: &[u8], flags: &Flags, internal_date: Option<i64>) -> Result<u32>;
    /// Copies messages into `target`: `(source uid, new uid)` pairs.
    fn copy_to(&mut self, uids: &[u32], target: &mut Self) -> Result<Vec<(u32, u32)>>;
    /// Moves messages into `target`, each in exactly one of the two at every moment:
    /// `(source uid, new uid)` pairs, in source UID order.
    fn move_to(&mut self, uids: &[u32], target: &mut Self) -> Result<Vec<(u32, u32)>>;
    /// Computes (and records) the sizes with CRLF line ends `snapshot` lacks.
    fn fill_virtual_sizes(&mut self, snapshot: &mut Snapshot) -> Result<()>;
    /// Records sizes with CRLF line ends a reader computed from bytes it read anyway.
    fn record_virtual_sizes(&mut self, sizes: &[(u32, u64)]) -> Result<()>;
    /// The stored bytes of a message (at most `limit`); `NotFound` once it is gone.
    fn read(&self, info: &MessageInfo, limit: u64) -> std::io::Result<Vec<u8>>;
    /// The stored bytes of a message (at most `limit`) in `buf`, replacing what it held (a
    /// FETCH reads every message into one buffer); `NotFound` once it is gone. On an error
    /// `buf`'s content is unspecified.
    fn read_into(&self, info: &MessageInfo, limit: u64, buf: &mut Vec<u8>) -> std::io::Result<()> {
        let bytes = self.read(info, limit)?;
        buf.clear();
        buf.extend_from_slice(&bytes);
        Ok(())
    }
    /// A hint that these messages will be read soon, in this order (a FETCH of many bodies asks
    /// for the next window ahead of rendering): a store on disk may start reading them so that
    /// the reads overlap. Never required; the default does nothing.
    fn prefetch(&self, _infos: &[&MessageInfo]) {}
    /// The message's header block up to and including the empty line that ends it (at most
    /// `limit` bytes; the whole message when it has no body). Stores that can stop reading
    /// there should (SORT and THREAD need only this).
    fn read_header(&self, info: &MessageInfo, limit: u64) -> std::io::Result<Vec<u8>> {
        let mut bytes = self.read(info, limit)?;
        if let Some(end) = crate::proto::imap::message::header_end(&bytes) {
            bytes.truncate(end);
        }
        Ok(bytes)
    }

    /// What the mailbox looks like now, to tell whether anything changed since.
    fn stamp(&self) -> Stamp;
    /// `stamp` if it can be relied on (nothing can change unseen under it), else `None`.
    fn trusted(&self, stamp: Stamp) -> Option<Stamp>;
    /// The message list another session of this process published under `stamp`.
    fn shared(&self, stamp: Stamp) -> Option<(Header, Arc<Vec<MessageInfo>>)>;
    /// Publishes this session's list as current for `stamp`.
    fn publish(&self, stamp: Stamp, header: &Header, messages: &Arc<Vec<MessageInfo>>);
    /// Forgets `messages` as the published list (a session is about to change it).
    fn unpublish(&self, _messages: &Arc<Vec<MessageInfo>>) {}
    /// Whether the stored messages are exactly `messages` (names and flags included).
    fn files_match(&self, messages: &[MessageInfo]) -> bool;

    /// Loads the rendering cache into `cache` (once).
    fn load_cache(&self, cache: &mut Cache);
    /// Keeps `cache` (only entries for which `present` holds) if it gained entries; a cache
    /// that cannot be kept costs a later re-render, nothing else.
    fn save_cache(&self, cache: &mut Cache, present: &dyn Fn(&str) -> bool);
}
