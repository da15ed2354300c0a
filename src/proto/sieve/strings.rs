//! Strings with variable references (RFC 5229 §3): `${name}`, `${N}` match variables, expanded
//! at run time; set modifiers.

use super::ast::Modifier;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    Lit(String),
    /// A variable name, lowercased (names are case-insensitive).
    Var(String),
    /// A match variable `${N}`.
    Match(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    pub parts: Vec<Part>,
}

impl Template {
    pub fn literal(s: String) -> Self {
        Template {
            parts: vec![Part::Lit(s)],
        }
    }

    /// The text when the template has no variable references.
    pub fn as_literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Lit(s)] => Some(s),
            _ => None,
        }
    }

    /// Split `s` into literal text and `${…}` references. A `${…}` that is not a valid name is
    /// left as text (RFC 5229 §3).
    pub fn parse(s: &str) -> Self {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = s;
        while let Some(at) = rest.find("${") {
            let (before, after) = rest.split_at(at);
            lit.push_str(before);
            let inner = after.get(2..).unwrap_or_default();
            match inner.find('}') {
                Some(end) => {
                    let name = inner.get(..end).unwrap_or_default();
                    if let Some(part) = reference(name) {
                        if !lit.is_empty() {
                            parts.push(Part::Lit(std::mem::take(&mut lit)));
                        }
                        parts.push(part);
                        rest = inner.get(end + 1..).unwrap_or_default();
                    } else {
                        lit.push('$');
                        rest = after.get(1..).unwrap_or_default();
                    }
                }
                None => {
                    lit.push_str(after);
                    rest = "";
                }
            }
        }
        lit.push_str(rest);
        if !lit.is_empty() || parts.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Template { parts }
    }
}

fn reference(name: &str) -> Option<Part> {
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
        return name.parse::<usize>().ok().map(Part::Match);
    }
    let valid = name.split('.').all(|seg| {
        let mut b = seg.bytes();
        matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
            && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
    });
    valid.then(|| Part::Var(name.to_ascii_lowercase()))
}

/// Whether `name` may be `set` (an identifier, no namespace).
pub(crate) fn valid_variable_name(name: &str) -> bool {
    let mut b = name.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Apply set modifiers in RFC 5229 §4.1 precedence order (the list is already sorted).
pub(crate) fn apply_modifiers(mut v: String, mods: &[Modifier]) -> String {
    for m in mods {
        v = match m {
            Modifier::Lower => v.to_lowercase(),
            Modifier::Upper => v.to_uppercase(),
            Modifier::LowerFirst => first_char(&v, false),
            Modifier::UpperFirst => first_char(&v, true),
            Modifier::QuoteWildcard => {
                let mut o = String::with_capacity(v.len());
                for c in v.chars() {
                    if matches!(c, '*' | '?' | '\\') {
                        o.push('\\');
                    }
                    o.push(c);
                }
                o
            }
            Modifier::Length => v.chars().count().to_string(),
        };
    }
    v
}

fn first_char(v: &str, upper: bool) -> String {
    let mut chars = v.chars();
    match chars.next() {
        Some(c) => {
            let mut o: String = if upper {
                c.to_uppercase().collect()
            } else {
                c.to_lowercase().collect()
            };
            o.push_str(chars.as_str());
            o
        }
        None => String::new(),
    }
}

/// Precedence of a modifier: higher applies first (RFC 5229 §4.1: 40 lower/upper, 30
/// lowerfirst/upperfirst, 20 quotewildcard, 10 length).
pub(crate) fn precedence(m: Modifier) -> u8 {
    match m {
        Modifier::Lower | Modifier::Upper => 40,
        Modifier::LowerFirst | Modifier::UpperFirst => 30,
        Modifier::QuoteWildcard => 20,
        Modifier::Length => 10,
    }
}
