//! Mailboxes of the authenticated state: CREATE (with RFC 6154's `USE`), DELETE, RENAME,
//! SUBSCRIBE, UNSUBSCRIBE (RFC 3501 §6.3.3–7), LIST (with RFC 5258's selection and return
//! options, RFC 5819's STATUS return and RFC 6154's attributes), LSUB (§6.3.9) and STATUS
//! (§6.3.10, with RFC 7162's HIGHESTMODSEQ and RFC 8438's SIZE).

use std::collections::BTreeMap;

use super::{name_arg, store_no, Handled};
use crate::proto::imap::command::{ListReturnOption, ListSelectOption, StatusItem};
use crate::proto::imap::mailbox_name::{list_canonical, list_matches, utf7_decode, MailboxName};
use crate::proto::imap::response::{Code, Data};
use crate::proto::imap::session::account::{settable_use, special_use};
use crate::proto::imap::session::dispatch::Reply;
use crate::proto::imap::session::Session;
use crate::proto::imap::store::{Account, MailStore, Mailbox};
use crate::store::maildir::{self, MaildirError};

impl<S: MailStore> Session<S> {
    /// CREATE, with RFC 6154 `(USE (\\Sent ...))` attributes (given without the backslash).
    pub(in crate::proto::imap::session) fn create(
        &mut self,
        arg: &str,
        uses: &[String],
    ) -> Handled {
        let name = name_arg(arg, true)?;
        let account = self.account()?;
        if name.is_inbox() {
            return Err(Reply::no(Some(Code::AlreadyExists), "INBOX always exists").into());
        }
        let mut attrs: Vec<String> = Vec::new();
        for u in uses {
            let Some(attr) = settable_use(&format!("\\{u}")) else {
                return Err(Reply::no(
                    Some(Code::UseAttr),
                    format!("\\{u} is not a special-use attribute a mailbox can have here"),
                )
                .into());
            };
            if !attrs.iter().any(|a| a == attr) {
                attrs.push(attr.to_string());
            }
        }
        account.create(&name).map_err(|e| store_no(&e))?;
        if !attrs.is_empty() {
            if let Err(e) = account.record_uses(&name, &attrs) {
                // Do not leave a mailbox without the use it was created for.
                let _ = account.delete(&name);
                return Err(store_no(&e).into());
            }
        }
        Ok(Reply::ok("CREATE completed"))
    }

    /// DELETE (INBOX cannot be; the selected mailbox is closed first).
    pub(in crate::proto::imap::session) fn delete(&mut self, arg: &str) -> Handled {
        let name = name_arg(arg, false)?;
        if name.is_inbox() {
            return Err(Reply::no(Some(Code::Cannot), "INBOX cannot be deleted").into());
        }
        if self.selected.as_ref().is_some_and(|s| s.name == name) {
            self.close_selected();
        }
        self.account()?.delete(&name).map_err(|e| store_no(&e))?;
        Ok(Reply::ok("DELETE completed"))
    }

    /// RENAME; RENAME INBOX moves its messages into a new mailbox and leaves INBOX empty.
    pub(in crate::proto::imap::session) fn rename(&mut self, from: &str, to: &str) -> Handled {
        let from = name_arg(from, false)?;
        let to = name_arg(to, true)?;
        if to.is_inbox() {
            return Err(Reply::no(Some(Code::AlreadyExists), "INBOX always exists").into());
        }
        let account = self.account()?;
        let result = if from.is_inbox() {
            rename_inbox(account, &to)
        } else {
            account.rename(&from, &to)
        };
        result.map_err(|e| store_no(&e))?;
        Ok(Reply::ok("RENAME completed"))
    }

    /// SUBSCRIBE (`on`) and UNSUBSCRIBE.
    pub(in crate::proto::imap::session) fn subscribe(&mut self, arg: &str, on: bool) -> Handled {
        let name = name_arg(arg, false)?;
        let account = self.account()?;
        let imap = name.to_imap();
        let mut subs = account.subscriptions();
        subs.retain(|s| s != &imap);
        if on {
            subs.push(imap);
        }
        account.set_subscriptions(&subs).map_err(|e| store_no(&e))?;
        Ok(Reply::ok(if on {
            "SUBSCRIBE completed"
        } else {
            "UNSUBSCRIBE completed"
        }))
    }

    /// LIST.
    pub(in crate::proto::imap::session) fn list(
        &self,
        reference: &str,
        patterns: &[String],
        select: &[ListSelectOption],
        returns: &[ListReturnOption],
    ) -> Handled {
        let account = self.account()?;
        let done = || Reply::ok("LIST completed");
        if patterns.iter().all(|p| p.is_empty()) {
            return Ok(done().with(vec![list_data(false, vec!["\\Noselect".into()], "")]));
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
        let mut data = Vec::new();
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
                special_use(account, name)
            } else {
                Vec::new()
            };
            if want_special && special.is_empty() {
                continue;
            }
            let children = names.iter().any(|(n, _)| n.is_below(name) && n != name);
            let mut attrs: Vec<String> = Vec::new();
            if !exists {
                attrs.push("\\Noselect".into());
            }
            attrs.push(if children {
                "\\HasChildren".into()
            } else {
                "\\HasNoChildren".into()
            });
            if show_sub && is_sub {
                attrs.push("\\Subscribed".into());
            }
            attrs.extend(special);
            data.push(list_data(false, attrs, &name.to_imap()));
            if let (Some(items), true) = (status, *exists) {
                if let Ok(mailbox) = account.mailbox(name) {
                    if let Ok(values) = status_items(mailbox, items) {
                        data.push(Data::Status {
                            mailbox: name.to_imap(),
                            items: values,
                        });
                    }
                }
            }
        }
        Ok(done().with(data))
    }

    /// LSUB.
    pub(in crate::proto::imap::session) fn lsub(&self, reference: &str, pattern: &str) -> Handled {
        let account = self.account()?;
        let done = Reply::ok("LSUB completed");
        let Ok(pattern) = utf7_decode(&list_canonical(reference, pattern)) else {
            return Ok(done);
        };
        let mut data = Vec::new();
        for sub in account.subscriptions() {
            let Ok(name) = MailboxName::parse(&sub) else {
                continue;
            };
            if list_matches(&pattern, &name.to_unicode()) {
                let attrs = if account.mailbox(&name).is_ok() {
                    Vec::new()
                } else {
                    vec!["\\Noselect".to_string()]
                };
                data.push(list_data(true, attrs, &name.to_imap()));
            }
        }
        Ok(done.with(data))
    }

    /// STATUS.
    pub(in crate::proto::imap::session) fn status(
        &self,
        arg: &str,
        items: &[StatusItem],
    ) -> Handled {
        let name = name_arg(arg, false)?;
        let mailbox = self.existing(&name, Code::NonExistent)?;
        let values = status_items(mailbox, items).map_err(|e| store_no(&e))?;
        Ok(Reply::ok("STATUS completed").with(vec![Data::Status {
            mailbox: name.to_imap(),
            items: values,
        }]))
    }
}

fn list_data(lsub: bool, attributes: Vec<String>, name: &str) -> Data {
    Data::List {
        lsub,
        attributes,
        delimiter: Some('/'),
        name: name.to_string(),
    }
}

/// RENAME INBOX: the messages move to a new mailbox; INBOX stays, empty.
fn rename_inbox<A: Account>(account: &A, to: &MailboxName) -> Result<(), MaildirError> {
    account.create(to)?;
    let mut target = account.mailbox(to)?;
    let mut inbox = account.mailbox(&MailboxName::inbox())?;
    let uids: Vec<u32> = inbox.sync()?.messages.iter().map(|m| m.uid).collect();
    inbox.move_to(&uids, &mut target)?;
    Ok(())
}

/// The values of STATUS items for a mailbox.
fn status_items<M: Mailbox>(
    mut mailbox: M,
    items: &[StatusItem],
) -> Result<Vec<(StatusItem, u64)>, MaildirError> {
    let snap = mailbox.sync()?;
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
