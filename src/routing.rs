//! Routing: where mail for a recipient goes, decided from the config and the users file alone.
//!
//! A pure function: no I/O. smtpd uses it at RCPT time, deliver at delivery time, collect and
//! sendmail alike.

use crate::config::{Config, Hosting};
use crate::users::Users;

/// Where a recipient's mail goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Into this user's maildir.
    Local { user: String },
    /// To another server, for this address; `server` names a `[[remote.server]]` chosen by an
    /// address handler (the domain's own server and the gateway are looked up by delivery).
    Remote {
        address: String,
        domain: String,
        server: Option<String>,
    },
}

/// Why there is no route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoRoute {
    /// A domain hosted here has no such mailbox.
    NoSuchUser,
    /// The domain is not ours: only trusted senders may relay to it.
    NotOurs { domain: String },
    /// The address has no domain part.
    Malformed,
}

/// Route one recipient address.
pub fn route(config: &Config, users: &Users, address: &str) -> Result<Route, NoRoute> {
    let (local, domain) = address.rsplit_once('@').ok_or(NoRoute::Malformed)?;
    if local.is_empty() || domain.is_empty() {
        return Err(NoRoute::Malformed);
    }
    match config.domain(domain).map(|d| d.hosted) {
        Some(Hosting::Here) => {
            if let Some(user) = users.find_mailbox(local) {
                return Ok(Route::Local {
                    user: user.name.clone(),
                });
            }
            // RFC 5321 §4.5.1: postmaster is always accepted for a domain we host.
            if local.eq_ignore_ascii_case("postmaster") {
                if let Some((pm_local, pm_domain)) = config.server.postmaster.rsplit_once('@') {
                    if config.is_hosted_here(pm_domain) {
                        if let Some(user) = users.find_mailbox(pm_local) {
                            return Ok(Route::Local {
                                user: user.name.clone(),
                            });
                        }
                    }
                }
            }
            Err(NoRoute::NoSuchUser)
        }
        Some(Hosting::Remote) => Ok(Route::Remote {
            address: address.to_string(),
            domain: domain.to_ascii_lowercase(),
            server: None,
        }),
        None => Err(NoRoute::NotOurs {
            domain: domain.to_ascii_lowercase(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn setup() -> (Config, Users) {
        let config = crate::config::parse(
            r#"
[server]
hostname = "mail.example.test"
postmaster = "admin@example.test"
[[domain]]
name = "example.test"
[[domain]]
name = "branch.test"
hosted = "remote"
"#,
            Path::new("/"),
        )
        .expect("config");
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("users.toml");
        std::fs::write(
            &path,
            "[[user]]\nname = \"neil\"\npassword = \"x\"\n[[user]]\nname = \"admin\"\npassword = \"x\"\n[[user]]\nname = \"off\"\npassword = \"x\"\nmail = false\n",
        )
        .expect("write");
        (config, Users::load(&path).expect("users"))
    }

    #[test]
    fn routes() {
        let (c, u) = setup();
        let local = |u: &str| Ok(Route::Local { user: u.into() });
        for (addr, want) in [
            ("neil@example.test", local("neil")),
            ("NEIL@EXAMPLE.TEST", local("neil")),
            ("nobody@example.test", Err(NoRoute::NoSuchUser)),
            ("off@example.test", Err(NoRoute::NoSuchUser)),
            ("postmaster@example.test", local("admin")),
            (
                "anyone@branch.test",
                Ok(Route::Remote {
                    address: "anyone@branch.test".into(),
                    domain: "branch.test".into(),
                    server: None,
                }),
            ),
            (
                "x@elsewhere.test",
                Err(NoRoute::NotOurs {
                    domain: "elsewhere.test".into(),
                }),
            ),
            ("nodomain", Err(NoRoute::Malformed)),
        ] {
            assert_eq!(route(&c, &u, addr), want, "{addr}");
        }
    }
}
