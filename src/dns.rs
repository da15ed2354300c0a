//! The one resolver, on hickory-resolver, configured by `[dns]` (so tests point it at a dnsmasq on
//! a loopback port). For remote delivery: the mail hosts of a domain (MX in preference order, the
//! implicit MX of RFC 5321 §5.1, null MX of RFC 7505) and host addresses — NXDOMAIN and null MX
//! are permanent, SERVFAIL, timeouts and the like temporary. For the receiving checks (spoofed
//! sender, SPF): the [`Dns`] trait of plain lookups, which [`Resolver`] implements (see
//! `lookups.rs`).

mod lookups;
pub mod secure;

pub use lookups::{reverse_name, Dns, LookupError, Resolver};

use std::net::{IpAddr, SocketAddr};

use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::NetError;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::TokioResolver;

use crate::config::servers::Dns as Settings;

/// Why a lookup gave no usable answer. The first three are final (bounce); remote delivery
/// gives each its RFC 3463 status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// The mail domain does not exist (NXDOMAIN).
    #[error("domain {0} does not exist (NXDOMAIN)")]
    NoSuchDomain(String),
    /// The domain takes no mail (RFC 7505 null MX).
    #[error("domain {0} accepts no mail (null MX)")]
    NullMx(String),
    /// The host has no A or AAAA record, or does not exist.
    #[error("host {0} has no address")]
    NoAddress(String),
    /// Try again later (SERVFAIL, timeout, no reply, no resolver).
    #[error("{0}")]
    Temporary(String),
}

impl DnsError {
    /// Whether the answer is final.
    pub fn is_permanent(&self) -> bool {
        !matches!(self, DnsError::Temporary(_))
    }
}

/// One mail exchanger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailHost {
    /// Host name without the trailing dot.
    pub name: String,
    pub preference: u16,
}

/// Build a resolver from `[dns]` ([`crate::config::Config::dns`]). Must be called inside a tokio runtime context.
pub fn resolver(cfg: &Settings) -> Result<TokioResolver, DnsError> {
    let mut opts = ResolverOpts::default();
    opts.timeout = cfg.timeout.duration();
    opts.attempts = cfg.attempts.max(1);
    opts.use_hosts_file = ResolveHosts::Never;
    opts.ndots = 0;
    let temp = |e: NetError| DnsError::Temporary(format!("resolver setup failed: {e}"));
    if cfg.servers.is_empty() {
        let mut b = TokioResolver::builder_tokio().map_err(temp)?;
        *b.options_mut() = opts;
        return b.build().map_err(temp);
    }
    let servers = cfg.servers.iter().map(name_server).collect();
    let mut b = TokioResolver::builder_with_config(
        ResolverConfig::from_name_servers(servers),
        TokioRuntimeProvider::default(),
    );
    *b.options_mut() = opts;
    b.build().map_err(temp)
}

fn name_server(addr: &SocketAddr) -> NameServerConfig {
    let mut udp = ConnectionConfig::udp();
    udp.port = addr.port();
    let mut tcp = ConnectionConfig::tcp();
    tcp.port = addr.port();
    NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
}

fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

/// The mail hosts of `domain`, best first. No MX records: the domain itself (RFC 5321 §5.1).
pub async fn mail_hosts(r: &TokioResolver, domain: &str) -> Result<Vec<MailHost>, DnsError> {
    match r.mx_lookup(fqdn(domain)).await {
        Ok(lookup) => {
            let mxs: Vec<MailHost> = lookup
                .answers()
                .iter()
                .filter_map(|rec| match &rec.data {
                    RData::MX(mx) => Some(MailHost {
                        name: mx.exchange.to_ascii().trim_end_matches('.').to_string(),
                        preference: mx.preference,
                    }),
                    _ => None,
                })
                .collect();
            order_mail_hosts(domain, mxs, &mut random_order)
        }
        Err(e) if e.is_nx_domain() => Err(DnsError::NoSuchDomain(domain.to_string())),
        Err(e) if e.is_no_records_found() => {
            order_mail_hosts(domain, Vec::new(), &mut random_order)
        }
        Err(e) => Err(DnsError::Temporary(format!(
            "MX lookup for {domain} failed: {e}"
        ))),
    }
}

/// Pure part of [`mail_hosts`]: null MX, implicit MX, preference order. Hosts of equal
/// preference are put in random order by `shuffle` (RFC 5321 §5.1), so that load spreads over
/// them; a host listed twice keeps its best preference.
pub fn order_mail_hosts(
    domain: &str,
    mut mxs: Vec<MailHost>,
    shuffle: &mut dyn FnMut(&mut [MailHost]),
) -> Result<Vec<MailHost>, DnsError> {
    if mxs.is_empty() {
        return Ok(vec![MailHost {
            name: domain.trim_end_matches('.').to_string(),
            preference: 0,
        }]);
    }
    // RFC 7505: a single MX of "." with preference 0 means the domain takes no mail.
    if mxs.iter().any(|m| m.name.is_empty() || m.name == ".") {
        return Err(DnsError::NullMx(domain.to_string()));
    }
    mxs.sort_by_key(|m| m.preference);
    let mut seen = std::collections::HashSet::new();
    mxs.retain(|m| seen.insert(m.name.to_ascii_lowercase()));
    for group in mxs.chunk_by_mut(|a, b| a.preference == b.preference) {
        if group.len() > 1 {
            shuffle(group);
        }
    }
    Ok(mxs)
}

/// The shuffle of [`order_mail_hosts`] in production.
pub fn random_order(hosts: &mut [MailHost]) {
    use rand::seq::SliceRandom;
    hosts.shuffle(&mut rand::rng());
}

/// The TXT records of `name`, each one string (its character-strings joined); none when the
/// name or the records do not exist.
pub async fn txt(r: &TokioResolver, name: &str) -> Result<Vec<String>, DnsError> {
    match r.txt_lookup(fqdn(name)).await {
        Ok(lookup) => Ok(lookup
            .answers()
            .iter()
            .filter_map(|rec| match &rec.data {
                RData::TXT(t) => Some(
                    t.txt_data
                        .iter()
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect()),
        Err(e) if e.is_nx_domain() || e.is_no_records_found() => Ok(Vec::new()),
        Err(e) => Err(DnsError::Temporary(format!(
            "TXT lookup for {name} failed: {e}"
        ))),
    }
}

/// Addresses of `host` (A and AAAA); an IP literal is its own answer.
pub async fn addresses(r: &TokioResolver, host: &str) -> Result<Vec<IpAddr>, DnsError> {
    if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse() {
        return Ok(vec![ip]);
    }
    match r.lookup_ip(fqdn(host)).await {
        Ok(l) => {
            let ips: Vec<IpAddr> = l.iter().collect();
            if ips.is_empty() {
                Err(DnsError::NoAddress(host.to_string()))
            } else {
                Ok(ips)
            }
        }
        Err(e) if e.is_nx_domain() || e.is_no_records_found() => {
            Err(DnsError::NoAddress(host.to_string()))
        }
        Err(e) => Err(DnsError::Temporary(format!(
            "address lookup for {host} failed: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mx(name: &str, preference: u16) -> MailHost {
        MailHost {
            name: name.into(),
            preference,
        }
    }

    #[test]
    fn mx_ordering_null_and_implicit() {
        let keep = &mut |_: &mut [MailHost]| {};
        let got = order_mail_hosts(
            "a.test",
            vec![mx("mx2.a.test", 20), mx("mx1.a.test", 10)],
            keep,
        );
        assert_eq!(got, Ok(vec![mx("mx1.a.test", 10), mx("mx2.a.test", 20)]));
        assert_eq!(
            order_mail_hosts("a.test", vec![], keep),
            Ok(vec![mx("a.test", 0)])
        );
        assert_eq!(
            order_mail_hosts("a.test", vec![mx("", 0)], keep),
            Err(DnsError::NullMx("a.test".into()))
        );
        // Listed twice: the better preference counts.
        let got = order_mail_hosts(
            "a.test",
            vec![mx("b.a.test", 30), mx("c.a.test", 20), mx("B.a.test", 10)],
            keep,
        );
        assert_eq!(got, Ok(vec![mx("B.a.test", 10), mx("c.a.test", 20)]));
    }

    /// Each group of equal preference is shuffled on its own, the groups stay in order.
    #[test]
    fn equal_preferences_are_shuffled_per_group() {
        let hosts = vec![
            mx("c2", 20),
            mx("a1", 10),
            mx("c1", 20),
            mx("d", 30),
            mx("a2", 10),
            mx("c3", 20),
        ];
        let mut groups = Vec::new();
        let mut reverse = |g: &mut [MailHost]| {
            groups.push(g.iter().map(|m| m.name.clone()).collect::<Vec<_>>());
            g.reverse();
        };
        let got = order_mail_hosts("x.test", hosts.clone(), &mut reverse).expect("hosts");
        // Only groups of more than one host are shuffled, each exactly once.
        assert_eq!(groups, vec![vec!["a1", "a2"], vec!["c2", "c1", "c3"]]);
        let names: Vec<&str> = got.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["a2", "a1", "c3", "c1", "c2", "d"]);

        // With the real shuffle: every order of the 20s shows up, the 10s always come first
        // and the 30 always last.
        let mut orders = std::collections::HashSet::new();
        for _ in 0..300 {
            let got = order_mail_hosts("x.test", hosts.clone(), &mut random_order).expect("hosts");
            let prefs: Vec<u16> = got.iter().map(|m| m.preference).collect();
            assert_eq!(prefs, [10, 10, 20, 20, 20, 30]);
            orders.insert(got[2..5].iter().map(|m| m.name.clone()).collect::<Vec<_>>());
        }
        assert_eq!(
            orders.len(),
            6,
            "all 3! orders of the equal hosts: {orders:?}"
        );
    }
}
