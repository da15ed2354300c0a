//! Commands of the authenticated state (SELECT, CREATE, LIST, STATUS…; APPEND, COPY and MOVE
//! are in [`super::transfer`]) and the dispatch of the selected-state commands other than FETCH.

use std::collections::BTreeMap;

use super::account::{folder, set_special_use, settable_use, Account};
use super::{Selected, Session};
use crate::imap::command::{
    CommandKind, ListReturnOption, ListSelectOption, QresyncParams, StatusItem,
};
use crate::imap::mailbox_name::{list_canonical, list_matches, utf7_decode, MailboxName};
use crate::imap::response::{self, Code, Status};
use crate::maildir::{self, MailboxState, Maildir, MaildirError};
use crate::sasl::Credentials;

/// A tagged NO for a maildir error, with the fitting response code.
pub(super) fn maildir_no(tag: &str, e: &MaildirError, out: &mut Vec<u8>) {
    let (code, text) = maildir_code(e);
    out.extend(response::tagged(tag, Status::No, Some(&code), &text));
}

/// The response code and text for a maildir error: a full volume is `[UNAVAILABLE]` (RFC 5530:
/// temporary; a user's disk quota is `[OVERQUOTA]`), not a server bug.
pub(super) fn maildir_code(e: &MaildirError) -> (Code, String) {
    match e {
        MaildirError::NoSuchFolder(_) => (Code::NonExistent, "No such mailbox".to_string()),
        MaildirError::FolderExists(_) => (Code::AlreadyExists, "Mailbox already exists".into()),
        MaildirError::TooManyKeywords => (Code::Limit, e.to_string()),
        MaildirError::InvalidFolderName(_) | MaildirError::InvalidKeyword(_) => {
            (Code::Cannot, e.to_string())
        }
        MaildirError::Io { source, .. } if source.raw_os_error() == Some(libc::EDQUOT) => {
            (Code::OverQuota, format!("Disk quota exceeded: {e}"))
        }
        _ if e.is_no_space() => (
            Code::Unavailable,
            format!("The mail volume is full; try again later ({e})"),
        ),
        _ => (Code::ServerBug, e.to_string()),
    }
}

impl Session {
    pub(super) fn account(&self) -> Option<&Account> {
        self.account.as_ref()
    }

    /// Parses a mailbox argument, replying NO when it is not a valid name.
    pub(super) fn name_arg(
        tag: &str,
        arg: &str,
        create: bool,
        out: &mut Vec<u8>,
    ) -> Option<MailboxName> {
        let parsed = if create {
            MailboxName::parse_for_create(arg)
        } else {
            MailboxName::parse(arg)
        };
        match parsed {
            Ok(n) => Some(n),
            Err(e) => {
                out.extend(response::tagged(
                    tag,
                    Status::No,
                    Some(&Code::Cannot),
                    &format!("Invalid mailbox name: {e}"),
                ));
                None
            }
        }
    }

    /// The existing maildir of a mailbox, replying NO (with `code`) when missing.
    pub(super) fn existing(
        &self,
        tag: &str,
        name: &MailboxName,
        code: Code,
        out: &mut Vec<u8>,
    ) -> Option<Maildir> {
        let account = self.account()?;
        match account.maildir(name) {
            Ok(md) => Some(md),
            Err(MaildirError::NoSuchFolder(_)) => {
                out.extend(response::tagged(
                    tag,
                    Status::No,
                    Some(&code),
                    "No such mailbox",
                ));
                None
            }
            Err(e) => {
                maildir_no(tag, &e, out);
                None
            }
        }
    }

    pub(super) fn mailbox_command(
        &mut self,
        tag: &str,
        kind: CommandKind,
        creds: &dyn Credentials,
        out: &mut Vec<u8>,
    ) {
        match kind {
            CommandKind::Select {
                mailbox,
                condstore,
                qresync,
            } => self.select(tag, &mailbox, false, condstore, qresync.as_ref(), out),
            CommandKind::Examine {
                mailbox,
                condstore,
                qresync,
            } => self.select(tag, &mailbox, true, condstore, qresync.as_ref(), out),
            CommandKind::Create {
                mailbox,
                special_use,
            } => self.create(tag, &mailbox, &special_use, out),
            CommandKind::Delete { mailbox } => self.delete(tag, &mailbox, out),
            CommandKind::Rename { from, to } => self.rename(tag, &from, &to, out),
            CommandKind::Subscribe { mailbox } => self.subscribe(tag, &mailbox, true, out),
            CommandKind::Unsubscribe { mailbox } => self.subscribe(tag, &mailbox, false, out),
            CommandKind::List {
                reference,
                patterns,
                select,
                returns,
            } => {
                self.list(&reference, &patterns, &select, &returns, out);
                out.extend(response::tagged(tag, Status::Ok, None, "LIST completed"));
            }
            CommandKind::Lsub { reference, pattern } => {
                self.lsub(&reference, &pattern, out);
                out.extend(response::tagged(tag, Status::Ok, None, "LSUB completed"));
            }
            CommandKind::Status { mailbox, items } => {
                let Some(name) = Self::name_arg(tag, &mailbox, false, out) else {
                    return;
                };
                let Some(md) = self.existing(tag, &name, Code::NonExistent, out) else {
                    return;
                };
                match status_items(md, &items) {
                    Ok(values) => {
                        out.extend(response::status(&name.to_imap(), &values));
                        out.extend(response::tagged(tag, Status::Ok, None, "STATUS completed"));
                    }
                    Err(e) => maildir_no(tag, &e, out),
                }
            }
            CommandKind::Append {
                mailbox,
                flags,
                internal_date,
                message,
            } => self.append(tag, &mailbox, &flags, internal_date, &message, creds, out),
            CommandKind::Close | CommandKind::Unselect => {
                let close = matches!(kind, CommandKind::Close);
                if let Some(mut sel) = self.selected.take() {
                    if close && !sel.read_only {
                        let _ = sel.expunge(None, None);
                    }
                    sel.save_cache();
                }
                out.extend(response::tagged(
                    tag,
                    Status::Ok,
                    None,
                    &format!("{} completed", kind.name()),
                ));
            }
            CommandKind::Expunge { uids } => {
                let Some(sel) = self.selected.as_mut() else {
                    return;
                };
                if sel.refuse_if_read_only(tag, out) {
                    return;
                }
                match sel.expunge(uids.as_ref(), Some(out)) {
                    Ok(()) => {
                        out.extend(response::tagged(tag, Status::Ok, None, "EXPUNGE completed"))
                    }
                    Err(e) => maildir_no(tag, &e, out),
                }
            }
            CommandKind::Search { uid, criteria, .. } => {
                if let Some(sel) = self.selected.as_ref() {
                    sel.search(tag, uid, &criteria, out);
                }
            }
            CommandKind::Store {
                uid,
                set,
                unchanged_since,
                mode,
                silent,
                flags,
            } => {
                let condstore = self.condstore;
                if let Some(sel) = self.selected.as_mut() {
                    sel.store(
                        tag,
                        uid,
                        &set,
                        unchanged_since,
                        mode,
                        silent,
                        &flags,
                        condstore,
                        out,
                    );
                }
            }
            CommandKind::Copy { uid, set, mailbox } => {
                self.copy(tag, uid, &set, &mailbox, false, creds, out)
            }
            CommandKind::Move { uid, set, mailbox } => {
                self.copy(tag, uid, &set, &mailbox, true, creds, out)
            }
            other => out.extend(response::tagged(
                tag,
                Status::Bad,
                None,
                &format!("{} not handled here", other.name()),
            )),
        }
    }

    fn select(
        &mut self,
        tag: &str,
        arg: &str,
        read_only: bool,
        condstore: bool,
        qresync: Option<&QresyncParams>,
        out: &mut Vec<u8>,
    ) {
        // RFC 7162 §3.2.5: the QRESYNC parameter needs ENABLE QRESYNC first.
        if qresync.is_some() && !self.qresync {
            out.extend(response::tagged(
                tag,
                Status::Bad,
                None,
                "QRESYNC parameter without ENABLE QRESYNC",
            ));
            return;
        }
        if let Some(mut old) = self.selected.take() {
            old.save_cache();
            out.extend(response::untagged_status(
                Status::Ok,
                Some(&Code::Closed),
                "Previous mailbox closed",
            ));
        }
        if condstore {
            self.condstore = true;
        }
        let Some(name) = Self::name_arg(tag, arg, false, out) else {
            return;
        };
        let Some(md) = self.existing(tag, &name, Code::NonExistent, out) else {
            return;
        };
        match Selected::open(name, md, read_only) {
            Ok(mut sel) => {
                sel.vanished = self.qresync;
                sel.select_response(out, self.condstore);
                if let Some(q) = qresync {
                    sel.resync(q, out);
                }
                let (code, verb) = if read_only {
                    (Code::ReadOnly, "EXAMINE")
                } else {
                    (Code::ReadWrite, "SELECT")
                };
                out.extend(response::tagged(
                    tag,
                    Status::Ok,
                    Some(&code),
                    &format!("{verb} completed"),
                ));
                self.selected = Some(sel);
            }
            Err(e) => maildir_no(tag, &e, out),
        }
    }

    /// CREATE, with RFC 6154 `(USE (\\Sent ...))` attributes (given without the backslash).
    fn create(&mut self, tag: &str, arg: &str, uses: &[String], out: &mut Vec<u8>) {
        let Some(name) = Self::name_arg(tag, arg, true, out) else {
            return;
        };
        let Some(account) = self.account() else {
            return;
        };
        if name.is_inbox() {
            out.extend(response::tagged(
                tag,
                Status::No,
                Some(&Code::AlreadyExists),
                "INBOX always exists",
            ));
            return;
        }
        let mut attrs: Vec<String> = Vec::new();
        for u in uses {
            let Some(attr) = settable_use(&format!("\\{u}")) else {
                out.extend(response::tagged(
                    tag,
                    Status::No,
                    Some(&Code::UseAttr),
                    &format!("\\{u} is not a special-use attribute a mailbox can have here"),
                ));
                return;
            };
            if !attrs.iter().any(|a| a == attr) {
                attrs.push(attr.to_string());
            }
        }
        let md = match account.root.create_folder(&folder(&name)) {
            Ok(md) => md,
            Err(e) => return maildir_no(tag, &e, out),
        };
        if !attrs.is_empty() {
            if let Err(e) = set_special_use(&md, &attrs) {
                // Do not leave a mailbox without the use it was created for.
                let _ = account.root.delete_folder(&folder(&name));
                return maildir_no(tag, &e, out);
            }
        }
        out.extend(response::tagged(tag, Status::Ok, None, "CREATE completed"));
    }

    fn delete(&mut self, tag: &str, arg: &str, out: &mut Vec<u8>) {
        let Some(name) = Self::name_arg(tag, arg, false, out) else {
            return;
        };
        if name.is_inbox() {
            out.extend(response::tagged(
                tag,
                Status::No,
                Some(&Code::Cannot),
                "INBOX cannot be deleted",
            ));
            return;
        }
        if self.selected.as_ref().is_some_and(|s| s.name == name) {
            if let Some(mut sel) = self.selected.take() {
                sel.save_cache();
            }
        }
        let Some(account) = self.account() else {
            return;
        };
        match account.root.delete_folder(&folder(&name)) {
            Ok(()) => out.extend(response::tagged(tag, Status::Ok, None, "DELETE completed")),
            Err(e) => maildir_no(tag, &e, out),
        }
    }

    fn rename(&mut self, tag: &str, from: &str, to: &str, out: &mut Vec<u8>) {
        let Some(from) = Self::name_arg(tag, from, false, out) else {
            return;
        };
        let Some(to) = Self::name_arg(tag, to, true, out) else {
            return;
        };
        if to.is_inbox() {
            out.extend(response::tagged(
                tag,
                Status::No,
                Some(&Code::AlreadyExists),
                "INBOX always exists",
            ));
            return;
        }
        let Some(account) = self.account() else {
            return;
        };
        let result = if from.is_inbox() {
            rename_inbox(account, &to)
        } else {
            account.root.rename_folder(&folder(&from), &folder(&to))
        };
        match result {
            Ok(()) => out.extend(response::tagged(tag, Status::Ok, None, "RENAME completed")),
            Err(e) => maildir_no(tag, &e, out),
        }
    }

    fn subscribe(&mut self, tag: &str, arg: &str, on: bool, out: &mut Vec<u8>) {
        let Some(name) = Self::name_arg(tag, arg, false, out) else {
            return;
        };
        let Some(account) = self.account() else {
            return;
        };
        let imap = name.to_imap();
        let mut subs = account.subscriptions();
        subs.retain(|s| s != &imap);
        if on {
            subs.push(imap);
        }
        match account.save_subscriptions(&subs) {
            Ok(()) => out.extend(response::tagged(
                tag,
                Status::Ok,
                None,
                if on {
                    "SUBSCRIBE completed"
                } else {
                    "UNSUBSCRIBE completed"
                },
            )),
            Err(e) => maildir_no(tag, &e, out),
        }
    }

    fn list(
        &self,
        reference: &str,
        patterns: &[String],
        select: &[ListSelectOption],
        returns: &[ListReturnOption],
        out: &mut Vec<u8>,
    ) {
        let Some(account) = self.account() else {
            return;
        };
        if patterns.iter().all(|p| p.is_empty()) {
            out.extend(response::list(false, &["\\Noselect"], Some('/'), ""));
            return;
        }
        let patterns: Vec<String> = patterns
            .iter()
            .filter_map(|p| utf7_decode(&list_canonical(reference, p)).ok())
            .collect();
        let subs = account.subscriptions();
        let subscribed = |n: &MailboxName| subs.iter().any(|s| *s == n.to_imap());
        // Every mailbox, plus hierarchy levels that exist only as parents (\Noselect).
        let mut all: BTreeMap<Vec<String>, (MailboxName, bool)> = BTreeMap::new();
        for name in account.mailboxes().unwrap_or_default() {
            let mut parent = name.parent();
            while let Some(p) = parent {
                parent = p.parent();
                all.entry(p.segments().to_vec()).or_insert((p, false));
            }
            all.insert(name.segments().to_vec(), (name, true));
        }
        let want_sub_only = select.contains(&ListSelectOption::Subscribed);
        let want_special = select.contains(&ListSelectOption::SpecialUse);
        let show_sub = want_sub_only || returns.contains(&ListReturnOption::Subscribed);
        let status: Option<&Vec<StatusItem>> = returns.iter().find_map(|r| match r {
            ListReturnOption::Status(items) => Some(items),
            _ => None,
        });
        let names: Vec<&(MailboxName, bool)> = all.values().collect();
        // INBOX first, as clients expect.
        let mut ordered: Vec<&(MailboxName, bool)> = names
            .iter()
            .copied()
            .filter(|(n, _)| n.is_inbox())
            .collect();
        ordered.extend(names.iter().copied().filter(|(n, _)| !n.is_inbox()));
        for (name, exists) in ordered {
            let unicode = name.to_unicode();
            if !patterns.iter().any(|p| list_matches(p, &unicode)) {
                continue;
            }
            let is_sub = subscribed(name);
            if want_sub_only && !is_sub {
                continue;
            }
            let special = if *exists {
                account.special_use(name)
            } else {
                Vec::new()
            };
            if want_special && special.is_empty() {
                continue;
            }
            let children = names.iter().any(|(n, _)| n.is_below(name) && n != name);
            let mut attrs: Vec<&str> = Vec::new();
            if !exists {
                attrs.push("\\Noselect");
            }
            attrs.push(if children {
                "\\HasChildren"
            } else {
                "\\HasNoChildren"
            });
            if show_sub && is_sub {
                attrs.push("\\Subscribed");
            }
            attrs.extend(special.iter().map(String::as_str));
            out.extend(response::list(false, &attrs, Some('/'), &name.to_imap()));
            if let (Some(items), true) = (status, *exists) {
                if let Ok(md) = account.maildir(name) {
                    if let Ok(values) = status_items(md, items) {
                        out.extend(response::status(&name.to_imap(), &values));
                    }
                }
            }
        }
    }

    fn lsub(&self, reference: &str, pattern: &str, out: &mut Vec<u8>) {
        let Some(account) = self.account() else {
            return;
        };
        let Ok(pattern) = utf7_decode(&list_canonical(reference, pattern)) else {
            return;
        };
        for sub in account.subscriptions() {
            let Ok(name) = MailboxName::parse(&sub) else {
                continue;
            };
            if list_matches(&pattern, &name.to_unicode()) {
                let attrs: &[&str] = if account.maildir(&name).is_ok() {
                    &[]
                } else {
                    &["\\Noselect"]
                };
                out.extend(response::list(true, attrs, Some('/'), &name.to_imap()));
            }
        }
    }
}

/// RENAME INBOX: the messages move to a new folder; INBOX stays, empty.
fn rename_inbox(account: &Account, to: &MailboxName) -> Result<(), MaildirError> {
    let target = account.root.create_folder(&folder(to))?;
    let mut inbox = MailboxState::new(account.root.clone());
    let uids: Vec<u32> = inbox.sync()?.messages.iter().map(|m| m.uid).collect();
    let mut dest = MailboxState::new(target);
    super::transfer::move_messages(&mut inbox, &uids, &mut dest)?;
    Ok(())
}

/// The values of STATUS items for a mailbox.
fn status_items(md: Maildir, items: &[StatusItem]) -> Result<Vec<(StatusItem, u64)>, MaildirError> {
    let mut state = MailboxState::new(md);
    let snap = state.sync()?;
    let count = |f: maildir::Flag, want: bool| {
        snap.messages
            .iter()
            .filter(|m| m.flags.contains(f) == want)
            .count() as u64
    };
    Ok(items
        .iter()
        .map(|&item| {
            let v = match item {
                StatusItem::Messages => snap.messages.len() as u64,
                StatusItem::Recent => snap.recent.len() as u64,
                StatusItem::UidNext => u64::from(snap.uidnext),
                StatusItem::UidValidity => u64::from(snap.uidvalidity),
                StatusItem::Unseen => count(maildir::Flag::Seen, false),
                StatusItem::HighestModSeq => snap.highestmodseq.max(1),
                StatusItem::Size => snap
                    .messages
                    .iter()
                    .map(|m| m.vsize.unwrap_or(m.size))
                    .sum(),
                StatusItem::Deleted => count(maildir::Flag::Deleted, true),
            };
            (item, v)
        })
        .collect())
}
