//! The real [`Backend`]: the users file for credentials, the mail volume for maildrops
//! (`<mail>/<user>`, the INBOX local delivery writes to).

use std::path::PathBuf;
use std::sync::Arc;

use super::maildir_drop::MaildirMaildrop;
use crate::proto::pop3::maildrop::{Backend, OpenError};
use crate::proto::sasl::Credentials;
use crate::store::maildir::MailVolume;
use crate::store::users::Users;

/// Credentials from `users` (or a guard in front of them), maildrops under `mail`.
pub struct VolumeBackend {
    users: Arc<Users>,
    credentials: Arc<dyn Credentials + Send + Sync>,
    mail: MailVolume,
}

impl VolumeBackend {
    /// A backend over this users list and mail volume.
    pub fn new(users: Arc<Users>, mail: impl Into<PathBuf>) -> Self {
        VolumeBackend {
            credentials: users.clone(),
            users,
            mail: MailVolume::new(mail.into()),
        }
    }

    /// Maildrops on `volume` (with system users' maildirs: [`MailVolume::for_config`]).
    pub fn on_volume(mut self, volume: MailVolume) -> Self {
        self.mail = volume;
        self
    }

    /// Logins are checked by `credentials` (the server's login guard over the same users).
    pub fn with_credentials(mut self, credentials: Arc<dyn Credentials + Send + Sync>) -> Self {
        self.credentials = credentials;
        self
    }
}

impl Backend for VolumeBackend {
    type Drop = MaildirMaildrop;

    fn credentials(&self) -> &dyn Credentials {
        &*self.credentials
    }

    fn open_maildrop(&mut self, user: &str) -> Result<MaildirMaildrop, OpenError> {
        // Only a user of the users file gets here; checked again because the name came from
        // the client (and the volume checks it is safe as a directory name).
        if !self.users.is_user(user) {
            return Err(OpenError::Temporary(format!("no mailbox for {user:?}")));
        }
        // A user who never got mail has an empty maildrop, made the one way maildirs are made.
        let inbox = self
            .mail
            .create_inbox(user)
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
        crate::store::users::add(&users_file, "carol", "pw", false).unwrap();
        let users = Arc::new(Users::load(&users_file).unwrap());
        let mut b = VolumeBackend::new(users, dir.path().join("mail"));
        for bad in ["../carol", "nobody", "", "carol/../x"] {
            assert!(
                matches!(b.open_maildrop(bad), Err(OpenError::Temporary(_))),
                "{bad:?}"
            );
        }
        let drop = b.open_maildrop("carol").unwrap();
        use crate::proto::pop3::Maildrop;
        assert!(drop.messages().is_empty());
        assert!(dir.path().join("mail/carol/cur").is_dir());
        assert!(b.credentials().verify_pop3_password("carol", "pw"));
    }
}
