//! The mail volume (`paths.mail`): one maildir per user, `<volume>/<user>`, the INBOX with its
//! Maildir++ folders below it. This is the one place a user name becomes a directory: a name
//! that could not be one (empty, `..`, a `/`, a leading dot — see
//! [`crate::store::users::valid_user_name`]) has no mailbox, whoever asks.

use std::path::{Path, PathBuf};

use super::error::{MaildirError, Result};
use super::layout::Maildir;
use super::quota;

/// The mail volume (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailVolume {
    root: PathBuf,
}

impl MailVolume {
    /// The volume at `root`.
    pub fn new(root: impl Into<PathBuf>) -> MailVolume {
        MailVolume { root: root.into() }
    }

    /// The volume's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the INBOX maildir of `user` is; `None` for a name unusable as a directory name.
    pub fn inbox_path(&self, user: &str) -> Option<PathBuf> {
        crate::store::users::valid_user_name(user).then(|| self.root.join(user))
    }

    /// The INBOX of `user`, made (mode 0700, like every maildir) when missing.
    pub fn create_inbox(&self, user: &str) -> Result<Maildir> {
        Maildir::create(self.checked(user)?)
    }

    /// The INBOX of `user`, if it exists.
    pub fn open_inbox(&self, user: &str) -> Result<Maildir> {
        Maildir::open(self.checked(user)?)
    }

    /// The mail of `user` as quotas count it: `(bytes, messages)` over the INBOX and every
    /// folder ([`quota::usage_cached`]); `None` for a user without a usable mailbox.
    pub fn usage(&self, user: &str) -> Option<(u64, u64)> {
        let inbox = self.open_inbox(user).ok()?;
        quota::usage_cached(&inbox).ok()
    }

    fn checked(&self, user: &str) -> Result<PathBuf> {
        self.inbox_path(user)
            .ok_or_else(|| MaildirError::BadUser(user.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_valid_user_names_become_maildirs() {
        let dir = tempfile::tempdir().unwrap();
        let volume = MailVolume::new(dir.path());
        for bad in ["", "..", "../etc", "a/b", ".hidden", "carol/../x"] {
            assert_eq!(volume.inbox_path(bad), None, "{bad:?}");
            assert!(
                matches!(volume.create_inbox(bad), Err(MaildirError::BadUser(_))),
                "{bad:?}"
            );
            assert_eq!(volume.usage(bad), None, "{bad:?}");
        }
        assert!(matches!(
            volume.open_inbox("carol"),
            Err(MaildirError::NotAMaildir(_))
        ));
        assert_eq!(volume.usage("carol"), None, "no mailbox yet");
        let inbox = volume.create_inbox("carol").unwrap();
        assert_eq!(inbox.path(), dir.path().join("carol"));
        assert!(dir.path().join("carol/cur").is_dir());
        assert_eq!(volume.open_inbox("carol").unwrap(), inbox);
        assert_eq!(volume.usage("carol"), Some((0, 0)));
    }
}
