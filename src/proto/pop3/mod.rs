//! POP3 (RFC 1939, RFC 2449 CAPA and RESP-CODES, RFC 5034 AUTH, RFC 2595 STLS) as a pure
//! state machine: lines in, [`Action`]s out. AUTH runs the shared [`crate::proto::sasl::Exchange`]
//! against [`Backend::credentials`]; the socket loop (`server::pop3`), TLS and the users file
//! stay outside, behind [`Backend`] and the [`Action::StartTls`] seam.

mod authorization;
pub mod command;
pub mod conversation;
pub mod line;
pub mod maildrop;
pub mod session;
pub mod stream;

#[cfg(test)]
mod memory;
#[cfg(test)]
mod tests;

pub use conversation::{Conversation, Note, Turn};
pub use line::{Line, LineReader, MAX_LINE};
pub use maildrop::{Backend, DropMessage, Maildrop, MaildropError, OpenError};
pub use session::{Action, Event, Pop3Config, Session};
pub use stream::MessageStream;
