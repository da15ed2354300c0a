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
use crate::proto::imap::command::AppendMessage;
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

    /// APPEND, and MULTIAPPEND (RFC 3502): every message is added, or none is (the ones added
    /// before a failure are expunged again); APPENDUID names them all.
    pub(in crate::proto::imap::session) fn append(
        &mut self,
        mailbox: &str,
        messages: &[AppendMessage],
        creds: &dyn Credentials,
    ) -> Handled {
        let name = name_arg(mailbox, false)?;
        let mut target = self.existing(&name, Code::TryCreate)?;
        let mut prepared = Vec::with_capacity(messages.len());
        for m in messages {
            let flags =
                maildir_flags(&m.flags).map_err(|k| Reply::bad(format!("Invalid keyword {k}")))?;
            prepared.push((flags, m.internal_date.map(|d| d.unix()), &m.message));
        }
        let total: u64 = messages.iter().map(|m| m.message.len() as u64).sum();
        if let Some(why) = self.over_quota(creds, total) {
            return Err(Reply::no(Some(Code::OverQuota), why).into());
        }
        let mut uids = Vec::with_capacity(prepared.len());
        for (flags, date, bytes) in &prepared {
            match target.append(bytes, flags, *date) {
                Ok(uid) => uids.push(uid),
                Err(e) => {
                    // All or nothing: what was added of this APPEND goes again.
                    let _ = target.expunge(&uids);
                    return Err(store_no(&e).into());
                }
            }
        }
        let validity = target.snapshot().map_err(|e| store_no(&e))?.uidvalidity;
        if let Some(sel) = self.selected.as_mut() {
            if sel.mailbox.same(&target) {
                sel.touch();
            }
        }
        let uids = SequenceSet::from_numbers(&uids).unwrap_or_else(SequenceSet::nothing);
        Ok(Reply::done(
            Status::Ok,
            Some(Code::AppendUid { validity, uids }),
            "APPEND completed",
        ))
    }
}
