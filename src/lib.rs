//! postern: a complete mail server for a small organisation, as a Unix toolkit.
pub mod cert;
pub mod cli;
pub mod sasl;
pub mod tls;
