//! IDLE (RFC 2177): the mailbox's changes as they happen until the client sends `DONE`. The
//! socket loop watches the selected mailbox and calls [`Session::idle_check`] on each change.

use crate::proto::imap::session::dispatch::{Reply, Then, Updates};
use crate::proto::imap::session::{Mode, Session};
use crate::proto::imap::store::MailStore;

impl<S: MailStore> Session<S> {
    /// IDLE: what changed so far, then `+ idling`.
    pub(in crate::proto::imap::session) fn idle(&mut self, tag: String) -> Reply {
        let updates = self.updates(true, false);
        self.mode = Mode::Idling { tag };
        Reply::continuation("idling").with(updates).then(Then::Idle)
    }

    /// A line while idling: `DONE` ends the IDLE (after the last changes), anything else is a
    /// protocol error that ends it too.
    pub(in crate::proto::imap::session) fn idle_line(&mut self, line: &[u8]) -> Reply {
        if line.eq_ignore_ascii_case(b"DONE") {
            let mut reply = Reply::ok("IDLE terminated");
            reply.updates = Updates::Send { expunge: true };
            reply
        } else {
            Reply::bad("Expected DONE")
        }
    }
}
