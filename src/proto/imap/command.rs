//! IMAP commands as types: what a client asked for, already parsed and checked
//! against the grammar (RFC 3501 plus IDLE, UIDPLUS, MOVE, LITERAL+, NAMESPACE,
//! ENABLE, ID, UNSELECT, CONDSTORE, SPECIAL-USE / LIST-EXTENDED).

use super::datetime::{Date, DateTime};
use super::fetch::FetchAttribute;
use super::flag::Flag;
use super::search::SearchKey;
use super::sequence::SequenceSet;
use super::sort::SortCriterion;
use super::thread::Algorithm;

/// The QRESYNC parameter of SELECT/EXAMINE (RFC 7162 §3.2.5): what the client last knew.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QresyncParams {
    /// The mailbox's UIDVALIDITY then.
    pub uidvalidity: u32,
    /// Its HIGHESTMODSEQ then.
    pub modseq: u64,
    /// The UIDs the client knows (changes are reported for these only); all when absent.
    pub known_uids: Option<SequenceSet>,
    /// Sequence numbers and the UIDs they had (`seq-match-data`; accepted, not needed).
    pub seq_match: Option<(SequenceSet, SequenceSet)>,
}

/// One complete client command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The client's tag, echoed in the tagged response.
    pub tag: String,
    /// What the client asked for.
    pub kind: CommandKind,
}

/// A mailbox name exactly as the client sent it (modified UTF-7, `/` delimited);
/// validate and map it with [`super::mailbox_name::MailboxName`].
pub type MailboxArg = String;

/// One further message of a MULTIAPPEND (RFC 3502).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendMessage {
    /// Flags to set.
    pub flags: Vec<Flag>,
    /// Internal date to set.
    pub internal_date: Option<DateTime>,
    /// The message bytes (empty when `catenate` builds it).
    pub message: Vec<u8>,
    /// CATENATE (RFC 4469): the parts the message is made of, in order.
    pub catenate: Option<Vec<CatPart>>,
}

/// One part of a CATENATE (RFC 4469).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatPart {
    /// `TEXT literal`: these bytes.
    Text(Vec<u8>),
    /// `URL "..."`: (a section of) a message of the user's mailboxes (RFC 5092).
    Url(String),
}

/// A `SEARCH RETURN` option (RFC 4731 ESEARCH, RFC 5182 SEARCHRES).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchReturn {
    /// `MIN`: the lowest matching number.
    Min,
    /// `MAX`: the highest.
    Max,
    /// `ALL`: every match, as a sequence set.
    All,
    /// `COUNT`: how many.
    Count,
    /// `SAVE`: keep the result as `$`.
    Save,
    /// `UPDATE` (RFC 5267 §4.3): keep the search and report changes to its result.
    Update,
    /// `CONTEXT` (RFC 5267 §4.2): a hint, ignored.
    Context,
    /// `PARTIAL low:high` (RFC 5267 §4.4): the results at these positions (1-based, in
    /// mailbox order, or sort order for SORT), `low <= high`.
    Partial(u32, u32),
}

impl SearchReturn {
    /// The option named `word` (upper case), if any.
    pub fn parse(word: &str) -> Option<SearchReturn> {
        Some(match word {
            "MIN" => SearchReturn::Min,
            "MAX" => SearchReturn::Max,
            "ALL" => SearchReturn::All,
            "COUNT" => SearchReturn::Count,
            "SAVE" => SearchReturn::Save,
            "UPDATE" => SearchReturn::Update,
            "CONTEXT" => SearchReturn::Context,
            _ => return None,
        })
    }
}

/// Every command the server understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandKind {
    /// `CAPABILITY`
    Capability,
    /// `NOOP`
    Noop,
    /// `LOGOUT`
    Logout,
    /// `STARTTLS`
    StartTls,
    /// `AUTHENTICATE mech [initial-response]` (SASL-IR); the response is the raw
    /// base64 text (`=` for an empty one), decoded by the SASL layer.
    Authenticate {
        /// Mechanism name, upper-cased.
        mechanism: String,
        /// SASL-IR initial response as sent.
        initial_response: Option<String>,
    },
    /// `LOGIN user password`
    Login {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// `SELECT mailbox [(CONDSTORE | QRESYNC (...))]`
    Select {
        /// Mailbox name.
        mailbox: MailboxArg,
        /// `(CONDSTORE)` select parameter given.
        condstore: bool,
        /// `(QRESYNC (...))` select parameter given.
        qresync: Option<QresyncParams>,
    },
    /// `EXAMINE mailbox [(CONDSTORE | QRESYNC (...))]`
    Examine {
        /// Mailbox name.
        mailbox: MailboxArg,
        /// `(CONDSTORE)` select parameter given.
        condstore: bool,
        /// `(QRESYNC (...))` select parameter given.
        qresync: Option<QresyncParams>,
    },
    /// `CREATE mailbox [(USE (\Sent ...))]`
    Create {
        /// Mailbox name.
        mailbox: MailboxArg,
        /// RFC 6154 CREATE-SPECIAL-USE attributes (`\Sent`...), without backslash.
        special_use: Vec<String>,
    },
    /// `DELETE mailbox`
    Delete {
        /// Mailbox name.
        mailbox: MailboxArg,
    },
    /// `RENAME from to`
    Rename {
        /// Existing name.
        from: MailboxArg,
        /// New name.
        to: MailboxArg,
    },
    /// `SUBSCRIBE mailbox`
    Subscribe {
        /// Mailbox name.
        mailbox: MailboxArg,
    },
    /// `UNSUBSCRIBE mailbox`
    Unsubscribe {
        /// Mailbox name.
        mailbox: MailboxArg,
    },
    /// `LIST [(select-opts)] reference (pattern | (patterns)) [RETURN (opts)]`
    List {
        /// Reference name.
        reference: MailboxArg,
        /// One or more patterns (with `%` / `*`).
        patterns: Vec<MailboxArg>,
        /// RFC 5258 selection options.
        select: Vec<ListSelectOption>,
        /// RFC 5258 return options.
        returns: Vec<ListReturnOption>,
    },
    /// `LSUB reference pattern`
    Lsub {
        /// Reference name.
        reference: MailboxArg,
        /// Pattern.
        pattern: MailboxArg,
    },
    /// `STATUS mailbox (items)`
    Status {
        /// Mailbox name.
        mailbox: MailboxArg,
        /// Requested items, in order.
        items: Vec<StatusItem>,
    },
    /// `APPEND mailbox [(flags)] [date-time] literal`
    Append {
        /// Target mailbox.
        mailbox: MailboxArg,
        /// Flags to set.
        flags: Vec<Flag>,
        /// Internal date to set.
        internal_date: Option<DateTime>,
        /// The message bytes.
        message: Vec<u8>,
        /// CATENATE (RFC 4469): the parts the first message is made of (`message` is empty).
        catenate: Option<Vec<CatPart>>,
        /// MULTIAPPEND (RFC 3502): the further messages of the same APPEND, all added or none.
        more: Vec<AppendMessage>,
    },
    /// `IDLE` (the session then waits for a `DONE` line).
    Idle,
    /// `NAMESPACE`
    Namespace,
    /// `ENABLE cap...` (capability names upper-cased)
    Enable(Vec<String>),
    /// `ID NIL` or `ID ("key" "value" ...)`
    Id(Option<Vec<(String, Option<String>)>>),
    /// `CHECK`
    Check,
    /// `CLOSE`
    Close,
    /// `UNSELECT`
    Unselect,
    /// `CANCELUPDATE "tag"...` (RFC 5267 §4.3.5)
    CancelUpdate(Vec<String>),
    /// `EXPUNGE`, or `UID EXPUNGE set` when `uids` is given.
    Expunge {
        /// RFC 4315 UID EXPUNGE set.
        uids: Option<SequenceSet>,
    },
    /// `[UID] SEARCH [CHARSET x] keys`
    Search {
        /// UID variant.
        uid: bool,
        /// Charset if given (validated: UTF-8 or US-ASCII).
        charset: Option<String>,
        /// The search program (an implicit AND of keys).
        criteria: SearchKey,
        /// ESEARCH `RETURN (...)` options (RFC 4731, 5182); `None` for a plain SEARCH.
        returns: Option<Vec<SearchReturn>>,
    },
    /// `[UID] FETCH set attrs [(CHANGEDSINCE n)]`
    Fetch {
        /// UID variant.
        uid: bool,
        /// Messages.
        set: SequenceSet,
        /// Attributes with macros expanded (UID is added by the session for UID FETCH).
        attributes: Vec<FetchAttribute>,
        /// CONDSTORE `CHANGEDSINCE` modifier (implies MODSEQ in the response).
        changed_since: Option<u64>,
        /// QRESYNC `VANISHED` modifier (UID FETCH with CHANGEDSINCE only).
        vanished: bool,
    },
    /// `[UID] STORE set [(UNCHANGEDSINCE n)] [+-]FLAGS[.SILENT] flags`
    Store {
        /// UID variant.
        uid: bool,
        /// Messages.
        set: SequenceSet,
        /// CONDSTORE precondition.
        unchanged_since: Option<u64>,
        /// Replace, add or remove.
        mode: StoreMode,
        /// `.SILENT`: no untagged FETCH for the change.
        silent: bool,
        /// The flags.
        flags: Vec<Flag>,
    },
    /// `[UID] COPY set mailbox`
    Copy {
        /// UID variant.
        uid: bool,
        /// Messages.
        set: SequenceSet,
        /// Target mailbox.
        mailbox: MailboxArg,
    },
    /// `[UID] MOVE set mailbox` (RFC 6851)
    Move {
        /// UID variant.
        uid: bool,
        /// Messages.
        set: SequenceSet,
        /// Target mailbox.
        mailbox: MailboxArg,
    },
    /// `[UID] SORT (criteria) charset search-keys` (RFC 5256, RFC 5957)
    Sort {
        /// UID variant.
        uid: bool,
        /// The sort criteria, most significant first.
        criteria: Vec<SortCriterion>,
        /// Which messages.
        search: SearchKey,
        /// `RETURN (…)` (RFC 5267 ESORT, CONTEXT=SORT): answered by `* ESEARCH`.
        returns: Option<Vec<SearchReturn>>,
    },
    /// `[UID] THREAD algorithm charset search-keys` (RFC 5256)
    Thread {
        /// UID variant.
        uid: bool,
        /// ORDEREDSUBJECT or REFERENCES.
        algorithm: Algorithm,
        /// Which messages.
        search: SearchKey,
    },
    /// `COMPRESS mechanism` (RFC 4978)
    Compress {
        /// The mechanism (upper case); only DEFLATE is known.
        mechanism: String,
    },
    /// `GETQUOTA root` (RFC 9208 §4.2)
    GetQuota {
        /// The quota root.
        root: String,
    },
    /// `GETQUOTAROOT mailbox` (RFC 9208 §4.3)
    GetQuotaRoot {
        /// The mailbox whose quota roots are asked for.
        mailbox: MailboxArg,
    },
    /// `SETQUOTA root (resource limit ...)` (RFC 9208 §4.1)
    SetQuota {
        /// The quota root.
        root: String,
        /// Resource names (upper case) and limits.
        limits: Vec<(String, u64)>,
    },
}

impl CommandKind {
    /// The command's name as a client would write it (for logs and replies).
    pub fn name(&self) -> &'static str {
        match self {
            CommandKind::Capability => "CAPABILITY",
            CommandKind::Noop => "NOOP",
            CommandKind::Logout => "LOGOUT",
            CommandKind::StartTls => "STARTTLS",
            CommandKind::Authenticate { .. } => "AUTHENTICATE",
            CommandKind::Login { .. } => "LOGIN",
            CommandKind::Select { .. } => "SELECT",
            CommandKind::Examine { .. } => "EXAMINE",
            CommandKind::Create { .. } => "CREATE",
            CommandKind::Delete { .. } => "DELETE",
            CommandKind::Rename { .. } => "RENAME",
            CommandKind::Subscribe { .. } => "SUBSCRIBE",
            CommandKind::Unsubscribe { .. } => "UNSUBSCRIBE",
            CommandKind::List { .. } => "LIST",
            CommandKind::Lsub { .. } => "LSUB",
            CommandKind::Status { .. } => "STATUS",
            CommandKind::Append { .. } => "APPEND",
            CommandKind::Idle => "IDLE",
            CommandKind::Namespace => "NAMESPACE",
            CommandKind::Enable(_) => "ENABLE",
            CommandKind::Id(_) => "ID",
            CommandKind::Check => "CHECK",
            CommandKind::Close => "CLOSE",
            CommandKind::Unselect => "UNSELECT",
            CommandKind::CancelUpdate(_) => "CANCELUPDATE",
            CommandKind::Expunge { .. } => "EXPUNGE",
            CommandKind::Search { .. } => "SEARCH",
            CommandKind::Fetch { .. } => "FETCH",
            CommandKind::Store { .. } => "STORE",
            CommandKind::Copy { .. } => "COPY",
            CommandKind::Move { .. } => "MOVE",
            CommandKind::Sort { .. } => "SORT",
            CommandKind::Thread { .. } => "THREAD",
            CommandKind::Compress { .. } => "COMPRESS",
            CommandKind::GetQuota { .. } => "GETQUOTA",
            CommandKind::GetQuotaRoot { .. } => "GETQUOTAROOT",
            CommandKind::SetQuota { .. } => "SETQUOTA",
        }
    }

    /// Whether the command is a CONDSTORE enabling command (RFC 7162 §3.1) other than
    /// SELECT/EXAMINE (CONDSTORE) and ENABLE: STATUS (HIGHESTMODSEQ), FETCH with MODSEQ or
    /// CHANGEDSINCE, SEARCH with MODSEQ, STORE with UNCHANGEDSINCE.
    pub fn enables_condstore(&self) -> bool {
        match self {
            CommandKind::Status { items, .. } => items.contains(&StatusItem::HighestModSeq),
            CommandKind::Fetch {
                attributes,
                changed_since,
                ..
            } => changed_since.is_some() || attributes.contains(&FetchAttribute::ModSeq),
            CommandKind::Search { criteria, .. }
            | CommandKind::Sort {
                search: criteria, ..
            }
            | CommandKind::Thread {
                search: criteria, ..
            } => criteria.uses_modseq(),
            CommandKind::Store {
                unchanged_since, ..
            } => unchanged_since.is_some(),
            _ => false,
        }
    }

    /// The RFC 3501 state the command needs (the session checks it).
    pub fn required_state(&self) -> RequiredState {
        use CommandKind::*;
        match self {
            Capability | Noop | Logout | Id(_) => RequiredState::Any,
            StartTls | Authenticate { .. } | Login { .. } => RequiredState::NotAuthenticated,
            Select { .. }
            | Examine { .. }
            | Create { .. }
            | Delete { .. }
            | Rename { .. }
            | Subscribe { .. }
            | Unsubscribe { .. }
            | List { .. }
            | Lsub { .. }
            | Status { .. }
            | Append { .. }
            | Idle
            | Namespace
            | Enable(_)
            | Compress { .. }
            | GetQuota { .. }
            | GetQuotaRoot { .. }
            | SetQuota { .. } => RequiredState::Authenticated,
            Check
            | Close
            | Unselect
            | CancelUpdate(_)
            | Expunge { .. }
            | Search { .. }
            | Sort { .. }
            | Thread { .. }
            | Fetch { .. }
            | Store { .. }
            | Copy { .. }
            | Move { .. } => RequiredState::Selected,
        }
    }
}

/// The connection state a command is valid in (authenticated includes selected).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequiredState {
    /// Any state.
    Any,
    /// Before authentication only.
    NotAuthenticated,
    /// Authenticated or selected.
    Authenticated,
    /// A mailbox must be selected.
    Selected,
}

/// How STORE combines the given flags with the message's flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    /// `FLAGS`
    Replace,
    /// `+FLAGS`
    Add,
    /// `-FLAGS`
    Remove,
}

/// A STATUS data item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusItem {
    /// `MESSAGES`
    Messages,
    /// `RECENT`
    Recent,
    /// `UIDNEXT`
    UidNext,
    /// `UIDVALIDITY`
    UidValidity,
    /// `UNSEEN`
    Unseen,
    /// `HIGHESTMODSEQ` (CONDSTORE)
    HighestModSeq,
    /// `SIZE` (RFC 8438 / IMAP4rev2)
    Size,
    /// `DELETED` (IMAP4rev2)
    Deleted,
}

impl StatusItem {
    /// Wire name.
    pub fn name(self) -> &'static str {
        match self {
            StatusItem::Messages => "MESSAGES",
            StatusItem::Recent => "RECENT",
            StatusItem::UidNext => "UIDNEXT",
            StatusItem::UidValidity => "UIDVALIDITY",
            StatusItem::Unseen => "UNSEEN",
            StatusItem::HighestModSeq => "HIGHESTMODSEQ",
            StatusItem::Size => "SIZE",
            StatusItem::Deleted => "DELETED",
        }
    }
}

/// RFC 5258 LIST selection options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListSelectOption {
    /// `SUBSCRIBED`
    Subscribed,
    /// `REMOTE`
    Remote,
    /// `RECURSIVEMATCH`
    RecursiveMatch,
    /// `SPECIAL-USE` (RFC 6154)
    SpecialUse,
}

/// RFC 5258 LIST return options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListReturnOption {
    /// `SUBSCRIBED`
    Subscribed,
    /// `CHILDREN`
    Children,
    /// `SPECIAL-USE`
    SpecialUse,
    /// `STATUS (items)` (RFC 5819)
    Status(Vec<StatusItem>),
}

/// A date used by search keys (re-exported here for command users).
pub type SearchDate = Date;
