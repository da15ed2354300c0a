//! Users' Sieve scripts on the mail volume, Dovecot-like: `<maildir>/sieve/NAME.sieve`, one file
//! per script, and `<maildir>/sieve/active` naming the active one (a line; absent or empty: no
//! script is active). Every write goes through [`crate::store::durable::replace`] (temporary
//! file, fsync, rename, fsync of the directory), so after a crash a script or the marker is the
//! old version or the new one, never half of either. The state of vacation replies and of the
//! `duplicate` test lives beside them in `<maildir>/sieve/.state/` ([`tracking`]).
//!
//! Script names come from clients (ManageSieve) and admins (the CLI): [`valid_name`] allows no
//! `/`, no leading `.`, no control characters and at most [`MAX_NAME`] characters, so a name
//! never reaches outside the directory or collides with the marker or the state.

pub mod compile;
pub mod tracking;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The longest script name, in characters (RFC 5804 §1.6 asks servers to allow at least 128
/// octets; file names allow 255 bytes, of which `.sieve` takes 6).
pub const MAX_NAME: usize = 128;

/// The file that names the active script.
const ACTIVE: &str = "active";
/// Script files end in this.
const SUFFIX: &str = ".sieve";

/// Why a script operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    #[error("invalid script name {0:?} (1-{MAX_NAME} characters, no '/', no control characters, not starting with '.')")]
    BadName(String),
    #[error("no script called {0:?}")]
    NoSuchScript(String),
    #[error("a script called {0:?} exists already")]
    Exists(String),
    #[error("script {0:?} is active; deactivate it first")]
    Active(String),
    #[error("too many scripts (at most {0})")]
    TooMany(usize),
    #[error("script too large ({size} bytes, at most {max})")]
    TooLarge { size: u64, max: u64 },
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Whether `name` may name a script (see the module documentation).
pub fn valid_name(name: &str) -> Result<(), ScriptError> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_NAME
        && !name.starts_with('.')
        && !name.contains('/')
        && !name
            .chars()
            .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}');
    if ok {
        Ok(())
    } else {
        Err(ScriptError::BadName(
            name.chars().take(MAX_NAME + 8).collect(),
        ))
    }
}

/// Makes `dir` and its missing parents (mode 0700), each new one's entry fsynced in its parent,
/// so that a file made durable inside survives a crash with the path to it.
pub(crate) fn make_dirs_durably(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        make_dirs_durably(parent)?;
    }
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => crate::store::durable::sync_dir(dir.parent().unwrap_or(Path::new("."))),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// At most `max` + 1 bytes of the file at `path` (more than `max`: it is too large).
fn read_at_most(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut out = Vec::new();
    fs::File::open(path)?
        .take(max.saturating_add(1))
        .read_to_end(&mut out)?;
    Ok(out)
}

/// The limits of one user's scripts (`[sieve] max_scripts`, `max_script_size`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_scripts: usize,
    pub max_size: u64,
}

impl Limits {
    pub fn of(config: &crate::config::sieve::Sieve) -> Limits {
        Limits {
            max_scripts: config.max_scripts,
            max_size: config.max_script_size.0,
        }
    }
}

/// One stored script, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub active: bool,
}

/// The scripts of one user.
#[derive(Debug, Clone)]
pub struct Scripts {
    dir: PathBuf,
    limits: Limits,
}

impl Scripts {
    /// The scripts of `user` on the mail volume at `mail_root` (`None` for a user name unusable
    /// as a directory name).
    pub fn of(mail_root: &Path, user: &str, limits: Limits) -> Option<Scripts> {
        let maildir = crate::store::maildir::MailVolume::new(mail_root).inbox_path(user)?;
        Some(Scripts::in_maildir(&maildir, limits))
    }

    /// The scripts kept in the maildir `maildir`.
    pub fn in_maildir(maildir: &Path, limits: Limits) -> Scripts {
        Scripts {
            dir: maildir.join("sieve"),
            limits,
        }
    }

    /// The directory the scripts are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The limits these scripts are held to.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn path(&self, name: &str) -> Result<PathBuf, ScriptError> {
        valid_name(name)?;
        Ok(self.dir.join(format!("{name}{SUFFIX}")))
    }

    /// The scripts, by name, and which one is active.
    pub fn list(&self) -> Result<Vec<Listed>, ScriptError> {
        let active = self.active()?;
        let mut out = Vec::new();
        for name in self.names()? {
            out.push(Listed {
                active: active.as_deref() == Some(name.as_str()),
                name,
            });
        }
        Ok(out)
    }

    fn names(&self) -> io::Result<Vec<String>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|n| n.strip_suffix(SUFFIX).map(str::to_string))
            .filter(|n| valid_name(n).is_ok())
            .collect();
        names.sort();
        Ok(names)
    }

    /// The name of the active script, if one is active and exists.
    pub fn active(&self) -> Result<Option<String>, ScriptError> {
        // A name is at most MAX_NAME characters (4 bytes each), and a line end.
        let text = match read_at_most(&self.dir.join(ACTIVE), (MAX_NAME * 4 + 2) as u64) {
            Ok(t) => String::from_utf8_lossy(&t).into_owned(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let name = text.trim_end_matches(['\n', '\r']);
        if name.is_empty() || valid_name(name).is_err() {
            return Ok(None);
        }
        Ok(self.exists(name).then(|| name.to_string()))
    }

    /// The active script's path, if one is active (for delivery: read and compile it).
    pub fn active_path(&self) -> Result<Option<PathBuf>, ScriptError> {
        match self.active()? {
            Some(name) => Ok(Some(self.path(&name)?)),
            None => Ok(None),
        }
    }

    /// Whether a script called `name` exists.
    pub fn exists(&self, name: &str) -> bool {
        self.path(name).is_ok_and(|p| p.is_file())
    }

    /// The text of script `name`.
    pub fn get(&self, name: &str) -> Result<Vec<u8>, ScriptError> {
        let path = self.path(name)?;
        match read_at_most(&path, self.limits.max_size) {
            Ok(b) if b.len() as u64 > self.limits.max_size => Err(ScriptError::TooLarge {
                size: fs::metadata(&path).map_or(b.len() as u64, |m| m.len()),
                max: self.limits.max_size,
            }),
            Ok(b) => Ok(b),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(ScriptError::NoSuchScript(name.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Whether a script `name` of `size` bytes would fit (RFC 5804 HAVESPACE): within the size
    /// limit, and within the count limit unless it replaces one.
    pub fn have_space(&self, name: &str, size: u64) -> Result<(), ScriptError> {
        valid_name(name)?;
        if size > self.limits.max_size {
            return Err(ScriptError::TooLarge {
                size,
                max: self.limits.max_size,
            });
        }
        if !self.exists(name) && self.names()?.len() >= self.limits.max_scripts {
            return Err(ScriptError::TooMany(self.limits.max_scripts));
        }
        Ok(())
    }

    /// Stores `text` as script `name` (replacing one of that name), durably. The caller
    /// validates the script first.
    pub fn put(&self, name: &str, text: &[u8]) -> Result<(), ScriptError> {
        self.have_space(name, text.len() as u64)?;
        let path = self.path(name)?;
        self.make_dir()?;
        crate::store::durable::replace(&path, text, 0o600)?;
        Ok(())
    }

    fn make_dir(&self) -> io::Result<()> {
        make_dirs_durably(&self.dir)
    }

    /// Makes `name` the active script (`None`: no script is active).
    pub fn set_active(&self, name: Option<&str>) -> Result<(), ScriptError> {
        let marker = self.dir.join(ACTIVE);
        let Some(name) = name else {
            return match fs::remove_file(&marker) {
                Ok(()) => Ok(crate::store::durable::sync_dir(&self.dir)?),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e.into()),
            };
        };
        if !self.exists(name) {
            valid_name(name)?;
            return Err(ScriptError::NoSuchScript(name.to_string()));
        }
        crate::store::durable::replace(&marker, format!("{name}\n").as_bytes(), 0o600)?;
        Ok(())
    }

    /// Deletes script `name` (not the active one, RFC 5804 §2.10).
    pub fn delete(&self, name: &str) -> Result<(), ScriptError> {
        let path = self.path(name)?;
        if self.active()?.as_deref() == Some(name) {
            return Err(ScriptError::Active(name.to_string()));
        }
        match fs::remove_file(&path) {
            Ok(()) => Ok(crate::store::durable::sync_dir(&self.dir)?),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(ScriptError::NoSuchScript(name.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Gives the script directory and its files the owner of the maildir they are in (or of
    /// the mail volume, for a maildir not made yet), where they differ and this process may:
    /// a script an admin stored as root stays readable by the daemon's user.
    pub fn match_owner(&self) {
        use std::os::unix::fs::MetadataExt as _;
        let Some(maildir) = self.dir.parent() else {
            return;
        };
        let like = if maildir.is_dir() {
            maildir
        } else {
            maildir.parent().unwrap_or(maildir)
        };
        let Ok(want) = fs::metadata(like) else {
            return;
        };
        let mut paths = vec![maildir.to_path_buf(), self.dir.clone()];
        if let Ok(entries) = fs::read_dir(&self.dir) {
            paths.extend(entries.flatten().map(|e| e.path()));
        }
        for p in paths {
            if let Ok(have) = fs::symlink_metadata(&p) {
                if (have.uid(), have.gid()) != (want.uid(), want.gid()) && !have.is_symlink() {
                    let _ = std::os::unix::fs::chown(&p, Some(want.uid()), Some(want.gid()));
                }
            }
        }
    }

    /// Renames script `old` to `new` (which must not exist); an active script stays active.
    pub fn rename(&self, old: &str, new: &str) -> Result<(), ScriptError> {
        let from = self.path(old)?;
        let to = self.path(new)?;
        if !from.is_file() {
            return Err(ScriptError::NoSuchScript(old.to_string()));
        }
        if to.exists() {
            return Err(ScriptError::Exists(new.to_string()));
        }
        let was_active = self.active()?.as_deref() == Some(old);
        // link + unlink: never replaces a script that appeared meanwhile.
        match fs::hard_link(&from, &to) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(ScriptError::Exists(new.to_string()))
            }
            other => other?,
        }
        if was_active {
            self.set_active(Some(new))?;
        }
        fs::remove_file(&from)?;
        crate::store::durable::sync_dir(&self.dir)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic
    use super::*;

    fn scripts(dir: &Path) -> Scripts {
        Scripts::in_maildir(
            &dir.join("bob"),
            Limits {
                max_scripts: 2,
                max_size: 100,
            },
        )
    }

    #[test]
    fn names_are_checked() {
        for bad in [
            "",
            ".x",
            "../x",
            "a/b",
            "a\nb",
            "a\0b",
            "\u{7f}",
            &"x".repeat(129),
        ] {
            assert!(valid_name(bad).is_err(), "{bad:?}");
        }
        for good in [
            "x",
            "vacation",
            "Müll ab 2026",
            "a..b",
            &"x".repeat(128),
            "active",
        ] {
            assert!(valid_name(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn put_list_activate_rename_delete() {
        let dir = tempfile::tempdir().unwrap();
        let s = scripts(dir.path());
        assert!(s.list().unwrap().is_empty());
        s.put("one", b"keep;").unwrap();
        s.put("two", b"discard;").unwrap();
        assert!(matches!(
            s.put("three", b"keep;"),
            Err(ScriptError::TooMany(2))
        ));
        s.put("one", b"stop;").unwrap(); // a replacement fits
        assert!(matches!(
            s.put("two", &[b' '; 101]),
            Err(ScriptError::TooLarge { .. })
        ));
        assert_eq!(s.get("one").unwrap(), b"stop;");
        assert!(matches!(s.get("nope"), Err(ScriptError::NoSuchScript(_))));
        assert_eq!(s.active().unwrap(), None);
        s.set_active(Some("two")).unwrap();
        assert!(matches!(
            s.set_active(Some("nope")),
            Err(ScriptError::NoSuchScript(_))
        ));
        assert_eq!(
            s.list().unwrap(),
            vec![
                Listed {
                    name: "one".into(),
                    active: false
                },
                Listed {
                    name: "two".into(),
                    active: true
                }
            ]
        );
        assert!(matches!(s.delete("two"), Err(ScriptError::Active(_))));
        assert!(matches!(
            s.rename("two", "one"),
            Err(ScriptError::Exists(_))
        ));
        s.rename("two", "deux").unwrap();
        assert_eq!(s.active().unwrap().as_deref(), Some("deux"));
        assert_eq!(s.get("deux").unwrap(), b"discard;");
        s.set_active(None).unwrap();
        s.delete("deux").unwrap();
        assert!(matches!(
            s.delete("deux"),
            Err(ScriptError::NoSuchScript(_))
        ));
        assert_eq!(s.list().unwrap().len(), 1);
        // Temporary files and stray names are not scripts.
        fs::write(s.dir().join("x.sieve.1.2.3.tmp"), b"").unwrap();
        fs::write(s.dir().join(".hidden.sieve"), b"").unwrap();
        assert_eq!(s.list().unwrap().len(), 1);
        // A file put there behind our back is read only up to the limit.
        fs::write(s.dir().join("huge.sieve"), [b'#'; 5000]).unwrap();
        assert!(matches!(
            s.get("huge"),
            Err(ScriptError::TooLarge {
                size: 5000,
                max: 100
            })
        ));
    }
}
