//! `encoded-character` (RFC 5228 §2.4.2.4): `${hex:…}` and `${unicode:…}` in strings, decoded
//! at compile time. A malformed sequence stays as written.

pub(crate) fn decode(s: &str) -> String {
    if !s.contains("${") {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find("${") {
        let (before, after) = rest.split_at(at);
        out.push_str(before);
        let inner = after.get(2..).unwrap_or_default();
        let decoded = inner.find('}').and_then(|end| {
            let body = inner.get(..end)?;
            let (kind, seq) = body.split_once(':')?;
            let text = match kind.trim().to_ascii_lowercase().as_str() {
                "hex" => hex(seq)?,
                "unicode" => unicode(seq)?,
                _ => return None,
            };
            Some((text, end))
        });
        match decoded {
            Some((text, end)) => {
                out.push_str(&text);
                rest = inner.get(end + 1..).unwrap_or_default();
            }
            None => {
                out.push('$');
                rest = after.get(1..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    out
}

fn hex(seq: &str) -> Option<String> {
    let mut bytes = Vec::new();
    for word in seq.split_whitespace() {
        if word.len() % 2 != 0 || word.len() > 512 {
            return None;
        }
        let mut i = 0;
        while let Some(pair) = word.get(i..i + 2) {
            bytes.push(u8::from_str_radix(pair, 16).ok()?);
            i += 2;
        }
    }
    String::from_utf8(bytes).ok()
}

fn unicode(seq: &str) -> Option<String> {
    let mut out = String::new();
    for word in seq.split_whitespace() {
        if word.len() > 8 {
            return None;
        }
        let n = u32::from_str_radix(word, 16).ok()?;
        out.push(char::from_u32(n)?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn encoded_characters() {
        for (input, want) in [
            ("${hex:41 42}", "AB"),
            ("x${HEX: 4142 }y", "xABy"),
            ("${unicode:263a}", "\u{263a}"),
            ("${hex:4}", "${hex:4}"),
            ("${unicode:110000}", "${unicode:110000}"),
            ("${foo}", "${foo}"),
            ("$${hex:24}", "$$"),
        ] {
            assert_eq!(decode(input), want, "{input}");
        }
    }
}
