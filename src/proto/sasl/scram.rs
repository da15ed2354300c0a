//! SCRAM-SHA-256 (RFC 5802, RFC 7677), server side, without channel binding.
//!
//! The exchange: client-first (`n,,n=user,r=cnonce`) → server-first (`r=cnonce+snonce,s=salt,i=n`)
//! → client-final (`c=biws,r=…,p=proof`) → server-final (`v=signature`) → empty client line.

mod secret;

pub use secret::{set_decoy_key, ScramSecret, SCRAM_ITERATIONS};

use super::{constant_time_eq, utf8, Credentials, SaslError, Step};
use base64::prelude::{Engine as _, BASE64_STANDARD};
use secret::{hmac_sha256, sha256};

/// A SCRAM-SHA-256 exchange in progress.
pub(super) struct ScramServer {
    phase: Phase,
}

enum Phase {
    /// No client-first message yet (the client sent no initial response).
    AwaitingClientFirst {
        server_nonce: String,
    },
    /// server-first sent, waiting for client-final.
    AwaitingClientFinal(Box<Pending>),
    /// server-final sent, waiting for the client's empty acknowledgement.
    AwaitingAck {
        user: String,
    },
    Done,
}

/// What the server remembers between server-first and client-final.
struct Pending {
    user: String,
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
    /// `None` for an unknown user or unusable stored secret: the exchange runs on with a decoy
    /// and fails at the proof, so the client cannot tell which users exist.
    secret: Option<ScramSecret>,
    decoy: ScramSecret,
}

impl ScramServer {
    /// An exchange whose client-first message comes in the next client line.
    pub(super) fn awaiting(server_nonce: String) -> Self {
        ScramServer {
            phase: Phase::AwaitingClientFirst { server_nonce },
        }
    }

    /// Processes client-first and returns the exchange with the server-first message (plain
    /// text; the caller base64-encodes it).
    pub(super) fn start(
        client_first: &[u8],
        creds: &dyn Credentials,
        server_nonce: String,
    ) -> Result<(Self, String), SaslError> {
        Self::start_keyed(client_first, creds, server_nonce, secret::decoy_key())
    }

    /// [`ScramServer::start`] with the decoy key given; without one, every exchange fails
    /// (whether the user exists or not, so that failing tells nothing either).
    pub(super) fn start_keyed(
        client_first: &[u8],
        creds: &dyn Credentials,
        server_nonce: String,
        decoy_key: Option<&[u8; 32]>,
    ) -> Result<(Self, String), SaslError> {
        let decoy_key = decoy_key.ok_or(SaslError::Unavailable)?;
        let first = parse_client_first(client_first)?;
        let nonce = format!("{}{server_nonce}", first.client_nonce);
        let secret = creds
            .scram_sha256(&first.user)
            .filter(ScramSecret::is_usable);
        let decoy =
            ScramSecret::decoy(decoy_key, &first.user).map_err(|_| SaslError::Unavailable)?;
        let shown = secret.as_ref().unwrap_or(&decoy);
        let server_first = format!(
            "r={nonce},s={},i={}",
            BASE64_STANDARD.encode(&shown.salt),
            shown.iterations
        );
        let pending = Pending {
            user: first.user,
            gs2_header: first.gs2_header,
            client_first_bare: first.bare,
            server_first: server_first.clone(),
            nonce,
            secret,
            decoy,
        };
        let server = ScramServer {
            phase: Phase::AwaitingClientFinal(Box::new(pending)),
        };
        Ok((server, server_first))
    }

    /// Takes the next decoded client message.
    pub(super) fn step(&mut self, data: &[u8], creds: &dyn Credentials) -> Step {
        match std::mem::replace(&mut self.phase, Phase::Done) {
            Phase::AwaitingClientFirst { server_nonce } => {
                match ScramServer::start(data, creds, server_nonce) {
                    Ok((server, server_first)) => {
                        self.phase = server.phase;
                        Step::Challenge(BASE64_STANDARD.encode(server_first))
                    }
                    Err(err) => Step::Failure(err),
                }
            }
            Phase::AwaitingClientFinal(pending) => match pending.verify_final(data) {
                Ok(server_final) => {
                    self.phase = Phase::AwaitingAck { user: pending.user };
                    Step::Challenge(BASE64_STANDARD.encode(server_final))
                }
                Err(err) => Step::Failure(err),
            },
            Phase::AwaitingAck { user } => {
                if data.is_empty() {
                    Step::Success { user }
                } else {
                    Step::Failure(SaslError::Malformed(
                        "SCRAM expects an empty final response",
                    ))
                }
            }
            Phase::Done => Step::Failure(SaslError::Finished),
        }
    }
}

impl Pending {
    /// Checks client-final; on success returns the server-final message `v=…`.
    fn verify_final(&self, data: &[u8]) -> Result<String, SaslError> {
        let text = utf8(data, "SCRAM client-final is not UTF-8")?;
        let Some((without_proof, proof_b64)) = text.rsplit_once(",p=") else {
            return Err(SaslError::Malformed("SCRAM client-final has no proof"));
        };
        let mut attrs = without_proof.split(',');
        let binding =
            attrs
                .next()
                .and_then(|a| a.strip_prefix("c="))
                .ok_or(SaslError::Malformed(
                    "SCRAM client-final has no channel binding",
                ))?;
        let nonce = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or(SaslError::Malformed("SCRAM client-final has no nonce"))?;
        let binding = BASE64_STANDARD
            .decode(binding)
            .map_err(|_| SaslError::Malformed("SCRAM channel binding is not base64"))?;
        if binding != self.gs2_header.as_bytes() {
            return Err(SaslError::Malformed("SCRAM channel binding does not match"));
        }
        if nonce != self.nonce {
            return Err(SaslError::Malformed("SCRAM nonce does not match"));
        }
        let proof = BASE64_STANDARD
            .decode(proof_b64)
            .map_err(|_| SaslError::Malformed("SCRAM proof is not base64"))?;
        if proof.len() != 32 {
            return Err(SaslError::Malformed("SCRAM proof has the wrong length"));
        }
        let auth_message = format!(
            "{},{},{without_proof}",
            self.client_first_bare, self.server_first
        );
        let secret = self.secret.as_ref().unwrap_or(&self.decoy);
        let signature = hmac_sha256(&secret.stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = proof.iter().zip(signature).map(|(p, s)| p ^ s).collect();
        let proof_ok = constant_time_eq(&sha256(&client_key), &secret.stored_key);
        if !proof_ok || self.secret.is_none() {
            return Err(SaslError::InvalidCredentials);
        }
        let server_signature = hmac_sha256(&secret.server_key, auth_message.as_bytes());
        Ok(format!("v={}", BASE64_STANDARD.encode(server_signature)))
    }
}

/// A parsed client-first message.
struct ClientFirst {
    gs2_header: String,
    bare: String,
    user: String,
    client_nonce: String,
}

fn parse_client_first(data: &[u8]) -> Result<ClientFirst, SaslError> {
    let text = utf8(data, "SCRAM client-first is not UTF-8")?;
    let (cbind_flag, rest) = text
        .split_once(',')
        .ok_or(SaslError::Malformed("SCRAM client-first has no GS2 header"))?;
    match cbind_flag {
        "n" | "y" => {}
        flag if flag.starts_with("p=") => return Err(SaslError::ChannelBindingUnsupported),
        _ => {
            return Err(SaslError::Malformed(
                "SCRAM GS2 channel-binding flag is invalid",
            ))
        }
    }
    let (authzid_raw, bare) = rest
        .split_once(',')
        .ok_or(SaslError::Malformed("SCRAM client-first has no GS2 header"))?;
    let gs2_header = format!("{cbind_flag},{authzid_raw},");
    let authzid = match authzid_raw {
        "" => None,
        a => Some(decode_saslname(a.strip_prefix("a=").ok_or(
            SaslError::Malformed("SCRAM GS2 authorization id is invalid"),
        )?)?),
    };
    let mut attrs = bare.split(',');
    let user_attr = attrs.next().unwrap_or_default();
    if user_attr.starts_with("m=") {
        return Err(SaslError::Malformed(
            "SCRAM mandatory extension not supported",
        ));
    }
    let user = decode_saslname(
        user_attr
            .strip_prefix("n=")
            .ok_or(SaslError::Malformed("SCRAM client-first has no user name"))?,
    )?;
    if user.is_empty() {
        return Err(SaslError::Malformed("SCRAM user name is empty"));
    }
    let client_nonce = attrs
        .next()
        .and_then(|a| a.strip_prefix("r="))
        .ok_or(SaslError::Malformed("SCRAM client-first has no nonce"))?;
    if client_nonce.is_empty() || !client_nonce.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(SaslError::Malformed("SCRAM client nonce is invalid"));
    }
    if authzid.is_some_and(|a| a != user) {
        return Err(SaslError::AuthzidNotPermitted);
    }
    Ok(ClientFirst {
        gs2_header,
        bare: bare.to_owned(),
        client_nonce: client_nonce.to_owned(),
        user,
    })
}

/// Decodes a SCRAM saslname: `=2C` is `,` and `=3D` is `=`; any other `=` is an error.
fn decode_saslname(name: &str) -> Result<String, SaslError> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(pos) = rest.find('=') {
        out.push_str(rest.get(..pos).unwrap_or_default());
        let escape = rest.get(pos..pos + 3);
        match escape {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(SaslError::Malformed("SCRAM name has an invalid '=' escape")),
        }
        rest = rest.get(pos + 3..).unwrap_or_default();
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests;
