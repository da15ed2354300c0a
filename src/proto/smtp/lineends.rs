//! Canonical line ends: every line of a message ends with CRLF, and CR and LF never appear
//! alone (RFC 5321 §2.3.8: "a sender MUST NOT send bare CR or LF"; RFC 5322 §2.3).
//!
//! A bare LF or bare CR is what SMTP smuggling rides on (`\n.\n` or `\r.\r` taken as the end of
//! the data by a lenient next hop, the rest read as a second, forged transaction). Mail that
//! arrives by SMTP with one is refused ([`super::data`], BDAT in [`super::session`]); mail that
//! comes another way (sendmail's LF-terminated standard input, a POP3 server's RETR data, a bounce
//! quoting an old queue file) is made canonical with [`canonical`], as every MTA does with
//! local submissions; and the SMTP client passes every body through it once more before DATA,
//! whatever the queue file holds.

use std::borrow::Cow;

/// `bytes` with every bare LF and bare CR turned into CRLF (each counts as one line end; an
/// existing CRLF stays as it is). Borrowed when there was nothing to change.
pub fn canonical(bytes: &[u8]) -> Cow<'_, [u8]> {
    if is_canonical(bytes) {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 32 + 2);
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                // A CRLF pair is one line end, not a CR then an LF.
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(out)
}

/// Whether every CR in `bytes` is followed by LF and every LF preceded by CR.
pub fn is_canonical(bytes: &[u8]) -> bool {
    let mut prev_cr = false;
    for &b in bytes {
        match (b, prev_cr) {
            (b'\n', false) => return false,
            (b'\n', true) | (_, false) => {}
            (_, true) => return false,
        }
        prev_cr = b == b'\r';
    }
    !prev_cr
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_ends_become_crlf_and_crlf_stays() {
        let cases: [(&[u8], &[u8]); 8] = [
            (b"a\r\nb\r\n", b"a\r\nb\r\n"),
            (b"a\nb\n", b"a\r\nb\r\n"),
            (b"a\rb\r", b"a\r\nb\r\n"),
            (b"a\r\n\n.\nMAIL", b"a\r\n\r\n.\r\nMAIL"),
            (b"x\r.\rRCPT", b"x\r\n.\r\nRCPT"),
            (b"\r\r\n\n\r", b"\r\n\r\n\r\n\r\n"),
            (b"", b""),
            (b"no line end", b"no line end"),
        ];
        for (input, want) in cases {
            let got = canonical(input);
            assert_eq!(&*got, want, "{:?}", String::from_utf8_lossy(input));
            assert!(is_canonical(&got));
            // Idempotent.
            assert_eq!(&*canonical(&got), want);
        }
        assert!(matches!(canonical(b"a\r\nb"), Cow::Borrowed(_)));
        assert!(!is_canonical(b"a\r"));
        assert!(!is_canonical(b"\na"));
        assert!(!is_canonical(b"a\rb"));
    }
}
