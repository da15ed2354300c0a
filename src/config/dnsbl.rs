//! `[receiving] dnsbl`, `dnswl`: DNS block- and allowlists the address of an untrusted client is
//! looked up in (RFC 5782), with weights and a threshold as Postfix's postscreen has them.
//!
//! ```toml
//! [receiving]
//! dnsbl = ["zen.example", { zone = "bl.example", weight = 2, answers = ["127.0.0.2"] }]
//! dnsbl_threshold = 2        # refuse when the listing lists' weights add up to this (default 1)
//! dnswl = ["list.dnswl.example"]  # a client listed here skips the blocklists
//! dnsbl_at = "rcpt"          # connect | mail | rcpt: when a listed client is refused (default rcpt)
//! ```

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// One list: a zone, its weight and, optionally, the answers that count as listed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(from = "DnsListSpec", into = "DnsListSpec")]
pub struct DnsList {
    pub zone: String,
    pub weight: u32,
    /// Answers that mean "listed"; empty: any answer in 127.0.0.0/8 but the 127.255.255.0/24
    /// error codes some lists give to refused queries.
    pub answers: Vec<Ipv4Addr>,
}

/// A list as written: its zone alone, or a table.
#[derive(Deserialize, Serialize)]
#[serde(untagged)]
enum DnsListSpec {
    Zone(String),
    Table {
        zone: String,
        #[serde(default = "one")]
        weight: u32,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        answers: Vec<Ipv4Addr>,
    },
}

fn one() -> u32 {
    1
}

impl From<DnsListSpec> for DnsList {
    fn from(s: DnsListSpec) -> DnsList {
        match s {
            DnsListSpec::Zone(zone) => DnsList {
                zone,
                weight: 1,
                answers: Vec::new(),
            },
            DnsListSpec::Table {
                zone,
                weight,
                answers,
            } => DnsList {
                zone,
                weight,
                answers,
            },
        }
    }
}

impl From<DnsList> for DnsListSpec {
    fn from(l: DnsList) -> DnsListSpec {
        if l.weight == 1 && l.answers.is_empty() {
            DnsListSpec::Zone(l.zone)
        } else {
            DnsListSpec::Table {
                zone: l.zone,
                weight: l.weight,
                answers: l.answers,
            }
        }
    }
}

/// When a client the blocklists name is refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DnsblStage {
    /// In the greeting (`554 5.7.1`, then only QUIT).
    Connect,
    /// At MAIL FROM.
    Mail,
    /// At each RCPT TO, so the log has the envelope (Postfix's `smtpd_delay_reject`).
    #[default]
    Rcpt,
}

/// What is wrong with a list's zone, if anything.
pub fn zone_problem(zone: &str) -> Option<String> {
    let z = zone.strip_suffix('.').unwrap_or(zone);
    (!super::validate::is_domain_name(z) || !z.contains('.') || z.len() > 200)
        .then(|| format!("{zone:?} is not a DNS zone name"))
}
