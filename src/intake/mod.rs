//! The intake: the one way a message enters the mail system, however it came — smtpd after DATA,
//! `postern sendmail`, collect's fetched mail, and the queue runner's own delivery status
//! notifications. [`Intake::accept`] owns the whole sequence:
//!
//! 0. for SMTP mail from untrusted clients, DKIM, SPF, ARC and DMARC with one
//!    `Authentication-Results` field, and the DMARC policy applied ([`authres`]);
//! 1. the content filter ([`check::filter`]);
//! 2. DKIM signing of mail leaving for remote domains from trusted senders ([`dkim`]);
//! 3. the handlers' restrictions and copy-to ([`check::screen`]): a recipient that refuses the
//!    message gets a notification, a message every recipient refuses is not taken;
//! 4. the trace header, the only thing that differs by origin ([`trace`], [`Origin`]);
//! 5. the envelope ([`write::prepare`]);
//! 6. the durable write ([`write::write`]): local recipients straight into their maildirs when
//!    that is simple and delivery is immediate ([`local`]), the spool for whatever is left;
//! 7. the caller's own record around the write, if it keeps one ([`Record`]: collect's journal);
//! 8. the `message_received` event ([`write::announce`]);
//! 9. the request for immediate delivery of what was queued ([`Handoff`]).
//!
//! The outcome is typed ([`Outcome`]) so that each way in answers on its own surface. Blocking
//! file work meets async code at one place, [`blocking`] (the runtime's blocking pool); the
//! notifications, sent from inside a (blocking) delivery attempt, take the same steps on their
//! own thread ([`accept_notification`]).
//!
//! Durability: nothing is acknowledged before it is on disk — a maildir file fsynced, linked
//! into `new/` and `new/` fsynced; a queue file fsynced, renamed into `queue/` and `queue/`
//! fsynced. A message whose recipients were all written to their maildirs has no queue entry:
//! there is nothing left to deliver, so a crash at any point cannot deliver it twice; when some
//! recipients could not be written, the message is queued for them with the others marked
//! delivered in the queue file itself.

mod authres;
mod check;
mod dkim;
pub mod filter;
mod handoff;
mod local;
pub mod milter;
mod origin;
mod outcome;
mod trace;
mod write;

use std::sync::Arc;

pub use handoff::{Handoff, Immediate};
pub use origin::Origin;
pub use outcome::{Accepted, Outcome, RecipientRefusals, Refusal, StoreError};
pub(crate) use write::delivered_event;

use crate::events::event;
use crate::queue::deliver::Deliverer;
use crate::queue::spool::{QueueId, Recipient};

/// A message offered to the intake.
#[derive(Debug, Clone)]
pub struct Submission {
    pub origin: Origin,
    /// The reverse-path; empty for `<>`.
    pub sender: String,
    /// As given (SMTP's with their NOTIFY and ORCPT), before the handlers' say.
    pub recipients: Vec<Recipient>,
    /// The message as received, without a trace header of ours.
    pub data: Vec<u8>,
}

/// A caller's own durable record of the messages it hands over (collect's journal): told the
/// id just before the message is written, and just after it is durable — before anything may
/// deliver it. An error stops the sequence there: before the write, nothing is written; after,
/// the message stays queued for the queue runner. Both run beside the write, on the blocking
/// pool (they may write and fsync files of their own).
pub trait Record {
    type Error;
    fn before(&mut self, _id: &QueueId) -> Result<(), Self::Error> {
        Ok(())
    }
    fn after(&mut self, _id: &QueueId) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// No record of the caller's own.
pub struct NoRecord;

impl Record for NoRecord {
    type Error = std::convert::Infallible;
}

/// The intake of one process: what it delivers with and how it hands over.
pub struct Intake {
    deliverer: Arc<Deliverer>,
    handoff: Handoff,
    /// The process's resolver, for the message-authentication checks of SMTP mail.
    resolver: Option<Arc<crate::dns::Resolver>>,
}

impl Intake {
    /// The intake of a process delivering with `deliverer`; `handoff` is how it asks for
    /// immediate delivery (the queue runner only, whatever is given, when
    /// `delivery.immediate` is off).
    pub fn new(deliverer: Arc<Deliverer>, handoff: Handoff) -> Intake {
        let handoff = if deliverer.config.delivery.immediate {
            handoff
        } else {
            Handoff::QueueRunner
        };
        Intake {
            deliverer,
            handoff,
            resolver: None,
        }
    }

    /// This intake, checking the authentication of SMTP mail with `resolver`.
    pub fn with_resolver(mut self, resolver: Arc<crate::dns::Resolver>) -> Intake {
        self.resolver = Some(resolver);
        self
    }

    /// The deliverer behind this intake.
    pub fn deliverer(&self) -> &Arc<Deliverer> {
        &self.deliverer
    }

    /// Take `sub` in: the whole sequence (see the module documentation).
    pub async fn accept(&self, sub: Submission) -> Outcome {
        let Ok(outcome) = self.accept_recorded(sub, NoRecord).await;
        outcome
    }

    /// [`Intake::accept`] with the caller's own `record` kept around the write (on the blocking
    /// pool, with the write).
    pub async fn accept_recorded<R>(
        &self,
        sub: Submission,
        mut record: R,
    ) -> Result<Outcome, R::Error>
    where
        R: Record + Send + 'static,
        R::Error: Send + 'static,
    {
        let d = &self.deliverer;
        let mut sub = match authres::authenticate(&d.config, self.resolver.as_deref(), sub).await {
            Ok(s) => s,
            Err(refusal) => return Ok(Outcome::Refused(refusal)),
        };
        match check::filter(&d.config, &sub).await {
            Ok(Some(modified)) => sub.data = modified,
            Ok(None) => {}
            Err(refusal) => return Ok(Outcome::Refused(refusal)),
        }
        let quarantine = match check::milters(&d.config, &mut sub).await {
            Ok(check::Milted::Take { quarantine }) => quarantine,
            // Discarded: acknowledged, and nothing kept.
            Ok(check::Milted::Discard) => {
                return Ok(Outcome::Accepted(Accepted {
                    id: QueueId::generate(),
                    refused: Vec::new(),
                    delivered: 0,
                    queued: false,
                }))
            }
            Err(refusal) => return Ok(Outcome::Refused(refusal)),
        };
        // Signing, the envelope, the durable write and the handoff take one trip to the
        // blocking pool: a trip costs two thread switches, as much as a fifth of a signed
        // message's CPU. An immediate attempt then stays on the writing thread when a delivery
        // slot is free, after the answer is out (see [`Handoff::after_write`]).
        let signs = dkim::may_sign(&d.config, &sub);
        let deliver_now = self.handoff.immediate();
        let writer = d.clone();
        let handoff = self.handoff.clone();
        let written = blocking_then(move || {
            let users = writer.users.get();
            let sub = if signs {
                dkim::sign(&writer.config, &users, sub)
            } else {
                sub
            };
            // `Ok(Err(outcome))`: refused or not stored, the answer as it is.
            let mut prepared = match write::prepare(&writer.config, &users, sub) {
                Ok(p) => p,
                Err(refusal) => return (Ok(Err(Outcome::Refused(refusal))), None),
            };
            if let Some(why) = quarantine {
                prepared.hold(why);
            }
            if let Err(e) = record.before(&prepared.id) {
                return (Err(e), None);
            }
            let mut written = match write::write(&writer, prepared, deliver_now) {
                Ok(w) => w,
                Err(e) => return (Ok(Err(failed(e))), None),
            };
            if let Some(refusal) = written.refusal.take() {
                return (Ok(Err(Outcome::Refused(refusal))), None);
            }
            if let Err(e) = record.after(&written.id) {
                return (Err(e), None);
            }
            write::announce(&written);
            let then = if written.queued {
                handoff.after_write(&writer, written.id.clone())
            } else {
                None
            };
            (Ok(Ok(written)), then)
        })
        .await;
        match written {
            Ok(Ok(Ok(w))) => Ok(Outcome::Accepted(w.accepted())),
            Ok(Ok(Err(outcome))) => Ok(outcome),
            Ok(Err(e)) => Err(e),
            Err(e) => Ok(failed(e)),
        }
    }
}

/// The intake's steps for a notification, on the calling thread (a delivery attempt, blocking):
/// no filter or screening, into the spool, then one attempt at once.
pub fn accept_notification<R: Record>(
    d: &Deliverer,
    sub: Submission,
    record: &mut R,
) -> Result<Outcome, R::Error> {
    let prepared = match write::prepare(&d.config, &d.users.get(), sub) {
        Ok(p) => p,
        Err(refusal) => return Ok(Outcome::Refused(refusal)),
    };
    record.before(&prepared.id)?;
    let written = match write::write(d, prepared, false) {
        Ok(w) => w,
        Err(e) => return Ok(failed(e)),
    };
    record.after(&written.id)?;
    write::announce(&written);
    handoff::attempt(d, &written.id);
    Ok(Outcome::Accepted(written.accepted()))
}

/// Where the intake's blocking work (signing, the durable write, an attempt on this thread)
/// meets async code: the runtime's blocking pool. `work` returns the answer and what the same
/// thread does next (an immediate attempt), which runs once the answer is on its way.
async fn blocking_then<T: Send + 'static>(
    work: impl FnOnce() -> (T, Option<handoff::Claimed>) + Send + 'static,
) -> Result<T, StoreError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::task::spawn_blocking(move || {
        let (answer, then) = work();
        // The writer may be gone (its client hung up): the message is stored all the same.
        let _ = tx.send(answer);
        if let Some(claimed) = then {
            claimed.run();
        }
    });
    match rx.await {
        Ok(answer) => Ok(answer),
        // The work panicked: the join error says how.
        Err(_) => Err(match task.await {
            Err(e) => StoreError::Internal(e.to_string()),
            Ok(()) => StoreError::Internal("the write ended without an answer".into()),
        }),
    }
}

/// A message that could not be stored: logged, the outcome for the caller.
fn failed(e: StoreError) -> Outcome {
    event("store_failed").field("error", &e).emit();
    Outcome::Failed(e)
}

#[cfg(test)]
mod tests;
