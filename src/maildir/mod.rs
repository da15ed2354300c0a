//! Maildir mailboxes: layout (INBOX + Maildir++ folders), file names and flags, the mailbox
//! state beside each maildir (UIDs, UIDVALIDITY, modseq, size/date cache), locking and quota
//! usage. Shared by `popd`, `imapd` and local delivery; knows nothing of any protocol.

pub mod deliver;
pub mod error;
mod files;
pub mod flags;
pub mod layout;
pub mod lock;
pub mod name;
pub mod quota;
mod scan;
pub mod state;
mod statefile;
mod transfer;

pub use error::MaildirError;
pub use flags::{Flag, Flags};
pub use layout::Maildir;
pub use lock::{try_lock_pop3, Pop3Lock};
pub use quota::usage;
pub use state::{FlagOp, MailboxState, MessageInfo, Snapshot, StoreOutcome};
pub use statefile::STATE_FILE;
pub use transfer::Moved;
