//! The maildrop on a real maildir: the POP3 session lock, a snapshot of the mailbox state at
//! login, UIDL from the shared UIDs (`<uidvalidity>.<uid>`), deletions through the state.

use std::io::Read;

use crate::proto::pop3::maildrop::{DropMessage, Maildrop, MaildropError, OpenError};
use crate::store::maildir::counters;
use crate::store::maildir::state::open_message;
use crate::store::maildir::{try_lock_pop3, MailboxState, Maildir, MessageInfo, Pop3Lock};

/// A user's INBOX opened for one POP3 session.
#[derive(Debug)]
pub struct MaildirMaildrop {
    state: MailboxState,
    infos: Vec<MessageInfo>,
    messages: Vec<DropMessage>,
    _lock: Pop3Lock,
}

impl MaildirMaildrop {
    /// Takes the POP3 lock of `inbox` and snapshots it (syncing new mail in first).
    pub fn open(inbox: Maildir) -> Result<MaildirMaildrop, OpenError> {
        let temp = |e: crate::store::maildir::MaildirError| OpenError::Temporary(e.to_string());
        let lock = try_lock_pop3(&inbox)
            .map_err(temp)?
            .ok_or(OpenError::InUse)?;
        let mut state = MailboxState::new(inbox);
        let mut snap = state.sync().map_err(temp)?;
        state.fill_virtual_sizes(&mut snap).map_err(temp)?;
        // RFC 3501 §2.3.2: a POP3 session has been told of every message it lists, so none of
        // them is \Recent for an IMAP session opened later. Losing this costs only a flag.
        let _ = counters::first_recent(state.maildir(), snap.uidvalidity, Some(snap.uidnext));
        let messages = snap
            .messages
            .iter()
            .map(|m| DropMessage {
                size: m.vsize.unwrap_or(m.size),
                uidl: format!("{}.{}", snap.uidvalidity, m.uid),
            })
            .collect();
        Ok(MaildirMaildrop {
            state,
            infos: snap.messages,
            messages,
            _lock: lock,
        })
    }
}

impl Maildrop for MaildirMaildrop {
    fn messages(&self) -> &[DropMessage] {
        &self.messages
    }

    fn open(&mut self, index: usize) -> Result<Box<dyn Read + Send>, MaildropError> {
        let info = self.infos.get(index).ok_or(MaildropError::Gone)?;
        match open_message(self.state.maildir(), info) {
            Ok(Some(f)) => Ok(Box::new(f)),
            Ok(None) => Err(MaildropError::Gone),
            Err(e) => Err(MaildropError::Io(e.to_string())),
        }
    }

    fn delete(&mut self, indices: &[usize]) -> Result<usize, MaildropError> {
        let uids: Vec<u32> = indices
            .iter()
            .filter_map(|i| self.infos.get(*i))
            .map(|m| m.uid)
            .collect();
        // UIDs already gone from the state were deleted by someone else: they count too.
        self.state
            .expunge(&uids)
            .map_err(|e| MaildropError::Io(e.to_string()))?;
        Ok(uids.len())
    }
}
