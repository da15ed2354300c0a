//! `editheader` (RFC 5293): header edits and how an added value is written.

use super::State;
use crate::proto::sieve::ast::Index;
use crate::proto::sieve::compare::{MatchKind, Matcher};
use crate::proto::sieve::RuntimeError;

impl State<'_, '_> {
    pub(super) fn edit(&mut self) -> Result<(), RuntimeError> {
        self.edits += 1;
        if self.edits > self.budget.max_header_edits {
            return Err(RuntimeError::TooManyHeaderEdits(
                self.budget.max_header_edits,
            ));
        }
        self.edited = true;
        self.addresses.clear();
        Ok(())
    }

    pub(super) fn delete_header(
        &mut self,
        name: &str,
        index: Option<Index>,
        m: &Matcher,
        keys: Option<&[String]>,
    ) {
        let positions: Vec<usize> = self
            .msg
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| f.lname == name)
            .map(|(i, _)| i)
            .collect();
        let chosen: Vec<usize> = match index {
            Some(ix) => {
                let n = usize::try_from(ix.n).unwrap_or(usize::MAX);
                let pick = if ix.last {
                    positions
                        .len()
                        .checked_sub(n)
                        .and_then(|i| positions.get(i))
                } else {
                    n.checked_sub(1).and_then(|i| positions.get(i))
                };
                pick.copied().into_iter().collect()
            }
            None => positions,
        };
        let m = Matcher {
            cmp: m.cmp,
            kind: match m.kind {
                MatchKind::Count(r) => MatchKind::Value(r),
                k => k,
            },
        };
        let mut fuel = self.fuel.get();
        let mut remove: Vec<usize> = chosen
            .into_iter()
            .filter(|&i| match keys {
                None => true,
                Some(keys) => self.msg.fields.get(i).is_some_and(|f| {
                    keys.iter()
                        .any(|k| m.matches_with(f.value(), k, None, &mut fuel))
                }),
            })
            .collect();
        self.fuel.set(fuel);
        remove.sort_unstable();
        for i in remove.into_iter().rev() {
            if i < self.msg.fields.len() {
                self.msg.fields.remove(i);
            }
        }
    }
}

/// A header value as it goes into the message: line breaks unfolded to spaces, non-ASCII as
/// an RFC 2047 encoded-word (RFC 5293 §4).
pub(super) fn encode_value(v: &str) -> String {
    let v: String = v
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect();
    if v.is_ascii() {
        return v;
    }
    use base64::Engine as _;
    format!(
        "=?UTF-8?B?{}?=",
        base64::engine::general_purpose::STANDARD.encode(v.as_bytes())
    )
}
