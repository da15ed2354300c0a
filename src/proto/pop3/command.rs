//! Parsing POP3 command lines.

/// A POP3 command (RFC 1939, 2449, 2595, 5034).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `USER name`
    User(String),
    /// `PASS string` (the rest of the line, spaces included)
    Pass(crate::proto::secret::Secret),
    /// `APOP name digest`
    Apop(String, String),
    /// `AUTH [mechanism [initial-response]]`
    Auth(Option<(String, Option<String>)>),
    /// `STLS`
    Stls,
    /// `CAPA`
    Capa,
    /// `QUIT`
    Quit,
    /// `STAT`
    Stat,
    /// `LIST [msg]`
    List(Option<String>),
    /// `RETR msg`
    Retr(String),
    /// `DELE msg`
    Dele(String),
    /// `NOOP`
    Noop,
    /// `RSET`
    Rset,
    /// `TOP msg n`
    Top(String, String),
    /// `UIDL [msg]`
    Uidl(Option<String>),
}

/// Why a line is not a valid command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// Not UTF-8 or contains control characters.
    #[error("invalid characters in command")]
    Garbage,
    /// Unknown keyword.
    #[error("unknown command")]
    Unknown,
    /// Wrong number of arguments.
    #[error("wrong number of arguments")]
    Arguments,
}

/// Parses one line (without CRLF).
pub fn parse(line: &[u8]) -> Result<Command, CommandError> {
    let text = std::str::from_utf8(line).map_err(|_| CommandError::Garbage)?;
    if text.chars().any(|c| c.is_control() && c != '\t') {
        return Err(CommandError::Garbage);
    }
    let (keyword, rest) = match text.split_once(' ') {
        Some((k, r)) => (k, r),
        None => (text, ""),
    };
    let args: Vec<&str> = rest.split(' ').filter(|a| !a.is_empty()).collect();
    let kw = keyword.to_ascii_uppercase();
    let none = |c: Command| {
        if args.is_empty() {
            Ok(c)
        } else {
            Err(CommandError::Arguments)
        }
    };
    let one = |f: fn(String) -> Command| match args.as_slice() {
        [a] => Ok(f(a.to_string())),
        _ => Err(CommandError::Arguments),
    };
    let optional = |f: fn(Option<String>) -> Command| match args.as_slice() {
        [] => Ok(f(None)),
        [a] => Ok(f(Some(a.to_string()))),
        _ => Err(CommandError::Arguments),
    };
    match kw.as_str() {
        "USER" => one(Command::User),
        "PASS" if !rest.is_empty() => Ok(Command::Pass(rest.into())),
        "PASS" => Err(CommandError::Arguments),
        "APOP" => match args.as_slice() {
            [u, d] => Ok(Command::Apop(u.to_string(), d.to_string())),
            _ => Err(CommandError::Arguments),
        },
        "AUTH" => match args.as_slice() {
            [] => Ok(Command::Auth(None)),
            [m] => Ok(Command::Auth(Some((m.to_ascii_uppercase(), None)))),
            [m, ir] => Ok(Command::Auth(Some((
                m.to_ascii_uppercase(),
                Some(ir.to_string()),
            )))),
            _ => Err(CommandError::Arguments),
        },
        "STLS" => none(Command::Stls),
        "CAPA" => none(Command::Capa),
        "QUIT" => none(Command::Quit),
        "STAT" => none(Command::Stat),
        "LIST" => optional(Command::List),
        "RETR" => one(Command::Retr),
        "DELE" => one(Command::Dele),
        "NOOP" => none(Command::Noop),
        "RSET" => none(Command::Rset),
        "TOP" => match args.as_slice() {
            [m, n] => Ok(Command::Top(m.to_string(), n.to_string())),
            _ => Err(CommandError::Arguments),
        },
        "UIDL" => optional(Command::Uidl),
        _ => Err(CommandError::Unknown),
    }
}

/// Parses a decimal number argument: digits only, no sign, at most 10 digits.
pub fn number(arg: &str) -> Option<u64> {
    if arg.is_empty() || arg.len() > 10 || !arg.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    arg.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let s = |x: &str| x.to_string();
        let cases: Vec<(&str, Result<Command, CommandError>)> = vec![
            ("USER alice", Ok(Command::User(s("alice")))),
            ("user alice", Ok(Command::User(s("alice")))),
            ("USER", Err(CommandError::Arguments)),
            ("USER a b", Err(CommandError::Arguments)),
            (
                "PASS secret with spaces",
                Ok(Command::Pass("secret with spaces".into())),
            ),
            ("PASS", Err(CommandError::Arguments)),
            (
                "APOP bob c4c9334bac560ecc979e58001b3e22fb",
                Ok(Command::Apop(
                    s("bob"),
                    s("c4c9334bac560ecc979e58001b3e22fb"),
                )),
            ),
            ("AUTH", Ok(Command::Auth(None))),
            ("AUTH plain", Ok(Command::Auth(Some((s("PLAIN"), None))))),
            (
                "AUTH PLAIN AGEAYg==",
                Ok(Command::Auth(Some((s("PLAIN"), Some(s("AGEAYg==")))))),
            ),
            ("STLS", Ok(Command::Stls)),
            ("capa", Ok(Command::Capa)),
            ("QUIT", Ok(Command::Quit)),
            ("QUIT now", Err(CommandError::Arguments)),
            ("STAT", Ok(Command::Stat)),
            ("LIST", Ok(Command::List(None))),
            ("LIST 2", Ok(Command::List(Some(s("2"))))),
            ("LIST 1 2", Err(CommandError::Arguments)),
            ("RETR 1", Ok(Command::Retr(s("1")))),
            ("RETR", Err(CommandError::Arguments)),
            ("DELE 1", Ok(Command::Dele(s("1")))),
            ("NOOP", Ok(Command::Noop)),
            ("RSET", Ok(Command::Rset)),
            ("TOP 1 10", Ok(Command::Top(s("1"), s("10")))),
            ("TOP 1", Err(CommandError::Arguments)),
            ("UIDL", Ok(Command::Uidl(None))),
            ("UIDL 3", Ok(Command::Uidl(Some(s("3"))))),
            ("XYZZY", Err(CommandError::Unknown)),
            ("", Err(CommandError::Unknown)),
            ("NOOP\u{1}", Err(CommandError::Garbage)),
        ];
        for (line, want) in cases {
            assert_eq!(parse(line.as_bytes()), want, "{line:?}");
        }
        assert_eq!(parse(b"\xff\xfe"), Err(CommandError::Garbage));
    }

    #[test]
    fn numbers() {
        for (a, want) in [
            ("1", Some(1)),
            ("007", Some(7)),
            ("0", Some(0)),
            ("-1", None),
            ("+1", None),
            ("1a", None),
            ("", None),
            ("99999999999", None),
        ] {
            assert_eq!(number(a), want, "{a:?}");
        }
    }
}
