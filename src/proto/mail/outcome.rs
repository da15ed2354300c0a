//! What became of one recipient: the typed result of a delivery attempt (or of a refusal at
//! intake). The queue keeps it per recipient; a delivery report turns it into the per-recipient
//! fields of RFC 3464 §2.3 (Status, Remote-MTA, Diagnostic-Code); `queue ls`, the events and the
//! report's text show it as one line ([`Outcome`]'s `Display`).

use std::fmt::{self, Write as _};
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::reply::Reply;
use super::status::{Class, Status};

/// The outcome of one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// RFC 3463 status; its class says what happens next: delivered (2), retried (4), bounced (5).
    pub status: Status,
    /// What happened, for people, without the status: "no such mailbox here", "refused at RCPT
    /// TO", "connect to mx.example[192.0.2.1]:25: Connection refused".
    pub text: String,
    /// The SMTP reply that decided, when a server gave one (the next hop's, or ours at intake).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<Reply>,
    /// The remote MTA that was talked to, when one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_mta: Option<RemoteMta>,
}

/// A remote MTA: its host name as we know it (MX name, configured host or address) and the
/// address we were connected to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteMta {
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<SocketAddr>,
}

impl RemoteMta {
    pub fn new(host: impl Into<String>, address: SocketAddr) -> RemoteMta {
        RemoteMta {
            host: host.into(),
            address: Some(address),
        }
    }
}

/// `host[ip]:port`, as in the logs of other MTAs.
impl fmt::Display for RemoteMta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.host)?;
        if let Some(a) = self.address {
            write!(f, "[{}]:{}", a.ip(), a.port())?;
        }
        Ok(())
    }
}

impl Outcome {
    /// An outcome decided here, without a server's reply.
    pub fn new(status: Status, text: impl Into<String>) -> Outcome {
        Outcome {
            status,
            text: text.into(),
            reply: None,
            remote_mta: None,
        }
    }

    /// An outcome decided by `reply`: its enhanced code when it has one whose class agrees,
    /// else `X.0.0` of the reply code's class.
    pub fn replied(reply: Reply, text: impl Into<String>) -> Outcome {
        let class = reply.class();
        let status = reply
            .enhanced
            .filter(|s| s.class() == class)
            .unwrap_or(Status::generic(class));
        Outcome {
            status,
            text: text.into(),
            reply: Some(reply),
            remote_mta: None,
        }
    }

    /// The same outcome, reported by `mta`.
    pub fn at(mut self, mta: RemoteMta) -> Outcome {
        self.remote_mta = Some(mta);
        self
    }

    /// The same outcome in another class (a refusal taken as temporary, a deferral given up on).
    pub fn with_class(mut self, class: Class) -> Outcome {
        self.status = self.status.with_class(class);
        self
    }

    pub fn class(&self) -> Class {
        self.status.class()
    }

    pub fn is_permanent(&self) -> bool {
        self.class() == Class::Permanent
    }

    /// What replaces a recipient's `last` outcome when we stop trying (expired, too many
    /// attempts, aborted): `status` and `why`, the last error quoted in the text, and its reply
    /// and remote MTA kept for the report's Diagnostic-Code and Remote-MTA.
    pub fn ending(last: Option<Outcome>, status: Status, why: &str) -> Outcome {
        let Some(last) = last else {
            return Outcome::new(status, why);
        };
        let mut text = format!("{why}; last error: {}", last.status);
        if !last.text.is_empty() {
            text.push(' ');
            text.push_str(&last.text);
        }
        Outcome {
            status,
            text,
            reply: last.reply,
            remote_mta: last.remote_mta,
        }
    }

    /// The Diagnostic-Code field's value (RFC 3464 §2.3.6) when a server replied:
    /// `smtp; 550 5.1.1 <b@example.org>: user unknown`.
    pub fn diagnostic_code(&self) -> Option<String> {
        self.reply.as_ref().map(|r| format!("smtp; {r}"))
    }

    /// An outcome as version 0.1 recorded it: one line of text (`550 5.1.1 text (at
    /// host[ip]:port)`, `4.4.1 text`, or bare text), for a recipient whose state puts it in
    /// `class`. The status is the first one in the text, made to agree with `class`.
    pub fn from_legacy(reason: &str, class: Class) -> Outcome {
        let (body, remote_mta) = match reason.rsplit_once(" (at ") {
            Some((body, at)) => match at.strip_suffix(')').and_then(legacy_mta) {
                Some(mta) => (body, Some(mta)),
                None => (reason, None),
            },
            None => (reason, None),
        };
        let reply = legacy_reply(body);
        let status = reply
            .as_ref()
            .and_then(|r| r.enhanced)
            .or_else(|| first_status(body))
            .unwrap_or(Status::generic(class))
            .with_class(class);
        let text = match (&reply, Status::split_leading(body)) {
            (Some(_), _) => String::new(),
            (None, Some((_, rest))) => rest.to_string(),
            (None, None) => body.to_string(),
        };
        Outcome {
            status,
            text,
            reply,
            remote_mta,
        }
    }
}

/// `550 text` at the start of a 0.1 reason: a server's reply.
fn legacy_reply(body: &str) -> Option<Reply> {
    let (code, text) = body.split_once(' ')?;
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let code: u16 = code.parse().ok()?;
    Class::of_code(code)?;
    Some(Reply::received(code, text))
}

/// `host[ip]:port` (or just `host`) from a 0.1 reason's `(at …)`.
fn legacy_mta(at: &str) -> Option<RemoteMta> {
    let (host, address) = match at.split_once('[') {
        Some((host, rest)) => (
            host,
            rest.split_once("]:")
                .and_then(|(ip, port)| Some(SocketAddr::new(ip.parse().ok()?, port.parse().ok()?))),
        ),
        None => (at, None),
    };
    (!host.is_empty() && !host.contains(' ')).then(|| RemoteMta {
        host: host.to_string(),
        address,
    })
}

/// The first word of `text` that is a status code.
fn first_status(text: &str) -> Option<Status> {
    text.split(|c: char| c.is_whitespace() || c == ':' || c == ';')
        .find_map(Status::parse)
}

/// One line: the status, the text, the reply, the remote MTA —
/// `5.1.1 refused at RCPT TO: 550 5.1.1 <b@example.org>: user unknown (at mx.example.org[192.0.2.1]:25)`.
impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.status)?;
        if !self.text.is_empty() {
            f.write_char(' ')?;
            one_line(f, &self.text)?;
        }
        if let Some(r) = &self.reply {
            f.write_str(if self.text.is_empty() { " " } else { ": " })?;
            one_line(f, &r.to_string())?;
        }
        if let Some(m) = &self.remote_mta {
            f.write_str(" (at ")?;
            one_line(f, &m.to_string())?;
            f.write_char(')')?;
        }
        Ok(())
    }
}

fn one_line(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    s.chars()
        .try_for_each(|c| f.write_char(if c.is_control() { ' ' } else { c }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(s: &str) -> Status {
        Status::parse(s).unwrap_or_else(|| panic!("{s} is a status"))
    }

    #[test]
    fn one_line_forms() {
        let local = Outcome::new(status("5.1.1"), "no such mailbox here");
        assert_eq!(local.to_string(), "5.1.1 no such mailbox here");
        assert_eq!(local.diagnostic_code(), None);
        let mta = RemoteMta::new("mx.x.test", "127.0.0.1:25".parse().expect("addr"));
        let remote = Outcome::replied(
            Reply::received(550, "5.1.1 <b@x.test>: user unknown"),
            "refused at RCPT TO",
        )
        .at(mta.clone());
        assert_eq!(
            remote.to_string(),
            "5.1.1 refused at RCPT TO: 550 5.1.1 <b@x.test>: user unknown (at mx.x.test[127.0.0.1]:25)"
        );
        assert_eq!(
            remote.diagnostic_code().as_deref(),
            Some("smtp; 550 5.1.1 <b@x.test>: user unknown")
        );
        let v6 = RemoteMta::new("mx6.x.test", "[::1]:2525".parse().expect("addr"));
        assert_eq!(v6.to_string(), "mx6.x.test[::1]:2525");
        let timeout = Outcome::new(status("4.4.2"), "no greeting\r\nwithin 2s").at(v6);
        assert_eq!(
            timeout.to_string(),
            "4.4.2 no greeting  within 2s (at mx6.x.test[::1]:2525)"
        );
        let given_up = Outcome::ending(Some(remote), status("5.4.7"), "gave up after 3 attempts");
        assert_eq!(
            given_up.to_string(),
            "5.4.7 gave up after 3 attempts; last error: 5.1.1 refused at RCPT TO: \
             550 5.1.1 <b@x.test>: user unknown (at mx.x.test[127.0.0.1]:25)"
        );
        assert_eq!(given_up.remote_mta, Some(mta));
        assert_eq!(
            Outcome::ending(None, status("5.0.0"), "aborted").to_string(),
            "5.0.0 aborted"
        );
    }

    #[test]
    fn status_of_a_reply() {
        let s = |code, text| Outcome::replied(Reply::received(code, text), "").status;
        assert_eq!(s(550, "5.7.1 no relaying"), status("5.7.1"));
        assert_eq!(s(550, "no such user"), status("5.0.0"));
        assert_eq!(s(451, "4.3.2 try later"), status("4.3.2"));
        assert_eq!(s(450, "5.1.1 confused"), status("4.0.0"));
        assert_eq!(s(250, "2.6.0 queued as X"), status("2.6.0"));
        assert_eq!(s(250, "Ok"), status("2.0.0"));
        let deferred = Outcome::replied(Reply::received(554, "5.7.1 go away"), "")
            .with_class(Class::Transient);
        assert_eq!(deferred.status, status("4.7.1"));
        assert_eq!(
            deferred.reply.map(|r| r.to_string()).as_deref(),
            Some("554 5.7.1 go away")
        );
    }

    /// Reasons as version 0.1 wrote them into the queue's state files.
    #[test]
    fn legacy_reasons() {
        let o = Outcome::from_legacy(
            "450 4.3.0 Error: command failed (at mx.remote.test[127.0.0.1]:2526)",
            Class::Transient,
        );
        assert_eq!(o.status, status("4.3.0"));
        assert_eq!(
            o.diagnostic_code().as_deref(),
            Some("smtp; 450 4.3.0 Error: command failed")
        );
        assert_eq!(
            o.remote_mta,
            Some(RemoteMta::new(
                "mx.remote.test",
                "127.0.0.1:2526".parse().expect("addr")
            ))
        );
        assert_eq!(
            o.to_string(),
            "4.3.0 450 4.3.0 Error: command failed (at mx.remote.test[127.0.0.1]:2526)"
        );
        let o = Outcome::from_legacy(
            "552 5.2.3 <small@here.test>: Message size exceeds this recipient's limit",
            Class::Permanent,
        );
        assert_eq!((o.status, o.remote_mta.is_none()), (status("5.2.3"), true));
        let o = Outcome::from_legacy(
            "4.4.1 mx[127.0.0.1]:25: Connection refused",
            Class::Transient,
        );
        assert_eq!(o.status, status("4.4.1"));
        assert_eq!(o.text, "mx[127.0.0.1]:25: Connection refused");
        assert_eq!(o.reply, None);
        // The status agrees with where the recipient is: a 4.4.7 that bounced is a 5.4.7.
        let o = Outcome::from_legacy(
            "4.4.7 gave up after 2 attempts; last error: 4.4.1 refused",
            Class::Permanent,
        );
        assert_eq!(o.status, status("5.4.7"));
        // A status anywhere in the text, or none at all.
        let o = Outcome::from_legacy("mx[::1]:25: 554 5.7.1 go away", Class::Transient);
        assert_eq!(o.status, status("4.7.1"));
        let o = Outcome::from_legacy("connection refused", Class::Transient);
        assert_eq!(o.to_string(), "4.0.0 connection refused");
        // "(at" that is not an MTA stays in the text.
        let o = Outcome::from_legacy("5.1.1 look (at me) now", Class::Permanent);
        assert_eq!((o.text.as_str(), o.remote_mta), ("look (at me) now", None));
    }

    #[test]
    fn serde_round_trip() {
        let o = Outcome::replied(Reply::received(550, "5.1.1 unknown"), "refused at RCPT TO").at(
            RemoteMta::new("mx.x.test", "127.0.0.1:25".parse().expect("addr")),
        );
        let json = serde_json::to_string(&o).expect("json");
        assert_eq!(
            json,
            r#"{"status":"5.1.1","text":"refused at RCPT TO","reply":{"code":550,"enhanced":"5.1.1","lines":["unknown"]},"remote_mta":{"host":"mx.x.test","address":"127.0.0.1:25"}}"#
        );
        assert_eq!(serde_json::from_str::<Outcome>(&json).expect("back"), o);
    }
}
