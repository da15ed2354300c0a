//! FETCH and UID FETCH (RFC 3501 §6.4.5, with RFC 7162's CHANGEDSINCE and VANISHED): resolving
//! the set, setting `\Seen`, and rendering in chunks so a `FETCH 1:* BODY[]` on a large mailbox
//! never sits in memory at once. The FETCH data items are rendered by [`crate::proto::imap::fetch`];
//! the completion goes through the dispatch like every other command's.

use std::collections::HashSet;

use super::Handled;
use crate::proto::imap::fetch::{
    render_fetch_gone, render_fetch_into, sets_seen, FetchAttribute, FetchError,
};
use crate::proto::imap::message::crlf_size;
use crate::proto::imap::response::{Code, Status, Tagged};
use crate::proto::imap::section::SectionText;
use crate::proto::imap::sequence::SequenceSet;
use crate::proto::imap::session::dispatch::{Reply, Updates};
use crate::proto::imap::session::view::{cache_entry, View};
use crate::proto::imap::session::Session;
use crate::proto::imap::store::{MailStore, Mailbox};
use crate::store::maildir::{self, FlagOp, MessageInfo, Snapshot};

/// A FETCH in progress.
pub struct FetchJob {
    tag: String,
    uid: bool,
    indices: Vec<usize>,
    pos: usize,
    attributes: Vec<FetchAttribute>,
    /// UIDs whose `\Seen` this FETCH set (their FLAGS are sent even if not asked for).
    seen_set: HashSet<u32>,
    uses_cache: bool,
    missing: bool,
    /// A BINARY part had an encoding that cannot be undone (RFC 3516 `[UNKNOWN-CTE]`).
    unknown_cte: bool,
    /// RFC822.SIZE was asked for.
    wants_size: bool,
    /// Virtual sizes computed from message bytes this FETCH read anyway.
    sizes: Vec<(u32, u64)>,
    /// Whether rendering reads message files (so the store is told which come next).
    reads_files: bool,
    /// Position in `indices` up to which the store was told.
    hinted: usize,
    /// The one buffer every message of this FETCH is read into.
    buffer: Vec<u8>,
    /// Output size after which this step hands its output to the socket: [`FIRST_CHUNK`],
    /// growing to [`CHUNK`].
    chunk: usize,
}

/// Largest read buffer kept from one message to the next (a huge message's is let go).
const KEEP_BUFFER: usize = 1024 * 1024;

/// How many messages ahead a FETCH that reads files tells the store about (in steps of half).
const PREFETCH_WINDOW: usize = 64;

/// The CONDSTORE / QRESYNC modifiers of a FETCH.
#[derive(Debug, Clone, Copy, Default)]
pub struct Since {
    /// `CHANGEDSINCE n`: only messages changed after modseq n.
    pub modseq: Option<u64>,
    /// `VANISHED`: also `* VANISHED (EARLIER)` for the UIDs of the set that are gone.
    pub vanished: bool,
}

/// Output size after which a FETCH hands its output to the socket.
pub(in crate::proto::imap::session) const CHUNK: usize = 256 * 1024;

/// Output size after which a FETCH's first step hands its output to the socket; each step
/// after it may be four times larger, up to [`CHUNK`]. The client gets its first messages
/// after a few of them are rendered, not 256 KiB of them, and starts reading while the rest
/// follow. Measured with Python's imaplib on a repeated `UID FETCH 1:*` of 10,000 4 KB bodies
/// (bin/bench-imap's client, which is what bounds that FETCH): 5–8 ms less of its ~125 ms,
/// the client's own CPU lower as much (its receive buffer grew larger, to ~330 KiB instead of
/// ~150 KiB, when the first data came in smaller pieces).
pub(in crate::proto::imap::session) const FIRST_CHUNK: usize = 16 * 1024;

/// The output size of the step after one of `chunk`.
fn next_chunk(chunk: usize) -> usize {
    chunk.saturating_mul(4).min(CHUNK)
}

impl<S: MailStore> Session<S> {
    /// Starts a FETCH: the reply carries the job, or the refusal.
    pub(in crate::proto::imap::session) fn fetch(
        &mut self,
        tag: &str,
        uid: bool,
        set: &SequenceSet,
        mut attributes: Vec<FetchAttribute>,
        since: Since,
    ) -> Handled {
        let changed_since = since.modseq;
        // RFC 7162 §3.2.6: VANISHED only in UID FETCH, with CHANGEDSINCE, once QRESYNC is on.
        if since.vanished && !(uid && changed_since.is_some() && self.qresync) {
            return Err(
                Reply::bad("VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC").into(),
            );
        }
        let sel = self.selected()?;
        let mut indices = sel.resolve(set, uid).map_err(Reply::bad)?;
        let mut data = Vec::new();
        if since.vanished {
            data.extend(sel.vanished_earlier(set));
        }
        if uid && !attributes.contains(&FetchAttribute::Uid) {
            attributes.insert(0, FetchAttribute::Uid);
        }
        if let Some(since) = changed_since {
            indices.retain(|&i| sel.messages.get(i).is_some_and(|m| m.modseq.max(1) > since));
        }
        if changed_since.is_some() && !attributes.contains(&FetchAttribute::ModSeq) {
            attributes.push(FetchAttribute::ModSeq);
        }
        let mut seen_set = HashSet::new();
        if sets_seen(&attributes) && !sel.read_only {
            let unseen: Vec<u32> = sel
                .at(&indices)
                .filter(|m| !m.flags.contains(maildir::Flag::Seen))
                .map(|m| m.uid)
                .collect();
            if !unseen.is_empty() {
                let mut seen = maildir::Flags::new();
                seen.insert(maildir::Flag::Seen);
                if let Ok(outcome) = sel.mailbox.store_flags(&unseen, &FlagOp::Add(seen), None) {
                    for (u, f, modseq) in outcome.stored {
                        if let Some(m) = sel.index_of(u).and_then(|i| sel.message_mut(i)) {
                            m.flags = f;
                            m.modseq = modseq;
                            sel.highestmodseq = sel.highestmodseq.max(modseq);
                            seen_set.insert(u);
                        }
                    }
                }
            }
        }
        // Sizes not known yet are computed up front, by reading the messages — unless this
        // FETCH reads them whole anyway: then from those bytes (one read, not two).
        let reads_whole = attributes.iter().any(reads_whole_message);
        if attributes.contains(&FetchAttribute::Rfc822Size)
            && !reads_whole
            && sel.at(&indices).any(|m| m.vsize.is_none())
        {
            let mut snap = Snapshot {
                uidvalidity: sel.uidvalidity,
                uidnext: sel.uidnext,
                highestmodseq: sel.highestmodseq,
                keywords: Vec::new(),
                messages: sel
                    .at(&indices)
                    .filter(|m| m.vsize.is_none())
                    .cloned()
                    .collect(),
                recent: Vec::new(),
            };
            if sel.mailbox.fill_virtual_sizes(&mut snap).is_ok() {
                for m in snap.messages {
                    if let Some(x) = sel.index_of(m.uid).and_then(|i| sel.message_mut(i)) {
                        x.vsize = m.vsize;
                    }
                }
            }
        }
        let uses_cache = attributes
            .iter()
            .any(|a| matches!(a, FetchAttribute::Envelope | FetchAttribute::BodyStructure));
        if uses_cache {
            sel.mailbox.load_cache(&mut sel.cache);
        }
        let wants_size = attributes.contains(&FetchAttribute::Rfc822Size);
        let reads_files = attributes.iter().any(|a| {
            !matches!(
                a,
                FetchAttribute::Envelope
                    | FetchAttribute::BodyStructure
                    | FetchAttribute::Flags
                    | FetchAttribute::InternalDate
                    | FetchAttribute::Rfc822Size
                    | FetchAttribute::Uid
                    | FetchAttribute::ModSeq
            )
        });
        let job = FetchJob {
            tag: tag.to_string(),
            uid,
            indices,
            pos: 0,
            attributes,
            seen_set,
            uses_cache,
            missing: false,
            unknown_cte: false,
            wants_size,
            sizes: Vec::new(),
            reads_files,
            hinted: 0,
            buffer: Vec::new(),
            chunk: FIRST_CHUNK,
        };
        Ok(Reply::fetching(job).with(data))
    }

    /// Renders the next messages of a FETCH; `true` once its completion is written.
    pub(in crate::proto::imap::session) fn continue_fetch(
        &mut self,
        job: &mut FetchJob,
        out: &mut Vec<u8>,
    ) -> bool {
        let condstore = self.condstore;
        let Some(sel) = self.selected.as_mut() else {
            Tagged::new(Status::No, None, "Mailbox closed").encode(&job.tag, out);
            return true;
        };
        // A message whose \Seen this FETCH set gets its FLAGS, and with CONDSTORE on also
        // UID and MODSEQ (RFC 7162 §3.1).
        let with_flags: Vec<FetchAttribute> = {
            let mut a = job.attributes.clone();
            let mut wanted = vec![FetchAttribute::Flags];
            if condstore {
                wanted.extend([FetchAttribute::Uid, FetchAttribute::ModSeq]);
            }
            for w in wanted {
                if !a.contains(&w) {
                    a.push(w);
                }
            }
            a
        };
        while let Some(&i) = job.indices.get(job.pos) {
            if out.len() >= job.chunk {
                job.chunk = next_chunk(job.chunk);
                return false;
            }
            if job.reads_files && job.hinted < job.pos + PREFETCH_WINDOW / 2 {
                let from = job.hinted.max(job.pos);
                let to = (job.pos + PREFETCH_WINDOW).min(job.indices.len());
                let ahead: Vec<&MessageInfo> = job
                    .indices
                    .get(from..to)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|&k| sel.messages.get(k))
                    .collect();
                sel.mailbox.prefetch(&ahead);
                job.hinted = to;
            }
            job.pos += 1;
            let Some(info) = sel.messages.get(i) else {
                continue;
            };
            let recent = sel.recent.contains(&info.uid);
            let buffer = std::mem::take(&mut job.buffer);
            let mut view = View::with_buffer(info, recent, &sel.mailbox, buffer);
            let attrs = if job.seen_set.contains(&info.uid) {
                &with_flags
            } else {
                &job.attributes
            };
            if job.uses_cache {
                if sel.cache.get(info.base()).is_none() {
                    match view.bytes() {
                        Ok(raw) => {
                            let entry = cache_entry(raw);
                            sel.cache.insert(info.base(), entry);
                        }
                        Err(e) => {
                            gone(&mut job.missing, &e, i, attrs, &view, out);
                            job.buffer = view.into_buffer();
                            continue;
                        }
                    }
                }
                view.cached = sel.cache.get(info.base());
            }
            match render_fetch_into(out, i as u32 + 1, attrs, &view) {
                Ok(()) => {}
                Err(FetchError::Read(e)) => gone(&mut job.missing, &e, i, attrs, &view, out),
                Err(FetchError::UnknownCte(_)) => job.unknown_cte = true,
            }
            if job.wants_size && info.vsize.is_none() {
                if let Some(raw) = view.read_whole() {
                    job.sizes.push((info.uid, crlf_size(raw)));
                }
            }
            job.buffer = view.into_buffer();
            if job.buffer.capacity() > KEEP_BUFFER {
                job.buffer = Vec::new();
            }
        }
        // Not kept past the FETCH (a large message's buffer).
        job.buffer = Vec::new();
        // Kept in the view now; stored in the state file when the client pauses (one write
        // for a pipelined burst of FETCHes, not one each).
        for (uid, v) in std::mem::take(&mut job.sizes) {
            if let Some(m) = sel.index_of(uid).and_then(|i| sel.message_mut(i)) {
                m.vsize = Some(v);
                sel.pending_sizes.push((uid, v));
            }
        }
        if job.uses_cache {
            sel.save_cache();
        }
        let mut reply = if job.unknown_cte {
            Reply::no(
                Some(Code::UnknownCte),
                "A part's Content-Transfer-Encoding cannot be decoded",
            )
        } else if job.missing {
            Reply::no(Some(Code::ServerBug), "Some messages could not be read")
        } else {
            Reply::ok("FETCH completed")
        };
        reply.updates = Updates::Quietly { expunge: job.uid };
        let tag = std::mem::take(&mut job.tag);
        // A completion asks for nothing more of the step loop.
        let _ = self.send(&tag, reply, out);
        true
    }
}

/// A message that could not be read: one expunged by another session since this one's view was
/// taken is answered with what is at hand (its FETCH completes OK, see
/// [`render_fetch_gone`]); any other failure makes the FETCH end NO (`missing`).
fn gone<M: Mailbox>(
    missing: &mut bool,
    e: &std::io::Error,
    index: usize,
    attrs: &[FetchAttribute],
    view: &View<'_, M>,
    out: &mut Vec<u8>,
) {
    if e.kind() == std::io::ErrorKind::NotFound {
        out.extend(render_fetch_gone(index as u32 + 1, attrs, view));
    } else {
        *missing = true;
    }
}

/// Whether rendering `attr` reads the whole message file (so its size comes for free).
fn reads_whole_message(attr: &FetchAttribute) -> bool {
    match attr {
        FetchAttribute::Rfc822 | FetchAttribute::Rfc822Text => true,
        FetchAttribute::BodySection { section, .. } => {
            section.part.is_empty() && matches!(section.text, None | Some(SectionText::Text))
        }
        _ => false,
    }
}
