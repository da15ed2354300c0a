//! The message-authentication checks in the intake, for mail from untrusted SMTP clients when
//! the receiving rules (or the recipients' domains) ask for them (`dmarc = "report"` or
//! `"enforce"`): forged `Authentication-Results` of ours removed, DKIM, SPF, ARC and DMARC
//! checked ([`crate::mailauth::verify`]), one `Authentication-Results` field added; with
//! `enforce`, the author domain's DMARC policy applied — `p=reject` refused (550 5.7.1),
//! `p=quarantine` marked for the recipients' Junk folders, a DNS failure refused for now
//! (451 4.7.5) — unless a trusted ARC sealer vouches for the message.

use super::{Origin, Refusal, Submission};
use crate::config::mailauth::DkimKey;
use crate::config::mailauth::DmarcMode;
use crate::config::Config;
use crate::dns::Resolver;
use crate::events::event;
use crate::mailauth::keys;
use crate::mailauth::verify::{self, Action, Envelope, QUARANTINE_MARK};
use crate::proto::mail::Reply;
use crate::queue::routing::{resolve, Route, Via};

/// The mode for a message to `recipients`: the strictest of their domains' `dmarc` settings,
/// the receiving class's for a recipient whose domain has none.
pub(super) fn mode(config: &Config, recipients: &[String]) -> DmarcMode {
    let class = config.receiving.rules(false).dmarc;
    recipients
        .iter()
        .map(|r| {
            r.rsplit_once('@')
                .and_then(|(_, d)| config.domain(d))
                .and_then(|d| d.dmarc)
                .unwrap_or(class)
        })
        .max()
        .unwrap_or(class)
}

/// Check `sub` and act on the verdict (see the module documentation).
pub(super) async fn authenticate(
    config: &Config,
    resolver: Option<&Resolver>,
    mut sub: Submission,
) -> Result<Submission, Refusal> {
    let Origin::Smtp { client, .. } = &sub.origin else {
        return Ok(sub);
    };
    if client.trusted || client.auth_user.is_some() {
        return Ok(sub);
    }
    let Some(ip) = client.ip else {
        return Ok(sub);
    };
    let recipients: Vec<String> = sub.recipients.iter().map(|r| r.address.clone()).collect();
    let mode = mode(config, &recipients);
    if mode == DmarcMode::Off {
        return Ok(sub);
    }
    let hostname = config.server.hostname.as_str();
    let cleaned = verify::strip_forged(&sub.data, hostname);
    let hickory = match resolver.map(Resolver::hickory) {
        Some(Ok(h)) => h,
        Some(Err(e)) => return Err(temporary(&e.to_string())),
        None => return Err(temporary("no resolver")),
    };
    let helo = client.helo.clone().unwrap_or_default();
    let env = Envelope {
        ip,
        helo: &helo,
        sender: &sub.sender,
        hostname,
    };
    let sealing = sealing_domain(config, &recipients);
    let sealer = match &sealing {
        Some((domain, k)) => match keys::cached(&config.base_dir.join(&k.key), k.algorithm) {
            Ok(key) => Some(verify::Sealer {
                domain,
                selector: &k.selector,
                key,
                headers: &k.headers,
            }),
            Err(e) => {
                event("arc_seal_failed")
                    .field("domain", domain)
                    .field("error", e)
                    .emit();
                None
            }
        },
        None => None,
    };
    let started = std::time::Instant::now();
    let checked = verify::check(hickory, env, &cleaned, sealer).await;
    let action = verify::decide(mode, &checked, &config.receiving.arc_trusted_sealers);
    event("authentication")
        .field("from", &sub.sender)
        .field("client", ip)
        .field("header_from", &checked.from_domain)
        .field("dkim", checked.dkim.join(","))
        .field("dmarc", format!("{:?}", checked.dmarc).to_ascii_lowercase())
        .opt("arc_sealer", checked.arc_sealer.as_deref())
        .field(
            "action",
            match &action {
                Action::Accept => "accept",
                Action::Quarantine => "quarantine",
                Action::Reject(_) => "reject",
                Action::TempFail(_) => "tempfail",
            },
        )
        .field("us", started.elapsed().as_micros())
        .emit();
    let header = match action {
        Action::Accept => checked.header,
        Action::Quarantine => {
            let h = checked.header.trim_end_matches("\r\n");
            format!("{h} {QUARANTINE_MARK}\r\n")
        }
        Action::Reject(reply) => {
            return Err(Refusal::Authentication {
                reply,
                temporary: false,
            })
        }
        Action::TempFail(reply) => {
            return Err(Refusal::Authentication {
                reply,
                temporary: true,
            })
        }
    };
    let arc_set = checked.arc_set.unwrap_or_default();
    let mut data = Vec::with_capacity(arc_set.len() + header.len() + cleaned.len());
    data.extend_from_slice(arc_set.as_bytes());
    data.extend_from_slice(header.as_bytes());
    data.extend_from_slice(&cleaned);
    sub.data = data;
    Ok(sub)
}

/// The domain that seals an ARC set on a message (RFC 8617 §5.1), and its key: a recipient
/// domain of ours, with DKIM keys, whose handler or redirect forwards the message to another
/// server (an alias to an outside address, a forwarding handler).
fn sealing_domain<'c>(config: &'c Config, recipients: &[String]) -> Option<(String, &'c DkimKey)> {
    let users = crate::store::users::Users::default();
    recipients.iter().find_map(|r| {
        let (_, domain) = r.rsplit_once('@')?;
        let key = config.domain(domain)?.dkim.first()?;
        let routed = resolve(config, &users, r).ok()?;
        let forwarded = matches!(routed.route, Route::Remote { .. })
            && matches!(routed.via, Via::Handler | Via::Redirect);
        forwarded.then(|| (domain.to_ascii_lowercase(), key))
    })
}

fn temporary(why: &str) -> Refusal {
    Refusal::Authentication {
        reply: Reply::new(
            451,
            "4.7.5",
            format!("Sender authentication unavailable ({why}); try again later"),
        ),
        temporary: true,
    }
}
