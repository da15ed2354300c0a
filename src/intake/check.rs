//! The checks before anything is written: the content filter ([`crate::intake::filter`]), then the
//! handlers' restrictions and copy-to ([`crate::receive::policy::restrictions`]). Neither applies to a
//! notification.

use super::{RecipientRefusals, Refusal, Submission};
use crate::config::Config;
use crate::intake::filter::{self, Verdict};
use crate::intake::milter;
use crate::proto::mail::Reply;
use crate::proto::milter::{self as codec, Letter};
use crate::queue::spool::Recipient;
use crate::receive::policy::restrictions;
use crate::store::users::Users;

/// The content filter's verdict on `sub` (none: no filter, or not for this origin): its
/// refusal, or the message to keep instead (`modify = true`).
pub(super) async fn filter(config: &Config, sub: &Submission) -> Result<Option<Vec<u8>>, Refusal> {
    let Some(cfg) = config.filter.as_ref().filter(|_| sub.origin.checked()) else {
        return Ok(None);
    };
    let recipients: Vec<String> = sub.recipients.iter().map(|r| r.address.clone()).collect();
    let input = filter::Input {
        sender: &sub.sender,
        recipients: &recipients,
        client: sub.origin.client_ip(),
        origin: sub.origin.name(),
    };
    let max = usize::try_from(config.limits.message_size.0).unwrap_or(usize::MAX);
    match filter::run(cfg, &sub.data, input, max).await {
        Verdict::Accept => Ok(None),
        Verdict::Replace(message) => Ok(Some(message)),
        Verdict::Reject(reply) => Err(Refusal::Filter {
            reply,
            temporary: false,
        }),
        Verdict::TempFail(reply) => Err(Refusal::Filter {
            reply,
            temporary: true,
        }),
    }
}

/// What the milters made of a message they did not refuse.
pub(super) enum Milted {
    /// Go on with it (changed as they asked); parked in `hold/` when a milter quarantined it.
    Take { quarantine: Option<String> },
    /// A milter discarded it.
    Discard,
}

/// What the milters made of `sub`, or their refusal.
pub(super) async fn milters(config: &Config, sub: &mut Submission) -> Result<Milted, Refusal> {
    if config.milters.is_empty() || !sub.origin.checked() {
        return Ok(Milted::Take { quarantine: None });
    }
    let (helo, _, auth_user) = sub.origin.sender_facts();
    let facts = milter::Facts {
        hostname: &config.server.hostname,
        client: sub.origin.client_ip(),
        helo: helo.as_deref(),
        auth_user: auth_user.as_deref(),
    };
    let letter = Letter {
        sender: sub.sender.clone(),
        recipients: sub.recipients.iter().map(|r| r.address.clone()).collect(),
        message: codec::parse(&sub.data),
        quarantine: None,
    };
    let letter = match milter::run(config, &facts, letter).await {
        milter::Verdict::Take(l) => l,
        milter::Verdict::Discard => return Ok(Milted::Discard),
        milter::Verdict::Refuse { reply, temporary } => {
            return Err(Refusal::Filter { reply, temporary })
        }
    };
    let max = usize::try_from(config.limits.message_size.0).unwrap_or(usize::MAX);
    sub.data =
        filter::modified(&letter.message.to_bytes(), max).map_err(|why| Refusal::Filter {
            reply: Reply::new(451, "4.7.1", format!("Milter result unusable: {why}")),
            temporary: true,
        })?;
    sub.sender = letter.sender;
    let mut old = std::mem::take(&mut sub.recipients);
    for address in letter.recipients {
        let kept = old
            .iter()
            .position(|r| r.address.eq_ignore_ascii_case(&address));
        sub.recipients.push(match kept {
            Some(i) => old.swap_remove(i),
            None => Recipient::new(address),
        });
    }
    Ok(Milted::Take {
        quarantine: letter.quarantine,
    })
}

/// The recipients for the envelope after the handlers had their say (those refusing marked
/// failed, copies added), with the refusing ones and their replies; a refusal when every
/// recipient refuses.
pub(super) fn screen(
    config: &Config,
    users: &Users,
    sub: &Submission,
) -> Result<(Vec<Recipient>, RecipientRefusals), Refusal> {
    if !sub.origin.checked() {
        return Ok((sub.recipients.clone(), Vec::new()));
    }
    let screened = restrictions::screen(config, users, sub.recipients.clone(), &sub.data);
    if screened.all_refused {
        return Err(Refusal::Recipients(screened.refused));
    }
    Ok((screened.recipients, screened.refused))
}
