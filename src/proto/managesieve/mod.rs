//! ManageSieve (RFC 5804) as a pure state machine: bytes in, [`Action`]s out. Users list,
//! upload, check, activate, download, rename and delete their Sieve scripts. Logins run the
//! shared [`crate::proto::sasl::Exchange`] with the same mechanisms and availability rules as
//! IMAP; STARTTLS is the driver's, behind [`Action::StartTls`]; the scripts are behind
//! [`Backend`] (the mail volume in `access::managesieve`), which also validates a script.

pub mod parser;
pub mod session;

#[cfg(test)]
mod tests;

pub use parser::{Arg, Item, Reader};
pub use session::{Action, Backend, Event, ManageSieveConfig, Session, StoreFailure};
