//! What a receiving check must look up outside the pure policy — DNS for the spoofed-sender
//! check and SPF, a mailbox's usage for its quota — and what was found.
//!
//! The SMTP core asks for [`Lookups`] (an action of the session); the connection driver runs
//! [`find`] off the async workers with the process's one resolver and hands the [`Found`] facts
//! back, and the policy decides on them. So the policy stays a pure function, and nothing in a
//! session step waits on the network or the disk.

use std::net::IpAddr;

use super::spf::{self, SpfResult};
use super::usage::MailboxUsage;
use super::SpoolSpace;
use crate::dns::{Dns, LookupError};

/// The SPF question: `ip` sending as `sender` after `helo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpfQuery {
    pub ip: IpAddr,
    pub sender: String,
    pub helo: String,
}

/// What to look up before a command can be answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lookups {
    /// Is this address a mail server of this domain (the spoofed-sender check)?
    pub spoof: Option<(IpAddr, String)>,
    /// SPF's verdict.
    pub spf: Option<SpfQuery>,
    /// The bytes this user's mailbox holds (its quota).
    pub usage: Option<String>,
    /// The free space of the spool's file system (`limits.spool_reserve`).
    pub spool_space: bool,
}

impl Lookups {
    /// Nothing to look up: the command is answered at once.
    pub fn is_empty(&self) -> bool {
        self.spoof.is_none() && self.spf.is_none() && self.usage.is_none() && !self.spool_space
    }
}

/// What was found; a lookup that was not asked for is `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    pub spoof: Option<Result<bool, LookupError>>,
    pub spf: Option<SpfResult>,
    /// `Some(None)`: asked, but the usage could not be read (the quota is then not enforced).
    pub usage: Option<Option<u64>>,
    /// Bytes the spool's file system can still take, when asked and known.
    pub spool_space: Option<u64>,
}

/// Looks up what `lookups` asks (blocking: DNS queries, directory reads).
pub fn find(
    lookups: &Lookups,
    dns: &dyn Dns,
    usage: &dyn MailboxUsage,
    spool: &dyn SpoolSpace,
) -> Found {
    Found {
        spoof: lookups
            .spoof
            .as_ref()
            .map(|(ip, domain)| spf::ip_belongs_to(dns, *ip, domain)),
        spf: lookups
            .spf
            .as_ref()
            .map(|q| spf::check(dns, q.ip, &q.sender, &q.helo)),
        usage: lookups.usage.as_ref().map(|user| usage.bytes(user)),
        spool_space: lookups.spool_space.then(|| spool.available()).flatten(),
    }
}
