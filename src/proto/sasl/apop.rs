//! APOP (RFC 1939 section 7): `MD5(timestamp-banner || secret)` in lowercase hex.

use super::constant_time_eq;
use super::cram_md5::decode_hex;
use super::random::{self, RandomError};
use md5::{Digest, Md5};

/// A unique greeting timestamp `<pid.clock@hostname>` for the POP3 banner, with random digits
/// so that it cannot be foreseen (none without random bytes: then APOP is not offered).
pub fn apop_banner(hostname: &str) -> Result<String, RandomError> {
    let (secs, nanos) = random::clock();
    let salt = random::number()? % 1_000_000;
    Ok(format!(
        "<{}.{secs}{nanos:09}{salt:06}@{hostname}>",
        std::process::id()
    ))
}

/// Whether the client's APOP digest matches `secret` for the timestamp of the banner.
///
/// `timestamp_banner` may be the bare `<…>` timestamp or the whole greeting line containing it.
/// `client_hex` is compared case-insensitively and in constant time.
pub fn apop_digest_matches(timestamp_banner: &str, secret: &str, client_hex: &str) -> bool {
    let Some(timestamp) = extract_timestamp(timestamp_banner) else {
        return false;
    };
    let Some(client) = decode_hex::<16>(client_hex.trim()) else {
        return false;
    };
    let mut hash = Md5::new();
    hash.update(timestamp.as_bytes());
    hash.update(secret.as_bytes());
    constant_time_eq(&hash.finalize(), &client)
}

/// The `<…>` part of a greeting (the first `<` to the next `>`).
fn extract_timestamp(banner: &str) -> Option<&str> {
    let start = banner.find('<')?;
    let len = banner.get(start..)?.find('>')?;
    banner.get(start..=start + len)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_BANNER: &str = "<1896.697170952@dbc.mtview.ca.us>";
    const RFC_DIGEST: &str = "c4c9334bac560ecc979e58001b3e22fb";

    #[test]
    fn rfc1939_vector_and_variants() {
        let cases: &[(&str, &str, &str, bool)] = &[
            (RFC_BANNER, "tanstaaf", RFC_DIGEST, true),
            (
                RFC_BANNER,
                "tanstaaf",
                "C4C9334BAC560ECC979E58001B3E22FB",
                true,
            ),
            (
                "+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>",
                "tanstaaf",
                RFC_DIGEST,
                true,
            ),
            (RFC_BANNER, "tanstaaX", RFC_DIGEST, false),
            (
                RFC_BANNER,
                "tanstaaf",
                "c4c9334bac560ecc979e58001b3e22fc",
                false,
            ),
            (
                RFC_BANNER,
                "tanstaaf",
                "c4c9334bac560ecc979e58001b3e22f",
                false,
            ),
            (RFC_BANNER, "tanstaaf", "", false),
            (
                "<1897.697170952@dbc.mtview.ca.us>",
                "tanstaaf",
                RFC_DIGEST,
                false,
            ),
            ("no timestamp here", "tanstaaf", RFC_DIGEST, false),
            ("<unterminated", "tanstaaf", RFC_DIGEST, false),
        ];
        for (banner, secret, digest, want) in cases {
            assert_eq!(
                apop_digest_matches(banner, secret, digest),
                *want,
                "{banner} {secret} {digest}"
            );
        }
    }

    #[test]
    fn banners_are_unique_and_well_formed() {
        let a = apop_banner("pop.example.org").expect("random");
        let b = apop_banner("pop.example.org").expect("random");
        assert_ne!(a, b);
        assert!(a.starts_with(&format!("<{}.", std::process::id())));
        assert!(a.ends_with("@pop.example.org>"));
        assert_eq!(extract_timestamp(&a), Some(a.as_str()));
    }
}
