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

/// The maildir a message for `user` goes into: the INBOX, or — for a message this server's DMARC
/// check quarantined ([`crate::mailauth::verify::is_quarantined`]) or one a spam filter marked
/// ([`is_spam`] with `delivery.spam_headers`) — the `Junk` folder (made, with the `\Junk`
/// special-use attribute, when missing; the INBOX if it cannot be).
pub fn target_of(d: &Deliverer, user: &str, message: &[u8]) -> Option<PathBuf> {
    let inbox = maildir_of(d, user)?;
    let quarantined = crate::mailauth::verify::is_quarantined(message, &d.config.server.hostname);
    if !quarantined && !is_spam(message, &d.config.delivery.spam_headers) {
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

/// Deliver recipient number `index` of `job` to `user`.
pub fn deliver(
    d: &Deliverer,
    job: &Job<'_>,
    index: usize,
    user: &str,
    address: &str,
    body: &[u8],
) -> RecipientResult {
    let Some(maildir) = target_of(d, user, body) else {
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
    let delivery = Delivery {
        maildir: &maildir,
        key: &key,
        time: job.id.unix_time(),
        hostname: &d.config.server.hostname,
        prefix: prefix.as_bytes(),
        message: body,
        recovering: job.recovering,
    };
    match delivery.write() {
        Ok(Delivered::New(_)) | Ok(Delivered::AlreadyThere) => RecipientResult::Delivered,
        // RFC 3463 X.3.1: mail system full. Retried as soon as the volume has room again.
        Err(e) if crate::freespace::is_full(&e) => RecipientResult::DeferForSpace {
            outcome: outcomes::maildir_failed(&maildir, &e),
            dir: maildir,
        },
        Err(e) => RecipientResult::Defer(outcomes::maildir_failed(&maildir, &e)),
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
