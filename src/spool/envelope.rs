//! The envelope of a queued message and its per-recipient delivery state.

use serde::{Deserialize, Serialize};

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
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct Recipient {
    /// The address as given in RCPT TO (or by routing), without angle brackets.
    pub address: String,
    #[serde(default)]
    pub status: RecipientStatus,
    /// The last reply or error for this recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// RFC 3461 ORCPT, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orcpt: Option<String>,
    /// RFC 3461 NOTIFY, when given (e.g. "FAILURE,DELAY").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<String>,
}

impl Recipient {
    pub fn new(address: impl Into<String>) -> Recipient {
        Recipient {
            address: address.into(),
            status: RecipientStatus::Pending,
            last_error: None,
            orcpt: None,
            notify: None,
        }
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
}

/// The part of a queued message that changes as delivery goes on.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq, Default)]
pub struct DeliveryState {
    /// Delivery attempts made so far.
    pub attempts: u32,
    /// Seconds since the epoch before which no new attempt is made.
    pub next_try: u64,
    /// The latest error, for `queue ls`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
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
