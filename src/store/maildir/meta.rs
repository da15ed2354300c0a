//! Small files beside a user's maildirs that describe mailboxes rather than messages: the list of
//! subscribed mailboxes (`postern-subscriptions` in the INBOX maildir, one name a line), each
//! mailbox's special-use attributes (`postern-special-use` inside its maildir, one attribute a
//! line, so they follow the mailbox through a rename and go with it on delete), and the marker of
//! a finished first-login setup (`postern-imap-init`). What the names and attributes mean is the
//! reader's business; this module keeps them, replaced whole and durably
//! ([`crate::store::durable::replace`]).

use std::fs;
use std::io::Read as _;

use super::error::{MaildirError, Result};
use super::layout::Maildir;

/// Subscribed mailbox names, one per line, in the INBOX maildir.
pub const SUBSCRIPTIONS: &str = "postern-subscriptions";
/// Special-use attributes, one per line, in a mailbox's maildir.
pub const SPECIAL_USE: &str = "postern-special-use";
/// Marks a mail root whose first-login setup is done.
pub const SETUP_DONE: &str = "postern-imap-init";
/// Most subscriptions kept (and read).
pub const MAX_SUBSCRIPTIONS: usize = 10_000;
/// Longest special-use file read.
const MAX_SPECIAL_USE_FILE: u64 = 4096;

/// The subscribed names kept in the INBOX maildir `inbox` (none when there is no list).
pub fn subscriptions(inbox: &Maildir) -> Vec<String> {
    fs::read_to_string(inbox.path().join(SUBSCRIPTIONS))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.is_empty())
        .take(MAX_SUBSCRIPTIONS)
        .map(str::to_string)
        .collect()
}

/// Replaces the subscribed names (the first [`MAX_SUBSCRIPTIONS`]).
pub fn set_subscriptions(inbox: &Maildir, names: &[String]) -> Result<()> {
    write_lines(inbox, SUBSCRIPTIONS, names.iter().take(MAX_SUBSCRIPTIONS))
}

/// The special-use attributes recorded for the mailbox at `md`, trimmed, blank lines left out;
/// `None` when none were ever recorded (no file).
pub fn special_use(md: &Maildir) -> Option<Vec<String>> {
    let file = fs::File::open(md.path().join(SPECIAL_USE)).ok()?;
    let mut text = String::new();
    // A file that is not UTF-8 reads as empty: recorded, but nothing usable.
    let _ = file.take(MAX_SPECIAL_USE_FILE).read_to_string(&mut text);
    Some(
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
    )
}

/// Records the special-use attributes of the mailbox at `md`.
pub fn set_special_use(md: &Maildir, attrs: &[String]) -> Result<()> {
    write_lines(md, SPECIAL_USE, attrs.iter())
}

/// Whether the first-login setup of the mail root `inbox` is done.
pub fn setup_done(inbox: &Maildir) -> bool {
    inbox.path().join(SETUP_DONE).exists()
}

/// Marks the first-login setup of `inbox` as done.
pub fn mark_setup_done(inbox: &Maildir) -> Result<()> {
    write_lines(inbox, SETUP_DONE, std::iter::empty::<&String>())
}

fn write_lines<'a>(
    md: &Maildir,
    name: &str,
    lines: impl Iterator<Item = &'a String>,
) -> Result<()> {
    let mut text = String::new();
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    let path = md.path().join(name);
    crate::store::durable::replace(&path, text.as_bytes(), super::FILE_MODE)
        .map_err(|e| MaildirError::io(&path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_round_trip_and_missing_files_read_as_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = Maildir::create(dir.path().join("u")).unwrap();
        assert!(subscriptions(&inbox).is_empty());
        assert_eq!(special_use(&inbox), None);
        assert!(!setup_done(&inbox));
        let names = vec!["Sent".to_string(), "Lists/rust".to_string()];
        set_subscriptions(&inbox, &names).unwrap();
        assert_eq!(subscriptions(&inbox), names);
        let sent = inbox.create_folder("Sent").unwrap();
        set_special_use(&sent, &["\\Sent".into()]).unwrap();
        assert_eq!(special_use(&sent), Some(vec!["\\Sent".to_string()]));
        fs::write(sent.path().join(SPECIAL_USE), b"\xff\xfe").unwrap();
        assert_eq!(special_use(&sent), Some(Vec::new()), "recorded, unusable");
        mark_setup_done(&inbox).unwrap();
        assert!(setup_done(&inbox));
        // Nothing but the files themselves (and the maildir) is left behind.
        let mut left: Vec<String> = fs::read_dir(inbox.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [".Sent", "cur", "new", SETUP_DONE, SUBSCRIPTIONS, "tmp"]
        );
    }
}
