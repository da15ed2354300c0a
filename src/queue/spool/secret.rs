//! Secrets the server keeps in the spool, the same for every process that opens it: today the
//! key of SCRAM's decoy salts (`<spool>/scram-decoy.key`, 32 random bytes, mode 0600).
//!
//! Under inetd or systemd `Accept=yes` every connection is a new process, and a restart makes
//! one too; a key made per process would give an unknown user a new salt each time, while a
//! real user's salt never changes — two connections would tell them apart. So the key is made
//! once and kept. Whoever makes it first wins: the bytes are written and fsynced under a private
//! name (`O_EXCL`), then published with `link(2)`, which never replaces an existing file; a
//! process that loses the race reads the winner's. A key that cannot be read or made is an
//! error: the caller fails closed rather than falls back to something guessable.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The SCRAM decoy key's file name in the spool.
pub const SCRAM_DECOY_KEY: &str = "scram-decoy.key";

/// Why a kept secret is not there.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read or create {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path} does not hold 32 bytes (remove it to have a new one made)")]
    Damaged { path: PathBuf },
    #[error("no random bytes from the operating system: {0}")]
    Random(String),
}

/// The 32-byte secret `name` in the spool at `root`, made now if it does not exist yet.
pub fn load_or_create(root: &Path, name: &str) -> Result<[u8; 32], SecretError> {
    let path = root.join(name);
    match read(&path) {
        Err(SecretError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
        other => return other,
    }
    create(root, &path)?;
    read(&path)
}

fn read(path: &Path) -> Result<[u8; 32], SecretError> {
    let io = |source| SecretError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::with_capacity(33);
    File::open(path)
        .map_err(io)?
        .take(33)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| SecretError::Damaged {
        path: path.to_path_buf(),
    })
}

/// Write a new key under a private name and link it into place unless another process did first.
fn create(root: &Path, path: &Path) -> Result<(), SecretError> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| SecretError::Random(e.to_string()))?;
    static MADE: AtomicU64 = AtomicU64::new(0);
    let private = root.join(format!(
        ".{}.{}.{}",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("secret"),
        std::process::id(),
        MADE.fetch_add(1, Ordering::Relaxed)
    ));
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| SecretError::Io { path: p, source }
    };
    let result = (|| -> Result<(), SecretError> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&private)
            .map_err(io(&private))?;
        f.write_all(&key).map_err(io(&private))?;
        f.sync_all().map_err(io(&private))?;
        match fs::hard_link(&private, path) {
            Ok(()) => crate::store::durable::sync_dir(root).map_err(io(root)),
            // Another process made it first: theirs is the key.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(io(path)(e)),
        }
    })();
    let _ = fs::remove_file(&private);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn made_once_then_read_by_everyone() {
        let dir = tempfile::tempdir().expect("tmp");
        // Racing makers all end up with the one key.
        let keys: Vec<[u8; 32]> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| load_or_create(dir.path(), SCRAM_DECOY_KEY)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread").expect("key"))
                .collect()
        });
        assert!(keys.iter().all(|k| *k == keys[0]));
        assert_ne!(keys[0], [0u8; 32]);
        let path = dir.path().join(SCRAM_DECOY_KEY);
        let mode = fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            load_or_create(dir.path(), SCRAM_DECOY_KEY).expect("again"),
            keys[0]
        );
        // Only the key is left behind.
        let names: Vec<_> = fs::read_dir(dir.path()).expect("dir").collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn a_damaged_or_unreachable_key_is_an_error() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join(SCRAM_DECOY_KEY);
        fs::write(&path, b"short").expect("write");
        assert!(matches!(
            load_or_create(dir.path(), SCRAM_DECOY_KEY),
            Err(SecretError::Damaged { .. })
        ));
        // Left as it is, for the administrator to look at.
        assert_eq!(fs::read(&path).expect("read"), b"short");
        let missing = dir.path().join("no-such-dir");
        assert!(matches!(
            load_or_create(&missing, SCRAM_DECOY_KEY),
            Err(SecretError::Io { .. })
        ));
    }
}
