//! postern: a complete mail server for a small organisation, as a Unix toolkit.

pub mod cert;
pub mod cli;
pub mod collect;
pub mod config;
pub mod deliver;
pub mod dns;
pub mod durable;
pub mod events;
pub mod filter;
pub mod freespace;
pub mod imap;
pub mod intake;
pub mod mail;
pub mod maildir;
pub mod net;
pub mod policy;
pub mod pop3;
pub mod routing;
pub mod sasl;
pub mod secret;
pub mod sendmail;
pub mod server;
pub mod smtp;
pub mod spool;
pub mod tls;
pub mod users;
