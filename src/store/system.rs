//! System accounts as mail users (`[users] source = "system"` or `"both"`): looked up with
//! getpwnam/getgrnam at each use (so `useradd`, `usermod -L`, `passwd` and group changes apply
//! without a restart) and authenticated through PAM (pam_authenticate + pam_acct_mgmt, so locked
//! and expired accounts fail), on a thread of its own with a timeout.
//!
//! An account is a mail user when its name is a valid mail user name
//! ([`crate::store::users::valid_user_name`]), its uid is not 0 (unless `allow_root`) and at
//! least `min_uid`, and — with `group` set — it is a member of that group (primary or
//! supplementary).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::config::users::{MaildirPlace, SystemUsers};

/// One system account that is a mail user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

/// The system's accounts, as `[users.system]` admits them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemAccounts {
    settings: SystemUsers,
    place: MaildirPlace,
}

/// PAM conversations running at once (a hung module keeps its thread); beyond this, logins of
/// system users fail at once instead of piling up threads.
const MAX_PAM_THREADS: usize = 32;
static PAM_THREADS: AtomicUsize = AtomicUsize::new(0);

/// What the account checks decide about a passwd entry (pure, for the tests).
pub fn admitted(
    settings: &SystemUsers,
    uid: u32,
    gid: u32,
    name: &str,
    group: Option<(u32, &[String])>,
) -> bool {
    if !crate::store::users::valid_user_name(name) {
        return false;
    }
    if uid == 0 {
        if !settings.allow_root {
            return false;
        }
    } else if uid < settings.min_uid {
        return false;
    }
    match (&settings.group, group) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(_), Some((group_gid, members))) => {
            gid == group_gid || members.iter().any(|m| m == name)
        }
    }
}

impl SystemAccounts {
    /// The accounts `settings` admit; `mail` is `paths.mail` (for the maildir template).
    pub fn new(settings: &SystemUsers, mail: &Path) -> SystemAccounts {
        SystemAccounts {
            place: settings.maildir_place(mail).unwrap_or(MaildirPlace::Volume),
            settings: settings.clone(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &SystemUsers {
        &self.settings
    }

    /// The account called `name`, if it exists and is a mail user now.
    pub fn lookup(&self, name: &str) -> Option<Account> {
        if !crate::store::users::valid_user_name(name) {
            return None;
        }
        let user = nix::unistd::User::from_name(name).ok()??;
        if user.name != name {
            return None;
        }
        let group = match &self.settings.group {
            Some(g) => nix::unistd::Group::from_name(g).ok().flatten(),
            None => None,
        };
        let group = group.as_ref().map(|g| (g.gid.as_raw(), g.mem.as_slice()));
        admitted(
            &self.settings,
            user.uid.as_raw(),
            user.gid.as_raw(),
            name,
            group,
        )
        .then(|| Account {
            name: user.name,
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
            home: user.dir,
        })
    }

    /// The INBOX maildir of `account`; `volume` is `paths.mail`.
    pub fn maildir(&self, account: &Account, volume: &Path) -> PathBuf {
        match &self.place {
            MaildirPlace::Volume => volume.join(&account.name),
            MaildirPlace::Home => account.home.join("Maildir"),
            MaildirPlace::Template(t) => PathBuf::from(t.replace("%u", &account.name)),
        }
    }

    /// Whether `password` is `name`'s system password and the account may log in now (PAM
    /// authenticate and account management), within `pam_timeout`.
    pub fn authenticate(&self, name: &str, password: &str) -> bool {
        if self.lookup(name).is_none() || password.contains('\0') || password.len() > 1024 {
            return false;
        }
        pam_check(
            &self.settings.pam_service,
            name,
            password,
            self.settings.pam_timeout.duration(),
        )
    }
}

/// One PAM conversation on a thread of its own; `false` when it fails, errs or times out.
pub fn pam_check(service: &str, user: &str, password: &str, timeout: Duration) -> bool {
    if PAM_THREADS.fetch_add(1, Ordering::SeqCst) >= MAX_PAM_THREADS {
        PAM_THREADS.fetch_sub(1, Ordering::SeqCst);
        crate::events::event("pam_busy").field("user", user).emit();
        return false;
    }
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let (service, login, pw) = (service.to_string(), user.to_string(), password.to_string());
    let spawned = std::thread::Builder::new()
        .name("pam".into())
        .spawn(move || {
            let result = run_pam(&service, &login, &pw);
            PAM_THREADS.fetch_sub(1, Ordering::SeqCst);
            let _ = tx.send(result);
        });
    if spawned.is_err() {
        PAM_THREADS.fetch_sub(1, Ordering::SeqCst);
        return false;
    }
    match rx.recv_timeout(timeout) {
        Ok(Ok(())) => true,
        Ok(Err(reason)) => {
            crate::events::event("pam_failed")
                .field("user", user)
                .field("reason", reason)
                .emit();
            false
        }
        Err(_) => {
            crate::events::event("pam_timeout")
                .field("user", user)
                .field("after", format!("{}s", timeout.as_secs()))
                .emit();
            false
        }
    }
}

/// The PAM conversation: the user name when asked with echo, the password when asked without.
struct Conversation {
    login: String,
    password: String,
}

impl pam::Converse for Conversation {
    fn prompt_echo(&mut self, _msg: &std::ffi::CStr) -> Result<std::ffi::CString, ()> {
        std::ffi::CString::new(self.login.clone()).map_err(|_| ())
    }
    fn prompt_blind(&mut self, _msg: &std::ffi::CStr) -> Result<std::ffi::CString, ()> {
        std::ffi::CString::new(self.password.clone()).map_err(|_| ())
    }
    fn info(&mut self, _msg: &std::ffi::CStr) {}
    fn error(&mut self, _msg: &std::ffi::CStr) {}
    fn username(&self) -> &str {
        &self.login
    }
}

fn run_pam(service: &str, login: &str, password: &str) -> Result<(), String> {
    let conversation = Conversation {
        login: login.to_string(),
        password: password.to_string(),
    };
    let mut auth = pam::Authenticator::with_handler(service, conversation)
        .map_err(|e| format!("pam_start: {e:?}"))?;
    // pam_authenticate, then pam_acct_mgmt (locked, expired accounts).
    auth.authenticate().map_err(|e| format!("{e:?}"))
}

/// Gives a freshly made maildir directory of a system user to that user, when this process can
/// (runs as root); otherwise leaves it as it is.
pub fn give_to(path: &Path, account: &Account) {
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let uid = nix::unistd::Uid::from_raw(account.uid);
    let gid = nix::unistd::Gid::from_raw(account.gid);
    for dir in [
        path.to_path_buf(),
        path.join("cur"),
        path.join("new"),
        path.join("tmp"),
    ] {
        let _ = nix::unistd::chown(&dir, Some(uid), Some(gid));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic
    use super::*;

    /// What, settings, uid, gid, name, the group (gid, members), admitted.
    type Case<'a> = (
        &'a str,
        &'a SystemUsers,
        u32,
        u32,
        &'a str,
        Option<(u32, &'a [String])>,
        bool,
    );

    #[test]
    fn who_is_a_mail_user() {
        let base = SystemUsers::default();
        let grouped = SystemUsers {
            group: Some("mail-users".into()),
            ..SystemUsers::default()
        };
        let rooted = SystemUsers {
            allow_root: true,
            ..SystemUsers::default()
        };
        let members = vec!["alice".to_string()];
        let cases: &[Case<'_>] = &[
            (
                "an ordinary account",
                &base,
                1000,
                1000,
                "alice",
                None,
                true,
            ),
            (
                "a system account below min_uid",
                &base,
                100,
                100,
                "daemon",
                None,
                false,
            ),
            ("root, not allowed", &base, 0, 0, "root", None, false),
            ("root, allowed", &rooted, 0, 0, "root", None, true),
            (
                "a member of the group",
                &grouped,
                1001,
                1001,
                "alice",
                Some((500, &members)),
                true,
            ),
            (
                "primary group is the group",
                &grouped,
                1002,
                500,
                "bob",
                Some((500, &members)),
                true,
            ),
            (
                "not a member",
                &grouped,
                1003,
                1003,
                "carol",
                Some((500, &members)),
                false,
            ),
            (
                "the group does not exist",
                &grouped,
                1001,
                1001,
                "alice",
                None,
                false,
            ),
            (
                "a name no maildir could have",
                &base,
                1000,
                1000,
                ".x",
                None,
                false,
            ),
        ];
        for (what, s, uid, gid, name, group, want) in cases {
            assert_eq!(admitted(s, *uid, *gid, name, *group), *want, "{what}");
        }
    }

    #[test]
    fn maildir_places() {
        let acct = Account {
            name: "alice".into(),
            uid: 1000,
            gid: 1000,
            home: "/home/alice".into(),
        };
        let vol = Path::new("/var/mail/postern");
        let with = |m: &str| {
            SystemAccounts::new(
                &SystemUsers {
                    maildir: m.into(),
                    ..SystemUsers::default()
                },
                vol,
            )
        };
        assert_eq!(with("volume").maildir(&acct, vol), vol.join("alice"));
        assert_eq!(
            with("home").maildir(&acct, vol),
            PathBuf::from("/home/alice/Maildir")
        );
        assert_eq!(
            with("/var/mail/postern/sys/%u").maildir(&acct, vol),
            PathBuf::from("/var/mail/postern/sys/alice")
        );
    }

    #[test]
    fn root_and_unknown_are_not_looked_up_as_users() {
        let sys = SystemAccounts::new(&SystemUsers::default(), Path::new("/var/mail"));
        assert!(sys.lookup("root").is_none());
        assert!(sys.lookup("no-such-user-here-xyz").is_none());
        assert!(sys.lookup("../etc").is_none());
        assert!(!sys.authenticate("root", "x"));
    }
}
