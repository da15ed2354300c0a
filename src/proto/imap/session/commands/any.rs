//! Commands of any state (RFC 3501 §6.1): CAPABILITY, NOOP, LOGOUT; ID (RFC 2971) and
//! NAMESPACE (RFC 2342, a single personal namespace). NOOP is answered by the dispatch: its
//! work is the mailbox updates every command may carry.

use crate::proto::imap::mailbox_name::DELIMITER;
use crate::proto::imap::response::{Code, Data, Status};
use crate::proto::imap::session::dispatch::{Reply, Then};
use crate::proto::imap::session::Session;
use crate::proto::imap::store::MailStore;

impl<S: MailStore> Session<S> {
    /// CAPABILITY: what this session offers now (STARTTLS and AUTH= only before login).
    pub(in crate::proto::imap::session) fn capability(&self) -> Reply {
        Reply::ok("CAPABILITY completed").with(vec![Data::Capability(self.capabilities())])
    }

    /// LOGOUT: BYE, then the completion, then the connection closes.
    pub(in crate::proto::imap::session) fn logout(&mut self) -> Reply {
        self.close_selected();
        self.logout = true;
        Reply::ok("LOGOUT completed")
            .with(vec![Data::condition(
                Status::Bye,
                None,
                "postern logging out",
            )])
            .then(Then::Close)
    }

    /// ID: the server's name and version, whatever the client said.
    pub(in crate::proto::imap::session) fn id(&self) -> Reply {
        Reply::ok("ID completed").with(vec![Data::Id(vec![
            ("name", "postern"),
            ("version", env!("CARGO_PKG_VERSION")),
        ])])
    }

    /// COMPRESS (RFC 4978): DEFLATE, once; the connection compresses after the OK.
    pub(in crate::proto::imap::session) fn compress(&mut self, mechanism: &str) -> Reply {
        if mechanism != "DEFLATE" {
            return Reply::bad(format!("Unknown compression mechanism {mechanism}"));
        }
        if self.compressed {
            return Reply::no(Some(Code::CompressionActive), "DEFLATE is active already");
        }
        self.compressed = true;
        Reply::ok("DEFLATE active").then(Then::Compress)
    }

    /// NAMESPACE: one personal namespace, no prefix.
    pub(in crate::proto::imap::session) fn namespace(&self) -> Reply {
        Reply::ok("NAMESPACE completed").with(vec![Data::Namespace {
            prefix: "",
            delimiter: DELIMITER,
        }])
    }
}
