//! The envelope of a queued message and its per-recipient delivery state.

use serde::{Deserialize, Serialize};

use crate::proto::mail::{Class, Outcome};

/// What happened to one recipient so far.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum RecipientStatus {
    #[default]
    Pending,
    Delivered,
    Failed,
}

/// One envelope recipient.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(from = "RecipientFile")]
pub struct Recipient {
    /// The address as given in RCPT TO (or by routing), without angle brackets.
    pub address: String,
    pub status: RecipientStatus,
    /// What the last attempt came to (or why the recipient was refused at intake).
    pub outcome: Option<Outcome>,
    /// RFC 3461 ORCPT, when given.
    pub orcpt: Option<String>,
    /// RFC 3461 NOTIFY, when given (e.g. "FAILURE,DELAY").
    pub notify: Option<String>,
    /// The address as RCPT TO (or sendmail) gave it, when an alias of ours expanded it into
    /// this one: what Sieve's `envelope "to"` shows (RFC 5228 §5.4: the RCPT command that
    /// caused the delivery).
    pub expanded_from: Option<String>,
}

impl Recipient {
    pub fn new(address: impl Into<String>) -> Recipient {
        Recipient {
            address: address.into(),
            status: RecipientStatus::Pending,
            outcome: None,
            orcpt: None,
            notify: None,
            expanded_from: None,
        }
    }

    /// The last outcome as one line, unless it was a success.
    pub fn last_error(&self) -> Option<String> {
        self.outcome
            .as_ref()
            .filter(|o| o.class() != Class::Success)
            .map(Outcome::to_string)
    }
}

/// A recipient as the spool writes it: the typed outcome, and beside it the same as one line
/// (`last_error`) for people and for `queue show --json`. Files written by version 0.1 have only
/// `last_error`; the outcome is read back from it ([`Outcome::from_legacy`]).
#[derive(Serialize, Deserialize)]
struct RecipientFile {
    address: String,
    #[serde(default)]
    status: RecipientStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outcome: Option<Outcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    orcpt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    notify: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expanded_from: Option<String>,
}

impl From<RecipientFile> for Recipient {
    fn from(f: RecipientFile) -> Recipient {
        let class = match f.status {
            RecipientStatus::Pending => Class::Transient,
            RecipientStatus::Delivered => Class::Success,
            RecipientStatus::Failed => Class::Permanent,
        };
        Recipient {
            outcome: f
                .outcome
                .or_else(|| Some(Outcome::from_legacy(&f.last_error?, class))),
            address: f.address,
            status: f.status,
            orcpt: f.orcpt,
            notify: f.notify,
            expanded_from: f.expanded_from,
        }
    }
}

impl Serialize for Recipient {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RecipientFile {
            address: self.address.clone(),
            status: self.status,
            last_error: self.last_error(),
            outcome: self.outcome.clone(),
            orcpt: self.orcpt.clone(),
            notify: self.notify.clone(),
            expanded_from: self.expanded_from.clone(),
        }
        .serialize(s)
    }
}

/// How a message came in.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    #[default]
    Smtp,
    Sendmail,
    Collect,
    Bounce,
}

/// Everything about a queued message except its bytes.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct Envelope {
    /// Reverse-path; empty for the null sender `<>`.
    pub sender: String,
    pub recipients: Vec<Recipient>,
    /// When it was accepted, seconds since the epoch.
    pub received: u64,
    #[serde(default)]
    pub origin: Origin,
    /// Client IP address, when it came over the network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helo: Option<String>,
    /// Whether the sender was trusted (trusted network, listener or authenticated).
    #[serde(default)]
    pub trusted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_user: Option<String>,
    /// Message size in bytes, as stored.
    pub size: u64,
    #[serde(default)]
    pub smtputf8: bool,
    /// RFC 3461 RET (FULL / HDRS) and ENVID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsn_ret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsn_envid: Option<String>,
    /// Why a milter quarantined the message: it was parked in `hold/` on arrival and waits for
    /// `queue release` (or `queue abort`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine: Option<String>,
    /// RFC 8689 REQUIRETLS: only over verified TLS to a next hop that takes REQUIRETLS too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub requiretls: bool,
}

/// The part of a queued message that changes as delivery goes on.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
pub struct DeliveryState {
    /// Delivery attempts made so far.
    pub attempts: u32,
    /// Seconds since the epoch before which no new attempt is made.
    pub next_try: u64,
    /// Per-recipient status, parallel to `Envelope::recipients`.
    #[serde(default)]
    pub recipients: Vec<Recipient>,
    /// Whether a delay warning was already sent.
    #[serde(default)]
    pub warned: bool,
    /// Recipients (indexes) whose failure was already reported to the sender.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reported: Vec<usize>,
    /// The last attempt was deferred because the file system of this directory (a maildir)
    /// was full: the message is due again as soon as it has room, whatever `next_try` says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space_wait: Option<std::path::PathBuf>,
}

impl DeliveryState {
    /// The latest failure, for `queue ls`: the first pending recipient's, else the first one's
    /// that has one.
    pub fn last_outcome(&self) -> Option<&Outcome> {
        let pending = self
            .recipients
            .iter()
            .filter(|r| r.status == RecipientStatus::Pending);
        pending
            .chain(&self.recipients)
            .filter_map(|r| r.outcome.as_ref())
            .find(|o| o.class() != Class::Success)
    }

    /// [`DeliveryState::last_outcome`] as one line.
    pub fn last_error(&self) -> Option<String> {
        self.last_outcome().map(Outcome::to_string)
    }
}

/// The state as the spool writes it, with [`DeliveryState::last_error`] beside the recipients
/// (for people, and for `queue show --json`; read back, it is ignored).
#[derive(Serialize)]
struct StateFile<'a> {
    attempts: u32,
    next_try: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    recipients: &'a [Recipient],
    warned: bool,
    #[serde(skip_serializing_if = "<[usize]>::is_empty")]
    reported: &'a [usize],
    #[serde(skip_serializing_if = "Option::is_none")]
    space_wait: Option<&'a std::path::PathBuf>,
}

impl Serialize for DeliveryState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        StateFile {
            attempts: self.attempts,
            next_try: self.next_try,
            last_error: self.last_error(),
            recipients: &self.recipients,
            warned: self.warned,
            reported: &self.reported,
            space_wait: self.space_wait.as_ref(),
        }
        .serialize(s)
    }
}
