//! `[filter]`: the content filter (SPEC §1 "Scanning plugins", seed 000's anti-virus slot) — a
//! command run on each accepted message before it is queued, the message on its standard input.
//!
//! ```toml
//! [filter]
//! command = "clamdscan --no-summary -"   # a shell string (run by /bin/sh -c) or an argv list
//! timeout = "60s"                         # killed after this long: tempfail
//! reject_codes = [1]                      # exit codes that reject (clamdscan: 1 = virus found)
//! reject_reply = "554 5.7.1 Message rejected by content filter"
//! modify = false                          # true: its standard output is the new message
//! ```
//!
//! Exit 0 accepts; a code in `reject_codes` rejects with `reject_reply`; any other exit (or a
//! signal, a timeout, a command that cannot be started) is a temporary failure, 451 4.7.1.

use serde::{Deserialize, Serialize};

use super::locate::Seg;
use super::rules::parse_reply;
use super::{Config, Seconds};

/// How the filter is started.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum FilterCommand {
    /// Run by `/bin/sh -c`.
    Shell(String),
    /// Program and arguments, no shell.
    Argv(Vec<String>),
}

/// `[filter]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    pub command: FilterCommand,
    /// Time allowed from start to exit.
    #[serde(default = "default_timeout")]
    pub timeout: Seconds,
    /// Exit codes that reject the message.
    #[serde(default = "default_reject_codes")]
    pub reject_codes: Vec<i32>,
    /// The reply for a rejected message, `"CODE X.Y.Z text"` (a 5xx).
    #[serde(default = "default_reject_reply")]
    pub reject_reply: String,
    /// The filter's standard output is the message to keep (headers added, body changed), when
    /// it accepts; checked for size and header syntax.
    #[serde(default)]
    pub modify: bool,
}

fn default_timeout() -> Seconds {
    Seconds(60)
}

fn default_reject_codes() -> Vec<i32> {
    vec![1]
}

fn default_reject_reply() -> String {
    "554 5.7.1 Message rejected by content filter".into()
}

impl Filter {
    /// Program and arguments to run.
    pub fn argv(&self) -> Vec<String> {
        match &self.command {
            FilterCommand::Shell(s) => vec!["/bin/sh".into(), "-c".into(), s.clone()],
            FilterCommand::Argv(v) => v.clone(),
        }
    }
}

/// `[[milter]]`: a milter (rspamd's proxy, OpenDKIM, clamav-milter, …).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Milter {
    /// A name for the log.
    pub name: String,
    /// `"inet:HOST:PORT"` or `"unix:/path"`, as Postfix writes them.
    pub socket: String,
    /// Time allowed for the connection and for each reply.
    #[serde(default = "default_milter_timeout")]
    pub timeout: Seconds,
    /// What happens to the message when the milter is down or breaks the protocol.
    #[serde(default)]
    pub default_action: MilterDefault,
}

fn default_milter_timeout() -> Seconds {
    Seconds(30)
}

/// A milter's default action (Postfix's `milter_default_action`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MilterDefault {
    /// Go on as if there were no milter.
    Accept,
    /// Refuse for now (451 4.7.1).
    #[default]
    Tempfail,
    /// Refuse (554 5.7.1).
    Reject,
}

/// Where a milter listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MilterSocket {
    Inet(String, u16),
    Unix(std::path::PathBuf),
}

impl Milter {
    /// The socket, parsed.
    pub fn address(&self) -> Option<MilterSocket> {
        if let Some(path) = self.socket.strip_prefix("unix:") {
            return (!path.is_empty()).then(|| MilterSocket::Unix(path.into()));
        }
        let rest = self
            .socket
            .strip_prefix("inet:")
            .or_else(|| self.socket.strip_prefix("inet6:"))?;
        let (host, port) = rest.rsplit_once(':')?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        Some(MilterSocket::Inet(host.to_string(), port.parse().ok()?))
    }
}

/// Check `[filter]`.
pub(super) fn check(config: &Config, mut problem: impl FnMut(&[Seg<'_>], String)) {
    use Seg::{Index, Key};
    for (i, m) in config.milters.iter().enumerate() {
        if m.address().is_none() {
            problem(
                &[Key("milter"), Index(i), Key("socket")],
                format!(
                    "milter {:?}: socket {:?} must be \"inet:HOST:PORT\" or \"unix:/path\"",
                    m.name, m.socket
                ),
            );
        }
        if m.timeout.0 == 0 {
            problem(
                &[Key("milter"), Index(i), Key("timeout")],
                format!("milter {:?}: timeout must be greater than 0", m.name),
            );
        }
    }
    let Some(f) = &config.filter else {
        return;
    };
    let empty = match &f.command {
        FilterCommand::Shell(s) => s.trim().is_empty(),
        FilterCommand::Argv(v) => v.first().is_none_or(|p| p.is_empty()),
    };
    if empty {
        problem(
            &[Key("filter"), Key("command")],
            "filter.command must name a program".into(),
        );
    }
    if f.timeout.0 == 0 {
        problem(
            &[Key("filter"), Key("timeout")],
            "filter.timeout must be greater than 0".into(),
        );
    }
    if f.reject_codes
        .iter()
        .any(|&c| c == 0 || !(1..=255).contains(&c))
    {
        problem(
            &[Key("filter"), Key("reject_codes")],
            "filter.reject_codes must be exit codes from 1 to 255".into(),
        );
    }
    if parse_reply(&f.reject_reply).is_none_or(|(code, _, _)| code < 500) {
        problem(
            &[Key("filter"), Key("reject_reply")],
            format!(
                "filter.reject_reply {:?} must look like \"554 5.7.1 text\" (a 5xx reply)",
                f.reject_reply
            ),
        );
    }
}
