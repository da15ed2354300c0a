//! `postern sendmail` (also run as `sendmail`, `mailq`, `newaliases`): the sendmail(1) interface
//! that cron, PHP, mailx and monitoring scripts call.
//!
//! A caller who may read the users file and write the spool (root, the server's user) submits
//! through the intake directly, with one delivery attempt; anyone else writes the message into
//! the maildrop that the running server picks up ([`crate::receive::maildrop`]), as the login
//! name of their uid. Silent on success: cron mails back whatever it prints.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use super::args::{DeliverArgs, QueueCommand, SendmailArgs};
use super::{exit, load_config, CliResult, Failure};
use crate::config::{Config, Listener, Protocol, TlsMode};
use crate::intake::{Handoff, Intake, Origin, Outcome, Submission};
use crate::queue::routing::{expand, route_expanded, NoRoute, Route};
use crate::queue::spool::Recipient;
use crate::receive::maildrop;
use crate::receive::sendmail::{self as sm, Mode, Options};
use crate::store::users::Users;

/// Largest message sendmail reads from standard input.
const SENDMAIL_MAX: u64 = 64 * 1024 * 1024;

pub fn sendmail(flag: Option<&Path>, args: SendmailArgs) -> CliResult {
    let opts = sm::parse_args(&args.args)
        .map_err(|e| Failure::new(exit::USAGE, anyhow::anyhow!("{e}\n{}", sm::USAGE)))?;
    if opts.help {
        print!("{}", sm::USAGE);
        return Ok(());
    }
    let flag = opts.config.as_deref().or(flag);
    match opts.mode {
        Mode::Deliver => quietly(opts.verbose, || submit(flag, &opts)),
        Mode::ListQueue => super::queue::queue(flag, QueueCommand::Ls { json: false }),
        Mode::NewAliases => newaliases(flag),
        Mode::Verify => verify(flag, &opts),
        Mode::Flush => super::deliver::deliver(
            flag,
            DeliverArgs {
                once: true,
                watch: false,
                ids: Vec::new(),
            },
        ),
        Mode::Smtp => local_smtp(flag),
        Mode::Nothing => Ok(()),
    }
}

/// Runs `work` with the log lines held back: cron mails whatever sendmail prints, so they are
/// shown (on stderr) only when it fails, or with `-v`.
fn quietly(verbose: bool, work: impl FnOnce() -> CliResult) -> CliResult {
    let held = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = held.clone();
    crate::events::set_sink(Some(Box::new(move |line: &str| {
        if let Ok(mut lines) = sink.lock() {
            if lines.len() < 1000 {
                lines.push(line.to_string());
            }
        }
    })));
    let result = work();
    crate::events::set_sink(None);
    if result.is_err() || verbose {
        if let Ok(lines) = held.lock() {
            for line in lines.iter() {
                eprint!("{line}");
            }
        }
    }
    result
}

/// `newaliases`: the configuration and its aliases file are read and checked (the running
/// server reads them again when it starts or reloads); silent when all is well.
fn newaliases(flag: Option<&Path>) -> CliResult {
    let config = load_config(flag)?;
    if config.addresses.aliases.is_none() {
        return Err(Failure::new(
            exit::CONFIG,
            anyhow::anyhow!("no aliases file is configured ([addresses] aliases)"),
        ));
    }
    Ok(())
}

/// `-bv`: where each recipient would go; nothing is sent. Exit 67 when one has nowhere to go.
fn verify(flag: Option<&Path>, opts: &Options) -> CliResult {
    let config = load_config(flag)?;
    let users = Users::load(&config.paths.users)?.with_source(&config);
    let mut bad = 0;
    for r in &opts.recipients {
        let given = sm::qualify(r.trim(), config.origin());
        for address in expand(&config, &users, &given) {
            let verdict = match route_expanded(&config, &users, &address) {
                Ok(Route::Local { user }) => format!("deliverable: mailbox {user}"),
                Ok(Route::Remote {
                    address: to,
                    domain,
                    server,
                }) => {
                    let dest =
                        crate::queue::deliver::remote::choose(&config, server.as_deref(), &domain);
                    format!("deliverable: to {to} via {dest}")
                }
                Ok(Route::Alias { .. }) => "deliverable: alias".into(),
                Err(NoRoute::NotOurs { domain }) => format!(
                    "deliverable: via {}",
                    crate::queue::deliver::remote::choose(&config, None, &domain)
                ),
                Err(why) => {
                    bad += 1;
                    format!("undeliverable: {why:?}")
                }
            };
            if address.eq_ignore_ascii_case(&given) {
                println!("{given}: {verdict}");
            } else {
                println!("{given} -> {address}: {verdict}");
            }
        }
    }
    if bad > 0 {
        return Err(Failure::new(
            exit::NOUSER,
            anyhow::anyhow!("{bad} recipients are undeliverable"),
        ));
    }
    Ok(())
}

/// `-bs`: one SMTP session on standard input and output, as a trusted local client.
fn local_smtp(flag: Option<&Path>) -> CliResult {
    let config = Arc::new(load_config(flag)?);
    crate::events::set_format(config.log.format);
    let rt = super::process_runtime()?;
    let settings = Listener {
        name: "sendmail".into(),
        protocol: Protocol::Smtp,
        address: ([127, 0, 0, 1], 0).into(),
        tls: TlsMode::None,
        cert: None,
        key: None,
        trusted: true,
    };
    let result = rt.block_on(async move {
        let shared = crate::driver::Shared::open(config.clone())
            .map_err(|e| Failure::new(exit::CONFIG, e))?;
        let listener = Arc::new(
            crate::driver::ListenerRuntime::new(settings)
                .map_err(|e| Failure::new(exit::CONFIG, e))?,
        );
        let conn = crate::driver::net::inetd_conn().map_err(|e| Failure::new(exit::OSERR, e))?;
        crate::driver::handle(shared.clone(), listener, conn).await;
        tokio::time::timeout(crate::receive::smtp::DRAIN_LIMIT, shared.immediate.drain())
            .await
            .ok();
        Ok(())
    });
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    result
}

/// Whether this process may submit through the intake itself: it can read the users file and
/// write the spool.
fn privileged(config: &Config) -> bool {
    let users_ok = match std::fs::File::open(&config.paths.users) {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    };
    users_ok
        && writable(&config.paths.spool.join("tmp"))
        && writable(&config.paths.spool.join("queue"))
}

/// Whether this process may write in `dir`, or — where it does not exist yet — make it.
fn writable(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Some(dir) = dir.ancestors().find(|a| a.exists()) else {
        return false;
    };
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: c is a valid NUL-terminated path for the duration of the call.
    unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
}

/// Send the message on standard input.
fn submit(flag: Option<&Path>, opts: &Options) -> CliResult {
    let config = load_config(flag)?;
    crate::events::set_format(config.log.format);
    let origin = config.origin().to_string();
    let uid = maildrop::my_uid();
    // The password database, not $USER: the sender may not be chosen by the environment.
    let login = maildrop::login_of(uid).unwrap_or_else(|| format!("uid{uid}"));
    let sender = match opts.from.as_deref().map(str::trim) {
        Some(f) if f.is_empty() || f == "<>" => String::new(),
        Some(f) => {
            let f = sm::qualify(f.trim_matches(['<', '>']), &origin);
            crate::proto::smtp::address::check_mailbox(&f, true).map_err(|e| {
                Failure::new(exit::DATAERR, anyhow::anyhow!("bad sender {f:?}: {e}"))
            })?;
            f
        }
        None => sm::qualify(&login, &origin),
    };
    let mut raw = Vec::new();
    std::io::stdin()
        .take(SENDMAIL_MAX + 1)
        .read_to_end(&mut raw)?;
    if raw.len() as u64 > SENDMAIL_MAX || raw.len() as u64 > config.limits.message_size.0 {
        return Err(Failure::new(
            exit::DATAERR,
            anyhow::anyhow!("message too large"),
        ));
    }
    if let Some(h) = opts.hops {
        if h >= config.limits.max_hops {
            return Err(Failure::new(
                exit::DATAERR,
                anyhow::anyhow!("too many hops ({h}): a mail loop"),
            ));
        }
    }
    let header_from = if sender.is_empty() {
        sm::qualify(&login, &origin)
    } else {
        sender.clone()
    };
    let from = sm::from_header(&header_from, opts.full_name.as_deref());
    let message = sm::prepare(
        &raw,
        opts.ignore_dots,
        &config.server.hostname,
        Some(from.as_str()),
    );
    let mut recipients = opts.recipients.clone();
    if opts.from_headers {
        recipients.extend(sm::header_recipients(&message.headers_for_rcpts));
    }
    let mut list: Vec<String> = Vec::new();
    for r in recipients.iter().flat_map(|r| r.split(',')) {
        let r = sm::qualify(r.trim().trim_matches(['<', '>']), &origin);
        if !r.is_empty() && !list.iter().any(|l| l.eq_ignore_ascii_case(&r)) {
            list.push(r);
        }
    }
    if list.is_empty() {
        return Err(Failure::new(
            exit::USAGE,
            anyhow::anyhow!("no recipients given"),
        ));
    }
    for r in &list {
        crate::proto::smtp::address::check_mailbox(r, true).map_err(|e| {
            Failure::new(exit::DATAERR, anyhow::anyhow!("bad recipient {r:?}: {e}"))
        })?;
    }
    if !privileged(&config) {
        let head = maildrop::Head {
            sender,
            recipients: list,
            notify: opts.notify.clone(),
            ret: opts.ret.clone(),
            envid: opts.envid.clone(),
            size: message.bytes.len() as u64,
        };
        let dir = maildrop::dir(&config.paths.spool);
        let path = maildrop::drop_message(&dir, &head, &message.bytes)
            .map_err(|e| Failure::new(exit::TEMPFAIL, e))?;
        crate::events::event("maildrop_written")
            .field("file", path.display())
            .field("user", &login)
            .emit();
        return Ok(());
    }
    let rt = super::process_runtime()?;
    let (_, d) = super::deliver::open(flag, &rt)?;
    let sub = Submission {
        origin: Origin::Sendmail {
            uid,
            login,
            dsn_ret: opts.ret.clone(),
            dsn_envid: opts.envid.clone(),
        },
        sender,
        recipients: list
            .into_iter()
            .map(|r| Recipient {
                notify: opts.notify.clone(),
                ..Recipient::new(r)
            })
            .collect(),
        data: message.bytes,
    };
    let handoff = if opts.queue_only {
        Handoff::QueueRunner
    } else {
        Handoff::Attempt
    };
    let intake = Intake::new(Arc::new(d), handoff);
    let outcome = rt.block_on(intake.accept(sub));
    intake.deliverer().close_idle();
    match outcome {
        Outcome::Accepted(a) => {
            for (rcpt, reply) in &a.refused {
                let why = crate::receive::policy::restrictions::reply_text(reply);
                eprintln!("sendmail: {rcpt}: {why}; a delivery status notification follows");
            }
        }
        Outcome::Refused(r) => {
            let code = if r.is_temporary() {
                exit::TEMPFAIL
            } else {
                exit::DATAERR
            };
            return Err(Failure::new(code, anyhow::anyhow!("{}", r.text())));
        }
        Outcome::Failed(e) => return Err(Failure::new(exit::TEMPFAIL, e)),
    }
    Ok(())
}
