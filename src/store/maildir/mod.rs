//! Maildir mailboxes: the mail volume (user → maildir), layout (INBOX + Maildir++ folders), file
//! names and flags, the mailbox state beside each maildir (UIDs, UIDVALIDITY, modseq, size/date
//! cache), the user's UIDVALIDITY counter and each mailbox's `\Recent` marker, locking and quota
//! usage; and what readers keep beside it: a rendering cache,
//! subscriptions and special-use attributes, the process's shared message lists. Shared by
//! `popd`, `imapd` and local delivery; knows nothing of any protocol.

pub mod cache;
pub mod counters;
pub mod deliver;
pub mod error;
mod files;
pub mod flags;
mod journal;
pub mod layout;
pub mod lock;
pub mod meta;
pub mod name;
pub mod quota;
mod scan;
pub mod shared;
pub mod state;
mod statefile;
mod transfer;
pub mod volume;

/// Mode of the files kept beside a maildir (state, cache, subscriptions…), less the umask.
pub const FILE_MODE: u32 = 0o666;

pub use error::MaildirError;
pub use files::{prefetch, prefetch_with, read_message_into, MessageDirs};
pub use flags::{Flag, Flags};
pub use journal::JOURNAL_FILE;
pub use layout::Maildir;
pub use lock::{try_lock_pop3, Pop3Lock};
pub use quota::usage;
pub use state::{FlagOp, MailboxState, MessageInfo, Snapshot, StoreOutcome};
pub use statefile::STATE_FILE;
pub use transfer::Moved;
pub use volume::MailVolume;
