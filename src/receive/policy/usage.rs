//! Mailbox usage as the policy sees it (SPEC §2 "Quotas"): whether mail to a user must wait.
//! The counting is the maildir layer's ([`crate::store::maildir::quota`]); the policy gets it through
//! [`MailboxUsage`], so its tests can say how full a mailbox is.

use std::path::Path;

use crate::store::maildir::MailVolume;
use crate::store::users::Users;

pub use crate::store::maildir::quota::{would_exceed, Exceeded};

/// How full a user's mailbox is (the real one reads the maildir).
pub trait MailboxUsage: Sync {
    /// Bytes used, if known.
    fn bytes(&self, user: &str) -> Option<u64>;
}

impl MailboxUsage for MailVolume {
    fn bytes(&self, user: &str) -> Option<u64> {
        self.usage(user).map(|(bytes, _)| bytes)
    }
}

/// Usage from the maildirs under the mail volume at this path (see [`MailVolume::usage`]).
pub struct MaildirUsage<'a>(pub &'a Path);

impl MailboxUsage for MaildirUsage<'_> {
    fn bytes(&self, user: &str) -> Option<u64> {
        MailVolume::new(self.0).bytes(user)
    }
}

/// Whether `user` is at or over quota (mail is refused once the limit is reached).
pub fn over_quota(users: &Users, usage: &dyn MailboxUsage, user: &str) -> bool {
    exceeds_quota(users, usage, user, 0).is_some()
}

/// Whether adding `adding` bytes to the mail of `user` would take it over its quota:
/// `Some(Exceeded)` refuses the whole operation (RFC 9208 §5: nothing of it is stored).
pub fn exceeds_quota(
    users: &Users,
    usage: &dyn MailboxUsage,
    user: &str,
    adding: u64,
) -> Option<Exceeded> {
    let quota = users.get(user).and_then(|u| u.quota)?;
    would_exceed(Some(quota), usage.bytes(user), adding)
}
