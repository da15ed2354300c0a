//! The logged-in user's mail root: validated mailbox names → maildirs, the SPECIAL-USE
//! folders made on first login, and subscriptions.

use std::fs;
use std::path::Path;

use crate::imap::mailbox_name::MailboxName;
use crate::maildir::{Maildir, MaildirError};

/// SPECIAL-USE folders created for a user on first login, with their attribute.
pub const SPECIAL_USE: &[(&str, &str)] = &[
    ("Sent", "\\Sent"),
    ("Drafts", "\\Drafts"),
    ("Trash", "\\Trash"),
    ("Junk", "\\Junk"),
    ("Archive", "\\Archive"),
];

/// Marks a mail root whose first-login setup is done.
const INIT_MARKER: &str = "postern-imap-init";
/// Subscribed mailbox names (IMAP form), one per line.
const SUBSCRIPTIONS: &str = "postern-subscriptions";
/// Most subscriptions kept (and read).
const MAX_SUBSCRIPTIONS: usize = 10_000;

/// Why an account could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The user name cannot be a directory name.
    #[error("user name {0:?} is not usable as a mailbox")]
    BadUser(String),
    /// The maildir layer failed.
    #[error(transparent)]
    Maildir(#[from] MaildirError),
}

/// A logged-in user's mail.
#[derive(Debug)]
pub struct Account {
    /// The user name.
    pub name: String,
    /// The INBOX maildir (Maildir++ folders below it).
    pub root: Maildir,
}

impl Account {
    /// Opens (creating when missing) the maildir of `user` under `mail_root`; on the
    /// first login also the SPECIAL-USE folders, subscribed.
    pub fn open(mail_root: &Path, user: &str) -> Result<Account, AccountError> {
        if !crate::users::valid_user_name(user) {
            return Err(AccountError::BadUser(user.to_string()));
        }
        let root = Maildir::create(mail_root.join(user))?;
        let account = Account {
            name: user.to_string(),
            root,
        };
        let marker = account.root.path().join(INIT_MARKER);
        if !marker.exists() {
            let mut subs = account.subscriptions();
            for (folder, _) in SPECIAL_USE {
                match account.root.create_folder(folder) {
                    Ok(_) | Err(MaildirError::FolderExists(_)) => {}
                    Err(e) => return Err(e.into()),
                }
                if !subs.iter().any(|s| s == folder) {
                    subs.push(folder.to_string());
                }
            }
            account.save_subscriptions(&subs)?;
            fs::write(&marker, b"").map_err(|e| MaildirError::io(&marker, e))?;
        }
        Ok(account)
    }

    /// The maildir of a mailbox, if it exists.
    pub fn maildir(&self, name: &MailboxName) -> Result<Maildir, MaildirError> {
        if name.is_inbox() {
            Ok(self.root.clone())
        } else {
            self.root.folder(&folder(name))
        }
    }

    /// The mailboxes that exist: INBOX first, then the folders (on-disk names that are
    /// not valid mailbox names are skipped).
    pub fn mailboxes(&self) -> Result<Vec<MailboxName>, MaildirError> {
        let mut out = vec![MailboxName::inbox()];
        for folder in self.root.folders()? {
            if let Ok(name) = MailboxName::from_maildir_folder(&format!(".{folder}")) {
                if !name.is_inbox() {
                    out.push(name);
                }
            }
        }
        Ok(out)
    }

    /// Subscribed names (IMAP form).
    pub fn subscriptions(&self) -> Vec<String> {
        let path = self.root.path().join(SUBSCRIPTIONS);
        fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.is_empty())
            .take(MAX_SUBSCRIPTIONS)
            .map(str::to_string)
            .collect()
    }

    /// Replaces the subscriptions.
    pub fn save_subscriptions(&self, names: &[String]) -> Result<(), MaildirError> {
        let path = self.root.path().join(SUBSCRIPTIONS);
        let tmp = self.root.path().join(format!("{SUBSCRIPTIONS}.tmp"));
        let mut text = String::new();
        for n in names.iter().take(MAX_SUBSCRIPTIONS) {
            text.push_str(n);
            text.push('\n');
        }
        fs::write(&tmp, text).map_err(|e| MaildirError::io(&tmp, e))?;
        fs::rename(&tmp, &path).map_err(|e| MaildirError::io(&path, e))
    }
}

/// The SPECIAL-USE attribute of a mailbox, by its name.
pub fn special_use(name: &MailboxName) -> Option<&'static str> {
    match name.segments() {
        [one] => SPECIAL_USE
            .iter()
            .find(|(f, _)| f == one)
            .map(|(_, attr)| *attr),
        _ => None,
    }
}

/// The on-disk folder of a mailbox as the maildir layer names it (without the leading
/// dot): `Lists.rust` for `Lists/rust`.
pub fn folder(name: &MailboxName) -> String {
    let f = name.to_maildir_folder();
    f.strip_prefix('.').unwrap_or(&f).to_string()
}
