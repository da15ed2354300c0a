//! Mailbox usage for quotas (SPEC §2 "Quotas"): how full a user's maildir is, and whether mail
//! to it must wait.

use std::path::Path;

use crate::users::Users;

/// How full a user's mailbox is (the real one walks the maildir).
pub trait MailboxUsage: Sync {
    /// Bytes used, if known.
    fn bytes(&self, user: &str) -> Option<u64>;
}

/// Usage from the maildirs under the mail volume.
pub struct MaildirUsage<'a>(pub &'a Path);

impl MailboxUsage for MaildirUsage<'_> {
    fn bytes(&self, user: &str) -> Option<u64> {
        if !crate::users::valid_user_name(user) {
            return None;
        }
        let md = crate::maildir::Maildir::open(self.0.join(user)).ok()?;
        crate::maildir::usage(&md).ok().map(|(b, _)| b)
    }
}

/// Whether `user` is at or over quota (mail is refused once the limit is reached).
pub fn over_quota(users: &Users, usage: &dyn MailboxUsage, user: &str) -> bool {
    let quota = users.get(user).and_then(|u| u.quota);
    quota.is_some_and(|q| usage.bytes(user).is_some_and(|b| b >= q))
}
