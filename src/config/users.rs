//! `[users]`: where mail users come from — postern's users file, the system's accounts, or both.
//!
//! ```toml
//! [users]
//! source = "system"            # "file" (default), "system" or "both"
//!
//! [users.system]
//! pam_service = "postern"      # /etc/pam.d/postern (shipped in dist/pam.d/)
//! group = "mail-users"         # only members may log in and get mail (optional)
//! allow_root = false           # uid 0 is never a mail user unless this is set
//! min_uid = 1000               # like Dovecot's first_valid_uid
//! maildir = "home"             # "volume" (<paths.mail>/<user>), "home" (~/Maildir),
//!                              # or a template under paths.mail: "/var/mail/postern/%u"
//! pam_timeout = "10s"          # a PAM conversation taking longer is a failed login
//! ntlm_auth = "/usr/bin/ntlm_auth"  # Samba's helper, for SASL NTLM of system users
//! ntlm_timeout = "10s"
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::locate::Seg;
use super::Seconds;

/// Where mail users come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Only the users file.
    #[default]
    File,
    /// Only the system's accounts (getpwnam, PAM); the users file holds their extras.
    System,
    /// An accepted system account is a system user; any other name is looked up in the file.
    Both,
}

impl Source {
    /// Whether system accounts are mail users.
    pub fn uses_system(self) -> bool {
        matches!(self, Source::System | Source::Both)
    }

    /// Whether the users file's own users (with a password) are mail users.
    pub fn uses_file(self) -> bool {
        matches!(self, Source::File | Source::Both)
    }
}

/// The `[users]` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Users {
    pub source: Source,
    pub system: SystemUsers,
}

impl Users {
    /// Whether system accounts are mail users.
    pub fn uses_system(&self) -> bool {
        self.source.uses_system()
    }

    /// Whether the users file's own users (with a password) are mail users.
    pub fn uses_file(&self) -> bool {
        self.source.uses_file()
    }
}

/// `[users.system]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SystemUsers {
    /// The PAM service name (`/etc/pam.d/<name>`).
    pub pam_service: String,
    /// Only members of this group (primary or supplementary) are mail users.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Whether uid 0 may be a mail user.
    pub allow_root: bool,
    /// The lowest uid of a mail user (root aside).
    pub min_uid: u32,
    /// Where a system user's maildir is: `volume`, `home`, or a template with `%u`.
    pub maildir: String,
    /// Longest PAM conversation.
    pub pam_timeout: Seconds,
    /// Samba's `ntlm_auth`, for SASL NTLM of system users (none: NTLM only for file users with
    /// an NT hash).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ntlm_auth: Option<PathBuf>,
    /// Longest wait for an answer of `ntlm_auth`.
    pub ntlm_timeout: Seconds,
}

impl Default for SystemUsers {
    fn default() -> Self {
        SystemUsers {
            pam_service: "postern".into(),
            group: None,
            allow_root: false,
            min_uid: 1000,
            maildir: "volume".into(),
            pam_timeout: Seconds(10),
            ntlm_auth: None,
            ntlm_timeout: Seconds(10),
        }
    }
}

/// Where a system user's maildir is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MaildirPlace {
    /// `<paths.mail>/<user>`, like file users.
    Volume,
    /// `~/Maildir`.
    Home,
    /// A path with `%u` for the user name.
    Template(String),
}

impl SystemUsers {
    /// The maildir setting, or why it is wrong (`mail` is `paths.mail`).
    pub fn maildir_place(&self, mail: &Path) -> Result<MaildirPlace, String> {
        match self.maildir.as_str() {
            "volume" => Ok(MaildirPlace::Volume),
            "home" => Ok(MaildirPlace::Home),
            t => {
                let path = Path::new(t);
                if t.matches("%u").count() != 1 {
                    return Err(format!(
                        "users.system.maildir {t:?}: \"volume\", \"home\", or a path with %u once"
                    ));
                }
                if !path.is_absolute()
                    || !path.starts_with(mail)
                    || path
                        .components()
                        .any(|c| matches!(c, std::path::Component::ParentDir))
                {
                    return Err(format!(
                        "users.system.maildir {t:?} must be an absolute path under paths.mail ({})",
                        mail.display()
                    ));
                }
                Ok(MaildirPlace::Template(t.to_string()))
            }
        }
    }
}

/// Semantic checks of `[users]`.
pub(super) fn check(config: &super::Config, mut problem: impl FnMut(&[Seg<'_>], String)) {
    use Seg::Key;
    let s = &config.users.system;
    if let Err(m) = s.maildir_place(&config.paths.mail) {
        problem(&[Key("users"), Key("system"), Key("maildir")], m);
    }
    if s.pam_service.is_empty()
        || !s
            .pam_service
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        || s.pam_service.starts_with('.')
    {
        problem(
            &[Key("users"), Key("system"), Key("pam_service")],
            format!(
                "users.system.pam_service {:?} is not a PAM service name",
                s.pam_service
            ),
        );
    }
    if s.pam_timeout.0 == 0
        || s.pam_timeout.0 > 120
        || s.ntlm_timeout.0 == 0
        || s.ntlm_timeout.0 > 120
    {
        problem(
            &[Key("users"), Key("system"), Key("pam_timeout")],
            "users.system.pam_timeout and ntlm_timeout must be between 1s and 2m".into(),
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic
    use super::*;

    #[test]
    fn maildir_settings() {
        let mail = Path::new("/var/mail/postern");
        let with = |m: &str| SystemUsers {
            maildir: m.into(),
            ..SystemUsers::default()
        };
        assert_eq!(with("volume").maildir_place(mail), Ok(MaildirPlace::Volume));
        assert_eq!(with("home").maildir_place(mail), Ok(MaildirPlace::Home));
        assert_eq!(
            with("/var/mail/postern/sys/%u").maildir_place(mail),
            Ok(MaildirPlace::Template("/var/mail/postern/sys/%u".into()))
        );
        for bad in [
            "/var/mail/%u",
            "relative/%u",
            "/var/mail/postern/%u/%u",
            "/var/mail/postern/x",
            "/var/mail/postern/../%u",
        ] {
            assert!(with(bad).maildir_place(mail).is_err(), "{bad}");
        }
    }

    #[test]
    fn parse_and_defaults() {
        #[derive(Deserialize)]
        struct Wrap {
            #[serde(default)]
            users: Users,
        }
        let w: Wrap = toml::from_str("").unwrap();
        assert_eq!(w.users.source, Source::File);
        assert!(!w.users.uses_system() && w.users.uses_file());
        let w: Wrap = toml::from_str(
            "[users]\nsource = \"both\"\n[users.system]\ngroup = \"mail\"\nmin_uid = 500\n",
        )
        .unwrap();
        assert!(w.users.uses_system() && w.users.uses_file());
        assert_eq!(w.users.system.group.as_deref(), Some("mail"));
        assert_eq!(w.users.system.min_uid, 500);
        assert!(!w.users.system.allow_root);
        assert!(toml::from_str::<Wrap>("[users]\nsource = \"ldap\"").is_err());
        assert!(toml::from_str::<Wrap>("[users.system]\nshell = \"x\"").is_err());
    }
}
