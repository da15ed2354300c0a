//! MTA-STS (RFC 8461) without I/O: the `_mta-sts` TXT record, the policy file, MX patterns, and
//! what a cached policy is worth now.

use serde::{Deserialize, Serialize};

/// The largest `max_age` honoured (RFC 8461 §3.2: one year).
pub const MAX_AGE_LIMIT: u64 = 31_557_600;

/// A policy's mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Deliver only to matching MX hosts over verified TLS.
    Enforce,
    /// Deliver as without a policy; report what would have failed.
    Testing,
    /// No policy in force.
    None,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        })
    }
}

/// A policy as fetched (and cached).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// The `id=` of the TXT record it was fetched under.
    pub id: String,
    pub mode: Mode,
    /// `mx:` patterns, lower case (`mail.example.com`, `*.example.net`).
    pub mx: Vec<String>,
    /// Seconds it may be cached.
    pub max_age: u64,
    /// When it was fetched (seconds since the epoch).
    pub fetched: u64,
}

impl Policy {
    /// Whether `host` (an MX host name) matches one of the policy's `mx` patterns (§4.1: a
    /// wildcard stands for exactly one leftmost label).
    pub fn matches(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx.iter().any(|p| match p.strip_prefix("*.") {
            Some(suffix) => host
                .split_once('.')
                .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
            None => *p == host,
        })
    }

    /// Whether it is still valid at `now` (seconds since the epoch).
    pub fn fresh(&self, now: u64) -> bool {
        now < self.fetched.saturating_add(self.max_age)
    }
}

/// The `id` of the one `v=STSv1` record among a name's TXT records (§3.1); `None` when there is
/// none, more than one, or it is malformed (then: no policy, §3.1).
pub fn txt_id(records: &[String]) -> Option<String> {
    let sts: Vec<&String> = records
        .iter()
        .filter(|r| r.trim_start().starts_with("v=STSv1"))
        .collect();
    let [record] = sts.as_slice() else {
        return None;
    };
    let mut fields = record.split(';').map(str::trim).filter(|f| !f.is_empty());
    if fields.next() != Some("v=STSv1") {
        return None;
    }
    let mut id = None;
    for f in fields {
        if let Some(v) = f.strip_prefix("id=") {
            let ok = !v.is_empty() && v.len() <= 32 && v.bytes().all(|b| b.is_ascii_alphanumeric());
            if !ok || id.is_some() {
                return None;
            }
            id = Some(v.to_string());
        }
    }
    id
}

/// Parses a policy file (§3.2): `key: value` lines (CRLF or LF); `version: STSv1`, `mode`,
/// `max_age` required, `mx` at least once unless the mode is `none`; unknown keys ignored.
pub fn parse(text: &str, id: &str, fetched: u64) -> Result<Policy, String> {
    let mut version = None;
    let mut mode = None;
    let mut max_age = None;
    let mut mx = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(format!("not a `key: value` line: {line:?}"));
        };
        let value = value.trim();
        match key.trim() {
            "version" => version = Some(value.to_string()),
            "mode" => {
                mode = Some(match value {
                    "enforce" => Mode::Enforce,
                    "testing" => Mode::Testing,
                    "none" => Mode::None,
                    other => return Err(format!("unknown mode {other:?}")),
                })
            }
            "max_age" => {
                let n: u64 = value
                    .parse()
                    .map_err(|_| format!("max_age {value:?} is not a number of seconds"))?;
                max_age = Some(n.min(MAX_AGE_LIMIT));
            }
            "mx" => {
                let p = value.trim_end_matches('.').to_ascii_lowercase();
                let host = p.strip_prefix("*.").unwrap_or(&p);
                if !crate::config::validate::is_domain_name(host) {
                    return Err(format!("mx {value:?} is not a host name pattern"));
                }
                mx.push(p);
            }
            _ => {}
        }
    }
    if version.as_deref() != Some("STSv1") {
        return Err("no `version: STSv1`".into());
    }
    let mode = mode.ok_or("no `mode`")?;
    let max_age = max_age.ok_or("no `max_age`")?;
    if mx.is_empty() && mode != Mode::None {
        return Err("no `mx` pattern".into());
    }
    Ok(Policy {
        id: id.to_string(),
        mode,
        mx,
        max_age,
        fetched,
    })
}

/// Whether `domain` may name a cache file: a lower-case host name (letters, digits, `-`, `.`;
/// no empty label).
pub fn is_cache_name(domain: &str) -> bool {
    crate::config::validate::is_domain_name(domain)
        && domain
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !domain.split('.').any(str::is_empty)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic
    use super::*;

    #[test]
    fn txt_records() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            txt_id(&s(&["v=STSv1; id=20260101T000000;"])),
            Some("20260101T000000".into())
        );
        assert_eq!(
            txt_id(&s(&["v=spf1 -all", "v=STSv1;id=abc"])),
            Some("abc".into())
        );
        assert_eq!(txt_id(&s(&["v=STSv1; id=a", "v=STSv1; id=b"])), None);
        assert_eq!(txt_id(&s(&["v=STSv1;"])), None);
        assert_eq!(txt_id(&s(&["v=STSv1; id=bad-id"])), None);
        assert_eq!(txt_id(&s(&["v=STSv1; id=a; id=b"])), None);
        assert_eq!(txt_id(&s(&[])), None);
    }

    #[test]
    fn policy_files() {
        let p = parse(
            "version: STSv1\r\nmode: enforce\r\nmx: mail.example.test\r\nmx: *.backup.test\r\nmax_age: 86400\r\n",
            "x1",
            100,
        )
        .unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.mx, vec!["mail.example.test", "*.backup.test"]);
        assert!(p.fresh(100 + 86_399) && !p.fresh(100 + 86_400));
        for (host, want) in [
            ("mail.example.test", true),
            ("MAIL.example.test.", true),
            ("mx1.backup.test", true),
            ("a.mx1.backup.test", false),
            ("backup.test", false),
            ("evil.example.test", false),
        ] {
            assert_eq!(p.matches(host), want, "{host}");
        }
        let huge = parse(
            "version: STSv1\nmode: testing\nmx: a.test\nmax_age: 999999999\n",
            "x",
            0,
        )
        .unwrap();
        assert_eq!(huge.max_age, MAX_AGE_LIMIT);
        assert_eq!(huge.mode, Mode::Testing);
        for bad in [
            "mode: enforce\nmx: a.test\nmax_age: 1\n",
            "version: STSv1\nmode: strict\nmx: a.test\nmax_age: 1\n",
            "version: STSv1\nmode: enforce\nmax_age: 1\n",
            "version: STSv1\nmode: enforce\nmx: a.test\n",
            "version: STSv1\nmode: enforce\nmx: a.test\nmax_age: soon\n",
            "version: STSv1\nmode: enforce\nmx: not a host\nmax_age: 1\n",
            "<html>not a policy</html>\n",
        ] {
            assert!(parse(bad, "x", 0).is_err(), "{bad}");
        }
        assert!(parse("version: STSv1\nmode: none\nmax_age: 1\n", "x", 0).is_ok());
    }

    #[test]
    fn cache_names() {
        assert!(is_cache_name("example.test"));
        for bad in ["../x", "a..b", "A.test", "a/b.test", ".hidden", ""] {
            assert!(!is_cache_name(bad), "{bad}");
        }
    }
}
