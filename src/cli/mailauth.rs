//! `postern dkim keygen`, `postern dns records`, `postern dns check`.

use std::path::{Path, PathBuf};

use super::args::{DkimCommand, DnsCommand, KeyAlgorithm};
use super::{exit, load_config, CliResult, Failure};
use crate::config::mailauth::{is_selector, DkimAlgorithm};
use crate::mailauth::keys::{self, SigningKey};
use crate::mailauth::records::{self, Kind, Record, Verdict};

pub fn dkim(flag: Option<&Path>, cmd: DkimCommand) -> CliResult {
    let DkimCommand::Keygen {
        domain,
        selector,
        algorithm,
        key,
        force,
    } = cmd;
    let usage = |m: String| Failure::new(exit::USAGE, anyhow::anyhow!(m));
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    if !is_selector(&domain) {
        return Err(usage(format!("{domain:?} is not a domain name")));
    }
    let algorithm = match algorithm {
        KeyAlgorithm::Rsa2048 => DkimAlgorithm::RsaSha256,
        KeyAlgorithm::Ed25519 => DkimAlgorithm::Ed25519Sha256,
    };
    let selector = selector.unwrap_or_else(|| default_selector(algorithm));
    if !is_selector(&selector) {
        return Err(usage(format!(
            "selector {selector:?}: letters, digits and hyphens in dot-separated labels"
        )));
    }
    let path = match key {
        Some(k) => k,
        // Next to the config file, which need not be valid yet: it may name this very key.
        None => crate::config::resolve_path(flag)
            .parent()
            .unwrap_or(Path::new("."))
            .join("dkim")
            .join(format!("{domain}.{selector}.key")),
    };
    if path.exists() && !force {
        return Err(Failure::new(
            exit::CANTCREAT,
            anyhow::anyhow!(
                "{} exists (a key in use must not be lost; --force replaces it)",
                path.display()
            ),
        ));
    }
    let pem = keys::generate(algorithm).map_err(|e| Failure::new(exit::SOFTWARE, e))?;
    let key = SigningKey::from_pem(pem.as_bytes(), algorithm)
        .map_err(|e| Failure::new(exit::SOFTWARE, e))?;
    let record = key.record().map_err(|e| Failure::new(exit::SOFTWARE, e))?;
    write_key(&path, pem.as_bytes())?;
    let line = Record {
        name: format!("{selector}._domainkey.{domain}"),
        rtype: "TXT",
        value: record,
        kind: Kind::Dkim,
    }
    .zone_line();
    println!("{line}");
    eprintln!(
        "postern: wrote {}; publish the record above, then add to the [[domain]] {domain}:\n\
         [[domain.dkim]]\nselector = \"{selector}\"\nkey = \"{}\"\nalgorithm = \"{}\"",
        path.display(),
        path.display(),
        algorithm.name()
    );
    Ok(())
}

/// `20261204r` / `20261204e`: today's date and the algorithm, so that a rotation and a second
/// algorithm get selectors of their own.
fn default_selector(algorithm: DkimAlgorithm) -> String {
    let date = crate::proto::mail::date::rfc5322_date(crate::queue::spool::now());
    // "Fri, 04 Dec 2026 10:00:00 +0000" → 20261204
    let parts: Vec<&str> = date.split_whitespace().collect();
    let month = |m: &str| {
        [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ]
        .iter()
        .position(|x| *x == m)
        .map(|i| i + 1)
        .unwrap_or(0)
    };
    let stamp = match parts.as_slice() {
        [_, day, mon, year, ..] => {
            format!("{year}{:02}{:0>2}", month(mon), day.trim_start_matches('0'))
        }
        _ => "dkim".into(),
    };
    let suffix = match algorithm {
        DkimAlgorithm::RsaSha256 => "r",
        DkimAlgorithm::Ed25519Sha256 => "e",
    };
    format!("{stamp}{suffix}")
}

/// Write the private key: its directory made private if new, the file 0600, durably.
fn write_key(path: &Path, pem: &[u8]) -> Result<(), Failure> {
    let cant = |e: std::io::Error| {
        Failure::new(
            exit::CANTCREAT,
            anyhow::anyhow!("cannot write {}: {e}", path.display()),
        )
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(cant)?;
        }
    }
    crate::store::durable::replace(path, pem, 0o600).map_err(cant)
}

pub fn dns(flag: Option<&Path>, cmd: DnsCommand) -> CliResult {
    let config = load_config(flag)?;
    let domain = match &cmd {
        DnsCommand::Records { domain } | DnsCommand::Check { domain, .. } => {
            domain.trim_end_matches('.').to_ascii_lowercase()
        }
    };
    let Some(d) = config.domain(&domain) else {
        return Err(Failure::new(
            exit::USAGE,
            anyhow::anyhow!("{domain} is not a [[domain]] of this configuration"),
        ));
    };
    let dkim: Vec<records::DkimRecord> = d
        .dkim
        .iter()
        .map(|k| {
            let path: PathBuf = config.base_dir.join(&k.key);
            let record = SigningKey::load(&path, k.algorithm)
                .and_then(|key| key.record())
                .map_err(|e| e.to_string());
            (k.selector.clone(), record)
        })
        .collect();
    let sts_id = default_selector(DkimAlgorithm::RsaSha256)
        .trim_end_matches('r')
        .to_string();
    let wanted = records::records(&config, &domain, &dkim, &sts_id);
    match cmd {
        DnsCommand::Records { .. } => {
            println!("; DNS records for {domain} (postern dns records)");
            for r in &wanted {
                println!("{}", r.zone_line());
            }
            for (selector, record) in &dkim {
                if let Err(e) = record {
                    println!("; DKIM selector {selector}: no record: {e}");
                }
            }
            Ok(())
        }
        DnsCommand::Check { json, .. } => check(&config, &wanted, json),
    }
}

fn check(config: &crate::config::Config, wanted: &[Record], json: bool) -> CliResult {
    use crate::dns::{Dns, LookupError};
    let runtime = super::process_runtime()?;
    let _on = runtime.enter();
    let resolver = crate::dns::Resolver::new(config.dns());
    let mut bad = 0;
    for r in wanted {
        let found = match r.rtype {
            "TXT" => resolver.txt(&r.name),
            "MX" => resolver
                .mx(&r.name)
                .map(|hosts| hosts.into_iter().map(|h| format!("0 {h}")).collect()),
            "SRV" => resolver.srv(&r.name),
            "CNAME" => resolver.cname(&r.name),
            _ => Ok(Vec::new()),
        };
        let verdict = match found {
            Ok(f) => records::compare(r, &f),
            Err(LookupError::NotFound) => Verdict::Missing,
            Err(e) => Verdict::LookupFailed(e.to_string()),
        };
        if !verdict.acceptable(r.kind) {
            bad += 1;
        }
        let (status, detail) = match &verdict {
            Verdict::Ok => ("ok", String::new()),
            Verdict::Different(f) => ("different", f.join(" | ")),
            Verdict::Missing => ("missing", String::new()),
            Verdict::LookupFailed(e) => ("lookup-failed", e.clone()),
        };
        if json {
            println!(
                "{}",
                serde_json::json!({
                    "name": r.name, "type": r.rtype, "status": status,
                    "want": r.value, "found": detail,
                })
            );
        } else {
            match &verdict {
                Verdict::Ok => println!("ok        {} {}", r.rtype, r.name),
                Verdict::Different(_) => println!(
                    "different {} {}: published {detail}; suggested {}",
                    r.rtype, r.name, r.value
                ),
                Verdict::Missing => {
                    println!(
                        "missing   {} {}: publish {}",
                        r.rtype,
                        r.name,
                        r.zone_line()
                    )
                }
                Verdict::LookupFailed(e) => {
                    println!("failed    {} {}: lookup failed: {e}", r.rtype, r.name)
                }
            }
        }
    }
    if bad > 0 {
        return Err(Failure::new(
            exit::UNAVAILABLE,
            anyhow::anyhow!("{bad} record(s) missing or wrong"),
        ));
    }
    Ok(())
}
