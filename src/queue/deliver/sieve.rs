//! Sieve at local delivery: the recipient's scripts (the admin's `[sieve] before`, the user's
//! active one, the admin's `after`) run over the message, and their actions decide where it is
//! filed ([`Decision`]); `redirect` and `vacation` go out through the queue ([`redirect`],
//! [`vacation`]), `reject` becomes a bounce through the queue's failure reports.
//!
//! **Errors never lose mail**: a script that cannot be read or compiled, a run that fails or
//! exceeds its budget, give the implicit keep (the INBOX, or Junk as
//! [`super::local::target_of`] decides) and a `sieve_error` event saying why.
//!
//! Scripts are compiled once per file version: a process-wide cache keyed by path, modification
//! time and size.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::Deliverer;
use crate::config::sieve::Sieve as SieveConfig;
use crate::events::event;
use crate::proto::sieve::{self, Action, Budget, Environment, Input, Script, SpamScore};
use crate::store::sieve::tracking::{Kind, Tracker};
use crate::store::sieve::{Limits, Scripts};

/// Compiled scripts kept (more: the cache starts over).
const MAX_CACHED: usize = 4096;

/// The header field a redirected copy carries, one per redirect it went through.
pub const REDIRECT_FIELD: &str = "X-Postern-Sieve-Redirect";

/// Redirects one message may have gone through (counted by [`REDIRECT_FIELD`]) before a
/// further `redirect` is refused (the message is kept instead).
pub const MAX_REDIRECT_CHAIN: usize = 8;

/// One copy to file: into `folder` (the on-disk Maildir++ name without the dot; `None`: the
/// INBOX) with IMAP `flags`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub folder: Option<String>,
    /// The mailbox as the script named it (for the log).
    pub mailbox: String,
    pub flags: Vec<String>,
    /// `fileinto :create`: make the folder when missing.
    pub create: bool,
}

/// What the scripts decided for one recipient.
#[derive(Debug, Clone, Default)]
pub struct Decision {
    /// Where to file it; none: discarded.
    pub copies: Vec<Copy>,
    /// Addresses to resend it to.
    pub redirects: Vec<String>,
    /// `reject`/`ereject`: refuse it with this reason.
    pub reject: Option<String>,
    pub vacation: Option<sieve::Vacation>,
    /// The message after `editheader` (header and body), when edited.
    pub edited: Option<Vec<u8>>,
    /// A script asked the `duplicate` test.
    pub used_duplicate: bool,
    /// Why the scripts' actions were replaced by the implicit keep.
    pub error: Option<String>,
    /// `fileinto` names that cannot be a folder (those copies go to the INBOX).
    pub failed_fileinto: Vec<String>,
    /// Smaller problems (a redirect refused).
    pub notes: Vec<String>,
}

impl Decision {
    /// The implicit keep after an error.
    fn keep(error: String) -> Decision {
        Decision {
            copies: vec![Copy {
                folder: None,
                mailbox: "INBOX".into(),
                flags: Vec::new(),
                create: false,
            }],
            error: Some(error),
            ..Decision::default()
        }
    }

    /// Whether carrying it out does more than write files (sends mail, bounces, or depends on
    /// the duplicate records): the intake leaves such a message to the queue runner.
    pub fn has_side_effects(&self) -> bool {
        !self.redirects.is_empty()
            || self.reject.is_some()
            || self.vacation.is_some()
            || self.used_duplicate
    }

    fn add_copy(
        &mut self,
        folder: Option<String>,
        mailbox: &str,
        flags: Vec<String>,
        create: bool,
    ) {
        if let Some(c) = self.copies.iter_mut().find(|c| c.folder == folder) {
            for f in flags {
                if !c.flags.iter().any(|g| g.eq_ignore_ascii_case(&f)) {
                    c.flags.push(f);
                }
            }
            c.create |= create;
            return;
        }
        self.copies.push(Copy {
            folder,
            mailbox: mailbox.to_string(),
            flags,
            create,
        });
    }
}

/// The Maildir++ folder (without the dot) of a mailbox name as a script gives it (UTF-8, `/`
/// between levels, as IMAP clients see the hierarchy); `None` for INBOX.
pub fn folder_of(mailbox: &str) -> Result<Option<String>, String> {
    let name = crate::proto::imap::mailbox_name::MailboxName::from_unicode(mailbox)
        .map_err(|e| format!("mailbox {mailbox:?}: {e}"))?;
    if name.is_inbox() {
        return Ok(None);
    }
    let f = name.to_maildir_folder();
    Ok(Some(f.strip_prefix('.').unwrap_or(&f).to_string()))
}

/// The folder `folder` of the maildir `inbox`, made (with `create`) when missing; `Err`: why it
/// cannot be filed into (the caller keeps the message in the INBOX).
pub fn folder_dir(inbox: &Path, folder: &str, create: bool) -> Result<PathBuf, String> {
    let path = inbox.join(format!(".{folder}"));
    if path.join("cur").is_dir() {
        return Ok(path);
    }
    if !create {
        return Err("no such folder (and no :create)".into());
    }
    let md = crate::store::maildir::layout::Maildir::create(inbox).map_err(|e| e.to_string())?;
    md.ensure_folder(folder)
        .map(|(f, _)| f.path().to_path_buf())
        .map_err(|e| e.to_string())
}

/// The IMAP flags a script set, as delivery stores them: the maildir letters of the system
/// flags (sorted), the keywords (each once, without case; stored through the mailbox's keyword
/// table, [`crate::store::maildir::MailboxState::keyword_letters`]), and the flags that cannot
/// be kept (an unknown system flag such as `\Recent`).
pub fn flag_letters(flags: &[String]) -> (String, Vec<String>, Vec<String>) {
    let mut letters: Vec<char> = Vec::new();
    let mut keywords: Vec<String> = Vec::new();
    let mut dropped = Vec::new();
    for f in flags {
        let l = match f.to_ascii_lowercase().as_str() {
            "\\seen" => 'S',
            "\\answered" => 'R',
            "\\flagged" => 'F',
            "\\deleted" => 'T',
            "\\draft" => 'D',
            _ if f.starts_with('\\') => {
                dropped.push(f.clone());
                continue;
            }
            _ => {
                if !keywords.iter().any(|k| k.eq_ignore_ascii_case(f)) {
                    keywords.push(f.clone());
                }
                continue;
            }
        };
        if !letters.contains(&l) {
            letters.push(l);
        }
    }
    letters.sort_unstable();
    (letters.into_iter().collect(), keywords, dropped)
}

struct Cached {
    modified: SystemTime,
    len: u64,
    script: Arc<Script>,
}

fn cache() -> &'static Mutex<HashMap<PathBuf, Cached>> {
    static CACHE: std::sync::OnceLock<Mutex<HashMap<PathBuf, Cached>>> = std::sync::OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The compiled script in `path` (compiled again only when the file changed).
pub fn load(config: &SieveConfig, path: &Path) -> Result<Arc<Script>, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?;
    let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    if let Ok(c) = cache().lock() {
        if let Some(hit) = c.get(path) {
            if hit.modified == modified && hit.len == meta.len() {
                return Ok(hit.script.clone());
            }
        }
    }
    let text = read_bounded(path, config.max_script_size.0).map_err(|e| format!("{shown}: {e}"))?;
    let script = Arc::new(
        crate::store::sieve::compile::compile(config, &text)
            .map_err(|e| format!("{shown}: {e}"))?,
    );
    if let Ok(mut c) = cache().lock() {
        if c.len() >= MAX_CACHED {
            c.clear();
        }
        c.insert(
            path.to_path_buf(),
            Cached {
                modified,
                len: meta.len(),
                script: script.clone(),
            },
        );
    }
    Ok(script)
}

fn read_bounded(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut text = Vec::new();
    std::fs::File::open(path)?
        .take(max + 1)
        .read_to_end(&mut text)?;
    if text.len() as u64 > max {
        return Err(std::io::Error::other(format!(
            "larger than [sieve] max_script_size ({max} bytes)"
        )));
    }
    Ok(text)
}

/// What the scripts ask of the delivery glue.
struct Env<'a> {
    maildir: &'a Path,
    scripts: &'a Scripts,
    config: &'a SieveConfig,
    /// Where `duplicate` records go (`None`: only asked, nothing recorded — the intake).
    duplicates: Option<Tracker>,
    used_duplicate: bool,
    now: u64,
}

impl Environment for Env<'_> {
    fn mailbox_exists(&mut self, name: &str) -> bool {
        match folder_of(name) {
            Ok(None) => true,
            Ok(Some(f)) => self.maildir.join(format!(".{f}")).join("cur").is_dir(),
            Err(_) => false,
        }
    }

    fn include(&mut self, global: bool, name: &str) -> Option<String> {
        crate::store::sieve::valid_name(name).ok()?;
        let text = if global {
            let dir = self.config.global_dir.as_ref()?;
            read_bounded(
                &dir.join(format!("{name}.sieve")),
                self.config.max_script_size.0,
            )
            .ok()?
        } else {
            self.scripts.get(name).ok()?
        };
        String::from_utf8(text).ok()
    }

    fn duplicate(&mut self, id: &str, handle: &str, seconds: u64, last: bool) -> bool {
        self.used_duplicate = true;
        let Some(t) = &self.duplicates else {
            return false;
        };
        let key = format!("{handle}\0{id}");
        let seen = t.seen(&key, self.now);
        if !seen || last {
            if let Err(e) = t.record(&key, self.now.saturating_add(seconds)) {
                event("sieve_error")
                    .field("error", format!("cannot record a duplicate: {e}"))
                    .emit();
            }
        }
        seen
    }
}

/// The scripts' decision for delivering `message` of `job` to `address`, for the user whose
/// maildir is `maildir`; `None` when no script applies (Sieve off, no active script and no
/// global one). With the job's `filter_effects` the `duplicate` test records what it sees (the
/// queue runner); the intake only asks, and leaves a message whose script asked to the runner.
pub fn decide(
    d: &Deliverer,
    maildir: &Path,
    job: &super::local::Job<'_>,
    rcpt: &crate::queue::spool::Recipient,
    message: &[u8],
) -> Option<Decision> {
    let address = rcpt.address.as_str();
    let (sender, record) = (job.sender, job.filter_effects);
    let c = &d.config.sieve;
    if !c.enabled {
        return None;
    }
    let scripts = Scripts::in_maildir(maildir, Limits::of(c));
    let personal = match scripts.active_path() {
        Ok(p) => p,
        Err(e) => {
            return Some(Decision::keep(format!(
                "cannot read the active script: {e}"
            )))
        }
    };
    let paths: Vec<PathBuf> = c
        .before
        .iter()
        .cloned()
        .chain(personal)
        .chain(c.after.iter().cloned())
        .collect();
    if paths.is_empty() {
        return None;
    }
    let now = crate::queue::spool::now();
    let envelope = envelope_of(sender, rcpt, job.auth);
    let spam_score = (!d.config.delivery.spam_headers.is_empty()).then(|| {
        if super::local::is_spam(message, &d.config.delivery.spam_headers) {
            SpamScore {
                value: 10,
                percent: 100,
            }
        } else {
            SpamScore {
                value: 1,
                percent: 0,
            }
        }
    });
    let input = Input {
        envelope: &envelope,
        message,
        spam_score,
        now: (i64::try_from(now).unwrap_or(i64::MAX), 0),
        subaddress_separator: d
            .config
            .addresses
            .recipient_delimiter
            .chars()
            .next()
            .unwrap_or('+'),
    };
    let budget = Budget {
        max_steps: c.max_steps,
        max_actions: c.max_actions,
        max_redirects: c.max_redirects,
        ..Budget::default()
    };
    let mut env = Env {
        maildir,
        scripts: &scripts,
        config: c,
        duplicates: record.then(|| Tracker::new(maildir, Kind::Duplicate)),
        used_duplicate: false,
        now,
    };
    let mut actions = Vec::new();
    let mut implicit_keep = true;
    let mut keep_flags = Vec::new();
    let mut edited = None;
    for path in &paths {
        let outcome = load(c, path).and_then(|script| {
            sieve::run(&script, &input, &mut env, &budget)
                .map_err(|e| format!("{}: {e}", path.display()))
        });
        match outcome {
            Ok(o) => {
                actions.extend(o.actions);
                implicit_keep &= o.implicit_keep;
                keep_flags = o.implicit_keep_flags;
                if o.edited_header.is_some() {
                    edited = o.edited_header;
                }
            }
            Err(e) => {
                let mut keep = Decision::keep(e);
                keep.used_duplicate = env.used_duplicate;
                return Some(keep);
            }
        }
    }
    let mut decision = Decision {
        used_duplicate: env.used_duplicate,
        ..Decision::default()
    };
    let chain = redirected_by(message);
    for a in actions {
        match a {
            Action::Keep { flags } => decision.add_copy(None, "INBOX", flags, false),
            Action::FileInto {
                mailbox,
                flags,
                create,
                ..
            } => match folder_of(&mailbox) {
                Ok(folder) => decision.add_copy(folder, &mailbox, flags, create),
                Err(e) => {
                    decision.failed_fileinto.push(e);
                    decision.add_copy(None, "INBOX", flags, false);
                }
            },
            Action::Redirect { address: to, .. } => {
                let total = c.max_redirects;
                if chain.iter().any(|a| a.eq_ignore_ascii_case(address)) {
                    decision.notes.push(format!(
                        "redirect to {to} refused: {address} redirected this message before \
                         (a loop): kept instead"
                    ));
                    decision.add_copy(None, "INBOX", Vec::new(), false);
                } else if decision.redirects.len() >= total || chain.len() >= MAX_REDIRECT_CHAIN {
                    decision.notes.push(format!(
                        "redirect to {to} refused (at most {total} per message, \
                         {MAX_REDIRECT_CHAIN} in a chain): kept instead"
                    ));
                    decision.add_copy(None, "INBOX", Vec::new(), false);
                } else if !decision
                    .redirects
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(&to))
                {
                    decision.redirects.push(to);
                }
            }
            Action::Discard => {}
            Action::Reject { reason, .. } => decision.reject = Some(reason),
            Action::Vacation(v) => decision.vacation = Some(v),
        }
    }
    if implicit_keep {
        decision.add_copy(None, "INBOX", keep_flags, false);
    }
    if let Some(header) = edited {
        let body = body_of(message);
        let mut m = Vec::with_capacity(header.len() + 2 + body.len());
        m.extend_from_slice(&header);
        m.extend_from_slice(b"\r\n");
        m.extend_from_slice(body);
        decision.edited = Some(m);
    }
    Some(decision)
}

/// The Sieve envelope of delivering `rcpt`: `to` is the address as RCPT TO (or sendmail) gave
/// it, before our aliases expanded it (RFC 5228 §5.4; Pigeonhole's original recipient, its
/// `sieve-test -a`); `orig_to` the original recipient of RFC 3461, the client's ORCPT when it
/// gave an `rfc822` one, else the same address.
pub fn envelope_of(
    sender: &str,
    rcpt: &crate::queue::spool::Recipient,
    auth: Option<&str>,
) -> sieve::Envelope {
    let to = rcpt.expanded_from.as_deref().unwrap_or(&rcpt.address);
    let orig_to = rcpt.orcpt.as_deref().and_then(orcpt_address).unwrap_or(to);
    sieve::Envelope {
        from: sender.to_string(),
        to: to.to_string(),
        orig_to: Some(orig_to.to_string()),
        auth: auth.map(str::to_string),
    }
}

/// The address of an RFC 3461 ORCPT value (`rfc822;ADDRESS`, as smtpd keeps it: decoded);
/// `None` for another address type or an empty one.
pub fn orcpt_address(orcpt: &str) -> Option<&str> {
    let (kind, address) = orcpt.split_once(';')?;
    let address = address.trim().trim_start_matches('<').trim_end_matches('>');
    (kind.trim().eq_ignore_ascii_case("rfc822") && !address.is_empty()).then_some(address)
}

/// The addresses `rcpt` was sent to before it became the address delivered to: the address
/// our aliases expanded, the client's ORCPT (each once; none when it is the same address).
pub fn original_recipients(rcpt: &crate::queue::spool::Recipient) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let candidates = [
        rcpt.expanded_from.as_deref(),
        rcpt.orcpt.as_deref().and_then(orcpt_address),
    ];
    for a in candidates.into_iter().flatten() {
        if !a.eq_ignore_ascii_case(&rcpt.address) && !out.iter().any(|o| o.eq_ignore_ascii_case(a))
        {
            out.push(a.to_string());
        }
    }
    out
}

/// The body of `message` (after the first empty line; empty when there is none).
fn body_of(message: &[u8]) -> &[u8] {
    let crlf = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4);
    let lf = message.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
    let at = match (crlf, lf) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b).unwrap_or(message.len()),
    };
    message.get(at..).unwrap_or_default()
}

/// The addresses that redirected `message` here, oldest last (its [`REDIRECT_FIELD`] fields).
fn redirected_by(message: &[u8]) -> Vec<String> {
    header_lines(message)
        .filter_map(|l| {
            let (name, value) = l.split_at_checked(REDIRECT_FIELD.len() + 1)?;
            let (name, colon) = name.split_at_checked(REDIRECT_FIELD.len())?;
            (name.eq_ignore_ascii_case(REDIRECT_FIELD.as_bytes()) && colon == b":")
                .then(|| String::from_utf8_lossy(value).trim().to_string())
        })
        .collect()
}

fn header_lines(message: &[u8]) -> impl Iterator<Item = &[u8]> {
    message
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .take_while(|l| !l.is_empty())
}

/// Logs what the scripts decided that the admin should know.
pub fn log(id: &crate::queue::spool::QueueId, user: &str, decision: &Decision) {
    if let Some(e) = &decision.error {
        event("sieve_error")
            .field("id", id)
            .field("user", user)
            .field("error", e)
            .field("effect", "filed into INBOX (implicit keep)")
            .emit();
    }
    for e in &decision.failed_fileinto {
        event("sieve_error")
            .field("id", id)
            .field("user", user)
            .field("error", format!("fileinto {e}"))
            .field("effect", "filed into INBOX (implicit keep)")
            .emit();
    }
    for n in &decision.notes {
        event("sieve_warning")
            .field("id", id)
            .field("user", user)
            .field("warning", n)
            .emit();
    }
}

/// Sends `message` on to `to` through the queue, from the original `sender`, marked with
/// [`REDIRECT_FIELD`] naming the redirecting `address`: when the message comes back to it, its
/// script's redirect is refused and the message kept (a loop ends in a mailbox, not lost).
pub fn redirect(
    d: &Deliverer,
    id: &crate::queue::spool::QueueId,
    sender: &str,
    address: &str,
    message: &[u8],
    to: &str,
) {
    let clean = |s: &str| -> String { s.chars().filter(|c| !c.is_control()).collect() };
    let mut data = format!("{REDIRECT_FIELD}: {}\r\n", clean(address)).into_bytes();
    data.extend_from_slice(message);
    let sub = crate::intake::Submission {
        origin: crate::intake::Origin::Notification,
        sender: sender.to_string(),
        recipients: vec![crate::queue::spool::Recipient::new(to)],
        data,
    };
    queue(d, sub, id, "sieve_redirected", to);
}

/// Stores a message the scripts send and tries it at once; logs `name` once it is durable.
pub(super) fn queue(
    d: &Deliverer,
    sub: crate::intake::Submission,
    of: &crate::queue::spool::QueueId,
    name: &'static str,
    to: &str,
) {
    struct Sent<'a> {
        name: &'static str,
        of: &'a crate::queue::spool::QueueId,
        to: &'a str,
    }
    impl crate::intake::Record for Sent<'_> {
        type Error = std::convert::Infallible;
        fn after(&mut self, id: &crate::queue::spool::QueueId) -> Result<(), Self::Error> {
            event(self.name)
                .field("id", self.of)
                .field("new_id", id)
                .field("to", self.to)
                .emit();
            Ok(())
        }
    }
    let mut record = Sent { name, of, to };
    let Ok(outcome) = crate::intake::accept_notification(d, sub, &mut record);
    let why = match outcome {
        crate::intake::Outcome::Accepted(_) => return,
        crate::intake::Outcome::Failed(e) => e.to_string(),
        crate::intake::Outcome::Refused(r) => r.text(),
    };
    event("sieve_error")
        .field("id", of)
        .field("to", to)
        .field("error", format!("cannot queue the {name} message: {why}"))
        .emit();
}

pub use super::vacation::{vacation, Recipient};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_flags_and_chains() {
        assert_eq!(folder_of("INBOX"), Ok(None));
        assert_eq!(folder_of("inbox"), Ok(None));
        assert_eq!(folder_of("Lists/rust"), Ok(Some("Lists.rust".into())));
        assert!(folder_of("").is_err());
        let flags = [
            "\\Seen".to_string(),
            "\\flagged".into(),
            "$Label1".into(),
            "\\Seen".into(),
        ];
        assert_eq!(
            flag_letters(&flags),
            ("FS".to_string(), vec!["$Label1".to_string()], Vec::new())
        );
        let flags = ["work".to_string(), "\\Recent".into(), "Work".into()];
        assert_eq!(
            flag_letters(&flags),
            (
                String::new(),
                vec!["work".to_string()],
                vec!["\\Recent".into()]
            )
        );
        let m = b"X-Postern-Sieve-Redirect: a@x\r\nx-postern-sieve-redirect: b@x\r\nSubject: s\r\n\r\nX-Postern-Sieve-Redirect: body\r\n";
        assert_eq!(redirected_by(m), ["a@x", "b@x"]);
        assert_eq!(body_of(m), b"X-Postern-Sieve-Redirect: body\r\n");
        assert_eq!(body_of(b"A: b\n\nbody\n"), b"body\n");
        assert_eq!(body_of(b"A: b\n"), b"");
    }

    #[test]
    fn the_envelope_names_the_address_given_and_the_orcpt() {
        use crate::queue::spool::Recipient;
        let plain = Recipient::new("bob@example.test");
        let aliased = Recipient {
            expanded_from: Some("sales@example.test".into()),
            ..Recipient::new("bob@example.test")
        };
        let with_orcpt = Recipient {
            orcpt: Some("rfc822;Old@Elsewhere.test".into()),
            ..aliased.clone()
        };
        let other_type = Recipient {
            orcpt: Some("x400;c=us".into()),
            ..Recipient::new("bob@example.test")
        };
        // (recipient, envelope to, orig_to, original recipients for vacation)
        let table: [(&Recipient, &str, &str, &[&str]); 4] = [
            (&plain, "bob@example.test", "bob@example.test", &[]),
            (
                &aliased,
                "sales@example.test",
                "sales@example.test",
                &["sales@example.test"],
            ),
            (
                &with_orcpt,
                "sales@example.test",
                "Old@Elsewhere.test",
                &["sales@example.test", "Old@Elsewhere.test"],
            ),
            (&other_type, "bob@example.test", "bob@example.test", &[]),
        ];
        for (r, to, orig, original) in table {
            let e = envelope_of("a@x.test", r, Some("carol"));
            assert_eq!(
                (e.to.as_str(), e.orig_to.as_deref()),
                (to, Some(orig)),
                "{r:?}"
            );
            assert_eq!(
                (e.from.as_str(), e.auth.as_deref()),
                ("a@x.test", Some("carol"))
            );
            assert_eq!(original_recipients(r), original, "{r:?}");
        }
        assert_eq!(orcpt_address("RFC822; <a@b.test>"), Some("a@b.test"));
        assert_eq!(orcpt_address("rfc822;"), None);
        assert_eq!(orcpt_address("no-semicolon"), None);
    }
}
