//! `[acme]`: certificates obtained and renewed from an ACME certificate authority (RFC 8555).
//!
//! ```toml
//! [acme]
//! directory = "https://acme-v02.api.letsencrypt.org/directory"
//! contact = ["mailto:postmaster@example.com"]
//! # names = ["mail.example.com"]   # default: server.hostname and the listeners' certificate names
//! key_type = "ecdsa-p256"          # or "rsa2048"
//! renew_before = "30d"
//! challenge = "http-01"            # or "tls-alpn-01"
//! http_listen = "0.0.0.0:80"       # the built-in HTTP-01 responder, during issuance
//! # webroot = "/var/www/html"      # instead: write the token files under an existing web server
//! tls_alpn_listener = "0.0.0.0:443"
//! # ca_roots = ["pebble-ca.pem"]   # extra roots trusted for the directory's HTTPS
//! # cert = "/etc/postern/cert.pem" # default: every TLS listener's cert and key files
//! # key = "/etc/postern/key.pem"
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::locate::{line_of_path, Seg};
use super::validate::is_domain_name;
use super::{Config, Problem, Seconds};

/// The key type of the certificates requested.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
pub enum KeyType {
    /// ECDSA over P-256 with SHA-256.
    #[default]
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    /// RSA, 2048 bits, PKCS#1 v1.5 with SHA-256.
    #[serde(rename = "rsa2048")]
    Rsa2048,
}

/// How the certificate authority checks that we control the names.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
pub enum Challenge {
    /// `http://NAME/.well-known/acme-challenge/TOKEN` (port 80).
    #[default]
    #[serde(rename = "http-01")]
    Http01,
    /// A TLS handshake with ALPN `acme-tls/1` (RFC 8737, port 443).
    #[serde(rename = "tls-alpn-01")]
    TlsAlpn01,
}

/// `[acme]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Acme {
    /// The ACME directory URL (https).
    pub directory: String,
    /// Contact URLs for the account (`mailto:` addresses; a bare address gets `mailto:`).
    #[serde(default)]
    pub contact: Vec<String>,
    /// The names the certificate covers (empty: the host name and the listeners' certificate
    /// names).
    #[serde(default)]
    pub names: Vec<String>,
    #[serde(default)]
    pub key_type: KeyType,
    /// Renew when the certificate expires within this.
    #[serde(default = "default_renew_before")]
    pub renew_before: Seconds,
    #[serde(default)]
    pub challenge: Challenge,
    /// The address of the built-in HTTP-01 responder (run during issuance only).
    #[serde(
        default = "default_http_listen",
        deserialize_with = "super::units::socket_addr"
    )]
    pub http_listen: SocketAddr,
    /// Write HTTP-01 token files under `WEBROOT/.well-known/acme-challenge/` instead.
    #[serde(default)]
    pub webroot: Option<PathBuf>,
    /// The address of the TLS-ALPN-01 responder (run during issuance only).
    #[serde(
        default = "default_tls_alpn_listener",
        deserialize_with = "super::units::socket_addr"
    )]
    pub tls_alpn_listener: SocketAddr,
    /// PEM files of roots trusted for the directory's HTTPS besides the system's.
    #[serde(default)]
    pub ca_roots: Vec<PathBuf>,
    /// Where the certificate chain is written (with `key`); default: every TLS listener's.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// Where the account key is kept (mode 0600); default `<spool>/acme`.
    #[serde(default)]
    pub state_dir: Option<PathBuf>,
    /// How often `serve` checks whether renewal is due.
    #[serde(default = "default_check_interval")]
    pub check_interval: Seconds,
}

fn default_renew_before() -> Seconds {
    Seconds(30 * 86_400)
}

fn default_check_interval() -> Seconds {
    Seconds(12 * 3600)
}

fn default_http_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 80))
}

fn default_tls_alpn_listener() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 443))
}

/// A certificate and key file pair ACME writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Acme {
    /// The contact URLs, `mailto:` added to bare addresses.
    pub fn contact_urls(&self) -> Vec<String> {
        self.contact
            .iter()
            .map(|c| {
                if c.contains(':') {
                    c.clone()
                } else {
                    format!("mailto:{c}")
                }
            })
            .collect()
    }

    /// The directory for the account key.
    pub fn state_dir(&self, config: &Config) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| config.paths.spool.join("acme"))
    }

    /// The certificate/key pairs written: `cert`/`key`, else every TLS listener's (each pair
    /// once).
    pub fn targets(&self, config: &Config) -> Vec<Target> {
        if let (Some(cert), Some(key)) = (&self.cert, &self.key) {
            return vec![Target {
                cert: cert.clone(),
                key: key.clone(),
            }];
        }
        let mut out: Vec<Target> = Vec::new();
        for l in &config.listeners {
            if l.tls == super::TlsMode::None {
                continue;
            }
            if let (Some(cert), Some(key)) = (&l.cert, &l.key) {
                let t = Target {
                    cert: cert.clone(),
                    key: key.clone(),
                };
                if !out.contains(&t) {
                    out.push(t);
                }
            }
        }
        out
    }
}

pub(super) fn resolve_paths(config: &mut Config) {
    let base = config.base_dir.clone();
    let Some(acme) = config.acme.as_mut() else {
        return;
    };
    let abs = |p: &mut PathBuf| {
        if p.is_relative() {
            *p = base.join(&*p);
        }
    };
    for p in acme
        .ca_roots
        .iter_mut()
        .chain(acme.webroot.iter_mut())
        .chain(acme.cert.iter_mut())
        .chain(acme.key.iter_mut())
        .chain(acme.state_dir.iter_mut())
    {
        abs(p);
    }
}

/// Whether `name` can be in an ACME order here: a fully qualified host name (no wildcard: the
/// challenges offered prove one host name each).
pub fn is_acme_name(name: &str) -> bool {
    is_domain_name(name) && name.contains('.') && !name.starts_with("*.")
}

/// Problems in `[acme]`.
pub(super) fn check(config: &Config, text: &str) -> Vec<Problem> {
    use Seg::{Index, Key};
    let Some(acme) = &config.acme else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    let mut problem = |path: &[Seg<'_>], message: String| {
        problems.push(Problem {
            line: line_of_path(text, path),
            message,
        })
    };
    if !acme.directory.starts_with("https://") || acme.directory.len() <= "https://".len() {
        problem(
            &[Key("acme"), Key("directory")],
            format!(
                "acme.directory {:?} must be an https:// URL",
                acme.directory
            ),
        );
    }
    for (i, c) in acme.contact.iter().enumerate() {
        let address = c.strip_prefix("mailto:").unwrap_or(c);
        if !super::validate::is_address(address) {
            problem(
                &[Key("acme"), Key("contact"), Index(i)],
                format!("acme.contact {c:?} must be a mail address (mailto:user@domain)"),
            );
        }
    }
    for (i, n) in acme.names.iter().enumerate() {
        if !is_acme_name(n) {
            problem(
                &[Key("acme"), Key("names"), Index(i)],
                format!("acme.names {n:?} must be a fully qualified host name (no wildcard)"),
            );
        }
    }
    if acme.renew_before.0 == 0 {
        problem(
            &[Key("acme"), Key("renew_before")],
            "acme.renew_before must be more than 0".to_string(),
        );
    }
    if acme.check_interval.0 < 60 {
        problem(
            &[Key("acme"), Key("check_interval")],
            "acme.check_interval must be at least 60 seconds".to_string(),
        );
    }
    if acme.cert.is_some() != acme.key.is_some() {
        problem(
            &[Key("acme")],
            "acme.cert and acme.key go together: set both or neither".to_string(),
        );
    }
    if acme.targets(config).is_empty() {
        problem(
            &[Key("acme")],
            "[acme] has nowhere to write the certificate: set acme.cert and acme.key, or give a \
             TLS listener cert and key"
                .to_string(),
        );
    }
    problems
}
