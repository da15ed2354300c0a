//! postern: a complete mail server for a small organisation, as a Unix toolkit.
pub mod cli;
pub mod config;
pub mod users;
pub mod spool;
pub mod maildir;
pub mod events;
pub mod smtp;
pub mod policy;
pub mod routing;
pub mod net;
pub mod deliver;
pub mod server;
