//! Policy: trust and relay decisions for smtpd, as pure functions over the config and users.

use std::net::IpAddr;

use crate::config::{Config, Listener};
use crate::routing::{route, NoRoute, Route};
use crate::smtp::{Client, Policy, Reply};
use crate::users::Users;

/// Whether a client is trusted before authenticating (SPEC §3): a trusted listener or a trusted
/// network.
pub fn trusted_client(config: &Config, listener: Option<&Listener>, ip: Option<IpAddr>) -> bool {
    listener.is_some_and(|l| l.trusted) || ip.is_some_and(|ip| config.trust.contains(ip))
}

/// The receiving policy of one smtpd session.
pub struct SmtpPolicy<'a> {
    pub config: &'a Config,
    pub users: &'a Users,
}

impl Policy for SmtpPolicy<'_> {
    fn check_sender(&self, _client: &Client, _sender: &str) -> Result<(), Reply> {
        Ok(())
    }

    fn check_recipient(&self, client: &Client, _sender: &str, rcpt: &str) -> Result<(), Reply> {
        match route(self.config, self.users, rcpt) {
            Ok(Route::Local { .. }) | Ok(Route::Remote { .. }) => Ok(()),
            Err(NoRoute::NoSuchUser) => Err(Reply::new(
                550,
                "5.1.1",
                format!("<{rcpt}>: Recipient address rejected: no such user here"),
            )),
            Err(NoRoute::NotOurs { .. }) if client.trusted => Ok(()),
            Err(NoRoute::NotOurs { .. }) => Err(Reply::new(
                554,
                "5.7.1",
                format!("<{rcpt}>: Relay access denied"),
            )),
            Err(NoRoute::Malformed) => {
                Err(Reply::new(501, "5.1.3", "Bad recipient address syntax"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn relay_and_local_recipients() {
        let config = crate::config::parse(
            "[server]\nhostname = \"mail.example.test\"\npostmaster = \"pm@example.test\"\n[trust]\nnetworks = [\"10.0.0.0/8\"]\n[[domain]]\nname = \"example.test\"\n",
            Path::new("/"),
        )
        .expect("config");
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("u.toml");
        std::fs::write(&path, "[[user]]\nname = \"bob\"\npassword = \"x\"\n").expect("write");
        let users = Users::load(&path).expect("users");
        let p = SmtpPolicy {
            config: &config,
            users: &users,
        };
        let lan: IpAddr = "10.1.2.3".parse().expect("ip");
        let outside: IpAddr = "192.0.2.9".parse().expect("ip");
        assert!(trusted_client(&config, None, Some(lan)));
        assert!(!trusted_client(&config, None, Some(outside)));
        let untrusted = Client::default();
        let trusted = Client {
            trusted: true,
            ..Client::default()
        };
        for (client, rcpt, code) in [
            (&untrusted, "bob@example.test", None),
            (&untrusted, "nobody@example.test", Some(550)),
            (&untrusted, "x@elsewhere.test", Some(554)),
            (&trusted, "x@elsewhere.test", None),
            (&trusted, "nobody@example.test", Some(550)),
        ] {
            let got = p
                .check_recipient(client, "a@b.test", rcpt)
                .err()
                .map(|r| r.code);
            assert_eq!(got, code, "{rcpt} trusted={}", client.trusted);
        }
    }
}
