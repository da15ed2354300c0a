//! The directory scan: reconciles `new/` and `cur/` with the state (new mail is numbered where it
//! lies; nothing is renamed).

use std::collections::HashMap;
use std::fs;
use std::io::ErrorKind;

use super::error::{MaildirError, Result};
use super::files::{entry_flags, list_dir, mtime_secs};
use super::layout::Maildir;
use super::name;
use super::state::{MessageInfo, Snapshot};
use super::statefile::{Entry, State};

pub(super) fn snapshot(st: &State, recent: Vec<u32>) -> Snapshot {
    Snapshot {
        uidvalidity: st.uidvalidity,
        uidnext: st.uidnext,
        highestmodseq: st.highestmodseq,
        keywords: st.keywords.clone(),
        messages: st
            .entries
            .iter()
            .map(|e| MessageInfo {
                uid: e.uid,
                file_name: e.name.clone(),
                in_new: e.in_new,
                size: e.size,
                vsize: e.vsize,
                internal_date: e.date,
                flags: entry_flags(e, &st.keywords),
                modseq: e.modseq,
            })
            .collect(),
        recent,
    }
}

/// The directory scan and reconciliation; returns (state changed, newly assigned UIDs).
pub(super) fn sync_locked(md: &Maildir, st: &mut State) -> Result<(bool, Vec<u32>)> {
    let mut on_disk: HashMap<String, (String, bool)> = HashMap::new();
    for n in list_dir(&md.cur())? {
        let base = name::split(&n).0.to_string();
        on_disk.entry(base).or_insert((n, false));
    }
    // New mail stays in new/ (a rename per message would be most of a first SELECT's time);
    // it moves to cur/ with its first flag change.
    for n in list_dir(&md.new_dir())? {
        let base = name::split(&n).0.to_string();
        on_disk.entry(base).or_insert((n, true));
    }

    let mut changed = false;
    let bump = st.highestmodseq + 1;
    let keywords = st.keywords.clone();
    st.entries.retain_mut(|e| match on_disk.remove(e.base()) {
        Some((n, in_new)) => {
            if *n != *e.name || in_new != e.in_new {
                let before = entry_flags(e, &keywords);
                e.name = n.into();
                e.in_new = in_new;
                if entry_flags(e, &keywords) != before {
                    e.modseq = bump;
                }
                changed = true;
            }
            true
        }
        None => {
            changed = true;
            false
        }
    });

    let mut fresh = Vec::with_capacity(on_disk.len());
    for (base, (n, in_new)) in on_disk {
        let path = if in_new { md.new_dir() } else { md.cur() }.join(&n);
        let (size, date) = match (name::size_field(&base), name::time_field(&base)) {
            (Some(s), Some(t)) => (s, t),
            (s, t) => match fs::metadata(&path) {
                Ok(m) => (s.unwrap_or(m.len()), t.unwrap_or_else(|| mtime_secs(&m))),
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(MaildirError::io(&path, e)),
            },
        };
        fresh.push((date, base, n, in_new, size));
    }
    fresh.sort_unstable_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let mut recent = Vec::with_capacity(fresh.len());
    for (date, base, n, in_new, size) in fresh {
        let uid = st.uidnext;
        if uid == u32::MAX {
            break; // UID space exhausted; a new UIDVALIDITY would be needed
        }
        st.uidnext += 1;
        st.entries.push(Entry {
            uid,
            modseq: bump,
            size,
            vsize: name::vsize_field(&base),
            date,
            in_new,
            name: n.into(),
        });
        recent.push(uid);
        changed = true;
    }
    if changed {
        st.highestmodseq = bump;
    }
    Ok((changed, recent))
}
