//! Sending delivery status notifications from the queue runner: failures as soon as they are
//! final (each recipient reported once), a delay warning once when `remote.delay_warning` passes,
//! success reports in the attempt that delivered (NOTIFY=SUCCESS).
//! The notification goes in through the intake like any message, from `<>` (no filter, no
//! trace header), into the spool, and is tried at once.

use super::dsn::{self, Action, Entry, Kind, Report};
use super::{outcomes, Deliverer};
use crate::events::event;
use crate::intake::{self, Origin, Record, Submission};
use crate::proto::mail::Outcome;
use crate::queue::spool::{LockedMessage, QueueId, Recipient, RecipientStatus};

/// A recipient delivered in this attempt whose NOTIFY asked to hear about it.
pub struct Success {
    pub index: usize,
    pub action: Action,
    pub outcome: Outcome,
}

/// The entry of recipient `i` with its last outcome.
fn entry(msg: &LockedMessage, i: usize, action: Action) -> Option<Entry<'_>> {
    let r = msg.msg.state.recipients.get(i)?;
    Some(Entry {
        recipient: r,
        action,
        outcome: r.outcome.clone().unwrap_or_else(outcomes::unknown_failure),
    })
}

/// Report every failed recipient not reported yet.
pub fn failures(d: &Deliverer, msg: &mut LockedMessage, body: &[u8], now: u64) {
    let state = &msg.msg.state;
    let fresh: Vec<usize> = state
        .recipients
        .iter()
        .enumerate()
        .filter(|(i, r)| r.status == RecipientStatus::Failed && !state.reported.contains(i))
        .map(|(i, _)| i)
        .collect();
    if fresh.is_empty() {
        return;
    }
    let entries: Vec<Entry<'_>> = fresh
        .iter()
        .filter(|&&i| {
            state
                .recipients
                .get(i)
                .is_some_and(|r| dsn::wants(r, Kind::Failure))
        })
        .filter_map(|&i| entry(msg, i, Action::Failed))
        .collect();
    send(d, msg, body, now, Kind::Failure, entries);
    msg.msg.state.reported.extend(fresh);
}

/// Warn once about recipients still pending after `remote.delay_warning`.
pub fn delay(d: &Deliverer, msg: &mut LockedMessage, body: &[u8], now: u64) {
    let Some(after) = d.config.remote.delay_warning else {
        return;
    };
    if msg.msg.state.warned || now.saturating_sub(msg.msg.envelope.received) < after.0 {
        return;
    }
    let entries: Vec<Entry<'_>> = msg
        .msg
        .state
        .recipients
        .iter()
        .enumerate()
        .filter(|(_, r)| r.status == RecipientStatus::Pending && dsn::wants(r, Kind::Delay))
        .filter_map(|(i, _)| entry(msg, i, Action::Delayed))
        .collect();
    send(d, msg, body, now, Kind::Delay, entries);
    msg.msg.state.warned = true;
}

/// Report the recipients delivered in this attempt that asked for it (NOTIFY=SUCCESS).
pub fn successes(d: &Deliverer, msg: &LockedMessage, body: &[u8], now: u64, done: &[Success]) {
    let entries: Vec<Entry<'_>> = done
        .iter()
        .filter_map(|s| {
            Some(Entry {
                recipient: msg.msg.state.recipients.get(s.index)?,
                action: s.action,
                outcome: s.outcome.clone(),
            })
        })
        .collect();
    send(d, msg, body, now, Kind::Success, entries);
}

/// Store a notification with `entries` for the message's sender (unless it is `<>` or a
/// notification itself) and try it at once.
pub fn send(
    d: &Deliverer,
    msg: &LockedMessage,
    body: &[u8],
    now: u64,
    kind: Kind,
    entries: Vec<Entry<'_>>,
) {
    let m = &msg.msg;
    if entries.is_empty() || !dsn::may_notify(&m.envelope) {
        return;
    }
    let bytes = dsn::render(&Report {
        kind,
        reporting_mta: &d.config.server.hostname,
        postmaster: &d.config.server.postmaster,
        id: &m.id,
        envelope: &m.envelope,
        entries,
        original: body,
        now,
        retry_until: (kind == Kind::Delay)
            .then(|| m.envelope.received + d.config.delivery.lifetime.0),
    });
    let sub = Submission {
        origin: Origin::Notification,
        sender: String::new(),
        recipients: vec![Recipient::new(m.envelope.sender.clone())],
        data: bytes,
    };
    let mut record = Sent {
        kind,
        of: &m.id,
        to: &m.envelope.sender,
    };
    let Ok(outcome) = intake::accept_notification(d, sub, &mut record);
    let why = match outcome {
        intake::Outcome::Accepted(_) => return,
        intake::Outcome::Failed(e) => e.to_string(),
        intake::Outcome::Refused(r) => r.text(),
    };
    event("delivery_error")
        .field("id", &m.id)
        .field("error", format!("cannot queue the notification: {why}"))
        .emit();
}

/// Logs a notification as sent once it is durable, before its first attempt.
struct Sent<'a> {
    kind: Kind,
    of: &'a QueueId,
    to: &'a str,
}

impl Record for Sent<'_> {
    type Error = std::convert::Infallible;

    fn after(&mut self, id: &QueueId) -> Result<(), Self::Error> {
        event(match self.kind {
            Kind::Failure => "bounced",
            Kind::Delay => "delay_warned",
            Kind::Success => "success_reported",
        })
        .field("id", self.of)
        .field("dsn", id)
        .field("to", self.to)
        .emit();
        Ok(())
    }
}

impl Deliverer {
    /// `queue abort`: remove a locked message; with `bounce`, first tell the sender about every
    /// recipient not yet delivered.
    pub fn abort(
        &self,
        mut msg: LockedMessage,
        bounce: bool,
    ) -> Result<(), crate::queue::spool::SpoolError> {
        if bounce {
            let body = msg.read_body()?;
            let mut wanted = Vec::new();
            for (i, r) in msg.msg.state.recipients.iter_mut().enumerate() {
                if r.status == RecipientStatus::Pending {
                    r.status = RecipientStatus::Failed;
                    r.outcome = Some(outcomes::aborted(r.outcome.take()));
                    if dsn::wants(r, Kind::Failure) {
                        wanted.push(i);
                    }
                }
            }
            let entries = wanted
                .iter()
                .filter_map(|&i| entry(&msg, i, Action::Failed))
                .collect();
            send(
                self,
                &msg,
                &body,
                crate::queue::spool::now(),
                Kind::Failure,
                entries,
            );
        }
        let id = msg.msg.id.clone();
        msg.remove(&self.spool)?;
        event("aborted")
            .field("id", &id)
            .field("bounce", bounce)
            .emit();
        Ok(())
    }
}
