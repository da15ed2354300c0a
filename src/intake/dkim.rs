//! DKIM signing in the intake: after the content filter (which may still refuse or change
//! nothing further), before the spool write — so the signature covers the message exactly as it
//! is stored and sent. What a next hop without 8BITMIME would have to convert is made 7-bit
//! first ([`crate::mailauth::sevenbit`]). Only mail from a trusted or authenticated sender ([`Origin::signs`]) of a
//! domain with `[[domain.dkim]]` keys, leaving for a remote domain, is signed (see
//! [`crate::mailauth::sign`]).

use super::{Origin, Submission};
use crate::config::Config;
use crate::events::event;
use crate::mailauth::sign;
use crate::store::users::Users;

/// Whether `sub` may be signed at all (a cheap look before [`sign`] goes to the blocking pool):
/// a sender whose mail is signed, and some domain with keys.
pub(super) fn may_sign(config: &Config, sub: &Submission) -> bool {
    sub.origin.signs() && config.domains.iter().any(|d| !d.dkim.is_empty())
}

/// `sub` with its `DKIM-Signature` fields in front, when it is to be signed. A key that cannot
/// be used is logged (`dkim_sign_failed`) and the message goes unsigned: `config check` reports
/// unusable keys before a server starts.
pub(super) fn sign(config: &Config, users: &Users, mut sub: Submission) -> Submission {
    let recipients: Vec<String> = sub.recipients.iter().map(|r| r.address.clone()).collect();
    let Some((domain, keys)) =
        sign::signers(config, users, sub.origin.signs(), &recipients, &sub.data)
    else {
        return sub;
    };
    let selectors = keys
        .iter()
        .map(|k| k.selector.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let started = std::time::Instant::now();
    // Re-encoded first where a next hop might have to (8-bit parts, over-long lines): a
    // conversion after signing would break the signature.
    if let Some(seven) = crate::mailauth::sevenbit::downgrade(&sub.data) {
        sub.data = seven;
    }
    match sign::sign(config, &domain, keys, &sub.data) {
        Ok(header) => {
            let mut data = Vec::with_capacity(header.len() + sub.data.len());
            data.extend_from_slice(header.as_bytes());
            data.extend_from_slice(&sub.data);
            sub.data = data;
            event("dkim_signed")
                .field("domain", &domain)
                .field("selectors", selectors)
                .field("us", started.elapsed().as_micros())
                .emit();
        }
        Err(e) => event("dkim_sign_failed")
            .field("domain", &domain)
            .field("selectors", selectors)
            .field("error", &e)
            .emit(),
    }
    sub
}

impl Origin {
    /// Whether mail from this origin is signed: a trusted or authenticated SMTP client, or a
    /// local user's `sendmail` — never collected mail or a notification.
    pub(super) fn signs(&self) -> bool {
        match self {
            Origin::Smtp { client, .. } => client.trusted || client.auth_user.is_some(),
            Origin::Sendmail { .. } => true,
            Origin::Collect { .. } | Origin::Notification => false,
        }
    }
}
