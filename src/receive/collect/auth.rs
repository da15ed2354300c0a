//! Logging in to a POP3 server as a client: choosing the method and computing each answer
//! (USER/PASS, APOP of RFC 1939, and the SASL mechanisms PLAIN, LOGIN and CRAM-MD5 over RFC 5034
//! AUTH). Pure: the socket loop sends what these functions return.

use base64::prelude::{Engine as _, BASE64_STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};

use super::proto::Capabilities;
use crate::config::collect::CollectAuth;

/// How to log in, decided from the config, the greeting and CAPA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    UserPass,
    /// APOP with the greeting's timestamp.
    Apop,
    Plain,
    Login,
    CramMd5,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::UserPass => "USER",
            Method::Apop => "APOP",
            Method::Plain => "PLAIN",
            Method::Login => "LOGIN",
            Method::CramMd5 => "CRAM-MD5",
        }
    }
}

/// Why no method fits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the server does not offer {0}")]
    NotOffered(&'static str),
    #[error("the server sent a malformed challenge")]
    BadChallenge,
}

/// Pick the method: the configured one if the server offers it; for `best`, the strongest
/// offered (CRAM-MD5, APOP, PLAIN, USER/PASS). A server without CAPA is assumed to take USER.
pub fn choose(
    want: CollectAuth,
    caps: &Capabilities,
    timestamp: Option<&str>,
) -> Result<Method, AuthError> {
    let user_ok = caps.caps.is_empty() || caps.has("USER");
    match want {
        CollectAuth::User => Ok(Method::UserPass),
        CollectAuth::Apop if timestamp.is_some() => Ok(Method::Apop),
        CollectAuth::Apop => Err(AuthError::NotOffered("APOP (no timestamp in its greeting)")),
        CollectAuth::Plain if caps.sasl("PLAIN") => Ok(Method::Plain),
        CollectAuth::Plain => Err(AuthError::NotOffered("SASL PLAIN")),
        CollectAuth::Login if caps.sasl("LOGIN") => Ok(Method::Login),
        CollectAuth::Login => Err(AuthError::NotOffered("SASL LOGIN")),
        CollectAuth::CramMd5 if caps.sasl("CRAM-MD5") => Ok(Method::CramMd5),
        CollectAuth::CramMd5 => Err(AuthError::NotOffered("SASL CRAM-MD5")),
        CollectAuth::Best => Ok(if caps.sasl("CRAM-MD5") {
            Method::CramMd5
        } else if timestamp.is_some() {
            Method::Apop
        } else if caps.sasl("PLAIN") {
            Method::Plain
        } else if user_ok {
            Method::UserPass
        } else if caps.sasl("LOGIN") {
            Method::Login
        } else {
            Method::UserPass
        }),
    }
}

/// The methods to try in turn: for `best`, every one the server offers, strongest first (a
/// method the server refuses for this account — CRAM-MD5 without a shared secret there — is
/// followed by the next); otherwise the one [`choose`] picks.
pub fn candidates(
    want: CollectAuth,
    caps: &Capabilities,
    timestamp: Option<&str>,
) -> Result<Vec<Method>, AuthError> {
    if want != CollectAuth::Best {
        return choose(want, caps, timestamp).map(|m| vec![m]);
    }
    let user_ok = caps.caps.is_empty() || caps.has("USER");
    let mut out = Vec::new();
    if caps.sasl("CRAM-MD5") {
        out.push(Method::CramMd5);
    }
    if timestamp.is_some() {
        out.push(Method::Apop);
    }
    if caps.sasl("PLAIN") {
        out.push(Method::Plain);
    }
    if user_ok {
        out.push(Method::UserPass);
    }
    if caps.sasl("LOGIN") {
        out.push(Method::Login);
    }
    if out.is_empty() {
        out.push(Method::UserPass);
    }
    Ok(out)
}

/// `APOP user digest` for the greeting's timestamp.
pub fn apop_command(timestamp: &str, user: &str, password: &str) -> String {
    let mut hash = Md5::new();
    hash.update(timestamp.as_bytes());
    hash.update(password.as_bytes());
    format!("APOP {user} {}", hex(&hash.finalize()))
}

/// The `AUTH …` command that starts a SASL exchange (PLAIN sends its initial response at once).
pub fn auth_command(method: Method, user: &str, password: &str) -> String {
    match method {
        Method::Plain => format!(
            "AUTH PLAIN {}",
            BASE64_STANDARD.encode(format!("\0{user}\0{password}"))
        ),
        m => format!("AUTH {}", m.name()),
    }
}

/// The answer to a `+ challenge` line (base64 in, base64 out).
pub fn answer(
    method: Method,
    challenge: &str,
    user: &str,
    password: &str,
) -> Result<String, AuthError> {
    let decoded = BASE64_STANDARD
        .decode(challenge.trim())
        .map_err(|_| AuthError::BadChallenge)?;
    let reply = match method {
        Method::CramMd5 => {
            let mut mac = <Hmac<Md5> as KeyInit>::new_from_slice(password.as_bytes())
                .map_err(|_| AuthError::BadChallenge)?;
            mac.update(&decoded);
            format!("{user} {}", hex(&mac.finalize().into_bytes()))
        }
        Method::Login => {
            let prompt = String::from_utf8_lossy(&decoded).to_ascii_lowercase();
            if prompt.contains("pass") {
                password.to_string()
            } else {
                user.to_string()
            }
        }
        // PLAIN answers an empty challenge (servers that refuse initial responses) in full.
        Method::Plain => format!("\0{user}\0{password}"),
        Method::UserPass | Method::Apop => return Err(AuthError::BadChallenge),
    };
    Ok(BASE64_STANDARD.encode(reply))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_vectors() {
        // RFC 1939 §7.
        assert_eq!(
            apop_command("<1896.697170952@dbc.mtview.ca.us>", "mrose", "tanstaaf"),
            "APOP mrose c4c9334bac560ecc979e58001b3e22fb"
        );
        // RFC 2195 §2.
        let challenge = BASE64_STANDARD.encode("<1896.697170952@postoffice.reston.mci.net>");
        let got = answer(Method::CramMd5, &challenge, "tim", "tanstaaftanstaaf").expect("ok");
        assert_eq!(
            BASE64_STANDARD.decode(got).expect("b64"),
            b"tim b913a602c7eda7a495b4e6e7334d3890"
        );
    }

    #[test]
    fn login_and_plain() {
        let dec =
            |s: String| String::from_utf8(BASE64_STANDARD.decode(s).expect("b64")).expect("u");
        assert_eq!(
            dec(answer(Method::Login, "VXNlcm5hbWU6", "u", "p").expect("ok")),
            "u"
        );
        assert_eq!(
            dec(answer(Method::Login, "UGFzc3dvcmQ6", "u", "p").expect("ok")),
            "p"
        );
        assert_eq!(auth_command(Method::Plain, "u", "p"), "AUTH PLAIN AHUAcA==");
        assert_eq!(auth_command(Method::CramMd5, "u", "p"), "AUTH CRAM-MD5");
        assert_eq!(
            answer(Method::CramMd5, "!!", "u", "p"),
            Err(AuthError::BadChallenge)
        );
    }

    #[test]
    fn choosing() {
        let caps = |lines: &[&str]| {
            Capabilities::parse(
                &lines
                    .iter()
                    .map(|l| l.as_bytes().to_vec())
                    .collect::<Vec<_>>(),
            )
        };
        let ts = Some("<1.2@x>");
        let full = caps(&["USER", "SASL PLAIN LOGIN CRAM-MD5"]);
        let plain = caps(&["USER", "SASL PLAIN"]);
        for (want, c, t, got) in [
            (CollectAuth::Best, &full, ts, Ok(Method::CramMd5)),
            (CollectAuth::Best, &plain, ts, Ok(Method::Apop)),
            (CollectAuth::Best, &plain, None, Ok(Method::Plain)),
            (CollectAuth::Best, &caps(&[]), None, Ok(Method::UserPass)),
            (
                CollectAuth::Apop,
                &plain,
                None,
                Err(AuthError::NotOffered("APOP (no timestamp in its greeting)")),
            ),
            (
                CollectAuth::CramMd5,
                &plain,
                ts,
                Err(AuthError::NotOffered("SASL CRAM-MD5")),
            ),
            (CollectAuth::Login, &full, None, Ok(Method::Login)),
            (CollectAuth::User, &full, ts, Ok(Method::UserPass)),
        ] {
            assert_eq!(choose(want, c, t), got, "{want:?}");
        }
    }
}
