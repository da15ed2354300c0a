//! Messages into a mailbox: APPEND (RFC 3501 §6.3.11, with UIDPLUS's APPENDUID), COPY and MOVE
//! (RFC 6851, COPYUID), and the quota check they share.
//!
//! Quota (RFC 9208 §5, response code from RFC 5530): an APPEND or COPY that would take the
//! user's mail over its quota (`quota` in the users file, counted as delivery and smtpd count it)
//! is refused whole with `NO [OVERQUOTA]`, and nothing of it is stored. An APPEND is refused
//! before its literal is sent when the announced size is already too much. A MOVE between the
//! user's own mailboxes adds nothing and is never refused for the quota (it is how a full mailbox
//! is emptied). There are no other users' (shared) mailboxes to copy into.
//!
//! MOVE renames each message into the target ([`MailboxState::move_to`]), so an interrupted one
//! leaves every message in exactly one of the two mailboxes.

use super::mailboxes::maildir_no;
use super::view::maildir_flags;
use super::Session;
use crate::imap::datetime::DateTime;
use crate::imap::flag::Flag;
use crate::imap::response::{self, Code, Status};
use crate::imap::sequence::SequenceSet;
use crate::maildir::{MailboxState, MaildirError};
use crate::policy::usage::{would_exceed, MailboxUsage, MaildirUsage};
use crate::sasl::Credentials;

impl Session {
    /// The quota refusal of an operation adding `adding` bytes to the logged-in user's mail,
    /// as the text of its `NO [OVERQUOTA]`.
    pub(super) fn over_quota(&self, creds: &dyn Credentials, adding: u64) -> Option<String> {
        let user = &self.account.as_ref()?.name;
        let quota = creds.quota(user)?;
        let used = MaildirUsage(&self.config.mail_root).bytes(user);
        would_exceed(Some(quota), used, adding).map(|e| format!("Quota exceeded: {e}"))
    }

    /// APPEND.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn append(
        &mut self,
        tag: &str,
        mailbox: &str,
        flags: &[Flag],
        internal_date: Option<DateTime>,
        message: &[u8],
        creds: &dyn Credentials,
        out: &mut Vec<u8>,
    ) {
        let Some(name) = Self::name_arg(tag, mailbox, false, out) else {
            return;
        };
        let Some(md) = self.existing(tag, &name, Code::TryCreate, out) else {
            return;
        };
        let flags = match maildir_flags(flags) {
            Ok(f) => f,
            Err(k) => {
                out.extend(response::tagged(
                    tag,
                    Status::Bad,
                    None,
                    &format!("Invalid keyword {k}"),
                ));
                return;
            }
        };
        if let Some(why) = self.over_quota(creds, message.len() as u64) {
            out.extend(response::tagged(
                tag,
                Status::No,
                Some(&Code::OverQuota),
                &why,
            ));
            return;
        }
        let mut state = MailboxState::new(md);
        let result = state
            .append(message, &flags, internal_date.map(|d| d.unix()))
            .and_then(|uid| Ok((state.snapshot()?.uidvalidity, uid)));
        match result {
            Ok((validity, uid)) => {
                if let Some(sel) = self.selected.as_mut() {
                    if sel.maildir_path() == state.maildir().path() {
                        sel.touch();
                    }
                }
                out.extend(response::tagged(
                    tag,
                    Status::Ok,
                    Some(&Code::AppendUid {
                        validity,
                        uids: SequenceSet::single(uid),
                    }),
                    "APPEND completed",
                ))
            }
            Err(e) => maildir_no(tag, &e, out),
        }
    }

    /// COPY and MOVE (and their UID forms).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn copy(
        &mut self,
        tag: &str,
        uid: bool,
        set: &SequenceSet,
        arg: &str,
        moving: bool,
        creds: &dyn Credentials,
        out: &mut Vec<u8>,
    ) {
        let Some(name) = Self::name_arg(tag, arg, false, out) else {
            return;
        };
        let Some(md) = self.existing(tag, &name, Code::TryCreate, out) else {
            return;
        };
        let Some(sel) = self.selected.as_ref() else {
            return;
        };
        if moving && sel.refuse_if_read_only(tag, out) {
            return;
        }
        let Some(idx) = sel.resolve_or_bad(tag, set, uid, out) else {
            return;
        };
        if !moving {
            let adding = idx.iter().map(|&i| sel.messages[i].size).sum();
            if let Some(why) = self.over_quota(creds, adding) {
                out.extend(response::tagged(
                    tag,
                    Status::No,
                    Some(&Code::OverQuota),
                    &why,
                ));
                return;
            }
        }
        let Some(sel) = self.selected.as_mut() else {
            return;
        };
        let uids: Vec<u32> = idx.iter().map(|&i| sel.messages[i].uid).collect();
        let same = md.path() == sel.maildir.path();
        let mut target = MailboxState::new(md);
        let result = if moving {
            move_messages(&mut sel.state, &uids, &mut target)
        } else {
            sel.state.copy_to(&uids, &mut target)
        };
        let pairs = match result {
            Ok(p) => p,
            Err(e) => {
                // Part of a MOVE may have happened: the view catches up before the NO.
                sel.touch();
                return maildir_no(tag, &e, out);
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
        if moving {
            // RFC 6851 §4.3: COPYUID in an untagged OK before the EXPUNGEs.
            if let Some(code) = &code {
                out.extend(response::untagged_status(Status::Ok, Some(code), "Moved"));
            }
            let moved: Vec<u32> = pairs.iter().map(|p| p.0).collect();
            sel.remove_uids(out, &moved);
        }
        let code = if moving { None } else { code };
        out.extend(response::tagged(
            tag,
            Status::Ok,
            code.as_ref(),
            &format!("{verb} completed"),
        ));
    }
}

/// Moves messages from `source` into `target`: renamed where they can be, copied and expunged
/// where not (a target on another file system). Returns `(source uid, new uid)` pairs.
pub(super) fn move_messages(
    source: &mut MailboxState,
    uids: &[u32],
    target: &mut MailboxState,
) -> Result<Vec<(u32, u32)>, MaildirError> {
    let moved = source.move_to(uids, target)?;
    let mut pairs = moved.pairs;
    if !moved.elsewhere.is_empty() {
        let copied = source.copy_to(&moved.elsewhere, target)?;
        let done: Vec<u32> = copied.iter().map(|p| p.0).collect();
        source.expunge(&done)?;
        pairs.extend(copied);
        pairs.sort_unstable();
    }
    Ok(pairs)
}
