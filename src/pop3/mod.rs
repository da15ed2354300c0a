//! POP3 (RFC 1939, RFC 2449 CAPA and RESP-CODES, RFC 5034 AUTH, RFC 2595 STLS) as a pure
//! state machine: lines in, [`Action`]s out. The socket loop, TLS, SASL mechanisms and the
//! users file stay outside, behind [`Backend`] and the `Action::StartTls` /
//! `Action::Authenticate` seams.

pub mod command;
pub mod line;
pub mod maildir_drop;
pub mod maildrop;
pub mod session;
pub mod stream;

#[cfg(test)]
mod memory;
#[cfg(test)]
mod tests;

pub use line::{Line, LineReader, MAX_LINE};
pub use maildir_drop::MaildirMaildrop;
pub use maildrop::{Backend, DropMessage, Maildrop, MaildropError, OpenError};
pub use session::{apop_banner, Action, Availability, Event, Pop3Config, Session};
pub use stream::MessageStream;
