//! Message flags (RFC 3501 §2.3.2).

use std::fmt;

/// A message flag: a system flag or a keyword.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Flag {
    /// `\Seen`
    Seen,
    /// `\Answered`
    Answered,
    /// `\Flagged`
    Flagged,
    /// `\Deleted`
    Deleted,
    /// `\Draft`
    Draft,
    /// `\Recent` (session flag; never stored by a client)
    Recent,
    /// Another backslash flag (`\Foo`), kept without the backslash.
    Extension(String),
    /// A keyword (`$Forwarded`, `NonJunk`, ...), case as first seen.
    Keyword(String),
}

impl Flag {
    /// Parses a flag as written on the wire (`\Seen`, `$Junk`); `None` when it is
    /// not a valid `flag` (empty, `\` alone, or characters outside `atom`).
    pub fn parse(text: &str) -> Option<Flag> {
        if let Some(name) = text.strip_prefix('\\') {
            if name.is_empty() || !name.bytes().all(is_atom_char) {
                return None;
            }
            let flag = match name.to_ascii_lowercase().as_str() {
                "seen" => Flag::Seen,
                "answered" => Flag::Answered,
                "flagged" => Flag::Flagged,
                "deleted" => Flag::Deleted,
                "draft" => Flag::Draft,
                "recent" => Flag::Recent,
                _ => Flag::Extension(name.to_string()),
            };
            Some(flag)
        } else if !text.is_empty() && text.bytes().all(is_atom_char) {
            Some(Flag::Keyword(text.to_string()))
        } else {
            None
        }
    }

    /// Whether this is `\Recent`, which clients may not store.
    pub fn is_recent(&self) -> bool {
        matches!(self, Flag::Recent)
    }

    /// Case-insensitive equality (keywords compare case-insensitively).
    pub fn matches(&self, other: &Flag) -> bool {
        match (self, other) {
            (Flag::Keyword(a), Flag::Keyword(b)) | (Flag::Extension(a), Flag::Extension(b)) => {
                a.eq_ignore_ascii_case(b)
            }
            _ => self == other,
        }
    }
}

/// RFC 3501 `ATOM-CHAR`: any CHAR except atom-specials.
pub fn is_atom_char(b: u8) -> bool {
    b > b' ' && b < 0x7f && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Flag::Seen => f.write_str("\\Seen"),
            Flag::Answered => f.write_str("\\Answered"),
            Flag::Flagged => f.write_str("\\Flagged"),
            Flag::Deleted => f.write_str("\\Deleted"),
            Flag::Draft => f.write_str("\\Draft"),
            Flag::Recent => f.write_str("\\Recent"),
            Flag::Extension(name) => write!(f, "\\{name}"),
            Flag::Keyword(name) => f.write_str(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let cases: &[(&str, Option<Flag>)] = &[
            ("\\Seen", Some(Flag::Seen)),
            ("\\SEEN", Some(Flag::Seen)),
            ("\\answered", Some(Flag::Answered)),
            ("\\Flagged", Some(Flag::Flagged)),
            ("\\Deleted", Some(Flag::Deleted)),
            ("\\Draft", Some(Flag::Draft)),
            ("\\Recent", Some(Flag::Recent)),
            ("\\Foo", Some(Flag::Extension("Foo".into()))),
            ("$Forwarded", Some(Flag::Keyword("$Forwarded".into()))),
            ("\\", None),
            ("", None),
            ("a b", None),
            ("a]", None),
            ("\\*", None),
        ];
        for (text, want) in cases {
            assert_eq!(&Flag::parse(text), want, "{text}");
        }
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "\\Seen",
            "\\Answered",
            "\\Flagged",
            "\\Deleted",
            "\\Draft",
            "\\Recent",
            "\\X",
            "$Junk",
        ] {
            assert_eq!(Flag::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn keywords_match_case_insensitively() {
        let a = Flag::Keyword("$Junk".into());
        assert!(a.matches(&Flag::Keyword("$JUNK".into())));
        assert!(!a.matches(&Flag::Keyword("$Junk2".into())));
        assert!(!a.matches(&Flag::Seen));
    }
}
