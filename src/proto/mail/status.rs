//! RFC 3463 enhanced mail system status codes: `class.subject.detail`, e.g. `5.1.1`.

use std::fmt;

/// The class of a status (RFC 3463 §3.1), which says what the sender should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// `2`: the action succeeded.
    Success,
    /// `4`: a persistent transient failure; the same attempt may succeed later.
    Transient,
    /// `5`: a permanent failure; the message is not going to be delivered as it is.
    Permanent,
}

impl Class {
    /// The class digit.
    pub fn digit(self) -> u8 {
        match self {
            Class::Success => 2,
            Class::Transient => 4,
            Class::Permanent => 5,
        }
    }

    fn from_digit(d: u8) -> Option<Class> {
        match d {
            2 => Some(Class::Success),
            4 => Some(Class::Transient),
            5 => Some(Class::Permanent),
            _ => None,
        }
    }

    /// The class an SMTP reply code stands for: 2xx and 3xx success, 4xx transient, 5xx
    /// permanent.
    pub fn of_code(code: u16) -> Option<Class> {
        match code / 100 {
            2 | 3 => Some(Class::Success),
            4 => Some(Class::Transient),
            5 => Some(Class::Permanent),
            _ => None,
        }
    }
}

/// One enhanced status code. Subject and detail have at most three digits each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Status {
    class: Class,
    subject: u16,
    detail: u16,
}

/// Largest subject or detail (three digits).
const MAX_PART: u16 = 999;

impl Status {
    /// `class.subject.detail`; a subject or detail over 999 is taken as 999.
    pub const fn new(class: Class, subject: u16, detail: u16) -> Status {
        Status {
            class,
            subject: if subject > MAX_PART {
                MAX_PART
            } else {
                subject
            },
            detail: if detail > MAX_PART { MAX_PART } else { detail },
        }
    }

    /// `X.0.0`: "other or undefined status" of a class.
    pub const fn generic(class: Class) -> Status {
        Status::new(class, 0, 0)
    }

    pub fn class(self) -> Class {
        self.class
    }

    pub fn subject(self) -> u16 {
        self.subject
    }

    pub fn detail(self) -> u16 {
        self.detail
    }

    /// The same status in another class (a remote 5xx at the greeting is retried: `4.x.x`).
    pub fn with_class(self, class: Class) -> Status {
        Status { class, ..self }
    }

    /// Exactly a status code (`5.1.1`), nothing before or after it.
    pub fn parse(s: &str) -> Option<Status> {
        let mut parts = s.split('.');
        let (class, subject, detail) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || class.len() != 1 {
            return None;
        }
        let part = |p: &str| -> Option<u16> {
            (!p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse().ok())
                .flatten()
        };
        Some(Status {
            class: Class::from_digit(class.bytes().next()?.wrapping_sub(b'0'))?,
            subject: part(subject)?,
            detail: part(detail)?,
        })
    }

    /// The status that starts `text` (`5.1.1 user unknown`), and the text after it.
    pub fn split_leading(text: &str) -> Option<(Status, &str)> {
        let (first, rest) = text.split_once(' ').unwrap_or((text, ""));
        Status::parse(first).map(|s| (s, rest.trim_start()))
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class.digit(), self.subject, self.detail)
    }
}

impl serde::Serialize for Status {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Status {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Status, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Status::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("not a status code: {s:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print() {
        for s in ["2.0.0", "4.4.7", "5.1.10", "5.999.999"] {
            assert_eq!(Status::parse(s).map(|v| v.to_string()).as_deref(), Some(s));
        }
        for bad in [
            "", "5", "5.1", "5.1.1.1", "3.1.1", "6.0.0", "5.1.1000", "5..1", "5.a.1", "55.1.1",
            "+5.1.1", "5.1.1 ",
        ] {
            assert_eq!(Status::parse(bad), None, "{bad:?}");
        }
        assert_eq!(
            Status::split_leading("5.1.1 <b@x.test>: no such user"),
            Some((
                Status::new(Class::Permanent, 1, 1),
                "<b@x.test>: no such user"
            ))
        );
        assert_eq!(Status::split_leading("Error: 5.1.1"), None);
        assert_eq!(
            Status::new(Class::Transient, 4, 7).with_class(Class::Permanent),
            Status::parse("5.4.7").expect("status")
        );
        assert_eq!(Status::new(Class::Success, 1000, 2).to_string(), "2.999.2");
        assert_eq!(Class::of_code(354), Some(Class::Success));
        assert_eq!(Class::of_code(421), Some(Class::Transient));
        assert_eq!(Class::of_code(554), Some(Class::Permanent));
        assert_eq!(Class::of_code(99), None);
    }

    #[test]
    fn serde_as_a_string() {
        let s = Status::new(Class::Permanent, 1, 1);
        let json = serde_json::to_string(&s).expect("json");
        assert_eq!(json, "\"5.1.1\"");
        assert_eq!(serde_json::from_str::<Status>(&json).expect("back"), s);
        assert!(serde_json::from_str::<Status>("\"5.1\"").is_err());
    }
}
