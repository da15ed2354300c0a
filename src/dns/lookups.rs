//! Plain lookups for the receiving checks (spoofed sender, SPF), behind the [`Dns`] trait so the
//! checks stay pure and testable; [`Resolver`] is the real one, built by [`super::resolver`] from
//! the same `[dns]` settings remote delivery uses.
//!
//! One [`Resolver`] serves a whole process: it keeps one hickory resolver (with its cache) on the
//! process's runtime, built at the first lookup. The checks ask synchronously, from the blocking
//! pool (the connection driver runs them there, see `crate::receive::policy::lookups`): each lookup is
//! entered with `block_on` on the process runtime's handle — no thread, runtime or resolver is
//! made per question.

use std::net::IpAddr;

use std::sync::OnceLock;

use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::TokioResolver;

use crate::config::servers::Dns as Settings;

pub use crate::proto::smtp::lookups::LookupError;

use LookupError as DnsError;

/// The lookups the receiving checks make. Names are given without a trailing dot.
pub trait Dns: Sync {
    /// A and AAAA records.
    fn ips(&self, name: &str) -> Result<Vec<IpAddr>, DnsError>;
    /// MX host names (preference order not needed).
    fn mx(&self, name: &str) -> Result<Vec<String>, DnsError>;
    /// TXT records, each one string (its character-strings joined).
    fn txt(&self, name: &str) -> Result<Vec<String>, DnsError>;
    /// PTR names of an address.
    fn ptr(&self, ip: IpAddr) -> Result<Vec<String>, DnsError>;
}

/// The configured resolver, answering the [`Dns`] trait.
pub struct Resolver {
    settings: Settings,
    /// The runtime the lookups run on (the process's).
    runtime: Option<tokio::runtime::Handle>,
    /// Built at the first lookup; an error is kept and reported by every lookup.
    resolver: OnceLock<Result<TokioResolver, String>>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Resolver {
    /// A resolver for `settings` on the current runtime (the process's). Outside a runtime
    /// every lookup fails as temporary.
    pub fn new(settings: Settings) -> Resolver {
        Resolver {
            settings,
            runtime: tokio::runtime::Handle::try_current().ok(),
            resolver: OnceLock::new(),
        }
    }

    /// Run one query of `rtype` for `name` and collect its answers' data. Blocking: call it from
    /// the blocking pool or a thread of its own, never from async code.
    fn query(&self, name: &str, rtype: RecordType) -> Result<Vec<RData>, DnsError> {
        let name = if name.ends_with('.') {
            name.to_string()
        } else {
            format!("{name}.")
        };
        let Some(runtime) = &self.runtime else {
            return Err(DnsError::Temporary("no runtime for DNS lookups".into()));
        };
        let resolver = self.resolver.get_or_init(|| {
            let _on = runtime.enter();
            super::resolver(&self.settings).map_err(|e| e.to_string())
        });
        let resolver = resolver
            .as_ref()
            .map_err(|e| DnsError::Temporary(e.clone()))?;
        runtime.block_on(async {
            match resolver.lookup(name.as_str(), rtype).await {
                Ok(l) => Ok(l.answers().iter().map(|rec| rec.data.clone()).collect()),
                Err(e) if e.is_nx_domain() || e.is_no_records_found() => Err(DnsError::NotFound),
                Err(e) => Err(DnsError::Temporary(e.to_string())),
            }
        })
    }
}

impl Resolver {
    /// SRV records as `PRIORITY WEIGHT PORT TARGET` (for `dns check`).
    pub fn srv(&self, name: &str) -> Result<Vec<String>, DnsError> {
        Ok(self
            .query(name, RecordType::SRV)?
            .into_iter()
            .filter_map(|d| match d {
                RData::SRV(s) => Some(format!(
                    "{} {} {} {}",
                    s.priority,
                    s.weight,
                    s.port,
                    host(&s.target)
                )),
                _ => None,
            })
            .collect())
    }

    /// The CNAME target of a name (for `dns check`).
    pub fn cname(&self, name: &str) -> Result<Vec<String>, DnsError> {
        Ok(self
            .query(name, RecordType::CNAME)?
            .into_iter()
            .filter_map(|d| match d {
                RData::CNAME(c) => Some(host(&c.0)),
                _ => None,
            })
            .collect())
    }

    /// The hickory resolver itself (built at the first use), for mail-auth's checks, which take
    /// one: the same resolver and cache as every other lookup of the process.
    pub fn hickory(&self) -> Result<TokioResolver, DnsError> {
        let Some(runtime) = &self.runtime else {
            return Err(DnsError::Temporary("no runtime for DNS lookups".into()));
        };
        let resolver = self.resolver.get_or_init(|| {
            let _on = runtime.enter();
            super::resolver(&self.settings).map_err(|e| e.to_string())
        });
        resolver
            .as_ref()
            .cloned()
            .map_err(|e| DnsError::Temporary(e.clone()))
    }
}

fn host(name: &hickory_resolver::proto::rr::Name) -> String {
    name.to_ascii().trim_end_matches('.').to_ascii_lowercase()
}

/// Not-found answers are empty; a name with neither A nor AAAA is not found.
fn or_empty<T>(r: Result<Vec<T>, DnsError>) -> Result<Vec<T>, DnsError> {
    match r {
        Err(DnsError::NotFound) => Ok(Vec::new()),
        other => other,
    }
}

impl Dns for Resolver {
    fn ips(&self, name: &str) -> Result<Vec<IpAddr>, DnsError> {
        // Addresses of either family are an answer even when the other query fails (some
        // servers refuse AAAA for names they only have A records for).
        let mut out = Vec::new();
        let mut failure = None;
        for t in [RecordType::A, RecordType::AAAA] {
            match or_empty(self.query(name, t)) {
                Ok(data) => out.extend(data.into_iter().filter_map(|d| match d {
                    RData::A(a) => Some(IpAddr::V4(a.0)),
                    RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                    _ => None,
                })),
                Err(e) => failure = Some(e),
            }
        }
        match (out.is_empty(), failure) {
            (false, _) => Ok(out),
            (true, Some(e)) => Err(e),
            (true, None) => Err(DnsError::NotFound),
        }
    }

    fn mx(&self, name: &str) -> Result<Vec<String>, DnsError> {
        Ok(self
            .query(name, RecordType::MX)?
            .into_iter()
            .filter_map(|d| match d {
                RData::MX(mx) => Some(host(&mx.exchange)),
                _ => None,
            })
            .collect())
    }

    fn txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        Ok(self
            .query(name, RecordType::TXT)?
            .into_iter()
            .filter_map(|d| match d {
                RData::TXT(t) => Some(
                    t.txt_data
                        .iter()
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect())
    }

    fn ptr(&self, ip: IpAddr) -> Result<Vec<String>, DnsError> {
        Ok(self
            .query(&reverse_name(ip), RecordType::PTR)?
            .into_iter()
            .filter_map(|d| match d {
                RData::PTR(p) => Some(host(&p.0)),
                _ => None,
            })
            .collect())
    }
}

/// `7.2.0.192.in-addr.arpa` / the nibble form under `ip6.arpa`.
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut s = String::new();
            for b in v6.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", b & 0xf, b >> 4));
            }
            s.push_str("ip6.arpa");
            s
        }
    }
}
