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
//! 3. `postmaster@` a domain hosted here goes where `server.postmaster` goes (RFC 5321 §4.5.1),
//!    whatever the domain's redirect;
//! 4. an alias (`[addresses] aliases`, and the default aliases) of a domain the aliases apply
//!    to: [`Route::Alias`], its targets qualified with the domain ([`expand`] follows them);
//! 5. with `accept_unhandled = false`, addresses without a handler or alias are refused;
//! 6. `redirect` sends everything else to one mailbox or address ("instead of");
//! 7. hosted here: the mail-enabled user of that name; hosted elsewhere: forwarded as it is.
//!
//! Plus addressing: when `local` (`bob+lists`) finds no handler, alias or user, its part before
//! the `[addresses] recipient_delimiter` (`bob`) is looked up the same way; the address itself
//! is kept (it is what `Delivered-To` shows).
//!
//! The intake replaces each recipient that is an alias by the addresses it expands to
//! ([`expand`]: recursive, each address once, a loop stopped), so what is queued is routed
//! without the aliases ([`route_expanded`]): an alias that names itself (`root: root, alice`)
//! reaches the mailbox of that name.

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
    /// An alias: these addresses instead (the intake expands them, [`expand`]).
    Alias { targets: Vec<String> },
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
    /// An alias.
    Alias,
}

/// Whether the aliases are looked at: for an address as given ([`resolve`]), or not for one
/// already expanded ([`route_expanded`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Given,
    Expanded,
}

/// Most addresses one recipient expands to, and the deepest alias nesting followed.
pub const MAX_EXPANSION: usize = 1000;
const MAX_ALIAS_DEPTH: usize = 16;

/// A route, with the handler that applies to the address (for its restrictions and copy-to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed<'a> {
    pub route: Route,
    pub handler: Option<&'a Handler>,
    pub via: Via,
}

/// Route one recipient address as given (an alias is [`Route::Alias`]).
pub fn route(config: &Config, users: &Users, address: &str) -> Result<Route, NoRoute> {
    resolve(config, users, address).map(|r| r.route)
}

/// Route one recipient address as given, keeping the handler that applied.
pub fn resolve<'a>(
    config: &'a Config,
    users: &Users,
    address: &str,
) -> Result<Routed<'a>, NoRoute> {
    resolve_at(config, users, address, 0, Stage::Given)
}

/// Route a recipient the intake has already expanded (a queued one): aliases are not looked
/// at again.
pub fn route_expanded(config: &Config, users: &Users, address: &str) -> Result<Route, NoRoute> {
    resolve_at(config, users, address, 0, Stage::Expanded).map(|r| r.route)
}

/// The addresses `address` stands for: itself, or — an alias — its targets, followed
/// recursively; each address once (case-insensitively), in order. A target that names an
/// alias being expanded (a loop, or `root: root, …`) is kept as it is.
pub fn expand(config: &Config, users: &Users, address: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    walk(config, users, address, &mut stack, &mut out);
    out
}

fn walk(
    config: &Config,
    users: &Users,
    address: &str,
    stack: &mut Vec<String>,
    out: &mut Vec<String>,
) {
    let push = |out: &mut Vec<String>, a: &str| {
        if out.len() < MAX_EXPANSION && !out.iter().any(|o| o.eq_ignore_ascii_case(a)) {
            out.push(a.to_string());
        }
    };
    let targets = match route(config, users, address) {
        Ok(Route::Alias { targets }) if stack.len() < MAX_ALIAS_DEPTH => targets,
        _ => return push(out, address),
    };
    stack.push(address.to_ascii_lowercase());
    for t in &targets {
        if stack.iter().any(|s| s.eq_ignore_ascii_case(t)) {
            push(out, t);
        } else {
            walk(config, users, t, stack, out);
        }
    }
    stack.pop();
}

/// `local` without its `+tag` (the configured delimiter), when it has one.
fn base_of<'l>(config: &Config, local: &'l str) -> Option<&'l str> {
    let delim = config.addresses.recipient_delimiter.chars().next()?;
    let (base, _) = local.split_once(delim)?;
    (!base.is_empty()).then_some(base)
}

fn resolve_at<'a>(
    config: &'a Config,
    users: &Users,
    address: &str,
    depth: usize,
    stage: Stage,
) -> Result<Routed<'a>, NoRoute> {
    if depth > MAX_DEPTH {
        return Err(NoRoute::Loop);
    }
    if address.eq_ignore_ascii_case("postmaster") {
        return Ok(Routed {
            route: target(config, users, &config.server.postmaster, None, depth, stage)?,
            handler: None,
            via: Via::Default,
        });
    }
    let (local, domain) = split(address).ok_or(NoRoute::Malformed)?;
    let local = &*unquote(local);
    if own_literal(config, domain) {
        let route = if local.eq_ignore_ascii_case("postmaster") {
            target(config, users, &config.server.postmaster, None, depth, stage)?
        } else {
            local_user(users, local)
                .or_else(|e| base_of(config, local).map_or(Err(e), |b| local_user(users, b)))?
        };
        return Ok(Routed {
            route,
            handler: None,
            via: Via::Default,
        });
    }
    let Some(d) = config.domain(domain) else {
        if domain.eq_ignore_ascii_case(config.origin()) {
            return origin_host(config, users, local, domain, depth, stage);
        }
        return Err(NoRoute::NotOurs {
            domain: domain.to_ascii_lowercase(),
        });
    };
    let base = base_of(config, local);
    let handler = |name: &str| {
        d.handlers
            .iter()
            .find(|h| h.local.eq_ignore_ascii_case(name))
    };
    if let Some(h) = handler(local).or_else(|| base.and_then(handler)) {
        let (route, via) = if let Some(m) = &h.mailbox {
            (local_user(users, m)?, Via::Handler)
        } else if let Some(f) = &h.forward {
            (
                target(config, users, f, h.server.as_deref(), depth, stage)?,
                Via::Handler,
            )
        } else {
            domain_default(config, users, d, local, address, depth, stage)?
        };
        return Ok(Routed {
            route,
            handler: Some(h),
            via,
        });
    }
    let unrouted = |route| Routed {
        route,
        handler: None,
        via: Via::Default,
    };
    if let Some(route) = postmaster(config, users, d, local, depth, stage) {
        return Ok(unrouted(route));
    }
    if stage == Stage::Given {
        if let Some(targets) =
            alias(config, users, d, local).or_else(|| base.and_then(|b| alias(config, users, d, b)))
        {
            return Ok(Routed {
                route: Route::Alias { targets },
                handler: None,
                via: Via::Alias,
            });
        }
    }
    if !d.accept_unhandled {
        return Err(NoRoute::NoSuchUser);
    }
    let (route, via) = domain_default(config, users, d, local, address, depth, stage)?;
    Ok(Routed {
        route,
        handler: None,
        via,
    })
}

/// The origin when it is the host name and no domain is hosted here (`root@mx.example.test`
/// from sendmail): local, never relayed — the postmaster, an alias, or the user of that name.
fn origin_host<'a>(
    config: &'a Config,
    users: &Users,
    local: &str,
    domain: &str,
    depth: usize,
    stage: Stage,
) -> Result<Routed<'a>, NoRoute> {
    let routed = |route, via| Routed {
        route,
        handler: None,
        via,
    };
    if local.eq_ignore_ascii_case("postmaster") {
        let route = target(config, users, &config.server.postmaster, None, depth, stage)?;
        return Ok(routed(route, Via::Default));
    }
    let base = base_of(config, local);
    let table = &config.addresses.table;
    if stage == Stage::Given {
        let name = [Some(local), base].into_iter().flatten().find(|n| {
            table.get(n).is_some() && !(table.is_default(n) && users.find_mailbox(n).is_some())
        });
        if let Some(targets) = name.and_then(|n| table.get(n)) {
            let targets = targets
                .iter()
                .map(|t| {
                    if t.contains('@') {
                        t.clone()
                    } else {
                        format!("{t}@{domain}")
                    }
                })
                .collect();
            return Ok(routed(Route::Alias { targets }, Via::Alias));
        }
    }
    let route =
        local_user(users, local).or_else(|e| base.map_or(Err(e), |b| local_user(users, b)))?;
    Ok(routed(route, Via::Default))
}

/// The targets of the alias `local` in domain `d` (bare names qualified with `d`), when the
/// aliases apply to `d`. A default alias gives way to a user of that name.
fn alias(config: &Config, users: &Users, d: &Domain, local: &str) -> Option<Vec<String>> {
    let table = &config.addresses.table;
    let targets = table.get(local)?;
    if !config.aliases_apply(&d.name)
        || (table.is_default(local) && users.find_mailbox(local).is_some())
    {
        return None;
    }
    Some(
        targets
            .iter()
            .map(|t| {
                if t.contains('@') {
                    t.clone()
                } else {
                    format!("{t}@{}", d.name)
                }
            })
            .collect(),
    )
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
    stage: Stage,
) -> Result<(Route, Via), NoRoute> {
    if let Some(r) = &d.redirect {
        let route = if r.contains('@') {
            target(config, users, r, d.server.as_deref(), depth, stage)?
        } else {
            local_user(users, r)?
        };
        return Ok((route, Via::Redirect));
    }
    match d.hosted {
        Hosting::Here => users
            .find_mailbox(local)
            .or_else(|| base_of(config, local).and_then(|b| users.find_mailbox(b)))
            .map(|user| Route::Local { user })
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
        .map(|user| Route::Local { user })
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
    stage: Stage,
) -> Result<Route, NoRoute> {
    let (_, domain) = split(address).ok_or(NoRoute::Malformed)?;
    if server.is_none() && config.domain(domain).is_some() {
        return resolve_at(config, users, address, depth + 1, stage).map(|r| r.route);
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
    stage: Stage,
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
        target(config, users, pm, None, depth, stage).ok()
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
