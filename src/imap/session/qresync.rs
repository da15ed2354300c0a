//! QRESYNC (RFC 7162 §3.2) on the selected mailbox: `SELECT/EXAMINE (QRESYNC (...))` telling
//! a returning client what changed since its modseq, `UID FETCH ... (CHANGEDSINCE n VANISHED)`,
//! and (in [`Selected::remove_uids`]) `VANISHED` instead of `EXPUNGE` once it is enabled.
//!
//! The mailbox state keeps no record of expunged UIDs, so "expunged since the client's modseq"
//! is answered as "in the client's set and no longer here": every UID of its known set (all UIDs
//! below UIDNEXT when it gives none) that the mailbox does not hold. A UID expunged before that
//! modseq may be reported again, which RFC 7162 allows (clients drop UIDs they do not have); a
//! UID expunged since is never missed.

use super::view::imap_flags;
use super::Selected;
use crate::imap::command::QresyncParams;
use crate::imap::response;
use crate::imap::sequence::SequenceSet;

impl Selected {
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
            for m in self.messages[start..].iter().take_while(|m| m.uid <= hi) {
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
    pub(super) fn vanished_earlier(&self, set: &SequenceSet, out: &mut Vec<u8>) {
        let gone = self.missing(&set.normalized(self.last_assigned()));
        if let Some(gone) = SequenceSet::from_ranges(&gone) {
            out.extend(response::vanished(true, &gone));
        }
    }

    /// The resynchronisation part of `SELECT (QRESYNC (...))`: FETCH (UID FLAGS MODSEQ) for the
    /// messages changed since the client's modseq, then `VANISHED (EARLIER)` for those gone —
    /// restricted to its known UIDs when it sent them. Nothing when the UIDVALIDITY changed
    /// (the client must start over; the SELECT response told it the new one).
    pub(super) fn resync(&self, q: &QresyncParams, out: &mut Vec<u8>) {
        if q.uidvalidity != self.uidvalidity {
            return;
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
            let mut line = format!("* {} FETCH (UID {} FLAGS ", i + 1, m.uid).into_bytes();
            response::write_flag_list(
                &mut line,
                &imap_flags(&m.flags, self.recent.contains(&m.uid)),
            );
            line.extend(format!(" MODSEQ ({}))\r\n", m.modseq.max(1)).as_bytes());
            out.extend(line);
        }
        let all = SequenceSet::from_ranges(&[(1, self.last_assigned().max(1))]);
        match (&q.known_uids, all) {
            (Some(k), _) => self.vanished_earlier(k, out),
            (None, Some(all)) if self.last_assigned() > 0 => self.vanished_earlier(&all, out),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_uids_are_the_gaps_in_the_view() {
        let dir = tempfile::tempdir().unwrap();
        let md = crate::maildir::Maildir::create(dir.path().join("m")).unwrap();
        let mut sel =
            Selected::open(crate::imap::mailbox_name::MailboxName::inbox(), md, false).unwrap();
        for uid in [2, 3, 7, 10] {
            sel.messages_mut().push(crate::maildir::MessageInfo {
                uid,
                file_name: format!("{uid}.x.host:2,"),
                in_new: false,
                size: 10,
                vsize: None,
                internal_date: 0,
                flags: crate::maildir::Flags::new(),
                modseq: u64::from(uid),
            });
        }
        sel.uidnext = 13;
        assert_eq!(sel.missing(&[(1, 12)]), [(1, 1), (4, 6), (8, 9), (11, 12)]);
        assert_eq!(sel.missing(&[(2, 3), (7, 7)]), []);
        assert_eq!(sel.missing(&[(3, 8)]), [(4, 6), (8, 8)]);
        let mut out = Vec::new();
        sel.vanished_earlier(&SequenceSet::parse(b"1:*").unwrap(), &mut out);
        assert_eq!(out, b"* VANISHED (EARLIER) 1,4:6,8:9,11:12\r\n");
        out.clear();
        sel.vanished_earlier(&SequenceSet::parse(b"2:3").unwrap(), &mut out);
        assert!(out.is_empty());
    }
}
