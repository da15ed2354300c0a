//! Where a message comes from, with what each way in knows about it: the only thing that differs
//! between the ways in. Everything the intake does per origin is answered here (and the trace
//! header in [`super::trace`]).

use std::net::IpAddr;

use crate::events::Event;
use crate::proto::smtp::Client;
use crate::queue::spool;

/// The way a message came in.
#[derive(Debug, Clone)]
pub enum Origin {
    /// A client over SMTP (smtpd), with its MAIL FROM parameters.
    Smtp {
        client: Client,
        /// The connection's id in the log (`session=`).
        session: Option<String>,
        /// RFC 6531 SMTPUTF8.
        smtputf8: bool,
        /// RFC 3461 RET= and ENVID=.
        dsn_ret: Option<String>,
        dsn_envid: Option<String>,
        /// RFC 8689 REQUIRETLS.
        requiretls: bool,
    },
    /// `postern sendmail` run by the user `login` (uid `uid`), with its `-R` and `-V`.
    Sendmail {
        uid: u32,
        login: String,
        dsn_ret: Option<String>,
        dsn_envid: Option<String>,
    },
    /// Fetched from a POP3 account by collect.
    Collect {
        account: String,
        /// The account's server, as configured.
        server: String,
        /// The address it was fetched from.
        peer: Option<IpAddr>,
        tls: bool,
        uidl: String,
    },
    /// A delivery status notification from the queue runner (from `<>`, never filtered).
    Notification,
}

impl Origin {
    /// The origin recorded in the spool.
    pub(super) fn spooled(&self) -> spool::Origin {
        match self {
            Origin::Smtp { .. } => spool::Origin::Smtp,
            Origin::Sendmail { .. } => spool::Origin::Sendmail,
            Origin::Collect { .. } => spool::Origin::Collect,
            Origin::Notification => spool::Origin::Bounce,
        }
    }

    /// The name given to the content filter (`POSTERN_ORIGIN`) and in the log.
    pub(super) fn name(&self) -> &'static str {
        match self {
            Origin::Smtp { .. } => "smtp",
            Origin::Sendmail { .. } => "sendmail",
            Origin::Collect { .. } => "collect",
            Origin::Notification => "bounce",
        }
    }

    /// Whether the content filter and the handlers' restrictions apply (not to notifications:
    /// the report of a message is not screened again).
    pub(super) fn checked(&self) -> bool {
        !matches!(self, Origin::Notification)
    }

    /// Whether local recipients may be written to their mailboxes before the message is
    /// acknowledged. Not for collected mail: its journal finds a message again by its queue
    /// entry ([`crate::receive::collect::state`]); not for notifications, sent from inside a delivery.
    pub(super) fn may_deliver_now(&self) -> bool {
        matches!(self, Origin::Smtp { .. } | Origin::Sendmail { .. })
    }

    /// Whether a recipient's Sieve `reject`/`ereject` may refuse the message in protocol (RFC
    /// 5429 §2.1.1): an SMTP client is still waiting for the reply to its DATA. (sendmail and
    /// collect have no sender to answer: a bounce.)
    pub(super) fn may_refuse_in_protocol(&self) -> bool {
        matches!(self, Origin::Smtp { .. })
    }

    /// The client's address, when it came over the network.
    pub(super) fn client_ip(&self) -> Option<IpAddr> {
        match self {
            Origin::Smtp { client, .. } => client.ip,
            Origin::Collect { peer, .. } => *peer,
            Origin::Sendmail { .. } | Origin::Notification => None,
        }
    }

    /// The envelope's facts about the sender: (HELO name, trusted, authenticated user).
    pub(super) fn sender_facts(&self) -> (Option<String>, bool, Option<String>) {
        match self {
            Origin::Smtp { client, .. } => (
                client.helo.clone(),
                client.trusted,
                client.auth_user.clone(),
            ),
            Origin::Sendmail { login, .. } => (None, true, Some(login.clone())),
            Origin::Collect { server, .. } => (Some(server.clone()), true, None),
            Origin::Notification => (None, true, None),
        }
    }

    /// RFC 6531 SMTPUTF8 for a message of `data`: as the client said, or by its bytes.
    pub(super) fn smtputf8(&self, data: &[u8]) -> bool {
        match self {
            Origin::Smtp { smtputf8, .. } => *smtputf8,
            Origin::Sendmail { .. } | Origin::Collect { .. } => !data.is_ascii(),
            Origin::Notification => false,
        }
    }

    /// RFC 8689 REQUIRETLS, when the client asked for it.
    pub(super) fn requiretls(&self) -> bool {
        matches!(
            self,
            Origin::Smtp {
                requiretls: true,
                ..
            }
        )
    }

    /// RFC 3461 RET= and ENVID=, when the client gave them.
    pub(super) fn dsn(&self) -> (Option<String>, Option<String>) {
        match self {
            Origin::Smtp {
                dsn_ret, dsn_envid, ..
            }
            | Origin::Sendmail {
                dsn_ret, dsn_envid, ..
            } => (dsn_ret.clone(), dsn_envid.clone()),
            _ => (None, None),
        }
    }

    /// The origin's own fields of the `message_received` event.
    pub(super) fn describe(&self, e: Event) -> Event {
        match self {
            Origin::Smtp {
                client,
                session,
                requiretls,
                ..
            } => e
                .opt("client", client.ip)
                .opt("session", session.as_ref())
                .opt("user", client.auth_user.as_ref())
                .opt("requiretls", requiretls.then_some("yes")),
            Origin::Sendmail { login, .. } => e.field("origin", self.name()).field("user", login),
            Origin::Notification => e.field("origin", self.name()),
            Origin::Collect { account, uidl, .. } => e
                .field("origin", self.name())
                .field("account", account)
                .field("uidl", uidl),
        }
    }
}
