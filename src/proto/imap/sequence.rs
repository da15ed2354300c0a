//! Sequence sets (RFC 3501 §9 `sequence-set`): `1:*,3,5:7`.
//!
//! The same type serves message sequence numbers and UIDs; `*` is resolved
//! against the largest number in use when the set is evaluated.

use std::fmt;

/// One end of a range: a number or `*` (the largest number in use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqNumber {
    /// A concrete, non-zero number.
    Value(u32),
    /// `*`: the largest sequence number / UID in the mailbox.
    Largest,
}

impl SeqNumber {
    /// The concrete value, with `*` standing for `largest`.
    pub fn resolve(self, largest: u32) -> u32 {
        match self {
            SeqNumber::Value(n) => n,
            SeqNumber::Largest => largest,
        }
    }
}

/// A range `a:b` (either order is allowed by the RFC) or a single number (`a == b`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqRange {
    /// First end as written.
    pub start: SeqNumber,
    /// Second end as written (equal to `start` for a single number).
    pub end: SeqNumber,
}

impl SeqRange {
    /// The inclusive bounds, low first, with `*` resolved to `largest`.
    pub fn bounds(&self, largest: u32) -> (u32, u32) {
        let a = self.start.resolve(largest);
        let b = self.end.resolve(largest);
        if a <= b {
            (a, b)
        } else {
            (b, a)
        }
    }
}

/// A non-empty, comma-separated list of ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceSet {
    /// The ranges as written.
    pub ranges: Vec<SeqRange>,
}

/// Why a sequence set could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SequenceError {
    /// Empty input or an empty element (`1,,2`).
    #[error("empty sequence set element")]
    Empty,
    /// A number is zero, too large, or not a number.
    #[error("invalid number in sequence set")]
    BadNumber,
    /// More elements than the parser accepts.
    #[error("sequence set has too many elements")]
    TooLong,
}

/// Most ranges accepted in one set (bounds memory and evaluation time).
pub const MAX_RANGES: usize = 10_000;

impl SequenceSet {
    /// Parses `1:*,3,5:7` (no spaces), or `$` (RFC 5182: the saved search result, see
    /// [`SequenceSet::saved`]).
    pub fn parse(text: &[u8]) -> Result<Self, SequenceError> {
        if text.is_empty() {
            return Err(SequenceError::Empty);
        }
        if text == b"$" {
            return Ok(SequenceSet::saved());
        }
        let mut ranges = Vec::new();
        for element in text.split(|&b| b == b',') {
            if ranges.len() >= MAX_RANGES {
                return Err(SequenceError::TooLong);
            }
            let mut ends = element.splitn(2, |&b| b == b':');
            let start = parse_number(ends.next().unwrap_or_default())?;
            let end = match ends.next() {
                Some(e) => parse_number(e)?,
                None => start,
            };
            ranges.push(SeqRange { start, end });
        }
        Ok(SequenceSet { ranges })
    }

    /// `$` (RFC 5182 SEARCHRES): the result a `SEARCH RETURN (SAVE)` saved, which the session
    /// puts in its place before the command runs. Written as the range `0:*`, which no client
    /// can send: left in place it matches nothing.
    pub fn saved() -> Self {
        SequenceSet {
            ranges: vec![SeqRange {
                start: SeqNumber::Value(0),
                end: SeqNumber::Largest,
            }],
        }
    }

    /// Whether this is `$`.
    pub fn is_saved(&self) -> bool {
        *self == SequenceSet::saved()
    }

    /// A set that matches nothing (an empty saved result): the range `0:0`.
    pub fn nothing() -> Self {
        SequenceSet::single(0)
    }

    /// A set holding exactly one number.
    pub fn single(n: u32) -> Self {
        SequenceSet {
            ranges: vec![SeqRange {
                start: SeqNumber::Value(n),
                end: SeqNumber::Value(n),
            }],
        }
    }

    /// A compact set covering exactly the given numbers (runs become ranges),
    /// as used in `[COPYUID ...]` and `[APPENDUID ...]`. `None` when `numbers` is empty.
    pub fn from_numbers(numbers: &[u32]) -> Option<Self> {
        let mut ranges: Vec<SeqRange> = Vec::new();
        let mut run: Option<(u32, u32)> = None;
        let flush = |ranges: &mut Vec<SeqRange>, (a, b): (u32, u32)| {
            ranges.push(SeqRange {
                start: SeqNumber::Value(a),
                end: SeqNumber::Value(b),
            })
        };
        for &n in numbers {
            run = match run {
                Some((a, b)) if b.checked_add(1) == Some(n) => Some((a, n)),
                Some(r) => {
                    flush(&mut ranges, r);
                    Some((n, n))
                }
                None => Some((n, n)),
            };
        }
        let r = run?;
        flush(&mut ranges, r);
        Some(SequenceSet { ranges })
    }

    /// A set of the given inclusive ranges (low first), e.g. for `VANISHED`. `None` when
    /// `ranges` is empty.
    pub fn from_ranges(ranges: &[(u32, u32)]) -> Option<Self> {
        if ranges.is_empty() {
            return None;
        }
        Some(SequenceSet {
            ranges: ranges
                .iter()
                .map(|&(a, b)| SeqRange {
                    start: SeqNumber::Value(a),
                    end: SeqNumber::Value(b),
                })
                .collect(),
        })
    }

    /// Whether `n` is in the set, with `*` standing for `largest`.
    ///
    /// Per RFC 3501, `*` in an empty mailbox (`largest == 0`) matches nothing.
    pub fn contains(&self, n: u32, largest: u32) -> bool {
        self.ranges.iter().any(|r| {
            let (lo, hi) = r.bounds(largest);
            lo != 0 && lo <= n && n <= hi
        })
    }

    /// The set as sorted, merged, inclusive ranges, clipped to `1..=largest`.
    pub fn normalized(&self, largest: u32) -> Vec<(u32, u32)> {
        let mut out: Vec<(u32, u32)> = self
            .ranges
            .iter()
            .map(|r| r.bounds(largest))
            .filter_map(|(lo, hi)| {
                let hi = hi.min(largest);
                (lo >= 1 && lo <= hi).then_some((lo, hi))
            })
            .collect();
        out.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(out.len());
        for (lo, hi) in out {
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        merged
    }

    /// Every number in the set within `1..=largest`, ascending, without duplicates.
    pub fn iter(&self, largest: u32) -> impl Iterator<Item = u32> {
        self.normalized(largest)
            .into_iter()
            .flat_map(|(lo, hi)| lo..=hi)
    }

    /// Whether the set mentions `*` anywhere.
    pub fn uses_largest(&self) -> bool {
        self.ranges
            .iter()
            .any(|r| r.start == SeqNumber::Largest || r.end == SeqNumber::Largest)
    }
}

fn parse_number(text: &[u8]) -> Result<SeqNumber, SequenceError> {
    match text {
        [] => Err(SequenceError::Empty),
        b"*" => Ok(SeqNumber::Largest),
        digits => parse_nz_number(digits)
            .map(SeqNumber::Value)
            .ok_or(SequenceError::BadNumber),
    }
}

/// Parses an RFC 3501 `nz-number` (1..=4294967295, no leading zero).
pub fn parse_nz_number(digits: &[u8]) -> Option<u32> {
    if digits.first() == Some(&b'0') {
        return None;
    }
    parse_number_u32(digits).filter(|&n| n != 0)
}

/// Parses an RFC 3501 `number` (0..=4294967295).
pub fn parse_number_u32(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || digits.len() > 10 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

impl fmt::Display for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeqNumber::Value(n) => write!(f, "{n}"),
            SeqNumber::Largest => f.write_str("*"),
        }
    }
}

impl fmt::Display for SequenceSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_saved() {
            return f.write_str("$");
        }
        for (i, r) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if r.start == r.end {
                write!(f, "{}", r.start)?;
            } else {
                write!(f, "{}:{}", r.start, r.end)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        for text in ["1", "1:*", "1:*,3,5:7", "*", "7:5", "4294967295", "$"] {
            let set = SequenceSet::parse(text.as_bytes()).unwrap();
            assert_eq!(set.to_string(), text);
        }
    }

    #[test]
    fn parse_rejects() {
        for text in [
            "",
            "0",
            "1,,2",
            "1:",
            ":2",
            "a",
            "01",
            "4294967296",
            "1:0",
            "1 2",
            "-1",
        ] {
            assert!(SequenceSet::parse(text.as_bytes()).is_err(), "{text}");
        }
    }

    #[test]
    fn contains_table() {
        let cases: &[(&str, u32, u32, bool)] = &[
            ("1:*", 5, 10, true),
            ("1:*", 11, 10, false),
            ("3,5:7", 4, 10, false),
            ("3,5:7", 6, 10, true),
            ("7:5", 6, 10, true),
            ("*", 10, 10, true),
            ("*", 9, 10, false),
            ("*", 1, 0, false),
            ("5:*", 3, 3, true), // 5:* with largest 3 means 3:5
        ];
        for &(text, n, largest, want) in cases {
            let set = SequenceSet::parse(text.as_bytes()).unwrap();
            assert_eq!(set.contains(n, largest), want, "{text} {n} {largest}");
        }
    }

    #[test]
    fn normalized_merges_and_clips() {
        let set = SequenceSet::parse(b"9:12,1:3,2:5,7,*").unwrap();
        assert_eq!(set.normalized(10), vec![(1, 5), (7, 7), (9, 10)]);
        assert_eq!(set.iter(4).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
        assert!(set.uses_largest());
    }

    #[test]
    fn huge_ranges_are_cheap() {
        let set = SequenceSet::parse(b"1:4294967295").unwrap();
        assert_eq!(set.normalized(3), vec![(1, 3)]);
        assert!(set.contains(4_000_000_000, 4_294_967_295));
    }

    #[test]
    fn from_numbers_compresses_runs() {
        let set = SequenceSet::from_numbers(&[1, 2, 3, 5, 7, 8]).unwrap();
        assert_eq!(set.to_string(), "1:3,5,7:8");
        assert_eq!(SequenceSet::from_numbers(&[]), None);
        assert_eq!(SequenceSet::single(4).to_string(), "4");
    }
}
