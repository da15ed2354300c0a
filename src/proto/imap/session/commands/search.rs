//! SEARCH and UID SEARCH (RFC 3501 §6.4.4; `MODSEQ` from RFC 7162), SORT and THREAD (RFC 5256,
//! RFC 5957). The criteria are evaluated by [`crate::proto::imap::search`] on each message's
//! view; the matches are ordered by [`crate::proto::imap::sort`] and threaded by
//! [`crate::proto::imap::thread`].

use std::collections::{HashMap, HashSet};

use super::{Handled, Refused};
use crate::proto::imap::command::SearchReturn;
use crate::proto::imap::message::{crlf_size, Message};
use crate::proto::imap::response::write_string;
use crate::proto::imap::response::{Code, Data, Status};
use crate::proto::imap::search::{self, SearchContext, SearchKey};
use crate::proto::imap::sequence::SequenceSet;
use crate::proto::imap::session::dispatch::Reply;
use crate::proto::imap::session::view::View;
use crate::proto::imap::session::Selected;
use crate::proto::imap::session::Session;
use crate::proto::imap::sort::{self, SortCriterion, SortFields};
use crate::proto::imap::store::{MailStore, Mailbox};
use crate::proto::imap::thread::{self, Algorithm};

/// Searches kept for `RETURN (UPDATE)` at once; one more gets `NO [NOUPDATE]`.
const MAX_CONTEXTS: usize = 10;

/// A search kept by `RETURN (UPDATE)` (RFC 5267 §4.3): its tag, form and criteria, and the
/// UIDs of its result as the client last knows it.
pub struct UpdateContext {
    tag: String,
    uid: bool,
    criteria: SearchKey,
    /// A SORT's context (CONTEXT=SORT): its order and the sort keys read so far.
    sort: Option<SortContext>,
    /// The result as the client knows it: UIDs in mailbox order, or in sort order for SORT.
    uids: Vec<u32>,
}

/// What a kept SORT needs to order its result again: the criteria, and the sort keys of the
/// messages of its result by UID (a message's keys never change; only new matches are read).
pub struct SortContext {
    criteria: Vec<SortCriterion>,
    fields: HashMap<u32, SortFields>,
}

/// `* ESEARCH (TAG "tag") [UID] ADDTO|REMOVEFROM (position set …)` for a SORT context
/// (RFC 5267 §4.3.3-4): each pair `(position, number)` applied in order; runs of consecutive
/// numbers at the positions one pair leaves for the next are merged into one range.
fn sorted_update(
    tag: &str,
    uid: bool,
    item: &str,
    pairs: &[(usize, u32)],
    step: usize,
) -> Option<Data> {
    let first = pairs.first()?;
    let mut runs: Vec<(usize, u32, u32)> = vec![(first.0, first.1, first.1)];
    let mut last_pos = first.0;
    for &(pos, n) in pairs.get(1..).unwrap_or_default() {
        match runs.last_mut() {
            Some(run) if pos == last_pos + step && n == run.2.saturating_add(1) => run.2 = n,
            _ => runs.push((pos, n, n)),
        }
        last_pos = pos;
    }
    let mut out = b"* ESEARCH (TAG ".to_vec();
    write_string(&mut out, tag.as_bytes());
    out.push(b')');
    if uid {
        out.extend_from_slice(b" UID");
    }
    let body: Vec<String> = runs
        .iter()
        .map(|&(pos, a, b)| {
            if a == b {
                format!("{pos} {a}")
            } else {
                format!("{pos} {a}:{b}")
            }
        })
        .collect();
    out.extend_from_slice(format!(" {item} ({})\r\n", body.join(" ")).as_bytes());
    Some(Data::Raw(out))
}

/// A sorted result's numbers as a sequence set that keeps their order (RFC 5267 §3.2): ranges
/// only for runs that ascend by one.
fn ordered_set(numbers: &[u32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while let Some(&start) = numbers.get(i) {
        let mut end = start;
        while numbers.get(i + 1) == Some(&end.saturating_add(1)) && end < u32::MAX {
            end += 1;
            i += 1;
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}:{end}")
        });
        i += 1;
    }
    parts.join(",")
}

/// `* ESEARCH` for an extended SORT (RFC 5267 §3.1): MIN and MAX are the first and last in sort
/// order, ALL and PARTIAL keep the sort order.
fn esort(
    tag: &str,
    uid: bool,
    sorted: &[u32],
    returns: &[SearchReturn],
    modseq: Option<u64>,
) -> Vec<u8> {
    let in_order = |part: &[u32]| (!part.is_empty()).then(|| ordered_set(part));
    esearch_line(tag, uid, sorted, in_order, returns, modseq)
}

/// The UIDs of the messages at `hits` in sort order, reading the keys of messages `fields`
/// does not hold yet (and forgetting those no longer among them).
fn sorted_uids<M: Mailbox>(sel: &Selected<M>, hits: &[usize], sort: &mut SortContext) -> Vec<u32> {
    let need_size = sort.criteria.iter().any(|c| c.key == sort::SortKey::Size);
    let missing: Vec<usize> = hits
        .iter()
        .copied()
        .filter(|&i| {
            sel.messages
                .get(i)
                .is_some_and(|m| !sort.fields.contains_key(&m.uid))
        })
        .collect();
    for f in sort_fields(sel, &missing, true, need_size) {
        sort.fields.insert(f.number, f);
    }
    let mut list = Vec::with_capacity(hits.len());
    for &i in hits {
        let Some(m) = sel.messages.get(i) else {
            continue;
        };
        if let Some(f) = sort.fields.get_mut(&m.uid) {
            f.seq = i as u32 + 1;
            list.push(f.clone());
        }
    }
    let keep: HashSet<u32> = list.iter().map(|f| f.number).collect();
    sort.fields.retain(|uid, _| keep.contains(uid));
    sort::sort(list, &sort.criteria)
}

/// `* ESEARCH (TAG "tag") [UID] ADDTO|REMOVEFROM (0 set)`: context position 0, the set in
/// mailbox order (§4.3.3-4).
fn context_update(tag: &str, uid: bool, item: &str, mut numbers: Vec<u32>) -> Option<Data> {
    numbers.sort_unstable();
    let set = SequenceSet::from_numbers(&numbers)?;
    let mut out = b"* ESEARCH (TAG ".to_vec();
    write_string(&mut out, tag.as_bytes());
    out.push(b')');
    if uid {
        out.extend_from_slice(b" UID");
    }
    out.extend_from_slice(format!(" {item} (0 {set})\r\n").as_bytes());
    Some(Data::Raw(out))
}

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

/// The longest header block SORT and THREAD read of a message.
const MAX_HEADER: u64 = 1024 * 1024;

/// What SORT and THREAD need of the messages at `indices`: each message's header block only,
/// the whole message only when SIZE is asked for and its CRLF size is not known yet (a message
/// gone meanwhile sorts as one with an empty header).
fn sort_fields<M: Mailbox>(
    sel: &Selected<M>,
    indices: &[usize],
    uid: bool,
    need_size: bool,
) -> Vec<SortFields> {
    indices
        .iter()
        .filter_map(|&i| Some((i, sel.messages.get(i)?)))
        .map(|(i, m)| {
            let (raw, size) = match m.vsize {
                None if need_size => {
                    let view = View::new(m, false, &sel.mailbox);
                    let raw = view.bytes().map(<[u8]>::to_vec).unwrap_or_default();
                    let size = crlf_size(&raw);
                    (raw, size)
                }
                vsize => {
                    let header = sel.mailbox.read_header(m, MAX_HEADER).unwrap_or_default();
                    (header, vsize.unwrap_or(m.size))
                }
            };
            let message = Message::parse_shallow(&raw);
            let header = message.slice(&message.root().header);
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
    let mut ascending = hits.to_vec();
    ascending.sort_unstable();
    let as_set = |part: &[u32]| SequenceSet::from_numbers(part).map(|set| set.to_string());
    esearch_line(tag, uid, &ascending, as_set, returns, modseq)
}

/// The `* ESEARCH` line of ESEARCH and ESORT alike over `results` in the order the answer
/// keeps (mailbox order, or sort order): MIN and MAX are its first and last, ALL and PARTIAL
/// (RFC 5267 §4.4: positions low..=high, NIL when none is there) are written by `set`, which
/// says `None` for nothing.
fn esearch_line(
    tag: &str,
    uid: bool,
    results: &[u32],
    set: impl Fn(&[u32]) -> Option<String>,
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
    if let (true, Some(min)) = (wants(SearchReturn::Min), results.first()) {
        out.extend_from_slice(format!(" MIN {min}").as_bytes());
    }
    if let (true, Some(max)) = (wants(SearchReturn::Max), results.last()) {
        out.extend_from_slice(format!(" MAX {max}").as_bytes());
    }
    if let (true, Some(all)) = (wants(SearchReturn::All), set(results)) {
        out.extend_from_slice(format!(" ALL {all}").as_bytes());
    }
    if let Some((low, high)) = returns.iter().find_map(|r| match r {
        SearchReturn::Partial(low, high) => Some((*low, *high)),
        _ => None,
    }) {
        let from = (low as usize).saturating_sub(1);
        let to = (high as usize).min(results.len());
        let part = set(results.get(from..to).unwrap_or_default());
        let part = part.as_deref().unwrap_or("NIL");
        out.extend_from_slice(format!(" PARTIAL ({low}:{high} {part})").as_bytes());
    }
    if wants(SearchReturn::Count) {
        out.extend_from_slice(format!(" COUNT {}", results.len()).as_bytes());
    }
    if let Some(m) = modseq {
        out.extend_from_slice(format!(" MODSEQ {m}").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

impl<S: MailStore> Session<S> {
    /// The changes to the kept searches' results since they were last reported: REMOVEFROM
    /// responses (numbered as the client knows the mailbox, so they go before any EXPUNGE) and
    /// ADDTO responses (numbered as the view is now, so they go after the EXISTS). Nothing is
    /// evaluated while the view's message list is the one last reported on.
    pub(in crate::proto::imap::session) fn context_changes(&mut self) -> (Vec<Data>, Vec<Data>) {
        let (mut removed, mut added) = (Vec::new(), Vec::new());
        let Some(sel) = self.selected.as_ref() else {
            return (removed, added);
        };
        if self.contexts.is_empty() {
            return (removed, added);
        }
        let seen = match &self.contexts_seen {
            Some(seen) if std::sync::Arc::ptr_eq(seen, &sel.messages) => {
                return (removed, added);
            }
            Some(seen) => seen.clone(),
            None => sel.messages.clone(),
        };
        let seq_in = |list: &[crate::store::maildir::MessageInfo], uid: u32| {
            list.binary_search_by_key(&uid, |m| m.uid)
                .ok()
                .map(|i| i as u32 + 1)
        };
        for ctx in &mut self.contexts {
            if let Some(sort) = ctx.sort.as_mut() {
                // Positions in the sorted result: removals as the client knows the list (each
                // applied before the next), additions where they end up.
                let hits = matching(sel, &ctx.criteria);
                let now = sorted_uids(sel, &hits, sort);
                let now_set: HashSet<u32> = now.iter().copied().collect();
                let old_set: HashSet<u32> = ctx.uids.iter().copied().collect();
                let mut gone = Vec::new();
                let mut taken = 0;
                for (i, &u) in ctx.uids.iter().enumerate() {
                    if now_set.contains(&u) {
                        continue;
                    }
                    let number = if ctx.uid { Some(u) } else { seq_in(&seen, u) };
                    if let Some(n) = number {
                        gone.push((i - taken + 1, n));
                    }
                    taken += 1;
                }
                let mut new = Vec::new();
                for (j, &u) in now.iter().enumerate() {
                    if old_set.contains(&u) {
                        continue;
                    }
                    let number = if ctx.uid {
                        Some(u)
                    } else {
                        seq_in(&sel.messages, u)
                    };
                    if let Some(n) = number {
                        new.push((j + 1, n));
                    }
                }
                removed.extend(sorted_update(&ctx.tag, ctx.uid, "REMOVEFROM", &gone, 0));
                added.extend(sorted_update(&ctx.tag, ctx.uid, "ADDTO", &new, 1));
                ctx.uids = now;
                continue;
            }
            let now: Vec<u32> = matching(sel, &ctx.criteria)
                .into_iter()
                .filter_map(|i| sel.messages.get(i).map(|m| m.uid))
                .collect();
            let gone: Vec<u32> = ctx
                .uids
                .iter()
                .filter(|u| now.binary_search(u).is_err())
                .copied()
                .collect();
            let new: Vec<u32> = now
                .iter()
                .filter(|u| ctx.uids.binary_search(u).is_err())
                .copied()
                .collect();
            let (gone, new) = if ctx.uid {
                (gone, new)
            } else {
                (
                    gone.iter().filter_map(|&u| seq_in(&seen, u)).collect(),
                    new.iter()
                        .filter_map(|&u| seq_in(&sel.messages, u))
                        .collect(),
                )
            };
            removed.extend(context_update(&ctx.tag, ctx.uid, "REMOVEFROM", gone));
            added.extend(context_update(&ctx.tag, ctx.uid, "ADDTO", new));
            ctx.uids = now;
        }
        self.contexts_seen = Some(sel.messages.clone());
        (removed, added)
    }

    /// Ends every kept search (the mailbox is left).
    pub(in crate::proto::imap::session) fn drop_contexts(&mut self) {
        self.contexts.clear();
        self.contexts_seen = None;
    }

    /// CANCELUPDATE (RFC 5267 §4.3.5): no more updates for the searches of these tags.
    pub(in crate::proto::imap::session) fn cancel_update(&mut self, tags: &[String]) -> Reply {
        self.contexts.retain(|c| !tags.contains(&c.tag));
        if self.contexts.is_empty() {
            self.contexts_seen = None;
        }
        Reply::ok("CANCELUPDATE completed")
    }

    /// SORT; with `RETURN (…)` (RFC 5267 ESORT and CONTEXT=SORT) answered by one `* ESEARCH`
    /// in sort order, and with UPDATE kept for ADDTO/REMOVEFROM notifications.
    pub(in crate::proto::imap::session) fn sort(
        &mut self,
        tag: &str,
        uid: bool,
        criteria: &[SortCriterion],
        search: &SearchKey,
        returns: Option<&[SearchReturn]>,
    ) -> Handled {
        let sel = self.selected()?;
        let hits = matching(sel, search);
        let Some(returns) = returns else {
            let need_size = criteria.iter().any(|c| c.key == sort::SortKey::Size);
            let numbers = sort::sort(sort_fields(sel, &hits, uid, need_size), criteria);
            return Ok(Reply::ok("SORT completed").with(vec![Data::Sort(numbers)]));
        };
        let mut context = SortContext {
            criteria: criteria.to_vec(),
            fields: HashMap::new(),
        };
        let uids = sorted_uids(sel, &hits, &mut context);
        let numbers: Vec<u32> = if uid {
            uids.clone()
        } else {
            uids.iter()
                .filter_map(|&u| sel.index_of(u).map(|i| i as u32 + 1))
                .collect()
        };
        let highest = sel.at(&hits).map(|m| m.modseq.max(1)).max();
        let modseq = highest.filter(|_| search.uses_modseq());
        let wants = |r: SearchReturn| returns.contains(&r);
        let list = wants(SearchReturn::Update).then(|| sel.messages.clone());
        let mut before = Vec::new();
        if wants(SearchReturn::Update) {
            before = self.keep_for_update(tag, uid, search, Some(context), &uids, list)?;
        }
        if wants(SearchReturn::Save) {
            self.saved = saved_result(returns, &uids);
            if returns.iter().all(|r| *r == SearchReturn::Save) {
                return Ok(Reply::ok("SORT completed, result saved").with(before));
            }
        }
        before.push(Data::Raw(esort(tag, uid, &numbers, returns, modseq)));
        Ok(Reply::ok("SORT completed").with(before))
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
        let fields = sort_fields(sel, &hits, uid, false);
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
        // The message list a new kept search starts from.
        let list = returns
            .is_some_and(|r| r.contains(&SearchReturn::Update))
            .then(|| sel.messages.clone());
        // RFC 9051 §6.4.4: an IMAP4rev2 session's plain SEARCH is answered as RETURN (ALL).
        let returns = returns.or(self.rev2.then_some(&[SearchReturn::All][..]));
        let Some(returns) = returns else {
            return Ok(Reply::ok("SEARCH completed").with(vec![Data::Search {
                numbers: hits,
                modseq,
            }]));
        };
        let wants = |r: SearchReturn| returns.contains(&r);
        let mut before = Vec::new();
        if wants(SearchReturn::Update) {
            before = self.keep_for_update(tag, uid, criteria, None, &uids, list)?;
        }
        if wants(SearchReturn::Save) {
            self.saved = saved_result(returns, &uids);
            if returns.iter().all(|r| *r == SearchReturn::Save) {
                return Ok(Reply::ok("SEARCH completed, result saved").with(before));
            }
        }
        let line = esearch(tag, uid, &hits, returns, modseq);
        before.push(Data::Raw(line));
        Ok(Reply::ok("SEARCH completed").with(before))
    }
}

impl<S: MailStore> Session<S> {
    /// `RETURN (UPDATE)` (RFC 5267 §4.3): keeps the search (or sort) under its tag, one per tag
    /// and [`MAX_CONTEXTS`] at most. The data to send before the answer (a `NO [NOUPDATE]` when
    /// too many are kept), or `BAD` for a tag already in use.
    fn keep_for_update(
        &mut self,
        tag: &str,
        uid: bool,
        criteria: &SearchKey,
        sort: Option<SortContext>,
        uids: &[u32],
        list: Option<std::sync::Arc<Vec<crate::store::maildir::MessageInfo>>>,
    ) -> Result<Vec<Data>, Refused> {
        if self.contexts.iter().any(|c| c.tag == tag) {
            return Err(Box::new(Reply::bad("Tag reuse")));
        }
        if self.contexts.len() >= MAX_CONTEXTS {
            return Ok(vec![Data::condition(
                Status::No,
                Some(Code::NoUpdate(tag.to_string())),
                "Too many searches kept for updates",
            )]);
        }
        if self.contexts.is_empty() {
            self.contexts_seen = list;
        }
        self.contexts.push(UpdateContext {
            tag: tag.to_string(),
            uid,
            criteria: criteria.clone(),
            sort,
            uids: uids.to_vec(),
        });
        Ok(Vec::new())
    }
}

/// What `RETURN (SAVE)` keeps (RFC 5182 §2.4), in UID order: with MIN and/or MAX alone only
/// those messages (the first and last of `uids`, in answer order), else all of `uids`.
fn saved_result(returns: &[SearchReturn], uids: &[u32]) -> Vec<u32> {
    let wants = |r: SearchReturn| returns.contains(&r);
    let mut kept: Vec<u32> = if !wants(SearchReturn::All)
        && !wants(SearchReturn::Count)
        && (wants(SearchReturn::Min) || wants(SearchReturn::Max))
    {
        let min = uids.first().filter(|_| wants(SearchReturn::Min));
        let max = uids.last().filter(|_| wants(SearchReturn::Max));
        min.into_iter().chain(max).copied().collect()
    } else {
        uids.to_vec()
    };
    kept.sort_unstable();
    kept.dedup();
    kept
}
