//! APPEND (RFC 3501 §6.3.11, with UIDPLUS's APPENDUID, RFC 4315) and the quota check it shares
//! with COPY.
//!
//! Quota (RFC 9208 §5, response code from RFC 5530): an APPEND or COPY that would take the
//! user's mail over its quota (`quota` in the users file, counted as delivery and smtpd count it)
//! is refused whole with `NO [OVERQUOTA]`, and nothing of it is stored. An APPEND is refused
//! before its literal is sent when the announced size is already too much. A MOVE between the
//! user's own mailboxes adds nothing and is never refused for the quota (it is how a full mailbox
//! is emptied). There are no other users' (shared) mailboxes to copy into.

use super::{name_arg, store_no, Handled};
use crate::proto::imap::datetime::DateTime;
use crate::proto::imap::flag::Flag;
use crate::proto::imap::response::{Code, Status};
use crate::proto::imap::sequence::SequenceSet;
use crate::proto::imap::session::dispatch::Reply;
use crate::proto::imap::session::view::maildir_flags;
use crate::proto::imap::session::Session;
use crate::proto::imap::store::{Account, MailStore, Mailbox};
use crate::proto::sasl::Credentials;
use crate::store::maildir::quota::would_exceed;

impl<S: MailStore> Session<S> {
    /// The quota refusal of an operation adding `adding` bytes to the logged-in user's mail,
    /// as the text of its `NO [OVERQUOTA]`.
    pub(in crate::proto::imap::session) fn over_quota(
        &self,
        creds: &dyn Credentials,
        adding: u64,
    ) -> Option<String> {
        let login = self.login.as_ref()?;
        let quota = creds.quota(&login.user)?;
        let used = login.account.used_bytes();
        would_exceed(Some(quota), used, adding).map(|e| format!("Quota exceeded: {e}"))
    }

    /// APPEND.
    pub(in crate::proto::imap::session) fn append(
        &mut self,
        mailbox: &str,
        flags: &[Flag],
        internal_date: Option<DateTime>,
        message: &[u8],
        creds: &dyn Credentials,
    ) -> Handled {
        let name = name_arg(mailbox, false)?;
        let mut target = self.existing(&name, Code::TryCreate)?;
        let flags = maildir_flags(flags).map_err(|k| Reply::bad(format!("Invalid keyword {k}")))?;
        if let Some(why) = self.over_quota(creds, message.len() as u64) {
            return Err(Reply::no(Some(Code::OverQuota), why).into());
        }
        let (validity, uid) = target
            .append(message, &flags, internal_date.map(|d| d.unix()))
            .and_then(|uid| Ok((target.snapshot()?.uidvalidity, uid)))
            .map_err(|e| store_no(&e))?;
        if let Some(sel) = self.selected.as_mut() {
            if sel.mailbox.same(&target) {
                sel.touch();
            }
        }
        Ok(Reply::done(
            Status::Ok,
            Some(Code::AppendUid {
                validity,
                uids: SequenceSet::single(uid),
            }),
            "APPEND completed",
        ))
    }
}
