//! `postern config check`: everything [`super::load`] checks, and what needs other files — the
//! aliases file, the users file (every handler, redirect, postmaster, catch-all and alias target
//! that names a user names one that exists), the certificates — all reported together, each with
//! the line of the configuration it comes from.

use std::path::Path;

use super::locate::{line_of_path, Seg};
use super::{Config, ConfigError, Hosting, Problem};
use crate::queue::routing::{expand, route_expanded, NoRoute};
use crate::store::users::Users;

/// Check the configuration at `path` and the files it names; `cert_check(cert, key)` says why a
/// certificate and key cannot be used.
pub fn check_file(
    path: &Path,
    cert_check: &dyn Fn(&Path, &Path) -> Result<(), String>,
) -> Result<Config, ConfigError> {
    let text = super::read_text(path)?;
    let invalid = |problems| ConfigError::Invalid {
        path: path.to_path_buf(),
        problems,
    };
    let mut config: Config = match toml::from_str(&text) {
        Ok(c) => c,
        Err(e) => {
            let line = e.span().map(|s| super::locate::line_of(&text, s.start));
            return Err(invalid(vec![Problem {
                line,
                message: e.message().trim().to_string(),
            }]));
        }
    };
    config.base_dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| ".".into());
    let mut problems = super::validate::check(&config, &text);
    config.resolve_paths();
    let at = |segs: &[Seg<'_>], message: String| Problem {
        line: line_of_path(&text, segs),
        message,
    };
    use Seg::{Index, Key};
    if let Err(list) = config.load_aliases() {
        for p in list {
            problems.push(at(
                &[Key("addresses"), Key("aliases")],
                format!("aliases: {p}"),
            ));
        }
    }
    // The admin's Sieve scripts run for every delivery: each must be there and compile.
    for (key, script) in [
        ("before", &config.sieve.before),
        ("after", &config.sieve.after),
    ] {
        let Some(p) = script else {
            continue;
        };
        let why = match std::fs::read(p) {
            Ok(text) => crate::store::sieve::compile::check(&config.sieve, &text).err(),
            Err(e) => Some(e.to_string()),
        };
        if let Some(why) = why {
            problems.push(at(
                &[Key("sieve"), Key(key)],
                format!("sieve.{key}: {}: {why}", p.display()),
            ));
        }
    }
    for (i, l) in config.listeners.iter().enumerate() {
        if let (Some(c), Some(k)) = (&l.cert, &l.key) {
            if let Err(e) = cert_check(c, k) {
                problems.push(at(
                    &[Key("listener"), Index(i), Key("cert")],
                    format!("listener {:?}: {e}", l.name),
                ));
            }
        }
    }
    for (i, path) in config.tls.extra_roots.iter().enumerate() {
        if let Err(e) = crate::driver::tls::trust_anchors(path) {
            problems.push(at(
                &[Key("tls"), Key("extra_roots"), Index(i)],
                e.to_string(),
            ));
        }
    }
    if let Some(acme) = &config.acme {
        for (i, path) in acme.ca_roots.iter().enumerate() {
            if let Err(e) = crate::driver::tls::trust_anchors(path) {
                problems.push(at(&[Key("acme"), Key("ca_roots"), Index(i)], e.to_string()));
            }
        }
    }
    match Users::load(&config.paths.users).map(|u| u.with_source(&config)) {
        Err(e) => problems.push(at(&[Key("paths"), Key("users")], e.to_string())),
        Ok(users) => {
            for (segs, message) in user_references(&config, &users) {
                let segs: Vec<Seg<'_>> = segs.iter().map(Seg::from).collect();
                problems.push(at(&segs, message));
            }
        }
    }
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(invalid(problems))
    }
}

/// An owned key path (for problems found after the text's borrow).
#[derive(Debug, Clone)]
pub enum OwnedSeg {
    Key(&'static str),
    Index(usize),
}

impl<'a> From<&'a OwnedSeg> for Seg<'a> {
    fn from(s: &'a OwnedSeg) -> Seg<'a> {
        match s {
            OwnedSeg::Key(k) => Seg::Key(k),
            OwnedSeg::Index(i) => Seg::Index(*i),
        }
    }
}

/// Every setting that names a user who does not exist (or cannot receive mail), with its key.
pub fn user_references(config: &Config, users: &Users) -> Vec<(Vec<OwnedSeg>, String)> {
    use OwnedSeg::{Index, Key};
    let mut out = Vec::new();
    let missing = |name: &str| users.find_mailbox(name).is_none();
    for (i, d) in config.domains.iter().enumerate() {
        for (j, h) in d.handlers.iter().enumerate() {
            if let Some(m) = h.mailbox.as_deref().filter(|m| missing(m)) {
                out.push((
                    vec![
                        Key("domain"),
                        Index(i),
                        Key("handler"),
                        Index(j),
                        Key("mailbox"),
                    ],
                    format!(
                        "handler {}@{}: mailbox {m:?}: no such user (postern user add {m})",
                        h.local, d.name
                    ),
                ));
            }
        }
        if let Some(r) = d.redirect.as_deref() {
            if d.hosted == Hosting::Here && !r.contains('@') && missing(r) {
                out.push((
                    vec![Key("domain"), Index(i), Key("redirect")],
                    format!("domain {}: redirect {r:?}: no such user", d.name),
                ));
            }
        }
    }
    let reaches_nobody = |address: &str| {
        expand(config, users, address)
            .iter()
            .any(|a| matches!(route_expanded(config, users, a), Err(NoRoute::NoSuchUser)))
    };
    let pm = &config.server.postmaster;
    if reaches_nobody(pm) {
        out.push((
            vec![Key("server"), Key("postmaster")],
            format!("server.postmaster {pm:?} reaches no mailbox: no such user or handler"),
        ));
    }
    for (i, a) in config.collect.iter().enumerate() {
        if let Some(c) = a.catch_all.as_deref().filter(|c| reaches_nobody(c)) {
            out.push((
                vec![Key("collect"), Index(i), Key("catch_all")],
                format!(
                    "collect account {:?}: catch_all {c:?} reaches no mailbox: no such user",
                    a.name
                ),
            ));
        }
    }
    let table = &config.addresses.table;
    for (name, targets) in table.iter() {
        for t in targets.iter().filter(|t| !t.contains('@')) {
            if table.get(t).is_none() && missing(t) {
                out.push((
                    vec![Key("addresses"), Key("aliases")],
                    format!("aliases: {name}: target {t:?}: no such user or alias"),
                ));
            }
        }
    }
    out
}
