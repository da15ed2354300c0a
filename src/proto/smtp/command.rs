//! SMTP command lines → commands (RFC 5321 §4.1, with the ESMTP parameters we support).

/// Parameters of MAIL FROM.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailParams {
    /// RFC 1870 SIZE=.
    pub size: Option<u64>,
    /// RFC 6152 BODY=8BITMIME / 7BIT.
    pub eight_bit: bool,
    /// RFC 6531 SMTPUTF8.
    pub smtputf8: bool,
    /// RFC 3461 RET= (FULL / HDRS) and ENVID=.
    pub ret: Option<String>,
    pub envid: Option<String>,
    /// RFC 4954 AUTH= (accepted, not trusted).
    pub auth: Option<String>,
    /// RFC 8689 REQUIRETLS: deliver only over verified TLS, all the way.
    pub requiretls: bool,
}

/// Parameters of RCPT TO.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RcptParams {
    pub notify: Option<String>,
    pub orcpt: Option<String>,
}

/// One parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ehlo(String),
    Helo(String),
    /// The raw path (with brackets) and parameters.
    Mail(String, MailParams),
    Rcpt(String, RcptParams),
    Data,
    /// BDAT size, and whether it is the LAST chunk.
    Bdat(u64, bool),
    Rset,
    Noop,
    Quit,
    Vrfy,
    Expn,
    Help,
    StartTls,
    /// AUTH mechanism [initial-response].
    Auth(String, Option<String>),
}

/// Why a command line was refused: the reply to give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// 500 5.5.2: not a command we know.
    Unknown,
    /// 501 5.5.4 with this explanation.
    Syntax(&'static str),
    /// 555 5.5.4: a MAIL/RCPT parameter we do not know or whose value is bad.
    Parameter(String),
}

/// Parse one command line (CRLF already removed).
pub fn parse(line: &str) -> Result<Command, CommandError> {
    let (verb, rest) = match line.find(' ') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, ""),
    };
    let verb = verb.to_ascii_uppercase();
    let no_args = |cmd: Command| {
        if rest.trim().is_empty() {
            Ok(cmd)
        } else {
            Err(CommandError::Syntax("this command takes no arguments"))
        }
    };
    match verb.as_str() {
        "EHLO" | "HELO" => {
            let name = rest.trim();
            if name.is_empty() || name.contains(' ') {
                return Err(CommandError::Syntax(
                    "EHLO/HELO needs exactly one domain or address literal",
                ));
            }
            Ok(if verb == "EHLO" {
                Command::Ehlo(name.into())
            } else {
                Command::Helo(name.into())
            })
        }
        "MAIL" => {
            let arg = strip_keyword(rest, "FROM:")
                .ok_or(CommandError::Syntax("use MAIL FROM:<address> [parameters]"))?;
            let (path, params) = split_path(arg)?;
            Ok(Command::Mail(path, mail_params(params)?))
        }
        "RCPT" => {
            let arg = strip_keyword(rest, "TO:")
                .ok_or(CommandError::Syntax("use RCPT TO:<address> [parameters]"))?;
            let (path, params) = split_path(arg)?;
            Ok(Command::Rcpt(path, rcpt_params(params)?))
        }
        "DATA" => no_args(Command::Data),
        "BDAT" => {
            let mut words = rest.split_ascii_whitespace();
            let size = words
                .next()
                .and_then(|w| w.parse::<u64>().ok())
                .ok_or(CommandError::Syntax("use BDAT <size> [LAST]"))?;
            let last = match words.next() {
                None => false,
                Some(w) if w.eq_ignore_ascii_case("LAST") => true,
                Some(_) => return Err(CommandError::Syntax("use BDAT <size> [LAST]")),
            };
            if words.next().is_some() {
                return Err(CommandError::Syntax("use BDAT <size> [LAST]"));
            }
            Ok(Command::Bdat(size, last))
        }
        "RSET" => no_args(Command::Rset),
        "NOOP" => Ok(Command::Noop),
        "QUIT" => no_args(Command::Quit),
        "VRFY" => Ok(Command::Vrfy),
        "EXPN" => Ok(Command::Expn),
        "HELP" => Ok(Command::Help),
        "STARTTLS" => no_args(Command::StartTls),
        "AUTH" => {
            let mut words = rest.split_ascii_whitespace();
            let mech = words.next().ok_or(CommandError::Syntax(
                "use AUTH <mechanism> [initial-response]",
            ))?;
            let initial = words.next().map(str::to_string);
            if words.next().is_some() {
                return Err(CommandError::Syntax(
                    "use AUTH <mechanism> [initial-response]",
                ));
            }
            Ok(Command::Auth(mech.to_ascii_uppercase(), initial))
        }
        _ => Err(CommandError::Unknown),
    }
}

fn strip_keyword<'a>(rest: &'a str, kw: &str) -> Option<&'a str> {
    let head = rest.get(..kw.len())?;
    head.eq_ignore_ascii_case(kw)
        .then(|| rest[kw.len()..].trim_start())
}

/// Split `<path> params…`; the path may contain quoted spaces.
fn split_path(arg: &str) -> Result<(String, &str), CommandError> {
    if !arg.starts_with('<') {
        return Err(CommandError::Syntax("address must be enclosed in <>"));
    }
    let mut in_quote = false;
    let mut escaped = false;
    for (i, c) in arg.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quote => escaped = true,
            '"' => in_quote = !in_quote,
            '>' if !in_quote => {
                let rest = &arg[i + 1..];
                if !rest.is_empty() && !rest.starts_with(' ') {
                    return Err(CommandError::Syntax("expected a space after the address"));
                }
                return Ok((arg[..=i].to_string(), rest.trim()));
            }
            _ => {}
        }
    }
    Err(CommandError::Syntax("address must be enclosed in <>"))
}

fn params(s: &str) -> impl Iterator<Item = (String, Option<&str>)> {
    s.split_ascii_whitespace().map(|p| match p.split_once('=') {
        Some((k, v)) => (k.to_ascii_uppercase(), Some(v)),
        None => (p.to_ascii_uppercase(), None),
    })
}

fn xtext_ok(v: &str) -> bool {
    !v.is_empty() && v.len() <= 500 && v.bytes().all(|b| (33..=126).contains(&b) && b != b'=')
}

fn mail_params(s: &str) -> Result<MailParams, CommandError> {
    let mut p = MailParams::default();
    for (key, value) in params(s) {
        let bad = || CommandError::Parameter(format!("bad value for {key}"));
        match (key.as_str(), value) {
            ("SIZE", Some(v)) => p.size = Some(v.parse().map_err(|_| bad())?),
            ("BODY", Some(v)) if v.eq_ignore_ascii_case("8BITMIME") => p.eight_bit = true,
            ("BODY", Some(v)) if v.eq_ignore_ascii_case("7BIT") => p.eight_bit = false,
            ("SMTPUTF8", None) => p.smtputf8 = true,
            ("REQUIRETLS", None) => p.requiretls = true,
            ("RET", Some(v))
                if v.eq_ignore_ascii_case("FULL") || v.eq_ignore_ascii_case("HDRS") =>
            {
                p.ret = Some(v.to_ascii_uppercase())
            }
            ("ENVID", Some(v)) if xtext_ok(v) && v.len() <= 100 => {
                p.envid = Some(super::xtext::decode(v).ok_or_else(bad)?)
            }
            ("AUTH", Some(v)) if xtext_ok(v) => p.auth = Some(v.into()),
            _ => {
                return Err(CommandError::Parameter(format!(
                    "unsupported parameter {key}"
                )))
            }
        }
    }
    Ok(p)
}

fn rcpt_params(s: &str) -> Result<RcptParams, CommandError> {
    let mut p = RcptParams::default();
    for (key, value) in params(s) {
        match (key.as_str(), value) {
            ("NOTIFY", Some(v)) if valid_notify(v) => p.notify = Some(v.to_ascii_uppercase()),
            ("ORCPT", Some(v)) if xtext_ok(v) && v.contains(';') => {
                p.orcpt = Some(
                    super::xtext::decode(v)
                        .ok_or_else(|| CommandError::Parameter("bad value for ORCPT".into()))?,
                )
            }
            _ => {
                return Err(CommandError::Parameter(format!(
                    "unsupported parameter {key}"
                )))
            }
        }
    }
    Ok(p)
}

fn valid_notify(v: &str) -> bool {
    let items: Vec<String> = v.split(',').map(|s| s.to_ascii_uppercase()).collect();
    if items.iter().any(|i| i == "NEVER") {
        return items.len() == 1;
    }
    !items.is_empty()
        && items
            .iter()
            .all(|i| matches!(i.as_str(), "SUCCESS" | "FAILURE" | "DELAY"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        use Command::*;
        let mp = |size, eight_bit| MailParams {
            size,
            eight_bit,
            ..Default::default()
        };
        for (line, want) in [
            ("EHLO client.test", Ok(Ehlo("client.test".into()))),
            ("helo [127.0.0.1]", Ok(Helo("[127.0.0.1]".into()))),
            (
                "EHLO",
                Err(CommandError::Syntax(
                    "EHLO/HELO needs exactly one domain or address literal",
                )),
            ),
            (
                "MAIL FROM:<a@b.test>",
                Ok(Mail("<a@b.test>".into(), mp(None, false))),
            ),
            (
                "mail from: <a@b.test> SIZE=100 BODY=8BITMIME",
                Ok(Mail("<a@b.test>".into(), mp(Some(100), true))),
            ),
            ("MAIL FROM:<>", Ok(Mail("<>".into(), mp(None, false)))),
            (
                "MAIL FROM:<\"a b\"@b.test>",
                Ok(Mail("<\"a b\"@b.test>".into(), mp(None, false))),
            ),
            (
                "MAIL FROM:<a@b.test> FOO=1",
                Err(CommandError::Parameter("unsupported parameter FOO".into())),
            ),
            (
                "MAIL FROM:<a@b.test> SIZE=x",
                Err(CommandError::Parameter("bad value for SIZE".into())),
            ),
            (
                "MAIL TO:<a@b.test>",
                Err(CommandError::Syntax("use MAIL FROM:<address> [parameters]")),
            ),
            (
                "MAIL FROM:a@b.test",
                Err(CommandError::Syntax("address must be enclosed in <>")),
            ),
            (
                "RCPT TO:<c@d.test> NOTIFY=FAILURE,DELAY",
                Ok(Rcpt(
                    "<c@d.test>".into(),
                    RcptParams {
                        notify: Some("FAILURE,DELAY".into()),
                        orcpt: None,
                    },
                )),
            ),
            (
                "RCPT TO:<c@d.test> ORCPT=rfc822;a+2Bb@x.test",
                Ok(Rcpt(
                    "<c@d.test>".into(),
                    RcptParams {
                        notify: None,
                        orcpt: Some("rfc822;a+b@x.test".into()),
                    },
                )),
            ),
            (
                "RCPT TO:<c@d.test> ORCPT=rfc822;a+2xb@x.test",
                Err(CommandError::Parameter("bad value for ORCPT".into())),
            ),
            (
                "MAIL FROM:<a@b.test> ENVID=QQ+2B1",
                Ok(Mail(
                    "<a@b.test>".into(),
                    MailParams {
                        envid: Some("QQ+1".into()),
                        ..Default::default()
                    },
                )),
            ),
            (
                "RCPT TO:<c@d.test> NOTIFY=NEVER,DELAY",
                Err(CommandError::Parameter(
                    "unsupported parameter NOTIFY".into(),
                )),
            ),
            ("DATA", Ok(Data)),
            (
                "DATA x",
                Err(CommandError::Syntax("this command takes no arguments")),
            ),
            ("BDAT 100 LAST", Ok(Bdat(100, true))),
            ("BDAT 5", Ok(Bdat(5, false))),
            (
                "BDAT x",
                Err(CommandError::Syntax("use BDAT <size> [LAST]")),
            ),
            ("RSET", Ok(Rset)),
            ("NOOP anything", Ok(Noop)),
            ("QUIT", Ok(Quit)),
            ("VRFY bob", Ok(Vrfy)),
            ("STARTTLS", Ok(StartTls)),
            (
                "AUTH plain AGFiAGM=",
                Ok(Auth("PLAIN".into(), Some("AGFiAGM=".into()))),
            ),
            ("FOO", Err(CommandError::Unknown)),
            ("", Err(CommandError::Unknown)),
        ] {
            assert_eq!(parse(line), want, "{line:?}");
        }
    }
}
