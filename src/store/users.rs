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
    /// argon2id PHC string of the login password; none in a system user's entry, which holds
    /// only postern's extras (quota, POP3 override password, shared secret, NT hash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// Whether mail is accepted for this user (the seed's "mail-enabled").
    #[serde(default = "yes")]
    pub mail: bool,
    /// The POP3 override password (argon2id): when set, POP3 USER/PASS must use it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pop3_password: Option<Secret>,
    /// Shared secret for CRAM-MD5 and APOP, stored only when the admin opts in for this user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_secret: Option<Secret>,
    /// NT hash (MD4 of the UTF-16LE password, hex) for SASL NTLM, stored only when the admin
    /// opts in (`user add --ntlm`): it is password-equivalent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nt_hash: Option<Secret>,
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

/// The loaded users file, and — with `[users] source = "system"` or `"both"` — the system's
/// accounts beside it.
#[derive(Debug, Clone, Default)]
pub struct Users {
    users: Vec<User>,
    source: crate::config::users::Source,
    system: Option<std::sync::Arc<crate::store::system::SystemAccounts>>,
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
        Ok(Users {
            users: file.users,
            ..Users::default()
        })
    }

    /// These users with the system's accounts as `config` says (`[users]`).
    pub fn with_source(mut self, config: &crate::config::Config) -> Users {
        self.source = config.users.source;
        self.system = config.users.uses_system().then(|| {
            std::sync::Arc::new(crate::store::system::SystemAccounts::new(
                &config.users.system,
                &config.paths.mail,
            ))
        });
        self
    }

    /// The system's accounts, when they are mail users here.
    pub fn system(&self) -> Option<&crate::store::system::SystemAccounts> {
        self.system.as_deref()
    }

    /// The system account `name`, when system accounts are mail users and it is one now.
    pub fn system_account(&self, name: &str) -> Option<crate::store::system::Account> {
        self.system.as_ref().and_then(|s| s.lookup(name))
    }

    /// The users-file user `name` with its own password, when file users are mail users and
    /// `name` is not a system account (with `source = "both"` the system account wins).
    pub fn file_user(&self, name: &str) -> Option<&User> {
        if !self.source.uses_file() {
            return None;
        }
        let u = self.get(name).filter(|u| u.password.is_some())?;
        self.system_account(name).is_none().then_some(u)
    }

    /// Whether `name` is a mail user here: a system account or a file user.
    pub fn is_user(&self, name: &str) -> bool {
        self.file_user(name).is_some() || self.system_account(name).is_some()
    }

    /// All users, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &User> {
        self.users.iter()
    }

    /// The users-file entry called `name` (exact match: names are case-sensitive on disk,
    /// compared case-insensitively for mail addresses by [`Users::find_mailbox`]). For a system
    /// user it holds only the extras; [`Users::is_user`] says whether `name` is a mail user.
    pub fn get(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    /// The mail-enabled user whose name matches the local part `local` (case-insensitive for
    /// file users; a system account as named, or in lower case). A system user's entry in the
    /// users file may turn its mail off (`mail = false`).
    pub fn find_mailbox(&self, local: &str) -> Option<String> {
        if self.system.is_some() {
            let lower = local.to_ascii_lowercase();
            for name in [local, lower.as_str()] {
                if let Some(acct) = self.system_account(name) {
                    let enabled = self.get(&acct.name).is_none_or(|u| u.mail);
                    return enabled.then_some(acct.name);
                }
            }
        }
        if !self.source.uses_file() {
            return None;
        }
        self.users
            .iter()
            .find(|u| u.mail && u.password.is_some() && u.name.eq_ignore_ascii_case(local))
            .map(|u| u.name.clone())
    }

    /// Whether any user has a shared secret: CRAM-MD5 and APOP are offered only then, so a
    /// client that prefers them (Roundcube, smtplib, curl) is not sent down a method no user
    /// here can use.
    pub fn has_shared_secrets(&self) -> bool {
        self.users
            .iter()
            .any(|u| u.shared_secret.is_some() && self.may_be_user(u))
    }

    /// Whether entry `u` can stand for a mail user under `[users] source`: in the file a user
    /// has a password; with `system` only extras entries (no password) belong to accounts.
    fn may_be_user(&self, u: &User) -> bool {
        match self.source {
            crate::config::users::Source::File => u.password.is_some(),
            crate::config::users::Source::System => u.password.is_none(),
            crate::config::users::Source::Both => true,
        }
    }

    /// What this store can serve beyond plaintext passwords: which methods to offer.
    pub fn capabilities(&self) -> crate::proto::sasl::StoreCapabilities {
        let ntlm_auth = self
            .system
            .as_ref()
            .is_some_and(|s| s.settings().ntlm_auth.is_some());
        crate::proto::sasl::StoreCapabilities {
            shared_secrets: self.has_shared_secrets(),
            scram: self.source.uses_file(),
            ntlm: ntlm_auth
                || self
                    .users
                    .iter()
                    .any(|u| u.nt_hash.is_some() && self.may_be_user(u)),
        }
    }

    /// Check a login password: PAM for a system user, the stored hash for a file user. A missing
    /// user costs the same hashing time as a wrong password.
    pub fn verify_password(&self, name: &str, password: &str) -> bool {
        if let Some(system) = &self.system {
            if system.lookup(name).is_some() {
                return system.authenticate(name, password);
            }
        }
        match self.file_user(name).and_then(|u| u.password.as_ref()) {
            Some(hash) => verify_hash(hash.expose(), password),
            None => {
                let _ = verify_hash(DUMMY_HASH, password);
                false
            }
        }
    }

    /// The stored password hash [`Users::verify_password`] checks a login of `name` against:
    /// `None` for a system user (PAM checks those) or no such user.
    pub fn password_hash(&self, name: &str) -> Option<&str> {
        if let Some(system) = &self.system {
            if system.lookup(name).is_some() {
                return None;
            }
        }
        self.file_user(name)
            .and_then(|u| u.password.as_ref())
            .map(|h| h.expose())
    }

    /// Check a POP3 USER/PASS login: the override password when the user has one.
    pub fn verify_pop3_password(&self, name: &str, password: &str) -> bool {
        let over = self
            .is_user(name)
            .then(|| self.get(name).and_then(|u| u.pop3_password.as_ref()))
            .flatten();
        match over {
            Some(h) => verify_hash(h.expose(), password),
            None => self.verify_password(name, password),
        }
    }

    /// The second-chance secret of CRAM-MD5 and APOP (SPEC §4, seed "Understanding WinGate
    /// mail security"): the shared secret, or — for a system user, whose password PAM keeps —
    /// none unless one is stored. Only for a mail user.
    pub fn second_chance_secret(&self, name: &str) -> Option<String> {
        if !self.is_user(name) {
            return None;
        }
        self.get(name)
            .and_then(|u| u.shared_secret.as_ref())
            .map(|s| s.expose().to_string())
    }

    /// The NT hash stored for `name` (16 bytes), for SASL NTLM; only for a mail user.
    pub fn nt_hash(&self, name: &str) -> Option<[u8; 16]> {
        if !self.is_user(name) {
            return None;
        }
        let hex = self.get(name)?.nt_hash.as_ref()?;
        crate::proto::sasl::ntlm::parse_nt_hash(hex.expose())
    }
}

impl crate::proto::sasl::Credentials for Users {
    fn verify_password(&self, user: &str, password: &str) -> bool {
        Users::verify_password(self, user, password)
    }

    fn shared_secret(&self, user: &str) -> Option<String> {
        self.second_chance_secret(user)
    }

    /// SCRAM only for file users: a system user's password is PAM's.
    fn scram_sha256(&self, user: &str) -> Option<crate::proto::sasl::ScramSecret> {
        self.file_user(user).and_then(|u| u.scram_sha256.clone())
    }

    fn nt_hash(&self, user: &str) -> Option<[u8; 16]> {
        Users::nt_hash(self, user)
    }

    fn ntlm_relay(&self) -> Option<Box<dyn crate::proto::sasl::ntlm::NtlmRelay>> {
        let system = self.system.as_ref()?;
        let settings = system.settings();
        let program = settings.ntlm_auth.as_ref()?;
        let inner = crate::store::ntlm_auth::relay(program, settings.ntlm_timeout.duration())?;
        Some(Box::new(crate::store::ntlm_auth::AdmittedRelay {
            inner,
            system: system.clone(),
        }))
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
    add_with(path, name, password, shared_secret, false)
}

/// [`add`], also storing the NT hash for SASL NTLM when `ntlm`.
pub fn add_with(
    path: &Path,
    name: &str,
    password: &str,
    shared_secret: bool,
    ntlm: bool,
) -> Result<(), UsersError> {
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
            password: Some(hash),
            mail: true,
            pop3_password: None,
            shared_secret: shared_secret.then(|| Secret::from(password)),
            nt_hash: ntlm.then(|| Secret::new(crate::proto::sasl::ntlm::nt_hash_hex(password))),
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

/// Add an entry for system user `name` that holds only postern's extras (no login password:
/// PAM checks that); the extras are set with `set_password` (POP3 override, shared secret,
/// NT hash).
pub fn add_system(path: &Path, name: &str) -> Result<(), UsersError> {
    if !valid_user_name(name) {
        return Err(UsersError::BadName(name.to_string()));
    }
    modify(path, |users| {
        if users.iter().any(|u| u.name == name) {
            return Err(UsersError::Exists(name.to_string()));
        }
        users.push(User {
            name: name.to_string(),
            password: None,
            mail: true,
            pop3_password: None,
            shared_secret: None,
            nt_hash: None,
            scram_sha256: None,
            quota: None,
            junk: None,
        });
        Ok(())
    })
}

/// Which password `set_password` changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordKind {
    /// The login password (and its SCRAM verifier; the shared secret and NT hash if asked).
    Login { shared_secret: bool, ntlm: bool },
    /// Only the extras of a system user: the shared secret and/or the NT hash of `password`
    /// (the login password stays PAM's).
    Extras { shared_secret: bool, ntlm: bool },
    /// The POP3 override password; with `shared_secret` it is also the shared secret (the
    /// second-chance secret of CRAM-MD5 and APOP for a system user).
    Pop3Override { shared_secret: bool },
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
            PasswordKind::Login {
                shared_secret,
                ntlm,
            } => {
                u.password = Some(hash);
                u.scram_sha256 = Some(scram_secret(password)?);
                // A stale shared secret or NT hash must not outlive a password change.
                u.shared_secret = shared_secret.then(|| Secret::from(password));
                u.nt_hash =
                    ntlm.then(|| Secret::new(crate::proto::sasl::ntlm::nt_hash_hex(password)));
            }
            PasswordKind::Extras {
                shared_secret,
                ntlm,
            } => {
                if shared_secret {
                    u.shared_secret = Some(Secret::from(password));
                }
                if ntlm {
                    u.nt_hash = Some(Secret::new(crate::proto::sasl::ntlm::nt_hash_hex(password)));
                }
            }
            PasswordKind::Pop3Override { shared_secret } => {
                u.pop3_password = Some(hash);
                if shared_secret {
                    u.shared_secret = Some(Secret::from(password));
                }
            }
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
    /// `[users]` (source, system accounts), applied to every version of the file.
    config: Option<std::sync::Arc<crate::config::Config>>,
    inner: std::sync::RwLock<CacheState>,
    /// On a volume shared with other hosts each `stat` of the file is a network round trip, and
    /// one SMTP transaction looks the users up about ten times: there the file is looked at
    /// again only when this long has passed since the last look (`[cluster] users_recheck`).
    /// Zero (local volumes): at every look-up.
    recheck: std::time::Duration,
    /// When the file was last looked at.
    checked: std::sync::Mutex<Option<std::time::Instant>>,
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
            config: None,
            inner: std::sync::RwLock::new(CacheState {
                users: std::sync::Arc::new(users),
                identity,
            }),
            recheck: std::time::Duration::ZERO,
            checked: std::sync::Mutex::new(None),
        })
    }

    /// The users of `config`: its users file (`paths.users`), and the system's accounts when
    /// `[users] source` says so.
    pub fn for_config(config: &crate::config::Config) -> Result<UsersCache, UsersError> {
        let mut cache = UsersCache::new(&config.paths.users)?;
        let config = std::sync::Arc::new(config.clone());
        if let Ok(mut state) = cache.inner.write() {
            let users = (*state.users).clone().with_source(&config);
            state.users = std::sync::Arc::new(users);
        }
        let dir = config.paths.users.parent().unwrap_or(Path::new("/"));
        if config.cluster.is_shared(dir) {
            cache.recheck = config.cluster.users_recheck.duration();
        }
        cache.config = Some(config);
        Ok(cache)
    }

    /// Whether the file is due to be looked at again (see `recheck`).
    fn due(&self) -> bool {
        if self.recheck.is_zero() {
            return true;
        }
        let Ok(mut checked) = self.checked.lock() else {
            return true;
        };
        let now = std::time::Instant::now();
        match *checked {
            Some(at) if now.duration_since(at) < self.recheck => false,
            _ => {
                *checked = Some(now);
                true
            }
        }
    }

    /// The current users (reloaded if the file changed; the old list is kept if it became invalid).
    pub fn get(&self) -> std::sync::Arc<Users> {
        if !self.due() {
            if let Ok(state) = self.inner.read() {
                return state.users.clone();
            }
        }
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
                Ok(users) => {
                    let users = match &self.config {
                        Some(c) => users.with_source(c),
                        None => users,
                    };
                    state.users = std::sync::Arc::new(users);
                }
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
                ntlm: false,
            },
        )
        .expect("passwd");
        let users = Users::load(&path).expect("load");
        assert!(users.verify_password("alice", "new"));
        assert!(!users.verify_password("alice", "s3cret"));
        assert!(users.verify_pop3_password("alice", "new"));
        set_password(
            &path,
            "alice",
            "pop",
            PasswordKind::Pop3Override {
                shared_secret: false,
            },
        )
        .expect("pop3");
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

    /// `[users] source` over one users file: a file user with a password, and an extras-only
    /// entry (no password) whose name is no system account here. The system-account side is
    /// tested with real accounts in tests/system_users.rs.
    #[test]
    fn sources_decide_who_is_a_user() {
        use crate::config::users::Source;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("users.toml");
        add_with(&path, "alice", "pw", true, true).expect("add");
        add_system(&path, "no-such-account-xyz").expect("add system");
        set_password(
            &path,
            "no-such-account-xyz",
            "secret",
            PasswordKind::Extras {
                shared_secret: true,
                ntlm: true,
            },
        )
        .expect("extras");
        let text = fs::read_to_string(&path).expect("read");
        assert!(
            text.contains(&format!(
                "nt_hash = \"{}\"",
                crate::proto::sasl::ntlm::nt_hash_hex("pw")
            )),
            "{text}"
        );
        let load = |source: &str| {
            let config = crate::config::parse(
                &format!(
                    "[server]\nhostname = \"h.test\"\npostmaster = \"p@h.test\"\n\
                     [users]\nsource = \"{source}\"\n"
                ),
                Path::new("/"),
            )
            .expect("config");
            assert_eq!(
                config.users.source,
                match source {
                    "file" => Source::File,
                    "system" => Source::System,
                    _ => Source::Both,
                }
            );
            Users::load(&path).expect("load").with_source(&config)
        };
        use crate::proto::sasl::Credentials;
        // source, alice is a user, alice's mailbox, SCRAM offered, alice's SCRAM verifier
        for (source, alice, scram) in [
            ("file", true, true),
            ("system", false, false),
            ("both", true, true),
        ] {
            let users = load(source);
            assert_eq!(users.is_user("alice"), alice, "{source}");
            assert_eq!(users.verify_password("alice", "pw"), alice, "{source}");
            assert_eq!(
                users.find_mailbox("ALICE"),
                alice.then(|| "alice".to_string()),
                "{source}"
            );
            assert_eq!(users.scram_sha256("alice").is_some(), scram, "{source}");
            assert_eq!(users.capabilities().scram, scram, "{source}");
            assert_eq!(users.second_chance_secret("alice").is_some(), alice);
            assert_eq!(
                Users::nt_hash(&users, "alice"),
                alice.then(|| crate::proto::sasl::ntlm::nt_hash("pw"))
            );
            // An extras entry is nobody's login without its system account.
            let extra = "no-such-account-xyz";
            assert!(!users.is_user(extra), "{source}");
            assert!(!users.verify_password(extra, "secret"));
            assert!(users.second_chance_secret(extra).is_none());
            assert!(Users::nt_hash(&users, extra).is_none());
            assert!(users.find_mailbox(extra).is_none());
            assert!(users.capabilities().ntlm && users.capabilities().shared_secrets);
            // root is never a system mail user by default.
            assert!(users.system_account("root").is_none());
        }
    }

    #[test]
    fn dummy_hash_parses() {
        assert!(argon2::PasswordHash::new(DUMMY_HASH).is_ok());
    }
}
