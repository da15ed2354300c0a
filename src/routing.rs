//! Routing: where mail for a recipient goes, decided from the config and the users file alone
//! (SPEC §2, seed 000 "Domains & Email Handlers").
//!
//! A pure function: no I/O. smtpd uses it at RCPT time, deliver at delivery time, collect and
//! sendmail alike. The order of decisions for `local@domain`:
//!
//! 1. a domain that is not configured here is not ours ([`NoRoute::NotOurs`]: relay rules decide);
//! 2. an address handler for `local` overrides everything: its mailbox, its forward address
//!    (optionally through a named server), or — with neither — the domain default below;
//! 3. with `accept_unhandled = false`, addresses without a handler are refused (postmaster of a
//!    domain hosted here excepted, RFC 5321 §4.5.1);
//! 4. `redirect` sends everything else to one mailbox or address ("instead of");
//! 5. hosted here: the mail-enabled user of that name; hosted elsewhere: forwarded as it is.

use crate::config::domains::Handler;
use crate::config::{Config, Domain, Hosting};
use crate::users::Users;

/// Forwards to an address in a domain of ours are routed again, this many times at most.
const MAX_DEPTH: usize = 8;

/// Where a recipient's mail goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Into this user's maildir.
    Local { user: String },
    /// To another server, for this address; `server` names a `[[remote.server]]` chosen by a
    /// handler or the domain (else the gateway or MX).
    Remote {
        address: String,
        domain: String,
        server: Option<String>,
    },
}

/// Why there is no route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoRoute {
    /// A domain hosted here has no such mailbox (or the address has no handler and the domain
    /// accepts only handled addresses).
    NoSuchUser,
    /// The domain is not ours: only senders allowed to relay may send to it.
    NotOurs { domain: String },
    /// The address has no domain part.
    Malformed,
    /// Handlers forward to each other in a circle.
    Loop,
}

/// How the route was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A handler's mailbox or forward address.
    Handler,
    /// The domain's redirect-all.
    Redirect,
    /// The domain's default: the user's own mailbox, or forwarding to the remote server.
    Default,
}

/// A route, with the handler that applies to the address (for its restrictions and copy-to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed<'a> {
    pub route: Route,
    pub handler: Option<&'a Handler>,
    pub via: Via,
}

/// Route one recipient address.
pub fn route(config: &Config, users: &Users, address: &str) -> Result<Route, NoRoute> {
    resolve(config, users, address).map(|r| r.route)
}

/// Route one recipient address, keeping the handler that applied.
pub fn resolve<'a>(
    config: &'a Config,
    users: &Users,
    address: &str,
) -> Result<Routed<'a>, NoRoute> {
    resolve_at(config, users, address, 0)
}

fn resolve_at<'a>(
    config: &'a Config,
    users: &Users,
    address: &str,
    depth: usize,
) -> Result<Routed<'a>, NoRoute> {
    if depth > MAX_DEPTH {
        return Err(NoRoute::Loop);
    }
    let (local, domain) = split(address).ok_or(NoRoute::Malformed)?;
    let Some(d) = config.domain(domain) else {
        return Err(NoRoute::NotOurs {
            domain: domain.to_ascii_lowercase(),
        });
    };
    if let Some(h) = d
        .handlers
        .iter()
        .find(|h| h.local.eq_ignore_ascii_case(local))
    {
        let (route, via) = if let Some(m) = &h.mailbox {
            (local_user(users, m)?, Via::Handler)
        } else if let Some(f) = &h.forward {
            (
                target(config, users, f, h.server.as_deref(), depth)?,
                Via::Handler,
            )
        } else {
            domain_default(config, users, d, local, address, depth)?
        };
        return Ok(Routed {
            route,
            handler: Some(h),
            via,
        });
    }
    if !d.accept_unhandled {
        return postmaster(config, users, d, local)
            .map(|route| Routed {
                route,
                handler: None,
                via: Via::Default,
            })
            .ok_or(NoRoute::NoSuchUser);
    }
    let (route, via) = domain_default(config, users, d, local, address, depth)?;
    Ok(Routed {
        route,
        handler: None,
        via,
    })
}

/// `local@domain` with both parts non-empty.
fn split(address: &str) -> Option<(&str, &str)> {
    let (local, domain) = address.rsplit_once('@')?;
    (!local.is_empty() && !domain.is_empty()).then_some((local, domain))
}

/// The domain's delivery for an address that no handler overrides.
fn domain_default(
    config: &Config,
    users: &Users,
    d: &Domain,
    local: &str,
    address: &str,
    depth: usize,
) -> Result<(Route, Via), NoRoute> {
    if let Some(r) = &d.redirect {
        let route = if r.contains('@') {
            target(config, users, r, d.server.as_deref(), depth)?
        } else {
            local_user(users, r)?
        };
        return Ok((route, Via::Redirect));
    }
    match d.hosted {
        Hosting::Here => users
            .find_mailbox(local)
            .map(|u| Route::Local {
                user: u.name.clone(),
            })
            .or_else(|| postmaster(config, users, d, local))
            .map(|r| (r, Via::Default))
            .ok_or(NoRoute::NoSuchUser),
        Hosting::Remote => Ok((
            Route::Remote {
                address: address.to_string(),
                domain: d.name.to_ascii_lowercase(),
                server: d.server.clone(),
            },
            Via::Default,
        )),
    }
}

/// The mail-enabled user called `name` (a handler's mailbox or a redirect).
fn local_user(users: &Users, name: &str) -> Result<Route, NoRoute> {
    users
        .find_mailbox(name)
        .map(|u| Route::Local {
            user: u.name.clone(),
        })
        .ok_or(NoRoute::NoSuchUser)
}

/// Where a forward or redirect address goes: through a named server as it is, else routed again
/// when its domain is ours, else to the remote domain.
fn target(
    config: &Config,
    users: &Users,
    address: &str,
    server: Option<&str>,
    depth: usize,
) -> Result<Route, NoRoute> {
    let (_, domain) = split(address).ok_or(NoRoute::Malformed)?;
    if server.is_none() && config.domain(domain).is_some() {
        return resolve_at(config, users, address, depth + 1).map(|r| r.route);
    }
    Ok(Route::Remote {
        address: address.to_string(),
        domain: domain.to_ascii_lowercase(),
        server: server.map(str::to_string),
    })
}

/// RFC 5321 §4.5.1: postmaster of a domain hosted here is always accepted; it goes to the
/// configured postmaster's mailbox.
fn postmaster(config: &Config, users: &Users, d: &Domain, local: &str) -> Option<Route> {
    if d.hosted != Hosting::Here || !local.eq_ignore_ascii_case("postmaster") {
        return None;
    }
    let (pm_local, pm_domain) = config.server.postmaster.rsplit_once('@')?;
    if !config.is_hosted_here(pm_domain) {
        return None;
    }
    users.find_mailbox(pm_local).map(|u| Route::Local {
        user: u.name.clone(),
    })
}

/// The handlers' copy-to addresses for a message to `recipients`: the extra recipients to add
/// when the message is accepted, without duplicates, following copies of copies, at most `limit`.
pub fn copies(config: &Config, users: &Users, recipients: &[String], limit: usize) -> Vec<String> {
    let mut all: Vec<String> = recipients.to_vec();
    let mut extra = Vec::new();
    let mut i = 0;
    while i < all.len() && extra.len() < limit {
        if let Ok(Routed {
            handler: Some(h), ..
        }) = resolve(config, users, &all[i])
        {
            if let Some(c) = &h.copy_to {
                if !all.iter().any(|a| a.eq_ignore_ascii_case(c)) {
                    all.push(c.clone());
                    extra.push(c.clone());
                }
            }
        }
        i += 1;
    }
    extra
}

/// The envelope recipients of an accepted message, however it came in (smtpd, sendmail, collect):
/// the given addresses without repeats, then the handlers' copy-to addresses ([`copies`], at most
/// `limits.recipients` of them), each a spool recipient of its own (delivered and retried alike).
pub fn envelope_recipients(
    config: &Config,
    users: &Users,
    mut recipients: Vec<crate::spool::Recipient>,
) -> Vec<crate::spool::Recipient> {
    // The same address twice (RCPT repeated, To and Bcc of `sendmail -t`) is one recipient.
    let mut seen: Vec<String> = Vec::with_capacity(recipients.len());
    recipients.retain(|r| {
        let key = r.address.to_ascii_lowercase();
        let fresh = !seen.contains(&key);
        if fresh {
            seen.push(key);
        }
        fresh
    });
    let addrs: Vec<String> = recipients.iter().map(|r| r.address.clone()).collect();
    let limit = config.limits.recipients;
    for copy in copies(config, users, &addrs, limit) {
        recipients.push(crate::spool::Recipient::new(copy));
    }
    recipients
}

/// Recipient addresses, comma-separated (for the log).
pub fn addresses(recipients: &[crate::spool::Recipient]) -> String {
    let all: Vec<&str> = recipients.iter().map(|r| r.address.as_str()).collect();
    all.join(",")
}

#[cfg(test)]
#[path = "routing_tests.rs"]
mod tests;
