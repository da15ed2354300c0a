//! `serve --demo DIR`: a self-contained demo setup on 127.0.0.1, made once and reused.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::{exit, Failure};

/// Demo domain and user.
pub const DOMAIN: &str = "example.test";
pub const USER: &str = "demo";

/// The demo config text for ports shifted by `offset`.
pub fn config_text(offset: u16) -> String {
    let p = |base: u16| base.saturating_add(offset);
    format!(
        r#"# postern demo configuration (made by `postern serve --demo`).
[server]
hostname = "mail.{DOMAIN}"
postmaster = "postmaster@{DOMAIN}"

[paths]
spool = "spool"
mail = "mail"
users = "users.toml"

[trust]
# Nobody is trusted by address: relaying needs AUTH (submission port).
networks = []

[delivery]
# Mail for other domains goes to a gateway on loopback; nothing leaves the machine.
gateway = "127.0.0.1:{gw}"
retry = ["1m", "5m", "15m", "1h"]
scan_interval = "30s"

[[domain]]
name = "{DOMAIN}"

# Outgoing mail is DKIM-signed; `postern dns records {DOMAIN}` prints the record to publish.
[[domain.dkim]]
selector = "demo"
key = "dkim/{DOMAIN}.demo.key"

# Mail to postmaster must always be accepted (RFC 5321 §4.5.1): it goes to the demo user.
[[domain.handler]]
local = "postmaster"
mailbox = "{USER}"

[[listener]]
name = "smtp"
protocol = "smtp"
address = "127.0.0.1:{smtp}"

[[listener]]
name = "submission"
protocol = "submission"
address = "127.0.0.1:{sub}"
tls = "starttls"
cert = "cert.pem"
key = "key.pem"

[[listener]]
name = "smtps"
protocol = "submission"
address = "127.0.0.1:{smtps}"
tls = "implicit"
cert = "cert.pem"
key = "key.pem"

[[listener]]
name = "pop3"
protocol = "pop3"
address = "127.0.0.1:{pop3}"
tls = "starttls"
cert = "cert.pem"
key = "key.pem"

[[listener]]
name = "pop3s"
protocol = "pop3"
address = "127.0.0.1:{pop3s}"
tls = "implicit"
cert = "cert.pem"
key = "key.pem"

[[listener]]
name = "imap"
protocol = "imap"
address = "127.0.0.1:{imap}"
tls = "starttls"
cert = "cert.pem"
key = "key.pem"

[[listener]]
name = "imaps"
protocol = "imap"
address = "127.0.0.1:{imaps}"
tls = "implicit"
cert = "cert.pem"
key = "key.pem"

# ManageSieve (RFC 5804): mail clients edit the demo user's Sieve filters here.
[[listener]]
name = "managesieve"
protocol = "managesieve"
address = "127.0.0.1:{sieve}"
tls = "starttls"
cert = "cert.pem"
key = "key.pem"
"#,
        gw = p(2526),
        smtp = p(2525),
        sub = p(2587),
        smtps = p(2465),
        pop3 = p(2110),
        pop3s = p(2995),
        imap = p(2143),
        imaps = p(2993),
        sieve = p(4190),
    )
}

/// A random password of 16 letters and digits.
fn random_password() -> Result<String, Failure> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| Failure::new(exit::OSERR, anyhow::anyhow!("no randomness: {e}")))?;
    Ok(bytes
        .iter()
        .filter_map(|b| ALPHABET.get(*b as usize % ALPHABET.len()))
        .map(|&c| c as char)
        .collect())
}

/// Create the demo under `dir` unless it is there; return the config path.
pub fn ensure(dir: &Path, offset: u16) -> Result<PathBuf, Failure> {
    let config = dir.join("postern.toml");
    if config.exists() {
        return Ok(config);
    }
    let io = |what: &str, e: std::io::Error| {
        Failure::new(
            exit::CANTCREAT,
            anyhow::anyhow!("cannot create {what}: {e}"),
        )
    };
    fs::create_dir_all(dir).map_err(|e| io(&dir.display().to_string(), e))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(|e| io("demo directory", e))?;
    let cert = crate::cert::generate(
        &format!("mail.{DOMAIN}"),
        &["localhost".into(), "127.0.0.1".into()],
        3650,
    )
    .map_err(|e| Failure::new(exit::SOFTWARE, e))?;
    crate::cert::write_files(&cert, &dir.join("cert.pem"), &dir.join("key.pem"))
        .map_err(|e| io("certificate", e))?;
    let dkim = crate::mailauth::keys::generate(crate::config::mailauth::DkimAlgorithm::RsaSha256)
        .map_err(|e| Failure::new(exit::SOFTWARE, e))?;
    fs::create_dir_all(dir.join("dkim")).map_err(|e| io("dkim directory", e))?;
    crate::store::durable::replace(
        &dir.join("dkim").join(format!("{DOMAIN}.demo.key")),
        dkim.as_bytes(),
        0o600,
    )
    .map_err(|e| io("DKIM key", e))?;
    let password = random_password()?;
    crate::store::users::add(&dir.join("users.toml"), USER, &password, true)
        .map_err(|e| Failure::new(exit::CANTCREAT, e))?;
    crate::store::durable::replace(
        &dir.join("demo-password"),
        format!("{password}\n").as_bytes(),
        0o600,
    )
    .map_err(|e| io("demo-password", e))?;
    // The config last: its presence marks a complete demo directory.
    crate::store::durable::replace(&config, config_text(offset).as_bytes(), 0o600)
        .map_err(|e| io("config", e))?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_config_is_valid_for_any_offset() {
        for offset in [0, 1000, 30000] {
            let c = crate::config::parse(&config_text(offset), Path::new("/demo")).expect("valid");
            assert_eq!(c.listeners.len(), 8);
            assert!(c.listeners.iter().all(|l| l.address.ip().is_loopback()));
            assert_eq!(c.listeners[0].address.port(), 2525 + offset);
            assert!(c.trust.networks.is_empty());
        }
    }
}
