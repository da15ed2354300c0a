//! SPF (RFC 7208) `check_host()`, and the seed's spoofed-sender check (the client's IP must be a
//! mail exchanger or address of the sender's domain, or its PTR name, confirmed by A/AAAA, must
//! lie in that domain). Both over the [`Dns`] trait.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::dns::{Dns, LookupError as DnsError};

pub use crate::proto::smtp::lookups::SpfResult;

/// RFC 7208 §4.6.4: at most 10 mechanisms and modifiers that cause DNS queries.
const LOOKUP_LIMIT: usize = 10;
/// RFC 7208 §4.6.4: void lookups allowed.
const VOID_LIMIT: usize = 2;

struct Ctx<'a> {
    dns: &'a dyn Dns,
    ip: IpAddr,
    sender: &'a str,
    helo: &'a str,
    lookups: usize,
    voids: usize,
}

/// Evaluate SPF for `ip` sending as `sender` (empty: `postmaster@helo`) after `helo`.
pub fn check(dns: &dyn Dns, ip: IpAddr, sender: &str, helo: &str) -> SpfResult {
    let sender = if sender.is_empty() {
        format!("postmaster@{helo}")
    } else {
        sender.to_string()
    };
    let Some((_, domain)) = sender.rsplit_once('@') else {
        return SpfResult::None;
    };
    let mut cx = Ctx {
        dns,
        ip,
        sender: &sender,
        helo,
        lookups: 0,
        voids: 0,
    };
    check_host(&mut cx, &domain.to_ascii_lowercase(), 0)
}

fn check_host(cx: &mut Ctx<'_>, domain: &str, depth: usize) -> SpfResult {
    if depth > LOOKUP_LIMIT {
        return SpfResult::PermError;
    }
    let records = match cx.dns.txt(domain) {
        Ok(r) => r,
        Err(DnsError::NotFound) => return SpfResult::None,
        Err(DnsError::Temporary(_)) => return SpfResult::TempError,
    };
    let spf: Vec<&String> = records
        .iter()
        .filter(|r| {
            let l = r.to_ascii_lowercase();
            l == "v=spf1" || l.starts_with("v=spf1 ")
        })
        .collect();
    let record = match spf.as_slice() {
        [] => return SpfResult::None,
        [one] => one.as_str(),
        _ => return SpfResult::PermError,
    };
    let mut redirect = None;
    for term in record.split_ascii_whitespace().skip(1) {
        let (qual, rest) = match term.split_at_checked(1) {
            Some(("+", rest)) => (SpfResult::Pass, rest),
            Some(("-", rest)) => (SpfResult::Fail, rest),
            Some(("~", rest)) => (SpfResult::SoftFail, rest),
            Some(("?", rest)) => (SpfResult::Neutral, rest),
            _ => (SpfResult::Pass, term),
        };
        let name_end = rest.find([':', '/', '=']).unwrap_or(rest.len());
        let name = rest[..name_end].to_ascii_lowercase();
        let arg = &rest[name_end..];
        if let Some(value) = arg.strip_prefix('=') {
            if name == "redirect" {
                redirect = Some(value.to_string());
            }
            continue; // exp= and unknown modifiers are ignored
        }
        let matched = match mechanism(cx, &name, arg, domain, depth) {
            Ok(m) => m,
            Err(r) => return r,
        };
        if matched {
            return qual;
        }
    }
    if let Some(r) = redirect {
        cx.lookups += 1;
        if cx.lookups > LOOKUP_LIMIT {
            return SpfResult::PermError;
        }
        let Some(target) = expand(cx, &r, domain) else {
            return SpfResult::PermError;
        };
        return match check_host(cx, &target, depth + 1) {
            SpfResult::None => SpfResult::PermError,
            other => other,
        };
    }
    SpfResult::Neutral
}

/// Whether one mechanism matches; `Err` ends evaluation with that result.
fn mechanism(
    cx: &mut Ctx<'_>,
    name: &str,
    arg: &str,
    domain: &str,
    depth: usize,
) -> Result<bool, SpfResult> {
    let raw = arg.strip_prefix(':').unwrap_or(arg);
    if name == "ip4" || name == "ip6" {
        let net: IpNet = raw
            .parse()
            .or_else(|_| raw.parse::<IpAddr>().map(IpNet::from))
            .map_err(|_| SpfResult::PermError)?;
        return Ok(net.contains(&cx.ip));
    }
    let (spec, cidr4, cidr6) = split_cidr(raw)?;
    let target = |cx: &Ctx<'_>| -> Result<String, SpfResult> {
        if spec.is_empty() {
            Ok(domain.to_string())
        } else {
            expand(cx, spec, domain).ok_or(SpfResult::PermError)
        }
    };
    if matches!(name, "include" | "a" | "mx" | "ptr" | "exists") {
        cx.lookups += 1;
        if cx.lookups > LOOKUP_LIMIT {
            return Err(SpfResult::PermError);
        }
    }
    match name {
        "all" => Ok(true),
        "include" => match check_host(cx, &target(cx)?, depth + 1) {
            SpfResult::Pass => Ok(true),
            SpfResult::Fail | SpfResult::SoftFail | SpfResult::Neutral => Ok(false),
            SpfResult::TempError => Err(SpfResult::TempError),
            SpfResult::PermError | SpfResult::None => Err(SpfResult::PermError),
        },
        "a" => {
            let t = target(cx)?;
            let ips = lookup(cx, cx.dns.ips(&t))?;
            Ok(in_nets(cx.ip, &ips, cidr4, cidr6))
        }
        "mx" => {
            let t = target(cx)?;
            let hosts = lookup(cx, cx.dns.mx(&t))?;
            for h in hosts.iter().take(10) {
                let ips = lookup(cx, cx.dns.ips(h))?;
                if in_nets(cx.ip, &ips, cidr4, cidr6) {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        "ptr" => ptr_in_domain(cx.dns, cx.ip, &target(cx)?).map_err(|_| SpfResult::TempError),
        "exists" => {
            let t = target(cx)?;
            let ips = lookup(cx, cx.dns.ips(&t))?;
            Ok(ips.iter().any(IpAddr::is_ipv4))
        }
        _ => Err(SpfResult::PermError),
    }
}

/// A lookup inside SPF: not found is empty (and counts as void), temporary failure ends with
/// TempError.
fn lookup<T>(cx: &mut Ctx<'_>, r: Result<Vec<T>, DnsError>) -> Result<Vec<T>, SpfResult> {
    match r {
        Ok(v) if !v.is_empty() => Ok(v),
        Ok(_) | Err(DnsError::NotFound) => {
            cx.voids += 1;
            if cx.voids > VOID_LIMIT {
                return Err(SpfResult::PermError);
            }
            Ok(Vec::new())
        }
        Err(DnsError::Temporary(_)) => Err(SpfResult::TempError),
    }
}

/// `domain-spec/24//64` → (domain-spec, v4 prefix, v6 prefix).
fn split_cidr(arg: &str) -> Result<(&str, u8, u8), SpfResult> {
    let bad = |_| SpfResult::PermError;
    let (rest, v6) = match arg.split_once("//") {
        Some((s, p)) => (s, p.parse().map_err(bad)?),
        None => (arg, 128),
    };
    let (spec, v4) = match rest.split_once('/') {
        Some((s, p)) => (s, p.parse().map_err(bad)?),
        None => (rest, 32),
    };
    if v4 > 32 || v6 > 128 {
        return Err(SpfResult::PermError);
    }
    Ok((spec, v4, v6))
}

fn in_nets(ip: IpAddr, ips: &[IpAddr], v4: u8, v6: u8) -> bool {
    ips.iter().any(|a| {
        let prefix = if a.is_ipv4() { v4 } else { v6 };
        a.is_ipv4() == ip.is_ipv4() && IpNet::new(*a, prefix).is_ok_and(|n| n.trunc().contains(&ip))
    })
}

/// RFC 7208 §7 macros (the letters s l o d i h, the `r` and digit transformers, delimiters).
fn expand(cx: &Ctx<'_>, spec: &str, domain: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = spec.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            '%' => out.push('%'),
            '_' => out.push(' '),
            '-' => out.push_str("%20"),
            '{' => {
                let body: String = chars.by_ref().take_while(|&c| c != '}').collect();
                let mut b = body.chars();
                let letter = b.next()?.to_ascii_lowercase();
                let rest: String = b.collect();
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                let after = &rest[digits.len()..];
                let reverse = after.starts_with(['r', 'R']);
                let delims = if reverse { &after[1..] } else { after };
                let (local, sdom) = cx
                    .sender
                    .rsplit_once('@')
                    .unwrap_or(("postmaster", cx.sender));
                let value = match letter {
                    's' => cx.sender.to_string(),
                    'l' => local.to_string(),
                    'o' => sdom.to_string(),
                    'd' => domain.to_string(),
                    'h' => cx.helo.to_string(),
                    'i' => match cx.ip {
                        IpAddr::V4(v4) => v4.to_string(),
                        IpAddr::V6(v6) => v6
                            .octets()
                            .iter()
                            .flat_map(|b| [b >> 4, b & 0xf])
                            .map(|n| format!("{n:x}"))
                            .collect::<Vec<_>>()
                            .join("."),
                    },
                    'v' => if cx.ip.is_ipv4() { "in-addr" } else { "ip6" }.to_string(),
                    _ => return None,
                };
                let delims: Vec<char> = if delims.is_empty() {
                    vec!['.']
                } else {
                    delims.chars().collect()
                };
                let mut parts: Vec<&str> = value.split(|c| delims.contains(&c)).collect();
                if reverse {
                    parts.reverse();
                }
                if let Ok(n) = digits.parse::<usize>() {
                    if n == 0 {
                        return None;
                    }
                    let skip = parts.len().saturating_sub(n);
                    parts.drain(..skip);
                }
                out.push_str(&parts.join("."));
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Whether `ip` has a PTR name inside `domain` that resolves back to `ip` (forward-confirmed).
pub fn ptr_in_domain(dns: &dyn Dns, ip: IpAddr, domain: &str) -> Result<bool, DnsError> {
    let names = match dns.ptr(ip) {
        Ok(n) => n,
        Err(DnsError::NotFound) => return Ok(false),
        Err(e) => return Err(e),
    };
    let domain = domain.to_ascii_lowercase();
    for n in names.iter().take(10) {
        let inside = *n == domain || n.ends_with(&format!(".{domain}"));
        if inside && resolves_to(dns, n, ip)? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn resolves_to(dns: &dyn Dns, name: &str, ip: IpAddr) -> Result<bool, DnsError> {
    match dns.ips(name) {
        Ok(ips) => Ok(ips.contains(&ip)),
        Err(DnsError::NotFound) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The seed's spoofed-sender check: `ip` is one of the domain's MX hosts or addresses, or its
/// PTR name (confirmed by A/AAAA) lies in the domain.
pub fn ip_belongs_to(dns: &dyn Dns, ip: IpAddr, domain: &str) -> Result<bool, DnsError> {
    let mxs = match dns.mx(domain) {
        Ok(m) => m,
        Err(DnsError::NotFound) => Vec::new(),
        Err(e) => return Err(e),
    };
    for mx in mxs.iter().take(10) {
        if resolves_to(dns, mx, ip)? {
            return Ok(true);
        }
    }
    if resolves_to(dns, domain, ip)? {
        return Ok(true);
    }
    ptr_in_domain(dns, ip, domain)
}

#[cfg(test)]
pub(crate) mod tests;
