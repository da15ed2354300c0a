//! `postern domain ls`, `postern domain handlers add-all/add/del`.
//!
//! The TOML file stays the source of truth: edits go through `toml_edit`, so comments and order
//! survive, under an exclusive lock on `<config>.lock`; the edited text must pass
//! [`crate::config::parse`] before it atomically replaces the file (same mode as before).

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use toml_edit::{ArrayOfTables, DocumentMut, Item, Table};

use super::args::{DomainCommand, HandlersCommand};
use super::{exit, load_config, CliResult, Failure};
use crate::config::domains::Handler;
use crate::config::{resolve_path, ConfigError};
use crate::store::users::Users;

pub fn domain(flag: Option<&Path>, cmd: DomainCommand) -> CliResult {
    match cmd {
        DomainCommand::Ls { json } => list(flag, json),
        DomainCommand::Handlers(h) => handlers(flag, h),
    }
}

fn list(flag: Option<&Path>, json: bool) -> CliResult {
    let config = load_config(flag)?;
    let mut out = std::io::stdout().lock();
    for d in &config.domains {
        if json {
            writeln!(out, "{}", serde_json::to_string(d)?)?;
            continue;
        }
        let hosted = match &d.server {
            Some(s) => format!("{:?} via {s}", d.hosted),
            None => format!("{:?}", d.hosted),
        };
        let redirect = d.redirect.as_deref().unwrap_or("-");
        writeln!(
            out,
            "{}\thosted={}\tredirect={redirect}\taccept_unhandled={}\thandlers={}",
            d.name,
            hosted.to_lowercase(),
            d.accept_unhandled,
            d.handlers.len()
        )?;
        for h in &d.handlers {
            writeln!(out, "  {}@{} -> {}", h.local, d.name, describe(h))?;
        }
    }
    Ok(())
}

fn describe(h: &Handler) -> String {
    let mut s = match (&h.mailbox, &h.forward) {
        (Some(m), _) => format!("mailbox {m}"),
        (None, Some(f)) => format!("forward {f}"),
        (None, None) => "-".into(),
    };
    if let Some(server) = &h.server {
        s.push_str(&format!(" via {server}"));
    }
    s
}

fn handlers(flag: Option<&Path>, cmd: HandlersCommand) -> CliResult {
    let path = resolve_path(flag);
    // add-all that found every user handled changed nothing: no reload.
    let add_all = matches!(cmd, HandlersCommand::AddAll { .. });
    let added = match cmd {
        HandlersCommand::AddAll { domain } => {
            let config = load_config(flag)?;
            let users = Users::load(&config.paths.users)?;
            let names: Vec<String> = users.iter().map(|u| u.name.clone()).collect();
            edit(&path, |doc| {
                let list = handler_list(doc, &domain)?;
                let mut n = 0;
                for name in &names {
                    if find(list, name).is_none() {
                        list.push(handler_table(name, Some(name), None, None));
                        n += 1;
                    }
                }
                Ok(n)
            })?
        }
        HandlersCommand::Add {
            domain,
            local,
            mailbox,
            forward,
            server,
        } => edit(&path, |doc| {
            // The same check as the config's (which `edit` runs too), said before anything else.
            crate::config::domains::handler_local(&local)
                .map_err(|why| usage(format!("local part {why}")))?;
            let list = handler_list(doc, &domain)?;
            if find(list, &local).is_some() {
                return Err(usage(format!("{local}@{domain} has a handler already")));
            }
            let t = handler_table(&local, mailbox.as_deref(), forward.as_deref(), server);
            list.push(t);
            Ok(1)
        })?,
        HandlersCommand::Del { domain, local } => edit(&path, |doc| {
            let list = handler_list(doc, &domain)?;
            let i = find(list, &local)
                .ok_or_else(|| usage(format!("{local}@{domain} has no handler")))?;
            list.remove(i);
            Ok(0)
        })?,
    };
    if added > 0 {
        println!("{added} handler(s) added");
    }
    if added > 0 || !add_all {
        tell_running_servers(flag, &path);
    }
    Ok(())
}

/// After an edit: SIGHUP to the servers running on this configuration, or say a reload is
/// needed.
fn tell_running_servers(flag: Option<&Path>, path: &Path) {
    let Ok(config) = load_config(flag) else {
        return;
    };
    let told = crate::driver::reload::tell_running(&config.paths.spool, path);
    if told.is_empty() {
        println!(
            "no running server found for {}: one started now reads the change; reload a running one with SIGHUP (systemctl reload)",
            path.display()
        );
    } else {
        let pids: Vec<String> = told.iter().map(u32::to_string).collect();
        println!(
            "told the running server to reload (pid {})",
            pids.join(", ")
        );
    }
}

fn usage(msg: String) -> Failure {
    Failure::new(exit::USAGE, anyhow::anyhow!(msg))
}

/// The `[[domain.handler]]` list of `domain` (created if the domain has none yet).
fn handler_list<'a>(
    doc: &'a mut DocumentMut,
    domain: &str,
) -> Result<&'a mut ArrayOfTables, Failure> {
    let not_found = || {
        usage(format!(
            "no [[domain]] called {domain:?} in the configuration"
        ))
    };
    let domains = doc
        .get_mut("domain")
        .and_then(Item::as_array_of_tables_mut)
        .ok_or_else(not_found)?;
    let table = domains
        .iter_mut()
        .find(|t| {
            t.get("name")
                .and_then(Item::as_str)
                .is_some_and(|n| n.eq_ignore_ascii_case(domain))
        })
        .ok_or_else(not_found)?;
    let entry = table
        .entry("handler")
        .or_insert_with(|| Item::ArrayOfTables(ArrayOfTables::new()));
    entry.as_array_of_tables_mut().ok_or_else(|| {
        usage(format!(
            "the handlers of {domain} are not written as [[domain.handler]] tables; edit the file by hand"
        ))
    })
}

fn find(list: &ArrayOfTables, local: &str) -> Option<usize> {
    list.iter().position(|t| {
        t.get("local")
            .and_then(Item::as_str)
            .is_some_and(|l| l.eq_ignore_ascii_case(local))
    })
}

fn handler_table(
    local: &str,
    mailbox: Option<&str>,
    forward: Option<&str>,
    server: Option<String>,
) -> Table {
    let mut t = Table::new();
    t.insert("local", toml_edit::value(local));
    if let Some(m) = mailbox {
        t.insert("mailbox", toml_edit::value(m));
    }
    if let Some(f) = forward {
        t.insert("forward", toml_edit::value(f));
    }
    if let Some(s) = server {
        t.insert("server", toml_edit::value(s));
    }
    t
}

/// Lock the config file, apply `change` to its document, validate, and replace it atomically.
fn edit<T>(
    path: &Path,
    change: impl FnOnce(&mut DocumentMut) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let io =
        |e: std::io::Error| Failure::new(exit::IOERR, anyhow::anyhow!("{}: {e}", path.display()));
    let mut lock_name = path.as_os_str().to_owned();
    lock_name.push(".lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(PathBuf::from(lock_name))
        .map_err(io)?;
    crate::store::durable::same_owner(&lock, path);
    lock.lock().map_err(io)?;
    let text = std::fs::read_to_string(path).map_err(io)?;
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e| Failure::new(exit::CONFIG, anyhow::anyhow!("{}: {e}", path.display())))?;
    let result = change(&mut doc)?;
    let new = doc.to_string();
    let base = path.parent().unwrap_or(Path::new("."));
    crate::config::parse(&new, base).map_err(|problems| {
        let e = ConfigError::Invalid {
            path: path.to_path_buf(),
            problems,
        };
        Failure::new(
            exit::CONFIG,
            anyhow::anyhow!("not changed, the result would be invalid:\n{e}"),
        )
    })?;
    crate::store::durable::replace_keeping(path, new.as_bytes(), 0o600).map_err(io)?;
    drop(lock);
    Ok(result)
}
