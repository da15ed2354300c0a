//! DNS block- and allowlists (RFC 5782) for untrusted clients: the lookups ([`look_up`],
//! blocking, through the [`Dns`] trait) and the verdict on what they found ([`verdict`], pure).
//!
//! A list names an address when its zone has an A record for the reversed address (IPv4
//! octets, IPv6 nibbles) in 127.0.0.0/8. Answers elsewhere are ignored (a misconfigured or
//! hijacked list, or a resolver that rewrites NXDOMAIN), as are 127.255.255.0/24, the codes
//! some lists give to queries they refuse. A lookup that fails is not a listing. A client an
//! allowlist names is not looked up in the blocklists. The blocklists naming a client add their
//! weights; at the threshold it is refused with `554 5.7.1`, naming the list and its reason.

use std::net::{IpAddr, Ipv4Addr};

use crate::config::dnsbl::DnsList;
use crate::config::rules::Receiving;
use crate::dns::{reverse_name, Dns, LookupError};
use crate::proto::smtp::lookups::{Listing, Listings};
use crate::proto::smtp::Reply;

/// Longest list reason quoted in a reply.
const MAX_REASON: usize = 200;

/// The name to look `ip` up under in `zone`.
pub fn query_name(ip: IpAddr, zone: &str) -> String {
    let reversed = reverse_name(ip);
    let reversed = reversed
        .strip_suffix(".in-addr.arpa")
        .or_else(|| reversed.strip_suffix(".ip6.arpa"))
        .unwrap_or(&reversed);
    format!("{reversed}.{}", zone.trim_end_matches('.'))
}

/// Whether `answer` from `list` means "listed".
pub fn counts(list: &DnsList, answer: Ipv4Addr) -> bool {
    if !list.answers.is_empty() {
        return list.answers.contains(&answer);
    }
    let [a, b, c, _] = answer.octets();
    a == 127 && !(b == 255 && c == 255)
}

/// The answer of `list` for `ip`: `Ok(Some(answer))` when listed.
fn ask(dns: &dyn Dns, ip: IpAddr, list: &DnsList) -> Result<Option<Ipv4Addr>, LookupError> {
    match dns.ips(&query_name(ip, &list.zone)) {
        Ok(ips) => Ok(ips.into_iter().find_map(|a| match a {
            IpAddr::V4(v4) if counts(list, v4) => Some(v4),
            _ => None,
        })),
        Err(LookupError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A list's TXT reason, made safe to quote in a reply line.
fn reason(dns: &dyn Dns, ip: IpAddr, zone: &str) -> Option<String> {
    let txt = dns.txt(&query_name(ip, zone)).ok()?.into_iter().next()?;
    let clean: String = txt
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_REASON)
        .collect();
    let clean = clean.trim().to_string();
    (!clean.is_empty()).then_some(clean)
}

/// The allowlist naming `ip`, if one does (blocking: DNS queries); the lists that failed go
/// to `failed`.
fn allowlisted(
    dns: &dyn Dns,
    ip: IpAddr,
    r: &Receiving,
    failed: &mut Vec<String>,
) -> Option<String> {
    for list in &r.dnswl {
        match ask(dns, ip, list) {
            Ok(Some(_)) => return Some(list.zone.clone()),
            Ok(None) => {}
            Err(_) => failed.push(list.zone.clone()),
        }
    }
    None
}

/// The allowlist naming `ip`, if one does (blocking: DNS queries).
pub fn allowed(dns: &dyn Dns, ip: IpAddr, r: &Receiving) -> Option<String> {
    allowlisted(dns, ip, r, &mut Vec::new())
}

/// Looks `ip` up in the configured lists (blocking: DNS queries).
pub fn look_up(dns: &dyn Dns, ip: IpAddr, r: &Receiving) -> Listings {
    let mut found = Listings::default();
    found.allowed_by = allowlisted(dns, ip, r, &mut found.failed);
    if found.allowed_by.is_some() {
        return found;
    }
    for list in &r.dnsbl {
        match ask(dns, ip, list) {
            Ok(Some(answer)) => found.listed.push(Listing {
                zone: list.zone.clone(),
                weight: list.weight,
                answer,
                reason: reason(dns, ip, &list.zone),
            }),
            Ok(None) => {}
            Err(_) => found.failed.push(list.zone.clone()),
        }
    }
    found
}

/// The refusal for a client the lists found as `found`, if their weight reaches `threshold`.
pub fn verdict(ip: IpAddr, threshold: u32, found: &Listings) -> Option<Reply> {
    if found.allowed_by.is_some() {
        return None;
    }
    let weight: u32 = found.listed.iter().map(|l| l.weight).sum();
    if found.listed.is_empty() || weight < threshold {
        return None;
    }
    let first = found.listed.first()?;
    let zones: Vec<&str> = found.listed.iter().map(|l| l.zone.as_str()).collect();
    let mut text = format!(
        "Service unavailable; client [{ip}] blocked using {}",
        zones.join(", ")
    );
    if let Some(why) = &first.reason {
        text.push_str("; ");
        text.push_str(why);
    }
    Some(Reply::new(554, "5.7.1", text))
}

/// Log what the lists said of `ip` (one `dnsbl` event, when a list named it or failed).
pub fn log(ip: IpAddr, threshold: u32, found: &Listings, refused: bool) {
    if found.listed.is_empty() && found.failed.is_empty() && found.allowed_by.is_none() {
        return;
    }
    let listed: Vec<String> = found
        .listed
        .iter()
        .map(|l| format!("{}={}*{}", l.zone, l.answer, l.weight))
        .collect();
    let mut e = crate::events::event("dnsbl")
        .field("ip", ip)
        .field("listed", listed.join(","))
        .field("threshold", threshold)
        .field("action", if refused { "refused" } else { "accepted" });
    if let Some(z) = &found.allowed_by {
        e = e.field("allowed_by", z);
    }
    if !found.failed.is_empty() {
        e = e.field("failed", found.failed.join(","));
    }
    e.emit();
}

#[cfg(test)]
mod tests;
