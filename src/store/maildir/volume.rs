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
    /// With `[users] source = "system"`/`"both"`: a system user's maildir is where
    /// `[users.system] maildir` says (its home's `Maildir`, a template, or here).
    system: Option<std::sync::Arc<crate::store::system::SystemAccounts>>,
}

impl MailVolume {
    /// The volume at `root`.
    pub fn new(root: impl Into<PathBuf>) -> MailVolume {
        MailVolume {
            root: root.into(),
            system: None,
        }
    }

    /// The volume of `config` (`paths.mail`), with its system users' maildirs (`[users]`).
    pub fn for_config(config: &crate::config::Config) -> MailVolume {
        MailVolume {
            root: config.paths.mail.clone(),
            system: config.users.uses_system().then(|| {
                std::sync::Arc::new(crate::store::system::SystemAccounts::new(
                    &config.users.system,
                    &config.paths.mail,
                ))
            }),
        }
    }

    /// The volume's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the INBOX maildir of `user` is; `None` for a name unusable as a directory name.
    pub fn inbox_path(&self, user: &str) -> Option<PathBuf> {
        if !crate::store::users::valid_user_name(user) {
            return None;
        }
        if let Some(system) = &self.system {
            if let Some(account) = system.lookup(user) {
                return Some(system.maildir(&account, &self.root));
            }
        }
        Some(self.root.join(user))
    }

    /// The INBOX of `user`, made (mode 0700, like every maildir) when missing. A system user's
    /// new maildir is given to that user when this process runs as root.
    pub fn create_inbox(&self, user: &str) -> Result<Maildir> {
        let path = self.checked(user)?;
        let fresh = !path.join("cur").is_dir();
        let maildir = Maildir::create(&path)?;
        if fresh {
            if let Some(account) = self.system.as_ref().and_then(|s| s.lookup(user)) {
                crate::store::system::give_to(&path, &account);
            }
        }
        Ok(maildir)
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
