//! Every SASL exchange of the server (PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-256) with the server's
//! random part fixed, so that a failing input fails again.

use postern::proto::sasl::{Exchange, Mechanism, SaslError, Step};

use super::bounded;
use super::creds::{Fast, USER};

/// The first byte chooses the mechanism and whether the first line is an initial response; the
/// rest are the client's lines (split at LF).
pub fn exchange(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    // The four mechanisms the seeds were made for; NTLM has a target of its own (ntlm.rs).
    let mech = [
        Mechanism::ScramSha256,
        Mechanism::CramMd5,
        Mechanism::Plain,
        Mechanism::Login,
    ][usize::from(flags % 4)];
    let mut lines = rest.split(|&b| b == b'\n');
    let initial = if flags & 4 == 4 { lines.next() } else { None };
    let nonce = match mech {
        Mechanism::CramMd5 => "<1896.697170952@mx.example.test>".to_string(),
        Mechanism::ScramSha256 => "3rfcNHYJY1ZVvWVs7j".to_string(),
        Mechanism::Plain | Mechanism::Login | Mechanism::Ntlm => String::new(),
    };
    let (mut ex, mut step) = Exchange::start_with_nonce(mech, initial, &Fast, nonce);
    let mut round = bounded(rest.len() + 2, "SASL exchange");
    loop {
        round();
        match step {
            Step::Challenge(challenge) => {
                assert!(
                    challenge
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b)),
                    "challenge is not base64: {challenge:?}"
                );
                assert!(!ex.is_finished(), "a challenge from a finished exchange");
                let Some(line) = lines.next() else { break };
                step = ex.step(line, &Fast);
            }
            Step::Success { user } => {
                assert_eq!(user, USER, "{mech} logged in someone else");
                break;
            }
            Step::Failure(_) => break,
        }
    }
    if ex.is_finished() {
        assert_eq!(ex.step(b"", &Fast), Step::Failure(SaslError::Finished));
    }
}
