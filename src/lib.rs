//! postern: a complete mail server for a small organisation, as a Unix toolkit.
pub mod cli;
pub mod imap;
