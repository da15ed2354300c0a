//! `postern config check`, `cert gen`, `mbox ls`, `mbox quota`.

use std::io::Write;
use std::path::Path;

use super::args::{CertCommand, ConfigCommand, MboxCommand};
use super::{exit, load_config, CliResult, Failure};
use crate::config::units::parse_size;
use crate::store::users::{self, Users, UsersError};

pub fn config(flag: Option<&Path>, cmd: ConfigCommand) -> CliResult {
    match cmd {
        ConfigCommand::Check => {
            // Everything loading checks, and the aliases, users and certificates files.
            let path = crate::config::resolve_path(flag);
            let certs = |c: &Path, k: &Path| {
                crate::driver::tls::load_acceptor(c, k)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            };
            let config = crate::config::check::check_file(&path, &certs).map_err(|e| {
                let code = match &e {
                    crate::config::ConfigError::Read { .. } => exit::NOINPUT,
                    crate::config::ConfigError::Invalid { .. } => exit::CONFIG,
                };
                Failure::new(code, e)
            })?;
            // So must the DKIM keys (a key that cannot sign leaves mail unsigned).
            let mut problems = Vec::new();
            for d in &config.domains {
                for k in &d.dkim {
                    let path = config.base_dir.join(&k.key);
                    if let Err(e) = crate::mailauth::keys::SigningKey::load(&path, k.algorithm) {
                        problems.push(format!("domain {} selector {}: {e}", d.name, k.selector));
                    }
                }
            }
            if !problems.is_empty() {
                return Err(Failure::new(
                    exit::CONFIG,
                    anyhow::anyhow!(problems.join("\n")),
                ));
            }
            Ok(())
        }
        ConfigCommand::Show { non_default } => super::config_show::show(flag, non_default),
    }
}

pub fn cert(flag: Option<&Path>, cmd: CertCommand) -> CliResult {
    let (cn, san, days, cert, key, force) = match cmd {
        CertCommand::Gen {
            cn,
            san,
            days,
            cert,
            key,
            force,
        } => (cn, san, days, cert, key, force),
        CertCommand::Acme {
            renew,
            force,
            revoke,
        } => return cert_acme(flag, renew, force, revoke),
    };
    if !force {
        if let Some(there) = [&key, &cert].into_iter().find(|p| p.exists()) {
            return Err(Failure::new(
                exit::CANTCREAT,
                anyhow::anyhow!(
                    "{} exists: not replaced (use --force to replace it)",
                    there.display()
                ),
            ));
        }
    }
    let cn = match cn {
        Some(cn) => cn,
        None => load_config(flag)?.server.hostname,
    };
    let generated =
        crate::cert::generate(&cn, &san, days).map_err(|e| Failure::new(exit::DATAERR, e))?;
    crate::cert::write_files(&generated, &cert, &key).map_err(|e| {
        Failure::new(
            exit::CANTCREAT,
            anyhow::anyhow!(
                "cannot write the certificate {} and key {}: {e}",
                cert.display(),
                key.display()
            ),
        )
    })?;
    println!("{}", generated.sha256_fingerprint);
    Ok(())
}

/// `cert acme`: obtain or renew the `[acme]` certificate now.
fn cert_acme(flag: Option<&Path>, quiet: bool, force: bool, revoke: bool) -> CliResult {
    let config = load_config(flag)?;
    if config.acme.is_none() && quiet {
        // The cron line on a host without [acme]: nothing to renew.
        return Ok(());
    }
    if config.acme.is_none() {
        return Err(Failure::new(
            exit::CONFIG,
            anyhow::anyhow!("no [acme] section in the configuration"),
        ));
    }
    let rt = super::process_runtime()?;
    let options = crate::acme::Options { force, revoke };
    match rt.block_on(crate::acme::run(&config, options)) {
        Ok(crate::acme::Outcome::NotDue { names, not_after }) => {
            if !quiet {
                println!(
                    "certificate for {} is good until {}: not renewed",
                    names.join(","),
                    humantime::format_rfc3339_seconds(not_after)
                );
            }
            Ok(())
        }
        Ok(crate::acme::Outcome::Elsewhere { holder }) => {
            if !quiet {
                println!(
                    "the certificate is being renewed by {holder}: its files are served once written"
                );
            }
            Ok(())
        }
        Ok(crate::acme::Outcome::Obtained {
            why,
            names,
            serial,
            not_after,
            targets,
        }) => {
            let files: Vec<String> = targets
                .iter()
                .map(|t| t.cert.display().to_string())
                .collect();
            println!(
                "obtained a certificate for {} ({why}): serial {serial}, valid until {}, written to {}",
                names.join(","),
                humantime::format_rfc3339_seconds(not_after),
                files.join(", ")
            );
            Ok(())
        }
        Err(e) => {
            crate::events::event("acme_failed")
                .field("error", &e)
                .field("effect", "the served certificate is kept")
                .emit();
            let code = match e {
                crate::acme::AcmeError::NotConfigured | crate::acme::AcmeError::NoTarget => {
                    exit::CONFIG
                }
                crate::acme::AcmeError::Write { .. }
                | crate::acme::AcmeError::AccountFile { .. } => exit::CANTCREAT,
                _ => exit::TEMPFAIL,
            };
            Err(Failure::new(
                code,
                anyhow::anyhow!("{e}; the served certificate is kept"),
            ))
        }
    }
}

pub fn mbox(flag: Option<&Path>, cmd: MboxCommand) -> CliResult {
    let config = load_config(flag)?;
    let users = Users::load(&config.paths.users)?;
    let mut out = std::io::stdout().lock();
    let volume = crate::store::maildir::MailVolume::for_config(&config);
    let row = |u: &crate::store::users::User| {
        // From the `,S=` sizes in the file names, as the quota check at RCPT counts them.
        let (bytes, messages) = volume.usage(&u.name).unwrap_or((0, 0));
        (u.name.clone(), bytes, messages, u.quota)
    };
    match cmd {
        MboxCommand::Ls { json } => {
            for u in users.iter() {
                print_row(&mut out, row(u), json)?;
            }
        }
        MboxCommand::Quota {
            user,
            set,
            clear,
            json,
        } => {
            if set.is_some() || clear {
                let Some(name) = user else {
                    return Err(Failure::new(
                        exit::USAGE,
                        anyhow::anyhow!("name the user whose quota to change"),
                    ));
                };
                let limit = match set {
                    Some(s) => Some(parse_size(&s).ok_or_else(|| {
                        Failure::new(exit::USAGE, anyhow::anyhow!("bad size {s:?} (e.g. 500M)"))
                    })?),
                    None => None,
                };
                users::modify(&config.paths.users, |list| {
                    let u = list
                        .iter_mut()
                        .find(|u| u.name == name)
                        .ok_or_else(|| UsersError::NoSuchUser(name.clone()))?;
                    u.quota = limit;
                    Ok(())
                })
                .map_err(|e| match e {
                    UsersError::NoSuchUser(_) => Failure::new(exit::NOUSER, e),
                    e => Failure::from(e),
                })?;
                return Ok(());
            }
            let selected: Vec<_> = match &user {
                Some(name) => vec![users.get(name).ok_or_else(|| {
                    Failure::new(exit::NOUSER, anyhow::anyhow!("no such user {name:?}"))
                })?],
                None => users.iter().collect(),
            };
            for u in selected {
                print_row(&mut out, row(u), json)?;
            }
        }
    }
    Ok(())
}

fn print_row(
    out: &mut impl Write,
    (name, bytes, messages, quota): (String, u64, u64, Option<u64>),
    json: bool,
) -> std::io::Result<()> {
    if json {
        let v =
            serde_json::json!({"user": name, "bytes": bytes, "messages": messages, "quota": quota});
        writeln!(out, "{v}")
    } else {
        let (quota, percent) = match quota {
            Some(q) => (
                human(q),
                format!("{}%", (bytes.saturating_mul(100)) / q.max(1)),
            ),
            None => ("-".to_string(), "-".to_string()),
        };
        writeln!(
            out,
            "{name}\t{}\t{messages} messages\t{quota}\t{percent}",
            human(bytes)
        )
    }
}

/// A size for people: `512B`, `1.5K`, `20.0M`, `2.0G` (powers of 1024, as quotas are written).
pub fn human(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)];
    for (unit, size) in UNITS {
        if bytes >= size {
            return format!("{:.1}{unit}", bytes as f64 / size as f64);
        }
    }
    format!("{bytes}B")
}
