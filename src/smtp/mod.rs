//! SMTP: the server session (pure) and its parts.

pub mod address;
mod auth;
pub mod command;
pub mod data;
pub mod lineends;
pub mod received;
pub mod reply;
pub mod session;
pub mod xtext;

pub use reply::Reply;
pub use session::{Action, Client, Policy, Refusals, Session, SessionConfig, Step, Transaction};
