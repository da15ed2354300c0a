//! APPEND (RFC 3501 §6.3.11, with UIDPLUS's APPENDUID, RFC 4315) and the quota check it shares
//! with COPY.
//!
//! Quota (RFC 9208 §5, response code from RFC 5530): an APPEND or COPY that would take the
//! user's mail over its quota (`quota` in the users file, counted as delivery and smtpd count it)
//! is refused whole with `NO [OVERQUOTA]`, and nothing of it is stored. An APPEND is refused
//! before its literal is sent when the announced size is already too much. A MOVE between the
//! user's own mailboxes adds nothing and is never refused for the quota (it is how a full mailbox
//! is emptied). There are no other users' (shared) mailboxes to copy into.

use std::borrow::Cow;

use super::{store_no, Handled, Refused};
use crate::proto::imap::command::AppendMessage;
use crate::proto::imap::command::CatPart;
use crate::proto::imap::imap_url::ImapUrl;
use crate::proto::imap::mailbox_name::MailboxName;
use crate::proto::imap::message::Message;
use crate::proto::imap::parser::parse_section;
use crate::proto::imap::response::{Code, Status};
use crate::proto::imap::sequence::SequenceSet;
use crate::proto::imap::session::dispatch::Reply;
use crate::proto::imap::session::view::maildir_flags;
use crate::proto::imap::session::view::MAX_MESSAGE;
use crate::proto::imap::session::Session;
use crate::proto::imap::store::{Account, MailStore, Mailbox};
use crate::proto::sasl::Credentials;
use crate::store::maildir::quota::would_exceed;

impl<S: MailStore> Session<S> {
    /// The quota refusal of an operation adding `adding` bytes to the logged-in user's mail,
    /// as the text of its `NO [OVERQUOTA]`.
    pub(in crate::proto::imap::session) fn over_quota(
        &self,
        creds: &dyn Credentials,
        adding: u64,
    ) -> Option<String> {
        let login = self.login.as_ref()?;
        let quota = creds.quota(&login.user)?;
        let used = login.account.used_bytes();
        would_exceed(Some(quota), used, adding).map(|e| format!("Quota exceeded: {e}"))
    }

    /// CATENATE (RFC 4469): the message made of these parts — text as sent, and (sections of)
    /// messages of the user's mailboxes named by IMAP URLs; `[BADURL]` for a URL that names
    /// nothing, `[TOOBIG]` beyond the APPEND limit.
    fn catenate(&self, parts: &[CatPart]) -> Result<Vec<u8>, Refused> {
        let limit = self.config.max_append;
        let mut out = Vec::new();
        for part in parts {
            match part {
                CatPart::Text(bytes) => out.extend_from_slice(bytes),
                CatPart::Url(url) => {
                    let bad = || -> Refused {
                        Reply::no(
                            Some(Code::BadUrl(url.clone())),
                            "The URL names no message of this user",
                        )
                        .into()
                    };
                    let u = ImapUrl::parse(url).ok_or_else(bad)?;
                    let name = MailboxName::parse(&u.mailbox).map_err(|_| bad())?;
                    let mut mailbox = self.account()?.mailbox(&name).map_err(|_| bad())?;
                    let snap = mailbox.snapshot().map_err(|_| bad())?;
                    if u.uidvalidity.is_some_and(|v| v != snap.uidvalidity) {
                        return Err(bad());
                    }
                    let info = snap.get(u.uid).ok_or_else(bad)?;
                    let raw = mailbox.read(info, MAX_MESSAGE).map_err(|_| bad())?;
                    let message = Message::parse(&raw);
                    let whole;
                    let bytes: &[u8] = match &u.section {
                        Some(spec) => {
                            let section = parse_section(spec).ok_or_else(bad)?;
                            whole = section.extract(&message).into_owned();
                            &whole
                        }
                        None => message.bytes(),
                    };
                    let bytes = match u.partial {
                        Some((origin, len)) => {
                            let start = (origin as usize).min(bytes.len());
                            let end = len.map_or(bytes.len(), |l| {
                                start.saturating_add(l as usize).min(bytes.len())
                            });
                            bytes.get(start..end).unwrap_or_default()
                        }
                        None => bytes,
                    };
                    out.extend_from_slice(bytes);
                }
            }
            if out.len() as u64 > limit {
                return Err(Reply::no(
                    Some(Code::TooBig),
                    format!("The message would be larger than the limit of {limit}"),
                )
                .into());
            }
        }
        Ok(out)
    }

    /// APPEND, and MULTIAPPEND (RFC 3502): every message is added, or none is (the ones added
    /// before a failure are expunged again); APPENDUID names them all.
    pub(in crate::proto::imap::session) fn append(
        &mut self,
        mailbox: &str,
        messages: &[AppendMessage],
        creds: &dyn Credentials,
    ) -> Handled {
        let name = self.name_arg(mailbox, false)?;
        let mut target = self.existing(&name, Code::TryCreate)?;
        let mut prepared = Vec::with_capacity(messages.len());
        for m in messages {
            let flags =
                maildir_flags(&m.flags).map_err(|k| Reply::bad(format!("Invalid keyword {k}")))?;
            let bytes = match &m.catenate {
                Some(parts) => Cow::Owned(self.catenate(parts)?),
                None => Cow::Borrowed(m.message.as_slice()),
            };
            prepared.push((flags, m.internal_date.map(|d| d.unix()), bytes));
        }
        let total: u64 = prepared.iter().map(|p| p.2.len() as u64).sum();
        if let Some(why) = self.over_quota(creds, total) {
            return Err(Reply::no(Some(Code::OverQuota), why).into());
        }
        let mut uids = Vec::with_capacity(prepared.len());
        for (flags, date, bytes) in &prepared {
            match target.append(bytes, flags, *date) {
                Ok(uid) => uids.push(uid),
                Err(e) => {
                    // All or nothing: what was added of this APPEND goes again.
                    let _ = target.expunge(&uids);
                    return Err(store_no(&e).into());
                }
            }
        }
        let (validity, _) = target.after_change().map_err(|e| store_no(&e))?;
        if let Some(sel) = self.selected.as_mut() {
            if sel.mailbox.same(&target) {
                sel.touch();
            }
        }
        let uids = SequenceSet::from_numbers(&uids).unwrap_or_else(SequenceSet::nothing);
        Ok(Reply::done(
            Status::Ok,
            Some(Code::AppendUid { validity, uids }),
            "APPEND completed",
        ))
    }
}
