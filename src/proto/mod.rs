//! The protocol cores: SMTP, POP3 and IMAP sessions, the SASL exchanges and the mail
//! vocabulary they share (replies, status codes, outcomes, dates). Bytes in, replies and actions
//! out: nothing here touches a socket, a file, the clock's sleep, DNS or TLS — `build.rs` refuses
//! to build the crate when a file under `src/proto` names tokio, hickory, rustls, `std::fs`,
//! `std::net` sockets or a process, or reaches into the rest of the server (the IMAP core's one
//! allowance: the mailbox vocabulary of `store::maildir`, behind its store trait).

pub mod imap;
pub mod mail;
pub mod managesieve;
pub mod milter;
pub mod pop3;
pub mod sasl;
pub mod secret;
pub mod sieve;
pub mod smtp;
