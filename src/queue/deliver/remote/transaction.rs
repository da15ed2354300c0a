//! One mail transaction on an open session (RFC 5321 §3.3): MAIL, every RCPT of the domain job,
//! DATA and the message, with a result per recipient.
//!
//! When the next hop offers PIPELINING (RFC 2920), the commands from MAIL to DATA — with a kept
//! connection's RSET in front — go out in one write and their replies are read in order (§3.1:
//! DATA ends the group). A message then costs two round trips instead of four or more (RSET,
//! MAIL, each RCPT, DATA, the message), as with Postfix's SMTP client. Without PIPELINING every
//! command waits for its reply.

use std::fmt;

use lettre::transport::smtp::response::Response;

use super::client::{lettre_outcome, reply_of, temp, Accepted, Outgoing, RcptResult, Session};
use crate::proto::mail::{Class, Outcome, Status};
use crate::proto::smtp::xtext;

/// Command lines written together, each ended by CRLF.
struct Group<'a>(&'a [String]);

impl fmt::Display for Group<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|l| write!(f, "{l}\r\n"))
    }
}

/// Where the envelope left the transaction.
enum Envelope {
    /// DATA was taken (354): the message goes next; one entry per RCPT, `Err` for a refused one.
    Data(Vec<Result<(), Outcome>>),
    /// Decided without a message: every recipient's result.
    Done(Vec<RcptResult>),
}

/// The transaction; `Err` means nothing was decided for any recipient (the connection is then
/// not to be reused).
pub(super) async fn run(s: &mut Session, out: &Outgoing<'_>) -> Result<Vec<RcptResult>, Outcome> {
    // Never a bare CR or LF on the wire (RFC 5321 §2.3.8), whatever the queue file holds: a
    // `\n.\n` in it would end the data early at a lenient next hop and smuggle the rest in as a
    // second message from this server. lettre dot-stuffs only after CRLF, so it must see CRLF.
    let body = crate::proto::smtp::lineends::canonical(out.body);
    let dsn = s.has("DSN");
    let mail = mail_line(s, out, body.len())?;
    let rcpts: Vec<String> = out.recipients.iter().map(|r| rcpt_line(r, dsn)).collect();
    let envelope = if s.has("PIPELINING") {
        pipelined(s, mail, &rcpts).await?
    } else {
        one_by_one(s, mail, &rcpts).await?
    };
    let results = match envelope {
        Envelope::Data(results) => results,
        Envelope::Done(results) => return Ok(results),
    };
    message(s, &body, results, dsn).await
}

/// `MAIL FROM:<…>` with the parameters the next hop understands; REQUIRETLS refuses a next
/// hop without it (RFC 8689 §4.2).
fn mail_line(s: &Session, out: &Outgoing<'_>, size: usize) -> Result<String, Outcome> {
    let mut mail = format!("MAIL FROM:<{}>", out.sender);
    if s.has("SIZE") {
        mail.push_str(&format!(" SIZE={size}"));
    }
    if !out.body.is_ascii() && s.has("8BITMIME") {
        mail.push_str(" BODY=8BITMIME");
    }
    if out.smtputf8 && s.has("SMTPUTF8") {
        mail.push_str(" SMTPUTF8");
    }
    if s.has("DSN") {
        if let Some(ret) = out.dsn_ret {
            mail.push_str(&format!(" RET={ret}"));
        }
        if let Some(envid) = out.dsn_envid {
            mail.push_str(&format!(" ENVID={}", xtext::encode(envid)));
        }
    }
    if out.requiretls {
        if !s.has("REQUIRETLS") {
            return Err(Outcome::new(
                Status::new(Class::Permanent, 7, 30),
                "REQUIRETLS support required, but the next hop does not offer REQUIRETLS",
            ));
        }
        mail.push_str(" REQUIRETLS");
    }
    Ok(mail)
}

/// `RCPT TO:<…>` with its DSN parameters when the next hop speaks DSN.
fn rcpt_line(r: &super::client::OutRcpt<'_>, dsn: bool) -> String {
    let mut line = format!("RCPT TO:<{}>", r.address);
    if dsn {
        if let Some(n) = r.notify {
            line.push_str(&format!(" NOTIFY={n}"));
        }
        if let Some(o) = r.orcpt {
            line.push_str(&format!(" ORCPT={}", xtext::encode(o)));
        }
    }
    line
}

/// A RCPT's reply as its entry; `Err` when the connection broke (nothing decided for anyone).
fn rcpt_result(reply: Result<Response, Outcome>) -> Result<Result<(), Outcome>, Outcome> {
    match reply {
        Ok(_) => Ok(Ok(())),
        Err(f) if f.reply.is_some() => Ok(Err(f)),
        Err(f) => Err(f),
    }
}

/// Every command after the reply to the one before.
async fn one_by_one(s: &mut Session, mail: String, rcpts: &[String]) -> Result<Envelope, Outcome> {
    s.cmd(mail, "MAIL FROM").await?;
    let mut results = Vec::with_capacity(rcpts.len());
    for line in rcpts {
        results.push(rcpt_result(s.cmd(line.clone(), "RCPT TO").await)?);
    }
    if results.iter().all(|r| r.is_err()) {
        let _ = s.cmd("RSET".into(), "RSET").await;
        return Ok(Envelope::Done(fail_accepted(results, None)));
    }
    match s.cmd("DATA".into(), "DATA").await {
        Ok(_) => Ok(Envelope::Data(results)),
        Err(f) if f.reply.is_some() => Ok(Envelope::Done(fail_accepted(results, Some(f)))),
        Err(f) => Err(f),
    }
}

/// RFC 2920: [RSET,] MAIL, every RCPT and DATA in one write, then their replies in order.
async fn pipelined(s: &mut Session, mail: String, rcpts: &[String]) -> Result<Envelope, Outcome> {
    let reset = std::mem::take(&mut s.reset_pending);
    let mut group = Vec::with_capacity(rcpts.len() + 3);
    if reset {
        group.push("RSET".to_string());
    }
    group.push(mail);
    group.extend(rcpts.iter().cloned());
    group.push("DATA".to_string());
    let first = s
        .write_then_reply(Group(&group), if reset { "RSET" } else { "MAIL FROM" })
        .await;
    let mail_reply = if reset {
        // A kept connection that does not take RSET decides nothing: a new one will.
        if let Err(f) = first {
            return Err(f.with_class(Class::Transient));
        }
        s.reply("MAIL FROM").await
    } else {
        first
    };
    // A refused MAIL fails the transaction as it does without pipelining (the connection is
    // not reused, so the replies still due need not be read).
    mail_reply?;
    let mut results = Vec::with_capacity(rcpts.len());
    for _ in rcpts {
        let reply = s.reply("RCPT TO").await;
        results.push(rcpt_result(reply)?);
    }
    match s.reply("DATA").await {
        Ok(_) if results.iter().all(|r| r.is_err()) => {
            // DATA taken with no recipient (§3.1 says a server must refuse it): a lone dot
            // ends the empty message.
            let _ = s.cmd(".".into(), "end of DATA").await;
            Ok(Envelope::Done(fail_accepted(results, None)))
        }
        Ok(_) => Ok(Envelope::Data(results)),
        // Refused (with no recipient taken, the RCPT refusals stand as they are).
        Err(f) if f.reply.is_some() => Ok(Envelope::Done(fail_accepted(results, Some(f)))),
        Err(f) => Err(f),
    }
}

/// The message after DATA's 354, and the reply at its end for every recipient taken.
async fn message(
    s: &mut Session,
    body: &[u8],
    results: Vec<Result<(), Outcome>>,
    dsn: bool,
) -> Result<Vec<RcptResult>, Outcome> {
    // lettre adds the final CRLF . CRLF: give it the body without its last line end.
    let body = body.strip_suffix(b"\r\n").unwrap_or(body);
    let sent = tokio::time::timeout(s.command, s.conn.message(body)).await;
    let broken = Status::new(Class::Transient, 4, 2);
    match sent {
        Ok(Ok(reply)) => {
            let outcome =
                Outcome::replied(reply_of(&reply), "accepted at end of DATA").at(s.peer.clone());
            Ok(results
                .into_iter()
                .map(|r| {
                    r.map(|()| Accepted {
                        outcome: outcome.clone(),
                        dsn,
                    })
                })
                .collect())
        }
        Ok(Err(e)) if e.status().is_some() => Ok(fail_accepted(
            results,
            Some(lettre_outcome(&e, "end of DATA", broken)),
        )),
        Ok(Err(e)) => Err(Outcome::new(
            broken,
            format!("connection lost after DATA: {e}"),
        )),
        Err(_) => Err(Outcome::new(
            broken,
            "timeout waiting for the reply to end of DATA",
        )),
    }
}

/// The DATA stage failed (or was not reached: `None`, every RCPT was refused): every recipient
/// accepted at RCPT gets that failure.
fn fail_accepted(results: Vec<Result<(), Outcome>>, f: Option<Outcome>) -> Vec<RcptResult> {
    let f = f.unwrap_or_else(|| temp(0, 0, "no recipient accepted"));
    results
        .into_iter()
        .map(|r| r.and_then(|()| Err(f.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic
    use super::super::client::reply_outcome;
    use super::*;

    #[test]
    fn data_failure_applies_to_accepted_only() {
        let f = reply_outcome(554, "5.6.0 no", "end of DATA");
        let refused = reply_outcome(550, "5.1.1 unknown", "RCPT TO");
        let got = fail_accepted(vec![Ok(()), Err(refused.clone())], Some(f.clone()));
        assert_eq!(got, vec![Err(f), Err(refused)]);
    }

    #[test]
    fn a_group_is_one_write_of_crlf_lines() {
        let lines = vec![
            "RSET".to_string(),
            "MAIL FROM:<a@b>".to_string(),
            "DATA".to_string(),
        ];
        assert_eq!(
            Group(&lines).to_string(),
            "RSET\r\nMAIL FROM:<a@b>\r\nDATA\r\n"
        );
    }
}
