//! The TOML configuration: types, defaults, loading, and validation with line numbers.
//!
//! One file (`/etc/postern/postern.toml`, `--config`, or `POSTERN_CONFIG`). Relative paths inside it
//! are relative to the directory that holds it. [`load`] parses and validates; every problem is
//! reported with the file and line it comes from ([`ConfigError`]).

pub mod acme;
pub mod addresses;
pub mod auth;
pub mod check;
pub mod cluster;
pub mod collect;
pub mod dnsbl;
pub mod domains;
pub mod filter;
mod locate;
pub mod mailauth;
pub mod rules;
pub mod servers;
pub mod sieve;
pub mod units;
pub mod users;
pub mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

pub use units::{ByteSize, Seconds};

/// Default location of the configuration file.
pub const DEFAULT_PATH: &str = "/etc/postern/postern.toml";

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Server identity and postmaster ("MUST be filled out").
    pub server: Server,
    #[serde(default)]
    pub paths: Paths,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub trust: Trust,
    #[serde(default)]
    pub delivery: Delivery,
    /// `[cluster]`: several hosts on one shared spool and mail volume.
    #[serde(default)]
    pub cluster: cluster::Cluster,
    #[serde(default, rename = "domain")]
    pub domains: Vec<Domain>,
    #[serde(default, rename = "listener")]
    pub listeners: Vec<Listener>,
    #[serde(default)]
    pub log: Log,
    /// `[receiving]`: receiving rules, ban lists, assumptions, content filter.
    #[serde(default)]
    pub receiving: rules::Receiving,
    /// Login methods per protocol and failed-login limits.
    #[serde(default)]
    pub auth: auth::Auth,
    /// `[[collect]]`: remote POP3 accounts to collect from.
    #[serde(default, rename = "collect")]
    pub collect: Vec<collect::CollectAccount>,
    /// Remote delivery: the Servers table, resolver, timeouts.
    #[serde(default)]
    pub remote: servers::Remote,
    /// `[dns]`: the one resolver's name servers, for remote delivery and the receiving checks.
    #[serde(default)]
    pub dns: Option<servers::Dns>,
    /// `[filter]`: the content filter run on each accepted message.
    #[serde(default)]
    pub filter: Option<filter::Filter>,
    /// `[[milter]]`: milters (the Sendmail milter protocol) each accepted message goes through.
    #[serde(default, rename = "milter")]
    pub milters: Vec<filter::Milter>,
    /// `[addresses]`: origin, plus addressing, aliases.
    #[serde(default)]
    pub addresses: addresses::Addresses,
    /// `[sieve]`: user filters at local delivery, their storage and ManageSieve.
    #[serde(default)]
    pub sieve: sieve::Sieve,
    /// `[users]`: the users file, the system's accounts (PAM), or both.
    #[serde(default)]
    pub users: users::Users,
    /// `[tls]`: trust for outbound TLS that must be verified (MTA-STS).
    #[serde(default)]
    pub tls: TlsTrust,
    /// `[acme]`: certificates obtained and renewed from an ACME certificate authority.
    #[serde(default)]
    pub acme: Option<acme::Acme>,
    /// Directory that held the config file (for relative paths); not part of the file.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// `[server]`: who this server is.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// Fully qualified host name: EHLO name, greeting, Received headers, default cert CN.
    pub hostname: String,
    /// Where bounces come from and problems are reported.
    pub postmaster: String,
}

/// `[paths]`: where things live on disk.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Paths {
    pub spool: PathBuf,
    /// The mail volume: one maildir per user under it.
    pub mail: PathBuf,
    /// The users file (mode 0600).
    pub users: PathBuf,
}

impl Default for Paths {
    fn default() -> Self {
        Paths {
            spool: PathBuf::from("/var/spool/postern"),
            mail: PathBuf::from("/var/mail/postern"),
            users: PathBuf::from("users.toml"),
        }
    }
}

/// `[limits]`: every reader has a limit.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest message accepted (SIZE), e.g. `"25M"`.
    pub message_size: ByteSize,
    /// Recipients per message.
    pub recipients: usize,
    /// Longest command or text line, CRLF included (RFC 5321: 1000).
    pub line_length: usize,
    /// Errors per session before the server closes it.
    pub errors: u32,
    /// Idle time before a session is closed.
    pub idle_timeout: Seconds,
    /// Received headers after which a message is taken to be looping.
    pub max_hops: usize,
    /// Simultaneous client connections per listener.
    pub connections: usize,
    /// Simultaneous connections per listener from one client address (0: no limit).
    pub connections_per_ip: usize,
    /// Simultaneous connections per listener from one /24 (IPv4) or /64 (IPv6) (0: no limit).
    pub connections_per_network: usize,
    /// Bytes per second a client must keep up while sending a command, DATA/BDAT or a literal,
    /// beyond `idle_timeout` (0: `idle_timeout` only, per unit of input).
    pub min_data_rate: ByteSize,
    /// A reply the client does not take (no progress writing it) for this long ends the session.
    pub write_timeout: Seconds,
    /// Free space kept on the spool's file system: below it (or below it plus a `SIZE=`), MAIL
    /// is answered 452 4.3.1; `"0"` turns the check off.
    pub spool_reserve: ByteSize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            message_size: ByteSize(25 * 1024 * 1024),
            recipients: 100,
            line_length: 1000,
            errors: 10,
            idle_timeout: Seconds(300),
            max_hops: 50,
            connections: 500,
            connections_per_ip: 50,
            connections_per_network: 100,
            min_data_rate: ByteSize(1024),
            write_timeout: Seconds(120),
            spool_reserve: ByteSize(100 * 1024 * 1024),
        }
    }
}

/// `[trust]`: which clients are trusted without authenticating.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Trust {
    /// Trusted networks (CIDR).
    pub networks: Vec<IpNet>,
}

impl Default for Trust {
    fn default() -> Self {
        Trust {
            networks: ["127.0.0.0/8", "::1/128"]
                .iter()
                .filter_map(|n| n.parse().ok())
                .collect(),
        }
    }
}

impl Trust {
    /// Whether `ip` is inside a trusted network.
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        self.networks.iter().any(|n| n.contains(&ip))
    }
}

/// `[delivery]`: the queue runner.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Delivery {
    /// Messages delivered at once by one runner.
    pub concurrency: usize,
    /// Seconds between queue scans in `deliver --watch` / `serve`.
    pub scan_interval: Seconds,
    /// Retry schedule after temporary failures (each entry is the wait after that attempt; the last
    /// one repeats).
    pub retry: Vec<Seconds>,
    /// Give up on a message after it has been queued this long.
    pub lifetime: Seconds,
    /// Also give up after this many attempts (none: only the lifetime counts).
    pub max_attempts: Option<u32>,
    /// Smarthost for every remote domain, `host:port` (the seed's "Use Gateway").
    pub gateway: Option<String>,
    /// Attempt delivery right after a message is accepted (off: only queue runs deliver).
    pub immediate: bool,
    /// Header fields that mark a spam verdict (`"X-Spam-Flag: YES"`, as a filter or milter adds
    /// them): a local delivery of such a message goes into the recipient's `Junk` folder.
    pub spam_headers: Vec<String>,
    /// Whether a spam verdict or a DMARC quarantine files mail into `Junk` (else the INBOX);
    /// a domain's and a user's own setting come first.
    pub junk: bool,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            concurrency: 8,
            scan_interval: Seconds(60),
            retry: [300, 900, 1800, 3600, 7200, 14400]
                .into_iter()
                .map(Seconds)
                .collect(),
            lifetime: Seconds(5 * 24 * 3600),
            max_attempts: None,
            gateway: None,
            immediate: true,
            spam_headers: Vec::new(),
            junk: true,
        }
    }
}

impl Delivery {
    /// Wait after the `attempt`-th failed attempt (1-based).
    pub fn retry_after(&self, attempt: u32) -> Duration {
        let i = (attempt.max(1) as usize - 1).min(self.retry.len().saturating_sub(1));
        self.retry
            .get(i)
            .map(|s| s.duration())
            .unwrap_or(Duration::from_secs(300))
    }
}

/// Where a domain's mailboxes are.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Hosting {
    /// Mailboxes on this server.
    #[default]
    Here,
    /// Delivered elsewhere (MX lookup or a given server).
    Remote,
}

/// `[[domain]]`: a domain this server is responsible for.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Domain {
    pub name: String,
    #[serde(default)]
    pub hosted: Hosting,
    /// Deliver this domain's remote mail through this `[[remote.server]]`.
    #[serde(default)]
    pub server: Option<String>,
    /// Redirect all mail without a handler: a mailbox (hosted here) or an address ("instead of").
    #[serde(default)]
    pub redirect: Option<String>,
    /// Accept addresses with no handler (here: existing users; remote: everything).
    #[serde(default = "domains::default_true")]
    pub accept_unhandled: bool,
    /// `[[domain.handler]]`: per-address overrides and restrictions.
    #[serde(default, rename = "handler")]
    pub handlers: Vec<domains::Handler>,
    /// `[[domain.dkim]]`: the keys its outgoing mail is signed with (each one signs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dkim: Vec<mailauth::DkimKey>,
    /// The DMARC mode for recipients in this domain, instead of the receiving class's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dmarc: Option<mailauth::DmarcMode>,
    /// `[delivery] junk` for recipients in this domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub junk: Option<bool>,
    /// `[delivery] spam_headers` for recipients in this domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spam_headers: Option<Vec<String>>,
}

/// What a listener speaks.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// SMTP relay/MTA port (25).
    Smtp,
    /// Message submission (587/465): AUTH required before MAIL.
    Submission,
    Pop3,
    Imap,
    /// ManageSieve (RFC 5804, port 4190): users edit their Sieve scripts.
    Managesieve,
}

impl Protocol {
    /// The daemon that serves this protocol.
    pub fn daemon(self) -> &'static str {
        match self {
            Protocol::Smtp | Protocol::Submission => "smtpd",
            Protocol::Pop3 => "popd",
            // ManageSieve is the mail readers' companion: `imapd` serves its listeners too.
            Protocol::Imap | Protocol::Managesieve => "imapd",
        }
    }
}

/// How a listener uses TLS.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    #[default]
    None,
    /// Offered with STARTTLS / STLS.
    Starttls,
    /// TLS from the first byte (465, 995, 993).
    Implicit,
}

/// `[tls]`: outbound trust.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsTrust {
    /// PEM files of roots trusted besides the system's for MTA-STS: the policy's HTTPS fetch and
    /// the verified STARTTLS to the policy's MX hosts.
    pub extra_roots: Vec<PathBuf>,
}

/// `[[listener]]`: one address a daemon serves.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    pub name: String,
    pub protocol: Protocol,
    #[serde(deserialize_with = "units::socket_addr")]
    pub address: SocketAddr,
    #[serde(default)]
    pub tls: TlsMode,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Clients of this listener are trusted (may relay) without authenticating.
    #[serde(default)]
    pub trusted: bool,
}

/// Log line format.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Logfmt,
    Json,
}

/// Where event lines go.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogTarget {
    /// Standard error (never when it is the connection, under inetd: then syslog).
    #[default]
    Stderr,
    /// The local syslog socket (`syslog_socket`), with `facility`.
    Syslog,
    /// The journal's native protocol (`journal_socket`).
    Journald,
    /// Appended to `file`, opened again at SIGHUP (for logrotate).
    File,
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    pub format: LogFormat,
    pub target: LogTarget,
    /// The log file, with `target = "file"`.
    pub file: Option<PathBuf>,
    /// The syslog facility (`mail`, `local0` …), for syslog and the journal.
    pub facility: String,
    /// The local syslog socket.
    pub syslog_socket: PathBuf,
    /// The journal's native socket.
    pub journal_socket: PathBuf,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            format: LogFormat::Logfmt,
            target: LogTarget::Stderr,
            file: None,
            facility: "mail".to_string(),
            syslog_socket: PathBuf::from("/dev/log"),
            journal_socket: PathBuf::from("/run/systemd/journal/socket"),
        }
    }
}

/// One problem found in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: Option<usize>,
    pub message: String,
}

/// Why a configuration could not be used: every problem, with its file and line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", render_problems(path, problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

fn render_problems(path: &Path, problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| match p.line {
            Some(l) => format!("{}:{}: {}", path.display(), l, p.message),
            None => format!("{}: {}", path.display(), p.message),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Which config file to use: the flag, else `POSTERN_CONFIG`, else the default.
pub fn resolve_path(flag: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    match std::env::var_os("POSTERN_CONFIG") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(DEFAULT_PATH),
    }
}

/// The text of the configuration file at `path`, with this host's override file
/// (`POSTERN_HOST_CONFIG`, see [`cluster`]) merged over it when one is named.
pub fn read_text(path: &Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let host = match std::env::var_os(cluster::HOST_CONFIG_ENV) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => return Ok(text),
    };
    let host_text = std::fs::read_to_string(&host).map_err(|source| ConfigError::Read {
        path: host.clone(),
        source,
    })?;
    cluster::merge(&text, &host_text).map_err(|message| ConfigError::Invalid {
        path: host.clone(),
        problems: vec![Problem {
            line: None,
            message: format!("host override (merged over {}): {message}", path.display()),
        }],
    })
}

/// Read, parse and validate the configuration file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = read_text(path)?;
    let base = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut config = parse(&text, &base).map_err(|problems| ConfigError::Invalid {
        path: path.to_path_buf(),
        problems,
    })?;
    config
        .load_aliases()
        .map_err(|problems| ConfigError::Invalid {
            path: path.to_path_buf(),
            problems: problems
                .into_iter()
                .map(|p| Problem {
                    line: None,
                    message: format!("aliases: {p}"),
                })
                .collect(),
        })?;
    Ok(config)
}

/// Parse and validate configuration text; relative paths are resolved against `base_dir`.
pub fn parse(text: &str, base_dir: &Path) -> Result<Config, Vec<Problem>> {
    let mut config: Config = match toml::from_str(text) {
        Ok(c) => c,
        Err(e) => {
            let line = e.span().map(|s| locate::line_of(text, s.start));
            return Err(vec![Problem {
                line,
                message: e.message().trim().to_string(),
            }]);
        }
    };
    config.base_dir = base_dir.to_path_buf();
    let problems = validate::check(&config, text);
    if !problems.is_empty() {
        return Err(problems);
    }
    config.resolve_paths();
    if config.addresses.default_aliases {
        config.addresses.table =
            addresses::Aliases::default().with_defaults(&config.server.postmaster);
    }
    Ok(config)
}

impl Config {
    fn resolve_paths(&mut self) {
        let base = self.base_dir.clone();
        let abs = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        abs(&mut self.paths.spool);
        abs(&mut self.paths.mail);
        abs(&mut self.paths.users);
        if let Some(a) = self.addresses.aliases.as_mut() {
            abs(a);
        }
        servers::resolve_paths(self);
        acme::resolve_paths(self);
        for r in &mut self.tls.extra_roots {
            abs(r);
        }
        for l in &mut self.listeners {
            if let Some(c) = l.cert.as_mut() {
                abs(c);
            }
            if let Some(k) = l.key.as_mut() {
                abs(k);
            }
        }
        for a in &mut self.collect {
            a.resolve_paths(&base);
        }
        self.sieve.resolve_paths(&base);
        if let Some(f) = self.log.file.as_mut() {
            abs(f);
        }
        for d in &mut self.domains {
            for k in &mut d.dkim {
                abs(&mut k.key);
            }
        }
    }

    /// The domain entry for `name` (case-insensitive), if configured.
    pub fn domain(&self, name: &str) -> Option<&Domain> {
        self.domains
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(name))
    }

    /// Whether mailboxes of `domain` live here.
    pub fn is_hosted_here(&self, domain: &str) -> bool {
        self.domain(domain)
            .is_some_and(|d| d.hosted == Hosting::Here)
    }

    /// The listener called `name`.
    pub fn listener(&self, name: &str) -> Option<&Listener> {
        self.listeners.iter().find(|l| l.name == name)
    }
}

#[cfg(test)]
mod tests;
