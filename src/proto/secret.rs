//! [`Secret`]: a password, password hash or shared secret held in memory. Its `Debug` and
//! `Display` print `[redacted]`, so no `{:?}` of a struct holding one, no error message and no
//! log line can show it; the value is read only where it is used, with [`Secret::expose`].
//! It reads and writes as the plain string it is in the config and users files.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A secret string. Compared in constant time.
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, for the one place that needs it (a hash check, an AUTH command).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Secret {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Secret {
        Secret(s.to_string())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Secret) -> bool {
        crate::proto::sasl::constant_time_eq(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl Eq for Secret {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let s = Secret::new("hunter2");
        assert_eq!(
            format!("{s} {s:?} {:?}", Some(&s)),
            "[redacted] [redacted] Some([redacted])"
        );
        assert_eq!(s.expose(), "hunter2");
        assert_eq!(s, Secret::from("hunter2"));
        assert_ne!(s, Secret::from("hunter3"));
        assert_eq!(serde_json::to_string(&s).expect("json"), "\"hunter2\"");
    }

    /// Every place a password or shared secret is kept: the config (a remote server's, a
    /// collect account's), the users file (hashes and the opt-in shared secret), a POP3 PASS
    /// command. Their `Debug` shows none of them.
    #[test]
    fn no_debug_output_shows_a_secret() {
        let config = crate::config::parse(
            r#"
[server]
hostname = "mail.example.test"
postmaster = "admin@example.test"
[[remote.server]]
name = "isp"
host = "smtp.isp.test"
user = "u"
password = "remote-pass-1"
[[collect]]
name = "isp"
server = "pop.isp.test"
user = "catchall"
password = "collect-pass-2"
"#,
            std::path::Path::new("/"),
        )
        .expect("config");
        let users: crate::store::users::User = toml::from_str(
            r#"
name = "bob"
password = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$hash-3"
pop3_password = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$hash-4"
shared_secret = "shared-5"
"#,
        )
        .expect("user");
        let pass = crate::proto::pop3::command::parse(b"PASS pop-pass-6").expect("PASS");
        let shown = format!("{config:?} {users:?} {pass:?}");
        for secret in [
            "remote-pass-1",
            "collect-pass-2",
            "hash-3",
            "hash-4",
            "shared-5",
            "pop-pass-6",
        ] {
            assert!(!shown.contains(secret), "{secret} shown in {shown}");
        }
        assert!(shown.contains("[redacted]"));
        // The values are all there for the code that uses them.
        assert_eq!(
            config.remote.servers[0]
                .password
                .as_ref()
                .map(Secret::expose),
            Some("remote-pass-1")
        );
        assert_eq!(
            users.shared_secret.as_ref().map(Secret::expose),
            Some("shared-5")
        );
    }
}
