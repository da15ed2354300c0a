//! SMTP: the server session (pure) and its parts.

pub mod address;
mod auth;
pub mod command;
pub mod data;
pub mod lineends;
pub mod lookups;
pub mod received;
pub mod session;
pub mod xtext;

// The reply type lives in `crate::proto::mail` (the SMTP client and DSNs use it too); re-exported
// for the SMTP core's callers.
pub use crate::proto::mail::Reply;
pub use session::{Action, Client, Policy, Refusals, Session, SessionConfig, Step, Transaction};
