//! SEARCH and UID SEARCH (RFC 3501 §6.4.4; `MODSEQ` from RFC 7162). The criteria are
//! evaluated by [`crate::proto::imap::search`] on each message's view.

use super::Handled;
use crate::proto::imap::response::Data;
use crate::proto::imap::search::{self, SearchContext, SearchKey};
use crate::proto::imap::session::dispatch::Reply;
use crate::proto::imap::session::view::View;
use crate::proto::imap::session::Session;
use crate::proto::imap::store::MailStore;

impl<S: MailStore> Session<S> {
    /// SEARCH.
    pub(in crate::proto::imap::session) fn search(
        &mut self,
        uid: bool,
        criteria: &SearchKey,
    ) -> Handled {
        let sel = self.selected()?;
        let max_seq = sel.messages.len() as u32;
        let max_uid = sel.messages.last().map(|m| m.uid).unwrap_or(0);
        let mut hits = Vec::new();
        let mut highest = 0u64;
        for (i, m) in sel.messages.iter().enumerate() {
            let view = View::new(m, sel.recent.contains(&m.uid), &sel.mailbox);
            let ctx = SearchContext {
                seq: i as u32 + 1,
                max_seq,
                max_uid,
            };
            if search::matches(criteria, ctx, &view).unwrap_or(false) {
                hits.push(if uid { m.uid } else { i as u32 + 1 });
                highest = highest.max(m.modseq.max(1));
            }
        }
        let modseq = (criteria.uses_modseq() && !hits.is_empty()).then_some(highest);
        Ok(Reply::ok("SEARCH completed").with(vec![Data::Search {
            numbers: hits,
            modseq,
        }]))
    }
}
