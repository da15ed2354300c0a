//! `[receiving]`: receiving rules per trust class, ban lists and IP → user assumptions (SPEC §3,
//! seed 000 "Anti-Spam Measures", scenario 4). The DNS checks use the one resolver, `[dns]`.
//!
//! ```toml
//! [receiving]
//! [receiving.untrusted]             # trusted: relay = true by default; untrusted: false
//! max_size = "10M"
//! block_extensions = ["exe", "scr"]
//! block_content_types = ["application/x-msdownload"]
//! block_numeric_sender_domains = true
//! block_empty_return_path = true
//! spoof_check = "all-except"        # off | all-except | only
//! spoof_list = [{ field = "sender", op = "ends-with", value = "@partner.example" }]
//! spf = "fail"                      # off | fail | softfail (reject at this result or worse)
//! dnsbl = ["zen.example"]         # DNS blocklists, see `dnsbl.rs`
//! [[receiving.assume]]
//! network = "10.0.0.7/32"
//! user = "bob"
//! [[receiving.ban]]                  # scenario 4: a LAN-only domain
//! field = "recipient"               # sender | recipient | helo | client-ip | header
//! op = "ends-with"                  # contains | starts-with | ends-with | equals | matches (regex)
//! value = "@internal.example"
//! negate = true                     # "this criterion is NOT met if …"
//! reply = "550 5.7.1 Only internal.example recipients are accepted"
//! listeners = []                    # empty: every listener
//! ```

use std::net::SocketAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::dnsbl::{zone_problem, DnsList, DnsblStage};
use super::locate::Seg;
use super::{ByteSize, Config, Seconds};
use crate::store::users::valid_user_name;

/// `[receiving]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Receiving {
    pub trusted: RuleSet,
    pub untrusted: RuleSet,
    /// IP → user: clients from these networks are trusted as that user.
    #[serde(rename = "assume")]
    pub assumptions: Vec<Assumption>,
    /// Ban-list policies: a matching criterion rejects the command.
    #[serde(rename = "ban")]
    pub bans: Vec<Ban>,
    /// Older spelling of `[dns] servers` (see [`Config::dns`]).
    pub dns: Vec<SocketAddr>,
    /// DNS blocklists an untrusted client's address is looked up in (see [`super::dnsbl`]).
    pub dnsbl: Vec<DnsList>,
    /// The weight of listings at which a client is refused (default 1).
    pub dnsbl_threshold: Option<u32>,
    /// DNS allowlists: a client listed in one skips the blocklists.
    pub dnswl: Vec<DnsList>,
    /// When a listed client is refused.
    pub dnsbl_at: DnsblStage,
    /// Greylisting's times.
    pub greylisting: Greylisting,
    /// Per-minute limits, shared by every process on the host.
    pub rates: RateLimits,
    /// ARC sealers (`d=` of the ARC-Seal) whose valid chain makes a DMARC failure acceptable:
    /// forwarders and lists that vouch for the original authentication (RFC 8617 §7.2).
    pub arc_trusted_sealers: Vec<String>,
}

/// `[receiving.rates]`: per-minute limits (0: none), counted host-wide. Per address: untrusted
/// clients that did not authenticate; per user: authenticated ones; per sender domain: both.
/// Trusted networks and listeners are not counted.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    pub connections_per_ip: u32,
    /// SMTP connections at once from one untrusted address (not a rate: places held).
    pub connections_at_once_per_ip: u32,
    /// SMTP connections a minute from one untrusted /24 (IPv4) or /64 (IPv6).
    pub connections_per_network: u32,
    /// SMTP connections at once from one untrusted /24 or /64.
    pub connections_at_once_per_network: u32,
    pub messages_per_ip: u32,
    pub recipients_per_ip: u32,
    pub messages_per_user: u32,
    pub recipients_per_user: u32,
    pub messages_per_sender_domain: u32,
    pub recipients_per_sender_domain: u32,
}

/// `[receiving.greylisting]`: how long a new (client /24 or /64, sender, recipient) triplet
/// waits, and how long triplets are remembered.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Greylisting {
    /// A new triplet is deferred (`451 4.7.1`) until this long after it was first seen.
    pub delay: Seconds,
    /// It must come back within this long after the delay, or it counts as new again.
    pub window: Seconds,
    /// A triplet that passed is remembered this long after its last mail.
    pub expire: Seconds,
}

impl Default for Greylisting {
    fn default() -> Greylisting {
        Greylisting {
            delay: Seconds(300),
            window: Seconds(2 * 86_400),
            expire: Seconds(35 * 86_400),
        }
    }
}

impl Greylisting {
    /// The store's times.
    pub fn times(&self) -> crate::store::greylist::Times {
        crate::store::greylist::Times {
            delay: self.delay.0,
            window: self.window.0,
            expire: self.expire.0,
        }
    }
}

/// Receiving rules for one trust class.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuleSet {
    /// May relay to domains not configured here (default: trusted yes, untrusted no).
    pub relay: Option<bool>,
    /// Largest message accepted from this class (below `limits.message_size`).
    pub max_size: Option<ByteSize>,
    /// Attachment file name extensions refused, without the dot (case-insensitive).
    pub block_extensions: Vec<String>,
    /// Attachment content types refused (`type/subtype`, or `type/*`).
    pub block_content_types: Vec<String>,
    /// Refuse senders like `user@[192.0.2.1]`.
    pub block_numeric_sender_domains: bool,
    /// Refuse the null reverse-path `<>`.
    pub block_empty_return_path: bool,
    /// The spoofed-sender check: the client's IP must belong to the sender's domain.
    pub spoof_check: SpoofMode,
    /// With `all-except`: senders not checked; with `only`: the senders checked.
    pub spoof_list: Vec<Criterion>,
    /// SPF (RFC 7208) on the MAIL FROM domain.
    pub spf: SpfMode,
    /// Greylist this class (unauthenticated clients; see `[receiving.greylisting]`).
    pub greylist: bool,
    /// DKIM, ARC and DMARC after DATA, recorded in `Authentication-Results` (not for the
    /// trusted class, whose mail is signed instead).
    pub dmarc: super::mailauth::DmarcMode,
}

/// Which senders the spoofed-sender check applies to.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum SpoofMode {
    #[default]
    Off,
    /// Every sender except those matching `spoof_list`.
    AllExcept,
    /// Only senders matching `spoof_list`.
    Only,
}

/// The SPF result at which mail is refused.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum SpfMode {
    #[default]
    Off,
    /// Refuse on `fail` (550 5.7.23).
    Fail,
    /// Refuse on `fail` and `softfail`.
    Softfail,
}

/// `[[receiving.assume]]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Assumption {
    pub network: IpNet,
    pub user: String,
}

/// What a criterion looks at.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Field {
    /// The SMTP sender (MAIL FROM).
    Sender,
    /// An SMTP recipient (RCPT TO).
    Recipient,
    /// The HELO/EHLO name.
    Helo,
    /// The client's IP address.
    ClientIp,
    /// A message header (named by `header`), checked after DATA.
    Header,
}

/// How a criterion compares.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    Contains,
    StartsWith,
    EndsWith,
    Equals,
    /// A regular expression (case-insensitive).
    Matches,
}

/// field × operator × value, negatable ("this criterion is (NOT) met if …"). The value of a
/// `matches` criterion is compiled once, as the configuration is read.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(from = "CriterionSpec", into = "CriterionSpec")]
pub struct Criterion {
    pub field: Field,
    /// The header name, with `field = "header"`.
    pub header: Option<String>,
    pub op: Op,
    pub value: String,
    pub negate: bool,
    /// With `op = "matches"`: the compiled `value` (case-insensitive), or why it does not compile
    /// (a problem `config check` reports, so a running server never has one).
    pub regex: Option<Result<regex::Regex, String>>,
}

/// A criterion as written in the configuration.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct CriterionSpec {
    field: Field,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    header: Option<String>,
    op: Op,
    value: String,
    #[serde(default)]
    negate: bool,
}

/// Largest compiled regular expression (bytes of its program).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

impl Criterion {
    pub fn new(field: Field, header: Option<String>, op: Op, value: &str, negate: bool) -> Self {
        let regex = (op == Op::Matches).then(|| {
            regex::RegexBuilder::new(value)
                .case_insensitive(true)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| e.to_string())
        });
        Criterion {
            field,
            header,
            op,
            value: value.to_string(),
            negate,
            regex,
        }
    }
}

impl From<CriterionSpec> for Criterion {
    fn from(s: CriterionSpec) -> Criterion {
        Criterion::new(s.field, s.header, s.op, &s.value, s.negate)
    }
}

impl From<Criterion> for CriterionSpec {
    fn from(c: Criterion) -> CriterionSpec {
        CriterionSpec {
            field: c.field,
            header: c.header,
            op: c.op,
            value: c.value,
            negate: c.negate,
        }
    }
}

/// The same criterion as written (the compiled form follows from it).
impl PartialEq for Criterion {
    fn eq(&self, o: &Criterion) -> bool {
        (self.field, &self.header, self.op, &self.value, self.negate)
            == (o.field, &o.header, o.op, &o.value, o.negate)
    }
}

impl Eq for Criterion {}

/// `[[receiving.ban]]`: a criterion that rejects the command it applies to.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(from = "BanSpec", into = "BanSpec")]
pub struct Ban {
    pub criterion: Criterion,
    /// The reply, `"550 5.7.1 text"`; a default per field when unset.
    pub reply: Option<String>,
    /// Listener names this ban applies to; empty: all.
    pub listeners: Vec<String>,
}

/// A ban as written in the configuration: the criterion's keys and its own, in one table.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct BanSpec {
    field: Field,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    header: Option<String>,
    op: Op,
    value: String,
    #[serde(default)]
    negate: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reply: Option<String>,
    #[serde(default)]
    listeners: Vec<String>,
}

impl From<BanSpec> for Ban {
    fn from(s: BanSpec) -> Ban {
        Ban {
            criterion: Criterion::new(s.field, s.header, s.op, &s.value, s.negate),
            reply: s.reply,
            listeners: s.listeners,
        }
    }
}

impl From<Ban> for BanSpec {
    fn from(b: Ban) -> BanSpec {
        let c = b.criterion;
        BanSpec {
            field: c.field,
            header: c.header,
            op: c.op,
            value: c.value,
            negate: c.negate,
            reply: b.reply,
            listeners: b.listeners,
        }
    }
}

impl Receiving {
    /// The rules for a trust class.
    pub fn rules(&self, trusted: bool) -> &RuleSet {
        if trusted {
            &self.trusted
        } else {
            &self.untrusted
        }
    }

    /// Whether a class may relay.
    pub fn may_relay(&self, trusted: bool) -> bool {
        self.rules(trusted).relay.unwrap_or(trusted)
    }

    /// The weight of listings at which a client is refused.
    pub fn dnsbl_threshold(&self) -> u32 {
        self.dnsbl_threshold.unwrap_or(1)
    }

    /// The user assumed for `ip`, if an assumption covers it.
    pub fn assumed_user(&self, ip: std::net::IpAddr) -> Option<&str> {
        self.assumptions
            .iter()
            .find(|a| a.network.contains(&ip))
            .map(|a| a.user.as_str())
    }
}

/// Split a configured reply `"550 5.7.1 text"` into its parts.
pub fn parse_reply(s: &str) -> Option<(u16, String, String)> {
    let mut it = s.trim().splitn(3, ' ');
    let code: u16 = it.next()?.parse().ok()?;
    if !(400..=599).contains(&code) {
        return None;
    }
    let enhanced = it.next()?.to_string();
    let parts: Vec<&str> = enhanced.split('.').collect();
    let class_ok = parts.first() == Some(&&*(code / 100).to_string());
    if parts.len() != 3 || !class_ok || parts.iter().any(|p| p.parse::<u16>().is_err()) {
        return None;
    }
    let text = it.next().unwrap_or("").trim().to_string();
    (!text.is_empty() && !text.chars().any(char::is_control)).then_some((code, enhanced, text))
}

/// Check the receiving rules.
pub(super) fn check(config: &Config, mut problem: impl FnMut(&[Seg<'_>], String)) {
    use Seg::{Index, Key};
    let r = &config.receiving;
    for (class, rules) in [("trusted", &r.trusted), ("untrusted", &r.untrusted)] {
        for (k, c) in rules.spoof_list.iter().enumerate() {
            if let Some(why) = criterion_problem(c) {
                problem(
                    &[Key("receiving"), Key(class), Key("spoof_list"), Index(k)],
                    format!("receiving.{class}.spoof_list: {why}"),
                );
            }
        }
        if rules.spoof_check != SpoofMode::Off
            && rules.spoof_list.is_empty()
            && rules.spoof_check == SpoofMode::Only
        {
            problem(
                &[Key("receiving"), Key(class), Key("spoof_check")],
                format!("receiving.{class}: spoof_check = \"only\" needs a spoof_list"),
            );
        }
    }
    for (key, lists) in [("dnsbl", &r.dnsbl), ("dnswl", &r.dnswl)] {
        for (i, l) in lists.iter().enumerate() {
            if let Some(why) = zone_problem(&l.zone) {
                problem(
                    &[Key("receiving"), Key(key), Index(i)],
                    format!("receiving.{key}: {why}"),
                );
            }
        }
    }
    if r.dnsbl_threshold == Some(0) {
        problem(
            &[Key("receiving"), Key("dnsbl_threshold")],
            "receiving.dnsbl_threshold must be at least 1".into(),
        );
    }
    for (i, a) in r.assumptions.iter().enumerate() {
        if !valid_user_name(&a.user) {
            problem(
                &[Key("receiving"), Key("assume"), Index(i), Key("user")],
                format!("receiving.assume: {:?} is not a valid user name", a.user),
            );
        }
    }
    for (i, b) in r.bans.iter().enumerate() {
        if let Some(why) = criterion_problem(&b.criterion) {
            problem(
                &[Key("receiving"), Key("ban"), Index(i)],
                format!("ban: {why}"),
            );
        }
        if let Some(reply) = b.reply.as_deref().filter(|r| parse_reply(r).is_none()) {
            problem(
                &[Key("receiving"), Key("ban"), Index(i), Key("reply")],
                format!("ban reply {reply:?} must look like \"550 5.7.1 text\""),
            );
        }
        for l in b.listeners.iter().filter(|l| config.listener(l).is_none()) {
            problem(
                &[Key("receiving"), Key("ban"), Index(i), Key("listeners")],
                format!("ban names listener {l:?}, which is not configured"),
            );
        }
    }
}

fn criterion_problem(c: &Criterion) -> Option<String> {
    if (c.field == Field::Header) != c.header.is_some() {
        return Some("header = \"Name\" goes with field = \"header\", and only there".into());
    }
    match &c.regex {
        Some(Err(e)) => Some(format!("bad regular expression {:?}: {e}", c.value)),
        _ => None,
    }
}
