//! `postern collect [--account NAME …]`: one collection pass (for cron). Without `--account`,
//! every account whose interval has passed; named accounts run regardless. On a terminal
//! (stderr), a progress bar per account (messages and bytes) with the log lines above the bars;
//! otherwise only the log, where `collect_done` (or `collect_failed`) is the one-line summary
//! of each account. Exit 75 when any account failed.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use super::args::CollectArgs;
use super::{exit, load_config, CliResult, Failure};
use crate::intake::{Handoff, Intake};
use crate::queue::deliver::Deliverer;
use crate::queue::spool::Spool;
use crate::receive::collect::{self, Collector, NoProgress, Progress};
use crate::store::users::UsersCache;

/// A progress bar for one account: messages, with bytes in the message.
struct Bar {
    bar: ProgressBar,
    bytes: u64,
    total: u64,
}

impl Bar {
    fn show_bytes(&self) {
        self.bar.set_message(format!(
            "{} / {}",
            indicatif::HumanBytes(self.bytes),
            indicatif::HumanBytes(self.total)
        ));
    }
}

impl Progress for Bar {
    fn begin(&mut self, messages: usize, bytes: u64) {
        self.bar.set_length(messages as u64);
        self.total = bytes;
        self.show_bytes();
    }
    fn message(&mut self, bytes: u64) {
        self.bytes += bytes;
        self.bar.inc(1);
        self.show_bytes();
    }
    fn end(&mut self, ok: bool) {
        if ok {
            self.bar.finish();
        } else {
            self.bar.abandon_with_message("failed");
        }
    }
}

/// A bar for `account` in `bars`.
fn bar(bars: &MultiProgress, account: &str) -> Bar {
    let bar = bars.add(ProgressBar::new(0).with_prefix(account.to_string()));
    if let Ok(style) =
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} messages, {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    Bar {
        bar,
        bytes: 0,
        total: 0,
    }
}

pub fn collect(flag: Option<&Path>, args: CollectArgs) -> CliResult {
    let config = Arc::new(load_config(flag)?);
    crate::events::set_format(config.log.format);
    for name in &args.accounts {
        if !config.collect.iter().any(|a| &a.name == name) {
            return Err(Failure::new(
                exit::USAGE,
                anyhow::anyhow!("no collect account named {name:?} in the config"),
            ));
        }
    }
    let spool =
        Arc::new(Spool::open(&config.paths.spool).map_err(|e| Failure::new(exit::CANTCREAT, e))?);
    let users = Arc::new(UsersCache::for_config(&config)?);
    let rt = super::process_runtime()?;
    let deliverer = {
        let _on = rt.enter();
        Arc::new(Deliverer::new(config.clone(), spool.clone(), users.clone()))
    };
    let collector = Collector {
        config: config.clone(),
        spool: spool.clone(),
        users,
        intake: Arc::new(Intake::new(deliverer, Handoff::Attempt)),
    };
    let bars = std::io::stderr().is_terminal().then(MultiProgress::new);
    if let Some(bars) = &bars {
        let bars = bars.clone();
        crate::events::set_sink(Some(Box::new(move |line: &str| {
            bars.suspend(|| {
                let _ = std::io::stderr().lock().write_all(line.as_bytes());
            })
        })));
    }
    let now = crate::queue::spool::now();
    let mut failed = Vec::new();
    let mut not_due = Vec::new();
    for account in &config.collect {
        let named = args.accounts.contains(&account.name);
        if !args.accounts.is_empty() && !named {
            continue;
        }
        if !named && !collect::due(spool.root(), account, now) {
            not_due.push(account.name.as_str());
            continue;
        }
        let mut progress: Box<dyn Progress> = match &bars {
            Some(bars) => Box::new(bar(bars, &account.name)),
            None => Box::new(NoProgress),
        };
        if rt.block_on(collector.run_logged(account, progress.as_mut())) {
            failed.push(account.name.clone());
        }
    }
    crate::events::set_sink(None);
    if !not_due.is_empty() {
        // Said, so that a pass that did nothing is not taken for one that found no mail.
        crate::events::event("collect_not_due")
            .field("accounts", not_due.join(","))
            .field(
                "hint",
                "each account runs once its interval has passed; --account NAME runs it now",
            )
            .emit();
    }
    if config.collect.is_empty() {
        crate::events::event("collect_not_due")
            .field("accounts", "")
            .field("hint", "no [[collect]] account is configured")
            .emit();
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(
            exit::TEMPFAIL,
            anyhow::anyhow!("collection failed for {}", failed.join(", ")),
        ))
    }
}
