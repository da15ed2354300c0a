//! What IMAP makes of a user's mail beyond the store: the SPECIAL-USE folders made on first
//! login, special-use attributes (RFC 6154) and their defaults.
//!
//! A mailbox's special-use attributes are recorded by the store with the mailbox, so they follow
//! it through RENAME and go with it on DELETE; CREATE with `(USE (...))` records them. A mailbox
//! without a record gets the attribute its name implies (`Sent` → `\Sent`, top level only),
//! which is what accounts made before the record existed rely on.

use crate::proto::imap::mailbox_name::MailboxName;
use crate::proto::imap::store::Account;
use crate::store::maildir::MaildirError;

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

/// On the first login: the SPECIAL-USE folders, subscribed. Until all of it is done (e.g. on a
/// full volume) it is tried again at each login; a folder left half-made is finished, and one
/// that exists already is left as it is.
pub fn first_login_setup(account: &impl Account) -> Result<(), MaildirError> {
    if account.setup_done() {
        return Ok(());
    }
    let mut subs = account.subscriptions();
    for (folder, attr) in SPECIAL_USE {
        let name = MailboxName::from_unicode(folder)
            .map_err(|_| MaildirError::InvalidFolderName(folder.to_string()))?;
        if account.ensure(&name)? {
            account.record_uses(&name, &[attr.to_string()])?;
        }
        if !subs.iter().any(|s| s == folder) {
            subs.push(folder.to_string());
        }
    }
    account.set_subscriptions(&subs)?;
    account.mark_setup_done()
}

/// The special-use attributes of a mailbox (`\\Sent`…): its record's, else its name's.
pub fn special_use(account: &impl Account, name: &MailboxName) -> Vec<String> {
    match account.recorded_uses(name) {
        Ok(Some(recorded)) => recorded
            .iter()
            .filter_map(|l| settable_use(l))
            .map(str::to_string)
            .collect(),
        Ok(None) => implied_use(name).map(str::to_string).into_iter().collect(),
        Err(_) => Vec::new(),
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

/// The SPECIAL-USE attribute a mailbox's name implies (top-level `Sent`, `Drafts`…).
pub fn implied_use(name: &MailboxName) -> Option<&'static str> {
    match name.segments() {
        [one] => SPECIAL_USE
            .iter()
            .find(|(f, _)| f == one)
            .map(|(_, attr)| *attr),
        _ => None,
    }
}
