//! Semantic checks after parsing: every problem found, each with its line.

use std::collections::HashSet;

use super::locate::{line_of_path, Seg};
use super::{Config, Problem, TlsMode};

/// Whether `name` is a syntactically valid domain name (letters, digits, hyphens, dots).
pub fn is_domain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Whether `addr` looks like `local@domain` with a valid domain.
pub fn is_address(addr: &str) -> bool {
    match addr.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && local.len() <= 64
                && !local.bytes().any(|b| b.is_ascii_control() || b == b' ')
                && is_domain_name(domain)
        }
        None => false,
    }
}

struct Checker<'a> {
    text: &'a str,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn problem(&mut self, path: &[Seg<'_>], message: String) {
        self.problems.push(Problem {
            line: line_of_path(self.text, path),
            message,
        });
    }
}

/// Check `config` (parsed from `text`) and return every problem.
pub fn check(config: &Config, text: &str) -> Vec<Problem> {
    use Seg::{Index, Key};
    let mut c = Checker {
        text,
        problems: Vec::new(),
    };

    if !is_domain_name(&config.server.hostname) || !config.server.hostname.contains('.') {
        c.problem(
            &[Key("server"), Key("hostname")],
            format!(
                "server.hostname {:?} must be a fully qualified host name",
                config.server.hostname
            ),
        );
    }
    if !is_address(&config.server.postmaster) {
        c.problem(
            &[Key("server"), Key("postmaster")],
            format!(
                "server.postmaster {:?} must be a mail address (local@domain)",
                config.server.postmaster
            ),
        );
    }

    let l = &config.limits;
    if l.line_length < 512 {
        c.problem(
            &[Key("limits"), Key("line_length")],
            "limits.line_length must be at least 512 (RFC 5321 §4.5.3.1)".into(),
        );
    }
    if l.message_size.0 < 1024 {
        c.problem(
            &[Key("limits"), Key("message_size")],
            "limits.message_size must be at least 1K".into(),
        );
    }
    for (key, bad) in [
        ("recipients", l.recipients == 0),
        ("errors", l.errors == 0),
        ("idle_timeout", l.idle_timeout.0 == 0),
        ("max_hops", l.max_hops == 0),
        ("connections", l.connections == 0),
        ("write_timeout", l.write_timeout.0 == 0),
    ] {
        if bad {
            c.problem(
                &[Key("limits"), Key(key)],
                format!("limits.{key} must be greater than 0"),
            );
        }
    }

    let d = &config.delivery;
    if d.retry.is_empty() || d.retry.iter().any(|s| s.0 == 0) {
        c.problem(
            &[Key("delivery"), Key("retry")],
            "delivery.retry must list at least one wait, each greater than 0".into(),
        );
    }
    if d.concurrency == 0 {
        c.problem(
            &[Key("delivery"), Key("concurrency")],
            "delivery.concurrency must be greater than 0".into(),
        );
    }
    if config.cluster.node > super::cluster::MAX_NODE {
        c.problem(
            &[Key("cluster"), Key("node")],
            format!(
                "cluster.node must be 0-{} (one number per host sharing the spool)",
                super::cluster::MAX_NODE
            ),
        );
    }
    if config.cluster.idle_poll.0 == 0 || config.cluster.idle_poll.0 > 3600 {
        c.problem(
            &[Key("cluster"), Key("idle_poll")],
            "cluster.idle_poll must be between 1s and 1h".into(),
        );
    }
    if config.cluster.node_wait.0 > 3600 {
        c.problem(
            &[Key("cluster"), Key("node_wait")],
            "cluster.node_wait must be at most 1h".into(),
        );
    }
    if config.cluster.claim_timeout.0 < 10 || config.cluster.claim_timeout.0 > 7 * 86_400 {
        c.problem(
            &[Key("cluster"), Key("claim_timeout")],
            "cluster.claim_timeout must be between 10s and 7d (a claim taken over while its \
             holder still sends would send the message twice)"
                .into(),
        );
    }
    if config.cluster.users_recheck.0 > 60 {
        c.problem(
            &[Key("cluster"), Key("users_recheck")],
            "cluster.users_recheck must be at most 1m (a changed password or new user waits that long)".into(),
        );
    }
    if d.max_attempts == Some(0) {
        c.problem(
            &[Key("delivery"), Key("max_attempts")],
            "delivery.max_attempts must be greater than 0 (leave it out for no limit)".into(),
        );
    }
    if let Some(g) = &d.gateway {
        if !is_host_port(g) && config.remote_server(g).is_none() {
            c.problem(
                &[Key("delivery"), Key("gateway")],
                format!("delivery.gateway {g:?} must be host:port or a [[remote.server]] name"),
            );
        }
    }

    let mut seen = HashSet::new();
    for (i, dom) in config.domains.iter().enumerate() {
        if !is_domain_name(&dom.name) {
            c.problem(
                &[Key("domain"), Index(i), Key("name")],
                format!("domain name {:?} is not a valid domain", dom.name),
            );
        } else if !seen.insert(dom.name.to_ascii_lowercase()) {
            c.problem(
                &[Key("domain"), Index(i), Key("name")],
                format!("domain {:?} is configured twice", dom.name),
            );
        }
    }

    let mut names = HashSet::new();
    let mut addrs = HashSet::new();
    for (i, lis) in config.listeners.iter().enumerate() {
        let valid_name = !lis.name.is_empty()
            && lis
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid_name {
            c.problem(
                &[Key("listener"), Index(i), Key("name")],
                format!(
                    "listener name {:?} must be letters, digits, '-' or '_'",
                    lis.name
                ),
            );
        } else if !names.insert(lis.name.clone()) {
            c.problem(
                &[Key("listener"), Index(i), Key("name")],
                format!("listener {:?} is defined twice", lis.name),
            );
        }
        if !addrs.insert(lis.address) {
            c.problem(
                &[Key("listener"), Index(i), Key("address")],
                format!("address {} is used by two listeners", lis.address),
            );
        }
        if lis.tls != TlsMode::None {
            for (key, v) in [("cert", &lis.cert), ("key", &lis.key)] {
                if v.is_none() {
                    c.problem(
                        &[Key("listener"), Index(i), Key("tls")],
                        format!("listener {:?} uses TLS but has no {key} file", lis.name),
                    );
                }
            }
        }
    }
    super::domains::check(config, |path, m| c.problem(path, m));
    super::rules::check(config, |path, m| c.problem(path, m));
    super::mailauth::check(config, |path, m| c.problem(path, m));
    super::filter::check(config, |path, m| c.problem(path, m));
    super::addresses::check(config, |path, m| c.problem(path, m));
    super::auth::check(&config.auth, |path, message| c.problem(path, message));
    super::users::check(config, |path, message| c.problem(path, message));
    c.problems.extend(super::collect::check(config, text));
    c.problems.extend(super::servers::check(config, text));
    c.problems.extend(super::acme::check(config, text));
    check_log(&mut c, &config.log);
    c.problems
}

fn is_host_port(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            port.parse::<u16>().is_ok_and(|p| p > 0)
                && (is_domain_name(host) || host.parse::<std::net::IpAddr>().is_ok())
        }
        None => false,
    }
}

/// `[log]`: a known facility, and a file for `target = "file"`.
fn check_log(c: &mut Checker<'_>, log: &super::Log) {
    use Seg::Key;
    if log.facility.parse::<syslog::Facility>().is_err() {
        c.problem(
            &[Key("log"), Key("facility")],
            format!(
                "unknown syslog facility {:?} (mail, daemon, local0 … local7)",
                log.facility
            ),
        );
    }
    if log.target == super::LogTarget::File && log.file.is_none() {
        c.problem(
            &[Key("log"), Key("target")],
            "log target \"file\" needs log.file".to_string(),
        );
    }
}
