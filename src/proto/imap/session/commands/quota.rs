//! QUOTA (RFC 9208): one quota root, `""`, per user, holding the STORAGE resource — the
//! user's `quota` in the users file and the usage delivery and APPEND count against it (in
//! units of 1,024 octets). A user without a quota has no quota root. Quotas are set by the
//! administrator, so SETQUOTA is refused and QUOTASET is not advertised.

use super::Handled;
use crate::proto::imap::response::{Code, Data};
use crate::proto::imap::session::dispatch::Reply;
use crate::proto::imap::session::Session;
use crate::proto::imap::store::{Account, MailStore};
use crate::proto::sasl::Credentials;

/// The name of the one quota root.
pub const ROOT: &str = "";

impl<S: MailStore> Session<S> {
    /// The `* QUOTA` response of the logged-in user, when they have a quota.
    fn quota_data(&self, creds: &dyn Credentials) -> Option<Data> {
        let login = self.login.as_ref()?;
        let limit = creds.quota(&login.user)?;
        let used = login.account.used_bytes().unwrap_or(0);
        Some(Data::Quota {
            root: ROOT.to_string(),
            resources: vec![("STORAGE", used.div_ceil(1024), limit / 1024)],
        })
    }

    /// GETQUOTAROOT: the mailbox's quota root (none without a quota) and its usage and limit.
    pub(in crate::proto::imap::session) fn get_quota_root(
        &self,
        mailbox: &str,
        creds: &dyn Credentials,
    ) -> Handled {
        let name = self.name_arg(mailbox, false)?;
        self.existing(&name, Code::NonExistent)?;
        let quota = self.quota_data(creds);
        let roots = if quota.is_some() {
            vec![ROOT.to_string()]
        } else {
            Vec::new()
        };
        let mut data = vec![Data::QuotaRoot {
            mailbox: self.shown(&name),
            roots,
        }];
        data.extend(quota);
        Ok(Reply::ok("GETQUOTAROOT completed").with(data))
    }

    /// GETQUOTA: usage and limit of the quota root `""`.
    pub(in crate::proto::imap::session) fn get_quota(
        &self,
        root: &str,
        creds: &dyn Credentials,
    ) -> Handled {
        self.account()?;
        match self.quota_data(creds).filter(|_| root == ROOT) {
            Some(data) => Ok(Reply::ok("GETQUOTA completed").with(vec![data])),
            None => Err(Reply::no(Some(Code::NonExistent), "No such quota root").into()),
        }
    }

    /// SETQUOTA: refused (quotas are the administrator's, in the users file).
    pub(in crate::proto::imap::session) fn set_quota(&self) -> Reply {
        Reply::no(
            Some(Code::NoPerm),
            "Quotas are set by the administrator (the users file)",
        )
    }
}
