//! Routing: where mail for a recipient goes, decided from the config and the users file alone
//! (SPEC §2, seed 000 "Domains & Email Handlers").
//!
//! A pure function: no I/O. smtpd uses it at RCPT time, deliver at delivery time, collect and
//! sendmail alike. The order of decisions for `local@domain`:
//!
//! 0. bare `postmaster` (RFC 5321 §4.1.1.3) is the configured postmaster; an address literal of
//!    this server (`user@[127.0.0.1]` when a listener has that address) is a user of this server
//!    (its mailbox, or postmaster), without handlers;
//! 1. a domain that is not configured here is not ours ([`NoRoute::NotOurs`]: relay rules decide);
//! 2. an address handler for `local` overrides everything: its mailbox, its forward address
//!    (optionally through a named server), or — with neither — the domain default below;
//! 3. with `accept_unhandled = false`, addresses without a handler are refused (postmaster of a
//!    domain hosted here excepted, RFC 5321 §4.5.1);
//! 4. `redirect` sends everything else to one mailbox or address ("instead of");
//! 5. hosted here: the mail-enabled user of that name; hosted elsewhere: forwarded as it is.

use crate::config::domains::Handler;
use crate::config::{Config, Domain, Hosting};
use crate::store::users::Users;

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
    if address.eq_ignore_ascii_case("postmaster") {
        return Ok(Routed {
            route: target(config, users, &config.server.postmaster, None, depth)?,
            handler: None,
            via: Via::Default,
        });
    }
    let (local, domain) = split(address).ok_or(NoRoute::Malformed)?;
    let local = &*unquote(local);
    if own_literal(config, domain) {
        let route = if local.eq_ignore_ascii_case("postmaster") {
            target(config, users, &config.server.postmaster, None, depth)?
        } else {
            local_user(users, local)?
        };
        return Ok(Routed {
            route,
            handler: None,
            via: Via::Default,
        });
    }
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
        return postmaster(config, users, d, local, depth)
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

/// A quoted local part as the name it stands for (RFC 5321 §4.1.2: `"bob"` is `bob`); the
/// quotes and backslash escapes go, so `"victim@elsewhere.test"` is looked up as a name with
/// an `@` in it, which no user or handler has.
fn unquote(local: &str) -> std::borrow::Cow<'_, str> {
    let Some(inner) = local.strip_prefix('"').and_then(|l| l.strip_suffix('"')) else {
        return local.into();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' {
            chars.next().unwrap_or(c)
        } else {
            c
        });
    }
    out.into()
}

/// Whether `domain` is an address literal of this server: the address of a listener, or a
/// loopback address when a listener listens on every address (`0.0.0.0`, `::`).
fn own_literal(config: &Config, domain: &str) -> bool {
    let Some(lit) = domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) else {
        return false;
    };
    let lit = lit.strip_prefix("IPv6:").unwrap_or(lit);
    let Ok(ip) = lit.parse::<std::net::IpAddr>() else {
        return false;
    };
    config.listeners.iter().any(|l| {
        let bound = l.address.ip();
        bound == ip || (bound.is_unspecified() && ip.is_loopback())
    })
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
            .or_else(|| postmaster(config, users, d, local, depth))
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

/// RFC 5321 §4.5.1: postmaster of a domain hosted here is always accepted; it goes where the
/// configured postmaster address goes (its handler, its mailbox, or another server), else — the
/// address itself takes only handled addresses — to the user of that name when its domain is
/// hosted here.
fn postmaster(
    config: &Config,
    users: &Users,
    d: &Domain,
    local: &str,
    depth: usize,
) -> Option<Route> {
    if d.hosted != Hosting::Here || !local.eq_ignore_ascii_case("postmaster") {
        return None;
    }
    let pm = &config.server.postmaster;
    let (pm_local, pm_domain) = pm.rsplit_once('@')?;
    let same = pm_local.eq_ignore_ascii_case(local) && pm_domain.eq_ignore_ascii_case(&d.name);
    let routed = if same {
        None
    } else {
        target(config, users, pm, None, depth).ok()
    };
    routed.or_else(|| {
        config
            .is_hosted_here(pm_domain)
            .then(|| local_user(users, pm_local).ok())?
    })
}

/// Recipient addresses, comma-separated (for the log).
pub fn addresses(recipients: &[crate::queue::spool::Recipient]) -> String {
    let all: Vec<&str> = recipients.iter().map(|r| r.address.as_str()).collect();
    all.join(",")
}

#[cfg(test)]
mod tests;
