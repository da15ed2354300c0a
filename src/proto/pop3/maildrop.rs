//! What the POP3 session needs from the outside world: credential checks and a maildrop.

use std::io::Read;

/// One message of a maildrop as fixed at login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropMessage {
    /// The size as sent (CRLF line ends), for STAT and LIST.
    pub size: u64,
    /// The persistent unique id for UIDL (printable ASCII 0x21–0x7E, at most 70 chars).
    pub uidl: String,
}

/// Why the maildrop could not be opened after a successful login.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Another POP3 session holds the mailbox (`-ERR [IN-USE]`).
    #[error("mailbox in use by another POP3 session")]
    InUse,
    /// A temporary failure (`-ERR [SYS/TEMP]`).
    #[error("temporary failure: {0}")]
    Temporary(String),
}

/// Errors reading or updating a maildrop.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaildropError {
    /// The message was deleted by another process since login.
    #[error("message no longer exists")]
    Gone,
    /// Any other failure.
    #[error("{0}")]
    Io(String),
}

/// A user's mailbox as seen by one POP3 session: fixed at login, messages numbered from 1
/// (index 0 here).
pub trait Maildrop {
    /// The messages as of login.
    fn messages(&self) -> &[DropMessage];
    /// Opens a message's stored bytes (any line ends) for reading.
    fn open(&mut self, index: usize) -> Result<Box<dyn Read + Send>, MaildropError>;
    /// Deletes these messages (UPDATE state, after QUIT); returns how many were removed.
    /// Messages already deleted by another process count as removed.
    fn delete(&mut self, indices: &[usize]) -> Result<usize, MaildropError>;
}

/// Credentials and mailbox access, wired by the daemon to the users file and the mail volume.
pub trait Backend {
    /// The maildrop type.
    type Drop: Maildrop;
    /// Where USER/PASS (the POP3 override password when the user has one), APOP's shared
    /// secret and the SASL exchanges look users up.
    fn credentials(&self) -> &dyn crate::proto::sasl::Credentials;
    /// Opens (and locks) the user's maildrop after a successful authentication.
    fn open_maildrop(&mut self, user: &str) -> Result<Self::Drop, OpenError>;
}
