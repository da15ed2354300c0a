//! Policy: trust, relay, receiving rules, ban lists and quotas for smtpd, as pure functions over
//! the config and users, with DNS, mailbox usage and the spool's free space passed in as traits
//! (SPEC §3, seed 000 "Anti-Spam Measures" and "Controlling Mailboxes").
//!
//! Refusals happen in the dialogue: at MAIL (bans on sender/HELO/IP, size, a spool short of
//! space, empty return-path, numeric sender domains, spoofed sender, SPF), at RCPT (bans on
//! recipient, routing, relay, quota) and after DATA (size per class and per handler,
//! attachments, header bans).

pub mod criteria;
pub mod dnsbl;
pub mod lookups;
pub mod mime;
pub mod restrictions;
pub mod spf;
pub mod usage;

use std::net::IpAddr;

use crate::config::dnsbl::DnsblStage;
use crate::config::rules::{Field, SpfMode, SpoofMode};
use crate::config::{Config, Listener};
use crate::dns::LookupError as DnsError;
use crate::proto::sasl::Credentials;
use crate::proto::smtp::command::MailParams;
use crate::proto::smtp::{Client, Policy, Refusals, Reply, Transaction};
use crate::queue::routing::{resolve, NoRoute, Route};
use crate::store::users::Users;
use criteria::{banned, met, Facts};
pub use lookups::{Found, Greylisting, Lookups, Rate, SpfQuery, Triplet};
use spf::SpfResult;
pub use usage::{exceeds_quota, over_quota, would_exceed, Exceeded, MailboxUsage, MaildirUsage};

/// Whether a client is trusted before authenticating (SPEC §3): a trusted listener, a trusted
/// network, or an IP → user assumption.
pub fn trusted_client(config: &Config, listener: Option<&Listener>, ip: Option<IpAddr>) -> bool {
    listener.is_some_and(|l| l.trusted)
        || ip.is_some_and(|ip| config.trust.contains(ip) || assumed_user(config, ip).is_some())
}

/// The user a client's IP is assumed to be (`[[receiving.assume]]`).
pub fn assumed_user(config: &Config, ip: IpAddr) -> Option<&str> {
    config.receiving.assumed_user(ip)
}

/// The receiving policy of one smtpd session.
pub struct SmtpPolicy<'a> {
    pub config: &'a Config,
    pub users: &'a Users,
    /// The listener's name (ban lists may be per listener).
    pub listener: Option<&'a str>,
    /// Whether the DNS checks (spoofed sender, SPF) run; without DNS they are skipped.
    pub dns: bool,
    /// Whether quotas are checked at RCPT; otherwise they are left to delivery.
    pub quotas: bool,
    /// Where SMTP AUTH checks credentials (none: AUTH is not available).
    pub creds: Option<&'a dyn Credentials>,
    /// Whether `limits.spool_reserve` is checked at MAIL (against the spool's free space).
    pub spool_space: bool,
    /// Whether the host-wide state under the spool is kept: greylisting and rate counters.
    pub host_state: bool,
}

/// How much the spool's file system can still take (the real one asks `statvfs`).
pub trait SpoolSpace: Sync {
    /// Bytes available, if known.
    fn available(&self) -> Option<u64>;
}

/// The free space of the file system holding the spool directory.
pub struct SpoolVolume<'a>(pub &'a std::path::Path);

impl SpoolSpace for SpoolVolume<'_> {
    fn available(&self) -> Option<u64> {
        crate::freespace::available(self.0).ok()
    }
}

/// 452 4.3.1 (RFC 3463: mail system full) when `available` bytes are below the `reserve`, or
/// below the reserve plus the `SIZE=` the client declared: refused at MAIL, before the client
/// sends a body that could not be stored. A reserve of 0 or an unknown figure lets it through.
pub fn short_of_space(reserve: u64, available: Option<u64>, size: Option<u64>) -> Option<Reply> {
    let available = available?;
    let needed = reserve.saturating_add(size.unwrap_or(0));
    (reserve > 0 && available < needed)
        .then(|| Reply::new(452, "4.3.1", "Insufficient system storage; try again later"))
}

impl<'a> SmtpPolicy<'a> {
    pub fn new(config: &'a Config, users: &'a Users) -> SmtpPolicy<'a> {
        SmtpPolicy {
            config,
            users,
            listener: None,
            dns: false,
            quotas: false,
            creds: None,
            spool_space: false,
            host_state: false,
        }
    }

    fn facts<'b>(&self, client: &'b Client, sender: &'b str) -> Facts<'b> {
        Facts {
            sender: Some(sender),
            helo: client.helo.as_deref(),
            ip: client.ip,
            ..Facts::default()
        }
    }

    /// The domain to check `client` against, when the spoofed-sender check applies.
    fn spoof_domain(&self, client: &Client, sender: &str) -> Option<(IpAddr, String)> {
        let rules = self.config.receiving.rules(client.trusted);
        let listed = || {
            let f = self.facts(client, sender);
            rules.spoof_list.iter().any(|c| met(c, &f) == Some(true))
        };
        let applies = match rules.spoof_check {
            SpoofMode::Off => false,
            SpoofMode::AllExcept => !listed(),
            SpoofMode::Only => listed(),
        };
        let (ip, (_, domain)) = (client.ip?, sender.rsplit_once('@')?);
        (self.dns && applies && !domain.starts_with('[')).then(|| (ip, domain.to_string()))
    }

    fn spoof_check(&self, client: &Client, sender: &str, found: &Found) -> Result<(), Reply> {
        let (Some((ip, domain)), Some(answer)) =
            (self.spoof_domain(client, sender), found.spoof.as_ref())
        else {
            return Ok(());
        };
        match answer {
            Ok(true) => Ok(()),
            Ok(false) => Err(Reply::new(
                550,
                "5.7.1",
                format!(
                    "<{sender}>: Sender address rejected: {ip} is not a mail server of {domain}"
                ),
            )),
            Err(DnsError::NotFound) | Err(DnsError::Temporary(_)) => Err(Reply::new(
                451,
                "4.4.3",
                format!(
                    "<{sender}>: Sender address check failed temporarily (DNS); try again later"
                ),
            )),
        }
    }

    /// The client's address, when the DNS lists are to be asked about it at `stage`: an
    /// untrusted, unauthenticated client with lists configured.
    fn dnsbl_ip(&self, client: &Client, stage: DnsblStage) -> Option<IpAddr> {
        let r = &self.config.receiving;
        let wanted = self.dns && !client.trusted && client.auth_user.is_none();
        (wanted && r.dnsbl_at == stage && !r.dnsbl.is_empty()).then_some(client.ip?)
    }

    /// The DNS lists' refusal at `stage`, if they name the client.
    fn dnsbl_check(&self, client: &Client, stage: DnsblStage, found: &Found) -> Result<(), Reply> {
        let (Some(ip), Some(listings)) = (self.dnsbl_ip(client, stage), &found.dnsbl) else {
            return Ok(());
        };
        let threshold = self.config.receiving.dnsbl_threshold();
        let refusal = dnsbl::verdict(ip, threshold, listings);
        dnsbl::log(ip, threshold, listings, refusal.is_some());
        refusal.map_or(Ok(()), Err)
    }

    /// The greylisting triplet, when the client's class is greylisted: an unauthenticated
    /// client with an address.
    fn triplet(&self, client: &Client, sender: &str, rcpt: &str) -> Option<Triplet> {
        let on = self.host_state && self.config.receiving.rules(client.trusted).greylist;
        (on && client.auth_user.is_none()).then_some(())?;
        Some(Triplet {
            ip: client.ip?,
            sender: sender.to_string(),
            recipient: rcpt.to_string(),
        })
    }

    /// Greylisting's deferral, if it defers this recipient.
    fn greylist_check(
        &self,
        client: &Client,
        txn: &Transaction,
        rcpt: &str,
        found: &Found,
    ) -> Result<(), Reply> {
        let (Some(t), Some(Greylisting::Defer { wait, new })) =
            (self.triplet(client, &txn.sender, rcpt), found.greylist)
        else {
            return Ok(());
        };
        if new {
            crate::events::event("greylisted")
                .field("ip", t.ip)
                .field("from", &t.sender)
                .field("to", rcpt)
                .field("delay", wait)
                .emit();
        }
        Err(Reply::new(
            451,
            "4.7.1",
            format!(
                "<{rcpt}>: Recipient address rejected: Greylisted, try again in {wait} seconds"
            ),
        ))
    }

    /// The per-minute counters a MAIL (`what` = "messages") or a RCPT ("recipients") counts
    /// against: per address for untrusted clients that did not authenticate, per user for
    /// authenticated ones, per sender domain for both; none for trusted networks and listeners.
    fn rates(&self, client: &Client, sender: &str, what: &str) -> Vec<Rate> {
        let l = &self.config.receiving.rates;
        let (per_ip, per_user, per_domain) = match what {
            "messages" => (
                l.messages_per_ip,
                l.messages_per_user,
                l.messages_per_sender_domain,
            ),
            _ => (
                l.recipients_per_ip,
                l.recipients_per_user,
                l.recipients_per_sender_domain,
            ),
        };
        if !self.host_state || (client.trusted && client.auth_user.is_none()) {
            return Vec::new();
        }
        let mut rates = Vec::new();
        match (&client.auth_user, client.ip) {
            (Some(user), _) if per_user > 0 => rates.push(Rate {
                key: format!("{what} by user {user}"),
                limit: per_user,
            }),
            (None, Some(ip)) if per_ip > 0 => rates.push(Rate {
                key: format!("{what} from {ip}"),
                limit: per_ip,
            }),
            _ => {}
        }
        let domain = sender.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase());
        if let Some(domain) = domain.filter(|_| per_domain > 0) {
            rates.push(Rate {
                key: format!("{what} from sender domain {domain}"),
                limit: per_domain,
            });
        }
        rates
    }

    /// 451 4.7.1 when a counter is over its limit (logged once per minute and counter).
    fn rate_check(found: &Found) -> Result<(), Reply> {
        let Some(over) = &found.rate else {
            return Ok(());
        };
        if over.count == over.limit.saturating_add(1) {
            crate::events::event("rate_limited")
                .field("counter", &over.key)
                .field("limit", over.limit)
                .field("retry", over.retry)
                .emit();
        }
        Err(Reply::new(
            451,
            "4.7.1",
            format!(
                "Rate limit exceeded: more than {} {} a minute; try again in {} seconds",
                over.limit, over.key, over.retry
            ),
        ))
    }

    /// The SPF question for this client and sender, when SPF is on for its class.
    fn spf_query(&self, client: &Client, sender: &str) -> Option<SpfQuery> {
        let mode = self.config.receiving.rules(client.trusted).spf;
        (self.dns && mode != SpfMode::Off).then_some(())?;
        Some(SpfQuery {
            ip: client.ip?,
            sender: sender.to_string(),
            helo: client.helo.clone().unwrap_or_default(),
        })
    }

    fn spf_check(&self, client: &Client, sender: &str, found: &Found) -> Result<(), Reply> {
        let mode = self.config.receiving.rules(client.trusted).spf;
        let (Some(query), Some(result)) = (self.spf_query(client, sender), found.spf) else {
            return Ok(());
        };
        let ip = query.ip;
        crate::events::event("spf")
            .field("ip", ip)
            .field("from", sender)
            .field("result", format!("{result:?}").to_lowercase())
            .emit();
        match result {
            SpfResult::Fail => Err(Reply::new(
                550,
                "5.7.23",
                format!(
                    "<{sender}>: SPF check failed: {ip} is not allowed to send for this domain"
                ),
            )),
            SpfResult::SoftFail if mode == SpfMode::Softfail => Err(Reply::new(
                550,
                "5.7.23",
                format!("<{sender}>: SPF check failed (softfail) for {ip}"),
            )),
            // RFC 7208 §8.6 with RFC 7372 §3.2: 451 and X.7.24 (in place of 4.4.3). A permerror
            // (a broken record) is let through, as Postfix's policyd-spf does by default.
            SpfResult::TempError => Err(Reply::new(
                451,
                "4.7.24",
                format!("<{sender}>: SPF check failed temporarily (DNS); try again later"),
            )),
            _ => Ok(()),
        }
    }
}

impl Policy for SmtpPolicy<'_> {
    fn sender_lookups(&self, client: &Client, sender: &str) -> Lookups {
        Lookups {
            spoof: (!sender.is_empty())
                .then(|| self.spoof_domain(client, sender))
                .flatten(),
            spf: self.spf_query(client, sender),
            usage: None,
            spool_space: self.spool_space && self.config.limits.spool_reserve.0 > 0,
            dnsbl: self.dnsbl_ip(client, DnsblStage::Mail),
            greylist: None,
            rates: self.rates(client, sender, "messages"),
        }
    }

    fn check_sender(
        &self,
        client: &Client,
        sender: &str,
        params: &MailParams,
        found: &Found,
    ) -> Result<(), Reply> {
        self.dnsbl_check(client, DnsblStage::Mail, found)?;
        Self::rate_check(found)?;
        let bans = &self.config.receiving.bans;
        let fields = [Field::Sender, Field::Helo, Field::ClientIp];
        if let Some(reply) = banned(bans, self.listener, &fields, &self.facts(client, sender)) {
            return Err(reply);
        }
        let rules = self.config.receiving.rules(client.trusted);
        if let Some(reply) = params.size.and_then(|size| class_too_big(rules, size)) {
            return Err(reply);
        }
        let reserve = self.config.limits.spool_reserve.0;
        if let Some(reply) = short_of_space(reserve, found.spool_space, params.size) {
            return Err(reply);
        }
        if sender.is_empty() && rules.block_empty_return_path {
            return Err(Reply::new(
                550,
                "5.7.1",
                "Empty return-path <> is not accepted here",
            ));
        }
        let numeric = sender
            .rsplit_once('@')
            .is_some_and(|(_, d)| d.starts_with('['));
        if numeric && rules.block_numeric_sender_domains {
            return Err(Reply::new(
                553,
                "5.1.8",
                format!("<{sender}>: Sender address rejected: numeric domains are not accepted"),
            ));
        }
        if !sender.is_empty() {
            self.spoof_check(client, sender, found)?;
        }
        self.spf_check(client, sender, found)
    }

    fn recipient_lookups(&self, client: &Client, txn: &Transaction, rcpt: &str) -> Lookups {
        let user = match resolve(self.config, self.users, rcpt) {
            Ok(r) => match r.route {
                Route::Local { user } if self.quotas => Some(user),
                _ => None,
            },
            Err(_) => None,
        };
        Lookups {
            usage: user.filter(|u| self.users.get(u).is_some_and(|u| u.quota.is_some())),
            dnsbl: self.dnsbl_ip(client, DnsblStage::Rcpt),
            // Only for recipients that would be accepted (see check_recipient).
            greylist: resolve(self.config, self.users, rcpt)
                .ok()
                .and_then(|_| self.triplet(client, &txn.sender, rcpt)),
            rates: self.rates(client, &txn.sender, "recipients"),
            ..Lookups::default()
        }
    }

    fn check_recipient(
        &self,
        client: &Client,
        txn: &Transaction,
        rcpt: &str,
        found: &Found,
    ) -> Result<(), Reply> {
        self.dnsbl_check(client, DnsblStage::Rcpt, found)?;
        Self::rate_check(found)?;
        let facts = Facts {
            recipient: Some(rcpt),
            ..self.facts(client, &txn.sender)
        };
        let bans = &self.config.receiving.bans;
        if let Some(reply) = banned(bans, self.listener, &[Field::Recipient], &facts) {
            return Err(reply);
        }
        match resolve(self.config, self.users, rcpt) {
            Ok(r) => {
                // RFC 1870 §6.2: a SIZE= over this recipient's limit is refused at RCPT.
                let declared = txn.params.size.zip(r.handler);
                if let Some(reply) =
                    declared.and_then(|(size, h)| restrictions::too_big(h, rcpt, size))
                {
                    return Err(reply);
                }
                if let (Route::Local { user }, Some(used)) = (&r.route, found.usage) {
                    // Full, or too full for the SIZE= the client declared.
                    let size = txn.params.size.unwrap_or(0);
                    let quota = self.users.get(user).and_then(|u| u.quota);
                    if would_exceed(quota, used, size).is_some() {
                        return Err(Reply::new(
                            452,
                            "4.2.2",
                            format!("<{rcpt}>: Mailbox full, try again later"),
                        ));
                    }
                }
                self.greylist_check(client, txn, rcpt, found)
            }
            Err(NoRoute::NoSuchUser) => Err(Reply::new(
                550,
                "5.1.1",
                format!("<{rcpt}>: Recipient address rejected: no such user here"),
            )),
            Err(NoRoute::NotOurs { .. }) if self.config.receiving.may_relay(client.trusted) => {
                Ok(())
            }
            Err(NoRoute::NotOurs { .. }) => Err(Reply::new(
                554,
                "5.7.1",
                format!("<{rcpt}>: Relay access denied"),
            )),
            Err(NoRoute::Malformed) => {
                Err(Reply::new(501, "5.1.3", "Bad recipient address syntax"))
            }
            Err(NoRoute::Loop) => Err(Reply::new(
                550,
                "5.4.6",
                format!("<{rcpt}>: Routing loop detected in address handlers"),
            )),
        }
    }

    fn credentials(&self) -> Option<&dyn Credentials> {
        self.creds
    }

    fn check_message(&self, client: &Client, txn: &Transaction) -> Result<Refusals, Reply> {
        let rules = self.config.receiving.rules(client.trusted);
        if let Some(reply) = class_too_big(rules, txn.data.len() as u64) {
            return Err(reply);
        }
        let bans = &self.config.receiving.bans;
        let wants_parts = !rules.block_extensions.is_empty()
            || !rules.block_content_types.is_empty()
            || bans.iter().any(|b| b.criterion.field == Field::Header);
        if wants_parts {
            let (headers, parts) = mime::scan(&txn.data);
            let facts = Facts {
                headers: Some(&headers),
                ..self.facts(client, &txn.sender)
            };
            if let Some(reply) = banned(bans, self.listener, &[Field::Header], &facts) {
                return Err(reply);
            }
            if let Some(why) =
                mime::blocked(&parts, &rules.block_extensions, &rules.block_content_types)
            {
                return Err(Reply::new(550, "5.7.1", format!("Message refused: {why}")));
            }
        }
        let rcpts: Vec<&str> = txn.recipients.iter().map(|(r, _)| r.as_str()).collect();
        Ok(restrictions::refusals(
            self.config,
            self.users,
            &rcpts,
            &txn.data,
        ))
    }
}

/// 552 5.3.4 when `size` is over the trust class's `max_size`.
fn class_too_big(rules: &crate::config::rules::RuleSet, size: u64) -> Option<Reply> {
    let max = rules.max_size.filter(|m| size > m.0)?;
    Some(Reply::new(
        552,
        "5.3.4",
        format!("Message size exceeds the limit of {} bytes", max.0),
    ))
}

#[cfg(test)]
mod tests;
