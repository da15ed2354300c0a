//! Sending delivery status notifications from the queue runner: failures as soon as they are
//! final (each recipient reported once), a delay warning once when `remote.delay_warning` passes.
//! The notification enters the spool like any message, from `<>`, and is tried at once.

use super::dsn::{self, Entry, Kind, Report};
use super::Deliverer;
use crate::events::event;
use crate::spool::{Envelope, LockedMessage, Origin, Recipient, RecipientStatus};

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
    let wanted: Vec<usize> = fresh
        .iter()
        .copied()
        .filter(|&i| dsn::wants(&state.recipients[i], Kind::Failure))
        .collect();
    send(d, msg, body, now, Kind::Failure, &wanted);
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
    let wanted: Vec<usize> = msg
        .msg
        .state
        .recipients
        .iter()
        .enumerate()
        .filter(|(_, r)| r.status == RecipientStatus::Pending && dsn::wants(r, Kind::Delay))
        .map(|(i, _)| i)
        .collect();
    send(d, msg, body, now, Kind::Delay, &wanted);
    msg.msg.state.warned = true;
}

/// Store a notification about `indexes` for the message's sender (unless it is `<>` or a
/// notification itself) and try it at once.
pub fn send(
    d: &Deliverer,
    msg: &LockedMessage,
    body: &[u8],
    now: u64,
    kind: Kind,
    indexes: &[usize],
) {
    let m = &msg.msg;
    if indexes.is_empty() || !dsn::may_notify(&m.envelope) {
        return;
    }
    let entries: Vec<Entry<'_>> = indexes
        .iter()
        .filter_map(|&i| m.state.recipients.get(i))
        .map(|r| Entry {
            recipient: r,
            reason: r.last_error.as_deref().unwrap_or("5.0.0 delivery failed"),
        })
        .collect();
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
    let envelope = Envelope {
        sender: String::new(),
        recipients: vec![Recipient::new(m.envelope.sender.clone())],
        received: now,
        origin: Origin::Bounce,
        client: None,
        helo: None,
        trusted: true,
        auth_user: None,
        size: bytes.len() as u64,
        smtputf8: false,
        dsn_ret: None,
        dsn_envid: None,
    };
    match d.spool.store(&envelope, &[&bytes]) {
        Ok(id) => {
            event(if kind == Kind::Failure {
                "bounced"
            } else {
                "delay_warned"
            })
            .field("id", &m.id)
            .field("dsn", &id)
            .field("to", &m.envelope.sender)
            .emit();
            if let Err(e) = d.attempt(&id, true) {
                event("delivery_error")
                    .field("id", &id)
                    .field("error", e)
                    .emit();
            }
        }
        Err(e) => event("delivery_error")
            .field("id", &m.id)
            .field("error", format!("cannot queue the notification: {e}"))
            .emit(),
    }
}

impl Deliverer {
    /// `queue abort`: remove a locked message; with `bounce`, first tell the sender about every
    /// recipient not yet delivered.
    pub fn abort(
        &self,
        mut msg: LockedMessage,
        bounce: bool,
    ) -> Result<(), crate::spool::SpoolError> {
        if bounce {
            let body = msg.read_body()?;
            let mut wanted = Vec::new();
            for (i, r) in msg.msg.state.recipients.iter_mut().enumerate() {
                if r.status == RecipientStatus::Pending {
                    r.status = RecipientStatus::Failed;
                    let last = r.last_error.take().unwrap_or_default();
                    r.last_error = Some(
                        format!("5.0.0 message aborted by the administrator {last}")
                            .trim_end()
                            .to_string(),
                    );
                    if dsn::wants(r, Kind::Failure) {
                        wanted.push(i);
                    }
                }
            }
            send(
                self,
                &msg,
                &body,
                crate::spool::now(),
                Kind::Failure,
                &wanted,
            );
        }
        let id = msg.msg.id.clone();
        msg.remove()?;
        event("aborted")
            .field("id", &id)
            .field("bounce", bounce)
            .emit();
        Ok(())
    }
}
