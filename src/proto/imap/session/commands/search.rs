//! SEARCH and UID SEARCH (RFC 3501 §6.4.4; `MODSEQ` from RFC 7162), SORT and THREAD (RFC 5256,
//! RFC 5957). The criteria are evaluated by [`crate::proto::imap::search`] on each message's
//! view; the matches are ordered by [`crate::proto::imap::sort`] and threaded by
//! [`crate::proto::imap::thread`].

use super::Handled;
use crate::proto::imap::command::SearchReturn;
use crate::proto::imap::message::{crlf_size, Message};
use crate::proto::imap::response::write_string;
use crate::proto::imap::response::Data;
use crate::proto::imap::search::{self, SearchContext, SearchKey};
use crate::proto::imap::sequence::SequenceSet;
use crate::proto::imap::session::dispatch::Reply;
use crate::proto::imap::session::view::View;
use crate::proto::imap::session::Selected;
use crate::proto::imap::session::Session;
use crate::proto::imap::sort::{self, SortCriterion, SortFields};
use crate::proto::imap::store::{MailStore, Mailbox};
use crate::proto::imap::thread::{self, Algorithm};

/// The indices of the messages of the view that match `criteria`.
fn matching<M: Mailbox>(sel: &Selected<M>, criteria: &SearchKey) -> Vec<usize> {
    let max_seq = sel.messages.len() as u32;
    let max_uid = sel.messages.last().map(|m| m.uid).unwrap_or(0);
    let mut hits = Vec::new();
    for (i, m) in sel.messages.iter().enumerate() {
        let view = View::new(m, sel.recent.contains(&m.uid), &sel.mailbox);
        let ctx = SearchContext {
            seq: i as u32 + 1,
            max_seq,
            max_uid,
        };
        if search::matches(criteria, ctx, &view).unwrap_or(false) {
            hits.push(i);
        }
    }
    hits
}

/// What SORT and THREAD need of the messages at `indices` (read once each; a message gone
/// meanwhile sorts as one with an empty header).
fn sort_fields<M: Mailbox>(sel: &Selected<M>, indices: &[usize], uid: bool) -> Vec<SortFields> {
    indices
        .iter()
        .filter_map(|&i| Some((i, sel.messages.get(i)?)))
        .map(|(i, m)| {
            let view = View::new(m, false, &sel.mailbox);
            let raw = view.bytes().unwrap_or_default();
            let message = Message::parse_shallow(raw);
            let header = message.slice(&message.root().header);
            let size = m.vsize.unwrap_or_else(|| crlf_size(raw));
            let seq = i as u32 + 1;
            let number = if uid { m.uid } else { seq };
            SortFields::from_header(seq, number, header, m.internal_date, size)
        })
        .collect()
}

/// `* ESEARCH (TAG "tag") [UID] [MIN n] [MAX n] [ALL set] [COUNT n] [MODSEQ n]` (RFC 4731
/// §3.1; MIN, MAX and ALL left out when nothing matched; MODSEQ per RFC 7162 §3.1.5).
pub fn esearch(
    tag: &str,
    uid: bool,
    hits: &[u32],
    returns: &[SearchReturn],
    modseq: Option<u64>,
) -> Vec<u8> {
    let mut out = b"* ESEARCH (TAG ".to_vec();
    write_string(&mut out, tag.as_bytes());
    out.push(b')');
    if uid {
        out.extend_from_slice(b" UID");
    }
    let wants = |r: SearchReturn| returns.contains(&r);
    if let (true, Some(min)) = (wants(SearchReturn::Min), hits.iter().min()) {
        out.extend_from_slice(format!(" MIN {min}").as_bytes());
    }
    if let (true, Some(max)) = (wants(SearchReturn::Max), hits.iter().max()) {
        out.extend_from_slice(format!(" MAX {max}").as_bytes());
    }
    if wants(SearchReturn::All) {
        let mut sorted = hits.to_vec();
        sorted.sort_unstable();
        if let Some(set) = SequenceSet::from_numbers(&sorted) {
            out.extend_from_slice(format!(" ALL {set}").as_bytes());
        }
    }
    if let Some((low, high)) = returns.iter().find_map(|r| match r {
        SearchReturn::Partial(low, high) => Some((*low, *high)),
        _ => None,
    }) {
        // RFC 5267 §4.4: the results at positions low..=high of the result list in mailbox
        // order; NIL when none is there.
        let mut sorted = hits.to_vec();
        sorted.sort_unstable();
        let from = (low as usize).saturating_sub(1);
        let to = (high as usize).min(sorted.len());
        let part = sorted.get(from..to).unwrap_or_default();
        match SequenceSet::from_numbers(part) {
            Some(set) => out.extend_from_slice(format!(" PARTIAL ({low}:{high} {set})").as_bytes()),
            None => out.extend_from_slice(format!(" PARTIAL ({low}:{high} NIL)").as_bytes()),
        }
    }
    if wants(SearchReturn::Count) {
        out.extend_from_slice(format!(" COUNT {}", hits.len()).as_bytes());
    }
    if let Some(m) = modseq {
        out.extend_from_slice(format!(" MODSEQ {m}").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

impl<S: MailStore> Session<S> {
    /// SORT.
    pub(in crate::proto::imap::session) fn sort(
        &mut self,
        uid: bool,
        criteria: &[SortCriterion],
        search: &SearchKey,
    ) -> Handled {
        let sel = self.selected()?;
        let hits = matching(sel, search);
        let numbers = sort::sort(sort_fields(sel, &hits, uid), criteria);
        Ok(Reply::ok("SORT completed").with(vec![Data::Sort(numbers)]))
    }

    /// THREAD.
    pub(in crate::proto::imap::session) fn thread(
        &mut self,
        uid: bool,
        algorithm: Algorithm,
        search: &SearchKey,
    ) -> Handled {
        let sel = self.selected()?;
        let hits = matching(sel, search);
        let fields = sort_fields(sel, &hits, uid);
        let roots = thread::thread(&fields, algorithm);
        let bytes = thread::render(&fields, &roots);
        Ok(Reply::ok("THREAD completed").with(vec![Data::Raw(bytes)]))
    }

    /// SEARCH, with RFC 4731's `RETURN (MIN MAX ALL COUNT)` answered by one `* ESEARCH` and
    /// RFC 5182's `SAVE` keeping the result as `$`.
    pub(in crate::proto::imap::session) fn search(
        &mut self,
        tag: &str,
        uid: bool,
        criteria: &SearchKey,
        returns: Option<&[SearchReturn]>,
    ) -> Handled {
        let sel = self.selected()?;
        let mut hits = Vec::new();
        let mut uids = Vec::new();
        let mut highest = 0u64;
        for i in matching(sel, criteria) {
            if let Some(m) = sel.messages.get(i) {
                hits.push(if uid { m.uid } else { i as u32 + 1 });
                uids.push(m.uid);
                highest = highest.max(m.modseq.max(1));
            }
        }
        let modseq = (criteria.uses_modseq() && !hits.is_empty()).then_some(highest);
        // RFC 9051 §6.4.4: an IMAP4rev2 session's plain SEARCH is answered as RETURN (ALL).
        let returns = returns.or(self.rev2.then_some(&[SearchReturn::All][..]));
        let Some(returns) = returns else {
            return Ok(Reply::ok("SEARCH completed").with(vec![Data::Search {
                numbers: hits,
                modseq,
            }]));
        };
        let wants = |r: SearchReturn| returns.contains(&r);
        if wants(SearchReturn::Save) {
            // RFC 5182 §2.4: with MIN and/or MAX alone, only those messages are saved.
            self.saved = if !wants(SearchReturn::All)
                && !wants(SearchReturn::Count)
                && (wants(SearchReturn::Min) || wants(SearchReturn::Max))
            {
                let mut kept = Vec::new();
                if wants(SearchReturn::Min) {
                    kept.extend(uids.first());
                }
                if wants(SearchReturn::Max) {
                    kept.extend(uids.last());
                }
                kept.dedup();
                kept
            } else {
                uids
            };
            if returns.iter().all(|r| *r == SearchReturn::Save) {
                return Ok(Reply::ok("SEARCH completed, result saved"));
            }
        }
        let line = esearch(tag, uid, &hits, returns, modseq);
        Ok(Reply::ok("SEARCH completed").with(vec![Data::Raw(line)]))
    }
}
