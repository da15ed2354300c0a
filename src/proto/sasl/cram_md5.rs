//! CRAM-MD5 (RFC 2195): the client answers a unique challenge with
//! `user SP hex(HMAC-MD5(secret, challenge))`.

use super::random::{self, RandomError};
use super::{utf8, Credentials, SaslError, Step};
use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;

/// A fresh challenge `<random.timestamp@hostname>` (unique per exchange, and unguessable: none
/// without random bytes).
pub(super) fn challenge(hostname: &str) -> Result<String, RandomError> {
    let (secs, nanos) = random::clock();
    Ok(format!(
        "<{}.{secs}{nanos:09}@{hostname}>",
        random::number()?
    ))
}

/// A CRAM-MD5 exchange waiting for the client's digest.
pub(super) struct CramMd5 {
    challenge: String,
}

impl CramMd5 {
    /// An exchange over `challenge` (sent to the client base64 encoded).
    pub(super) fn new(challenge: String) -> Self {
        CramMd5 { challenge }
    }

    /// Checks the client response `user SP 32-hex-digest`.
    pub(super) fn verify(&self, response: &[u8], creds: &dyn Credentials) -> Step {
        let text = match utf8(response, "CRAM-MD5 response is not UTF-8") {
            Ok(text) => text,
            Err(err) => return Step::Failure(err),
        };
        let Some((user, hex)) = text.rsplit_once(' ') else {
            return Step::Failure(SaslError::Malformed("CRAM-MD5 response has no digest"));
        };
        let Some(digest) = decode_hex::<16>(hex) else {
            return Step::Failure(SaslError::Malformed("CRAM-MD5 digest is not 32 hex digits"));
        };
        if user.is_empty() {
            return Step::Failure(SaslError::Malformed("CRAM-MD5 user name is empty"));
        }
        let matches = creds
            .shared_secret(user)
            .is_some_and(|secret| hmac_md5_matches(&secret, &self.challenge, &digest));
        if matches {
            Step::Success {
                user: user.to_owned(),
            }
        } else {
            Step::Failure(SaslError::InvalidCredentials)
        }
    }
}

/// The client side: the response `user SP hex(HMAC-MD5(secret, challenge))` (before base64).
pub fn client_response(user: &str, secret: &str, challenge: &[u8]) -> String {
    let mut out = format!("{user} ");
    if let Ok(mut mac) = <Hmac<Md5> as KeyInit>::new_from_slice(secret.as_bytes()) {
        mac.update(challenge);
        for b in mac.finalize().into_bytes() {
            out.push_str(&format!("{b:02x}"));
        }
    }
    out
}

/// Constant-time check of `expected == HMAC-MD5(secret, challenge)`.
fn hmac_md5_matches(secret: &str, challenge: &str, expected: &[u8]) -> bool {
    let Ok(mut mac) = <Hmac<Md5> as KeyInit>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(challenge.as_bytes());
    mac.verify_slice(expected).is_ok()
}

/// Decodes exactly `2 * N` hex digits (either case).
pub(super) fn decode_hex<const N: usize>(hex: &str) -> Option<[u8; N]> {
    let digits = hex.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let text = std::str::from_utf8(pair).ok()?;
        if !pair.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        *byte = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2195_client_response() {
        let got = client_response(
            "tim",
            "tanstaaftanstaaf",
            b"<1896.697170952@postoffice.reston.mci.net>",
        );
        assert_eq!(got, "tim b913a602c7eda7a495b4e6e7334d3890");
    }

    #[test]
    fn rfc2195_vector() {
        // RFC 2195 section 2.
        let challenge = "<1896.697170952@postoffice.reston.mci.net>";
        let digest = decode_hex::<16>("b913a602c7eda7a495b4e6e7334d3890");
        assert!(digest.is_some_and(|d| hmac_md5_matches("tanstaaftanstaaf", challenge, &d)));
        let wrong = decode_hex::<16>("b913a602c7eda7a495b4e6e7334d3891");
        assert!(!wrong.is_some_and(|d| hmac_md5_matches("tanstaaftanstaaf", challenge, &d)));
    }

    #[test]
    fn hex_decoding() {
        let cases: &[(&str, Option<[u8; 2]>)] = &[
            ("00ff", Some([0, 255])),
            ("A0fF", Some([0xa0, 0xff])),
            ("0ff", None),
            ("00fff", None),
            ("0g00", None),
            ("+1ff", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(decode_hex::<2>(text), *want, "{text}");
        }
    }

    #[test]
    fn challenges_are_unique_and_well_formed() {
        let a = challenge("mail.example.org").expect("random");
        let b = challenge("mail.example.org").expect("random");
        assert_ne!(a, b);
        assert!(a.starts_with('<') && a.ends_with("@mail.example.org>"));
        assert!(a.contains('.'));
    }
}
