//! `[[domain.handler]]` address handlers and the checks of the per-domain settings
//! (SPEC §2, seed 000 "Domains & Email Handlers").
//!
//! ```toml
//! [[domain]]
//! name = "example.test"
//! hosted = "here"              # here | remote
//! redirect = "neil"            # optional: all unhandled mail to this mailbox (remote: an address)
//! accept_unhandled = true      # addresses without a handler: here → existing users, remote → all
//! [[domain.handler]]
//! local = "niel"               # the part before the @
//! mailbox = "neil"             # deliver to this local mailbox …
//! # forward = "bob@new.example" # … or to this address,
//! # server = "headoffice"       #     optionally through this [[remote.server]]
//! max_size = "2M"              # restrictions: largest message,
//! block_attachments = true     #   no attachments,
//! copy_to = "boss@example.test" #  a copy to another address
//! ```

use serde::{Deserialize, Serialize};

use super::locate::Seg;
use super::validate::is_address;
use super::{ByteSize, Config, Hosting};
use crate::store::users::valid_user_name;

/// One address handler: overrides the domain's default delivery for one local part.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Handler {
    /// The local part this handler answers for (compared case-insensitively).
    pub local: String,
    /// Deliver to this local mailbox (user name).
    #[serde(default)]
    pub mailbox: Option<String>,
    /// Deliver to this address instead (usually on another server).
    #[serde(default)]
    pub forward: Option<String>,
    /// With `forward`: send through this named `[[remote.server]]` instead of MX.
    #[serde(default)]
    pub server: Option<String>,
    /// Largest message this address accepts.
    #[serde(default)]
    pub max_size: Option<ByteSize>,
    /// Refuse messages with attachments.
    #[serde(default)]
    pub block_attachments: bool,
    /// Also send a copy to this address (a bcc).
    #[serde(default)]
    pub copy_to: Option<String>,
}

pub(super) fn default_true() -> bool {
    true
}

/// Check the domain and handler settings; problems go to `out` via `problem(path, message)`.
pub(super) fn check(config: &Config, mut problem: impl FnMut(&[Seg<'_>], String)) {
    use Seg::{Index, Key};
    let collects = !config.collect.is_empty();
    for (i, d) in config.domains.iter().enumerate() {
        if let Some(r) = &d.redirect {
            let ok = match d.hosted {
                Hosting::Here => valid_user_name(r) || is_address(r),
                Hosting::Remote => is_address(r),
            };
            if !ok {
                problem(
                    &[Key("domain"), Index(i), Key("redirect")],
                    format!(
                        "domain {}: redirect {r:?} must be {}",
                        d.name,
                        match d.hosted {
                            Hosting::Here => "a mailbox (user name) or an address",
                            Hosting::Remote => "an address (local@domain)",
                        }
                    ),
                );
            }
        }
        if let Some(why) = reception_loop(d, collects) {
            problem(&[Key("domain"), Index(i), Key("accept_unhandled")], why);
        }
        let mut seen = std::collections::HashSet::new();
        for (j, h) in d.handlers.iter().enumerate() {
            let at = |k| [Key("domain"), Index(i), Key("handler"), Index(j), Key(k)];
            if let Err(why) = handler_local(&h.local) {
                problem(
                    &at("local"),
                    format!("domain {}: handler local part {why}", d.name),
                );
            }
            if !seen.insert(h.local.to_ascii_lowercase()) {
                problem(
                    &at("local"),
                    format!("domain {}: handler {:?} is defined twice", d.name, h.local),
                );
            }
            if h.mailbox.is_some() && h.forward.is_some() {
                problem(
                    &at("forward"),
                    format!(
                        "handler {}@{}: choose mailbox or forward, not both",
                        h.local, d.name
                    ),
                );
            }
            if let Some(m) = h.mailbox.as_deref().filter(|m| !valid_user_name(m)) {
                problem(
                    &at("mailbox"),
                    format!(
                        "handler {}@{}: mailbox {m:?} is not a valid user name",
                        h.local, d.name
                    ),
                );
            }
            for (key, v) in [("forward", &h.forward), ("copy_to", &h.copy_to)] {
                if let Some(a) = v.as_deref().filter(|a| !is_address(a)) {
                    problem(
                        &at(key),
                        format!(
                            "handler {}@{}: {key} {a:?} is not an address",
                            h.local, d.name
                        ),
                    );
                }
            }
            if h.server.is_some() && h.forward.is_none() && d.hosted == Hosting::Here {
                problem(
                    &at("server"),
                    format!(
                        "handler {}@{}: server is only used with forward",
                        h.local, d.name
                    ),
                );
            }
        }
    }
}

/// The seed's warning (scenario 3): a domain hosted on another server that accepts every address
/// forwards collected mail back to that server by MX — which is where it was collected from.
/// Refused when the server collects mail and the domain has no specific server or redirect.
pub fn reception_loop(d: &super::Domain, collects: bool) -> Option<String> {
    let loops = collects
        && d.hosted == Hosting::Remote
        && d.accept_unhandled
        && d.redirect.is_none()
        && d.server.is_none();
    loops.then(|| {
        format!(
            "domain {} is hosted on another server and accepts addresses with no handler, so mail \
             collected by POP3 for it would be sent back out to its MX and collected again (a \
             loop): set accept_unhandled = false and add handlers for the local mailboxes, or \
             host the domain here",
            d.name
        )
    })
}

/// A handler's local part must be what an address can carry before its `@`: a dot-atom of at
/// most 64 octets (RFC 5321 §4.5.3.1.1; the parser of `src/smtp/address.rs`), so `../x`, `a..b`,
/// `.x`, `a b` and `a@b` are refused. It is compared with the recipient's local part unquoted,
/// so a quoted form is not written here.
pub fn handler_local(local: &str) -> Result<(), String> {
    use crate::proto::smtp::address::{is_dot_atom, MAX_LOCAL};
    if local.len() > MAX_LOCAL {
        return Err(format!("{local:?} is longer than {MAX_LOCAL} octets"));
    }
    if local.is_empty() || !is_dot_atom(local) {
        return Err(format!(
            "{local:?} is not valid: letters, digits and !#$%&'*+-/=?^_`{{|}}~ in dot-separated \
             words (no empty word, no spaces, no @)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::handler_local;

    #[test]
    fn handler_local_parts() {
        for good in ["sales", "a.b", "first+tag", "o'brien", "jörg", "x/y", "_-_"] {
            assert!(handler_local(good).is_ok(), "{good:?}");
        }
        let long = "a".repeat(65);
        for bad in [
            "", "../x", "..", ".", "a..b", ".a", "a.", "a b", "a@b", "\"q\"", "a\nb", &long,
        ] {
            assert!(handler_local(bad).is_err(), "{bad:?}");
        }
    }
}
