//! Maildirs on the mail volume: delivery, and the mailbox state shared by popd and imapd.

pub mod deliver;
