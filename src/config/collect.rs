//! `[[collect]]`: remote POP3 accounts that `postern collect` (and `serve`) pull mail from
//! (SPEC §6 "Collection", seed 000 "POP Collection").

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::locate::{line_of_path, Seg};
use super::validate::{is_address, is_domain_name};
use super::{ByteSize, Config, Problem, Seconds};

/// How the connection to the POP3 server is protected.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum CollectTls {
    /// Plain text.
    None,
    /// STLS when the server offers it (certificate not verified), else plain text.
    Opportunistic,
    /// STLS required, certificate verified.
    #[default]
    Starttls,
    /// TLS from the first byte (port 995), certificate verified.
    Implicit,
}

/// How to log in.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CollectAuth {
    /// The strongest the server offers: CRAM-MD5, then APOP, then PLAIN, then USER/PASS.
    #[default]
    Best,
    /// USER and PASS.
    User,
    /// APOP (the greeting must carry a timestamp).
    Apop,
    /// SASL PLAIN (RFC 5034 AUTH).
    Plain,
    /// SASL LOGIN.
    Login,
    /// SASL CRAM-MD5.
    CramMd5,
}

/// When a collected message is deleted on the server.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum DeletePolicy {
    /// Never; the UIDLs already fetched are remembered.
    #[default]
    Leave,
    /// Once the message has left the local queue (delivered or bounced).
    Delivered,
    /// As soon as it is durably in the local queue.
    Always,
}

/// Which header addresses a collected message is delivered to.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CollectMode {
    /// Every address that routing recognises (local mailboxes and handler forwards).
    #[default]
    Recognised,
    /// Only addresses of local mailboxes.
    Local,
    /// Recognised addresses, and the catch-all address for what is not recognised.
    CatchAll,
}

/// `[[collect]]`: one remote POP3 account.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CollectAccount {
    /// Unique name (letters, digits, '-', '_'): names the state file and `--account`.
    pub name: String,
    /// Host name or IP address of the POP3 server.
    pub server: String,
    /// Default 110, or 995 with implicit TLS.
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: CollectTls,
    /// PEM file of extra certificates to trust (e.g. a self-signed server certificate).
    pub trust_anchor: Option<PathBuf>,
    pub user: String,
    pub password: Option<crate::proto::secret::Secret>,
    /// A file whose first line is the password (instead of `password`).
    pub password_file: Option<PathBuf>,
    #[serde(default)]
    pub auth: CollectAuth,
    /// Time between collections in `serve` and for `collect` without `--account`.
    #[serde(default = "default_interval")]
    pub interval: Seconds,
    #[serde(default)]
    pub delete: DeletePolicy,
    #[serde(default)]
    pub mode: CollectMode,
    /// Where unrecognised mail goes in mode `catch-all`.
    pub catch_all: Option<String>,
    /// Largest message fetched (default `limits.message_size`); bigger ones stay on the server.
    pub max_message_size: Option<ByteSize>,
    /// Messages fetched per pass at most.
    #[serde(default = "default_max_messages")]
    pub max_messages: usize,
    /// How long to wait for the server at any step.
    #[serde(default = "default_timeout")]
    pub timeout: Seconds,
}

fn default_interval() -> Seconds {
    Seconds(300)
}

fn default_max_messages() -> usize {
    1000
}

fn default_timeout() -> Seconds {
    Seconds(60)
}

impl CollectAccount {
    /// The port to connect to.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            CollectTls::Implicit => 995,
            _ => 110,
        })
    }

    pub(super) fn resolve_paths(&mut self, base: &Path) {
        for p in [&mut self.trust_anchor, &mut self.password_file]
            .into_iter()
            .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }
}

/// Every problem with the `[[collect]]` accounts.
pub(super) fn check(config: &Config, text: &str) -> Vec<Problem> {
    use Seg::{Index, Key};
    let mut problems = Vec::new();
    let mut names = HashSet::new();
    for (i, a) in config.collect.iter().enumerate() {
        let mut problem = |key: &str, message: String| {
            problems.push(Problem {
                line: line_of_path(text, &[Key("collect"), Index(i), Key(key)]),
                message,
            })
        };
        let valid_name = !a.name.is_empty()
            && a.name.len() <= 64
            && a.name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid_name {
            problem(
                "name",
                format!(
                    "collect account name {:?} must be letters, digits, '-' or '_'",
                    a.name
                ),
            );
        } else if !names.insert(a.name.clone()) {
            problem(
                "name",
                format!("collect account {:?} is defined twice", a.name),
            );
        }
        let host = a.server.trim_start_matches('[').trim_end_matches(']');
        if !is_domain_name(host) && host.parse::<std::net::IpAddr>().is_err() {
            problem(
                "server",
                format!(
                    "collect account {:?}: server {:?} is not a host name or IP address",
                    a.name, a.server
                ),
            );
        }
        if a.port == Some(0) {
            problem(
                "port",
                format!("collect account {:?}: port must not be 0", a.name),
            );
        }
        if a.user.is_empty() || a.user.bytes().any(|b| b.is_ascii_control()) {
            problem(
                "user",
                format!("collect account {:?}: user must be set", a.name),
            );
        }
        match (&a.password, &a.password_file) {
            (Some(_), Some(_)) => problem(
                "password_file",
                format!(
                    "collect account {:?}: set password or password_file, not both",
                    a.name
                ),
            ),
            (None, None) => problem(
                "user",
                format!(
                    "collect account {:?} needs a password or a password_file",
                    a.name
                ),
            ),
            (Some(p), None) if p.expose().bytes().any(|b| b == b'\r' || b == b'\n') => problem(
                "password",
                format!("collect account {:?}: password must be one line", a.name),
            ),
            _ => {}
        }
        if a.interval.0 == 0 {
            problem(
                "interval",
                format!(
                    "collect account {:?}: interval must be greater than 0",
                    a.name
                ),
            );
        }
        if a.timeout.0 == 0 {
            problem(
                "timeout",
                format!(
                    "collect account {:?}: timeout must be greater than 0",
                    a.name
                ),
            );
        }
        if a.max_messages == 0 {
            problem(
                "max_messages",
                format!(
                    "collect account {:?}: max_messages must be greater than 0",
                    a.name
                ),
            );
        }
        match (a.mode, &a.catch_all) {
            (CollectMode::CatchAll, None) => problem(
                "mode",
                format!(
                    "collect account {:?}: mode \"catch-all\" needs a catch_all address",
                    a.name
                ),
            ),
            (_, Some(addr)) if !is_address(addr) => problem(
                "catch_all",
                format!(
                    "collect account {:?}: catch_all {addr:?} must be a mail address",
                    a.name
                ),
            ),
            _ => {}
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str =
        "[server]\nhostname = \"mail.example.test\"\npostmaster = \"pm@example.test\"\n";

    #[test]
    fn accounts_parse_with_defaults() {
        let text = format!(
            "{BASE}[[collect]]\nname = \"isp\"\nserver = \"pop.isp.test\"\nuser = \"catchall\"\npassword_file = \"isp.pw\"\n"
        );
        let c = crate::config::parse(&text, Path::new("/etc/postern")).expect("config");
        let a = &c.collect[0];
        assert_eq!(
            (a.port(), a.tls, a.auth, a.delete, a.mode),
            (
                110,
                CollectTls::Starttls,
                CollectAuth::Best,
                DeletePolicy::Leave,
                CollectMode::Recognised
            )
        );
        assert_eq!(
            a.password_file.as_deref(),
            Some(Path::new("/etc/postern/isp.pw"))
        );
        assert_eq!(a.interval, Seconds(300));
    }

    #[test]
    fn problems_have_lines() {
        let text = format!(
            "{BASE}[[collect]]\nname = \"a b\"\nserver = \"pop.isp.test\"\nuser = \"u\"\npassword = \"p\"\nmode = \"catch-all\"\n\
             [[collect]]\nname = \"x\"\nserver = \"bad host!\"\nuser = \"u\"\ntls = \"implicit\"\ncatch_all = \"nope\"\n"
        );
        let problems = crate::config::parse(&text, Path::new("/")).expect_err("invalid");
        let lines: Vec<_> = problems.iter().map(|p| p.line).collect();
        assert_eq!(
            lines,
            [Some(5), Some(9), Some(12), Some(13), Some(15)],
            "{problems:?}"
        );
    }
}
