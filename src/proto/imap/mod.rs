//! IMAP4rev1 protocol core (RFC 3501 plus the extensions real clients use),
//! free of I/O: command grammar and assembly, response encoding, mailbox names,
//! message structure (ENVELOPE, BODYSTRUCTURE, sections), FETCH rendering and
//! SEARCH evaluation. The session state machine builds on these types:
//!
//! ```text
//! socket bytes ─▶ assembler::CommandAssembler::push/poll
//!                   ├ NeedLiteral → accept_literal() + response::continuation("Ready")
//!                   │               or reject_literal() + response::tagged(.., Status::No, ..)
//!                   ├ Error(e)    → response::tagged(tag, Bad | No [BADCHARSET], ..)
//!                   └ Command     → check command.kind.required_state(), then:
//!   mailbox args   → mailbox_name::MailboxName::parse (parse_for_create for CREATE)
//!                    → .to_maildir_folder() for the maildir layer
//!   FETCH          → fetch::render_fetch(seq, attrs, &view) per message, after
//!                    setting \Seen when fetch::sets_seen(attrs) and the mailbox is writable
//!   SEARCH         → search::matches(&criteria, SearchContext{..}, &view) per message
//!   IDLE / AUTHENTICATE lines → CommandAssembler::next_line
//! ```

// No panics on what a client or a file supplies: production code here neither unwraps nor
// indexes (tests may).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod assembler;
pub mod bodystructure;
pub mod command;
pub mod datetime;
pub mod envelope;
pub mod fetch;
pub mod flag;
pub mod imap_url;
pub mod mailbox_name;
pub mod message;
pub mod parser;
pub mod response;
pub mod search;
pub mod section;
pub mod sequence;
pub mod session;
pub mod sort;
pub mod store;
pub mod thread;

/// Capabilities this protocol core supports, for `CAPABILITY` and the greeting.
/// The session adds `STARTTLS`, `AUTH=...` and `LOGINDISABLED` as its state requires.
pub const CAPABILITIES: &[&str] = &[
    "IMAP4rev1",
    "IMAP4rev2",
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
    "QRESYNC",
    "STATUS=SIZE",
    "QUOTA",
    "QUOTA=RES-STORAGE",
    "SORT",
    "SORT=DISPLAY",
    "THREAD=ORDEREDSUBJECT",
    "THREAD=REFERENCES",
    "ESEARCH",
    "SEARCHRES",
    "ESORT",
    "CONTEXT=SEARCH",
    "CONTEXT=SORT",
    "MULTIAPPEND",
    "BINARY",
    "CATENATE",
];
