//! Quota usage: bytes and messages over the INBOX and every Maildir++ folder.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use super::error::{MaildirError, Result};
use super::layout::Maildir;
use super::name;

/// Mail usage of a user's mail root: `(bytes, messages)` over `new/` and `cur/` of the INBOX
/// and all folders. Sizes come from `,S=` in the name when present, else from `stat`.
pub fn usage(inbox: &Maildir) -> Result<(u64, u64)> {
    usage_by(inbox, dir_usage)
}

/// Like [`usage`], counting each `new/` and `cur/` directory with `count` (e.g. from a cache).
pub fn usage_by(
    inbox: &Maildir,
    mut count: impl FnMut(&Path) -> Result<(u64, u64)>,
) -> Result<(u64, u64)> {
    let mut folders = vec![inbox.clone()];
    for name in inbox.folders()? {
        match inbox.folder(&name) {
            Ok(md) => folders.push(md),
            Err(MaildirError::NoSuchFolder(_)) => continue, // removed meanwhile
            Err(e) => return Err(e),
        }
    }
    let (mut bytes, mut messages) = (0u64, 0u64);
    for md in &folders {
        for dir in [md.new_dir(), md.cur()] {
            let (b, m) = count(&dir)?;
            bytes += b;
            messages += m;
        }
    }
    Ok((bytes, messages))
}

/// `(bytes, messages)` of one `new/` or `cur/` directory (nothing when it is missing).
pub fn dir_usage(dir: &Path) -> Result<(u64, u64)> {
    let (mut bytes, mut count) = (0u64, 0u64);
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok((0, 0)),
        Err(e) => return Err(MaildirError::io(dir, e)),
    };
    for entry in rd {
        let entry = entry.map_err(|e| MaildirError::io(dir, e))?;
        let Ok(n) = entry.file_name().into_string() else {
            continue;
        };
        if !name::acceptable(&n) {
            continue;
        }
        let size = match name::size_field(name::split(&n).0) {
            Some(s) => s,
            None => match entry.metadata() {
                Ok(m) => m.len(),
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(MaildirError::io(entry.path(), e)),
            },
        };
        bytes += size;
        count += 1;
    }
    Ok((bytes, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_counts_inbox_and_folders() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = Maildir::create(dir.path().join("u")).unwrap();
        assert_eq!(usage(&inbox).unwrap(), (0, 0));
        fs::write(inbox.new_dir().join("1.a.h,S=1000"), b"x").unwrap();
        fs::write(inbox.cur().join("2.b.h:2,S"), b"12345").unwrap();
        fs::write(inbox.tmp().join("3.c.h"), b"ignored in tmp").unwrap();
        let sent = inbox.create_folder("Sent").unwrap();
        fs::write(sent.cur().join("4.d.h,S=7:2,"), b"1234567").unwrap();
        fs::write(sent.cur().join(".hidden"), b"ignored").unwrap();
        assert_eq!(usage(&inbox).unwrap(), (1000 + 5 + 7, 3));
    }
}
