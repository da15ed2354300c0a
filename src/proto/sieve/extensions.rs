//! The Sieve extensions this interpreter knows, and the set a deployment enables.

/// One extension (or comparator) a script may `require`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extension {
    FileInto,
    Envelope,
    EncodedCharacter,
    Mailbox,
    Reject,
    Ereject,
    Variables,
    Imap4Flags,
    Body,
    Relational,
    Subaddress,
    Copy,
    Date,
    Index,
    Vacation,
    VacationSeconds,
    EditHeader,
    SpamTest,
    SpamTestPlus,
    Duplicate,
    Include,
    AsciiNumeric,
}

const ALL: [Extension; 22] = [
    Extension::FileInto,
    Extension::Envelope,
    Extension::EncodedCharacter,
    Extension::Mailbox,
    Extension::Reject,
    Extension::Ereject,
    Extension::Variables,
    Extension::Imap4Flags,
    Extension::Body,
    Extension::Relational,
    Extension::Subaddress,
    Extension::Copy,
    Extension::Date,
    Extension::Index,
    Extension::Vacation,
    Extension::VacationSeconds,
    Extension::EditHeader,
    Extension::SpamTest,
    Extension::SpamTestPlus,
    Extension::Duplicate,
    Extension::Include,
    Extension::AsciiNumeric,
];

impl Extension {
    /// The name a script `require`s.
    pub fn name(self) -> &'static str {
        match self {
            Extension::FileInto => "fileinto",
            Extension::Envelope => "envelope",
            Extension::EncodedCharacter => "encoded-character",
            Extension::Mailbox => "mailbox",
            Extension::Reject => "reject",
            Extension::Ereject => "ereject",
            Extension::Variables => "variables",
            Extension::Imap4Flags => "imap4flags",
            Extension::Body => "body",
            Extension::Relational => "relational",
            Extension::Subaddress => "subaddress",
            Extension::Copy => "copy",
            Extension::Date => "date",
            Extension::Index => "index",
            Extension::Vacation => "vacation",
            Extension::VacationSeconds => "vacation-seconds",
            Extension::EditHeader => "editheader",
            Extension::SpamTest => "spamtest",
            Extension::SpamTestPlus => "spamtestplus",
            Extension::Duplicate => "duplicate",
            Extension::Include => "include",
            Extension::AsciiNumeric => "comparator-i;ascii-numeric",
        }
    }

    /// The extension named `name` (as in `require`), if known.
    pub fn from_name(name: &str) -> Option<Extension> {
        ALL.iter().copied().find(|e| e.name() == name)
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// A set of extensions: those a deployment enables, or those a script requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Extensions {
    bits: u32,
}

impl Extensions {
    /// Every extension this interpreter implements.
    pub fn all() -> Self {
        let mut e = Extensions::none();
        for x in ALL {
            e.insert(x);
        }
        e
    }

    /// No extension: the RFC 5228 base language only.
    pub fn none() -> Self {
        Extensions { bits: 0 }
    }

    /// Parse a space- or comma-separated list of extension names; `Err` names an unknown one.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut e = Extensions::none();
        for name in list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
        {
            e.insert(Extension::from_name(name).ok_or_else(|| name.to_string())?);
        }
        Ok(e)
    }

    pub fn insert(&mut self, x: Extension) {
        self.bits |= x.bit();
    }

    pub fn remove(&mut self, x: Extension) {
        self.bits &= !x.bit();
    }

    pub fn contains(&self, x: Extension) -> bool {
        self.bits & x.bit() != 0
    }

    /// The enabled extensions in a fixed order.
    pub fn iter(&self) -> impl Iterator<Item = Extension> + '_ {
        ALL.iter().copied().filter(|x| self.contains(*x))
    }

    /// Space-separated names, as ManageSieve's `SIEVE` capability lists them (comparators
    /// included as `comparator-…`).
    pub fn capability_string(&self) -> String {
        self.iter()
            .map(Extension::name)
            .collect::<Vec<_>>()
            .join(" ")
    }
}
