//! What the SMTP core asks the driver to find before a MAIL or RCPT can be answered — DNS for
//! the spoofed-sender check and SPF, a mailbox's usage for its quota, the spool's free space —
//! and what was found. Plain data: the driver finds it (see `receive::policy::lookups::find`),
//! the policy decides on it.

use std::net::{IpAddr, Ipv4Addr};

/// RFC 7208 §2.6 results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpfResult {
    None,
    Neutral,
    Pass,
    Fail,
    SoftFail,
    TempError,
    PermError,
}

/// A DNS lookup that gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// NXDOMAIN or no records of that type.
    #[error("no such record")]
    NotFound,
    /// SERVFAIL, timeout: the question may have an answer later.
    #[error("DNS lookup failed: {0}")]
    Temporary(String),
}

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
    /// This client address in the DNS block- and allowlists.
    pub dnsbl: Option<IpAddr>,
    /// Greylisting's word on this triplet.
    pub greylist: Option<Triplet>,
    /// Rate counters to count this command against (host-wide, per minute).
    pub rates: Vec<Rate>,
}

/// A per-minute counter: its key (`"messages from 192.0.2.1"`) and its limit (0: none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rate {
    pub key: String,
    pub limit: u32,
}

/// A counter over its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateOver {
    pub key: String,
    pub limit: u32,
    pub count: u32,
    /// Seconds until the minute ends.
    pub retry: u64,
}

/// A greylisting triplet: the client's address, the sender and one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Triplet {
    pub ip: IpAddr,
    pub sender: String,
    pub recipient: String,
}

/// Greylisting's word on a triplet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Greylisting {
    /// Known, or passing now, or allowlisted.
    Pass,
    /// Deferred: come back in this many seconds.
    Defer { wait: u64, new: bool },
    /// The state could not be read or written: not a reason to defer.
    Unknown,
}

impl Lookups {
    /// Nothing to look up: the command is answered at once.
    pub fn is_empty(&self) -> bool {
        self.spoof.is_none()
            && self.spf.is_none()
            && self.usage.is_none()
            && !self.spool_space
            && self.dnsbl.is_none()
            && self.greylist.is_none()
            && self.rates.is_empty()
    }
}

/// One DNS list naming the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub zone: String,
    pub weight: u32,
    /// The list's answer (127.0.0.x).
    pub answer: Ipv4Addr,
    /// The list's TXT record for the address, if it has one (trimmed, printable).
    pub reason: Option<String>,
}

/// What the DNS lists say of a client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listings {
    /// The allowlist naming it (then the blocklists were not asked).
    pub allowed_by: Option<String>,
    /// The blocklists naming it.
    pub listed: Vec<Listing>,
    /// Lists that could not be asked (a failed lookup is not a listing).
    pub failed: Vec<String>,
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
    /// The DNS lists' answers, when asked.
    pub dnsbl: Option<Listings>,
    /// Greylisting's word, when asked.
    pub greylist: Option<Greylisting>,
    /// The first rate counter over its limit, when one is.
    pub rate: Option<RateOver>,
}
