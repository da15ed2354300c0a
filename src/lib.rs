//! postern: a complete mail server for a small organisation, as a Unix toolkit.

pub mod access;
pub mod acme;
pub mod cert;
pub mod cli;
pub mod config;
pub mod dns;
pub mod driver;
pub mod events;
pub mod freespace;
pub mod intake;
pub mod mailauth;
pub mod proto;
pub mod queue;
pub mod receive;
pub mod store;
