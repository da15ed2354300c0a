//! STORE and UID STORE (RFC 3501 §6.4.6, with RFC 7162's UNCHANGEDSINCE and MODIFIED).

use super::Handled;
use crate::proto::imap::command::StoreMode;
use crate::proto::imap::flag::Flag;
use crate::proto::imap::response::{Code, Data, Status};
use crate::proto::imap::sequence::SequenceSet;
use crate::proto::imap::session::dispatch::Reply;
use crate::proto::imap::session::view::{imap_flags, maildir_flags};
use crate::proto::imap::session::Session;
use crate::proto::imap::store::{MailStore, Mailbox};
use crate::store::maildir::{FlagOp, MaildirError};

impl<S: MailStore> Session<S> {
    /// STORE.
    pub(in crate::proto::imap::session) fn store(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        unchanged_since: Option<u64>,
        mode: StoreMode,
        silent: bool,
        flags: &[Flag],
    ) -> Handled {
        let condstore = self.condstore || unchanged_since.is_some();
        let sel = self.selected()?;
        if sel.read_only {
            return Err(Reply::no(Some(Code::ReadOnly), "Mailbox is read-only").into());
        }
        let idx = sel.resolve(set, uid).map_err(Reply::bad)?;
        let wanted =
            maildir_flags(flags).map_err(|k| Reply::bad(format!("Invalid keyword {k}")))?;
        let op = match mode {
            StoreMode::Replace => FlagOp::Replace(wanted),
            StoreMode::Add => FlagOp::Add(wanted),
            StoreMode::Remove => FlagOp::Remove(wanted),
        };
        let uids: Vec<u32> = sel.at(&idx).map(|m| m.uid).collect();
        let outcome = match sel.mailbox.store_flags(&uids, &op, unchanged_since) {
            Ok(o) => o,
            Err(MaildirError::TooManyKeywords) => {
                return Err(
                    Reply::no(Some(Code::Limit), "Too many keywords in this mailbox").into(),
                )
            }
            Err(e) => return Err(Reply::no(Some(Code::ServerBug), e.to_string()).into()),
        };
        let mut data = Vec::new();
        // A keyword new to the mailbox: the untagged FLAGS and PERMANENTFLAGS go before the
        // FETCH responses that carry it (RFC 3501 §7.2.6; other sessions get them with their
        // next updates).
        if let Ok((_, keywords)) = sel.mailbox.after_change() {
            if keywords != sel.keywords {
                sel.keywords = keywords;
                data.extend(sel.flag_lines());
            }
        }
        for (u, f, modseq) in outcome.stored {
            let Some(i) = sel.index_of(u) else {
                continue;
            };
            let recent = sel.recent.contains(&u);
            let Some(m) = sel.message_mut(i) else {
                continue;
            };
            m.flags = f;
            m.modseq = modseq;
            let flags = (!silent).then(|| imap_flags(&m.flags, recent));
            sel.highestmodseq = sel.highestmodseq.max(modseq);
            if silent && !condstore {
                continue;
            }
            data.push(Data::FlagsFetch {
                seq: i as u32 + 1,
                uid: (uid || condstore).then_some(u),
                flags,
                modseq: condstore.then_some(modseq.max(1)),
            });
        }
        let modified: Vec<u32> = outcome
            .modified
            .iter()
            .filter_map(|&u| {
                if uid {
                    Some(u)
                } else {
                    sel.index_of(u).map(|i| i as u32 + 1)
                }
            })
            .collect();
        let reply = match SequenceSet::from_numbers(&modified) {
            Some(set) => Reply::done(
                Status::Ok,
                Some(Code::Modified(set)),
                "Conditional STORE failed for some messages",
            ),
            None => Reply::ok("STORE completed"),
        };
        Ok(reply.with(data))
    }
}
