//! Store: the mail volume (maildirs and their state) and the users file, and the one way files
//! are replaced durably.

pub mod durable;
pub mod greylist;
pub mod keyfile;
pub mod logins;
pub mod maildir;
pub mod ntlm_auth;
pub mod rates;
pub mod sieve;
pub mod slots;
pub mod system;
pub mod users;
pub mod volume_kind;
