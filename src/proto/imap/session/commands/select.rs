//! Opening and leaving a mailbox: SELECT and EXAMINE (RFC 3501 §6.3.1–2, with RFC 7162's
//! CONDSTORE and QRESYNC parameters), CLOSE (§6.4.2) and UNSELECT (RFC 3691). CHECK (§6.4.1)
//! is answered by the dispatch: its work is the mailbox updates.

use super::{store_no, Handled};
use crate::proto::imap::command::QresyncParams;
use crate::proto::imap::response::{Code, Data, Status};
use crate::proto::imap::session::dispatch::Reply;
use crate::proto::imap::session::{Selected, Session};
use crate::proto::imap::store::MailStore;

impl<S: MailStore> Session<S> {
    /// SELECT (`read_only`: EXAMINE).
    pub(in crate::proto::imap::session) fn select(
        &mut self,
        arg: &str,
        read_only: bool,
        condstore: bool,
        qresync: Option<&QresyncParams>,
    ) -> Handled {
        // RFC 7162 §3.2.5: the QRESYNC parameter needs ENABLE QRESYNC first.
        if qresync.is_some() && !self.qresync {
            return Err(Reply::bad("QRESYNC parameter without ENABLE QRESYNC").into());
        }
        let mut data = Vec::new();
        // RFC 5182 §2.1: the saved result starts empty in every mailbox opened; RFC 5267
        // §4.3: updates end when the mailbox is no longer selected.
        self.saved.clear();
        self.drop_contexts();
        if let Some(mut old) = self.selected.take() {
            old.save_cache();
            data.push(Data::condition(
                Status::Ok,
                Some(Code::Closed),
                "Previous mailbox closed",
            ));
        }
        if condstore {
            self.condstore = true;
        }
        let opened = self
            .name_arg(arg, false)
            .and_then(|name| Ok((self.existing(&name, Code::NonExistent)?, name)))
            .and_then(|(mailbox, name)| {
                Selected::open(name, mailbox, read_only, self.rev2).map_err(|e| store_no(&e).into())
            });
        let mut sel = match opened {
            Ok(sel) => sel,
            Err(refusal) => return Err(refusal.with_before(data).into()),
        };
        sel.vanished = self.qresync;
        data.extend(sel.select_data(self.condstore));
        // RFC 9051 §6.3.2: an IMAP4rev2 session gets the mailbox's LIST line too.
        if self.rev2 {
            data.extend(self.list_one(&sel.name));
        }
        if let Some(q) = qresync {
            data.extend(sel.resync(q));
        }
        let (code, verb) = if read_only {
            (Code::ReadOnly, "EXAMINE")
        } else {
            (Code::ReadWrite, "SELECT")
        };
        self.selected = Some(sel);
        Ok(Reply::done(Status::Ok, Some(code), format!("{verb} completed")).with(data))
    }

    /// CLOSE (`expunge`: its silent expunge of `\Deleted` messages) and UNSELECT.
    pub(in crate::proto::imap::session) fn close(&mut self, expunge: bool) -> Reply {
        self.saved.clear();
        self.drop_contexts();
        if let Some(mut sel) = self.selected.take() {
            if expunge && !sel.read_only {
                let _ = sel.expunge_deleted(None);
            }
            sel.save_cache();
        }
        Reply::ok(if expunge {
            "CLOSE completed"
        } else {
            "UNSELECT completed"
        })
    }
}
