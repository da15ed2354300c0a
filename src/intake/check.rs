//! The checks before anything is written: the content filter ([`crate::intake::filter`]), then the
//! handlers' restrictions and copy-to ([`crate::receive::policy::restrictions`]). Neither applies to a
//! notification.

use super::{RecipientRefusals, Refusal, Submission};
use crate::config::Config;
use crate::intake::filter::{self, Verdict};
use crate::queue::spool::Recipient;
use crate::receive::policy::restrictions;
use crate::store::users::Users;

/// The content filter's refusal of `sub`, if there is a filter and it does not accept.
pub(super) async fn filter(config: &Config, sub: &Submission) -> Option<Refusal> {
    let cfg = config.filter.as_ref().filter(|_| sub.origin.checked())?;
    let recipients: Vec<String> = sub.recipients.iter().map(|r| r.address.clone()).collect();
    let input = filter::Input {
        sender: &sub.sender,
        recipients: &recipients,
        client: sub.origin.client_ip(),
        origin: sub.origin.name(),
    };
    match filter::run(cfg, &sub.data, input).await {
        Verdict::Accept => None,
        Verdict::Reject(reply) => Some(Refusal::Filter {
            reply,
            temporary: false,
        }),
        Verdict::TempFail(reply) => Some(Refusal::Filter {
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
