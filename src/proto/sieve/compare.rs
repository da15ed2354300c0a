//! Comparators (RFC 4790 via RFC 5228 §2.7.3) and match types: `:is`, `:contains`, `:matches`
//! (RFC 5228 §2.7.1), `:value`/`:count` (RFC 5231). `:matches` is a linear-time wildcard
//! matcher that also yields the wildcards' text for `${N}` (RFC 5229 §3.2: each `*` as short
//! as the rest of the pattern allows, left to right).

use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Comparator {
    Octet,
    AsciiCasemap,
    AsciiNumeric,
}

impl Comparator {
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "i;octet" => Some(Comparator::Octet),
            "i;ascii-casemap" => Some(Comparator::AsciiCasemap),
            "i;ascii-numeric" => Some(Comparator::AsciiNumeric),
            _ => None,
        }
    }

    fn eq_byte(self, a: u8, b: u8) -> bool {
        match self {
            Comparator::AsciiCasemap => a.eq_ignore_ascii_case(&b),
            _ => a == b,
        }
    }

    /// Ordering of two values under this comparator.
    pub fn order(self, a: &str, b: &str) -> Ordering {
        match self {
            Comparator::Octet => a.as_bytes().cmp(b.as_bytes()),
            Comparator::AsciiCasemap => {
                let x = a.bytes().map(|c| c.to_ascii_lowercase());
                let y = b.bytes().map(|c| c.to_ascii_lowercase());
                x.cmp(y)
            }
            Comparator::AsciiNumeric => numeric(a).cmp(&numeric(b)),
        }
    }
}

/// i;ascii-numeric: the leading digits as a number; no leading digit is positive infinity
/// (`None` sorts last).
fn numeric(s: &str) -> NumKey {
    let digits: &str = s
        .find(|c: char| !c.is_ascii_digit())
        .map_or(s, |end| s.get(..end).unwrap_or_default());
    if digits.is_empty() {
        return NumKey::Infinity;
    }
    let trimmed = digits.trim_start_matches('0');
    NumKey::Finite(trimmed.len(), trimmed.to_string())
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum NumKey {
    /// Digit count then digits: compares as the number without overflow.
    Finite(usize, String),
    Infinity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rel {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Rel {
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "gt" => Rel::Gt,
            "ge" => Rel::Ge,
            "lt" => Rel::Lt,
            "le" => Rel::Le,
            "eq" => Rel::Eq,
            "ne" => Rel::Ne,
            _ => return None,
        })
    }

    pub fn holds(self, o: Ordering) -> bool {
        match self {
            Rel::Gt => o == Ordering::Greater,
            Rel::Ge => o != Ordering::Less,
            Rel::Lt => o == Ordering::Less,
            Rel::Le => o != Ordering::Greater,
            Rel::Eq => o == Ordering::Equal,
            Rel::Ne => o != Ordering::Equal,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MatchKind {
    Is,
    Contains,
    Matches,
    Value(Rel),
    Count(Rel),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Matcher {
    pub cmp: Comparator,
    pub kind: MatchKind,
}

impl Default for Matcher {
    fn default() -> Self {
        Matcher {
            cmp: Comparator::AsciiCasemap,
            kind: MatchKind::Is,
        }
    }
}

impl Matcher {
    /// Whether `value` matches `key` (not for `:count`, which the test counts itself). With
    /// `:matches` and `captures`, a match fills `captures` with `${0}` (the whole value) and
    /// each wildcard's text.
    pub fn matches(&self, value: &str, key: &str, captures: Option<&mut Vec<String>>) -> bool {
        let mut fuel = u64::MAX;
        self.matches_with(value, key, captures, &mut fuel)
    }

    /// [`Matcher::matches`] that spends `fuel` (about one unit per byte compared) and answers
    /// `false` with `fuel` at 0 when it runs out.
    pub fn matches_with(
        &self,
        value: &str,
        key: &str,
        captures: Option<&mut Vec<String>>,
        fuel: &mut u64,
    ) -> bool {
        let base = (value.len() + key.len() + 1) as u64;
        if *fuel < base {
            *fuel = 0;
            return false;
        }
        *fuel -= base;
        match self.kind {
            MatchKind::Is => match self.cmp {
                Comparator::AsciiNumeric => self.cmp.order(value, key) == Ordering::Equal,
                Comparator::Octet => value == key,
                Comparator::AsciiCasemap => value.eq_ignore_ascii_case(key),
            },
            MatchKind::Contains => contains(self.cmp, value.as_bytes(), key.as_bytes()),
            // Match without bookkeeping first; only a match worth capturing pays for spans.
            MatchKind::Matches => match captures {
                None => glob_fast(self.cmp, value.as_bytes(), key.as_bytes(), fuel),
                Some(c) => {
                    glob_fast(self.cmp, value.as_bytes(), key.as_bytes(), fuel)
                        && glob(self.cmp, value, key, Some(c))
                }
            },
            MatchKind::Value(rel) | MatchKind::Count(rel) => rel.holds(self.cmp.order(value, key)),
        }
    }
}

/// Substring search in linear time (memchr's two-way search; ASCII case folded first for
/// `i;ascii-casemap`).
fn contains(cmp: Comparator, hay: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    if needle.len() > hay.len() {
        return false;
    }
    match cmp {
        Comparator::AsciiCasemap => {
            let hay = hay.to_ascii_lowercase();
            let needle = needle.to_ascii_lowercase();
            memchr::memmem::find(&hay, &needle).is_some()
        }
        _ => memchr::memmem::find(hay, needle).is_some(),
    }
}

#[derive(Clone, Copy)]
enum Elem {
    Byte(u8),
    One,
    Star,
}

fn pattern(key: &str) -> Vec<Elem> {
    let mut out = Vec::with_capacity(key.len());
    let mut b = key.bytes();
    while let Some(c) = b.next() {
        out.push(match c {
            b'\\' => Elem::Byte(b.next().unwrap_or(b'\\')),
            b'*' => Elem::Star,
            b'?' => Elem::One,
            c => Elem::Byte(c),
        });
    }
    out
}

/// Length of the UTF-8 character starting at `s[i]` (1 for stray bytes).
fn char_len(s: &[u8], i: usize) -> usize {
    match s.get(i) {
        Some(&b) if b >= 0xF0 => 4,
        Some(&b) if b >= 0xE0 => 3,
        Some(&b) if b >= 0xC0 => 2,
        _ => 1,
    }
    .min(s.len().saturating_sub(i).max(1))
}

/// [`glob`] without captures and without allocating: the key's bytes are the pattern
/// (`\\x` a literal x).
fn glob_fast(cmp: Comparator, t: &[u8], p: &[u8], fuel: &mut u64) -> bool {
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None; // (pattern index after '*', text index)
    loop {
        if *fuel == 0 {
            return false;
        }
        *fuel -= 1;
        match p.get(pi) {
            Some(b'*') => {
                pi += 1;
                star = Some((pi, ti));
                continue;
            }
            Some(b'?') if ti < t.len() => {
                ti += char_len(t, ti);
                pi += 1;
                continue;
            }
            Some(b'?') => {}
            Some(&c) => {
                let (lit, width) = match (c, p.get(pi + 1)) {
                    (b'\\', Some(&next)) => (next, 2),
                    _ => (c, 1),
                };
                if t.get(ti).is_some_and(|&x| cmp.eq_byte(x, lit)) {
                    ti += 1;
                    pi += width;
                    continue;
                }
            }
            None if ti == t.len() => return true,
            None => {}
        }
        match star {
            Some((sp, st)) if st < t.len() => {
                let nt = st + char_len(t, st);
                star = Some((sp, nt));
                pi = sp;
                ti = nt;
            }
            _ => return false,
        }
    }
}

/// Wildcard match in O(len(value) × len(key)) worst case: on a mismatch only the most recent
/// `*` grows, which is enough because any later `*` can absorb what an earlier one would.
fn glob(cmp: Comparator, value: &str, key: &str, captures: Option<&mut Vec<String>>) -> bool {
    let p = pattern(key);
    let t = value.as_bytes();
    // Wildcard spans (start, end) in pattern order; index into by wildcard number.
    let wild_count = p.iter().filter(|e| !matches!(e, Elem::Byte(_))).count();
    let want = captures.is_some();
    let mut spans: Vec<(usize, usize)> = if want {
        vec![(0, 0); wild_count]
    } else {
        Vec::new()
    };
    // Wildcard number at each pattern position.
    let mut wild_no = Vec::with_capacity(if want { p.len() } else { 0 });
    if want {
        let mut n = 0;
        for e in &p {
            wild_no.push(n);
            if !matches!(e, Elem::Byte(_)) {
                n += 1;
            }
        }
    }
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None; // (pattern index of '*', text index it ends at)
    loop {
        match p.get(pi) {
            Some(Elem::Star) => {
                if want {
                    if let Some(s) = wild_no.get(pi).and_then(|&n| spans.get_mut(n)) {
                        *s = (ti, ti);
                    }
                }
                star = Some((pi, ti));
                pi += 1;
                continue;
            }
            Some(Elem::One) if ti < t.len() => {
                let l = char_len(t, ti);
                if want {
                    if let Some(s) = wild_no.get(pi).and_then(|&n| spans.get_mut(n)) {
                        *s = (ti, ti + l);
                    }
                }
                ti += l;
                pi += 1;
                continue;
            }
            Some(Elem::Byte(c)) if t.get(ti).is_some_and(|&x| cmp.eq_byte(x, *c)) => {
                ti += 1;
                pi += 1;
                continue;
            }
            None if ti == t.len() => break,
            _ => {}
        }
        // Mismatch: grow the last '*' by one character and retry after it.
        match star {
            Some((sp, st)) if st < t.len() => {
                let nt = st + char_len(t, st);
                star = Some((sp, nt));
                if want {
                    if let Some(s) = wild_no.get(sp).and_then(|&n| spans.get_mut(n)) {
                        s.1 = nt;
                    }
                }
                pi = sp + 1;
                ti = nt;
            }
            _ => return false,
        }
    }
    if let Some(caps) = captures {
        caps.clear();
        caps.push(value.to_string());
        for (a, b) in spans {
            caps.push(String::from_utf8_lossy(t.get(a..b).unwrap_or_default()).into_owned());
        }
    }
    true
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic
    use super::*;

    fn m(kind: MatchKind, cmp: Comparator) -> Matcher {
        Matcher { cmp, kind }
    }

    #[test]
    fn match_types_table() {
        use Comparator::*;
        use MatchKind::*;
        let cases: &[(MatchKind, Comparator, &str, &str, bool)] = &[
            (Is, AsciiCasemap, "Frobnitz", "frobnitz", true),
            (Is, Octet, "Frobnitz", "frobnitz", false),
            (Contains, AsciiCasemap, "MAKE MONEY FAST", "money", true),
            (Contains, Octet, "MAKE MONEY FAST", "money", false),
            (Contains, Octet, "abc", "", true),
            (Matches, AsciiCasemap, "hello world", "H*D", true),
            (Matches, AsciiCasemap, "hello world", "h?llo*", true),
            (Matches, AsciiCasemap, "hello", "h?llo?", false),
            (Matches, Octet, "a*b", "a\\*b", true),
            (Matches, Octet, "axb", "a\\*b", false),
            (Matches, Octet, "", "*", true),
            (Matches, Octet, "", "?", false),
            (Matches, Octet, "é", "?", true),
            (Matches, Octet, "abcabcabd", "*abd", true),
            (Matches, Octet, "99@x", "?@*", false),
            (Matches, Octet, "9@x", "?@*", true),
            (Matches, AsciiCasemap, "A\\B", "a\\\\b", true),
            (Is, AsciiNumeric, "007", "7", true),
            (Is, AsciiNumeric, "abc", "xyz", true),
            (Value(Rel::Gt), AsciiNumeric, "10", "9", true),
            (Value(Rel::Gt), AsciiCasemap, "10", "9", false),
            (Value(Rel::Lt), AsciiNumeric, "5", "x", true),
            (Value(Rel::Ne), AsciiCasemap, "a", "A", false),
        ];
        for (kind, cmp, value, key, want) in cases {
            assert_eq!(
                m(*kind, *cmp).matches(value, key, None),
                *want,
                "{kind:?} {cmp:?} {value:?} {key:?}"
            );
        }
    }

    #[test]
    fn captures_are_shortest_first() {
        let mut caps = Vec::new();
        let mm = m(MatchKind::Matches, Comparator::AsciiCasemap);
        assert!(mm.matches(
            "[acme-users] [fwd] version 1.0 is out",
            "[*] *",
            Some(&mut caps)
        ));
        assert_eq!(caps[1], "acme-users");
        assert_eq!(caps[2], "[fwd] version 1.0 is out");
        assert!(mm.matches("coyote@example.com", "*@*.?om", Some(&mut caps)));
        assert_eq!(caps, ["coyote@example.com", "coyote", "example", "c"]);
    }

    #[test]
    fn fast_and_capturing_matchers_agree() {
        let values = ["", "a", "abc", "a*c", "aXbXc", "ébé", "x99@y", "??", "a\\b"];
        let keys = [
            "", "*", "?", "a*", "*c", "a?c", "a\\*c", "*b*", "??", "?*?", "x?@*", "a\\\\b",
            "\\?\\?", "é*", "**", "*?*?*",
        ];
        for cmp in [Comparator::Octet, Comparator::AsciiCasemap] {
            for v in values {
                for k in keys {
                    let mut caps = Vec::new();
                    assert_eq!(
                        glob_fast(cmp, v.as_bytes(), k.as_bytes(), &mut u64::MAX.clone()),
                        glob(cmp, v, k, Some(&mut caps)),
                        "{v:?} {k:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn matching_stops_when_the_fuel_runs_out() {
        let value = "a".repeat(10_000);
        let key = format!("{}b", "*a".repeat(100));
        let mm = m(MatchKind::Matches, Comparator::Octet);
        let mut fuel = 15_000;
        assert!(!mm.matches_with(&value, &key, None, &mut fuel));
        assert_eq!(fuel, 0);
        let mut fuel = 1_000_000;
        assert!(mm.matches_with("abc", "a*", None, &mut fuel));
        assert!(fuel > 0);
    }

    #[test]
    fn matching_is_not_exponential() {
        let value = "a".repeat(5000);
        let key = format!("{}b", "*a".repeat(200));
        let mm = m(MatchKind::Matches, Comparator::Octet);
        let start = std::time::Instant::now();
        assert!(!mm.matches(&value, &key, None));
        assert!(start.elapsed().as_secs() < 5);
    }
}
