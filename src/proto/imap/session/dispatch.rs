//! The one dispatch of commands to their handlers (an exhaustive `match`: a command the
//! grammar knows and no handler answers does not compile), the checks every command passes
//! first (RFC 3501 §3 states, RFC 7162 §3.1 CONDSTORE enabling), which mailbox updates each
//! command may carry (RFC 3501 §7.4.1), and the one place a typed [`Reply`] becomes bytes.

use std::time::Duration;

use super::commands::fetch::{FetchJob, Since};
use super::commands::Handled;
use super::{Mode, Session, Step};
use crate::proto::imap::command::{AppendMessage, Command, CommandKind, RequiredState};
use crate::proto::imap::response::{self, Code, Data, Status, Tagged};
use crate::proto::imap::search::SearchKey;
use crate::proto::imap::sequence::SequenceSet;
use crate::proto::imap::store::MailStore;
use crate::proto::sasl::Credentials;

/// What a command (or a line of IDLE or AUTHENTICATE) answers.
pub(super) struct Reply {
    /// Untagged responses of the command itself.
    pub data: Vec<Data>,
    /// How it ends.
    pub end: End,
    /// Which updates of the selected mailbox go before the tagged completion.
    pub updates: Updates,
    /// An untagged response after the completion (the BYE of a connection being closed).
    pub after: Option<Data>,
    /// What the connection does next.
    pub then: Then,
    /// Wait this long before sending (a failed login).
    pub pause: Option<Duration>,
}

/// How a command ends.
pub(super) enum End {
    /// With its tagged completion.
    Done(Tagged),
    /// With a continuation request (`+ text`); the session is now in another mode.
    Continue(String),
    /// A FETCH that goes on in chunks, its completion at the end.
    Fetch(FetchJob),
}

/// The mailbox updates sent before a tagged completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Updates {
    /// None.
    None,
    /// EXISTS, RECENT, FETCH and, when `expunge`, EXPUNGE (or VANISHED); a mailbox that cannot
    /// be read is reported with an untagged NO.
    Send { expunge: bool },
    /// The same, with a mailbox that cannot be read left for the next command.
    Quietly { expunge: bool },
}

/// What the connection does after a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Then {
    /// Goes on with the next command.
    Go,
    /// Closes the connection.
    Close,
    /// Starts TLS.
    StartTls,
    /// Idles.
    Idle,
    /// Starts COMPRESS=DEFLATE.
    Compress,
}

impl Reply {
    /// A reply ending with a tagged completion.
    pub fn done(status: Status, code: Option<Code>, text: impl Into<String>) -> Reply {
        Reply::ending(End::Done(Tagged::new(status, code, text)))
    }

    /// `OK text`.
    pub fn ok(text: impl Into<String>) -> Reply {
        Reply::done(Status::Ok, None, text)
    }

    /// `NO [code] text`.
    pub fn no(code: Option<Code>, text: impl Into<String>) -> Reply {
        Reply::done(Status::No, code, text)
    }

    /// `BAD text`.
    pub fn bad(text: impl Into<String>) -> Reply {
        Reply::done(Status::Bad, None, text)
    }

    /// A continuation request.
    pub fn continuation(text: impl Into<String>) -> Reply {
        Reply::ending(End::Continue(text.into()))
    }

    /// A FETCH that goes on in chunks.
    pub fn fetching(job: FetchJob) -> Reply {
        Reply::ending(End::Fetch(job))
    }

    fn ending(end: End) -> Reply {
        Reply {
            data: Vec::new(),
            end,
            updates: Updates::None,
            after: None,
            then: Then::Go,
            pause: None,
        }
    }

    /// The same reply after these untagged responses.
    pub fn with(mut self, data: Vec<Data>) -> Reply {
        if self.data.is_empty() {
            self.data = data;
        } else {
            self.data.extend(data);
        }
        self
    }

    /// The same reply after these untagged responses, before its own.
    pub fn with_before(mut self, mut data: Vec<Data>) -> Reply {
        data.append(&mut self.data);
        self.data = data;
        self
    }

    /// The same reply, then `then`.
    pub fn then(mut self, then: Then) -> Reply {
        self.then = then;
        self
    }
}

/// Deepest search program walked for `$` (the parser allows less).
const MAX_SAVED_DEPTH: usize = 64;

/// `$` in a search program (see [`Session::put_saved`]).
fn put_saved_in_key(key: &mut SearchKey, fix: &dyn Fn(&mut SequenceSet, bool), depth: usize) {
    if depth > MAX_SAVED_DEPTH {
        return;
    }
    match key {
        SearchKey::Sequence(set) => fix(set, false),
        SearchKey::Uid(set) => fix(set, true),
        SearchKey::Not(k) => put_saved_in_key(k, fix, depth + 1),
        SearchKey::Or(a, b) => {
            put_saved_in_key(a, fix, depth + 1);
            put_saved_in_key(b, fix, depth + 1);
        }
        SearchKey::And(keys) => {
            for k in keys {
                put_saved_in_key(k, fix, depth + 1);
            }
        }
        _ => {}
    }
}

/// Which updates a command may carry before its completion (RFC 3501 §7.4.1: none during FETCH,
/// STORE or SEARCH, whose UID forms may carry them; none where the mailbox is being opened,
/// closed or left).
fn updates_of(kind: &CommandKind) -> Updates {
    use CommandKind as K;
    match kind {
        K::Store { uid, .. }
        | K::Search { uid, .. }
        | K::Sort { uid, .. }
        | K::Thread { uid, .. } => Updates::Send { expunge: *uid },
        // A FETCH sends its own at the end (see `commands::fetch`).
        K::Fetch { .. }
        | K::Logout
        | K::Select { .. }
        | K::Examine { .. }
        | K::Close
        | K::Unselect
        | K::Idle
        | K::Compress { .. } => Updates::None,
        K::Capability
        | K::Noop
        | K::Check
        | K::CancelUpdate(_)
        | K::Id(_)
        | K::StartTls
        | K::Login { .. }
        | K::Authenticate { .. }
        | K::Enable(_)
        | K::Namespace
        | K::Create { .. }
        | K::Delete { .. }
        | K::Rename { .. }
        | K::Subscribe { .. }
        | K::Unsubscribe { .. }
        | K::List { .. }
        | K::Lsub { .. }
        | K::Status { .. }
        | K::Append { .. }
        | K::Expunge { .. }
        | K::Copy { .. }
        | K::Move { .. }
        | K::GetQuota { .. }
        | K::GetQuotaRoot { .. }
        | K::SetQuota { .. } => Updates::Send { expunge: true },
    }
}

impl<S: MailStore> Session<S> {
    /// Runs one command.
    pub(super) fn command(&mut self, cmd: Command, creds: &dyn Credentials) -> Reply {
        let Command { tag, kind } = cmd;
        if let Some(refusal) = self.refusal(&kind) {
            return refusal;
        }
        let notice = self.enabled_by(&kind);
        let updates = updates_of(&kind);
        let mut kind = kind;
        self.put_saved(&mut kind);
        let handled: Handled = match kind {
            CommandKind::Capability => Ok(self.capability()),
            CommandKind::Noop => Ok(Reply::ok("NOOP completed")),
            CommandKind::Logout => Ok(self.logout()),
            CommandKind::Id(_) => Ok(self.id()),
            CommandKind::Namespace => Ok(self.namespace()),
            CommandKind::StartTls => Ok(self.starttls()),
            CommandKind::Login { username, password } => {
                Ok(self.login_command(&username, &password, creds))
            }
            CommandKind::Authenticate {
                mechanism,
                initial_response,
            } => Ok(self.authenticate(&tag, &mechanism, initial_response.as_deref(), creds)),
            CommandKind::Enable(caps) => Ok(self.enable(&caps)),
            CommandKind::Idle => Ok(self.idle(tag)),
            CommandKind::Select {
                mailbox,
                condstore,
                qresync,
            } => self.select(&mailbox, false, condstore, qresync.as_ref()),
            CommandKind::Examine {
                mailbox,
                condstore,
                qresync,
            } => self.select(&mailbox, true, condstore, qresync.as_ref()),
            CommandKind::Check => Ok(Reply::ok("CHECK completed")),
            CommandKind::Close => Ok(self.close(true)),
            CommandKind::Unselect => Ok(self.close(false)),
            CommandKind::CancelUpdate(tags) => Ok(self.cancel_update(&tags)),
            CommandKind::Create {
                mailbox,
                special_use,
            } => self.create(&mailbox, &special_use),
            CommandKind::Delete { mailbox } => self.delete(&mailbox),
            CommandKind::Rename { from, to } => self.rename(&from, &to),
            CommandKind::Subscribe { mailbox } => self.subscribe(&mailbox, true),
            CommandKind::Unsubscribe { mailbox } => self.subscribe(&mailbox, false),
            CommandKind::List {
                reference,
                patterns,
                select,
                returns,
            } => self.list(&reference, &patterns, &select, &returns),
            CommandKind::Lsub { reference, pattern } => self.lsub(&reference, &pattern),
            CommandKind::Status { mailbox, items } => self.status(&mailbox, &items),
            CommandKind::Append {
                mailbox,
                flags,
                internal_date,
                message,
                catenate,
                more,
            } => {
                let mut messages = vec![AppendMessage {
                    flags,
                    internal_date,
                    message,
                    catenate,
                }];
                messages.extend(more);
                self.append(&mailbox, &messages, creds)
            }
            CommandKind::Fetch {
                uid,
                set,
                attributes,
                changed_since,
                vanished,
            } => {
                let since = Since {
                    modseq: changed_since,
                    vanished,
                };
                self.fetch(&tag, uid, &set, attributes, since)
            }
            CommandKind::Store {
                uid,
                set,
                unchanged_since,
                mode,
                silent,
                flags,
            } => self.store(uid, &set, unchanged_since, mode, silent, &flags),
            CommandKind::Search {
                uid,
                criteria,
                returns,
                ..
            } => self.search(&tag, uid, &criteria, returns.as_deref()),
            CommandKind::Sort {
                uid,
                criteria,
                search,
                returns,
            } => self.sort(&tag, uid, &criteria, &search, returns.as_deref()),
            CommandKind::Thread {
                uid,
                algorithm,
                search,
            } => self.thread(uid, algorithm, &search),
            CommandKind::Expunge { uids } => self.expunge(uids.as_ref()),
            CommandKind::Copy { uid, set, mailbox } => self.copy(uid, &set, &mailbox, false, creds),
            CommandKind::Move { uid, set, mailbox } => self.copy(uid, &set, &mailbox, true, creds),
            CommandKind::Compress { mechanism } => Ok(self.compress(&mechanism)),
            CommandKind::GetQuota { root } => self.get_quota(&root, creds),
            CommandKind::GetQuotaRoot { mailbox } => self.get_quota_root(&mailbox, creds),
            CommandKind::SetQuota { .. } => Ok(self.set_quota()),
        };
        let mut reply = handled.unwrap_or_else(|refusal| *refusal);
        reply.updates = updates;
        if let Some(notice) = notice {
            reply.data.insert(0, notice);
        }
        reply
    }

    /// RFC 5182: `$` in the command's sets and search keys becomes the saved result — UIDs in
    /// a UID command or a UID key, the messages' current sequence numbers otherwise (an empty
    /// or vanished result matches nothing).
    fn put_saved(&self, kind: &mut CommandKind) {
        let Some(sel) = self.selected.as_ref() else {
            return;
        };
        let saved = &self.saved;
        let as_set = |uid: bool| {
            let numbers: Vec<u32> = if uid {
                saved.clone()
            } else {
                saved
                    .iter()
                    .filter_map(|&u| sel.index_of(u).map(|i| i as u32 + 1))
                    .collect()
            };
            SequenceSet::from_numbers(&numbers).unwrap_or_else(SequenceSet::nothing)
        };
        let fix = |set: &mut SequenceSet, uid: bool| {
            if set.is_saved() {
                *set = as_set(uid);
            }
        };
        match kind {
            CommandKind::Fetch { uid, set, .. }
            | CommandKind::Store { uid, set, .. }
            | CommandKind::Copy { uid, set, .. }
            | CommandKind::Move { uid, set, .. } => fix(set, *uid),
            CommandKind::Expunge { uids: Some(set) } => fix(set, true),
            CommandKind::Search { criteria, .. }
            | CommandKind::Sort {
                search: criteria, ..
            }
            | CommandKind::Thread {
                search: criteria, ..
            } => put_saved_in_key(criteria, &fix, 0),
            _ => {}
        }
    }

    /// The RFC 3501 state check: the BAD for a command not allowed now.
    fn refusal(&self, kind: &CommandKind) -> Option<Reply> {
        let allowed = match kind.required_state() {
            RequiredState::Any => true,
            RequiredState::NotAuthenticated => self.login.is_none(),
            RequiredState::Authenticated => self.login.is_some(),
            RequiredState::Selected => self.selected.is_some(),
        };
        if allowed {
            return None;
        }
        let why = match kind.required_state() {
            RequiredState::NotAuthenticated => "Already authenticated",
            RequiredState::Selected if self.login.is_some() => "No mailbox selected",
            _ => "Log in first",
        };
        Some(Reply::bad(format!(
            "{} not allowed now: {why}",
            kind.name()
        )))
    }

    /// Sends a reply: its untagged responses, the mailbox updates it allows, its completion;
    /// `Some(step)` when the step loop must return now.
    pub(super) fn send(&mut self, tag: &str, reply: Reply, out: &mut Vec<u8>) -> Option<Step> {
        let Reply {
            data,
            end,
            updates,
            after,
            then,
            pause,
        } = reply;
        match end {
            End::Done(tagged) => {
                let pending = match updates {
                    Updates::None => Vec::new(),
                    Updates::Send { expunge } => self.updates(expunge, false),
                    Updates::Quietly { expunge } => self.updates(expunge, true),
                };
                // RFC 5267 §4.3.2-4: REMOVEFROM before the EXPUNGEs that renumber, ADDTO after
                // the EXISTS that makes its numbers valid.
                let (removed, added) = self.context_changes();
                for d in removed.iter().chain(&data).chain(&pending).chain(&added) {
                    d.encode(out);
                }
                tagged.encode(tag, out);
            }
            End::Continue(text) => {
                for d in &data {
                    d.encode(out);
                }
                out.extend(response::continuation(&text));
            }
            End::Fetch(job) => {
                for d in &data {
                    d.encode(out);
                }
                self.mode = Mode::Fetching(job);
            }
        }
        if let Some(d) = after {
            d.encode(out);
        }
        let action = match then {
            Then::Go => super::Action::Continue,
            Then::Close => super::Action::Close,
            Then::StartTls => super::Action::StartTls,
            Then::Idle => super::Action::Idle,
            Then::Compress => super::Action::Compress,
        };
        if let Some(delay) = pause {
            return Some(Step {
                output: std::mem::take(out),
                delay: Some(delay),
                action: if then == Then::Close {
                    super::Action::Close
                } else {
                    super::Action::Continue
                },
                trim_memory: false,
            });
        }
        (then != Then::Go).then(|| Step::new(std::mem::take(out), action))
    }

    /// The selected mailbox's changes since the view was last brought up to date.
    pub(super) fn updates(&mut self, expunge: bool, quiet: bool) -> Vec<Data> {
        let condstore = self.condstore;
        let Some(sel) = self.selected.as_mut() else {
            return Vec::new();
        };
        match sel.refresh(expunge, condstore) {
            Ok(data) => data,
            Err(_) if quiet => Vec::new(),
            Err(e) => vec![Data::condition(
                Status::No,
                None,
                format!("Cannot read the mailbox: {e}"),
            )],
        }
    }
}
