//! The typed script tree `validate` builds and `eval` runs.

use super::compare::Matcher;
use super::strings::Template;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AddrPart {
    All,
    Local,
    Domain,
    User,
    Detail,
}

/// `:index n [:last]` (RFC 5260 §6): 1-based field position, counted from the end with `last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Index {
    pub n: u64,
    pub last: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Zone {
    /// The local zone (the environment's offset).
    Local,
    /// `:zone "+hhmm"`, in minutes east.
    Fixed(i32),
    /// `:originalzone`.
    Original,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyTransform {
    Raw,
    Text,
    Content,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlagOp {
    Set,
    Add,
    Remove,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DupId {
    MessageId,
    Header(Template),
    UniqueId(Template),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Modifier {
    Lower,
    Upper,
    LowerFirst,
    UpperFirst,
    QuoteWildcard,
    Length,
}

#[derive(Debug, Clone)]
pub(crate) enum Test {
    True,
    False,
    Not(Box<Test>),
    AllOf(Vec<Test>),
    AnyOf(Vec<Test>),
    Address {
        m: Matcher,
        part: AddrPart,
        index: Option<Index>,
        headers: Vec<Template>,
        keys: Vec<Template>,
    },
    Envelope {
        m: Matcher,
        part: AddrPart,
        parts: Vec<Template>,
        keys: Vec<Template>,
    },
    Header {
        m: Matcher,
        index: Option<Index>,
        headers: Vec<Template>,
        keys: Vec<Template>,
    },
    Exists(Vec<Template>),
    Size {
        over: bool,
        limit: u64,
    },
    Body {
        m: Matcher,
        transform: BodyTransform,
        content_types: Vec<Template>,
        keys: Vec<Template>,
    },
    Date {
        m: Matcher,
        zone: Zone,
        index: Option<Index>,
        header: Template,
        part: Template,
        keys: Vec<Template>,
    },
    CurrentDate {
        m: Matcher,
        zone: Zone,
        part: Template,
        keys: Vec<Template>,
    },
    String {
        m: Matcher,
        sources: Vec<Template>,
        keys: Vec<Template>,
    },
    HasFlag {
        m: Matcher,
        vars: Option<Vec<Template>>,
        keys: Vec<Template>,
    },
    Spam {
        m: Matcher,
        percent: bool,
        key: Template,
    },
    Duplicate {
        handle: Option<Template>,
        id: DupId,
        seconds: Option<u64>,
        last: bool,
    },
    MailboxExists(Vec<Template>),
}

#[derive(Debug, Clone)]
pub(crate) struct VacationCmd {
    pub seconds: Option<u64>,
    pub subject: Option<Template>,
    pub from: Option<Template>,
    pub addresses: Vec<Template>,
    pub mime: bool,
    pub handle: Option<Template>,
    pub reason: Template,
}

#[derive(Debug, Clone)]
pub(crate) enum Command {
    If {
        branches: Vec<(Test, Vec<Command>)>,
        otherwise: Option<Vec<Command>>,
    },
    Stop,
    Return,
    Keep {
        flags: Option<Vec<Template>>,
    },
    Discard,
    FileInto {
        mailbox: Template,
        flags: Option<Vec<Template>>,
        create: bool,
        copy: bool,
    },
    Redirect {
        address: Template,
        copy: bool,
    },
    Reject {
        reason: Template,
        extended: bool,
    },
    Set {
        name: String,
        value: Template,
        modifiers: Vec<Modifier>,
    },
    Flags {
        op: FlagOp,
        var: Option<Template>,
        flags: Vec<Template>,
    },
    Vacation(Box<VacationCmd>),
    AddHeader {
        name: Template,
        value: Template,
        last: bool,
    },
    DeleteHeader {
        index: Option<Index>,
        m: Matcher,
        name: Template,
        values: Option<Vec<Template>>,
    },
    Include {
        global: bool,
        once: bool,
        optional: bool,
        name: Template,
    },
    Global(Vec<String>),
}
