//! SASL NTLM (MS-NLMP NTLMSSP; Outlook's "Secure Password Authentication"), server side, I/O-free.
//!
//! The client sends NEGOTIATE, the server answers CHALLENGE (a fresh 8-byte server challenge and
//! target information), the client sends AUTHENTICATE. Only **NTLMv2** responses are accepted
//! (an NT response longer than 24 bytes: NTProofStr = HMAC-MD5(ResponseKeyNT, server challenge
//! ‖ blob), ResponseKeyNT = HMAC-MD5(NT hash, UTF-16LE(upper(user) ‖ domain))). NTLMv1 and
//! NTLM2-session responses (24 bytes) are refused: they fall to offline cracking and need DES.
//! Anonymous AUTHENTICATE messages are refused too.
//!
//! Two ways to verify: an NT hash stored for the user ([`super::Credentials::nt_hash`]), or an
//! outside verifier ([`NtlmRelay`], Samba's `ntlm_auth --helper-protocol=squid-2.5-ntlmssp`):
//! when the store offers a relay, its CHALLENGE is the one sent (so the relay can finish the
//! exchange), and a user with a stored NT hash is still checked here against that challenge.
//!
//! Every message is parsed with bounds checks (fields outside the message are errors, never
//! panics); messages are at most [`super::MAX_CLIENT_LINE`] long before base64 decoding.

use hmac::{Hmac, KeyInit, Mac};
use md4::{Digest as _, Md4};
use md5::Md5;

use super::{Credentials, SaslError, Step};
use base64::prelude::{Engine as _, BASE64_STANDARD};

const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

const NEGOTIATE_UNICODE: u32 = 0x0000_0001;
const NEGOTIATE_OEM: u32 = 0x0000_0002;
const REQUEST_TARGET: u32 = 0x0000_0004;
const NEGOTIATE_NTLM: u32 = 0x0000_0200;
const NEGOTIATE_ALWAYS_SIGN: u32 = 0x0000_8000;
const TARGET_TYPE_SERVER: u32 = 0x0002_0000;
const NEGOTIATE_EXTENDED_SESSIONSECURITY: u32 = 0x0008_0000;
const NEGOTIATE_TARGET_INFO: u32 = 0x0080_0000;

/// An outside NTLM verifier that runs the server side of the exchange itself (Samba's
/// `ntlm_auth`); implemented outside the protocol core.
pub trait NtlmRelay: Send {
    /// The CHALLENGE message answering `negotiate`; `None` when the verifier failed.
    fn challenge(&mut self, negotiate: &[u8]) -> Option<Vec<u8>>;
    /// The user `authenticate` proves to be (`Err(true)`: wrong credentials, `Err(false)`: the
    /// verifier failed).
    fn authenticate(&mut self, authenticate: &[u8]) -> Result<String, bool>;
}

/// The NT hash of `password`: MD4 over its UTF-16LE encoding.
pub fn nt_hash(password: &str) -> [u8; 16] {
    let digest = Md4::digest(utf16le(password));
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest);
    out
}

/// [`nt_hash`] as 32 lower-case hex digits (the users file's form).
pub fn nt_hash_hex(password: &str) -> String {
    nt_hash(password)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An NT hash from 32 hex digits.
pub fn parse_nt_hash(hex: &str) -> Option<[u8; 16]> {
    let hex = hex.as_bytes();
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let s = std::str::from_utf8(pair).ok()?;
        *o = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    let mut out = [0u8; 16];
    if let Ok(mut mac) = <Hmac<Md5> as KeyInit>::new_from_slice(key) {
        for p in parts {
            mac.update(p);
        }
        out.copy_from_slice(&mac.finalize().into_bytes());
    }
    out
}

fn u16_at(m: &[u8], at: usize) -> Option<u16> {
    let b = m.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([*b.first()?, *b.get(1)?]))
}

fn u32_at(m: &[u8], at: usize) -> Option<u32> {
    let b = m.get(at..at.checked_add(4)?)?;
    let mut a = [0u8; 4];
    a.copy_from_slice(b);
    Some(u32::from_le_bytes(a))
}

/// The payload a security buffer (len u16, maxlen u16, offset u32) at `at` points to.
fn field(m: &[u8], at: usize) -> Option<&[u8]> {
    let len = usize::from(u16_at(m, at)?);
    let offset = usize::try_from(u32_at(m, at.checked_add(4)?)?).ok()?;
    if len == 0 {
        return Some(&[]);
    }
    m.get(offset..offset.checked_add(len)?)
}

/// The message type of an NTLMSSP message, checking the signature.
fn message_type(m: &[u8]) -> Option<u32> {
    (m.get(..8)? == SIGNATURE).then_some(())?;
    u32_at(m, 8)
}

/// A parsed NEGOTIATE message: the client's flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiate {
    pub flags: u32,
}

/// Parses a NEGOTIATE message.
pub fn parse_negotiate(m: &[u8]) -> Result<Negotiate, SaslError> {
    match message_type(m) {
        Some(1) => {}
        _ => return Err(SaslError::Malformed("not an NTLM NEGOTIATE message")),
    }
    let flags = u32_at(m, 12).ok_or(SaslError::Malformed("NTLM NEGOTIATE too short"))?;
    Ok(Negotiate { flags })
}

/// A parsed AUTHENTICATE message (the parts this server uses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticate {
    pub nt_response: Vec<u8>,
    pub domain: String,
    pub user: String,
    pub workstation: String,
    pub flags: u32,
}

fn text(bytes: &[u8], unicode: bool) -> Result<String, SaslError> {
    if unicode {
        if !bytes.len().is_multiple_of(2) {
            return Err(SaslError::Malformed("NTLM UTF-16 string of odd length"));
        }
        let units: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|c| {
                u16::from_le_bytes([
                    c.first().copied().unwrap_or(0),
                    c.get(1).copied().unwrap_or(0),
                ])
            })
            .collect();
        String::from_utf16(&units).map_err(|_| SaslError::Malformed("NTLM string is not UTF-16"))
    } else {
        String::from_utf8(bytes.to_vec())
            .map_err(|_| SaslError::Malformed("NTLM OEM string is not ASCII"))
    }
}

/// Parses an AUTHENTICATE message.
pub fn parse_authenticate(m: &[u8]) -> Result<Authenticate, SaslError> {
    match message_type(m) {
        Some(3) => {}
        _ => return Err(SaslError::Malformed("not an NTLM AUTHENTICATE message")),
    }
    let bad = SaslError::Malformed("NTLM AUTHENTICATE field out of bounds");
    let nt_response = field(m, 20).ok_or(bad.clone())?.to_vec();
    let domain = field(m, 28).ok_or(bad.clone())?;
    let user = field(m, 36).ok_or(bad.clone())?;
    let workstation = field(m, 44).ok_or(bad.clone())?;
    let flags = u32_at(m, 60).ok_or(bad)?;
    let unicode = flags & NEGOTIATE_UNICODE != 0;
    Ok(Authenticate {
        nt_response,
        domain: text(domain, unicode)?,
        user: text(user, unicode)?,
        workstation: text(workstation, unicode)?,
        flags,
    })
}

/// The server challenge of a CHALLENGE message (from a relay).
pub fn challenge_of(m: &[u8]) -> Option<[u8; 8]> {
    (message_type(m)? == 2).then_some(())?;
    let mut c = [0u8; 8];
    c.copy_from_slice(m.get(24..32)?);
    Some(c)
}

/// The CHALLENGE message answering a NEGOTIATE with `client_flags`: `server_challenge`, and
/// `target` (the server's name, upper-cased NetBIOS style and as a DNS name) as target info.
pub fn challenge_message(client_flags: u32, server_challenge: [u8; 8], target: &str) -> Vec<u8> {
    let unicode = client_flags & NEGOTIATE_UNICODE != 0 || client_flags & NEGOTIATE_OEM == 0;
    let charset = if unicode {
        NEGOTIATE_UNICODE
    } else {
        NEGOTIATE_OEM
    };
    let flags = charset
        | REQUEST_TARGET
        | NEGOTIATE_NTLM
        | NEGOTIATE_ALWAYS_SIGN
        | TARGET_TYPE_SERVER
        | (client_flags & NEGOTIATE_EXTENDED_SESSIONSECURITY)
        | NEGOTIATE_TARGET_INFO;
    let netbios: String = target
        .split('.')
        .next()
        .unwrap_or(target)
        .chars()
        .take(15)
        .collect::<String>()
        .to_ascii_uppercase();
    let enc = |s: &str| {
        if unicode {
            utf16le(s)
        } else {
            s.as_bytes().to_vec()
        }
    };
    let target_name = enc(&netbios);
    let mut info = Vec::new();
    for (id, value) in [
        (1u16, utf16le(&netbios)),
        (2, utf16le(&netbios)),
        (3, utf16le(target)),
        (4, utf16le(target)),
    ] {
        info.extend_from_slice(&id.to_le_bytes());
        info.extend_from_slice(&(value.len().min(0xffff) as u16).to_le_bytes());
        info.extend_from_slice(&value);
    }
    info.extend_from_slice(&[0, 0, 0, 0]); // MsvAvEOL
    let header = 48u32;
    let name_len = target_name.len().min(0xffff) as u16;
    let info_len = info.len().min(0xffff) as u16;
    let mut m = Vec::with_capacity(48 + target_name.len() + info.len());
    m.extend_from_slice(SIGNATURE);
    m.extend_from_slice(&2u32.to_le_bytes());
    m.extend_from_slice(&name_len.to_le_bytes());
    m.extend_from_slice(&name_len.to_le_bytes());
    m.extend_from_slice(&header.to_le_bytes());
    m.extend_from_slice(&flags.to_le_bytes());
    m.extend_from_slice(&server_challenge);
    m.extend_from_slice(&[0u8; 8]);
    m.extend_from_slice(&info_len.to_le_bytes());
    m.extend_from_slice(&info_len.to_le_bytes());
    m.extend_from_slice(&(header + u32::from(name_len)).to_le_bytes());
    m.extend_from_slice(&target_name);
    m.extend_from_slice(&info);
    m
}

/// Whether `auth` is a valid NTLMv2 response to `server_challenge` for the NT hash `hash`.
pub fn verify_v2(auth: &Authenticate, server_challenge: &[u8; 8], hash: &[u8; 16]) -> bool {
    if auth.nt_response.len() <= 24 {
        return false;
    }
    let (proof, blob) = auth.nt_response.split_at(16);
    let identity = utf16le(&format!("{}{}", auth.user.to_uppercase(), auth.domain));
    let key = hmac_md5(hash, &[&identity]);
    let expected = hmac_md5(&key, &[server_challenge, blob]);
    super::constant_time_eq(&expected, proof)
}

/// The client side of NTLMv2, for tests and the fuzz seeds: an AUTHENTICATE message for
/// `user`/`domain` with `password` answering `challenge` (a CHALLENGE message).
pub fn client_authenticate(
    challenge: &[u8],
    user: &str,
    domain: &str,
    password: &str,
    client_challenge: [u8; 8],
) -> Option<Vec<u8>> {
    let server_challenge = challenge_of(challenge)?;
    let info = field(challenge, 40)?;
    let mut blob = vec![1u8, 1, 0, 0, 0, 0, 0, 0];
    blob.extend_from_slice(&[0u8; 8]); // timestamp
    blob.extend_from_slice(&client_challenge);
    blob.extend_from_slice(&[0u8; 4]);
    blob.extend_from_slice(info);
    blob.extend_from_slice(&[0u8; 4]);
    let identity = utf16le(&format!("{}{}", user.to_uppercase(), domain));
    let key = hmac_md5(&nt_hash(password), &[&identity]);
    let proof = hmac_md5(&key, &[&server_challenge, &blob]);
    let mut nt = proof.to_vec();
    nt.extend_from_slice(&blob);
    let fields: [Vec<u8>; 6] = [
        vec![0u8; 24],
        nt,
        utf16le(domain),
        utf16le(user),
        utf16le("WS"),
        Vec::new(),
    ];
    let mut m = Vec::new();
    m.extend_from_slice(SIGNATURE);
    m.extend_from_slice(&3u32.to_le_bytes());
    let mut offset = 64u32;
    for f in &fields {
        let len = f.len() as u16;
        m.extend_from_slice(&len.to_le_bytes());
        m.extend_from_slice(&len.to_le_bytes());
        m.extend_from_slice(&offset.to_le_bytes());
        offset += u32::from(len);
    }
    m.extend_from_slice(&(NEGOTIATE_UNICODE | NEGOTIATE_NTLM).to_le_bytes());
    for f in &fields {
        m.extend_from_slice(f);
    }
    Some(m)
}

/// A NEGOTIATE message asking for Unicode and NTLM (what clients send), for tests.
pub fn client_negotiate() -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(SIGNATURE);
    m.extend_from_slice(&1u32.to_le_bytes());
    m.extend_from_slice(
        &(NEGOTIATE_UNICODE | REQUEST_TARGET | NEGOTIATE_NTLM | NEGOTIATE_EXTENDED_SESSIONSECURITY)
            .to_le_bytes(),
    );
    m.extend_from_slice(&[0u8; 16]);
    m
}

/// An NTLM exchange in progress.
pub(super) struct NtlmServer {
    state: NtlmState,
    target: String,
    server_challenge: [u8; 8],
    relay: Option<Box<dyn NtlmRelay>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum NtlmState {
    AwaitNegotiate,
    AwaitAuthenticate,
}

impl NtlmServer {
    /// An exchange whose CHALLENGE carries `server_challenge` (fresh random bytes) and names
    /// `target` (the server's host name).
    pub(super) fn new(target: &str, server_challenge: [u8; 8]) -> NtlmServer {
        NtlmServer {
            state: NtlmState::AwaitNegotiate,
            target: target.to_string(),
            server_challenge,
            relay: None,
        }
    }

    /// One client message.
    pub(super) fn step(&mut self, data: &[u8], creds: &dyn Credentials) -> Step {
        match self.state {
            NtlmState::AwaitNegotiate => self.negotiate(data, creds),
            NtlmState::AwaitAuthenticate => self.authenticate(data, creds),
        }
    }

    fn negotiate(&mut self, data: &[u8], creds: &dyn Credentials) -> Step {
        let negotiate = match parse_negotiate(data) {
            Ok(n) => n,
            Err(e) => return Step::Failure(e),
        };
        self.state = NtlmState::AwaitAuthenticate;
        if let Some(mut relay) = creds.ntlm_relay() {
            let Some(challenge) = relay.challenge(data) else {
                return Step::Failure(SaslError::Unavailable);
            };
            let Some(server_challenge) = challenge_of(&challenge) else {
                return Step::Failure(SaslError::Unavailable);
            };
            self.server_challenge = server_challenge;
            self.relay = Some(relay);
            return Step::Challenge(BASE64_STANDARD.encode(challenge));
        }
        let message = challenge_message(negotiate.flags, self.server_challenge, &self.target);
        Step::Challenge(BASE64_STANDARD.encode(message))
    }

    fn authenticate(&mut self, data: &[u8], creds: &dyn Credentials) -> Step {
        let auth = match parse_authenticate(data) {
            Ok(a) => a,
            Err(e) => return Step::Failure(e),
        };
        if auth.user.is_empty() {
            // Anonymous: no user to be.
            return Step::Failure(SaslError::InvalidCredentials);
        }
        if let Some(hash) = creds.nt_hash(&auth.user) {
            return if verify_v2(&auth, &self.server_challenge, &hash) {
                Step::Success { user: auth.user }
            } else {
                Step::Failure(SaslError::InvalidCredentials)
            };
        }
        match self.relay.as_mut() {
            Some(relay) if auth.nt_response.len() > 24 => match relay.authenticate(data) {
                Ok(user) => Step::Success {
                    user: strip_domain(&user).to_string(),
                },
                Err(true) => Step::Failure(SaslError::InvalidCredentials),
                Err(false) => Step::Failure(SaslError::Unavailable),
            },
            _ => Step::Failure(SaslError::InvalidCredentials),
        }
    }
}

/// `DOMAIN\user` (as `ntlm_auth` names a user) without the domain.
fn strip_domain(user: &str) -> &str {
    user.rsplit_once('\\').map_or(user, |(_, u)| u)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic
    use super::*;

    #[test]
    fn nt_hash_known_answer() {
        // MS-NLMP 4.2.2.1.2: NTOWFv1("Password").
        assert_eq!(nt_hash_hex("Password"), "a4f49c406510bdcab6824ee7c30fd852");
        assert_eq!(
            parse_nt_hash(&nt_hash_hex("Password")),
            Some(nt_hash("Password"))
        );
        assert_eq!(parse_nt_hash("xyz"), None);
        assert_eq!(parse_nt_hash(&"g".repeat(32)), None);
    }

    #[test]
    fn ntlmv2_known_answer() {
        // MS-NLMP 4.2.4: user "User", domain "Domain", password "Password", server challenge
        // 0123456789abcdef, client challenge aaaaaaaaaaaaaaaa, time 0, and the target info of
        // 4.2.4.1.3; NTProofStr 68cd0ab851e51c96aabc927bebef6a1c.
        let server_challenge = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
        let info: Vec<u8> = [
            &[0x02, 0x00, 0x0c, 0x00][..],
            &utf16le("Domain"),
            &[0x01, 0x00, 0x0c, 0x00],
            &utf16le("Server"),
            &[0x00, 0x00, 0x00, 0x00],
        ]
        .concat();
        let mut blob = vec![1u8, 1, 0, 0, 0, 0, 0, 0];
        blob.extend_from_slice(&[0u8; 8]);
        blob.extend_from_slice(&[0xaa; 8]);
        blob.extend_from_slice(&[0u8; 4]);
        blob.extend_from_slice(&info);
        blob.extend_from_slice(&[0u8; 4]);
        let key = hmac_md5(&nt_hash("Password"), &[&utf16le("USERDomain")]);
        let proof = hmac_md5(&key, &[&server_challenge, &blob]);
        assert_eq!(
            proof.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "68cd0ab851e51c96aabc927bebef6a1c"
        );
        let mut nt_response = proof.to_vec();
        nt_response.extend_from_slice(&blob);
        let auth = Authenticate {
            nt_response,
            domain: "Domain".into(),
            user: "User".into(),
            workstation: String::new(),
            flags: NEGOTIATE_UNICODE,
        };
        assert!(verify_v2(&auth, &server_challenge, &nt_hash("Password")));
        assert!(!verify_v2(&auth, &server_challenge, &nt_hash("password")));
        assert!(!verify_v2(&auth, &[0; 8], &nt_hash("Password")));
    }

    #[test]
    fn round_trip_through_our_own_messages() {
        let negotiate = client_negotiate();
        assert_eq!(
            parse_negotiate(&negotiate).unwrap().flags & NEGOTIATE_UNICODE,
            1
        );
        let challenge = challenge_message(
            parse_negotiate(&negotiate).unwrap().flags,
            [7; 8],
            "mail.example.test",
        );
        assert_eq!(challenge_of(&challenge), Some([7; 8]));
        let auth = client_authenticate(&challenge, "alice", "EXAMPLE", "pw", [9; 8]).unwrap();
        let parsed = parse_authenticate(&auth).unwrap();
        assert_eq!(
            (parsed.user.as_str(), parsed.domain.as_str()),
            ("alice", "EXAMPLE")
        );
        assert!(verify_v2(&parsed, &[7; 8], &nt_hash("pw")));
        assert!(!verify_v2(&parsed, &[7; 8], &nt_hash("other")));
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        let good =
            client_authenticate(&challenge_message(1, [1; 8], "h"), "u", "d", "p", [2; 8]).unwrap();
        for cut in 0..good.len() {
            let _ = parse_authenticate(&good[..cut]);
            let _ = parse_negotiate(&good[..cut]);
        }
        let mut huge_offset = good.clone();
        huge_offset[24..28].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse_authenticate(&huge_offset).is_err());
        assert!(parse_negotiate(b"NTLMSSP\0\x02\0\0\0").is_err());
        assert!(parse_negotiate(b"garbage").is_err());
        assert_eq!(strip_domain("DOM\\bob"), "bob");
        assert_eq!(strip_domain("bob"), "bob");
    }
}
