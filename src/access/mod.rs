//! Access: the mailboxes as POP3 and IMAP clients see them — the POP3 and IMAP cores put on the
//! connection driver, and the stores they read the mail volume through.

pub mod imap;
pub mod managesieve;
pub mod pop3;
