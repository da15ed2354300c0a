//! Criteria (field × operator × value, negatable) and the ban lists built from them.

use std::net::IpAddr;

use crate::config::rules::{parse_reply, Ban, Criterion, Field, Op};
use crate::proto::mail::Reply;

/// What is known about the transaction when a criterion is evaluated; `None`: not yet known.
#[derive(Debug, Default, Clone, Copy)]
pub struct Facts<'a> {
    pub sender: Option<&'a str>,
    pub recipient: Option<&'a str>,
    pub helo: Option<&'a str>,
    pub ip: Option<IpAddr>,
    /// Message headers (name, unfolded value), after DATA.
    pub headers: Option<&'a [(String, String)]>,
}

/// Whether `value` satisfies the criterion's operator and value (case-insensitive; a regular
/// expression as compiled when the configuration was read).
fn compare(c: &Criterion, value: &str) -> bool {
    let (p, v) = (c.value.to_lowercase(), value.to_lowercase());
    match c.op {
        Op::Contains => v.contains(&p),
        Op::StartsWith => v.starts_with(&p),
        Op::EndsWith => v.ends_with(&p),
        Op::Equals => v == p,
        Op::Matches => matches!(&c.regex, Some(Ok(re)) if re.is_match(value)),
    }
}

/// Whether the criterion is met; `None` when its field is not known at this stage.
pub fn met(c: &Criterion, facts: &Facts<'_>) -> Option<bool> {
    let matched = match c.field {
        Field::Sender => compare(c, facts.sender?),
        Field::Recipient => compare(c, facts.recipient?),
        Field::Helo => compare(c, facts.helo.unwrap_or("")),
        Field::ClientIp => compare(c, &facts.ip?.to_string()),
        Field::Header => {
            let name = c.header.as_deref().unwrap_or("");
            facts
                .headers?
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .any(|(_, v)| compare(c, v))
        }
    };
    Some(matched != c.negate)
}

/// The first ban among `bans` (for `listener`, on `fields`) whose criterion is met, as its reply.
pub fn banned(
    bans: &[Ban],
    listener: Option<&str>,
    fields: &[Field],
    facts: &Facts<'_>,
) -> Option<Reply> {
    bans.iter()
        .filter(|b| fields.contains(&b.criterion.field))
        .filter(|b| {
            b.listeners.is_empty() || listener.is_some_and(|l| b.listeners.iter().any(|x| x == l))
        })
        .find(|b| met(&b.criterion, facts) == Some(true))
        .map(|b| ban_reply(b, facts))
}

fn ban_reply(b: &Ban, facts: &Facts<'_>) -> Reply {
    if let Some((code, enhanced, text)) = b.reply.as_deref().and_then(parse_reply) {
        return Reply::new(code, &enhanced, text);
    }
    let text = match b.criterion.field {
        Field::Sender => format!(
            "<{}>: Sender address rejected by policy",
            facts.sender.unwrap_or("")
        ),
        Field::Recipient => format!(
            "<{}>: Recipient address rejected by policy",
            facts.recipient.unwrap_or("")
        ),
        Field::Helo => "HELO name rejected by policy".to_string(),
        Field::ClientIp => "Client host rejected by policy".to_string(),
        Field::Header => "Message rejected by policy".to_string(),
    };
    Reply::new(550, "5.7.1", text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(field: Field, op: Op, value: &str, negate: bool) -> Criterion {
        let header = (field == Field::Header).then(|| "Subject".to_string());
        Criterion::new(field, header, op, value, negate)
    }

    #[test]
    fn operators_and_negation() {
        let headers = vec![("Subject".to_string(), "Cheap PILLS now".to_string())];
        let f = Facts {
            sender: Some("spammer@Hotmail.test"),
            recipient: Some("bob@internal.example"),
            helo: Some("mx.hotmail.test"),
            ip: "192.0.2.7".parse().ok(),
            headers: Some(&headers),
        };
        for (crit, want) in [
            (c(Field::Sender, Op::Contains, "hotmail.test", false), true),
            (c(Field::Sender, Op::EndsWith, "@hotmail.test", false), true),
            (c(Field::Sender, Op::StartsWith, "spammer@", false), true),
            (
                c(Field::Sender, Op::Equals, "spammer@hotmail.test", false),
                true,
            ),
            (
                c(Field::Sender, Op::Equals, "spammer@hotmail", false),
                false,
            ),
            (
                c(Field::Recipient, Op::EndsWith, "@internal.example", true),
                false,
            ),
            (
                c(Field::Helo, Op::Matches, r"^mx\.[a-z]+\.test$", false),
                true,
            ),
            (c(Field::ClientIp, Op::StartsWith, "192.0.2.", false), true),
            (c(Field::Header, Op::Contains, "pills", false), true),
            (c(Field::Header, Op::Contains, "pills", true), false),
        ] {
            assert_eq!(met(&crit, &f), Some(want), "{crit:?}");
        }
        // Fields not known yet are not judged.
        let early = Facts::default();
        assert_eq!(
            met(&c(Field::Recipient, Op::Contains, "x", false), &early),
            None
        );
    }
}
