//! Server side of SASL (RFC 4422), shared by SMTP AUTH (RFC 4954), POP3 AUTH (RFC 5034) and IMAP
//! AUTHENTICATE (RFC 3501/9051).
//!
//! This module knows nothing of the protocol that carries it. The protocol layer hands over the
//! raw bytes of each client line (base64, `=` for an empty initial response, or `*` to cancel) and
//! gets back a [`Step`]: a challenge that is already base64 encoded (the layer only adds `334 ` or
//! `+ `), a success naming the authenticated user, or a failure.
//!
//! Alongside the exchanges live the pieces every server needs around them: POP3 APOP
//! ([`apop_digest_matches`], [`apop_banner`]), per-method availability ([`Availability`],
//! [`MethodPolicy`], [`Pop3Methods`]) and the failed-login policy ([`AuthFailures`]).
//!
//! # Driving an exchange
//!
//! 1. Look the mechanism up with [`Mechanism::from_name`]; refuse it if unknown or if
//!    [`MethodPolicy::check`] says no (SMTP `504 5.5.4` / `538 5.7.11`, POP3 `-ERR`,
//!    IMAP `NO`).
//! 2. [`Exchange::start`] with the initial response, if any.
//! 3. While the step is [`Step::Challenge`], send it (`334 <text>` / `+ <text>`) and pass the
//!    next client line to [`Exchange::step`].
//! 4. On [`Step::Success`] reply `235 2.7.0` / `+OK` / `OK`. On [`Step::Failure`]: if
//!    [`SaslError::is_credentials_failure`], log the client address, record it in
//!    [`AuthFailures`], wait the delay, reply `535 5.7.8` / `-ERR [AUTH]` /
//!    `NO [AUTHENTICATIONFAILED]`, and close if told to; otherwise reply `501` (`5.0.0` for
//!    [`SaslError::Cancelled`], `5.5.2` for malformed data; `500 5.5.6` for
//!    [`SaslError::LineTooLong`]) / `-ERR` / `BAD` and carry on with the session.

mod apop;
pub mod cram_md5;
mod failures;
mod ledger;
mod login;
pub mod ntlm;
mod plain;
mod policy;
pub(crate) mod random;
mod scram;

#[cfg(test)]
mod tests;

use base64::prelude::{Engine as _, BASE64_STANDARD};
use std::fmt;

pub use apop::{apop_banner, apop_digest_matches};
pub use failures::{AuthFailures, FailureVerdict};
pub use ledger::{AddressKey, Count, Ledger, LedgerPolicy, Lockout, MemoryTable, Millis, Table};
pub use policy::{
    check_availability, mechanism_offered, Availability, MethodPolicy, MethodRefusal, Pop3Methods,
    StoreCapabilities,
};
pub use random::RandomError;
pub use scram::{set_decoy_key as set_scram_decoy_key, ScramSecret, SCRAM_ITERATIONS};

/// The longest client line (base64 text, without CRLF) any exchange accepts, in bytes.
pub const MAX_CLIENT_LINE: usize = 12 * 1024;

/// A SASL mechanism this server implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// RFC 4616: authorization id, user name and password in one message.
    Plain,
    /// The de-facto LOGIN mechanism: user name and password in two prompts.
    Login,
    /// RFC 2195: HMAC-MD5 over a server challenge with a shared secret.
    CramMd5,
    /// RFC 5802 / RFC 7677: salted challenge-response with SHA-256, without channel binding.
    ScramSha256,
    /// MS-NLMP NTLMSSP (Outlook's "Secure Password Authentication"), NTLMv2 only.
    Ntlm,
}

impl Mechanism {
    /// Every mechanism, in the order servers advertise them (strongest first).
    pub const ALL: [Mechanism; 5] = [
        Mechanism::ScramSha256,
        Mechanism::CramMd5,
        Mechanism::Ntlm,
        Mechanism::Plain,
        Mechanism::Login,
    ];

    /// Looks a mechanism up by its registered name, ignoring case (`plain`, `CRAM-MD5` …).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|mech| mech.name().eq_ignore_ascii_case(name))
    }

    /// The registered name, as advertised in EHLO / CAPA / CAPABILITY.
    pub fn name(&self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
            Mechanism::CramMd5 => "CRAM-MD5",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::Ntlm => "NTLM",
        }
    }

    /// Whether the password crosses the wire in the clear (only base64 encoded).
    pub fn is_plaintext(&self) -> bool {
        matches!(self, Mechanism::Plain | Mechanism::Login)
    }

    /// Whether the client may send data with the command that starts the exchange.
    /// CRAM-MD5 is server-first, so an initial response is a protocol error there.
    pub fn allows_initial_response(&self) -> bool {
        !matches!(self, Mechanism::CramMd5)
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where the authentication data lives: implemented by the users file.
///
/// Every method must answer the same way for an unknown user as for a wrong secret (no
/// enumeration); the exchanges never reveal which of the two happened.
pub trait Credentials {
    /// Whether `password` is the login password of `user` (checked against its stored hash).
    fn verify_password(&self, user: &str, password: &str) -> bool;

    /// The shared secret of `user` for CRAM-MD5 and APOP, present only if the admin opted the
    /// user in.
    fn shared_secret(&self, user: &str) -> Option<String>;

    /// The SCRAM-SHA-256 verifier stored for `user` when its password was set.
    fn scram_sha256(&self, user: &str) -> Option<ScramSecret>;

    /// The POP3 USER/PASS check: the users file overrides this to demand the POP3 override
    /// password when one is set (SPEC §4). By default it is the login password.
    fn verify_pop3_password(&self, user: &str, password: &str) -> bool {
        self.verify_password(user, password)
    }

    /// An outside NTLM verifier for this exchange (Samba's `ntlm_auth`), when the store has one.
    fn ntlm_relay(&self) -> Option<Box<dyn ntlm::NtlmRelay>> {
        None
    }

    /// The NT hash (MD4 of the UTF-16LE password) stored for `user`, for SASL NTLM; only for
    /// users whose admin opted in. By default none (NTLM then fails like a wrong password).
    fn nt_hash(&self, _user: &str) -> Option<[u8; 16]> {
        None
    }

    /// The account a successful login as `login` opens: the users file maps a full address
    /// (`alice@example.test`) to the mailbox it is delivered to; by default the name itself.
    fn account(&self, login: &str) -> String {
        login.to_string()
    }

    /// The mailbox quota of `user` in bytes, if any (the users file's `quota`): read for each
    /// IMAP APPEND and COPY, so a change applies to sessions already logged in. (No default: a
    /// wrapper that forgot to pass it on would lift every quota.)
    fn quota(&self, user: &str) -> Option<u64>;
}

/// What a protocol session reports of a login, for the log and the failed-login ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoginNote {
    /// A user logged in.
    Ok {
        /// The user name.
        user: String,
        /// The SASL mechanism or the protocol's own command (`USER`, `APOP`, `LOGIN`).
        mechanism: String,
    },
    /// A login failed.
    Failed {
        /// The user name given, when the protocol knows it.
        user: Option<String>,
        /// The mechanism or command.
        mechanism: String,
        /// Why, for the log.
        reason: String,
    },
    /// A mechanism was refused before any exchange (not available, or needs TLS).
    Refused {
        /// The mechanism name as the client gave it (shortened).
        mechanism: String,
        /// Why.
        reason: String,
    },
}

/// What the protocol layer does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this challenge (already base64 encoded, possibly empty) and read one more client line.
    Challenge(String),
    /// The client is authenticated as `user` (the authorization identity, which this server only
    /// allows to equal the authentication identity).
    Success {
        /// The authenticated user name.
        user: String,
    },
    /// The exchange is over without success.
    Failure(SaslError),
}

/// Why an exchange failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    /// The client sent `*`.
    #[error("authentication cancelled by the client")]
    Cancelled,
    /// A client line longer than [`MAX_CLIENT_LINE`].
    #[error("authentication line too long")]
    LineTooLong,
    /// A client line that is not valid base64.
    #[error("malformed base64 in authentication data")]
    MalformedBase64,
    /// Decoded data that does not follow the mechanism's grammar.
    #[error("malformed authentication data: {0}")]
    Malformed(&'static str),
    /// An initial response where the mechanism allows none.
    #[error("this mechanism does not take an initial response")]
    InitialResponseNotAllowed,
    /// An authorization identity other than the authenticated user.
    #[error("authorization identity differs from the authenticated user")]
    AuthzidNotPermitted,
    /// SCRAM channel binding (`p=`): we only offer the mechanisms without -PLUS.
    #[error("channel binding is not supported")]
    ChannelBindingUnsupported,
    /// Unknown user, wrong password or secret, or no secret stored for this mechanism.
    #[error("authentication credentials invalid")]
    InvalidCredentials,
    /// The mechanism cannot be used now: SCRAM-SHA-256 without the decoy key it needs to answer
    /// unknown users like real ones (the log says why at start-up), or no random bytes from the
    /// system for a challenge, nonce or decoy. Fails closed, as a temporary failure.
    #[error("authentication is temporarily unavailable")]
    Unavailable,
    /// `step` was called after the exchange had already ended (a caller bug).
    #[error("authentication exchange already finished")]
    Finished,
}

impl SaslError {
    /// Whether this failure counts as a failed login (for [`AuthFailures`] and the log), as
    /// opposed to a client that cancelled or spoke the mechanism wrongly.
    pub fn is_credentials_failure(&self) -> bool {
        matches!(
            self,
            SaslError::InvalidCredentials | SaslError::AuthzidNotPermitted
        )
    }
}

/// One authentication in progress.
pub struct Exchange {
    state: State,
}

enum State {
    Plain,
    Login(login::Login),
    CramMd5(cram_md5::CramMd5),
    Scram(Box<scram::ScramServer>),
    Ntlm(Box<ntlm::NtlmServer>),
    Done,
}

impl fmt::Debug for Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Deliberately shows no user name, challenge or key material.
        let state = match self.state {
            State::Plain => "PLAIN",
            State::Login(_) => "LOGIN",
            State::CramMd5(_) => "CRAM-MD5",
            State::Scram(_) => "SCRAM-SHA-256",
            State::Ntlm(_) => "NTLM",
            State::Done => "done",
        };
        f.debug_struct("Exchange").field("state", &state).finish()
    }
}

impl Exchange {
    /// Starts an exchange for `mech`.
    ///
    /// `initial_response` is the raw text after the mechanism name in `AUTH <mech> <text>` /
    /// `AUTHENTICATE <mech> <text>` (`=` means an empty response, RFC 4954), or `None` when the
    /// client sent none. `hostname` goes into server challenges. `creds` is consulted at once when
    /// the initial response already completes the exchange (PLAIN).
    pub fn start(
        mech: Mechanism,
        hostname: &str,
        initial_response: Option<&[u8]>,
        creds: &dyn Credentials,
    ) -> (Self, Step) {
        let nonce = match mech {
            Mechanism::CramMd5 => cram_md5::challenge(hostname),
            Mechanism::ScramSha256 => random::nonce(),
            Mechanism::Ntlm => random::bytes::<8>().map(|b| {
                let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
                format!("{hex} {hostname}")
            }),
            Mechanism::Plain | Mechanism::Login => Ok(String::new()),
        };
        match nonce {
            Ok(nonce) => Self::start_with_nonce(mech, initial_response, creds, nonce),
            // No unguessable challenge, no exchange: a temporary failure.
            Err(_) => (
                Exchange { state: State::Done },
                Step::Failure(SaslError::Unavailable),
            ),
        }
    }

    /// [`Exchange::start`] with the server's random part fixed (the whole CRAM-MD5 challenge, the
    /// SCRAM server nonce, or for NTLM the server challenge as 16 hex digits, a space and the
    /// host name), for known-answer tests and fuzzing (a random part would make a
    /// failing input unrepeatable).
    pub fn start_with_nonce(
        mech: Mechanism,
        initial_response: Option<&[u8]>,
        creds: &dyn Credentials,
        nonce: String,
    ) -> (Self, Step) {
        let mut exchange = Exchange { state: State::Done };
        let initial = match initial_response.map(decode_initial) {
            None => None,
            Some(Ok(bytes)) => Some(bytes),
            Some(Err(err)) => return (exchange, Step::Failure(err)),
        };
        if initial.is_some() && !mech.allows_initial_response() {
            return (
                exchange,
                Step::Failure(SaslError::InitialResponseNotAllowed),
            );
        }
        let step = match mech {
            Mechanism::Plain => match initial {
                Some(message) => plain::verify(&message, creds),
                None => {
                    exchange.state = State::Plain;
                    Step::Challenge(String::new())
                }
            },
            Mechanism::Login => {
                let (login, step) = login::Login::start(initial);
                exchange.state = State::Login(login);
                step
            }
            Mechanism::CramMd5 => {
                let step = Step::Challenge(BASE64_STANDARD.encode(&nonce));
                exchange.state = State::CramMd5(cram_md5::CramMd5::new(nonce));
                step
            }
            Mechanism::Ntlm => {
                let (hex, target) = nonce.split_once(' ').unwrap_or((&nonce, "localhost"));
                let challenge: [u8; 8] = cram_md5::decode_hex::<8>(hex).unwrap_or_default();
                let mut server = Box::new(ntlm::NtlmServer::new(target, challenge));
                let step = match initial {
                    Some(negotiate) => server.step(&negotiate, creds),
                    None => Step::Challenge(String::new()),
                };
                exchange.state = State::Ntlm(server);
                step
            }
            Mechanism::ScramSha256 => match initial {
                Some(client_first) => {
                    match scram::ScramServer::start(&client_first, creds, nonce) {
                        Ok((server, server_first)) => {
                            exchange.state = State::Scram(Box::new(server));
                            Step::Challenge(BASE64_STANDARD.encode(server_first))
                        }
                        Err(err) => Step::Failure(err),
                    }
                }
                None => {
                    exchange.state = State::Scram(Box::new(scram::ScramServer::awaiting(nonce)));
                    Step::Challenge(String::new())
                }
            },
        };
        exchange.finish_if_done(&step);
        (exchange, to_account(step, creds))
    }

    /// Feeds one client line (without CRLF; trailing CR/LF/space are ignored) into the exchange.
    pub fn step(&mut self, client_line: &[u8], creds: &dyn Credentials) -> Step {
        let step = match decode_line(client_line) {
            Err(err) => Step::Failure(err),
            Ok(data) => match &mut self.state {
                State::Done => Step::Failure(SaslError::Finished),
                State::Plain => plain::verify(&data, creds),
                State::Login(login) => login.step(data, creds),
                State::CramMd5(cram) => cram.verify(&data, creds),
                State::Scram(scram) => scram.step(&data, creds),
                State::Ntlm(ntlm) => ntlm.step(&data, creds),
            },
        };
        self.finish_if_done(&step);
        to_account(step, creds)
    }

    /// Whether the exchange has ended (success or failure).
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Done)
    }

    fn finish_if_done(&mut self, step: &Step) {
        if !matches!(step, Step::Challenge(_)) {
            self.state = State::Done;
        }
    }
}

/// A success as the account the login name stands for ([`Credentials::account`]).
fn to_account(step: Step, creds: &dyn Credentials) -> Step {
    match step {
        Step::Success { user } => Step::Success {
            user: creds.account(&user),
        },
        other => other,
    }
}

/// Decodes an initial response: `=` is an empty response, anything else a client line.
fn decode_initial(text: &[u8]) -> Result<Vec<u8>, SaslError> {
    if trim_line(text) == b"=" {
        Ok(Vec::new())
    } else {
        decode_line(text)
    }
}

/// Decodes one client line: `*` cancels, otherwise base64 (an empty line is empty data).
fn decode_line(line: &[u8]) -> Result<Vec<u8>, SaslError> {
    if line.len() > MAX_CLIENT_LINE {
        return Err(SaslError::LineTooLong);
    }
    let line = trim_line(line);
    if line == b"*" {
        return Err(SaslError::Cancelled);
    }
    BASE64_STANDARD
        .decode(line)
        .map_err(|_| SaslError::MalformedBase64)
}

fn trim_line(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|b| !matches!(b, b'\r' | b'\n' | b' ' | b'\t'))
        .map_or(0, |i| i + 1);
    let start = line
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(end);
    line.get(start..end).unwrap_or_default()
}

/// Decoded bytes as UTF-8 text, or the mechanism's grammar error.
fn utf8(bytes: &[u8], what: &'static str) -> Result<String, SaslError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| SaslError::Malformed(what))
}

/// Compares two byte strings in time independent of where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
