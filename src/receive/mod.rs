//! Receive: every way mail comes in before the intake takes it — the SMTP core on the
//! connection driver with the receiving policy (trust, relay, rules, bans, SPF), collection from
//! remote POP3 accounts, and local submission (`sendmail`).

pub mod collect;
pub mod maildrop;
pub mod policy;
pub mod sendmail;
pub mod smtp;
