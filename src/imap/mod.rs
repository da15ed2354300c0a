//! IMAP4rev1 protocol core (RFC 3501 plus the extensions real clients use),
//! free of I/O: command grammar and assembly, response encoding, mailbox names,
//! message structure (ENVELOPE, BODYSTRUCTURE, sections), FETCH rendering and
//! SEARCH evaluation. The session state machine builds on these types.

pub mod assembler;
pub mod bodystructure;
pub mod command;
pub mod datetime;
pub mod envelope;
pub mod fetch;
pub mod flag;
pub mod mailbox_name;
pub mod message;
pub mod parser;
pub mod response;
pub mod search;
pub mod section;
pub mod sequence;

/// Capabilities this protocol core supports, for `CAPABILITY` and the greeting.
/// The session adds `STARTTLS`, `AUTH=...` and `LOGINDISABLED` as its state requires.
pub const CAPABILITIES: &[&str] = &[
    "IMAP4rev1",
    "LITERAL+",
    "SASL-IR",
    "ID",
    "IDLE",
    "NAMESPACE",
    "ENABLE",
    "UNSELECT",
    "UIDPLUS",
    "MOVE",
    "CHILDREN",
    "LIST-EXTENDED",
    "LIST-STATUS",
    "SPECIAL-USE",
    "CREATE-SPECIAL-USE",
    "CONDSTORE",
    "STATUS=SIZE",
];
