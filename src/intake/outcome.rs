//! What became of a submitted message, typed, so that each way in answers on its own surface
//! (an SMTP reply, sendmail's exit code, collect's skip, keep and journal) from the same facts.

use crate::proto::smtp::Reply;
use crate::queue::spool::{QueueId, SpoolError};
use crate::receive::policy::restrictions::reply_text;

/// Recipients that refuse a message, each with its reply.
pub type RecipientRefusals = Vec<(String, Reply)>;

/// What became of one submission.
#[derive(Debug)]
pub enum Outcome {
    /// Durably taken (in its recipients' mailboxes, in the spool, or both).
    Accepted(Accepted),
    /// Not taken; nothing was written.
    Refused(Refusal),
    /// Could not be stored: a local, temporary failure; nothing was delivered.
    Failed(StoreError),
}

/// A message the intake took.
#[derive(Debug)]
pub struct Accepted {
    /// Its id: in the trace header, in the spool, in the names of its maildir files.
    pub id: QueueId,
    /// Recipients whose handler refused it: marked failed in the spool, the sender gets a
    /// delivery status notification (RFC 3464) from the queue runner.
    pub refused: RecipientRefusals,
    /// Recipients written to their mailboxes before the message was acknowledged.
    pub delivered: usize,
    /// Whether a queue entry holds the rest (remote recipients, retries, notifications).
    pub queued: bool,
}

/// Why a message was not taken.
#[derive(Debug, Clone)]
pub enum Refusal {
    /// The content filter refused it, for good or (`temporary`) for now.
    Filter { reply: Reply, temporary: bool },
    /// The sender's domain does not authenticate it (DMARC), for good or (`temporary`: a DNS
    /// failure) for now.
    Authentication { reply: Reply, temporary: bool },
    /// Every recipient's handler refuses it (size limit, attachments): each with its reply.
    Recipients(RecipientRefusals),
    /// The recipient's Sieve script refused it (`reject`/`ereject`, RFC 5429 §2.1.1) during a
    /// single-recipient SMTP transaction: `550 5.7.1` with the script's reason.
    Sieve { reply: Reply },
}

impl Refusal {
    /// The reply for the message as a whole (for several recipients: the first one's).
    pub fn reply(&self) -> Reply {
        match self {
            Refusal::Filter { reply, .. }
            | Refusal::Authentication { reply, .. }
            | Refusal::Sieve { reply } => reply.clone(),
            Refusal::Recipients(list) => list
                .first()
                .map(|(_, r)| r.clone())
                .unwrap_or_else(|| Reply::new(554, "5.5.1", "No valid recipients")),
        }
    }

    /// Whether trying again later may succeed (the filter's temporary verdict).
    pub fn is_temporary(&self) -> bool {
        matches!(
            self,
            Refusal::Filter {
                temporary: true,
                ..
            } | Refusal::Authentication {
                temporary: true,
                ..
            }
        )
    }

    /// [`Refusal::reply`] as one line of text (for a log or standard error).
    pub fn text(&self) -> String {
        reply_text(&self.reply())
    }
}

/// Why an accepted message could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error("internal error: {0}")]
    Internal(String),
}
