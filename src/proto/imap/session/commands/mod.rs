//! The command handlers, one file per family, each answering with a typed
//! [`Reply`](super::dispatch::Reply) (nothing here writes bytes):
//!
//! | file | commands | RFC |
//! | --- | --- | --- |
//! | [`any`] | CAPABILITY, NOOP, LOGOUT, ID, NAMESPACE | 3501 §6.1, 2971, 2342 |
//! | [`auth`] | STARTTLS, LOGIN, AUTHENTICATE (SASL-IR) | 3501 §6.2, 4959 |
//! | [`select`] | SELECT, EXAMINE, CHECK, CLOSE, UNSELECT | 3501 §6.3.1–2, §6.4.1–2, 3691 |
//! | [`mailboxes`] | CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB, STATUS | 3501 §6.3, 5258, 5819, 6154, 8438 |
//! | [`append`] | APPEND (APPENDUID), the quota check | 3501 §6.3.11, 4315, 9208 |
//! | [`idle`] | IDLE | 2177 |
//! | [`fetch`] | FETCH, UID FETCH | 3501 §6.4.5 |
//! | [`store`] | STORE, UID STORE | 3501 §6.4.6, 7162 |
//! | [`search`] | SEARCH, UID SEARCH | 3501 §6.4.4 |
//! | [`move_uidplus`] | EXPUNGE, UID EXPUNGE, COPY, MOVE (COPYUID) | 3501 §6.4.3, 4315, 6851 |
//! | [`condstore_qresync`] | ENABLE, CONDSTORE enabling, QRESYNC resync and VANISHED | 5161, 7162 |
//! | [`quota`] | GETQUOTA, GETQUOTAROOT, SETQUOTA (refused) | 9208 |

pub(super) mod any;
pub(super) mod append;
pub(super) mod auth;
pub(super) mod condstore_qresync;
pub(super) mod fetch;
pub(super) mod idle;
pub(super) mod mailboxes;
pub(super) mod move_uidplus;
pub(super) mod quota;
pub(super) mod search;
pub(super) mod select;
pub(super) mod store;

use super::dispatch::Reply;
use super::{Selected, Session};
use crate::proto::imap::mailbox_name::{MailboxName, DELIMITER};
use crate::proto::imap::response::Code;
use crate::proto::imap::store::{Account, MailStore};
use crate::store::maildir::MaildirError;

/// What a handler returns: `Err` when the command ends early (the reply says why).
pub(super) type Handled = Result<Reply, Refused>;

/// The reply of a command that ends early (boxed: replies are large, refusals rare).
pub(super) type Refused = Box<Reply>;

/// A tagged NO for a store error, with the fitting response code.
pub(super) fn store_no(e: &MaildirError) -> Reply {
    let (code, text) = store_code(e);
    Reply::no(Some(code), text)
}

/// The response code and text for a store error: a full volume is `[UNAVAILABLE]` (RFC 5530:
/// temporary; a user's disk quota is `[OVERQUOTA]`), not a server bug.
pub(super) fn store_code(e: &MaildirError) -> (Code, String) {
    match e {
        MaildirError::NoSuchFolder(_) => (Code::NonExistent, "No such mailbox".to_string()),
        MaildirError::FolderExists(_) => (Code::AlreadyExists, "Mailbox already exists".into()),
        MaildirError::TooManyKeywords => (Code::Limit, e.to_string()),
        MaildirError::InvalidFolderName(_) | MaildirError::InvalidKeyword(_) => {
            (Code::Cannot, e.to_string())
        }
        _ if e.is_over_disk_quota() => (Code::OverQuota, format!("Disk quota exceeded: {e}")),
        _ if e.is_no_space() => (
            Code::Unavailable,
            format!("The mail volume is full; try again later ({e})"),
        ),
        _ => (Code::ServerBug, e.to_string()),
    }
}

/// Parses a mailbox argument; `Err` with the NO when it is not a valid name. `utf8`: the
/// session enabled IMAP4rev2, whose names are UTF-8 (RFC 9051 §5.1), not modified UTF-7.
pub(super) fn name_arg(arg: &str, create: bool, utf8: bool) -> Result<MailboxName, Refused> {
    let parsed = match (utf8, create) {
        (true, _) if arg.len() > 4 * crate::proto::imap::mailbox_name::MAX_FOLDER_BYTES => {
            Err(crate::proto::imap::mailbox_name::NameError::TooLong)
        }
        (true, true) => MailboxName::from_unicode(arg.strip_suffix(DELIMITER).unwrap_or(arg)),
        (true, false) => MailboxName::from_unicode(arg),
        (false, true) => MailboxName::parse_for_create(arg),
        (false, false) => MailboxName::parse(arg),
    };
    parsed.map_err(|e| Reply::no(Some(Code::Cannot), format!("Invalid mailbox name: {e}")).into())
}

impl<S: MailStore> Session<S> {
    /// A mailbox argument of this session (see [`name_arg`]).
    pub(super) fn name_arg(&self, arg: &str, create: bool) -> Result<MailboxName, Refused> {
        name_arg(arg, create, self.rev2)
    }

    /// A mailbox name as this session shows it: UTF-8 after `ENABLE IMAP4rev2`, modified
    /// UTF-7 before.
    pub(super) fn shown(&self, name: &MailboxName) -> String {
        if self.rev2 {
            name.to_unicode()
        } else {
            name.to_imap()
        }
    }

    /// The logged-in user's mail (the state check lets only logged-in sessions here).
    pub(super) fn account(&self) -> Result<&S::Account, Refused> {
        self.login
            .as_ref()
            .map(|l| &l.account)
            .ok_or_else(|| Reply::bad("Log in first").into())
    }

    /// The selected mailbox (the state check lets only sessions with one here).
    pub(super) fn selected(&mut self) -> Result<&mut Selected<S::Mailbox>, Refused> {
        self.selected
            .as_mut()
            .ok_or_else(|| Reply::bad("No mailbox selected").into())
    }

    /// An existing mailbox; `Err` with a NO (with `code`) when it is missing.
    pub(super) fn existing(&self, name: &MailboxName, code: Code) -> Result<S::Mailbox, Refused> {
        match self.account()?.mailbox(name) {
            Ok(mailbox) => Ok(mailbox),
            Err(MaildirError::NoSuchFolder(_)) => {
                Err(Reply::no(Some(code), "No such mailbox").into())
            }
            Err(e) => Err(store_no(&e).into()),
        }
    }
}
