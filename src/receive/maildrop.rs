//! The maildrop: how a user who may not read the users file or write the spool submits mail
//! (what Postfix's setgid `postdrop` and its `maildrop` directory do).
//!
//! `<spool>/maildrop` is made by the running server (`serve`, `deliver --watch`) with mode
//! `3733`: everyone may create a file there, nobody but its owner may list it, and the sticky
//! bit keeps users from removing each other's files; the setgid bit gives every file the
//! directory's group, so a file of mode `0640` is readable by the server and by nobody else.
//! `postern sendmail` run by such a user writes one file: a JSON line (the envelope, with the
//! size of what follows) and the message, fsynced before it exits 0. The server picks files up
//! every second ([`spawn`]), once each: the owner of the file is the submitter (the login name
//! of its uid, never what the file says), then the file goes through the intake like any local
//! submission and is removed. A file that is not complete (its size short of what its first
//! line says) is left for a later pass, and removed after a day; one the intake refuses for
//! good is kept as `.refused-NAME` with a `maildrop_refused` event.

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::events::event;
use crate::intake::{Intake, Origin, Outcome, Submission};
use crate::queue::spool::Recipient;

/// The maildrop directory of a spool.
pub fn dir(spool: &Path) -> PathBuf {
    spool.join("maildrop")
}

/// Mode of the directory: setgid, sticky, rwx for the server, wx for group and others.
pub const DIR_MODE: u32 = 0o3733;
/// Longest first line read.
const MAX_HEAD: usize = 64 * 1024;
/// How often the server looks.
pub const POLL: Duration = Duration::from_secs(1);
/// An incomplete file older than this is removed.
const STALE: Duration = Duration::from_secs(24 * 3600);

/// The envelope line of a maildrop file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Head {
    pub sender: String,
    pub recipients: Vec<String>,
    #[serde(default)]
    pub notify: Option<String>,
    #[serde(default)]
    pub ret: Option<String>,
    #[serde(default)]
    pub envid: Option<String>,
    /// Bytes of message after the line.
    pub size: u64,
}

/// Why a file could not be dropped.
#[derive(Debug, thiserror::Error)]
pub enum DropError {
    #[error("cannot submit: {dir} does not exist (the running server makes it: `postern serve` or `postern deliver --watch`)")]
    NoDirectory { dir: PathBuf },
    #[error("cannot write to the maildrop {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Write `head` and `message` as a new file in `dir`, durably. Returns its path.
pub fn drop_message(dir: &Path, head: &Head, message: &[u8]) -> Result<PathBuf, DropError> {
    if !dir.is_dir() {
        return Err(DropError::NoDirectory {
            dir: dir.to_path_buf(),
        });
    }
    let mut name = [0u8; 16];
    getrandom::fill(&mut name).map_err(|e| DropError::Write {
        path: dir.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let name: String = name.iter().map(|b| format!("{b:02x}")).collect();
    let path = dir.join(name);
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o640)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)?;
        f.set_permissions(std::fs::Permissions::from_mode(0o640))?;
        let mut line = serde_json::to_vec(head).map_err(std::io::Error::other)?;
        line.push(b'\n');
        f.write_all(&line)?;
        f.write_all(message)?;
        f.sync_all()
    };
    write().map_err(|source| {
        let _ = std::fs::remove_file(&path);
        DropError::Write {
            path: path.clone(),
            source,
        }
    })?;
    Ok(path)
}

/// Make the maildrop directory with its mode when it is missing (the server, at start).
pub fn ensure_dir(dir: &Path) -> std::io::Result<()> {
    match std::fs::create_dir(dir) {
        Ok(()) => std::fs::set_permissions(dir, std::fs::Permissions::from_mode(DIR_MODE)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Pick up the maildrop of `intake`'s spool every [`POLL`], for as long as the process runs.
pub fn spawn(intake: Arc<Intake>) {
    let dir = dir(&intake.deliverer().config.paths.spool);
    if let Err(e) = ensure_dir(&dir) {
        event("maildrop_failed")
            .field("dir", dir.display())
            .field("error", e)
            .emit();
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            pickup(&intake, &dir).await;
        }
    });
}

/// One file read for pickup.
struct Dropped {
    /// The open file, under an exclusive `flock` until it has been through the intake and
    /// removed: servers sharing the spool (other hosts', or `deliver --watch` beside `serve`)
    /// never take one file twice.
    _claim: std::fs::File,
    path: PathBuf,
    uid: u32,
    head: Head,
    message: Vec<u8>,
}

/// One pass over the maildrop: every complete file through the intake. Returns how many were
/// accepted.
pub async fn pickup(intake: &Intake, dir: &Path) -> usize {
    let limit = intake.deliverer().config.limits.message_size.0;
    let dir_owned = dir.to_path_buf();
    let found = tokio::task::spawn_blocking(move || read_all(&dir_owned, limit)).await;
    let Ok(found) = found else { return 0 };
    let mut accepted = 0;
    for d in found {
        let login = login_of(d.uid).unwrap_or_else(|| format!("uid{}", d.uid));
        let recipients = d
            .head
            .recipients
            .iter()
            .map(|r| Recipient {
                notify: d.head.notify.clone(),
                ..Recipient::new(r.clone())
            })
            .collect();
        let sub = Submission {
            origin: Origin::Sendmail {
                uid: d.uid,
                login: login.clone(),
                dsn_ret: d.head.ret.clone(),
                dsn_envid: d.head.envid.clone(),
            },
            sender: d.head.sender.clone(),
            recipients,
            data: d.message,
        };
        match intake.accept(sub).await {
            Outcome::Accepted(_) => {
                accepted += 1;
                if let Err(e) = std::fs::remove_file(&d.path) {
                    event("maildrop_failed")
                        .field("file", d.path.display())
                        .field("error", e)
                        .emit();
                }
            }
            Outcome::Refused(r) if !r.is_temporary() => {
                event("maildrop_refused")
                    .field("file", d.path.display())
                    .field("user", &login)
                    .field("from", &d.head.sender)
                    .field("reason", r.text())
                    .emit();
                set_aside(&d.path);
            }
            // Temporary: the next pass tries again.
            Outcome::Refused(_) | Outcome::Failed(_) => {}
        }
    }
    accepted
}

/// Rename a file the intake refused to `.refused-NAME`, out of the pickup's way.
fn set_aside(path: &Path) {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return;
    };
    let _ = std::fs::rename(path, path.with_file_name(format!(".refused-{name}")));
}

/// Whether `name` is a maildrop file name (32 hex digits).
fn is_drop_name(name: &str) -> bool {
    name.len() == 32 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The complete files of the maildrop, each read with its owner.
fn read_all(dir: &Path, limit: u64) -> Vec<Dropped> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten().take(1000) {
        let path = e.path();
        let Some(name) = e.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if !is_drop_name(&name) {
            continue;
        }
        match read_one(&path, limit) {
            Ok(Some(d)) => out.push(d),
            Ok(None) => {}
            Err(why) => {
                event("maildrop_refused")
                    .field("file", path.display())
                    .field("reason", &why)
                    .emit();
                set_aside(&path);
            }
        }
    }
    out
}

/// Read one maildrop file: `Ok(None)` when it is not complete yet (removed once stale),
/// `Err` for one that can never be taken.
fn read_one(path: &Path, limit: u64) -> Result<Option<Dropped>, String> {
    let mut f = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        // Taken (and removed) by another server meanwhile.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot open: {e}")),
    };
    let meta = f.metadata().map_err(|e| format!("cannot stat: {e}"))?;
    if !meta.file_type().is_file() {
        return Err("not a regular file".into());
    }
    // Claim it: another server holding it is taking it now. (A file system without `flock`
    // leaves one server per spool, as before.)
    if let Err(std::fs::TryLockError::WouldBlock) = f.try_lock() {
        return Ok(None);
    }
    let meta = f.metadata().map_err(|e| format!("cannot stat: {e}"))?;
    if meta.nlink() == 0 {
        // Another server took it and removed it before letting go.
        return Ok(None);
    }
    if meta.nlink() != 1 {
        return Err("the file has other links".into());
    }
    if meta.len() > limit + MAX_HEAD as u64 {
        return Err(format!(
            "larger than the message size limit ({limit} bytes)"
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    (&mut f)
        .take(limit + MAX_HEAD as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    let incomplete = || {
        let stale = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .is_some_and(|age| age > STALE);
        if stale {
            let _ = std::fs::remove_file(path);
        }
        Ok(None)
    };
    let Some(nl) = bytes.iter().take(MAX_HEAD).position(|&b| b == b'\n') else {
        return incomplete();
    };
    let (line, rest) = bytes.split_at(nl);
    let head: Head = serde_json::from_slice(line).map_err(|e| format!("bad envelope line: {e}"))?;
    let message = rest.get(1..).unwrap_or_default();
    if head.size > limit {
        return Err(format!(
            "larger than the message size limit ({limit} bytes)"
        ));
    }
    if (message.len() as u64) < head.size {
        return incomplete();
    }
    if message.len() as u64 != head.size {
        return Err("longer than its envelope says".into());
    }
    check_head(&head)?;
    Ok(Some(Dropped {
        _claim: f,
        path: path.to_path_buf(),
        uid: meta.uid(),
        head,
        message: message.to_vec(),
    }))
}

/// The addresses of a dropped envelope, checked again (the file was written by a user).
fn check_head(head: &Head) -> Result<(), String> {
    use crate::proto::smtp::address::check_mailbox;
    if !head.sender.is_empty() {
        check_mailbox(&head.sender, true).map_err(|e| format!("bad sender: {e}"))?;
    }
    if head.recipients.is_empty() || head.recipients.len() > 1000 {
        return Err("no recipients, or too many".into());
    }
    for r in &head.recipients {
        check_mailbox(r, true).map_err(|e| format!("bad recipient {r:?}: {e}"))?;
    }
    Ok(())
}

/// The login name of `uid` from the password database.
pub fn login_of(uid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: an all-zero passwd is a valid value for getpwuid_r to fill in.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call and buf's length is passed with it.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
        return None;
    }
    // SAFETY: pw_name points into buf, NUL-terminated by getpwuid_r.
    let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
    name.to_str().ok().map(str::to_string)
}

/// The real uid of this process.
pub fn my_uid() -> u32 {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic
    use super::*;

    fn head(size: u64) -> Head {
        Head {
            sender: "bob@example.test".into(),
            recipients: vec!["root@example.test".into()],
            notify: None,
            ret: None,
            envid: None,
            size,
        }
    }

    #[test]
    fn a_file_another_server_is_taking_is_left_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = drop_message(dir.path(), &head(4), b"hi\r\n").unwrap();
        let first = read_one(&p, 1000)
            .unwrap()
            .expect("the first server takes it");
        // While the first holds it, a second (another host on the shared spool) passes.
        assert!(read_one(&p, 1000).unwrap().is_none());
        assert!(read_all(dir.path(), 1000).is_empty());
        // Taken: removed before the first lets go; a second that opened it meanwhile passes.
        let late = std::fs::File::open(&p).unwrap();
        std::fs::remove_file(&p).unwrap();
        drop(first);
        assert!(late.try_lock().is_ok());
        assert_eq!(late.metadata().unwrap().nlink(), 0);
        assert!(
            read_one(&p, 1000).unwrap().is_none(),
            "gone: nothing to refuse"
        );
    }

    #[test]
    fn a_dropped_file_reads_back_and_an_incomplete_one_waits() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            drop_message(&dir.path().join("none"), &head(2), b"hi"),
            Err(DropError::NoDirectory { .. })
        ));
        let p = drop_message(dir.path(), &head(4), b"hi\r\n").unwrap();
        let d = read_one(&p, 1000).unwrap().unwrap();
        assert_eq!(d.head, head(4));
        assert_eq!(d.message, b"hi\r\n");
        assert_eq!(d.uid, my_uid());
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        // Shorter than announced: not yet.
        let p = drop_message(dir.path(), &head(10), b"hi").unwrap();
        assert!(read_one(&p, 1000).unwrap().is_none());
        // Longer, too large, or with a bad address: never.
        let p = drop_message(dir.path(), &head(1), b"hi").unwrap();
        assert!(read_one(&p, 1000).is_err());
        let p = drop_message(dir.path(), &head(2000), &[b'x'; 2000]).unwrap();
        assert!(read_one(&p, 100).is_err());
        let mut h = head(2);
        h.recipients = vec!["not an address".into()];
        let p = drop_message(dir.path(), &h, b"hi").unwrap();
        assert!(read_one(&p, 1000).is_err());
        // A symbolic link is not followed.
        let link = dir.path().join("0123456789abcdef0123456789abcdef");
        std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
        assert!(read_one(&link, 1000).is_err());
        assert!(is_drop_name("0123456789abcdef0123456789abcdef"));
        assert!(!is_drop_name(".refused-0123456789abcdef0123456789abcdef"));
        assert_eq!(login_of(0).as_deref(), Some("root"));
    }
}
