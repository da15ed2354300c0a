//! What one pass does with the maildrop the server lists: which messages to fetch, which to
//! delete, which are too big, and which remembered UIDLs are gone. Pure.

use std::collections::{BTreeMap, HashSet};

use super::proto::Listed;
use super::state::{Seen, SkipReason, Skipped};
use crate::config::collect::DeletePolicy;

/// The pass over one maildrop.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// New messages to RETR, in server order.
    pub fetch: Vec<Listed>,
    /// Messages queued earlier that may now be deleted on the server.
    pub delete: Vec<Listed>,
    /// New messages larger than the limit: left on the server.
    pub too_big: Vec<Listed>,
    /// New messages beyond the per-pass maximum: the next pass takes them.
    pub later: usize,
    /// Messages the content filter refused for good in an earlier pass: not fetched again.
    pub refused: usize,
    /// Messages found malformed in an earlier pass: not fetched again.
    pub malformed: usize,
    /// Remembered UIDLs (queued or skipped) the server no longer lists.
    pub vanished: Vec<String>,
}

/// Plan a pass. `left_queue(id)` tells whether a queued message has left the local queue.
pub fn plan(
    listing: &[Listed],
    seen: &BTreeMap<String, Seen>,
    skipped: &BTreeMap<String, Skipped>,
    policy: DeletePolicy,
    max_size: u64,
    max_messages: usize,
    left_queue: impl Fn(&str) -> bool,
) -> Plan {
    let mut p = Plan::default();
    let listed: HashSet<&str> = listing.iter().map(|l| l.uidl.as_str()).collect();
    p.vanished = seen
        .keys()
        .chain(skipped.keys())
        .filter(|u| !listed.contains(u.as_str()))
        .cloned()
        .collect();
    let mut uidls = HashSet::new();
    for l in listing {
        // A UIDL listed twice is a server bug: take the first only.
        if !uidls.insert(l.uidl.as_str()) {
            continue;
        }
        match seen.get(&l.uidl) {
            Some(s) => {
                let delete = match policy {
                    DeletePolicy::Leave => false,
                    DeletePolicy::Always => true,
                    DeletePolicy::Delivered => left_queue(&s.id),
                };
                if delete {
                    p.delete.push(l.clone());
                }
            }
            None => match skipped.get(&l.uidl).map(|s| s.reason) {
                Some(SkipReason::Refused | SkipReason::Duplicate) => p.refused += 1,
                Some(SkipReason::Malformed) => p.malformed += 1,
                _ if l.size > max_size => p.too_big.push(l.clone()),
                _ if p.fetch.len() >= max_messages => p.later += 1,
                _ => p.fetch.push(l.clone()),
            },
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(number: u32, uidl: &str, size: u64) -> Listed {
        Listed {
            number,
            uidl: uidl.into(),
            size,
        }
    }

    #[test]
    fn passes() {
        let listing = [
            l(1, "old-queued", 10),
            l(2, "old-gone", 10),
            l(3, "new", 10),
            l(4, "huge", 5000),
            l(5, "new2", 10),
            l(6, "virus", 10),
            l(7, "long-line", 10),
        ];
        let mut seen = BTreeMap::new();
        for (u, id) in [("old-queued", "Q1"), ("old-gone", "Q2"), ("vanished", "Q3")] {
            seen.insert(
                u.to_string(),
                Seen {
                    id: id.into(),
                    at: 0,
                },
            );
        }
        let mut skipped = BTreeMap::new();
        for (u, reason) in [
            ("virus", SkipReason::Refused),
            ("huge", SkipReason::TooBig),
            ("gone-big", SkipReason::TooBig),
            ("long-line", SkipReason::Malformed),
        ] {
            skipped.insert(u.to_string(), Skipped { reason, at: 0 });
        }
        let left = |id: &str| id != "Q1";
        // Leave on server: only new ones, nothing deleted; forgotten what the server dropped.
        // The filter's refusal is remembered: not fetched again; a big one is still counted.
        let p = plan(
            &listing,
            &seen,
            &skipped,
            DeletePolicy::Leave,
            1000,
            10,
            left,
        );
        assert_eq!(p.fetch, [l(3, "new", 10), l(5, "new2", 10)]);
        assert!(p.delete.is_empty());
        assert_eq!(p.too_big, [l(4, "huge", 5000)]);
        assert_eq!((p.refused, p.malformed), (1, 1));
        assert_eq!(p.vanished, ["vanished", "gone-big"]);
        // Delete once delivered: only what left the queue.
        let p = plan(
            &listing,
            &seen,
            &skipped,
            DeletePolicy::Delivered,
            1000,
            10,
            left,
        );
        assert_eq!(p.delete, [l(2, "old-gone", 10)]);
        // Delete regardless: everything already queued.
        let p = plan(
            &listing,
            &seen,
            &skipped,
            DeletePolicy::Always,
            1000,
            1,
            left,
        );
        assert_eq!(p.delete.len(), 2);
        assert_eq!((p.fetch.len(), p.later), (1, 1));
    }
}
