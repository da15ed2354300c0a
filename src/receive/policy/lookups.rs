//! What a receiving check must look up outside the pure policy — DNS for the spoofed-sender
//! check and SPF, a mailbox's usage for its quota — and what was found.
//!
//! The SMTP core asks for [`Lookups`] (an action of the session); the connection driver runs
//! [`find`] off the async workers with the process's one resolver and hands the [`Found`] facts
//! back, and the policy decides on them. So the policy stays a pure function, and nothing in a
//! session step waits on the network or the disk.

use super::usage::MailboxUsage;
use super::SpoolSpace;
use super::{dnsbl, spf};
use crate::config::rules::Receiving;
use crate::dns::Dns;
pub use crate::proto::smtp::lookups::{Found, Greylisting, Lookups, Rate, SpfQuery, Triplet};
use crate::store::greylist::{Greylist, Verdict};
use crate::store::rates::Rates;

/// Looks up what `lookups` asks (blocking: DNS queries, directory reads).
pub fn find(
    lookups: &Lookups,
    receiving: &Receiving,
    dns: &dyn Dns,
    usage: &dyn MailboxUsage,
    spool: &dyn SpoolSpace,
    greylist: &Greylist,
    rates: &Rates,
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
        dnsbl: lookups.dnsbl.map(|ip| dnsbl::look_up(dns, ip, receiving)),
        greylist: lookups
            .greylist
            .as_ref()
            .map(|t| greylisting(t, receiving, dns, greylist)),
        // A counter that cannot be read or written counts nothing: not a reason to refuse.
        rate: (!lookups.rates.is_empty())
            .then(|| rates.hit(&lookups.rates, crate::queue::spool::now()).ok())
            .flatten()
            .flatten(),
    }
}

/// Greylisting's word on triplet `t`: a client an allowlist names passes without a record.
fn greylisting(t: &Triplet, r: &Receiving, dns: &dyn Dns, greylist: &Greylist) -> Greylisting {
    if dnsbl::allowed(dns, t.ip, r).is_some() {
        return Greylisting::Pass;
    }
    let now = crate::queue::spool::now();
    let times = r.greylisting.times();
    match greylist.check(t.ip, &t.sender, &t.recipient, now, times) {
        Ok(Verdict::New { wait }) => Greylisting::Defer { wait, new: true },
        Ok(Verdict::TooSoon { wait }) => Greylisting::Defer { wait, new: false },
        Ok(Verdict::Passed | Verdict::Known) => Greylisting::Pass,
        Err(_) => Greylisting::Unknown,
    }
}
