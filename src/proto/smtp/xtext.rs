//! `xtext` (RFC 3461 §4): how ENVID and ORCPT values travel in SMTP parameters. smtpd decodes
//! them on the way in, so the spool and the DSNs hold the real value; the SMTP client encodes
//! them again on the way out.

/// Decode an xtext value: printable ASCII except `=`, with `+XX` (two upper-case hex digits)
/// standing for any byte. `None` when the value is not valid xtext or decodes to non-UTF-8.
pub fn decode(v: &str) -> Option<String> {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'+' => {
                let hex = b.get(i + 1..i + 3)?;
                if !hex
                    .iter()
                    .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(c))
                {
                    return None;
                }
                let text = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(text, 16).ok()?);
                i += 3;
            }
            c if (b'!'..=b'~').contains(&c) && c != b'=' => {
                out.push(c);
                i += 1;
            }
            _ => return None,
        }
    }
    String::from_utf8(out).ok()
}

/// Encode a value as xtext: `+`, `=`, controls, space and non-ASCII bytes become `+XX`.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if (b'!'..=b'~').contains(&b) && b != b'+' && b != b'=' {
                (b as char).to_string()
            } else {
                format!("+{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_bad_escapes() {
        assert_eq!(encode("rfc822;a+b=c@x.test"), "rfc822;a+2Bb+3Dc@x.test");
        assert_eq!(encode("a b"), "a+20b");
        for v in ["rfc822;a+b=c@x.test", "a b", "plain", "caf\u{e9}"] {
            assert_eq!(decode(&encode(v)).as_deref(), Some(v), "{v}");
        }
        assert_eq!(decode("rfc822;a+2Bb@x").as_deref(), Some("rfc822;a+b@x"));
        for bad in ["a=b", "a+2", "a+zz", "a+2b", "a b", "a\u{e9}"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
