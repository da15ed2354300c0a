//! Mail addresses as they appear in MAIL FROM / RCPT TO (RFC 5321 §4.1.2, RFC 6531 for UTF-8).

/// Longest local part (RFC 5321 §4.5.3.1.1).
pub const MAX_LOCAL: usize = 64;
/// Longest domain (RFC 5321 §4.5.3.1.2).
pub const MAX_DOMAIN: usize = 255;
/// Longest path (RFC 5321 §4.5.3.1.3).
pub const MAX_PATH: usize = 256;

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("address must be enclosed in <>")]
    NoBrackets,
    #[error("address has no @domain")]
    NoDomain,
    #[error("local part is invalid")]
    BadLocal,
    #[error("domain is invalid")]
    BadDomain,
    #[error("address is too long")]
    TooLong,
    #[error("address has non-ASCII characters but SMTPUTF8 was not requested")]
    NeedsUtf8,
}

/// Parse `<local@domain>` (source routes `<@a,@b:x@y>` are accepted and dropped). Returns the bare
/// address; `Ok("")` for `<>` when `allow_null` (MAIL). For RCPT (`!allow_null`) the one address
/// without a domain, `<Postmaster>` (RFC 5321 §4.1.1.3), is returned as it is.
pub fn parse_path(s: &str, allow_null: bool, utf8: bool) -> Result<String, AddressError> {
    let inner = s
        .strip_prefix('<')
        .and_then(|r| r.strip_suffix('>'))
        .ok_or(AddressError::NoBrackets)?;
    if inner.is_empty() {
        return if allow_null {
            Ok(String::new())
        } else {
            Err(AddressError::NoDomain)
        };
    }
    if inner.len() > MAX_PATH {
        return Err(AddressError::TooLong);
    }
    if !allow_null && inner.eq_ignore_ascii_case("postmaster") {
        return Ok(inner.to_string());
    }
    let mailbox = match inner.strip_prefix('@') {
        Some(_) => inner
            .split_once(':')
            .map(|x| x.1)
            .ok_or(AddressError::BadDomain)?,
        None => inner,
    };
    check_mailbox(mailbox, utf8)?;
    Ok(mailbox.to_string())
}

/// Validate `local@domain`.
pub fn check_mailbox(mailbox: &str, utf8: bool) -> Result<(), AddressError> {
    if !utf8 && !mailbox.is_ascii() {
        return Err(AddressError::NeedsUtf8);
    }
    let (local, domain) = mailbox.rsplit_once('@').ok_or(AddressError::NoDomain)?;
    check_local(local)?;
    if !valid_domain(domain) {
        return Err(AddressError::BadDomain);
    }
    Ok(())
}

/// Validate a local part: a dot-atom (UTF-8 allowed; the caller checks SMTPUTF8) or a quoted
/// string, at most [`MAX_LOCAL`] octets.
pub fn check_local(local: &str) -> Result<(), AddressError> {
    if local.is_empty() || local.len() > MAX_LOCAL {
        return Err(AddressError::BadLocal);
    }
    let ok = match local.strip_prefix('"').and_then(|l| l.strip_suffix('"')) {
        Some(q) => !q.chars().any(|c| c.is_control()),
        None => is_dot_atom(local),
    };
    if ok {
        Ok(())
    } else {
        Err(AddressError::BadLocal)
    }
}

/// Whether `local` is a dot-atom (RFC 5322 §3.2.3, with RFC 6531's UTF-8): atoms of atext
/// joined by single dots, none empty, so never `.`, `..` or a leading or trailing dot.
pub fn is_dot_atom(local: &str) -> bool {
    local.split('.').all(|atom| {
        !atom.is_empty()
            && atom.chars().all(|c| {
                c.is_ascii_alphanumeric()
                    || "!#$%&'*+-/=?^_`{|}~".contains(c)
                    || (!c.is_ascii() && !c.is_control())
            })
    })
}

/// A domain name or an address literal (`[192.0.2.1]`, `[IPv6:2001:db8::1]`).
pub fn valid_domain(domain: &str) -> bool {
    if domain.len() > MAX_DOMAIN || domain.is_empty() {
        return false;
    }
    if let Some(lit) = domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
        return match lit.strip_prefix("IPv6:") {
            Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
            None => lit.parse::<std::net::Ipv4Addr>().is_ok(),
        };
    }
    domain.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| {
                c.is_ascii_alphanumeric() || c == '-' || (!c.is_ascii() && !c.is_control())
            })
    })
}

/// Split a bare address into (local, domain).
pub fn split(address: &str) -> Option<(&str, &str)> {
    address.rsplit_once('@')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        for (input, null, utf8, want) in [
            ("<a@example.test>", false, false, Ok("a@example.test")),
            ("<>", true, false, Ok("")),
            ("<>", false, false, Err(AddressError::NoDomain)),
            (
                "a@example.test",
                false,
                false,
                Err(AddressError::NoBrackets),
            ),
            (
                "<@relay.test,@r2.test:a@example.test>",
                false,
                false,
                Ok("a@example.test"),
            ),
            (
                "<\"john doe\"@example.test>",
                false,
                false,
                Ok("\"john doe\"@example.test"),
            ),
            ("<a@[192.0.2.1]>", false, false, Ok("a@[192.0.2.1]")),
            (
                "<a@[IPv6:2001:db8::1]>",
                false,
                false,
                Ok("a@[IPv6:2001:db8::1]"),
            ),
            (
                "<a@[300.1.1.1]>",
                false,
                false,
                Err(AddressError::BadDomain),
            ),
            ("<a@-bad.test>", false, false, Err(AddressError::BadDomain)),
            (
                "<a..b@example.test>",
                false,
                false,
                Err(AddressError::BadLocal),
            ),
            (
                "<a b@example.test>",
                false,
                false,
                Err(AddressError::BadLocal),
            ),
            (
                "<a@example.test\0>",
                false,
                false,
                Err(AddressError::BadDomain),
            ),
            ("<noat>", false, false, Err(AddressError::NoDomain)),
            ("<Postmaster>", false, false, Ok("Postmaster")),
            ("<postmaster>", true, false, Err(AddressError::NoDomain)),
            (
                "<jörg@example.test>",
                false,
                false,
                Err(AddressError::NeedsUtf8),
            ),
            ("<jörg@example.test>", false, true, Ok("jörg@example.test")),
        ] {
            assert_eq!(
                parse_path(input, null, utf8),
                want.map(String::from),
                "{input:?}"
            );
        }
        let long = format!("<{}@example.test>", "a".repeat(65));
        assert_eq!(parse_path(&long, false, false), Err(AddressError::BadLocal));
    }
}
