//! Address handler restrictions (largest message, no attachments) and copy-to, applied the same
//! way to every message however it comes in: smtpd after DATA, `postern sendmail`, and collected
//! mail (SPEC §2, seed 000 "Domains & Email Handlers").
//!
//! One recipient's handler refusing a message does not refuse it for the others, as with Postfix
//! when one recipient of a multi-recipient message fails after DATA: the others get it, the
//! refusing recipient is marked failed in the spool and the queue runner sends the sender one
//! delivery status notification for it (RFC 5321 §6.1, RFC 3464). Only when every recipient
//! refuses is the message itself refused: smtpd answers with the first recipient's reply,
//! sendmail exits with it, collect leaves the message on the server. smtpd also refuses a
//! recipient at RCPT already when the SIZE= declared at MAIL is over its handler's limit.

use crate::config::domains::Handler;
use crate::config::Config;
use crate::proto::mail::{Outcome, Reply};
use crate::queue::routing::resolve;
use crate::queue::spool::{Recipient, RecipientStatus};
use crate::store::users::Users;

/// Whether a message has attachments, found out at most once (a MIME scan of the whole message).
struct Attachments<'a> {
    message: &'a [u8],
    known: Option<bool>,
}

impl Attachments<'_> {
    fn any(&mut self) -> bool {
        let message = self.message;
        *self
            .known
            .get_or_insert_with(|| super::mime::scan(message).1.iter().any(|p| p.attachment))
    }
}

/// The reply with which handler `h` of `rcpt` refuses a message of `size` bytes, if it does.
pub fn too_big(h: &Handler, rcpt: &str, size: u64) -> Option<Reply> {
    let max = h.max_size.filter(|m| size > m.0)?;
    Some(Reply::new(
        552,
        "5.2.3",
        format!(
            "<{rcpt}>: Message size exceeds this recipient's limit of {} bytes",
            max.0
        ),
    ))
}

fn refusal(config: &Config, users: &Users, rcpt: &str, att: &mut Attachments<'_>) -> Option<Reply> {
    let h = resolve(config, users, rcpt).ok()?.handler?;
    too_big(h, rcpt, att.message.len() as u64).or_else(|| {
        (h.block_attachments && att.any()).then(|| {
            Reply::new(
                550,
                "5.7.1",
                format!("<{rcpt}> does not accept attachments"),
            )
        })
    })
}

/// The recipients (by index) whose handler refuses `message`, with the reply.
pub fn refusals(
    config: &Config,
    users: &Users,
    recipients: &[&str],
    message: &[u8],
) -> Vec<(usize, Reply)> {
    let mut att = Attachments {
        message,
        known: None,
    };
    recipients
        .iter()
        .enumerate()
        .filter_map(|(i, r)| refusal(config, users, r, &mut att).map(|reply| (i, reply)))
        .collect()
}

/// A reply as one line of text (for the spool's last error and for messages on stderr).
pub fn reply_text(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.to_bytes())
        .trim_end()
        .replace("\r\n", " ")
}

/// The spool recipients of an accepted message: `recipients` in order, those in `refused` marked
/// failed with their reply (to be bounced), then the copy-to addresses of the handlers of the
/// others — copies of copies too, each address once, at most `limits.recipients` of them, and
/// none whose own handler refuses the message (a copy is not the sender's to hear about).
pub fn envelope(
    config: &Config,
    users: &Users,
    mut recipients: Vec<Recipient>,
    refused: &[(usize, Reply)],
    message: &[u8],
) -> Vec<Recipient> {
    for (i, reply) in refused {
        if let Some(r) = recipients.get_mut(*i) {
            r.status = RecipientStatus::Failed;
            r.outcome = Some(Outcome::replied(reply.clone(), "refused on arrival"));
        }
    }
    // The same address twice (RCPT repeated, To and Bcc of `sendmail -t`) is one recipient,
    // the first with its parameters (a repeat has the same restrictions, so the same verdict).
    let mut firsts: Vec<String> = Vec::with_capacity(recipients.len());
    recipients.retain(|r| {
        let key = r.address.to_ascii_lowercase();
        let first = !firsts.contains(&key);
        if first {
            firsts.push(key);
        }
        first
    });
    let mut att = Attachments {
        message,
        known: None,
    };
    let mut seen: Vec<String> = recipients.iter().map(|r| r.address.clone()).collect();
    let mut queue: Vec<String> = recipients
        .iter()
        .filter(|r| r.status == RecipientStatus::Pending)
        .map(|r| r.address.clone())
        .collect();
    let mut added = 0;
    let mut i = 0;
    while let Some(next) = queue.get(i).filter(|_| added < config.limits.recipients) {
        let copy = resolve(config, users, next)
            .ok()
            .and_then(|r| r.handler?.copy_to.clone());
        i += 1;
        let Some(copy) = copy else { continue };
        if seen.iter().any(|a| a.eq_ignore_ascii_case(&copy)) {
            continue;
        }
        seen.push(copy.clone());
        if refusal(config, users, &copy, &mut att).is_some() {
            continue;
        }
        recipients.push(Recipient::new(copy.clone()));
        queue.push(copy);
        added += 1;
    }
    recipients
}

/// Log the recipients of queued message `id` that refused it (marked failed by [`envelope`]).
pub fn log_refused(id: &impl std::fmt::Display, recipients: &[Recipient]) {
    for r in recipients
        .iter()
        .filter(|r| r.status == RecipientStatus::Failed)
    {
        crate::events::event("recipient_refused")
            .field("id", id)
            .field("to", &r.address)
            .opt("reason", r.outcome.as_ref().and_then(|o| o.reply.as_ref()))
            .field("action", "bounced to the sender")
            .emit();
    }
}

/// A message's recipients after its handlers had their say.
#[derive(Debug)]
pub struct Screened {
    /// For the spool ([`envelope`]): refused ones marked failed, copies added.
    pub recipients: Vec<Recipient>,
    /// The refused addresses, with the reply.
    pub refused: Vec<(String, Reply)>,
    /// Every given recipient refuses: the message should not be queued at all.
    pub all_refused: bool,
}

/// [`refusals`] and [`envelope`] in one, for local submission and collected mail.
pub fn screen(
    config: &Config,
    users: &Users,
    recipients: Vec<Recipient>,
    message: &[u8],
) -> Screened {
    let addrs: Vec<&str> = recipients.iter().map(|r| r.address.as_str()).collect();
    let refused = refusals(config, users, &addrs, message);
    let all_refused = !recipients.is_empty() && refused.len() == recipients.len();
    let named = refused
        .iter()
        .filter_map(|(i, reply)| Some((recipients.get(*i)?.address.clone(), reply.clone())))
        .collect();
    Screened {
        recipients: envelope(config, users, recipients, &refused, message),
        refused: named,
        all_refused,
    }
}

#[cfg(test)]
mod tests;
