//! The vocabulary of Internet mail that the SMTP server, the SMTP client, the queue and the
//! delivery reports share: replies (RFC 5321 §4.2), enhanced status codes (RFC 3463), what became
//! of one recipient (the per-recipient fields of RFC 3464 §2.3) and dates (RFC 5322 §3.3).
//! Plain data and formatting, no I/O.

pub mod date;
pub mod outcome;
pub mod reply;
pub mod status;

pub use outcome::{Outcome, RemoteMta};
pub use reply::Reply;
pub use status::{Class, Status};
