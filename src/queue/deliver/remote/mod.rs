//! Remote delivery: the pending remote recipients of a message are grouped into domain jobs (one
//! per destination), each job gets one connection carrying all its recipients, and every
//! recipient gets its own result.
//!
//! Route order (SPEC §5): handler server → domain server → global gateway → MX lookup (with the
//! implicit MX of RFC 5321 §5.1 and null MX of RFC 7505). MX hosts are tried in preference order
//! (equal preferences in random order), each of their addresses in turn, until one takes the
//! job. A recipient the next hop takes is `Relayed`, noting whether the next hop speaks DSN (it
//! then reports success itself; otherwise we do, when NOTIFY=SUCCESS asked).
//!
//! Delivery by MX is secured, in this order, by DANE (`dane.rs`, with `[dns] dnssec`: TLSA
//! records authenticate each MX host), else the domain's MTA-STS policy (`mta_sts/`), else
//! opportunistic STARTTLS; `TLS-Required: No` skips the first two. Attempts under a policy are
//! recorded for TLS reports (`tlsrpt.rs`).
//!
//! The queue runner is synchronous (one thread per message); the SMTP client and resolver are
//! async, so they run on the process's runtime (the one every command starts), entered with
//! `block_on` from the runner's threads (never from async code: callers use `spawn_blocking`).

pub mod client;
mod connect;
pub mod dane;
mod limit;
pub mod mta_sts;
mod pool;
pub mod tlsrpt;
mod transaction;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};

use hickory_resolver::TokioResolver;

use super::RecipientResult;
use crate::config::servers::RemoteServer;
use crate::config::Config;
use crate::dns::{self, DnsError};
use crate::events::event;
use crate::proto::mail::{Class, Outcome, Status};
use crate::queue::spool::{Envelope, QueueId, Recipient};
use client::{OutRcpt, Outgoing, Timeouts};
pub use connect::ConnectError;
pub use limit::Limiter;
use pool::Pool;

/// Where a domain job goes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Destination {
    /// A Servers-table entry (or a gateway written `host:port`).
    Server(String),
    /// The domain's MX hosts.
    Mx(String),
    /// A domain literal `[192.0.2.1]`.
    Literal(IpAddr),
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Server(s) => write!(f, "server {s}"),
            Destination::Mx(d) => write!(f, "{d}"),
            Destination::Literal(ip) => write!(f, "[{ip}]"),
        }
    }
}

/// The route of one remote recipient: handler server → domain server → gateway → MX.
pub fn choose(config: &Config, handler_server: Option<&str>, domain: &str) -> Destination {
    if let Some(s) = handler_server {
        return Destination::Server(s.to_string());
    }
    if let Some(s) = config.domain(domain).and_then(|d| d.server.as_deref()) {
        return Destination::Server(s.to_string());
    }
    if let Some(g) = &config.delivery.gateway {
        return Destination::Server(g.clone());
    }
    if let Some(lit) = domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
        if let Ok(ip) = lit.trim_start_matches("IPv6:").parse() {
            return Destination::Literal(ip);
        }
    }
    Destination::Mx(domain.to_ascii_lowercase())
}

/// The domain job `address` belongs to, as `queue ls` shows it: `local`, or the destination
/// (the domain for MX delivery, `server NAME` for a Servers-table entry or gateway).
pub fn job_of(config: &Config, users: &crate::store::users::Users, address: &str) -> String {
    use crate::queue::routing::{route_expanded, NoRoute, Route};
    match route_expanded(config, users, address) {
        Ok(Route::Local { .. }) => "local".into(),
        Ok(Route::Alias { .. }) => "alias".into(),
        Ok(Route::Remote { domain, server, .. }) => {
            choose(config, server.as_deref(), &domain).to_string()
        }
        Err(NoRoute::NotOurs { domain }) => choose(config, None, &domain).to_string(),
        Err(_) => address
            .rsplit_once('@')
            .map_or("", |(_, d)| d)
            .to_ascii_lowercase(),
    }
}

/// One remote recipient waiting for delivery.
pub struct Pending {
    /// Index into the message's recipients.
    pub index: usize,
    pub domain: String,
    pub server: Option<String>,
    /// The address to send to when routing changed it (a handler's forward, a redirect); the
    /// recipient's own address goes along as ORCPT (RFC 3461 §4.2).
    pub forward: Option<String>,
}

/// Process-wide remote delivery state: the resolver, the per-destination limits and the idle
/// connections kept for reuse.
pub struct Remote {
    /// The process's runtime, which the SMTP client and the resolver run on (entered with
    /// `block_on` from the delivering threads); none when made outside one.
    runtime: Option<tokio::runtime::Handle>,
    resolver: OnceLock<Result<TokioResolver, DnsError>>,
    pub limiter: Limiter,
    pool: Arc<Pool>,
}

impl Remote {
    pub fn new(config: &Config) -> Remote {
        let per_destination = config.remote.per_destination.max(1);
        Remote {
            runtime: tokio::runtime::Handle::try_current().ok(),
            resolver: OnceLock::new(),
            limiter: Limiter::new(per_destination),
            pool: Arc::new(Pool::new(
                config.remote.connection_reuse.duration(),
                per_destination,
            )),
        }
    }

    /// Close the connections kept for reuse (the end of a queue run).
    pub fn close_idle(&self) {
        if self.pool.idle_count() == 0 {
            return;
        }
        if let Some(rt) = &self.runtime {
            rt.block_on(self.pool.close_all());
        }
    }
}

/// Deliver the `pending` remote recipients of one message, one destination after the other:
/// each destination's results (one per recipient) go to `done(results, more)` as soon as its
/// transaction ends (`more`: other destinations follow), so that they can be recorded before
/// the next one is tried.
#[allow(clippy::too_many_arguments)]
pub fn deliver_each(
    config: &Config,
    remote: &Remote,
    id: &QueueId,
    envelope: &Envelope,
    recipients: &[Recipient],
    body: &[u8],
    pending: Vec<Pending>,
    done: &mut dyn FnMut(Vec<(usize, RecipientResult)>, bool),
) {
    let mut jobs: BTreeMap<Destination, Vec<usize>> = BTreeMap::new();
    let mut forwards: BTreeMap<usize, (&str, String)> = BTreeMap::new();
    for p in &pending {
        let dest = choose(config, p.server.as_deref(), &p.domain);
        jobs.entry(dest).or_default().push(p.index);
        if let (Some(to), Some(r)) = (&p.forward, recipients.get(p.index)) {
            let orcpt = r
                .orcpt
                .clone()
                .unwrap_or_else(|| format!("rfc822;{}", r.address));
            forwards.insert(p.index, (to.as_str(), orcpt));
        }
    }
    let Some(rt) = remote.runtime.as_ref() else {
        let why = Outcome::new(
            Status::new(Class::Transient, 3, 0),
            "no runtime for remote delivery in this process",
        );
        let results = pending
            .iter()
            .map(|p| (p.index, RecipientResult::Defer(why.clone())))
            .collect();
        done(results, false);
        return;
    };
    let resolver = remote.resolver.get_or_init(|| {
        let _guard = rt.enter();
        dns::resolver(&config.dns())
    });
    let count = jobs.len();
    for (n, (dest, indexes)) in jobs.into_iter().enumerate() {
        let _slot = remote.limiter.acquire(&dest.to_string());
        let job = Outgoing {
            sender: &envelope.sender,
            body,
            smtputf8: envelope.smtputf8,
            dsn_ret: envelope.dsn_ret.as_deref(),
            dsn_envid: envelope.dsn_envid.as_deref(),
            recipients: indexes
                .iter()
                .filter_map(|&i| Some((recipients.get(i)?, forwards.get(&i))))
                .map(|(r, fwd)| OutRcpt {
                    address: fwd.map_or(&r.address, |(to, _)| to),
                    notify: r.notify.as_deref(),
                    orcpt: fwd.map_or(r.orcpt.as_deref(), |(_, o)| Some(o)),
                })
                .collect(),
            requiretls: envelope.requiretls,
            tls_optional: !envelope.requiretls && tls_required_no(body),
        };
        let results = rt.block_on(run_job(config, resolver, &remote.pool, &dest, &job));
        let mut out = Vec::with_capacity(results.len());
        for (k, result) in results.into_iter().enumerate() {
            let Some(&index) = indexes.get(k) else { break };
            let r = match result {
                Ok(accepted) => {
                    let to = job.recipients.get(k).map_or("", |r| r.address);
                    let e = event("relayed")
                        .field("id", id)
                        .field("to", to)
                        .field("via", &dest);
                    super::outcome_fields(e, &accepted.outcome).emit();
                    RecipientResult::Relayed {
                        outcome: accepted.outcome,
                        dsn: accepted.dsn,
                    }
                }
                Err(f) if f.is_permanent() => RecipientResult::Fail(f),
                Err(f) => RecipientResult::Defer(f),
            };
            out.push((index, r));
        }
        done(out, n + 1 < count);
    }
}

/// What a failed lookup for remote delivery comes to: NXDOMAIN of the mail domain 5.1.2
/// (bad destination system address), null MX 5.1.10 (RFC 7505), a host without an address 5.4.4
/// (unable to route), anything else — SERVFAIL, timeouts — 4.4.3 (directory server failure).
pub fn dns_outcome(e: &DnsError) -> Outcome {
    let (class, subject, detail) = match e {
        DnsError::NoSuchDomain(_) => (Class::Permanent, 1, 2),
        DnsError::NullMx(_) => (Class::Permanent, 1, 10),
        DnsError::NoAddress(_) => (Class::Permanent, 4, 4),
        DnsError::Temporary(_) => (Class::Transient, 4, 3),
    };
    Outcome::new(Status::new(class, subject, detail), e.to_string())
}

/// Every host to try for `dest`, best first, with the settings to use there.
async fn hosts(
    config: &Config,
    resolver: &Result<TokioResolver, DnsError>,
    dest: &Destination,
) -> Result<Vec<(String, RemoteServer)>, Outcome> {
    match dest {
        Destination::Server(name) => {
            let server = config
                .remote_server(name)
                .cloned()
                .or_else(|| RemoteServer::from_host_port(name))
                .ok_or_else(|| {
                    Outcome::new(
                        Status::new(Class::Transient, 3, 5),
                        format!("no remote server called {name:?}"),
                    )
                })?;
            Ok(vec![(server.host.clone(), server)])
        }
        Destination::Literal(ip) => Ok(vec![(
            ip.to_string(),
            mx_settings(&ip.to_string(), config.remote.mx_port),
        )]),
        Destination::Mx(domain) => {
            let r = resolver.as_ref().map_err(dns_outcome)?;
            let mxs = dns::mail_hosts(r, domain)
                .await
                .map_err(|e| dns_outcome(&e))?;
            let hosts = mxs
                .into_iter()
                .map(|m| {
                    let s = mx_settings(&m.name, config.remote.mx_port);
                    (m.name, s)
                })
                .collect();
            Ok(hosts)
        }
    }
}

/// Settings for a host found by MX lookup: opportunistic TLS, no authentication.
fn mx_settings(host: &str, port: u16) -> RemoteServer {
    let mut s = RemoteServer::from_host_port(&format!("{host}:{port}")).unwrap_or(RemoteServer {
        name: host.to_string(),
        host: host.to_string(),
        port,
        description: String::new(),
        tls: Default::default(),
        verify: None,
        ca: None,
        auth: Default::default(),
        user: None,
        password: None,
        extra_roots: Vec::new(),
    });
    s.host = host.to_string();
    s
}

/// One domain job: on a kept connection to the destination if there is one, else try each host
/// and address in turn until one decides the recipients.
async fn run_job(
    config: &Config,
    resolver: &Result<TokioResolver, DnsError>,
    pool: &Arc<Pool>,
    dest: &Destination,
    job: &Outgoing<'_>,
) -> Vec<client::RcptResult> {
    let all = |f: Outcome| job.recipients.iter().map(|_| Err(f.clone())).collect();
    // DANE first (RFC 7672), with a validating resolver: it takes precedence over MTA-STS
    // (RFC 8461 §2), and `TLS-Required: No` turns both off (RFC 8689 §5).
    let mut known_hosts = None;
    let dane = match dest {
        Destination::Mx(domain) if config.dns().dnssec && !job.tls_optional => {
            let found = match hosts(config, resolver, dest).await {
                Ok(h) => h,
                Err(f) => return all(f),
            };
            let names: Vec<String> = found.iter().map(|(n, _)| n.clone()).collect();
            known_hosts = Some(found);
            match dane::lookup(config, domain, &names).await {
                Ok(d) => d,
                Err(why) => {
                    tlsrpt::record_dane(config, domain, domain, &[], "dnssec-invalid", None);
                    return all(Outcome::new(
                        Status::new(Class::Transient, 7, 5),
                        format!("DANE: {why}"),
                    ));
                }
            }
        }
        _ => None,
    };
    // The domain's MTA-STS policy comes next: connections made under `enforce` (verified TLS
    // to a matching MX) are kept apart from the others, so a kept connection never carries
    // mail the policy would not let through it.
    let policy = match (dest, resolver) {
        (Destination::Mx(domain), Ok(r))
            if config.remote.mta_sts && !job.tls_optional && dane.is_none() =>
        {
            mta_sts::policy_for(config, r, domain)
                .await
                .filter(|p| p.mode != mta_sts::Mode::None)
        }
        _ => None,
    };
    // REQUIRETLS is decided before any kept connection is reused: only where TLS is verified.
    if job.requiretls {
        if let Some(why) = requiretls_refusal(dest, policy.as_ref(), dane.as_ref()) {
            return all(Outcome::new(Status::new(Class::Permanent, 7, 10), why));
        }
        if let Destination::Server(_) = dest {
            let hosts = match hosts(config, resolver, dest).await {
                Ok(h) => h,
                Err(f) => return all(f),
            };
            let unverified: Vec<&str> = hosts
                .iter()
                .filter(|(_, s)| {
                    !matches!(
                        s.tls,
                        crate::config::servers::OutboundTls::Required
                            | crate::config::servers::OutboundTls::Implicit
                    ) || !s.verifies()
                })
                .map(|(h, _)| h.as_str())
                .collect();
            if !unverified.is_empty() {
                return all(Outcome::new(
                    Status::new(Class::Permanent, 7, 10),
                    format!(
                        "REQUIRETLS: {dest} ({}) is not set up for verified TLS (tls = \"required\" or \"implicit\", certificate checked)",
                        unverified.join(",")
                    ),
                ));
            }
        }
    }
    let key = pool_key(dest, policy.as_ref(), dane.is_some());
    while let Some(mut session) = pool.take(&key).await {
        if !session.reset().await {
            session.abort().await;
            continue;
        }
        match session.send(job).await {
            Ok(results) => {
                pool.put(&key, session).await;
                return results;
            }
            Err(f) if f.is_permanent() => {
                session.abort().await;
                return all(f);
            }
            // The kept connection broke: a new one decides.
            Err(_) => session.abort().await,
        }
    }
    let mut hosts = match known_hosts {
        Some(h) => h,
        None => match hosts(config, resolver, dest).await {
            Ok(h) => h,
            Err(f) => return all(f),
        },
    };
    if let (Some(d), Destination::Mx(domain)) = (&dane, dest) {
        // REQUIRETLS goes only to the hosts DANE authenticates.
        if job.requiretls {
            hosts.retain(|(h, _)| d.authenticates(h));
        }
        for (h, server) in &mut hosts {
            if d.hosts.contains_key(h) {
                server.tls = crate::config::servers::OutboundTls::Required;
            }
        }
        let results = try_hosts(config, resolver, pool, &key, dest, &hosts, job, Some(d)).await;
        report_dane(config, domain, d, &results);
        return results;
    }
    let Some(policy) = policy else {
        return try_hosts(config, resolver, pool, &key, dest, &hosts, job, None).await;
    };
    let named = format!(
        "MTA-STS policy of {dest} ({}, id {})",
        policy.mode, policy.id
    );
    let unmatched: Vec<String> = hosts
        .iter()
        .filter(|(h, _)| !policy.matches(h))
        .map(|(h, _)| h.clone())
        .collect();
    let domain = match dest {
        Destination::Mx(d) => d.as_str(),
        _ => "",
    };
    if policy.mode == mta_sts::Mode::Testing {
        if !unmatched.is_empty() {
            event("mta_sts_testing")
                .field("domain", dest)
                .field("id", &policy.id)
                .field("unmatched_mx", unmatched.join(","))
                .field("effect", "delivering anyway (testing mode)")
                .emit();
        }
        let results = try_hosts(config, resolver, pool, &key, dest, &hosts, job, None).await;
        report_attempt(config, domain, &policy, &results);
        return results;
    }
    // Enforce: only the matching MX hosts, only over STARTTLS with a certificate valid for the
    // host name (never the plaintext fallback); every failure names the policy.
    hosts.retain(|(h, _)| policy.matches(h));
    if hosts.is_empty() {
        tlsrpt::record(
            config,
            domain,
            &policy,
            "validation-failure",
            unmatched.first().map(String::as_str),
        );
        return all(Outcome::new(
            Status::new(Class::Transient, 7, 0),
            format!(
                "{named}: no MX host matches its mx patterns {} (MX: {})",
                policy.mx.join(","),
                unmatched.join(",")
            ),
        ));
    }
    for (_, server) in &mut hosts {
        server.tls = crate::config::servers::OutboundTls::Required;
        server.verify = Some(true);
        server.extra_roots = config.tls.extra_roots.clone();
    }
    let results = try_hosts(config, resolver, pool, &key, dest, &hosts, job, None).await;
    report_attempt(config, domain, &policy, &results);
    results
        .into_iter()
        .map(|r| {
            r.map_err(|f| Outcome {
                text: format!("{named}: {}", f.text),
                ..f
            })
        })
        .collect()
}

/// One attempt under `policy` for TLS reporting: a success unless TLS is what failed.
fn report_attempt(
    config: &Config,
    domain: &str,
    policy: &mta_sts::Policy,
    results: &[client::RcptResult],
) {
    let failure = results
        .iter()
        .all(Result::is_err)
        .then(|| {
            results
                .iter()
                .find_map(|r| r.as_ref().err())
                .and_then(|f| tlsrpt::classify(f).map(|t| (t, f)))
        })
        .flatten();
    match failure {
        Some((kind, f)) => {
            let mx = f.remote_mta.as_ref().map(|m| m.host.clone());
            tlsrpt::record(config, domain, policy, kind, mx.as_deref());
        }
        // A session that got as far as the server's replies was a TLS success; a connection
        // that never came about (refused, timed out) is no session to report.
        None if results
            .iter()
            .any(|r| r.as_ref().map_or_else(|f| f.reply.is_some(), |_| true)) =>
        {
            tlsrpt::record(config, domain, policy, "success", None)
        }
        None => {}
    }
}

/// Each DANE attempt for TLS reporting (RFC 8460, `policy-type: tlsa`): the host the session
/// was with, its success or failure; hosts without a usable record (`tlsa-invalid`) or whose
/// lookup failed (`dnssec-invalid`) as such.
fn report_dane(
    config: &Config,
    domain: &str,
    d: &dane::DomainDane,
    results: &[client::RcptResult],
) {
    let port = config.remote.mx_port;
    for (host, p) in &d.hosts {
        let strings = match p {
            dane::HostPolicy::Authenticate(r) | dane::HostPolicy::EncryptOnly(r) => {
                r.iter().map(ToString::to_string).collect()
            }
            dane::HostPolicy::Unusable(..) => Vec::new(),
        };
        let used = |r: &client::RcptResult| {
            let mta = match r {
                Ok(a) => a.outcome.remote_mta.as_ref(),
                Err(f) => f.remote_mta.as_ref(),
            };
            mta.is_some_and(|m| m.host.eq_ignore_ascii_case(host))
        };
        let base = dane::tlsa_name(d.base(host), port);
        match p {
            dane::HostPolicy::Unusable(_, kind) => {
                tlsrpt::record_dane(config, domain, &base, &strings, kind, Some(host))
            }
            dane::HostPolicy::EncryptOnly(_) if results.iter().any(used) => {
                tlsrpt::record_dane(config, domain, &base, &strings, "tlsa-invalid", Some(host))
            }
            dane::HostPolicy::EncryptOnly(_) => {}
            dane::HostPolicy::Authenticate(_) => {
                let Some(r) = results.iter().find(|r| used(r)) else {
                    continue;
                };
                // A refusal after the handshake was a TLS success; a connection that never
                // came about is no session to report.
                match r {
                    Err(f) => match tlsrpt::classify(f) {
                        Some(kind) => {
                            tlsrpt::record_dane(config, domain, &base, &strings, kind, Some(host))
                        }
                        None if f.reply.is_some() => {
                            tlsrpt::record_dane(config, domain, &base, &strings, "success", None)
                        }
                        None => {}
                    },
                    Ok(_) => tlsrpt::record_dane(config, domain, &base, &strings, "success", None),
                }
            }
        }
    }
}

/// Why a REQUIRETLS message cannot go to `dest` at all (RFC 8689 §4.2.1): a domain's MX hosts
/// are authenticated by DANE or by an MTA-STS policy in `enforce` mode; a domain literal never
/// is.
fn requiretls_refusal(
    dest: &Destination,
    policy: Option<&mta_sts::Policy>,
    dane: Option<&dane::DomainDane>,
) -> Option<String> {
    match dest {
        Destination::Mx(domain) => (!policy.is_some_and(|p| p.mode == mta_sts::Mode::Enforce)
            && !dane.is_some_and(|d| d.hosts.keys().any(|h| d.authenticates(h))))
        .then(|| {
            format!(
                "REQUIRETLS: {domain} has neither DANE TLSA records nor an MTA-STS policy in \
                 enforce mode, so its MX hosts cannot be authenticated"
            )
        }),
        Destination::Literal(ip) => Some(format!(
            "REQUIRETLS: the domain literal [{ip}] cannot be authenticated"
        )),
        Destination::Server(_) => None,
    }
}

/// Whether the message's header says `TLS-Required: No` (RFC 8689 §5).
pub fn tls_required_no(body: &[u8]) -> bool {
    let end = body
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| body.windows(2).position(|w| w == b"\n\n"))
        .unwrap_or(body.len());
    let header = String::from_utf8_lossy(body.get(..end).unwrap_or_default());
    header.lines().any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("TLS-Required")
                && value.trim().eq_ignore_ascii_case("no")
        })
    })
}

/// Where connections to `dest` are kept: apart under DANE and for each MTA-STS mode and policy
/// id.
fn pool_key(dest: &Destination, policy: Option<&mta_sts::Policy>, dane: bool) -> String {
    match policy {
        _ if dane => format!("{dest} (DANE)"),
        Some(p) => format!("{dest} (MTA-STS {} {})", p.mode, p.id),
        None => dest.to_string(),
    }
}

/// Try each host and address in turn until one decides the recipients. A host with a DANE
/// policy in `dane` gets mandatory STARTTLS with its TLSA check, and its failures name it; one
/// whose TLSA lookup failed is not tried.
#[allow(clippy::too_many_arguments)]
async fn try_hosts(
    config: &Config,
    resolver: &Result<TokioResolver, DnsError>,
    pool: &Arc<Pool>,
    key: &str,
    dest: &Destination,
    hosts: &[(String, RemoteServer)],
    job: &Outgoing<'_>,
    dane: Option<&dane::DomainDane>,
) -> Vec<client::RcptResult> {
    let all = |f: Outcome| job.recipients.iter().map(|_| Err(f.clone())).collect();
    let timeouts = Timeouts {
        connect: config.remote.connect_timeout.duration(),
        command: config.remote.command_timeout.duration(),
    };
    let mut last = Outcome::new(
        Status::new(Class::Transient, 4, 1),
        format!("no host to deliver to for {dest}"),
    );
    // Every host known not to exist (no A/AAAA, NXDOMAIN) is a permanent failure, as in
    // Postfix's "Host or domain name not found"; one temporary lookup error or one host that
    // was tried makes the whole job temporary.
    let mut none_exist = !hosts.is_empty();
    let domain = match dest {
        Destination::Mx(d) => d.as_str(),
        _ => "",
    };
    for (host, server) in hosts {
        let host_dane = dane.and_then(|d| d.hosts.get(host));
        if let Some(dane::HostPolicy::Unusable(why, _)) = host_dane {
            none_exist = false;
            last = Outcome::new(Status::new(Class::Transient, 7, 5), format!("DANE: {why}"));
            continue;
        }
        let base = dane.map_or(host.as_str(), |d| d.base(host));
        let tlsa = dane::tlsa_name(base, server.port);
        let ips = match resolver_addresses(resolver, host).await {
            Ok(ips) => ips,
            Err(e) => {
                none_exist &= e.is_permanent();
                let class = match none_exist {
                    true => Class::Permanent,
                    false => Class::Transient,
                };
                last = dns_outcome(&e).with_class(class);
                continue;
            }
        };
        none_exist = false;
        for ip in ips {
            let addr = SocketAddr::new(ip, server.port);
            let hello = &config.server.hostname;
            let verifier =
                host_dane.and_then(|p| dane::verifier_for(domain, host, base, server.port, p));
            let named = verifier.is_some();
            let opened = client::open(addr, host, server, hello, timeouts, verifier)
                .await
                .map_err(|f| match named {
                    true => Outcome {
                        text: format!("DANE policy of {host} (TLSA {tlsa}): {}", f.text),
                        ..f
                    },
                    false => f,
                });
            let mut session = match opened {
                Ok(s) => s,
                Err(f) if f.is_permanent() => return all(f),
                Err(f) => {
                    last = f;
                    continue;
                }
            };
            match session.send(job).await {
                Ok(results) => {
                    pool.put(key, session).await;
                    return results;
                }
                Err(f) if f.is_permanent() => {
                    session.abort().await;
                    return all(f);
                }
                Err(f) => {
                    session.abort().await;
                    last = f;
                }
            }
        }
    }
    all(last)
}

async fn resolver_addresses(
    resolver: &Result<TokioResolver, DnsError>,
    host: &str,
) -> Result<Vec<IpAddr>, DnsError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    match resolver {
        Ok(r) => dns::addresses(r, host).await,
        Err(e) => Err(e.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Seed scenarios: 1 direct MX, 2 domain to a fixed internal server, 3 gateway with auth,
    /// 5 branch office forwarding everything to head office.
    #[test]
    fn route_order_seed_scenarios() {
        let text = r#"
[server]
hostname = "mail.example.test"
postmaster = "admin@example.test"
[[domain]]
name = "internal.test"
hosted = "remote"
server = "exchange"
[[remote.server]]
name = "exchange"
host = "10.0.0.5"
port = 2525
[[remote.server]]
name = "isp"
host = "smtp.isp.test"
port = 587
tls = "required"
user = "u"
password = "p"
"#;
        let c1 = crate::config::parse(text, Path::new("/")).expect("config");
        let mx = |d: &str| Destination::Mx(d.into());
        let srv = |s: &str| Destination::Server(s.into());
        for (handler, domain, want) in [
            (None, "far.test", mx("far.test")),         // scenario 1
            (None, "internal.test", srv("exchange")),   // scenario 2
            (Some("isp"), "internal.test", srv("isp")), // handler wins
            (
                None,
                "[127.0.0.9]",
                Destination::Literal([127, 0, 0, 9].into()),
            ),
        ] {
            assert_eq!(choose(&c1, handler, domain), want, "{domain}");
        }
        let with_gw = format!("[delivery]\ngateway = \"isp\"\n{text}");
        let c3 = crate::config::parse(&with_gw, Path::new("/")).expect("config");
        assert_eq!(choose(&c3, None, "far.test"), srv("isp")); // scenarios 3 and 5
        assert_eq!(choose(&c3, None, "internal.test"), srv("exchange"));
    }

    #[test]
    fn tls_required_no_header() {
        for (msg, want) in [
            (&b"Subject: x\r\nTLS-Required: No\r\n\r\nbody"[..], true),
            (b"tls-required:  no \n\nbody", true),
            (b"TLS-Required: Yes\r\n\r\nbody", false),
            (b"Subject: x\r\n\r\nTLS-Required: No\r\n", false),
            (b"X-TLS-Required: No\r\n\r\n", false),
        ] {
            assert_eq!(
                tls_required_no(msg),
                want,
                "{}",
                String::from_utf8_lossy(msg)
            );
        }
    }

    #[test]
    fn requiretls_needs_an_enforced_policy() {
        let p = |mode| mta_sts::Policy {
            id: "1".into(),
            mode,
            mx: vec!["mx.a.test".into()],
            max_age: 60,
            fetched: 0,
        };
        let mx = Destination::Mx("a.test".into());
        assert!(requiretls_refusal(&mx, None, None).is_some());
        assert!(requiretls_refusal(&mx, Some(&p(mta_sts::Mode::Testing)), None).is_some());
        assert!(requiretls_refusal(&mx, Some(&p(mta_sts::Mode::Enforce)), None).is_none());
        let tlsa = dane::Tlsa {
            usage: 3,
            selector: 1,
            matching: 1,
            data: vec![0; 32],
        };
        let with = |p: dane::HostPolicy| dane::DomainDane {
            hosts: [("mx.a.test".to_string(), p)].into(),
            bases: Default::default(),
        };
        let authenticated = with(dane::HostPolicy::Authenticate(vec![tlsa.clone()]));
        assert!(requiretls_refusal(&mx, None, Some(&authenticated)).is_none());
        let encrypt_only = with(dane::HostPolicy::EncryptOnly(vec![tlsa]));
        assert!(requiretls_refusal(&mx, None, Some(&encrypt_only)).is_some());
        let literal = Destination::Literal([127, 0, 0, 1].into());
        assert!(requiretls_refusal(&literal, None, None).is_some());
        assert!(requiretls_refusal(&Destination::Server("hq".into()), None, None).is_none());
    }
}
