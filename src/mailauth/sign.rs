//! DKIM signing of outgoing mail (RFC 6376, RFC 8463): which message is signed by which keys
//! ([`signers`], a pure decision over the config and the routes), and the `DKIM-Signature`
//! fields themselves ([`sign`], mail-auth's signer; one field per key, each over the message as
//! it will be stored and sent — nothing rewrites a header after this).

use std::sync::Arc;

use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{Canonicalization, DkimSigner};

use super::keys::{self, KeyError, SigningKey};
use crate::config::mailauth::{canonicalization, DkimKey};
use crate::config::Config;
use crate::queue::routing::{route, NoRoute, Route};
use crate::store::users::Users;

/// Why a message could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("DKIM signing for {domain} (selector {selector}) failed: {why}")]
    Sign {
        domain: String,
        selector: String,
        why: String,
    },
}

/// The domain whose keys sign a message: the `From:` domain (the one DMARC aligns with).
pub fn from_domain(message: &[u8]) -> Option<String> {
    let (headers, _) = mailparse::parse_headers(message).ok()?;
    let from = headers
        .iter()
        .find(|h| h.get_key_ref().eq_ignore_ascii_case("from"))?;
    let list = mailparse::addrparse_header(from).ok()?;
    let first = list.iter().find_map(|a| match a {
        mailparse::MailAddr::Single(s) => Some(s.addr.clone()),
        mailparse::MailAddr::Group(g) => g.addrs.first().map(|s| s.addr.clone()),
    })?;
    let (_, domain) = first.rsplit_once('@')?;
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    (!domain.is_empty()).then_some(domain)
}

/// The keys that sign a message from a trusted or authenticated sender (`trusted`) to
/// `recipients`: those of its `From:` domain, when that domain is configured with keys and the
/// message leaves for at least one remote domain. None otherwise.
pub fn signers<'c>(
    config: &'c Config,
    users: &Users,
    trusted: bool,
    recipients: &[String],
    message: &[u8],
) -> Option<(String, &'c [DkimKey])> {
    if !trusted {
        return None;
    }
    let domain = from_domain(message)?;
    let keys = &config.domain(&domain)?.dkim;
    if keys.is_empty() {
        return None;
    }
    // Relayed to a domain not configured here, or forwarded by a route of ours.
    let leaves = recipients.iter().any(|r| {
        matches!(
            route(config, users, r),
            Ok(Route::Remote { .. }) | Err(NoRoute::NotOurs { .. })
        )
    });
    leaves.then_some((domain, keys.as_slice()))
}

/// The `DKIM-Signature` fields (CRLF line ends) for `message` by `domain`'s `keys` (paths
/// resolved against the config directory).
pub fn sign(
    config: &Config,
    domain: &str,
    keys: &[DkimKey],
    message: &[u8],
) -> Result<String, SignError> {
    let mut out = String::new();
    for k in keys {
        let key = keys::cached(&config.base_dir.join(&k.key), k.algorithm)?;
        out.push_str(&sign_with(domain, k, &key, message)?);
    }
    Ok(out)
}

/// One `DKIM-Signature` field by one key.
pub fn sign_with(
    domain: &str,
    k: &DkimKey,
    key: &Arc<SigningKey>,
    message: &[u8],
) -> Result<String, SignError> {
    let fail = |why: String| SignError::Sign {
        domain: domain.to_string(),
        selector: k.selector.clone(),
        why,
    };
    let (relaxed_h, relaxed_b) = canonicalization(&k.canonicalization).map_err(fail)?;
    let canon = |relaxed| {
        if relaxed {
            Canonicalization::Relaxed
        } else {
            Canonicalization::Simple
        }
    };
    let signature = DkimSigner::from_key(key.as_ref())
        .domain(domain)
        .selector(&k.selector)
        .headers(signed_headers(&k.headers, message))
        .header_canonicalization(canon(relaxed_h))
        .body_canonicalization(canon(relaxed_b))
        .sign(message)
        .map_err(|e| fail(e.to_string()))?;
    let mut header = signature.to_header();
    if !header.ends_with("\r\n") {
        header.push_str("\r\n");
    }
    Ok(header)
}

/// The header names to sign: the configured ones the message has, each name as often as it is
/// configured (a name listed twice is oversigned: a second such field added on the way breaks
/// the signature). Names the message lacks are left out, so that fields a mailing list adds
/// (List-Id, …) do not break it on their own.
pub fn signed_headers(configured: &[String], message: &[u8]) -> Vec<String> {
    let present: Vec<String> = match mailparse::parse_headers(message) {
        Ok((headers, _)) => headers
            .iter()
            .map(|h| h.get_key_ref().to_ascii_lowercase())
            .collect(),
        Err(_) => Vec::new(),
    };
    configured
        .iter()
        .filter(|name| present.iter().any(|p| p.eq_ignore_ascii_case(name)))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic
    use super::*;
    use crate::config::mailauth::{DkimAlgorithm, DEFAULT_SIGNED_HEADERS};

    const MESSAGE: &[u8] = b"From: Ann <ann@Here.Test>\r\nTo: bob@there.test\r\n\
        Subject: hi\r\nDate: Fri, 4 Dec 2026 10:00:00 +0000\r\n\r\nHello\r\n";

    #[test]
    fn the_from_domain_signs() {
        assert_eq!(from_domain(MESSAGE).as_deref(), Some("here.test"));
        assert_eq!(from_domain(b"Subject: x\r\n\r\nbody"), None);
        assert_eq!(
            from_domain(b"From: Group: a@g.test, b@h.test;\r\n\r\n").as_deref(),
            Some("g.test")
        );
    }

    #[test]
    fn only_trusted_mail_leaving_for_other_domains_is_signed() {
        let config = crate::config::parse(
            "[server]\nhostname = \"mx.here.test\"\npostmaster = \"pm@here.test\"\n\
             [[domain]]\nname = \"here.test\"\n[[domain.dkim]]\nselector = \"s\"\nkey = \"k\"\n\
             [[domain.handler]]\nlocal = \"fwd\"\nforward = \"x@far.test\"\n\
             [[domain]]\nname = \"nokey.test\"\n",
            std::path::Path::new("/cfg"),
        )
        .expect("config");
        let users = Users::default();
        let to = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let signs = |trusted, rcpts: &[&str], msg: &[u8]| {
            signers(&config, &users, trusted, &to(rcpts), msg).map(|(d, k)| (d, k.len()))
        };
        let remote = ["bob@there.test"];
        assert_eq!(signs(true, &remote, MESSAGE), Some(("here.test".into(), 1)));
        assert_eq!(signs(false, &remote, MESSAGE), None, "untrusted: never");
        assert_eq!(signs(true, &["ann@here.test"], MESSAGE), None, "stays here");
        assert_eq!(
            signs(true, &["fwd@here.test"], MESSAGE),
            Some(("here.test".into(), 1)),
            "forwarded out"
        );
        let other = b"From: a@nokey.test\r\n\r\nx\r\n";
        assert_eq!(signs(true, &remote, other), None, "no keys");
        assert_eq!(signs(true, &remote, b"Subject: no from\r\n\r\nx\r\n"), None);
    }

    #[test]
    fn only_present_headers_are_signed_and_from_twice() {
        let configured: Vec<String> = DEFAULT_SIGNED_HEADERS
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            signed_headers(&configured, MESSAGE),
            ["From", "From", "Subject", "Date", "To"]
        );
    }

    #[test]
    fn signatures_carry_domain_selector_and_canonicalization() {
        let pem = keys::generate(DkimAlgorithm::Ed25519Sha256).unwrap();
        let key =
            Arc::new(SigningKey::from_pem(pem.as_bytes(), DkimAlgorithm::Ed25519Sha256).unwrap());
        let k = DkimKey {
            selector: "s1".into(),
            key: "unused".into(),
            algorithm: DkimAlgorithm::Ed25519Sha256,
            headers: DEFAULT_SIGNED_HEADERS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            canonicalization: "relaxed/simple".into(),
        };
        let h = sign_with("here.test", &k, &key, MESSAGE).unwrap();
        assert!(
            h.starts_with(
                "DKIM-Signature: v=1; a=ed25519-sha256; s=s1; d=here.test; c=relaxed/simple;"
            ),
            "{h}"
        );
        assert!(h.ends_with("\r\n"));
        assert!(!h.contains("\n\r\n"), "no empty line: {h:?}");
    }
}
