//! SASL NTLM: the NTLMSSP message parsers and the whole exchange, with the server challenge
//! fixed. The first byte chooses: 0 NEGOTIATE parser, 1 AUTHENTICATE parser (and NTLMv2
//! verification of what it parsed), 2 CHALLENGE reader, otherwise the exchange, whose client
//! lines are the rest split at LF (bit 3: the first line is an initial response); a well-formed
//! AUTHENTICATE for the user is built when a line is `@`, so the success path is reached too.

use base64::prelude::{Engine as _, BASE64_STANDARD};
use postern::proto::sasl::ntlm;
use postern::proto::sasl::{Exchange, Mechanism, SaslError, Step};

use super::bounded;
use super::creds::{Fast, PASSWORD, USER};

const NONCE: &str = "0123456789abcdef mail.example.test";

pub fn messages(data: &[u8]) {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    match choice {
        0 => {
            let _ = ntlm::parse_negotiate(rest);
        }
        1 => {
            if let Ok(auth) = ntlm::parse_authenticate(rest) {
                let _ = ntlm::verify_v2(&auth, &[1; 8], &ntlm::nt_hash(&auth.user));
            }
        }
        2 => {
            let _ = ntlm::challenge_of(rest);
        }
        flags => exchange(flags, rest),
    }
}

fn exchange(flags: u8, rest: &[u8]) {
    let mut lines = rest.split(|&b| b == b'\n');
    let initial = if flags & 8 == 8 {
        lines.next().map(<[u8]>::to_vec)
    } else {
        None
    };
    let (mut ex, mut step) =
        Exchange::start_with_nonce(Mechanism::Ntlm, initial.as_deref(), &Fast, NONCE.into());
    let mut round = bounded(rest.len() + 3, "NTLM exchange");
    let mut last_challenge = Vec::new();
    loop {
        round();
        match step {
            Step::Challenge(challenge) => {
                assert!(!ex.is_finished(), "a challenge from a finished exchange");
                let decoded = BASE64_STANDARD
                    .decode(&challenge)
                    .unwrap_or_else(|_| panic!("challenge is not base64: {challenge:?}"));
                if !decoded.is_empty() {
                    assert!(
                        ntlm::challenge_of(&decoded).is_some(),
                        "not a CHALLENGE message"
                    );
                    last_challenge = decoded;
                }
                let Some(line) = lines.next() else { break };
                let line = if line == b"@" && !last_challenge.is_empty() {
                    let auth =
                        ntlm::client_authenticate(&last_challenge, USER, "D", PASSWORD, [3; 8])
                            .unwrap_or_default();
                    BASE64_STANDARD.encode(auth).into_bytes()
                } else {
                    line.to_vec()
                };
                step = ex.step(&line, &Fast);
            }
            Step::Success { user } => {
                assert_eq!(user, USER, "NTLM logged in someone else");
                break;
            }
            Step::Failure(_) => break,
        }
    }
    if ex.is_finished() {
        assert_eq!(ex.step(b"", &Fast), Step::Failure(SaslError::Finished));
    }
}
