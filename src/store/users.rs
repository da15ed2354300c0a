//! The users file: who has a mailbox here, their hashed passwords, and opt-in shared secrets.
//!
//! A TOML file beside the config (mode 0600), `[[user]]` entries. Passwords are stored as argon2id
//! PHC strings; the file is rewritten atomically (temp file, fsync, rename) under an exclusive lock
//! on `<file>.lock`, so concurrent `postern user` commands cannot lose each other's changes.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use serde::{Deserialize, Serialize};

use crate::proto::secret::Secret;

/// One mail user.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// Login name, also the mailbox directory name under the mail volume.
    pub name: String,
    /// argon2id PHC string of the login password.
    pub password: Secret,
    /// Whether mail is accepted for this user (the seed's "mail-enabled").
    #[serde(default = "yes")]
    pub mail: bool,
    /// The POP3 override password (argon2id): when set, POP3 USER/PASS must use it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pop3_password: Option<Secret>,
    /// Shared secret for CRAM-MD5 and APOP, stored only when the admin opts in for this user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_secret: Option<Secret>,
    /// SCRAM-SHA-256 verifier, derived whenever the password is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scram_sha256: Option<crate::proto::sasl::ScramSecret>,
    /// Mailbox quota in bytes, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<u64>,
    /// Whether spam verdicts and DMARC quarantines file this user's mail into `Junk`, instead
    /// of the domain's or `[delivery]`'s setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub junk: Option<bool>,
}

fn yes() -> bool {
    true
}

/// Everything that can go wrong with the users file.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    #[error("cannot read users file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("users file {path} is invalid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("cannot write users file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("user name {0:?} is not valid (letters, digits, '.', '-', '_'; at most 64; not starting with '.')")]
    BadName(String),
    #[error("user {0:?} already exists")]
    Exists(String),
    #[error("no such user {0:?}")]
    NoSuchUser(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("the password is empty")]
    EmptyPassword,
}

/// Whether `name` may be a user (and so a directory name on the mail volume).
pub fn valid_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// Hash a password with argon2id and a fresh random salt.
pub fn hash_password(password: &str) -> Result<Secret, UsersError> {
    if password.is_empty() {
        return Err(UsersError::EmptyPassword);
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| Secret::new(h.to_string()))
        .map_err(|e| UsersError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC `hash`.
pub fn verify_hash(hash: &str, password: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileFormat {
    #[serde(default, rename = "user")]
    users: Vec<User>,
}

/// The loaded users file.
#[derive(Debug, Clone, Default)]
pub struct Users {
    users: Vec<User>,
}

impl Users {
    /// Load the users file; a missing file is an empty user list.
    pub fn load(path: &Path) -> Result<Users, UsersError> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Users::default()),
            Err(source) => {
                return Err(UsersError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let file: FileFormat = toml::from_str(&text).map_err(|e| UsersError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim().to_string(),
        })?;
        Ok(Users { users: file.users })
    }

    /// All users, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &User> {
        self.users.iter()
    }

    /// The user called `name` (exact match: names are case-sensitive on disk, compared
    /// case-insensitively for mail addresses by [`Users::find_mailbox`]).
    pub fn get(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    /// The mail-enabled user whose name matches the local part `local` (case-insensitive).
    pub fn find_mailbox(&self, local: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.mail && u.name.eq_ignore_ascii_case(local))
    }

    /// Whether any user has a shared secret: CRAM-MD5 and APOP are offered only then, so a
    /// client that prefers them (Roundcube, smtplib, curl) is not sent down a method no user
    /// here can use.
    pub fn has_shared_secrets(&self) -> bool {
        self.users.iter().any(|u| u.shared_secret.is_some())
    }

    /// Check a login password. A missing user costs the same hashing time as a wrong password.
    pub fn verify_password(&self, name: &str, password: &str) -> bool {
        match self.get(name) {
            Some(u) => verify_hash(u.password.expose(), password),
            None => {
                let _ = verify_hash(DUMMY_HASH, password);
                false
            }
        }
    }

    /// Check a POP3 USER/PASS login: the override password when the user has one.
    pub fn verify_pop3_password(&self, name: &str, password: &str) -> bool {
        match self.get(name).and_then(|u| u.pop3_password.as_ref()) {
            Some(h) => verify_hash(h.expose(), password),
            None => self.verify_password(name, password),
        }
    }
}

impl crate::proto::sasl::Credentials for Users {
    fn verify_password(&self, user: &str, password: &str) -> bool {
        Users::verify_password(self, user, password)
    }

    fn shared_secret(&self, user: &str) -> Option<String> {
        self.get(user)
            .and_then(|u| u.shared_secret.as_ref())
            .map(|s| s.expose().to_string())
    }

    fn scram_sha256(&self, user: &str) -> Option<crate::proto::sasl::ScramSecret> {
        self.get(user).and_then(|u| u.scram_sha256.clone())
    }

    fn verify_pop3_password(&self, user: &str, password: &str) -> bool {
        Users::verify_pop3_password(self, user, password)
    }

    fn quota(&self, user: &str) -> Option<u64> {
        self.get(user).and_then(|u| u.quota)
    }
}

/// A valid argon2id hash of a random string, so unknown users take as long as known ones.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0KqGbHsBo4JbW6mRBNmXbp3rJbC8uB9PX4rpvqyL8K0";

/// Apply `change` to the users file at `path` under its lock, then write it back atomically with
/// mode 0600.
pub fn modify<T>(
    path: &Path,
    change: impl FnOnce(&mut Vec<User>) -> Result<T, UsersError>,
) -> Result<T, UsersError> {
    let werr = |source| UsersError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            fs::create_dir_all(dir).map_err(werr)?;
        }
    }
    let lock_path = with_suffix(path, ".lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&lock_path)
        .map_err(werr)?;
    crate::store::durable::same_owner(&lock, path);
    lock.lock().map_err(werr)?;
    let mut users = Users::load(path)?.users;
    let result = change(&mut users)?;
    let text = toml::to_string(&FileFormat { users }).map_err(|e| UsersError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    crate::store::durable::replace_keeping(path, text.as_bytes(), 0o600).map_err(werr)?;
    drop(lock);
    Ok(result)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Add a user with a password; `shared_secret` also stores it for CRAM-MD5 and APOP.
pub fn add(path: &Path, name: &str, password: &str, shared_secret: bool) -> Result<(), UsersError> {
    if !valid_user_name(name) {
        return Err(UsersError::BadName(name.to_string()));
    }
    let hash = hash_password(password)?;
    let scram = scram_secret(password)?;
    modify(path, |users| {
        if users.iter().any(|u| u.name == name) {
            return Err(UsersError::Exists(name.to_string()));
        }
        users.push(User {
            name: name.to_string(),
            password: hash,
            mail: true,
            pop3_password: None,
            shared_secret: shared_secret.then(|| Secret::from(password)),
            scram_sha256: Some(scram),
            quota: None,
            junk: None,
        });
        Ok(())
    })
}

/// The SCRAM-SHA-256 verifier of `password`, with a fresh salt.
fn scram_secret(password: &str) -> Result<crate::proto::sasl::ScramSecret, UsersError> {
    crate::proto::sasl::ScramSecret::derive(password).map_err(|e| UsersError::Hash(e.to_string()))
}

/// Which password `set_password` changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordKind {
    /// The login password (and its SCRAM verifier; the shared secret if asked).
    Login { shared_secret: bool },
    /// The POP3 override password.
    Pop3Override,
}

/// Change an existing user's password.
pub fn set_password(
    path: &Path,
    name: &str,
    password: &str,
    kind: PasswordKind,
) -> Result<(), UsersError> {
    let hash = hash_password(password)?;
    modify(path, |users| {
        let u = users
            .iter_mut()
            .find(|u| u.name == name)
            .ok_or_else(|| UsersError::NoSuchUser(name.to_string()))?;
        match kind {
            PasswordKind::Login { shared_secret } => {
                u.password = hash;
                u.scram_sha256 = Some(scram_secret(password)?);
                // A stale shared secret must not outlive a password change.
                u.shared_secret = shared_secret.then(|| Secret::from(password));
            }
            PasswordKind::Pop3Override => u.pop3_password = Some(hash),
        }
        Ok(())
    })
}

/// Remove a user (their maildir is left alone).
pub fn delete(path: &Path, name: &str) -> Result<(), UsersError> {
    modify(path, |users| {
        let before = users.len();
        users.retain(|u| u.name != name);
        if users.len() == before {
            return Err(UsersError::NoSuchUser(name.to_string()));
        }
        Ok(())
    })
}

/// The users file, reloaded when it changes. Every look-up checks the file's identity (one
/// `stat`: the file is replaced by rename, so a new inode, mtime or size means new contents), so
/// a user just added by `postern user add` is known to the very next RCPT, login or delivery.
pub struct UsersCache {
    path: PathBuf,
    inner: std::sync::RwLock<CacheState>,
}

struct CacheState {
    users: std::sync::Arc<Users>,
    identity: Option<FileIdentity>,
}

/// What tells one version of the users file from another.
type FileIdentity = (u64, u64, i64, i64, u64);

fn identity(path: &Path) -> Option<FileIdentity> {
    use std::os::unix::fs::MetadataExt;
    let m = fs::metadata(path).ok()?;
    Some((m.dev(), m.ino(), m.mtime(), m.mtime_nsec(), m.len()))
}

impl UsersCache {
    /// Load the users file at `path`.
    pub fn new(path: &Path) -> Result<UsersCache, UsersError> {
        let identity = identity(path);
        let users = Users::load(path)?;
        Ok(UsersCache {
            path: path.to_path_buf(),
            inner: std::sync::RwLock::new(CacheState {
                users: std::sync::Arc::new(users),
                identity,
            }),
        })
    }

    /// The current users (reloaded if the file changed; the old list is kept if it became invalid).
    pub fn get(&self) -> std::sync::Arc<Users> {
        let now = identity(&self.path);
        if let Ok(state) = self.inner.read() {
            if state.identity == now {
                return state.users.clone();
            }
        }
        let Ok(mut state) = self.inner.write() else {
            return std::sync::Arc::new(Users::default());
        };
        if state.identity != now {
            // A broken version is remembered too: logged once, not re-read on every look-up.
            state.identity = now;
            match Users::load(&self.path) {
                Ok(users) => state.users = std::sync::Arc::new(users),
                Err(e) => crate::events::event("users_reload_failed")
                    .field("error", e)
                    .emit(),
            }
        }
        state.users.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn add_verify_passwd_delete() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("users.toml");
        add(&path, "alice", "s3cret", false).expect("add");
        assert!(matches!(
            add(&path, "alice", "x", false),
            Err(UsersError::Exists(_))
        ));
        let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = fs::read_to_string(&path).expect("read");
        assert!(!text.contains("s3cret"), "password stored in clear");
        assert!(text.contains("$argon2id$"));
        let users = Users::load(&path).expect("load");
        assert!(users.verify_password("alice", "s3cret"));
        assert!(!users.verify_password("alice", "wrong"));
        assert!(!users.verify_password("bob", "s3cret"));
        assert!(users.find_mailbox("ALICE").is_some());
        set_password(
            &path,
            "alice",
            "new",
            PasswordKind::Login {
                shared_secret: false,
            },
        )
        .expect("passwd");
        let users = Users::load(&path).expect("load");
        assert!(users.verify_password("alice", "new"));
        assert!(!users.verify_password("alice", "s3cret"));
        assert!(users.verify_pop3_password("alice", "new"));
        set_password(&path, "alice", "pop", PasswordKind::Pop3Override).expect("pop3");
        let users = Users::load(&path).expect("load");
        assert!(users.verify_pop3_password("alice", "pop"));
        assert!(!users.verify_pop3_password("alice", "new"));
        assert!(users.verify_password("alice", "new"));
        assert!(users
            .get("alice")
            .and_then(|u| u.scram_sha256.as_ref())
            .is_some());
        delete(&path, "alice").expect("del");
        assert!(matches!(
            delete(&path, "alice"),
            Err(UsersError::NoSuchUser(_))
        ));
        assert!(Users::load(&path).expect("load").get("alice").is_none());
    }

    #[test]
    fn user_names_are_safe_directory_names() {
        for (name, ok) in [
            ("alice", true),
            ("a.b-c_d", true),
            ("", false),
            (".hidden", false),
            ("..", false),
            ("a/b", false),
            ("a b", false),
            ("a\0b", false),
            ("ünï", false),
        ] {
            assert_eq!(valid_user_name(name), ok, "{name:?}");
        }
    }

    #[test]
    fn the_cache_sees_a_user_added_a_moment_ago() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("users.toml");
        add(&path, "alice", "s3cret", false).expect("add");
        let cache = UsersCache::new(&path).expect("cache");
        assert!(cache.get().get("alice").is_some());
        assert!(cache.get().get("bob").is_none());
        add(&path, "bob", "s3cret", false).expect("add");
        assert!(
            cache.get().get("bob").is_some(),
            "no waiting for a reload interval"
        );
        delete(&path, "alice").expect("delete");
        assert!(cache.get().get("alice").is_none());
        // A broken file keeps the last good list (and is read once, not per look-up).
        fs::write(&path, "not [valid toml").expect("write");
        assert!(cache.get().get("bob").is_some());
        assert!(cache.get().get("bob").is_some());
    }

    #[test]
    fn dummy_hash_parses() {
        assert!(argon2::PasswordHash::new(DUMMY_HASH).is_ok());
    }
}
