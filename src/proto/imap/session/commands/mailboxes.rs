//! Mailboxes of the authenticated state: CREATE (with RFC 6154's `USE`), DELETE, RENAME,
//! SUBSCRIBE, UNSUBSCRIBE (RFC 3501 §6.3.3–7), LIST (with RFC 5258's selection and return
//! options, RFC 5819's STATUS return and RFC 6154's attributes), LSUB (§6.3.9) and STATUS
//! (§6.3.10, with RFC 7162's HIGHESTMODSEQ and RFC 8438's SIZE).

use std::collections::BTreeMap;

use super::{store_no, Handled};
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
        let name = self.name_arg(arg, true)?;
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
        // RFC 3501 §6.3.3: the superiors a name needs are made too (`CREATE a/b` makes `a`),
        // so that they are real mailboxes a later DELETE or SELECT finds.
        let mut superiors = Vec::new();
        let mut parent = name.parent();
        while let Some(p) = parent {
            parent = p.parent();
            if !p.is_inbox() {
                superiors.push(p);
            }
        }
        for p in superiors.iter().rev() {
            account.ensure(p).map_err(|e| store_no(&e))?;
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
        let name = self.name_arg(arg, false)?;
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
        let from = self.name_arg(from, false)?;
        let to = self.name_arg(to, true)?;
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
        let name = self.name_arg(arg, false)?;
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
        let recursive = select.contains(&ListSelectOption::RecursiveMatch);
        // RFC 5258 §3: RECURSIVEMATCH only refines another selection option.
        if recursive
            && select
                .iter()
                .all(|o| *o == ListSelectOption::RecursiveMatch)
        {
            return Err(Reply::bad("RECURSIVEMATCH needs another selection option").into());
        }
        if patterns.iter().all(|p| p.is_empty()) {
            return Ok(done().with(vec![list_data(false, vec!["\\Noselect".into()], "")]));
        }
        let patterns: Vec<String> = patterns
            .iter()
            .filter_map(|p| self.pattern(&list_canonical(reference, p)))
            .collect();
        let matching = |n: &MailboxName| {
            let unicode = n.to_unicode();
            patterns.iter().any(|p| list_matches(p, &unicode))
        };
        let subs: Vec<MailboxName> = account
            .subscriptions()
            .iter()
            .filter_map(|s| MailboxName::parse(s).ok())
            .collect();
        let subscribed = |n: &MailboxName| subs.iter().any(|s| s == n);
        let want_sub_only = select.contains(&ListSelectOption::Subscribed);
        let want_special = select.contains(&ListSelectOption::SpecialUse);
        let show_sub = want_sub_only || returns.contains(&ListReturnOption::Subscribed);
        // Every mailbox, plus hierarchy levels that exist only as parents (\Noselect), plus —
        // when subscriptions select — subscribed names whose mailbox is gone and (with
        // RECURSIVEMATCH) their superiors (\NonExistent, RFC 5258 §3).
        let mut all: BTreeMap<Vec<String>, (MailboxName, Exists)> = BTreeMap::new();
        for name in account.mailboxes().unwrap_or_default() {
            let mut parent = name.parent();
            while let Some(p) = parent {
                parent = p.parent();
                all.entry(p.segments().to_vec())
                    .or_insert((p, Exists::AsParent));
            }
            all.insert(name.segments().to_vec(), (name, Exists::Yes));
        }
        if want_sub_only {
            for s in &subs {
                let mut level = Some(s.clone());
                while let Some(n) = level {
                    level = if recursive { n.parent() } else { None };
                    all.entry(n.segments().to_vec()).or_insert((n, Exists::No));
                }
            }
        }
        let status: Option<&Vec<StatusItem>> = returns.iter().find_map(|r| match r {
            ListReturnOption::Status(items) => Some(items),
            _ => None,
        });
        let names: Vec<&(MailboxName, Exists)> = all.values().collect();
        // INBOX first, as clients expect.
        let mut ordered: Vec<&(MailboxName, Exists)> = names
            .iter()
            .copied()
            .filter(|(n, _)| n.is_inbox())
            .collect();
        ordered.extend(names.iter().copied().filter(|(n, _)| !n.is_inbox()));
        let mut data = Vec::new();
        for (name, exists) in ordered {
            if !matching(name) {
                continue;
            }
            let is_sub = subscribed(name);
            // RFC 5258 §3.5: a subscribed descendant, reported as CHILDINFO; for a name that is
            // not itself selected, only one this LIST does not return anyway.
            let below = |s: &&MailboxName| s.is_below(name) && *s != name;
            let child_sub = recursive
                && want_sub_only
                && if is_sub {
                    subs.iter().any(|s| below(&s))
                } else {
                    subs.iter().any(|s| below(&s) && !matching(s))
                };
            if want_sub_only && !is_sub && !child_sub {
                continue;
            }
            let special = if *exists == Exists::Yes {
                special_use(account, name)
            } else {
                Vec::new()
            };
            if want_special && special.is_empty() {
                continue;
            }
            let children = names
                .iter()
                .any(|(n, e)| *e != Exists::No && n.is_below(name) && n != name);
            let mut attrs: Vec<String> = Vec::new();
            match exists {
                Exists::Yes => {}
                Exists::AsParent => attrs.push("\\Noselect".into()),
                Exists::No => attrs.push("\\NonExistent".into()),
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
            let mut line = list_data(false, attrs, &self.shown(name));
            if let Data::List {
                child_subscribed, ..
            } = &mut line
            {
                *child_subscribed = child_sub;
            }
            data.push(line);
            if let (Some(items), Exists::Yes) = (status, exists) {
                if let Ok(mailbox) = account.mailbox(name) {
                    if let Ok(values) = status_items(mailbox, items) {
                        data.push(Data::Status {
                            mailbox: self.shown(name),
                            items: values,
                        });
                    }
                }
            }
        }
        Ok(done().with(data))
    }

    /// LSUB (RFC 3501 §6.3.9): the subscribed names matching the pattern, and — where `%` cut
    /// a subscribed name short — its unsubscribed superior, as `\Noselect`.
    pub(in crate::proto::imap::session) fn lsub(&self, reference: &str, pattern: &str) -> Handled {
        let account = self.account()?;
        let done = Reply::ok("LSUB completed");
        let Some(pattern) = self.pattern(&list_canonical(reference, pattern)) else {
            return Ok(done);
        };
        let subs: Vec<MailboxName> = account
            .subscriptions()
            .iter()
            .filter_map(|s| MailboxName::parse(s).ok())
            .collect();
        let matching = |n: &MailboxName| list_matches(&pattern, &n.to_unicode());
        // The subscribed names and their superiors, each once, in name order.
        let mut names: BTreeMap<Vec<String>, (MailboxName, bool)> = BTreeMap::new();
        for s in &subs {
            let mut parent = s.parent();
            while let Some(p) = parent {
                parent = p.parent();
                names.entry(p.segments().to_vec()).or_insert((p, false));
            }
            names.insert(s.segments().to_vec(), (s.clone(), true));
        }
        let mut data = Vec::new();
        for (name, is_sub) in names.values() {
            if !matching(name) {
                continue;
            }
            let attrs = if *is_sub {
                if account.mailbox(name).is_ok() {
                    Vec::new()
                } else {
                    vec!["\\Noselect".to_string()]
                }
            } else if subs
                .iter()
                .any(|s| s.is_below(name) && s != name && !matching(s))
            {
                vec!["\\Noselect".to_string()]
            } else {
                continue;
            };
            data.push(list_data(true, attrs, &self.shown(name)));
        }
        Ok(done.with(data))
    }

    /// A LIST pattern in Unicode: as sent after `ENABLE IMAP4rev2`, else decoded from
    /// modified UTF-7 (`None` when it is not valid, so nothing matches).
    fn pattern(&self, pattern: &str) -> Option<String> {
        if self.rev2 {
            Some(pattern.to_string())
        } else {
            utf7_decode(pattern).ok()
        }
    }

    /// The `* LIST` line of one mailbox that exists, as RFC 9051 §6.3.2 has SELECT send it.
    pub(in crate::proto::imap::session) fn list_one(&self, name: &MailboxName) -> Option<Data> {
        let account = self.account().ok()?;
        let children = account
            .mailboxes()
            .unwrap_or_default()
            .iter()
            .any(|n| n.is_below(name) && n != name);
        let mut attrs: Vec<String> = vec![if children {
            "\\HasChildren".into()
        } else {
            "\\HasNoChildren".into()
        }];
        attrs.extend(special_use(account, name));
        Some(list_data(false, attrs, &self.shown(name)))
    }

    /// STATUS.
    pub(in crate::proto::imap::session) fn status(
        &self,
        arg: &str,
        items: &[StatusItem],
    ) -> Handled {
        let name = self.name_arg(arg, false)?;
        let mailbox = self.existing(&name, Code::NonExistent)?;
        let values = status_items(mailbox, items).map_err(|e| store_no(&e))?;
        Ok(Reply::ok("STATUS completed").with(vec![Data::Status {
            mailbox: self.shown(&name),
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
        child_subscribed: false,
    }
}

/// Whether a name LIST shows is a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exists {
    /// A mailbox.
    Yes,
    /// Only a level of the hierarchy above mailboxes (`\\Noselect`).
    AsParent,
    /// Neither: a subscribed name (or its superior) with no mailbox (`\\NonExistent`).
    No,
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
    let recent = if items.contains(&StatusItem::Recent) {
        // Only looks: STATUS claims nothing (RFC 3501 §2.3.2). A marker that cannot be read
        // counts nothing as recent rather than failing the STATUS.
        let first = mailbox
            .first_recent(snap.uidvalidity, None)
            .unwrap_or(u32::MAX);
        snap.messages.iter().filter(|m| m.uid >= first).count() as u64
    } else {
        0
    };
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
                StatusItem::Recent => recent,
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
