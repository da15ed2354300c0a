//! Store: the mail volume (maildirs and their state) and the users file, and the one way files
//! are replaced durably.

pub mod durable;
pub mod greylist;
pub mod maildir;
pub mod ntlm_auth;
pub mod rates;
pub mod system;
pub mod users;
