//! `[remote]`: remote delivery — the Servers table (the seed's Servers tab), resolver settings,
//! timeouts, concurrency per destination and delay warnings.
//!
//! ```toml
//! [remote]
//! per_destination = 4          # connections at once to one destination
//! delay_warning = "4h"         # optional: warn senders about mail delayed this long
//! connection_reuse = "5s"      # keep a connection this long for the next message ("0s": never)
//! [[remote.server]]
//! name = "headoffice"
//! host = "mail.head.example"
//! port = 587
//! tls = "required"             # off | opportunistic | required | implicit
//! auth = "cram-md5"            # best | plain | login | cram-md5
//! user = "branch"
//! password = "secret"
//! ```
//!
//! The resolver is the top-level `[dns]` (shared with the receiving checks):
//!
//! ```toml
//! [dns]
//! servers = ["127.0.0.1:5353"] # empty: the system's resolv.conf
//! timeout = "5s"
//! attempts = 2
//! ```
//!
//! `[remote.dns]` and `[receiving] dns = [...]` are accepted as older spellings of it.
//!
//! A `[[domain]]` names its server with `server = "headoffice"`; `delivery.gateway` is a server name
//! or `host:port`.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::locate::{line_of_path, Seg};
use super::validate::is_domain_name;
use super::{Config, Problem, Seconds};

/// `[remote]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Remote {
    /// Simultaneous connections to one destination (domain, MX set or server).
    pub per_destination: usize,
    /// Time allowed to open a connection and read the greeting.
    pub connect_timeout: Seconds,
    /// Time allowed for each command's reply (DATA's final reply included).
    pub command_timeout: Seconds,
    /// TCP port of hosts found by MX lookup (25; a test may move it).
    pub mx_port: u16,
    /// Send a delay warning once a message has waited this long (none when unset).
    pub delay_warning: Option<Seconds>,
    /// Keep a connection open this long after a message for the next message to the same
    /// destination (RSET, then the next transaction on it); "0s" opens one per message.
    pub connection_reuse: Seconds,
    /// Look up and apply the MTA-STS policy (RFC 8461) of each domain delivered to by MX.
    pub mta_sts: bool,
    /// TCP port of the MTA-STS policy hosts (443; a test may move it).
    pub mta_sts_port: u16,
    /// Older spelling of the top-level `[dns]`.
    pub dns: Option<Dns>,
    /// The Servers table.
    #[serde(rename = "server")]
    pub servers: Vec<RemoteServer>,
}

impl Default for Remote {
    fn default() -> Self {
        Remote {
            per_destination: 4,
            connect_timeout: Seconds(30),
            command_timeout: Seconds(300),
            mx_port: 25,
            delay_warning: None,
            connection_reuse: Seconds(5),
            mta_sts: true,
            mta_sts_port: 443,
            dns: None,
            servers: Vec::new(),
        }
    }
}

/// `[dns]`: the resolver used for MX and address lookups and the receiving checks.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dns {
    /// Name servers (`ip:port`); empty means the system's configuration.
    pub servers: Vec<SocketAddr>,
    /// Time allowed per query.
    pub timeout: Seconds,
    /// Tries per query.
    pub attempts: usize,
    /// DANE (RFC 7672) for MX delivery: trust the AD bit of a validating resolver's answers.
    pub dnssec: bool,
    /// Resolvers off loopback whose AD bit is trusted (the path to them must be secure).
    pub dnssec_trusted: Vec<std::net::IpAddr>,
}

impl Default for Dns {
    fn default() -> Self {
        Dns {
            servers: Vec::new(),
            timeout: Seconds(5),
            attempts: 2,
            dnssec: false,
            dnssec_trusted: Vec::new(),
        }
    }
}

/// How we use TLS towards a remote server.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum OutboundTls {
    /// Never.
    Off,
    /// STARTTLS when offered, without checking the certificate.
    #[default]
    Opportunistic,
    /// STARTTLS, or defer the mail; the certificate is verified unless `verify = false`.
    Required,
    /// TLS from the first byte (port 465); verified unless `verify = false`.
    Implicit,
}

/// Which SASL mechanism we use towards a remote server.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum OutboundAuth {
    /// CRAM-MD5 when offered, else PLAIN, else LOGIN.
    #[default]
    Best,
    Plain,
    Login,
    CramMd5,
}

/// `[[remote.server]]`: one entry of the Servers table.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RemoteServer {
    pub name: String,
    /// Host name or IP address.
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tls: OutboundTls,
    /// Check the server's certificate (default: yes for required/implicit TLS).
    pub verify: Option<bool>,
    /// Extra trust anchor (PEM), e.g. the peer's self-signed certificate.
    pub ca: Option<PathBuf>,
    #[serde(default)]
    pub auth: OutboundAuth,
    /// Authenticate when both are set.
    pub user: Option<String>,
    pub password: Option<crate::proto::secret::Secret>,
    /// Trust anchors besides `ca` and the system's (`[tls] extra_roots`, for MX hosts under an
    /// MTA-STS policy); not part of the file.
    #[serde(skip)]
    pub extra_roots: Vec<PathBuf>,
}

fn default_port() -> u16 {
    25
}

impl RemoteServer {
    /// A server given only as `host:port` (e.g. `delivery.gateway`).
    pub fn from_host_port(s: &str) -> Option<RemoteServer> {
        let (host, port) = s.rsplit_once(':')?;
        let port = port.parse::<u16>().ok().filter(|p| *p > 0)?;
        Some(RemoteServer {
            name: s.to_string(),
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
            description: String::new(),
            tls: OutboundTls::Opportunistic,
            verify: None,
            ca: None,
            auth: OutboundAuth::Best,
            user: None,
            password: None,
            extra_roots: Vec::new(),
        })
    }

    /// Whether the certificate is checked.
    pub fn verifies(&self) -> bool {
        match self.tls {
            OutboundTls::Off | OutboundTls::Opportunistic => false,
            OutboundTls::Required | OutboundTls::Implicit => self.verify.unwrap_or(true),
        }
    }
}

impl Config {
    /// The Servers-table entry called `name`.
    pub fn remote_server(&self, name: &str) -> Option<&RemoteServer> {
        self.remote.servers.iter().find(|s| s.name == name)
    }
}

impl Config {
    /// The resolver settings: `[dns]`, or its older spellings `[remote.dns]` and
    /// `receiving.dns`, or the defaults (the system's name servers).
    pub fn dns(&self) -> Dns {
        if let Some(d) = self.dns.as_ref().or(self.remote.dns.as_ref()) {
            return d.clone();
        }
        Dns {
            servers: self.receiving.dns.clone(),
            ..Dns::default()
        }
    }
}

pub(super) fn resolve_paths(config: &mut Config) {
    let base = config.base_dir.clone();
    for s in &mut config.remote.servers {
        if let Some(ca) = s.ca.as_mut() {
            if ca.is_relative() {
                *ca = base.join(&*ca);
            }
        }
    }
}

/// Problems in `[remote]` and in the references to it.
pub(super) fn check(config: &Config, text: &str) -> Vec<Problem> {
    use Seg::{Index, Key};
    let mut problems = Vec::new();
    let mut problem = |path: &[Seg<'_>], message: String| {
        problems.push(Problem {
            line: line_of_path(text, path),
            message,
        })
    };
    let r = &config.remote;
    if r.per_destination == 0 {
        problem(
            &[Key("remote"), Key("per_destination")],
            "remote.per_destination must be greater than 0".into(),
        );
    }
    for (key, v) in [
        ("connect_timeout", r.connect_timeout),
        ("command_timeout", r.command_timeout),
    ] {
        if v.0 == 0 {
            problem(
                &[Key("remote"), Key(key)],
                format!("remote.{key} must be greater than 0"),
            );
        }
    }
    let spellings = [
        config.dns.is_some(),
        r.dns.is_some(),
        !config.receiving.dns.is_empty(),
    ];
    if spellings.iter().filter(|&&s| s).count() > 1 {
        problem(
            &[Key("dns")],
            "name servers are set more than once: use [dns] only ([remote.dns] and \
             receiving.dns are older spellings of it)"
                .into(),
        );
    }
    let dns = config.dns();
    if dns.attempts == 0 || dns.timeout.0 == 0 {
        problem(
            &[Key("dns")],
            "dns timeout and attempts must be greater than 0".into(),
        );
    }
    if dns.dnssec
        && !dns.servers.is_empty()
        && !dns
            .servers
            .iter()
            .any(|s| s.ip().is_loopback() || dns.dnssec_trusted.contains(&s.ip()))
    {
        problem(
            &[Key("dns"), Key("dnssec")],
            "dns.dnssec needs a validating resolver on loopback (127.0.0.1, ::1) or one named in \
             dns.dnssec_trusted: the AD bit of any other is not trusted"
                .into(),
        );
    }
    let mut names = std::collections::HashSet::new();
    for (i, s) in r.servers.iter().enumerate() {
        let at = |k| [Key("remote"), Key("server"), Index(i), Key(k)];
        if s.name.is_empty() || !names.insert(s.name.as_str()) {
            problem(
                &at("name"),
                format!("remote server name {:?} is empty or used twice", s.name),
            );
        }
        if !is_domain_name(&s.host) && s.host.parse::<std::net::IpAddr>().is_err() {
            problem(
                &at("host"),
                format!(
                    "remote server {:?}: host {:?} is not a host name or IP address",
                    s.name, s.host
                ),
            );
        }
        if s.port == 0 {
            problem(
                &at("port"),
                format!("remote server {:?}: port must not be 0", s.name),
            );
        }
        if s.user.is_some() != s.password.is_some() {
            problem(
                &at("user"),
                format!("remote server {:?}: user and password go together", s.name),
            );
        }
    }
    for (i, d) in config.domains.iter().enumerate() {
        if let Some(name) = &d.server {
            if config.remote_server(name).is_none() {
                problem(
                    &[Key("domain"), Index(i), Key("server")],
                    format!("domain {:?}: no [[remote.server]] called {name:?}", d.name),
                );
            }
        }
        for (j, h) in d.handlers.iter().enumerate() {
            let Some(name) = &h.server else { continue };
            if config.remote_server(name).is_none() {
                problem(
                    &[
                        Key("domain"),
                        Index(i),
                        Key("handler"),
                        Index(j),
                        Key("server"),
                    ],
                    format!(
                        "domain {:?}, handler {:?}: no [[remote.server]] called {name:?}",
                        d.name, h.local
                    ),
                );
            }
        }
    }
    problems
}

#[cfg(test)]
mod dnssec_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic
    use std::path::Path;

    const BASE: &str =
        "[server]\nhostname = \"mail.a.test\"\npostmaster = \"pm@a.test\"\n[dns]\ndnssec = true\n";

    /// The AD bit is trusted only from a resolver on loopback or one named as trusted.
    #[test]
    fn dnssec_needs_a_trusted_resolver() {
        let parse = |rest: &str| crate::config::parse(&format!("{BASE}{rest}"), Path::new("/"));
        let problems = parse("servers = [\"192.0.2.53:53\"]\n").expect_err("untrusted");
        assert!(
            problems[0]
                .message
                .contains("dns.dnssec needs a validating resolver"),
            "{problems:?}"
        );
        assert_eq!(problems[0].line, Some(5), "{problems:?}");
        for ok in [
            "servers = [\"127.0.0.1:53\"]\n",
            "servers = [\"[::1]:5353\", \"192.0.2.53:53\"]\n",
            "servers = [\"192.0.2.53:53\"]\ndnssec_trusted = [\"192.0.2.53\"]\n",
            "",
        ] {
            let c = parse(ok).unwrap_or_else(|p| panic!("{ok}: {p:?}"));
            assert!(c.dns().dnssec);
        }
    }
}
