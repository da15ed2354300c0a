//! Maildir file names: `<secs>.<unique>.<host>,S=<size>,W=<vsize>:2,<flags>`.
//!
//! The *base name* (everything before the first `:`) identifies a message for its whole life;
//! the info after `:2,` carries its flags and changes when the flags change.

use std::sync::atomic::{AtomicU64, Ordering};

/// Splits a file name into its base name and the info after the first `:` (if any).
pub fn split(name: &str) -> (&str, Option<&str>) {
    match name.split_once(':') {
        Some((base, info)) => (base, Some(info)),
        None => (name, None),
    }
}

/// The flag letters of a `2,` info; `None` for a missing or other (experimental) info.
pub fn info_letters(info: Option<&str>) -> Option<&str> {
    info.and_then(|i| i.strip_prefix("2,"))
}

/// The file name for a base name and flag letters: `<base>:2,<letters>`.
pub fn with_letters(base: &str, letters: &str) -> String {
    format!("{base}:2,{letters}")
}

fn field(base: &str, key: &str) -> Option<u64> {
    base.split(',')
        .skip(1)
        .find_map(|f| f.strip_prefix(key))
        .and_then(|v| v.parse().ok())
}

/// The message size from a `,S=<size>` field of the base name.
pub fn size_field(base: &str) -> Option<u64> {
    field(base, "S=")
}

/// The size with CRLF line ends from a `,W=<vsize>` field of the base name.
pub fn vsize_field(base: &str) -> Option<u64> {
    field(base, "W=")
}

/// The delivery time (seconds since the epoch) from the leading `<secs>.` of the base name.
pub fn time_field(base: &str) -> Option<i64> {
    let (secs, _) = base.split_once('.')?;
    if secs.is_empty() || secs.len() > 12 || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    secs.parse().ok()
}

/// Whether a directory entry name is one maildir readers should consider: not hidden, no
/// path separator, no control bytes (names are stored one per line in the state file).
pub fn acceptable(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.bytes().any(|b| b == b'/' || b < 0x20 || b == 0x7f)
}

/// This host's name made safe for a maildir name (`/` → `\057`, `:` → `\072`, `,` → `\054`).
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: buf is a valid writable buffer of the given length.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let raw = if rc == 0 {
        let name = buf.split(|b| *b == 0).next().unwrap_or_default();
        String::from_utf8_lossy(name).into_owned()
    } else {
        "localhost".to_string()
    };
    sanitize_host(&raw)
}

/// Escapes the characters a maildir host part must not contain.
pub fn sanitize_host(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '/' => out.push_str("\\057"),
            ':' => out.push_str("\\072"),
            ',' => out.push_str("\\054"),
            c if c.is_control() || c == ' ' => {}
            c => out.push(c),
        }
    }
    if out.is_empty() {
        out.push_str("localhost");
    }
    out
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh unique base name `<secs>.M<micros>P<pid>Q<n>R<random>.<host>,S=<size>[,W=<vsize>]`.
pub fn unique_base(secs: i64, host: &str, size: u64, vsize: Option<u64>) -> String {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_micros());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut rnd = [0u8; 8];
    // A failed random source still leaves pid + counter + time unique on this host.
    let _ = getrandom::fill(&mut rnd);
    format!(
        "{secs}.M{micros}P{pid}Q{n}R{r:016x}.{host},S={size}{w}",
        pid = std::process::id(),
        r = u64::from_le_bytes(rnd),
        w = vsize.map_or_else(String::new, |v| format!(",W={v}"))
    )
}

/// The size of a message once every bare LF is sent as CRLF (as POP3 and IMAP send it).
pub fn crlf_size(bytes: &[u8], previous_was_cr: bool) -> u64 {
    let mut size = bytes.len() as u64;
    let mut prev_cr = previous_was_cr;
    for &b in bytes {
        if b == b'\n' && !prev_cr {
            size += 1;
        }
        prev_cr = b == b'\r';
    }
    size
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_names() {
        let cases = [
            ("123.abc.host", "123.abc.host", None),
            ("123.abc.host:2,S", "123.abc.host", Some("2,S")),
            ("123.abc.host,S=10:2,", "123.abc.host,S=10", Some("2,")),
            ("a:b:c", "a", Some("b:c")),
        ];
        for (name, base, info) in cases {
            assert_eq!(split(name), (base, info), "{name}");
        }
    }

    #[test]
    fn info_letter_cases() {
        assert_eq!(info_letters(Some("2,FS")), Some("FS"));
        assert_eq!(info_letters(Some("2,")), Some(""));
        assert_eq!(info_letters(Some("1,xyz")), None);
        assert_eq!(info_letters(None), None);
    }

    #[test]
    fn fields() {
        type Case<'a> = (&'a str, Option<u64>, Option<u64>, Option<i64>);
        let cases: [Case; 6] = [
            (
                "1700000000.M1P2.host,S=1234,W=1260",
                Some(1234),
                Some(1260),
                Some(1700000000),
            ),
            (
                "1700000000.M1P2.host,S=1234",
                Some(1234),
                None,
                Some(1700000000),
            ),
            ("1700000000.M1P2.host", None, None, Some(1700000000)),
            ("garbage", None, None, None),
            ("x1.y,S=abc", None, None, None),
            ("17.y,W=5,S=4", Some(4), Some(5), Some(17)),
        ];
        for (base, s, w, t) in cases {
            assert_eq!(size_field(base), s, "{base}");
            assert_eq!(vsize_field(base), w, "{base}");
            assert_eq!(time_field(base), t, "{base}");
        }
    }

    #[test]
    fn acceptable_names() {
        for (n, ok) in [
            ("1.a.b", true),
            (".hidden", false),
            ("", false),
            ("a\nb", false),
            ("a/b", false),
        ] {
            assert_eq!(acceptable(n), ok, "{n:?}");
        }
    }

    #[test]
    fn host_sanitizing() {
        assert_eq!(sanitize_host("a/b:c,d"), "a\\057b\\072c\\054d");
        assert_eq!(sanitize_host(""), "localhost");
        assert!(!hostname().contains('/'));
    }

    #[test]
    fn unique_bases_differ() {
        let a = unique_base(1, "h", 3, Some(4));
        let b = unique_base(1, "h", 3, Some(4));
        assert_eq!(vsize_field(&unique_base(1, "h", 3, None)), None);
        assert_ne!(a, b);
        assert_eq!(size_field(&a), Some(3));
        assert_eq!(vsize_field(&a), Some(4));
        assert_eq!(time_field(&a), Some(1));
    }

    #[test]
    fn crlf_sizes() {
        let cases: [(&[u8], u64); 6] = [
            (b"", 0),
            (b"a\n", 3),
            (b"a\r\n", 3),
            (b"a\nb\n", 6),
            (b"a\r\rb\n", 6),
            (b"\n\n", 4),
        ];
        for (bytes, want) in cases {
            assert_eq!(crlf_size(bytes, false), want, "{bytes:?}");
        }
        assert_eq!(crlf_size(b"\nx", true), 2, "CR at end of previous chunk");
    }
}
