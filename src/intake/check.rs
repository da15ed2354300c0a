//! The checks before anything is written: the content filter ([`crate::intake::filter`]), then the
//! handlers' restrictions and copy-to ([`crate::receive::policy::restrictions`]). Neither applies to a
//! notification.

use super::{RecipientRefusals, Refusal, Submission};
use crate::config::Config;
use crate::intake::filter::{self, Verdict};
use crate::queue::spool::Recipient;
use crate::receive::policy::restrictions;
use crate::store::users::Users;

/// The content filter's verdict on `sub` (none: no filter, or not for this origin): its
/// refusal, or the message to keep instead (`modify = true`).
pub(super) async fn filter(config: &Config, sub: &Submission) -> Result<Option<Vec<u8>>, Refusal> {
    let Some(cfg) = config.filter.as_ref().filter(|_| sub.origin.checked()) else {
        return Ok(None);
    };
    let recipients: Vec<String> = sub.recipients.iter().map(|r| r.address.clone()).collect();
    let input = filter::Input {
        sender: &sub.sender,
        recipients: &recipients,
        client: sub.origin.client_ip(),
        origin: sub.origin.name(),
    };
    let max = usize::try_from(config.limits.message_size.0).unwrap_or(usize::MAX);
    match filter::run(cfg, &sub.data, input, max).await {
        Verdict::Accept => Ok(None),
        Verdict::Replace(message) => Ok(Some(message)),
        Verdict::Reject(reply) => Err(Refusal::Filter {
            reply,
            temporary: false,
        }),
        Verdict::TempFail(reply) => Err(Refusal::Filter {
            reply,
            temporary: true,
        }),
    }
}

/// The recipients for the envelope after the handlers had their say (those refusing marked
/// failed, copies added), with the refusing ones and their replies; a refusal when every
/// recipient refuses.
pub(super) fn screen(
    config: &Config,
    users: &Users,
    sub: &Submission,
) -> Result<(Vec<Recipient>, RecipientRefusals), Refusal> {
    if !sub.origin.checked() {
        return Ok((sub.recipients.clone(), Vec::new()));
    }
    let screened = restrictions::screen(config, users, sub.recipients.clone(), &sub.data);
    if screened.all_refused {
        return Err(Refusal::Recipients(screened.refused));
    }
    Ok((screened.recipients, screened.refused))
}
