//! Local delivery into a maildir: `tmp/` → fsync → `new/`, exactly once per queue entry.
//!
//! File names are `<secs>.<key>.<host>,S=<size>,W=<crlf size>` where `<key>` is derived from the
//! queue id and the recipient's index, so the same delivery always gets the same name: `link(2)`
//! into `new/` fails with EEXIST when a crashed deliverer already got that far, and a deliverer
//! that finds a crash marker also looks in `cur/` (where a reader may have moved the message).
//! Messages are stored with LF line ends, as Unix delivery agents store them.

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Result of one delivery.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivered {
    /// Written now, at this path in `new/`.
    New(PathBuf),
    /// An earlier (crashed) attempt had already delivered it.
    AlreadyThere,
}

/// Host name as maildir names need it ('/' and ':' escaped as the maildir spec says).
pub fn maildir_host(hostname: &str) -> String {
    hostname.replace('/', "\\057").replace(':', "\\072")
}

/// The message with CRLF line ends turned into LF, and its size with CRLF line ends.
pub fn to_lf(message: &[u8]) -> (Vec<u8>, u64) {
    let mut out = Vec::with_capacity(message.len());
    let mut lines = 0u64;
    let mut i = 0;
    while let Some(&b) = message.get(i) {
        if b == b'\r' && message.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        if b == b'\n' {
            lines += 1;
        }
        out.push(b);
        i += 1;
    }
    let crlf_size = out.len() as u64 + lines;
    (out, crlf_size)
}

/// What one delivery writes.
pub struct Delivery<'a> {
    /// The user's maildir (INBOX).
    pub maildir: &'a Path,
    /// Stable unique key of this delivery (queue id + recipient index); only `[0-9A-Za-z_-]`.
    pub key: &'a str,
    /// Seconds since the epoch for the file name (the queue id's time, so retries match).
    pub time: u64,
    pub hostname: &'a str,
    /// Header lines to put in front (e.g. Return-Path, Delivered-To), each ending in "\n".
    pub prefix: &'a [u8],
    /// The message as queued (CRLF or LF line ends).
    pub message: &'a [u8],
    /// A previous attempt crashed: look for an earlier copy in `cur/` too.
    pub recovering: bool,
    /// Maildir flag letters to deliver with (`"FS"`, in ASCII order): a message with flags is
    /// linked into `cur/` as `NAME:2,FLAGS` (a Sieve script's imap4flags); none: into `new/`.
    pub flags: &'a str,
}

impl Delivery<'_> {
    /// Deliver. The caller must fsync `new/` (see `new_dir`) before it forgets the queue entry.
    pub fn write(&self) -> io::Result<Delivered> {
        if self.key.is_empty()
            || !self
                .key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "bad delivery key",
            ));
        }
        let marker = format!(".{}.", self.key);
        if self.recovering && already_delivered(self.maildir, &marker)? {
            return Ok(Delivered::AlreadyThere);
        }
        let (mut body, crlf_body) = to_lf(self.message);
        let prefix_lines = self.prefix.iter().filter(|&&b| b == b'\n').count() as u64;
        let size = (self.prefix.len() + body.len()) as u64;
        let vsize = self.prefix.len() as u64 + prefix_lines + crlf_body;
        let name = format!(
            "{}.{}.{},S={},W={}",
            self.time,
            self.key,
            maildir_host(self.hostname),
            size,
            vsize
        );
        let tmp = self.maildir.join("tmp").join(&name);
        let new = if self.flags.is_empty() {
            self.maildir.join("new").join(&name)
        } else {
            self.maildir
                .join("cur")
                .join(format!("{name}:2,{}", self.flags))
        };
        // The maildir is made (the one way: `Maildir::create`, mode 0700) only when it is
        // missing, so the hot path spends no mkdir calls on it.
        // (An I/O error stays one, so that a full disk is still seen as ENOSPC by the caller.)
        let create = || {
            super::Maildir::create(self.maildir)
                .map(drop)
                .map_err(|e| match e {
                    super::MaildirError::Io { source, .. } => source,
                    other => io::Error::other(other),
                })
        };
        let open_tmp = || {
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
        };
        let result = (|| -> io::Result<()> {
            let mut f = match open_tmp() {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    create()?;
                    open_tmp()?
                }
                other => other?,
            };
            let mut slices = [io::IoSlice::new(self.prefix), io::IoSlice::new(&body)];
            crate::queue::spool::write_all_vectored(&mut f, &mut slices)?;
            f.sync_data()
        })();
        body.clear();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        let linked = match fs::hard_link(&tmp, &new) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                create().and_then(|()| fs::hard_link(&tmp, &new))
            }
            other => other,
        };
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(Delivered::New(new)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(Delivered::AlreadyThere),
            Err(e) => Err(e),
        }
    }
}

/// The `new/` directory of a maildir (to fsync after deliveries).
pub fn new_dir(maildir: &Path) -> PathBuf {
    maildir.join("new")
}

/// The directory a delivery with `flags` links into (to fsync after it): `new/`, or `cur/`.
pub fn landing_dir(maildir: &Path, flags: &str) -> PathBuf {
    maildir.join(if flags.is_empty() { "new" } else { "cur" })
}

fn already_delivered(maildir: &Path, marker: &str) -> io::Result<bool> {
    for sub in ["new", "cur"] {
        let dir = maildir.join(sub);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for e in entries.flatten() {
            if e.file_name().to_str().is_some_and(|n| n.contains(marker)) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery<'a>(dir: &'a Path, key: &'a str, msg: &'a [u8], recovering: bool) -> Delivery<'a> {
        Delivery {
            maildir: dir,
            key,
            time: 1_700_000_000,
            hostname: "mail.example.test",
            prefix: b"Return-Path: <a@example.test>\nDelivered-To: b@example.test\n",
            message: msg,
            recovering,
            flags: "",
        }
    }

    #[test]
    fn delivers_with_lf_and_sizes_in_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let md = dir.path().join("bob");
        let msg = b"Subject: hi\r\n\r\nline one\r\nline two\r\n";
        let Delivered::New(path) = delivery(&md, "Q1R0", msg, false).write().expect("write") else {
            panic!("not delivered")
        };
        let content = fs::read(&path).expect("read");
        assert!(content.starts_with(b"Return-Path: <a@example.test>\nDelivered-To:"));
        assert!(content.ends_with(b"Subject: hi\n\nline one\nline two\n"));
        assert!(!content.contains(&b'\r'));
        let name = path.file_name().and_then(|n| n.to_str()).expect("name");
        let lines = content.iter().filter(|&&b| b == b'\n').count();
        assert!(name.starts_with("1700000000.Q1R0.mail.example.test,S="));
        assert!(name.ends_with(&format!(",S={},W={}", content.len(), content.len() + lines)));
        assert!(fs::read_dir(md.join("tmp")).expect("tmp").next().is_none());
    }

    #[test]
    fn same_delivery_twice_is_written_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let md = dir.path().join("bob");
        let msg = b"Subject: x\r\n\r\nbody\r\n";
        assert!(matches!(
            delivery(&md, "Q2R0", msg, false).write(),
            Ok(Delivered::New(_))
        ));
        assert_eq!(
            delivery(&md, "Q2R0", msg, false).write().expect("write"),
            Delivered::AlreadyThere
        );
        // A reader moved it to cur/ with flags; recovery still finds it.
        let new_entry = fs::read_dir(md.join("new"))
            .expect("new")
            .next()
            .expect("one")
            .expect("entry");
        let moved = md.join("cur").join(format!(
            "{}:2,S",
            new_entry.file_name().to_str().expect("utf8")
        ));
        fs::rename(new_entry.path(), &moved).expect("rename");
        assert_eq!(
            delivery(&md, "Q2R0", msg, true).write().expect("write"),
            Delivered::AlreadyThere
        );
        assert!(matches!(
            delivery(&md, "Q2R1", msg, true).write(),
            Ok(Delivered::New(_))
        ));
    }

    #[test]
    fn missing_maildir_parts_are_made_on_demand() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let md = dir.path().join("carol");
        assert!(matches!(
            delivery(&md, "Q3R0", b"x\r\n", false).write(),
            Ok(Delivered::New(_))
        ));
        let mode = fs::metadata(&md).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        // new/ removed behind our back: the next delivery makes it again.
        fs::remove_dir_all(md.join("new")).expect("rm new");
        assert!(matches!(
            delivery(&md, "Q3R1", b"y\r\n", false).write(),
            Ok(Delivered::New(_))
        ));
        assert_eq!(fs::read_dir(md.join("new")).expect("new").count(), 1);
        assert!(fs::read_dir(md.join("tmp")).expect("tmp").next().is_none());
    }

    #[test]
    fn flags_put_the_message_in_cur() {
        let dir = tempfile::tempdir().expect("tempdir");
        let md = dir.path().join("bob");
        let mut d = delivery(&md, "Q4R0", b"x\r\n", false);
        d.flags = "FS";
        let Delivered::New(path) = d.write().expect("write") else {
            panic!("not delivered")
        };
        assert_eq!(path.parent(), Some(md.join("cur").as_path()));
        assert!(path.to_string_lossy().ends_with(":2,FS"));
        d.recovering = true;
        assert_eq!(d.write().expect("again"), Delivered::AlreadyThere);
    }

    #[test]
    fn bad_keys_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        for key in ["", "../x", "a/b", "a.b", "a\nb"] {
            assert!(
                delivery(dir.path(), key, b"x", false).write().is_err(),
                "{key:?}"
            );
        }
    }
}
