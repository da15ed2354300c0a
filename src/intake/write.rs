//! From a checked submission to a durable message: the trace header and the envelope
//! ([`prepare`]), the write ([`write`]: local recipients into their mailboxes when simple,
//! [`super::local`], the spool for whatever is left), and the log lines once it is durable
//! ([`announce`]).

use super::local::{self, Now};
use super::{check, trace, Accepted, Origin, RecipientRefusals, Refusal, StoreError, Submission};
use crate::config::Config;
use crate::events::event;
use crate::queue::deliver::Deliverer;
use crate::queue::routing::addresses;
use crate::queue::spool::{self, Area, Envelope, QueueId, RecipientStatus};
use crate::receive::policy::restrictions::log_refused;
use crate::store::users::Users;

/// A message ready to be written.
pub(super) struct Prepared {
    pub id: QueueId,
    origin: Origin,
    envelope: Envelope,
    /// The trace header (empty for none).
    header: String,
    data: Vec<u8>,
    refused: RecipientRefusals,
}

/// A message durably written.
pub(super) struct Written {
    pub id: QueueId,
    origin: Origin,
    envelope: Envelope,
    refused: RecipientRefusals,
    /// Recipients (indexes) already in their mailboxes.
    delivered: Vec<usize>,
    /// Whether a queue entry holds the rest.
    pub queued: bool,
    /// The mailbox each delivered recipient went to.
    mailboxes: Vec<(usize, String)>,
    /// The message's Message-ID, for the log.
    message_id: Option<String>,
    /// The recipient's Sieve script refused it in protocol: nothing was stored.
    pub refusal: Option<Refusal>,
}

/// The Message-ID header's value (at most 250 characters), for the log.
fn message_id(data: &[u8]) -> Option<String> {
    use mailparse::MailHeaderMap;
    let (headers, _) = mailparse::parse_headers(data).ok()?;
    let value = headers.get_first_value("Message-ID")?;
    let value = value.trim();
    (!value.is_empty()).then(|| value.chars().take(250).collect())
}

/// Screen `sub` and make its id, trace header and envelope.
pub(super) fn prepare(
    config: &Config,
    users: &Users,
    sub: Submission,
) -> Result<Prepared, Refusal> {
    let (recipients, refused) = check::screen(config, users, &sub)?;
    let recipients = expand_aliases(config, users, recipients);
    let id = QueueId::generate();
    let time = spool::now();
    let origin = sub.origin;
    let header = trace::header(&origin, &config.server.hostname, &id, &sub.recipients, time);
    let (helo, trusted, auth_user) = origin.sender_facts();
    let (dsn_ret, dsn_envid) = origin.dsn();
    let envelope = Envelope {
        sender: sub.sender,
        recipients,
        received: time,
        origin: origin.spooled(),
        client: origin.client_ip().map(|ip| ip.to_string()),
        helo,
        trusted,
        auth_user,
        size: (header.len() + sub.data.len()) as u64,
        smtputf8: origin.smtputf8(&sub.data),
        dsn_ret,
        dsn_envid,
        quarantine: None,
        requiretls: origin.requiretls(),
    };
    Ok(Prepared {
        id,
        origin,
        envelope,
        header,
        data: sub.data,
        refused,
    })
}

impl Prepared {
    /// Park the message in `hold/` when written (a milter quarantined it, for `why`).
    pub(super) fn hold(&mut self, why: String) {
        self.envelope.quarantine = Some(why);
    }
}

/// Each pending recipient that is an alias replaced by the addresses it expands to
/// ([`crate::queue::routing::expand`]), each address once; the others as they are.
fn expand_aliases(
    config: &Config,
    users: &Users,
    recipients: Vec<spool::Recipient>,
) -> Vec<spool::Recipient> {
    let mut out: Vec<spool::Recipient> = Vec::with_capacity(recipients.len());
    for r in recipients {
        if r.status != RecipientStatus::Pending {
            out.push(r);
            continue;
        }
        let expanded = crate::queue::routing::expand(config, users, &r.address);
        if expanded.len() == 1 && expanded.first() == Some(&r.address) {
            out.push(r);
            continue;
        }
        for address in expanded {
            let seen = out.iter().any(|o| {
                o.status == RecipientStatus::Pending && o.address.eq_ignore_ascii_case(&address)
            });
            if !seen {
                // Sieve's `envelope "to"` is the address as given (RFC 5228 §5.4).
                let expanded_from = (!address.eq_ignore_ascii_case(&r.address))
                    .then(|| r.expanded_from.clone().unwrap_or_else(|| r.address.clone()));
                out.push(spool::Recipient {
                    expanded_from,
                    address,
                    ..r.clone()
                });
            }
        }
    }
    out
}

/// Write `p` durably: with `deliver_now`, its local recipients into their mailboxes when that is
/// simple, then whatever is left (or all of it) into the spool. Blocking.
pub(super) fn write(d: &Deliverer, p: Prepared, deliver_now: bool) -> Result<Written, StoreError> {
    let Prepared {
        id,
        origin,
        mut envelope,
        header,
        data,
        refused,
    } = p;
    let held = envelope.quarantine.is_some();
    let now = if deliver_now && origin.may_deliver_now() && !held {
        let mut message = Vec::with_capacity(header.len() + data.len());
        message.extend_from_slice(header.as_bytes());
        message.extend_from_slice(&data);
        local::deliver(d, &id, &envelope, &message, origin.may_refuse_in_protocol())
    } else {
        Now::default()
    };
    if let Some(reason) = &now.refused {
        let reply = crate::queue::deliver::outcomes::refused_by_filter_reply(reason);
        return Ok(Written {
            id,
            origin,
            envelope,
            refused,
            delivered: Vec::new(),
            queued: false,
            mailboxes: Vec::new(),
            message_id: message_id(&data),
            refusal: Some(Refusal::Sieve { reply }),
        });
    }
    for &i in &now.delivered {
        if let Some(r) = envelope.recipients.get_mut(i) {
            r.status = RecipientStatus::Delivered;
        }
    }
    let left = envelope
        .recipients
        .iter()
        .any(|r| r.status != RecipientStatus::Delivered);
    let area = if held { Area::Hold } else { Area::Queue };
    if left {
        if let Err(e) = d
            .spool
            .store_in(area, &id, &envelope, &[header.as_bytes(), &data])
        {
            now.take_back();
            return Err(e.into());
        }
    }
    Ok(Written {
        id,
        origin,
        envelope,
        refused,
        delivered: now.delivered,
        queued: left && !held,
        mailboxes: now.mailboxes,
        message_id: message_id(&data),
        refusal: None,
    })
}

/// Log the accepted message (`message_received`), the deliveries made on the way in and the
/// recipients that refused it.
pub(super) fn announce(w: &Written) {
    let e = event("message_received")
        .field("id", &w.id)
        .field("from", &w.envelope.sender)
        .field("to", addresses(&w.envelope.recipients))
        .field("size", w.envelope.size)
        .opt("message_id", w.message_id.as_ref())
        .opt("held", w.envelope.quarantine.as_ref());
    w.origin.describe(e).emit();
    for &i in &w.delivered {
        let Some(r) = w.envelope.recipients.get(i) else {
            continue;
        };
        let mailbox = w.mailboxes.iter().find(|(j, _)| *j == i);
        delivered_event(
            &w.id,
            &w.envelope.sender,
            &r.address,
            mailbox.map(|(_, user)| user.as_str()),
        )
        .emit();
    }
    log_refused(&w.id, &w.envelope.recipients);
}

impl Written {
    pub(super) fn accepted(self) -> Accepted {
        Accepted {
            id: self.id,
            refused: self.refused,
            delivered: self.delivered.len(),
            queued: self.queued,
        }
    }
}

/// The `delivered` event of a local delivery: `to=` the mailbox, `orig_to=` the address
/// (Postfix's `to=`/`orig_to=`); without a mailbox (a relay), `to=` the address.
pub(crate) fn delivered_event(
    id: &impl std::fmt::Display,
    sender: &str,
    address: &str,
    mailbox: Option<&str>,
) -> crate::events::Event {
    let e = event("delivered").field("id", id).field("from", sender);
    match mailbox {
        Some(user) => e.field("to", user).field("orig_to", address),
        None => e.field("to", address),
    }
}
