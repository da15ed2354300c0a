//! Sizes (`"25M"`) and durations (`"5m"`) as they are written in the config.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A byte count: an integer, or a string with a K/M/G suffix (powers of 1024).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

/// A duration in whole seconds: an integer, or a string like `"90s"`, `"5m"`, `"2h"`, `"5d"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seconds(pub u64);

impl Seconds {
    pub fn duration(self) -> Duration {
        Duration::from_secs(self.0)
    }
}

/// Parse `"25M"`, `"512k"`, `"1G"`, `"1000"`.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (digits, mult) = match s.char_indices().last()? {
        (i, 'k' | 'K') => (&s[..i], 1024),
        (i, 'm' | 'M') => (&s[..i], 1024 * 1024),
        (i, 'g' | 'G') => (&s[..i], 1024 * 1024 * 1024),
        (i, 'b' | 'B') => (&s[..i], 1),
        _ => (s, 1),
    };
    digits.trim().parse::<u64>().ok()?.checked_mul(mult)
}

/// Parse `"90s"`, `"5m"`, `"2h"`, `"5d"`, `"30"` (seconds), or humantime forms like `"1h 30m"`.
pub fn parse_seconds(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Ok(n) = s.parse::<u64>() {
        return Some(n);
    }
    humantime::parse_duration(s).ok().map(|d| d.as_secs())
}

struct NumOrStr<F> {
    what: &'static str,
    parse: F,
}

impl<'de, F: Fn(&str) -> Option<u64>> Visitor<'de> for NumOrStr<F> {
    type Value = u64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.what)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::custom(format!("expected {}, got {v}", self.what)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        (self.parse)(v).ok_or_else(|| E::custom(format!("expected {}, got {v:?}", self.what)))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NumOrStr {
            what: "a size such as 10485760 or \"10M\"",
            parse: parse_size,
        })
        .map(ByteSize)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NumOrStr {
            what: "a duration such as 300 or \"5m\"",
            parse: parse_seconds,
        })
        .map(Seconds)
    }
}

impl Serialize for Seconds {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

/// A socket address (`127.0.0.1:25`, `[::1]:143`), refused with the value and what is wrong.
pub fn socket_addr<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<std::net::SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    parse_socket_addr(&text).map_err(serde::de::Error::custom)
}

/// [`socket_addr`]'s parsing: the error names the value.
pub fn parse_socket_addr(text: &str) -> Result<std::net::SocketAddr, String> {
    if let Ok(a) = text.parse() {
        return Ok(a);
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!(
            "{text}: no port (write address:port, e.g. 127.0.0.1:25)"
        ));
    };
    let host_ok = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .is_ok();
    match port.parse::<u64>() {
        Ok(p) if p > 65535 => Err(format!("{text}: port out of range (at most 65535)")),
        Ok(_) if !host_ok => Err(format!(
            "{text}: {host:?} is not an IP address (IPv6 in brackets: [::1]:25)"
        )),
        _ => Err(format!("{text}: {port:?} is not a port number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_addresses_name_the_value() {
        assert!(parse_socket_addr("127.0.0.1:25").is_ok());
        assert!(parse_socket_addr("[::1]:143").is_ok());
        for (bad, why) in [
            ("127.0.0.1:70000", "127.0.0.1:70000: port out of range"),
            ("127.0.0.1", "127.0.0.1: no port"),
            ("mail.test:25", "\"mail.test\" is not an IP address"),
            ("127.0.0.1:smtp", "\"smtp\" is not a port number"),
        ] {
            let e = parse_socket_addr(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn sizes() {
        for (input, want) in [
            ("1000", Some(1000)),
            ("10k", Some(10 * 1024)),
            ("25M", Some(25 * 1024 * 1024)),
            ("1G", Some(1 << 30)),
            ("", None),
            ("M", None),
            ("-1", None),
            ("12x", None),
        ] {
            assert_eq!(parse_size(input), want, "{input:?}");
        }
    }

    #[test]
    fn durations() {
        for (input, want) in [
            ("30", Some(30)),
            ("90s", Some(90)),
            ("5m", Some(300)),
            ("2h", Some(7200)),
            ("1h 30m", Some(5400)),
            ("5d", Some(432000)),
            ("soon", None),
        ] {
            assert_eq!(parse_seconds(input), want, "{input:?}");
        }
    }
}
