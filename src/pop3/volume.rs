//! The real [`Backend`]: the users file for credentials, the mail volume for maildrops
//! (`<mail>/<user>`, the INBOX local delivery writes to).

use std::path::PathBuf;
use std::sync::Arc;

use super::maildir_drop::MaildirMaildrop;
use super::maildrop::{Backend, OpenError};
use crate::maildir::Maildir;
use crate::users::{valid_user_name, Users};

/// Credentials from `users`, maildrops under `mail`.
pub struct VolumeBackend {
    users: Arc<Users>,
    mail: PathBuf,
}

impl VolumeBackend {
    /// A backend over this users list and mail volume.
    pub fn new(users: Arc<Users>, mail: impl Into<PathBuf>) -> Self {
        VolumeBackend {
            users,
            mail: mail.into(),
        }
    }
}

impl Backend for VolumeBackend {
    type Drop = MaildirMaildrop;

    fn credentials(&self) -> &dyn crate::sasl::Credentials {
        &*self.users
    }

    fn open_maildrop(&mut self, user: &str) -> Result<MaildirMaildrop, OpenError> {
        // Only a user of the users file, whose name is safe as a directory name, gets here;
        // checked again because the name came from the client.
        if !valid_user_name(user) || self.users.get(user).is_none() {
            return Err(OpenError::Temporary(format!("no mailbox for {user:?}")));
        }
        // A user who never got mail has an empty maildrop, made the one way maildirs are made.
        let inbox = Maildir::create(self.mail.join(user))
            .map_err(|e| OpenError::Temporary(e.to_string()))?;
        MaildirMaildrop::open(inbox)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_names_not_in_the_users_file_and_creates_empty_inboxes() {
        let dir = tempfile::tempdir().unwrap();
        let users_file = dir.path().join("users.toml");
        crate::users::add(&users_file, "carol", "pw", false).unwrap();
        let users = Arc::new(Users::load(&users_file).unwrap());
        let mut b = VolumeBackend::new(users, dir.path().join("mail"));
        for bad in ["../carol", "nobody", "", "carol/../x"] {
            assert!(
                matches!(b.open_maildrop(bad), Err(OpenError::Temporary(_))),
                "{bad:?}"
            );
        }
        let drop = b.open_maildrop("carol").unwrap();
        use crate::pop3::Maildrop;
        assert!(drop.messages().is_empty());
        assert!(dir.path().join("mail/carol/cur").is_dir());
        assert!(b.credentials().verify_pop3_password("carol", "pw"));
    }
}
