//! Message flags as maildir stores them: upper-case letters after `:2,` for the standard
//! flags, lower-case letters `a`–`z` for keywords through a per-mailbox keyword table.

use std::collections::BTreeSet;

use super::error::{MaildirError, Result};

/// The standard maildir flags (the IMAP system flags plus maildir's "passed").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flag {
    /// `D`: IMAP `\Draft`.
    Draft,
    /// `F`: IMAP `\Flagged`.
    Flagged,
    /// `P`: passed (resent/forwarded); no IMAP system flag.
    Passed,
    /// `R`: replied, IMAP `\Answered`.
    Answered,
    /// `S`: IMAP `\Seen`.
    Seen,
    /// `T`: trashed, IMAP `\Deleted`.
    Deleted,
}

impl Flag {
    /// All flags, in maildir letter order.
    pub const ALL: [Flag; 6] = [
        Flag::Draft,
        Flag::Flagged,
        Flag::Passed,
        Flag::Answered,
        Flag::Seen,
        Flag::Deleted,
    ];

    /// The maildir info letter of this flag.
    pub fn letter(self) -> char {
        match self {
            Flag::Draft => 'D',
            Flag::Flagged => 'F',
            Flag::Passed => 'P',
            Flag::Answered => 'R',
            Flag::Seen => 'S',
            Flag::Deleted => 'T',
        }
    }

    /// The IMAP name of this flag, when it has one.
    pub fn imap_name(self) -> Option<&'static str> {
        match self {
            Flag::Draft => Some("\\Draft"),
            Flag::Flagged => Some("\\Flagged"),
            Flag::Passed => None,
            Flag::Answered => Some("\\Answered"),
            Flag::Seen => Some("\\Seen"),
            Flag::Deleted => Some("\\Deleted"),
        }
    }

    fn bit(self) -> u32 {
        1 << (self.letter() as u32 - 'A' as u32)
    }
}

/// The flags of one message: upper-case maildir letters (standard flags, and any other
/// upper-case letter another tool set, kept as is) plus keywords by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Flags {
    letters: u32,
    keywords: BTreeSet<String>,
}

impl Flags {
    /// No flags.
    pub fn new() -> Self {
        Flags::default()
    }

    /// Flags from a list of standard flags.
    pub fn from_flags(flags: &[Flag]) -> Self {
        let mut f = Flags::new();
        for flag in flags {
            f.insert(*flag);
        }
        f
    }

    /// Whether a standard flag is set.
    pub fn contains(&self, flag: Flag) -> bool {
        self.letters & flag.bit() != 0
    }

    /// Sets a standard flag.
    pub fn insert(&mut self, flag: Flag) {
        self.letters |= flag.bit();
    }

    /// Clears a standard flag.
    pub fn remove(&mut self, flag: Flag) {
        self.letters &= !flag.bit();
    }

    /// The keywords set on the message.
    pub fn keywords(&self) -> impl Iterator<Item = &str> {
        self.keywords.iter().map(String::as_str)
    }

    /// Whether a keyword is set.
    pub fn has_keyword(&self, keyword: &str) -> bool {
        self.keywords.contains(keyword)
    }

    /// Sets a keyword (validated: 1–100 printable ASCII bytes, no space, no specials
    /// `(){%*"\]`).
    pub fn insert_keyword(&mut self, keyword: &str) -> Result<()> {
        if !valid_keyword(keyword) {
            return Err(MaildirError::InvalidKeyword(keyword.to_string()));
        }
        self.keywords.insert(keyword.to_string());
        Ok(())
    }

    /// Clears a keyword.
    pub fn remove_keyword(&mut self, keyword: &str) {
        self.keywords.remove(keyword);
    }

    /// Adds every flag and keyword of `other`.
    pub fn union(&mut self, other: &Flags) {
        self.letters |= other.letters;
        self.keywords.extend(other.keywords.iter().cloned());
    }

    /// Removes every flag and keyword of `other`.
    pub fn subtract(&mut self, other: &Flags) {
        self.letters &= !other.letters;
        for k in &other.keywords {
            self.keywords.remove(k);
        }
    }

    /// The IMAP flag names: system flags first, then keywords.
    pub fn imap_names(&self) -> Vec<String> {
        let mut out: Vec<String> = Flag::ALL
            .iter()
            .filter(|f| self.contains(**f))
            .filter_map(|f| f.imap_name().map(str::to_string))
            .collect();
        out.extend(self.keywords.iter().cloned());
        out
    }

    /// Parses the letters after `2,` in a maildir info; lower-case letters are looked up in
    /// `table` (index 0 = `a`), letters without a keyword are ignored.
    pub fn from_info_letters(letters: &str, table: &[String]) -> Self {
        let mut f = Flags::new();
        for c in letters.chars() {
            if c.is_ascii_uppercase() {
                f.letters |= 1 << (c as u32 - 'A' as u32);
            } else if c.is_ascii_lowercase() {
                let idx = (c as u8 - b'a') as usize;
                if let Some(k) = table.get(idx) {
                    f.keywords.insert(k.clone());
                }
            }
        }
        f
    }

    /// The maildir info letters for these flags, in ASCII order as the maildir spec requires.
    /// New keywords are appended to `table`; fails when more than 26 would be needed.
    pub fn to_info_letters(&self, table: &mut Vec<String>) -> Result<String> {
        let mut out = String::new();
        for i in 0..26u32 {
            if self.letters & (1 << i) != 0 {
                out.push((b'A' + i as u8) as char);
            }
        }
        let mut lower = Vec::new();
        for k in &self.keywords {
            let idx = match table.iter().position(|t| t == k) {
                Some(i) => i,
                None => {
                    if table.len() >= 26 {
                        return Err(MaildirError::TooManyKeywords);
                    }
                    table.push(k.clone());
                    table.len() - 1
                }
            };
            lower.push((b'a' + idx as u8) as char);
        }
        lower.sort_unstable();
        out.extend(lower);
        Ok(out)
    }
}

/// Whether a keyword can be stored and later sent as an IMAP atom.
pub fn valid_keyword(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 100
        && !k.starts_with('\\')
        && k.bytes()
            .all(|b| b.is_ascii_graphic() && !b"(){%*\"\\]".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_round_trip() {
        let cases: &[(&str, &[Flag], &str)] = &[
            ("", &[], ""),
            ("S", &[Flag::Seen], "S"),
            (
                "TSRFD",
                &[
                    Flag::Draft,
                    Flag::Flagged,
                    Flag::Answered,
                    Flag::Seen,
                    Flag::Deleted,
                ],
                "DFRST",
            ),
            ("PS", &[Flag::Passed, Flag::Seen], "PS"),
        ];
        for (input, flags, canon) in cases {
            let mut table = Vec::new();
            let f = Flags::from_info_letters(input, &table);
            for flag in Flag::ALL {
                assert_eq!(f.contains(flag), flags.contains(&flag), "{input} {flag:?}");
            }
            assert_eq!(f.to_info_letters(&mut table).unwrap(), *canon);
        }
    }

    #[test]
    fn unknown_upper_letters_are_kept() {
        let f = Flags::from_info_letters("XS", &[]);
        assert_eq!(f.to_info_letters(&mut Vec::new()).unwrap(), "SX");
    }

    #[test]
    fn keywords_use_table() {
        let mut table = vec!["$Junk".to_string()];
        let f = Flags::from_info_letters("Sab", &table);
        assert!(f.has_keyword("$Junk"));
        assert_eq!(f.keywords().count(), 1, "unknown letter b ignored");
        let mut g = f.clone();
        g.insert_keyword("Work").unwrap();
        assert_eq!(g.to_info_letters(&mut table).unwrap(), "Sab");
        assert_eq!(table, vec!["$Junk".to_string(), "Work".to_string()]);
    }

    #[test]
    fn keyword_table_full() {
        let mut table: Vec<String> = (0..26).map(|i| format!("k{i}")).collect();
        let mut f = Flags::new();
        f.insert_keyword("another").unwrap();
        assert!(matches!(
            f.to_info_letters(&mut table),
            Err(MaildirError::TooManyKeywords)
        ));
    }

    #[test]
    fn keyword_validation() {
        for (k, ok) in [
            ("$Junk", true),
            ("", false),
            ("a b", false),
            ("\\Seen", false),
            ("x(", false),
            ("é", false),
        ] {
            assert_eq!(valid_keyword(k), ok, "{k:?}");
        }
    }

    #[test]
    fn imap_names_order() {
        let mut f = Flags::from_flags(&[Flag::Seen, Flag::Passed, Flag::Draft]);
        f.insert_keyword("$Forwarded").unwrap();
        assert_eq!(f.imap_names(), vec!["\\Draft", "\\Seen", "$Forwarded"]);
    }

    #[test]
    fn union_and_subtract() {
        let mut f = Flags::from_flags(&[Flag::Seen]);
        f.union(&Flags::from_flags(&[Flag::Deleted]));
        assert!(f.contains(Flag::Seen) && f.contains(Flag::Deleted));
        f.subtract(&Flags::from_flags(&[Flag::Seen]));
        assert!(!f.contains(Flag::Seen) && f.contains(Flag::Deleted));
    }
}
