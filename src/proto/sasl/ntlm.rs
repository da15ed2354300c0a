//! SASL NTLM (MS-NLMP NTLMSSP, Outlook's "Secure Password Authentication"): the NT hash.

use md4::{Digest as _, Md4};

/// The NT hash of `password`: MD4 over its UTF-16LE encoding.
pub fn nt_hash(password: &str) -> [u8; 16] {
    let utf16: Vec<u8> = password.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let digest = Md4::digest(&utf16);
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
