//! Local delivery of one recipient into its user's maildir.

use std::path::PathBuf;

use super::{outcomes, Deliverer, RecipientResult};
use crate::queue::spool::QueueId;
use crate::store::maildir::deliver::{Delivered, Delivery};

/// The message a local delivery is of: from the queue (the runner) or from the intake.
pub struct Job<'a> {
    pub id: &'a QueueId,
    pub sender: &'a str,
    /// A previous attempt crashed: look for an earlier copy (see [`Delivery::recovering`]).
    pub recovering: bool,
    /// Sieve may send (redirect, vacation), bounce (reject) and record (duplicate): the queue
    /// runner. The intake, before the message is acknowledged, leaves a message whose
    /// scripts want any of that to the runner.
    pub filter_effects: bool,
    /// The authenticated submitter (Sieve's `envelope "auth"`).
    pub auth: Option<&'a str>,
    /// The intake of a single-recipient SMTP transaction, before the acknowledgment: a
    /// script's `reject`/`ereject` refuses the message in protocol (RFC 5429 §2.1.1: nothing
    /// is stored, [`Landed::refused`] holds the reason) instead of bouncing it.
    pub refuse_in_protocol: bool,
}

/// The stable key of delivering recipient number `index` of message `id`: the same in every
/// attempt, so that a second one finds the first one's file.
pub fn key(id: &QueueId, index: usize) -> String {
    format!("{id}R{index}")
}

/// The maildir of `user` on the mail volume (`None` for a name unsafe as a directory).
pub fn maildir_of(d: &Deliverer, user: &str) -> Option<PathBuf> {
    crate::store::maildir::MailVolume::for_config(&d.config).inbox_path(user)
}

/// Whether verdicts file mail for `user` (reached as `address`) into Junk, and the header
/// fields that mark spam for it: the user's `junk`, else the address's domain's `junk` and
/// `spam_headers`, else `[delivery]`'s.
pub fn junk_policy<'a>(
    config: &'a crate::config::Config,
    users: &crate::store::users::Users,
    user: &str,
    address: &str,
) -> (bool, &'a [String]) {
    let domain = address
        .rsplit_once('@')
        .and_then(|(_, domain)| config.domain(domain));
    let marks = domain
        .and_then(|d| d.spam_headers.as_deref())
        .unwrap_or(&config.delivery.spam_headers);
    let junk = users
        .get(user)
        .and_then(|u| u.junk)
        .or_else(|| domain.and_then(|d| d.junk))
        .unwrap_or(config.delivery.junk);
    (junk, marks)
}

/// The maildir a message for `user` (reached as `address`) goes into: the INBOX, or — for a
/// message this server's DMARC check quarantined ([`crate::mailauth::verify::is_quarantined`])
/// or one a spam filter marked ([`is_spam`] with the [`junk_policy`]'s header fields), when
/// that policy files verdicts into Junk — the `Junk` folder (made, with the `\Junk`
/// special-use attribute, when missing; the INBOX if it cannot be).
pub fn target_of(d: &Deliverer, user: &str, address: &str, message: &[u8]) -> Option<PathBuf> {
    let inbox = maildir_of(d, user)?;
    let (junk, marks) = junk_policy(&d.config, &d.users.get(), user, address);
    if !junk {
        return Some(inbox);
    }
    let quarantined = crate::mailauth::verify::is_quarantined(message, &d.config.server.hostname);
    if !quarantined && !is_spam(message, marks) {
        return Some(inbox);
    }
    let junk = inbox.join(".Junk");
    if junk.join("cur").is_dir() {
        return Some(junk);
    }
    let made = crate::store::maildir::layout::Maildir::create(&inbox).and_then(|md| {
        let (folder, _) = md.ensure_folder("Junk")?;
        if crate::store::maildir::meta::special_use(&folder).is_none() {
            crate::store::maildir::meta::set_special_use(&folder, &["\\Junk".to_string()])?;
        }
        Ok(folder)
    });
    Some(match made {
        Ok(folder) => folder.path().to_path_buf(),
        Err(_) => inbox,
    })
}

/// Whether a header field of `message` is one of `marks` (`"Name: value"`; the name and the
/// value each compared without case, the value's surrounding blanks ignored).
pub fn is_spam(message: &[u8], marks: &[String]) -> bool {
    if marks.is_empty() {
        return false;
    }
    let end = message
        .windows(2)
        .position(|w| w == b"\n\n")
        .or_else(|| message.windows(4).position(|w| w == b"\r\n\r\n"))
        .unwrap_or(message.len());
    let head = String::from_utf8_lossy(message.get(..end).unwrap_or(message));
    let fields = head.lines().filter_map(|l| l.split_once(':'));
    let wanted: Vec<(&str, &str)> = marks
        .iter()
        .filter_map(|m| m.split_once(':'))
        .map(|(n, v)| (n.trim(), v.trim()))
        .collect();
    fields.into_iter().any(|(name, value)| {
        wanted.iter().any(|(n, v)| {
            name.trim().eq_ignore_ascii_case(n) && value.trim().eq_ignore_ascii_case(v)
        })
    })
}

/// What a local delivery wrote: the files (maildir and delivery key, to take them back) and the
/// directories to fsync before the delivery counts.
#[derive(Debug, Default)]
pub struct Landed {
    pub files: Vec<(PathBuf, String)>,
    pub dirs: Vec<PathBuf>,
    /// The reason of a Sieve `reject`/`ereject` to refuse the message with in protocol (only
    /// with [`Job::refuse_in_protocol`]).
    pub refused: Option<String>,
}

/// Deliver recipient number `index` of `job` to `user`: the user's Sieve scripts decide where
/// ([`super::sieve`]); without one, into the INBOX (or Junk, see [`target_of`]).
pub fn deliver(
    d: &Deliverer,
    job: &Job<'_>,
    index: usize,
    user: &str,
    rcpt: &crate::queue::spool::Recipient,
    body: &[u8],
    landed: &mut Landed,
) -> RecipientResult {
    let address = rcpt.address.as_str();
    let Some(inbox) = maildir_of(d, user) else {
        return RecipientResult::Fail(outcomes::unusable_mailbox(user));
    };
    let users = d.users.get();
    let usage = crate::store::maildir::MailVolume::for_config(&d.config);
    if crate::receive::policy::over_quota(&users, &usage, user) {
        return RecipientResult::Defer(outcomes::over_quota(user));
    }
    let sender = job.sender;
    let clean = |s: &str| -> String { s.chars().filter(|c| !c.is_control()).collect() };
    let prefix = format!(
        "Return-Path: <{}>\nDelivered-To: {}\n",
        clean(sender),
        clean(address)
    );
    let key = key(job.id, index);
    // Ours replaces any the message came with (RFC 5321 §4.4: the final delivery adds it).
    let body = &*without_return_path(body);
    let Some(decision) = super::sieve::decide(d, &inbox, job, rcpt, body) else {
        let Some(maildir) = target_of(d, user, address, body) else {
            return RecipientResult::Fail(outcomes::unusable_mailbox(user));
        };
        return write(d, job, &maildir, &key, "", prefix.as_bytes(), body, landed);
    };
    // RFC 5429 §2.1.1: refused in protocol where it can be (not when the script asked the
    // `duplicate` test, which the intake only asks: the queue runner's answer may differ).
    if let (true, false, Some(reason)) = (
        job.refuse_in_protocol,
        decision.used_duplicate,
        &decision.reject,
    ) {
        super::sieve::log(job.id, user, &decision);
        crate::events::event("sieve_refused")
            .field("id", job.id)
            .field("from", job.sender)
            .field("to", address)
            .field("user", user)
            .field("reason", reason)
            .emit();
        landed.refused = Some(reason.clone());
        return RecipientResult::Fail(outcomes::rejected_by_filter(reason));
    }
    if !job.filter_effects && decision.has_side_effects() {
        // Sending, bouncing and the duplicate records are the queue runner's.
        return RecipientResult::Defer(outcomes::filter_needs_queue());
    }
    super::sieve::log(job.id, user, &decision);
    if let Some(reason) = &decision.reject {
        return RecipientResult::Fail(outcomes::rejected_by_filter(reason));
    }
    let message = decision.edited.as_deref().unwrap_or(body);
    for (k, copy) in decision.copies.iter().enumerate() {
        let maildir = match &copy.folder {
            None => target_of(d, user, address, body),
            Some(folder) => match super::sieve::folder_dir(&inbox, folder, copy.create) {
                Ok(dir) => Some(dir),
                Err(why) => {
                    crate::events::event("sieve_error")
                        .field("id", job.id)
                        .field("user", user)
                        .field("error", format!("fileinto {:?}: {why}", copy.mailbox))
                        .field("effect", "filed into INBOX (implicit keep)")
                        .emit();
                    target_of(d, user, address, body)
                }
            },
        };
        let Some(maildir) = maildir else {
            return RecipientResult::Fail(outcomes::unusable_mailbox(user));
        };
        let (mut flags, keywords, mut dropped) = super::sieve::flag_letters(&copy.flags);
        if !keywords.is_empty() {
            match keyword_letters(&maildir, &keywords) {
                Ok((letters, full)) => {
                    flags.push_str(&letters);
                    dropped.extend(full);
                }
                Err(e) => {
                    crate::events::event("sieve_warning")
                        .field("id", job.id)
                        .field("user", user)
                        .field("warning", format!("keywords not stored: {e}"))
                        .emit();
                    dropped.extend(keywords);
                }
            }
        }
        if !dropped.is_empty() {
            crate::events::event("sieve_warning")
                .field("id", job.id)
                .field("user", user)
                .field(
                    "warning",
                    format!(
                        "flags not kept on delivery (not storable, or beyond the \
                         mailbox's 26 keywords): {}",
                        dropped.join(" ")
                    ),
                )
                .emit();
        }
        let copy_key = if k == 0 {
            key.clone()
        } else {
            format!("{key}S{k}")
        };
        match write(
            d,
            job,
            &maildir,
            &copy_key,
            &flags,
            prefix.as_bytes(),
            message,
            landed,
        ) {
            RecipientResult::Delivered => {}
            other => return other,
        }
    }
    // Sent only once every copy is written (a retry after a failed write sends them then).
    for to in &decision.redirects {
        super::sieve::redirect(d, job.id, sender, address, message, to);
    }
    if let Some(v) = &decision.vacation {
        let original = super::sieve::original_recipients(rcpt);
        let r = super::sieve::Recipient {
            id: job.id,
            user,
            maildir: &inbox,
            sender,
            address,
            original: &original,
        };
        super::sieve::vacation(d, &r, body, v);
    }
    if decision.copies.is_empty() {
        crate::events::event("sieve_discarded")
            .field("id", job.id)
            .field("user", user)
            .emit();
    }
    RecipientResult::Delivered
}

/// The maildir letters of `keywords` in the keyword table of the mailbox `maildir` (made when
/// missing), taken under its state lock; the keywords that do not fit come back apart (as
/// Dovecot, a mailbox holds at most 26).
fn keyword_letters(
    maildir: &std::path::Path,
    keywords: &[String],
) -> crate::store::maildir::error::Result<(String, Vec<String>)> {
    let md = crate::store::maildir::Maildir::create(maildir)?;
    crate::store::maildir::MailboxState::new(md).keyword_letters(keywords)
}

/// One copy into `maildir` under `key`, with maildir `flags`.
#[allow(clippy::too_many_arguments)]
fn write(
    d: &Deliverer,
    job: &Job<'_>,
    maildir: &std::path::Path,
    key: &str,
    flags: &str,
    prefix: &[u8],
    message: &[u8],
    landed: &mut Landed,
) -> RecipientResult {
    let delivery = Delivery {
        maildir,
        key,
        time: job.id.unix_time(),
        hostname: &d.delivery_host,
        prefix,
        message,
        recovering: job.recovering,
        flags,
    };
    match delivery.write() {
        Ok(Delivered::New(_)) | Ok(Delivered::AlreadyThere) => {
            landed.files.push((maildir.to_path_buf(), key.to_string()));
            let dir = crate::store::maildir::deliver::landing_dir(maildir, flags);
            if !landed.dirs.contains(&dir) {
                landed.dirs.push(dir);
            }
            RecipientResult::Delivered
        }
        // RFC 3463 X.3.1: mail system full. Retried as soon as the volume has room again.
        Err(e) if crate::freespace::is_full(&e) => RecipientResult::DeferForSpace {
            outcome: outcomes::maildir_failed(maildir, &e),
            dir: maildir.to_path_buf(),
        },
        Err(e) => RecipientResult::Defer(outcomes::maildir_failed(maildir, &e)),
    }
}

/// `message` without `Return-Path:` fields (and their continuation lines) in its header section.
pub fn without_return_path(message: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    let mut skipping = false;
    let mut pos = 0;
    for line in message.split_inclusive(|&b| b == b'\n') {
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        if content.is_empty() {
            break;
        }
        let continuation = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if !continuation {
            skipping = line
                .get(..12)
                .is_some_and(|n| n.eq_ignore_ascii_case(b"return-path:"));
        }
        if skipping {
            out.get_or_insert_with(|| message.get(..pos).unwrap_or_default().to_vec());
        } else if let Some(o) = out.as_mut() {
            o.extend_from_slice(line);
        }
        pos += line.len();
    }
    match out {
        None => std::borrow::Cow::Borrowed(message),
        Some(mut o) => {
            o.extend_from_slice(message.get(pos..).unwrap_or_default());
            std::borrow::Cow::Owned(o)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::without_return_path;

    #[test]
    fn an_incoming_return_path_is_dropped() {
        let m = b"Received: x\r\nReturn-Path: <forged@x.test>\r\n  folded\r\nSubject: s\r\n\r\nReturn-Path: body\r\n";
        assert_eq!(
            &*without_return_path(m),
            b"Received: x\r\nSubject: s\r\n\r\nReturn-Path: body\r\n"
        );
        let m = b"return-path: <a@b>\nSubject: s\n\nx\n";
        assert_eq!(&*without_return_path(m), b"Subject: s\n\nx\n");
        let m = b"Subject: s\n\nx\n";
        assert!(matches!(
            without_return_path(m),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}

#[cfg(test)]
mod spam_tests {
    use super::is_spam;

    #[test]
    fn spam_marks_match_a_header_field_not_the_body() {
        let marks = vec!["X-Spam-Flag: YES".to_string(), "X-Spam:yes".to_string()];
        let table: &[(&[u8], bool)] = &[
            (b"Subject: a\r\nX-Spam-Flag: YES\r\n\r\nbody\r\n", true),
            (b"x-spam-flag:   yes  \nSubject: a\n\nbody\n", true),
            (b"X-Spam: Yes\r\n\r\n", true),
            (b"X-Spam-Flag: NO\r\n\r\n", false),
            (b"Subject: a\r\n\r\nX-Spam-Flag: YES\r\n", false),
            (b"Subject: X-Spam-Flag: YES\r\n\r\n", false),
        ];
        for (message, spam) in table {
            assert_eq!(
                is_spam(message, &marks),
                *spam,
                "{}",
                String::from_utf8_lossy(message)
            );
        }
        assert!(!is_spam(b"X-Spam-Flag: YES\r\n\r\n", &[]));
    }
}

#[cfg(test)]
mod junk_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic
    use super::junk_policy;
    use crate::config::Config;
    use crate::store::users::Users;

    fn config(extra: &str) -> Config {
        let text = format!(
            "[server]\nhostname = \"mx.test\"\npostmaster = \"postmaster@a.test\"\n\
             [delivery]\nspam_headers = [\"X-Spam: Yes\"]\n{extra}\n\
             [[domain]]\nname = \"a.test\"\n\
             [[domain]]\nname = \"b.test\"\njunk = false\n\
             [[domain]]\nname = \"c.test\"\nspam_headers = [\"X-Spam-Flag: YES\"]\n"
        );
        toml::from_str(&text).expect("config")
    }

    fn users(junk: Option<bool>) -> Users {
        let line = junk.map_or(String::new(), |j| format!("junk = {j}\n"));
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("users.toml");
        let text = format!("[[user]]\nname = \"carol\"\npassword = \"x\"\n{line}");
        std::fs::write(&path, text).expect("write");
        Users::load(&path).expect("users")
    }

    #[test]
    fn the_user_then_the_domain_then_delivery_decide_where_spam_goes() {
        let c = config("");
        let none = users(None);
        // (scenario, users, address, junk?, marks)
        let table: [(&str, &Users, &str, bool, &str); 5] = [
            ("host default", &none, "carol@a.test", true, "X-Spam: Yes"),
            (
                "domain opts out",
                &none,
                "carol@b.test",
                false,
                "X-Spam: Yes",
            ),
            (
                "domain's own marks",
                &none,
                "carol@c.test",
                true,
                "X-Spam-Flag: YES",
            ),
            (
                "unknown domain",
                &none,
                "carol@elsewhere.test",
                true,
                "X-Spam: Yes",
            ),
            ("no domain part", &none, "carol", true, "X-Spam: Yes"),
        ];
        for (scenario, users, address, junk, mark) in table {
            let (j, marks) = junk_policy(&c, users, "carol", address);
            assert_eq!((j, marks.join("|").as_str()), (junk, mark), "{scenario}");
        }
        let opted_in = users(Some(true));
        assert!(
            junk_policy(&c, &opted_in, "carol", "carol@b.test").0,
            "user over domain"
        );
        let opted_out = users(Some(false));
        assert!(
            !junk_policy(&c, &opted_out, "carol", "carol@a.test").0,
            "user over host"
        );
        let host_off = config("junk = false");
        assert!(
            !junk_policy(&host_off, &none, "carol", "carol@a.test").0,
            "host off"
        );
        assert!(
            junk_policy(&host_off, &opted_in, "carol", "carol@a.test").0,
            "user on"
        );
    }
}
