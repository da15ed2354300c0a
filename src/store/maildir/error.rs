//! Errors of the maildir layer.

use std::path::PathBuf;

/// Everything that can go wrong while reading or changing a maildir and its state.
#[derive(Debug, thiserror::Error)]
pub enum MaildirError {
    /// An I/O error on a named path.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The directory is not a maildir (lacks `tmp/`, `new/` or `cur/`).
    #[error("{0}: not a maildir (missing tmp/, new/ or cur/)")]
    NotAMaildir(PathBuf),
    /// A folder name that could escape the mail root or is otherwise unusable.
    #[error("invalid folder name {0:?}")]
    InvalidFolderName(String),
    /// The folder does not exist.
    #[error("no such folder {0:?}")]
    NoSuchFolder(String),
    /// The folder already exists.
    #[error("folder {0:?} already exists")]
    FolderExists(String),
    /// A keyword cannot be stored: all 26 maildir keyword letters are in use.
    #[error("too many keywords in this mailbox (maildir allows 26)")]
    TooManyKeywords,
    /// A keyword that cannot be represented (empty, spaces, control bytes).
    #[error("invalid keyword {0:?}")]
    InvalidKeyword(String),
    /// A user name that cannot be a directory name on the mail volume.
    #[error("user name {0:?} is not usable as a mailbox")]
    BadUser(String),
}

impl MaildirError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        MaildirError::Io {
            path: path.into(),
            source,
        }
    }

    /// True when the file system (or the user's disk quota) is full.
    pub fn is_no_space(&self) -> bool {
        matches!(self, MaildirError::Io { source, .. } if crate::freespace::is_full(source))
    }

    /// True when the user's disk quota (not the file system) is what is full.
    pub fn is_over_disk_quota(&self) -> bool {
        matches!(self, MaildirError::Io { source, .. } if source.raw_os_error() == Some(libc::EDQUOT))
    }

    /// True when the underlying cause is a missing file or directory.
    pub fn is_not_found(&self) -> bool {
        matches!(self, MaildirError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// Result alias for the maildir layer.
pub type Result<T> = std::result::Result<T, MaildirError>;
