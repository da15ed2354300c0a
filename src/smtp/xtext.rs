//! `xtext` of RFC 3461 §4, the encoding of the DSN parameters ENVID and ORCPT (and of AUTH=):
//! printable ASCII except `+` and `=` as itself, every other byte as `+` and two hex digits.
//! Decoded once as a command is parsed, kept decoded in the envelope, encoded again on the way
//! out.

/// Encode `s` as xtext.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (b'!'..=b'~').contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

/// Decode xtext; `None` when a `+` is not followed by two hex digits, a character outside
/// xtext appears, or the result is not UTF-8.
pub fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                let hex = bytes.get(i + 1..i + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                let text = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(text, 16).ok()?);
                i += 3;
            }
            b if (b'!'..=b'~').contains(&b) && b != b'=' => {
                out.push(b);
                i += 1;
            }
            _ => return None,
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_plus_equals_and_controls() {
        assert_eq!(encode("rfc822;a+b=c@x.test"), "rfc822;a+2Bb+3Dc@x.test");
        assert_eq!(encode("a b"), "a+20b");
        assert_eq!(encode("plain"), "plain");
    }

    #[test]
    fn decodes_and_round_trips() {
        for (wire, plain) in [
            ("rfc822;a+2Bb@x.test", Some("rfc822;a+b@x.test")),
            ("QQ+2B1", Some("QQ+1")),
            ("a+20b", Some("a b")),
            ("a+2bb", Some("a+b")),
            ("a+2xb", None),
            ("a+2", None),
            ("a=b", None),
            ("a b", None),
        ] {
            assert_eq!(decode(wire).as_deref(), plain, "{wire}");
        }
        for s in ["rfc822;a+b=c@x.test", "id 1", "ümlaut"] {
            assert_eq!(decode(&encode(s)).as_deref(), Some(s));
        }
    }
}
