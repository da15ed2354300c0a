//! The message-authentication settings: a hosted domain's DKIM keys (`[[domain.dkim]]`, RFC 6376;
//! two at once for a rotation or for dual RSA + Ed25519 signing, RFC 8463), the DMARC mode of each
//! receiving class and domain (`[receiving.*] dmarc`, `[[domain]] dmarc`, RFC 7489) and the ARC
//! sealers trusted to vouch for forwarded mail (`[receiving] arc_trusted_sealers`, RFC 8617).
//!
//! ```toml
//! [[domain]]
//! name = "example.test"
//! dmarc = "report"                  # overrides the receiving class for this domain's recipients
//! [[domain.dkim]]
//! selector = "s2026"
//! key = "dkim/example.test.s2026.key" # written by `postern dkim keygen`
//! algorithm = "rsa-sha256"          # rsa-sha256 | ed25519-sha256
//! canonicalization = "relaxed/relaxed"
//! # headers = ["From", "To", ...]    # default: RFC 6376 §5.4.1's set, From oversigned
//! [receiving]
//! arc_trusted_sealers = ["forwarder.example"]
//! [receiving.untrusted]
//! dmarc = "enforce"                 # off | report | enforce
//! ```

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::locate::Seg;
use super::validate::is_domain_name;
use super::Config;

/// The headers signed by default: RFC 6376 §5.4.1's recommended set and the MIME headers, with
/// `From` listed twice so that a second `From` added on the way does not verify (oversigning).
pub const DEFAULT_SIGNED_HEADERS: &[&str] = &[
    "From",
    "From",
    "Reply-To",
    "Subject",
    "Date",
    "To",
    "Cc",
    "Resent-Date",
    "Resent-From",
    "Resent-To",
    "Resent-Cc",
    "In-Reply-To",
    "References",
    "List-Id",
    "List-Help",
    "List-Unsubscribe",
    "List-Subscribe",
    "List-Post",
    "List-Owner",
    "List-Archive",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
];

fn default_headers() -> Vec<String> {
    DEFAULT_SIGNED_HEADERS
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// `[[domain.dkim]]`: one active signing key of a hosted domain.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DkimKey {
    /// The selector: the key's TXT record is `SELECTOR._domainkey.DOMAIN`.
    pub selector: String,
    /// The private key (PEM; relative to the config file), as `postern dkim keygen` writes it.
    pub key: PathBuf,
    #[serde(default)]
    pub algorithm: DkimAlgorithm,
    /// Header fields signed (a name listed twice is oversigned).
    #[serde(default = "default_headers")]
    pub headers: Vec<String>,
    /// `header/body`: `relaxed` or `simple` each.
    #[serde(default = "default_canonicalization")]
    pub canonicalization: String,
}

fn default_canonicalization() -> String {
    "relaxed/relaxed".into()
}

/// A DKIM signing algorithm (RFC 8301: no SHA-1; RFC 8463: Ed25519).
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq, Hash)]
pub enum DkimAlgorithm {
    #[default]
    #[serde(rename = "rsa-sha256")]
    RsaSha256,
    #[serde(rename = "ed25519-sha256")]
    Ed25519Sha256,
}

impl DkimAlgorithm {
    /// Its name in the config and the `a=` tag.
    pub fn name(self) -> &'static str {
        match self {
            DkimAlgorithm::RsaSha256 => "rsa-sha256",
            DkimAlgorithm::Ed25519Sha256 => "ed25519-sha256",
        }
    }

    /// The `k=` of its DNS record.
    pub fn key_type(self) -> &'static str {
        match self {
            DkimAlgorithm::RsaSha256 => "rsa",
            DkimAlgorithm::Ed25519Sha256 => "ed25519",
        }
    }
}

/// What the receiving side does with DKIM, ARC and DMARC.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum DmarcMode {
    /// No checks, no `Authentication-Results`.
    #[default]
    Off,
    /// Check and record the verdict in `Authentication-Results`; refuse nothing.
    Report,
    /// Also apply the sender domain's policy: `p=reject` → 550 5.7.1, `p=quarantine` → the
    /// recipient's Junk folder.
    Enforce,
}

/// `(header, body)` canonicalization of `text` (`relaxed/simple`, or one word for both), or why not.
pub fn canonicalization(text: &str) -> Result<(bool, bool), String> {
    let relaxed = |w: &str| match w {
        "relaxed" => Ok(true),
        "simple" => Ok(false),
        _ => Err(format!(
            "canonicalization {text:?}: each part is relaxed or simple"
        )),
    };
    match text.split_once('/') {
        Some((h, b)) => Ok((relaxed(h)?, relaxed(b)?)),
        None => Ok((relaxed(text)?, false)),
    }
}

/// Whether `s` can be a DKIM selector (dot-separated labels of letters, digits, hyphens).
pub fn is_selector(s: &str) -> bool {
    is_domain_name(s) && !s.contains('_')
}

/// Check the DKIM key settings and ARC sealers (the key files themselves are read by
/// `config check`, as the certificates are: parsing a config reads no other file).
pub(super) fn check(config: &Config, mut problem: impl FnMut(&[Seg<'_>], String)) {
    use Seg::{Index, Key};
    for (i, d) in config.domains.iter().enumerate() {
        let mut seen = std::collections::HashSet::new();
        for (j, k) in d.dkim.iter().enumerate() {
            let at = |key| [Key("domain"), Index(i), Key("dkim"), Index(j), Key(key)];
            if !is_selector(&k.selector) {
                problem(
                    &at("selector"),
                    format!(
                        "domain {}: DKIM selector {:?} must be letters, digits and hyphens in \
                         dot-separated labels",
                        d.name, k.selector
                    ),
                );
            }
            if !seen.insert(k.selector.to_ascii_lowercase()) {
                problem(
                    &at("selector"),
                    format!(
                        "domain {}: DKIM selector {:?} is listed twice",
                        d.name, k.selector
                    ),
                );
            }
            if let Err(why) = canonicalization(&k.canonicalization) {
                problem(&at("canonicalization"), format!("domain {}: {why}", d.name));
            }
            if !k.headers.iter().any(|h| h.eq_ignore_ascii_case("from")) {
                problem(
                    &at("headers"),
                    format!(
                        "domain {}: DKIM headers must include From (RFC 6376 §5.4)",
                        d.name
                    ),
                );
            }
        }
    }
    for (i, s) in config.receiving.arc_trusted_sealers.iter().enumerate() {
        if !is_domain_name(s) {
            problem(
                &[Key("receiving"), Key("arc_trusted_sealers"), Index(i)],
                format!("receiving.arc_trusted_sealers: {s:?} is not a domain name"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonicalizations() {
        assert_eq!(canonicalization("relaxed/relaxed"), Ok((true, true)));
        assert_eq!(canonicalization("simple/relaxed"), Ok((false, true)));
        assert_eq!(canonicalization("relaxed"), Ok((true, false)));
        assert!(canonicalization("loose/simple").is_err());
        assert!(is_selector("s2026"));
        assert!(is_selector("a.b-c"));
        assert!(!is_selector("a_b"));
        assert!(!is_selector(""));
    }
}
