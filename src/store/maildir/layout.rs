//! The on-disk layout: a user's mail root is the INBOX maildir (`tmp/ new/ cur/`), with
//! Maildir++ folders as `.<Name>` subdirectories (`.Sent`, `.Lists.rust`).

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use super::error::{MaildirError, Result};

/// One maildir (the INBOX or a folder): a directory with `tmp/`, `new/` and `cur/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Maildir {
    root: PathBuf,
}

const SUBDIRS: [&str; 3] = ["tmp", "new", "cur"];

/// The lock file beside maildirs being made on a shared volume (a dot name: never a user, and
/// a file, so never a folder).
const CREATE_LOCK: &str = ".postern-create.lock";

/// On a volume other hosts share, waits for and takes the turn to make a maildir under
/// `root`'s parent (held until dropped); `None` on a local volume or when the parent cannot
/// be locked (then makers do not wait for each other, as on one host).
fn creation_turn(root: &Path) -> Option<fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let parent = root.parent()?;
    if !crate::store::volume_kind::is_network_fs(parent) {
        return None;
    }
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(parent.join(CREATE_LOCK))
        .ok()?;
    file.lock().ok()?;
    Some(file)
}

impl Maildir {
    /// Opens an existing maildir; fails if `tmp/`, `new/` or `cur/` is missing.
    pub fn open(path: impl Into<PathBuf>) -> Result<Maildir> {
        let root = path.into();
        for sub in SUBDIRS {
            let p = root.join(sub);
            match fs::metadata(&p) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Err(MaildirError::NotAMaildir(root)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(MaildirError::NotAMaildir(root))
                }
                Err(e) => return Err(MaildirError::io(p, e)),
            }
        }
        Ok(Maildir { root })
    }

    /// Creates a maildir (and missing parents) with mode 0700; succeeds if it already exists.
    ///
    /// On a volume shared with other hosts the makers of one maildir take turns (a lock file
    /// beside it, `.postern-create.lock`): a user's first delivery and first logins on several
    /// hosts at once made GlusterFS answer `EIO` for the half-made directory on one of them.
    pub fn create(path: impl Into<PathBuf>) -> Result<Maildir> {
        let root = path.into();
        if let Ok(md) = Maildir::open(&root) {
            return Ok(md);
        }
        let _turn = creation_turn(&root);
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true).mode(0o700);
        for sub in SUBDIRS {
            let p = root.join(sub);
            builder.create(&p).map_err(|e| MaildirError::io(&p, e))?;
        }
        Ok(Maildir { root })
    }

    /// The maildir directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// `tmp/`.
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// `new/`.
    pub fn new_dir(&self) -> PathBuf {
        self.root.join("new")
    }

    /// `cur/`.
    pub fn cur(&self) -> PathBuf {
        self.root.join("cur")
    }

    /// The Maildir++ folder names under this (INBOX) maildir, without the leading dot,
    /// sorted: `["Lists", "Lists.rust", "Sent"]`. Only directories that are maildirs count.
    pub fn folders(&self) -> Result<Vec<String>> {
        let rd = fs::read_dir(&self.root).map_err(|e| MaildirError::io(&self.root, e))?;
        let mut out = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|e| MaildirError::io(&self.root, e))?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let Some(folder) = name.strip_prefix('.') else {
                continue;
            };
            if check_folder_name(folder).is_err() {
                continue;
            }
            if Maildir::open(entry.path()).is_ok() {
                out.push(folder.to_string());
            }
        }
        out.sort();
        Ok(out)
    }

    fn folder_path(&self, name: &str) -> Result<PathBuf> {
        check_folder_name(name)?;
        Ok(self.root.join(format!(".{name}")))
    }

    /// Opens the folder `name` (on-disk name without the dot, e.g. `Lists.rust`).
    pub fn folder(&self, name: &str) -> Result<Maildir> {
        let path = self.folder_path(name)?;
        Maildir::open(&path).map_err(|e| match e {
            MaildirError::NotAMaildir(_) => MaildirError::NoSuchFolder(name.to_string()),
            other => other,
        })
    }

    /// Creates the folder `name` as a maildir with a `maildirfolder` marker file.
    pub fn create_folder(&self, name: &str) -> Result<Maildir> {
        let path = self.folder_path(name)?;
        if path.exists() {
            return Err(MaildirError::FolderExists(name.to_string()));
        }
        let md = Maildir::create(&path)?;
        let marker = path.join("maildirfolder");
        fs::write(&marker, b"").map_err(|e| MaildirError::io(&marker, e))?;
        Ok(md)
    }

    /// The folder `name`, made (or finished, when an earlier attempt stopped half-way) if it is
    /// not a whole maildir; `true` when it was.
    pub fn ensure_folder(&self, name: &str) -> Result<(Maildir, bool)> {
        let path = self.folder_path(name)?;
        let (md, made) = match Maildir::open(&path) {
            Ok(md) => (md, false),
            Err(_) => (Maildir::create(&path)?, true),
        };
        let marker = path.join("maildirfolder");
        if made || !marker.exists() {
            fs::write(&marker, b"").map_err(|e| MaildirError::io(&marker, e))?;
        }
        Ok((md, made))
    }

    /// Deletes the folder `name` and everything in it (not its subfolders, which are
    /// separate directories).
    pub fn delete_folder(&self, name: &str) -> Result<()> {
        let path = self.folder_path(name)?;
        if !path.is_dir() {
            return Err(MaildirError::NoSuchFolder(name.to_string()));
        }
        fs::remove_dir_all(&path).map_err(|e| MaildirError::io(&path, e))
    }

    /// Renames the folder `from` to `to`, and its subfolders `from.*` to `to.*` with it.
    pub fn rename_folder(&self, from: &str, to: &str) -> Result<()> {
        let src = self.folder_path(from)?;
        let dst = self.folder_path(to)?;
        if !src.is_dir() {
            return Err(MaildirError::NoSuchFolder(from.to_string()));
        }
        if dst.exists() {
            return Err(MaildirError::FolderExists(to.to_string()));
        }
        if to.starts_with(&format!("{from}.")) {
            return Err(MaildirError::InvalidFolderName(to.to_string()));
        }
        let prefix = format!("{from}.");
        let children: Vec<String> = self
            .folders()?
            .into_iter()
            .filter(|f| f.starts_with(&prefix))
            .collect();
        fs::rename(&src, &dst).map_err(|e| MaildirError::io(&src, e))?;
        for child in children {
            let new_name = format!("{to}.{}", &child[prefix.len()..]);
            let (a, b) = (self.folder_path(&child)?, self.folder_path(&new_name)?);
            fs::rename(&a, &b).map_err(|e| MaildirError::io(&a, e))?;
        }
        Ok(())
    }
}

/// Refuses folder names that could leave the mail root or confuse Maildir++: empty, `/`,
/// `..` components, leading or trailing or doubled dots, control bytes, over 255 bytes.
pub fn check_folder_name(name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name.len() > 255
        || name.contains('/')
        || name.starts_with('.')
        || name.ends_with('.')
        || name.contains("..")
        || name.bytes().any(|b| b < 0x20 || b == 0x7f);
    if bad {
        Err(MaildirError::InvalidFolderName(name.to_string()))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names() {
        let cases = [
            ("Sent", true),
            ("Lists.rust", true),
            ("", false),
            ("..", false),
            ("../etc", false),
            ("a/b", false),
            (".Sent", false),
            ("Sent.", false),
            ("a..b", false),
            ("a\nb", false),
            ("a\x7f", false),
            ("Entwürfe", true),
        ];
        for (name, ok) in cases {
            assert_eq!(check_folder_name(name).is_ok(), ok, "{name:?}");
        }
    }

    #[test]
    fn ensure_folder_finishes_a_half_made_one() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = Maildir::create(dir.path().join("u")).unwrap();
        // Stopped after the first mkdir (a full disk): not a maildir yet.
        std::fs::create_dir_all(dir.path().join("u/.Sent/cur")).unwrap();
        assert!(inbox.folder("Sent").is_err());
        let (_, made) = inbox.ensure_folder("Sent").unwrap();
        assert!(made);
        assert!(inbox.folder("Sent").is_ok());
        assert!(dir.path().join("u/.Sent/maildirfolder").exists());
        let (_, made) = inbox.ensure_folder("Sent").unwrap();
        assert!(!made, "a whole folder is left as it is");
    }

    #[test]
    fn create_open_and_folders() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("alice");
        assert!(matches!(
            Maildir::open(&root),
            Err(MaildirError::NotAMaildir(_))
        ));
        let inbox = Maildir::create(&root).unwrap();
        Maildir::open(&root).unwrap();
        inbox.create_folder("Sent").unwrap();
        inbox.create_folder("Lists").unwrap();
        inbox.create_folder("Lists.rust").unwrap();
        assert!(matches!(
            inbox.create_folder("Sent"),
            Err(MaildirError::FolderExists(_))
        ));
        assert!(matches!(
            inbox.create_folder("../x"),
            Err(MaildirError::InvalidFolderName(_))
        ));
        std::fs::create_dir(root.join(".notmaildir")).unwrap();
        assert_eq!(
            inbox.folders().unwrap(),
            vec!["Lists", "Lists.rust", "Sent"]
        );
        assert!(root.join(".Sent/maildirfolder").exists());

        inbox.rename_folder("Lists", "Groups").unwrap();
        assert_eq!(
            inbox.folders().unwrap(),
            vec!["Groups", "Groups.rust", "Sent"]
        );
        assert!(matches!(
            inbox.rename_folder("Nope", "X"),
            Err(MaildirError::NoSuchFolder(_))
        ));
        assert!(matches!(
            inbox.rename_folder("Sent", "Groups"),
            Err(MaildirError::FolderExists(_))
        ));
        assert!(matches!(
            inbox.rename_folder("Sent", "Sent.sub"),
            Err(MaildirError::InvalidFolderName(_))
        ));

        inbox.delete_folder("Groups.rust").unwrap();
        assert_eq!(inbox.folders().unwrap(), vec!["Groups", "Sent"]);
        assert!(matches!(
            inbox.folder("Groups.rust"),
            Err(MaildirError::NoSuchFolder(_))
        ));
        assert!(matches!(
            inbox.delete_folder("Nope"),
            Err(MaildirError::NoSuchFolder(_))
        ));
    }
}
