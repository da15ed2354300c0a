//! Messages out of the selected mailbox: EXPUNGE (RFC 3501 §6.4.3) and UID EXPUNGE (RFC 4315),
//! COPY (§6.4.7, with UIDPLUS's COPYUID) and MOVE (RFC 6851).
//!
//! MOVE renames each message into the target ([`Mailbox::move_to`]), so an interrupted one
//! leaves every message in exactly one of the two mailboxes; a MOVE adds nothing to the user's
//! mail and is never refused for the quota (see [`super::append`]).

use super::{store_no, Handled};
use crate::proto::imap::response::{Code, Data, Status};
use crate::proto::imap::sequence::SequenceSet;
use crate::proto::imap::session::dispatch::Reply;
use crate::proto::imap::session::{Selected, Session};
use crate::proto::imap::store::{MailStore, Mailbox};
use crate::proto::sasl::Credentials;
use crate::store::maildir::{MaildirError, MessageInfo};

impl<S: MailStore> Session<S> {
    /// EXPUNGE and UID EXPUNGE.
    pub(in crate::proto::imap::session) fn expunge(
        &mut self,
        uids: Option<&SequenceSet>,
    ) -> Handled {
        let sel = self.selected()?;
        if sel.read_only {
            return Err(Reply::no(Some(Code::ReadOnly), "Mailbox is read-only").into());
        }
        let data = sel.expunge_deleted(uids).map_err(|e| store_no(&e))?;
        Ok(Reply::ok("EXPUNGE completed").with(data))
    }

    /// COPY and MOVE (`moving`), and their UID forms.
    pub(in crate::proto::imap::session) fn copy(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        arg: &str,
        moving: bool,
        creds: &dyn Credentials,
    ) -> Handled {
        let name = self.name_arg(arg, false)?;
        let mut target = self.existing(&name, Code::TryCreate)?;
        let sel = self
            .selected
            .as_ref()
            .ok_or_else(|| Box::new(Reply::bad("No mailbox selected")))?;
        if moving && sel.read_only {
            return Err(Reply::no(Some(Code::ReadOnly), "Mailbox is read-only").into());
        }
        let idx = sel.resolve(set, uid).map_err(Reply::bad)?;
        if !moving {
            let adding = sel.at(&idx).map(|m| m.size).sum();
            if let Some(why) = self.over_quota(creds, adding) {
                return Err(Reply::no(Some(Code::OverQuota), why).into());
            }
        }
        let sel = self.selected()?;
        let uids: Vec<u32> = sel.at(&idx).map(|m| m.uid).collect();
        let same = sel.mailbox.same(&target);
        let result = if moving {
            sel.mailbox.move_to(&uids, &mut target)
        } else {
            sel.mailbox.copy_to(&uids, &mut target)
        };
        let pairs = match result {
            Ok(p) => p,
            Err(e) => {
                // Part of a MOVE may have happened: the view catches up before the NO.
                sel.touch();
                return Err(store_no(&e).into());
            }
        };
        let verb = if moving { "MOVE" } else { "COPY" };
        let code = match (
            target.snapshot().map(|s| s.uidvalidity),
            SequenceSet::from_numbers(&pairs.iter().map(|p| p.0).collect::<Vec<_>>()),
            SequenceSet::from_numbers(&pairs.iter().map(|p| p.1).collect::<Vec<_>>()),
        ) {
            (Ok(validity), Some(source), Some(dest)) => Some(Code::CopyUid {
                validity,
                source,
                dest,
            }),
            _ => None,
        };
        if same {
            sel.touch();
        }
        let mut data = Vec::new();
        if moving {
            // RFC 6851 §4.3: COPYUID in an untagged OK before the EXPUNGEs.
            if let Some(code) = code.clone() {
                data.push(Data::condition(Status::Ok, Some(code), "Moved"));
            }
            let moved: Vec<u32> = pairs.iter().map(|p| p.0).collect();
            data.extend(sel.remove_uids(&moved));
        }
        let code = if moving { None } else { code };
        Ok(Reply::done(Status::Ok, code, format!("{verb} completed")).with(data))
    }
}

impl<M: Mailbox> Selected<M> {
    /// Removes the messages marked `\Deleted` (of `uids` only, for UID EXPUNGE) from the
    /// mailbox and the view: the EXPUNGE (or VANISHED) responses for them.
    pub(in crate::proto::imap::session) fn expunge_deleted(
        &mut self,
        uids: Option<&SequenceSet>,
    ) -> Result<Vec<Data>, MaildirError> {
        let largest = self.messages.last().map(|m| m.uid).unwrap_or(0);
        let doomed: Vec<u32> = self
            .messages
            .iter()
            .filter(|m| deleted(m))
            .filter(|m| uids.is_none_or(|s| s.contains(m.uid, largest)))
            .map(|m| m.uid)
            .collect();
        if doomed.is_empty() {
            return Ok(Vec::new());
        }
        let removed = self.mailbox.expunge(&doomed)?;
        Ok(self.remove_uids(&removed))
    }
}

/// Whether a message carries `\Deleted`.
fn deleted(m: &MessageInfo) -> bool {
    m.flags.contains(crate::store::maildir::Flag::Deleted)
}
