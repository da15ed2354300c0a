//! The logged-in user's mail root: validated mailbox names → maildirs, the SPECIAL-USE
//! folders made on first login, special-use attributes (RFC 6154) and subscriptions.
//!
//! A mailbox's special-use attributes live in a small file inside its maildir
//! (`postern-special-use`, one attribute a line), so they follow the mailbox through RENAME
//! and go with it on DELETE; CREATE with `(USE (...))` writes it. A mailbox without the file
//! gets the attribute its name implies (`Sent` → `\Sent`, top level only), which is what
//! accounts made before the file existed rely on.

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

/// Special-use attributes a mailbox can be given (RFC 6154 §2; `\All` and `\Flagged` name
/// virtual mailboxes, which this server does not have).
pub const SETTABLE_USES: &[&str] = &["\\Archive", "\\Drafts", "\\Junk", "\\Sent", "\\Trash"];

/// The special-use file inside a mailbox's maildir.
const SPECIAL_USE_FILE: &str = "postern-special-use";
/// Longest special-use file read.
const MAX_SPECIAL_USE_FILE: u64 = 4096;

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
    /// Opens (creating when missing) the maildir of `user` under `mail_root`.
    pub fn open(mail_root: &Path, user: &str) -> Result<Account, AccountError> {
        if !crate::users::valid_user_name(user) {
            return Err(AccountError::BadUser(user.to_string()));
        }
        let root = Maildir::create(mail_root.join(user))?;
        Ok(Account {
            name: user.to_string(),
            root,
        })
    }

    /// On the first login: the SPECIAL-USE folders, subscribed. Until all of it is done (e.g.
    /// on a full volume) it is tried again at each login; a folder left half-made is finished,
    /// and one that exists already is left as it is.
    pub fn first_login_setup(&self) -> Result<(), MaildirError> {
        let marker = self.root.path().join(INIT_MARKER);
        if marker.exists() {
            return Ok(());
        }
        let mut subs = self.subscriptions();
        for (folder, attr) in SPECIAL_USE {
            let (md, made) = self.root.ensure_folder(folder)?;
            if made {
                set_special_use(&md, &[attr.to_string()])?;
            }
            if !subs.iter().any(|s| s == folder) {
                subs.push(folder.to_string());
            }
        }
        self.save_subscriptions(&subs)?;
        fs::write(&marker, b"").map_err(|e| MaildirError::io(&marker, e))
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

    /// The special-use attributes of a mailbox (`\\Sent`…): its file's, else its name's.
    pub fn special_use(&self, name: &MailboxName) -> Vec<String> {
        let Ok(md) = self.maildir(name) else {
            return Vec::new();
        };
        let path = md.path().join(SPECIAL_USE_FILE);
        let Ok(file) = fs::File::open(&path) else {
            return special_use(name).map(str::to_string).into_iter().collect();
        };
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(
            &mut std::io::Read::take(file, MAX_SPECIAL_USE_FILE),
            &mut text,
        );
        text.lines()
            .filter_map(|l| settable_use(l.trim()))
            .map(str::to_string)
            .collect()
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

/// The canonical spelling of a special-use attribute CREATE may set (`\\sent` → `\\Sent`),
/// `None` for unknown ones and for `\\All` / `\\Flagged`.
pub fn settable_use(attr: &str) -> Option<&'static str> {
    SETTABLE_USES
        .iter()
        .find(|a| a.eq_ignore_ascii_case(attr))
        .copied()
}

/// Writes the special-use attributes of a mailbox (its maildir `md`).
pub fn set_special_use(md: &Maildir, attrs: &[String]) -> Result<(), MaildirError> {
    let path = md.path().join(SPECIAL_USE_FILE);
    let mut text = String::new();
    for a in attrs {
        text.push_str(a);
        text.push('\n');
    }
    fs::write(&path, text).map_err(|e| MaildirError::io(&path, e))
}

/// The SPECIAL-USE attribute a mailbox's name implies (top-level `Sent`, `Drafts`…).
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
