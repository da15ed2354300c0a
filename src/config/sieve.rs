//! `[sieve]`: user filters (RFC 5228) at local delivery, their storage and ManageSieve.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::units::{ByteSize, Seconds};

/// `[sieve]`: per-user Sieve scripts run at local delivery.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sieve {
    /// Run users' active scripts at local delivery (off: every message goes to INBOX or Junk).
    pub enabled: bool,
    /// Scripts one user may store.
    pub max_scripts: usize,
    /// Largest script, in bytes (also the largest ManageSieve literal accepted).
    pub max_script_size: ByteSize,
    /// A script run before every user's own (its actions count as the user's).
    pub before: Option<PathBuf>,
    /// A script run after every user's own (unless the user's script ran `stop`).
    pub after: Option<PathBuf>,
    /// The directory `include :global "name"` reads `name.sieve` from.
    pub global_dir: Option<PathBuf>,
    /// `redirect` actions one message may cause per recipient.
    pub max_redirects: usize,
    /// Actions one script run may produce.
    pub max_actions: usize,
    /// Interpreter steps one script run may take (the CPU budget).
    pub max_steps: u64,
    /// The shortest vacation period a script may ask for (`:days`/`:seconds` below it are raised).
    pub vacation_min_period: Seconds,
    /// The longest vacation period (longer ones are lowered).
    pub vacation_max_period: Seconds,
}

impl Default for Sieve {
    fn default() -> Self {
        Sieve {
            enabled: true,
            max_scripts: 16,
            max_script_size: ByteSize(1024 * 1024),
            before: None,
            after: None,
            global_dir: None,
            max_redirects: 4,
            max_actions: 32,
            max_steps: 100_000,
            vacation_min_period: Seconds(24 * 3600),
            vacation_max_period: Seconds(90 * 24 * 3600),
        }
    }
}

impl Sieve {
    pub(super) fn resolve_paths(&mut self, base: &Path) {
        for p in [&mut self.before, &mut self.after, &mut self.global_dir]
            .into_iter()
            .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }

    /// A vacation period a script asked for (`:days`/`:seconds`, RFC 5230's 7 days when it
    /// gave none), within the configured bounds.
    pub fn vacation_period(&self, asked: u64) -> u64 {
        let min = self.vacation_min_period.0;
        let max = self.vacation_max_period.0.max(min);
        asked.clamp(min, max)
    }
}
