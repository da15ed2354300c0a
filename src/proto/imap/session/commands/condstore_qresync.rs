//! CONDSTORE and QRESYNC (RFC 7162) where they are not part of another command's file: ENABLE
//! (RFC 5161), the enabling of CONDSTORE by the first command that uses it (§3.1), the
//! resynchronisation of `SELECT/EXAMINE (QRESYNC (...))` (§3.2.5) and `VANISHED (EARLIER)`.
//! (`UID FETCH ... (CHANGEDSINCE n VANISHED)` is in [`super::fetch`]; once QRESYNC is on,
//! removals are `VANISHED` rather than `EXPUNGE`, in `Selected::remove_uids`.)
//!
//! The mailbox state keeps no record of expunged UIDs, so "expunged since the client's modseq"
//! is answered as "in the client's set and no longer here": every UID of its known set (all UIDs
//! below UIDNEXT when it gives none) that the mailbox does not hold. A UID expunged before that
//! modseq may be reported again, which RFC 7162 allows (clients drop UIDs they do not have); a
//! UID expunged since is never missed.

use crate::proto::imap::command::{CommandKind, QresyncParams};
use crate::proto::imap::response::{Code, Data, Status};
use crate::proto::imap::sequence::SequenceSet;
use crate::proto::imap::session::dispatch::Reply;
use crate::proto::imap::session::view::imap_flags;
use crate::proto::imap::session::{Selected, Session};
use crate::proto::imap::store::{MailStore, Mailbox};

impl<S: MailStore> Session<S> {
    /// ENABLE: CONDSTORE and QRESYNC (which implies CONDSTORE, §3.2.3), and IMAP4rev2
    /// (RFC 9051 Appendix E); others are ignored.
    pub(in crate::proto::imap::session) fn enable(&mut self, caps: &[String]) -> Reply {
        let mut enabled = Vec::new();
        for c in caps {
            if c.eq_ignore_ascii_case("CONDSTORE") && !self.condstore {
                self.condstore = true;
                enabled.push("CONDSTORE");
            }
            if c.eq_ignore_ascii_case("QRESYNC") && !self.qresync {
                self.qresync = true;
                self.condstore = true;
                if let Some(sel) = self.selected.as_mut() {
                    sel.vanished = true;
                }
                enabled.push("QRESYNC");
            }
            if c.eq_ignore_ascii_case("IMAP4rev2") && !self.rev2 {
                self.rev2 = true;
                if let Some(sel) = self.selected.as_mut() {
                    sel.forget_recent();
                }
                enabled.push("IMAP4rev2");
            }
        }
        Reply::ok("ENABLE completed").with(vec![Data::Enabled(enabled)])
    }

    /// CONDSTORE enabled by a command that uses it (§3.1): the first one while a mailbox is
    /// selected gets the mailbox's HIGHESTMODSEQ first.
    pub(in crate::proto::imap::session) fn enabled_by(
        &mut self,
        kind: &CommandKind,
    ) -> Option<Data> {
        if !kind.enables_condstore() || self.condstore {
            return None;
        }
        self.condstore = true;
        let sel = self.selected.as_ref()?;
        Some(Data::condition(
            Status::Ok,
            Some(Code::HighestModSeq(sel.highestmodseq.max(1))),
            "CONDSTORE enabled",
        ))
    }
}

impl<M: Mailbox> Selected<M> {
    /// The highest UID ever assigned in this mailbox (0 for none).
    fn last_assigned(&self) -> u32 {
        self.uidnext.saturating_sub(1)
    }

    /// The UIDs of `ranges` (sorted, merged, inclusive) that this view does not hold.
    fn missing(&self, ranges: &[(u32, u32)]) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        for &(lo, hi) in ranges {
            let start = self.messages.partition_point(|m| m.uid < lo);
            let mut next = lo;
            let held = self.messages.iter().skip(start).take_while(|m| m.uid <= hi);
            for m in held {
                if m.uid > next {
                    out.push((next, m.uid - 1));
                }
                next = m.uid.saturating_add(1);
            }
            if next <= hi && next != 0 {
                out.push((next, hi));
            }
        }
        out
    }

    /// `* VANISHED (EARLIER) ...` for the UIDs of `set` that are gone (`*` standing for the last
    /// UID ever assigned, so messages expunged from the end are reported too).
    pub(in crate::proto::imap::session) fn vanished_earlier(
        &self,
        set: &SequenceSet,
    ) -> Option<Data> {
        let gone = self.missing(&set.normalized(self.last_assigned()));
        SequenceSet::from_ranges(&gone).map(|uids| Data::Vanished {
            earlier: true,
            uids,
        })
    }

    /// The resynchronisation part of `SELECT (QRESYNC (...))`: FETCH (UID FLAGS MODSEQ) for the
    /// messages changed since the client's modseq, then `VANISHED (EARLIER)` for those gone —
    /// restricted to its known UIDs when it sent them. Nothing when the UIDVALIDITY changed
    /// (the client must start over; the SELECT response told it the new one).
    pub(in crate::proto::imap::session) fn resync(&self, q: &QresyncParams) -> Vec<Data> {
        let mut out = Vec::new();
        if q.uidvalidity != self.uidvalidity {
            return out;
        }
        let known = |uid: u32| {
            q.known_uids
                .as_ref()
                .is_none_or(|k| k.contains(uid, self.last_assigned()))
        };
        for (i, m) in self.messages.iter().enumerate() {
            if m.modseq.max(1) <= q.modseq || !known(m.uid) {
                continue;
            }
            out.push(Data::FlagsFetch {
                seq: i as u32 + 1,
                uid: Some(m.uid),
                flags: Some(imap_flags(&m.flags, self.recent.contains(&m.uid))),
                modseq: Some(m.modseq.max(1)),
            });
        }
        let all = SequenceSet::from_ranges(&[(1, self.last_assigned().max(1))]);
        let vanished = match (&q.known_uids, all) {
            (Some(k), _) => self.vanished_earlier(k),
            (None, Some(all)) if self.last_assigned() > 0 => self.vanished_earlier(&all),
            _ => None,
        };
        out.extend(vanished);
        out
    }
}
