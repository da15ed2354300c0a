//! Local delivery of one recipient into its user's maildir.

use std::path::PathBuf;

use super::{outcomes, Deliverer, RecipientResult};
use crate::maildir::deliver::{Delivered, Delivery};
use crate::spool::LockedMessage;
use crate::users::valid_user_name;

/// The maildir of `user` on the mail volume (`None` for a name unsafe as a directory).
pub fn maildir_of(d: &Deliverer, user: &str) -> Option<PathBuf> {
    valid_user_name(user).then(|| d.config.paths.mail.join(user))
}

/// Deliver recipient number `index` of `msg` to `user`.
pub fn deliver(
    d: &Deliverer,
    msg: &LockedMessage,
    index: usize,
    user: &str,
    address: &str,
    body: &[u8],
) -> RecipientResult {
    let Some(maildir) = maildir_of(d, user) else {
        return RecipientResult::Fail(outcomes::unusable_mailbox(user));
    };
    let users = d.users.get();
    let usage = crate::policy::MaildirUsage(&d.config.paths.mail);
    if crate::policy::over_quota(&users, &usage, user) {
        return RecipientResult::Defer(outcomes::over_quota(user));
    }
    let sender = &msg.msg.envelope.sender;
    let clean = |s: &str| -> String { s.chars().filter(|c| !c.is_control()).collect() };
    let prefix = format!(
        "Return-Path: <{}>\nDelivered-To: {}\n",
        clean(sender),
        clean(address)
    );
    let key = format!("{}R{}", msg.msg.id, index);
    let delivery = Delivery {
        maildir: &maildir,
        key: &key,
        time: msg.msg.id.unix_time(),
        hostname: &d.config.server.hostname,
        prefix: prefix.as_bytes(),
        message: body,
        recovering: msg.recovering,
    };
    match delivery.write() {
        Ok(Delivered::New(_)) | Ok(Delivered::AlreadyThere) => RecipientResult::Delivered,
        // RFC 3463 X.3.1: mail system full. Retried as soon as the volume has room again.
        Err(e) if crate::freespace::is_full(&e) => RecipientResult::DeferForSpace {
            outcome: outcomes::maildir_failed(&maildir, &e),
            dir: maildir,
        },
        Err(e) => RecipientResult::Defer(outcomes::maildir_failed(&maildir, &e)),
    }
}
