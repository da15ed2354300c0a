//! The checks of incoming mail from untrusted SMTP clients: DKIM (every signature up to
//! [`MAX_SIGNATURES`]), SPF of the MAIL FROM, ARC (chain validation) and DMARC (alignment and
//! the author domain's policy), recorded in one `Authentication-Results` field (RFC 8601) with
//! this server's host name as authserv-id — fields claiming that id are removed first
//! ([`strip_forged`]) — and the DMARC verdict acted on per [`DmarcMode`] ([`decide`]: pure).
//!
//! Cryptography, record parsing and the DMARC evaluation are mail-auth's. Its DMARC follows RFC
//! 9989 (DMARCbis), where the organisational domain comes from a DNS tree walk of `_dmarc`
//! records rather than the Public Suffix List. Lookups go through the process's one resolver
//! (`[dns]`), the whole check bounded by [`CHECK_TIMEOUT`].

use std::net::IpAddr;
use std::time::Duration;

use mail_auth::common::headers::HeaderWriter;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::dmarc::Policy;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, AuthenticationResults, DkimResult, DmarcResult, MessageAuthenticator,
    SpfResult,
};

use crate::config::mailauth::DmarcMode;
use crate::proto::mail::Reply;

/// DKIM signatures verified per message; the rest are ignored (each costs a lookup and a
/// signature check).
pub const MAX_SIGNATURES: usize = 10;
/// ARC sets looked at (RFC 8617 allows 50 at most).
pub const MAX_ARC_SETS: usize = 50;
/// The longest the checks of one message may take (then: temporary failure).
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// The SMTP facts the checks need.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    pub ip: IpAddr,
    pub helo: &'a str,
    /// The reverse-path, empty for `<>`.
    pub sender: &'a str,
    /// This server's host name: the authserv-id.
    pub hostname: &'a str,
}

/// A DMARC verdict, simplified for acting on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dmarc {
    Pass,
    /// Failed, with the policy the author domain asks for.
    Fail(Policy),
    /// No policy (no record, or no From domain).
    None,
    /// A lookup failed: try again later.
    TempError(String),
    PermError,
}

/// What the checks found.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The `Authentication-Results:` field (CRLF line ends).
    pub header: String,
    pub dmarc: Dmarc,
    /// The author (`From:`) domain.
    pub from_domain: String,
    /// The ARC chain passed and its latest sealer (`d=` of the highest ARC-Seal).
    pub arc_sealer: Option<String>,
    /// `dkim=` results in signature order (for the log and tests).
    pub dkim: Vec<String>,
    /// The ARC set sealed by this server (ARC-Seal, ARC-Message-Signature,
    /// ARC-Authentication-Results; CRLF line ends), when asked to seal and the chain allows.
    pub arc_set: Option<String>,
}

/// What to do with the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Accept,
    /// Into the recipients' Junk folders.
    Quarantine,
    Reject(Reply),
    TempFail(Reply),
}

/// The key an ARC set is sealed with (RFC 8617): the forwarding domain's first DKIM key.
pub struct Sealer<'a> {
    pub domain: &'a str,
    pub selector: &'a str,
    pub key: std::sync::Arc<super::keys::SigningKey>,
    /// Header fields the ARC-Message-Signature covers (those the message has).
    pub headers: &'a [String],
}

/// Check `message` (already without forged results: [`strip_forged`]); with `sealer`, also
/// seal the result as the next ARC set ([`Checked::arc_set`]).
pub async fn check(
    resolver: hickory_resolver::TokioResolver,
    env: Envelope<'_>,
    message: &[u8],
    sealer: Option<Sealer<'_>>,
) -> Checked {
    match tokio::time::timeout(CHECK_TIMEOUT, check_inner(resolver, env, message, sealer)).await {
        Ok(c) => c,
        Err(_) => Checked {
            header: format!(
                "Authentication-Results: {};\r\n\tdmarc=temperror (checks timed out)\r\n",
                env.hostname
            ),
            dmarc: Dmarc::TempError("the checks timed out".into()),
            from_domain: String::new(),
            arc_sealer: None,
            dkim: Vec::new(),
            arc_set: None,
        },
    }
}

async fn check_inner(
    resolver: hickory_resolver::TokioResolver,
    env: Envelope<'_>,
    message: &[u8],
    sealer: Option<Sealer<'_>>,
) -> Checked {
    let auth = MessageAuthenticator(resolver);
    let Some(mut msg) = AuthenticatedMessage::parse(message) else {
        return Checked {
            header: format!(
                "Authentication-Results: {};\r\n\tdkim=permerror (unparsable message);\r\n\tdmarc=permerror\r\n",
                env.hostname
            ),
            dmarc: Dmarc::PermError,
            from_domain: String::new(),
            arc_sealer: None,
            dkim: Vec::new(),
            arc_set: None,
        };
    };
    msg.dkim_headers.truncate(MAX_SIGNATURES);
    let too_many_arc = msg.as_headers.len() > MAX_ARC_SETS;
    let dkim = auth.verify_dkim(&msg).await;
    let arc = if too_many_arc {
        None
    } else {
        Some(auth.verify_arc(&msg).await)
    };
    let spf = auth
        .verify_spf(SpfParameters::verify_mail_from(
            env.ip,
            env.helo,
            env.hostname,
            env.sender,
        ))
        .await;
    let mail_from_domain = env
        .sender
        .rsplit_once('@')
        .map_or(env.helo, |(_, d)| d)
        .to_ascii_lowercase();
    let dmarc = auth
        .verify_dmarc(DmarcParameters::new(&msg, &dkim, &mail_from_domain, &spf))
        .await;
    let from = msg.from().to_string();
    let mut results = AuthenticationResults::new(env.hostname)
        .with_dkim_results(&dkim, &from)
        .with_spf_mailfrom_result(&spf, env.ip, env.sender, env.helo);
    if let Some(arc) = &arc {
        results = results.with_arc_result(arc, env.ip);
    }
    let results = results.with_dmarc_result(&dmarc);
    let arc_set = match (sealer, &arc) {
        (Some(s), Some(arc)) if arc.can_be_sealed() => {
            let headers = super::sign::signed_headers(s.headers, message);
            mail_auth::arc::ArcSealer::from_key(s.key.as_ref())
                .domain(s.domain)
                .selector(s.selector)
                .headers(headers)
                .seal(&msg, &results, arc)
                .map(|set| {
                    let mut h = set.to_header();
                    if !h.ends_with("\r\n") {
                        h.push_str("\r\n");
                    }
                    h
                })
                .ok()
        }
        _ => None,
    };
    let mut header = results.to_header();
    if !header.ends_with("\r\n") {
        header.push_str("\r\n");
    }
    let verdict = match dmarc.result() {
        DmarcResult::Pass => Dmarc::Pass,
        DmarcResult::Fail(_) => Dmarc::Fail(dmarc.policy()),
        DmarcResult::TempError(e) => Dmarc::TempError(e.to_string()),
        DmarcResult::PermError(_) => Dmarc::PermError,
        DmarcResult::None => Dmarc::None,
    };
    // SPF's own DNS failure makes DMARC undecidable only when it could have aligned: mail-auth
    // reports that as a DMARC temperror already.
    let _ = spf.result() == SpfResult::TempError;
    let arc_sealer = arc
        .as_ref()
        .filter(|a| a.result() == &DkimResult::Pass)
        .and_then(|a| a.sets().last())
        .map(|set| set.seal.header.d.to_ascii_lowercase());
    Checked {
        header,
        dmarc: verdict,
        from_domain: dmarc.domain().to_string(),
        arc_sealer,
        dkim: dkim.iter().map(|o| o.result().to_string()).collect(),
        arc_set,
    }
}

/// What `mode` does with `checked`, given the ARC sealers trusted to vouch for forwarded mail.
pub fn decide(mode: DmarcMode, checked: &Checked, trusted_sealers: &[String]) -> Action {
    if mode != DmarcMode::Enforce {
        return Action::Accept;
    }
    let vouched = checked
        .arc_sealer
        .as_ref()
        .is_some_and(|s| trusted_sealers.iter().any(|t| t.eq_ignore_ascii_case(s)));
    match &checked.dmarc {
        Dmarc::Pass | Dmarc::None | Dmarc::PermError => Action::Accept,
        Dmarc::Fail(_) if vouched => Action::Accept,
        Dmarc::Fail(Policy::Reject) => Action::Reject(Reply::new(
            550,
            "5.7.1",
            format!(
                "Message rejected: DMARC policy of {} (p=reject) and the message is not \
                 authenticated by an aligned SPF or DKIM",
                checked.from_domain
            ),
        )),
        Dmarc::Fail(Policy::Quarantine) => Action::Quarantine,
        Dmarc::Fail(_) => Action::Accept,
        Dmarc::TempError(why) => Action::TempFail(Reply::new(
            451,
            "4.7.5",
            format!("DMARC check failed temporarily ({why}); try again later"),
        )),
    }
}

/// `message` without the `Authentication-Results` fields that claim `authserv_id` (RFC 8601 §5:
/// only this server may speak for itself). Other fields are kept byte for byte.
pub fn strip_forged(message: &[u8], authserv_id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len());
    let mut rest = message;
    loop {
        // One field: its first line and its continuation lines.
        if rest.is_empty() || rest.starts_with(b"\r\n") || rest.starts_with(b"\n") {
            out.extend_from_slice(rest);
            return out;
        }
        let mut end = 0;
        loop {
            match rest
                .get(end..)
                .and_then(|r| r.iter().position(|&b| b == b'\n'))
            {
                Some(i) => {
                    end += i + 1;
                    if !matches!(rest.get(end), Some(b' ' | b'\t')) {
                        break;
                    }
                }
                None => {
                    end = rest.len();
                    break;
                }
            }
        }
        let (field, tail) = rest.split_at(end);
        if !claims(field, authserv_id) {
            out.extend_from_slice(field);
        }
        rest = tail;
    }
}

/// Whether `field` is an `Authentication-Results` field with authserv-id `id`.
fn claims(field: &[u8], id: &str) -> bool {
    let Some(colon) = field.iter().position(|&b| b == b':') else {
        return false;
    };
    let (name, value) = field.split_at(colon);
    if !String::from_utf8_lossy(name)
        .trim()
        .eq_ignore_ascii_case("authentication-results")
    {
        return false;
    }
    let value = String::from_utf8_lossy(value.get(1..).unwrap_or_default()).into_owned();
    let value = strip_comments(&value);
    let first = value
        .trim_start()
        .split(|c: char| c == ';' || c.is_whitespace())
        .next()
        .unwrap_or("");
    first.eq_ignore_ascii_case(id)
}

/// RFC 5322 comments out (`(…)`, nested), so `(x) mx.test;` names `mx.test`.
fn strip_comments(s: &str) -> String {
    let mut depth = 0usize;
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Whether the message as stored says it is quarantined: its first `Authentication-Results`
/// field is this server's (forged ones never get through [`strip_forged`]) and carries the
/// quarantine mark [`QUARANTINE_MARK`].
pub fn is_quarantined(message: &[u8], authserv_id: &str) -> bool {
    let head_end = find_head_end(message);
    let head = message.get(..head_end).unwrap_or(message);
    let mut rest = head;
    while !rest.is_empty() {
        let line_end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let mut end = line_end;
        while matches!(rest.get(end), Some(b' ' | b'\t')) {
            end += rest
                .get(end..)
                .and_then(|r| r.iter().position(|&b| b == b'\n'))
                .map_or(rest.len() - end, |i| i + 1);
        }
        let (field, tail) = rest.split_at(end.min(rest.len()));
        if field
            .get(..23)
            .is_some_and(|n| n.eq_ignore_ascii_case(b"authentication-results:"))
        {
            return claims(field, authserv_id)
                && String::from_utf8_lossy(field).contains(QUARANTINE_MARK);
        }
        rest = tail;
    }
    false
}

/// The comment our `Authentication-Results` carries when DMARC quarantines the message.
pub const QUARANTINE_MARK: &str = "(quarantined by postern)";

fn find_head_end(message: &[u8]) -> usize {
    message
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| i + 1)
        .into_iter()
        .chain(
            message
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map(|i| i + 2),
        )
        .min()
        .unwrap_or(message.len())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic
    use super::*;

    #[test]
    fn forged_results_with_our_id_are_removed() {
        let m = b"Authentication-Results: mx.test; dkim=pass\r\n\
            Authentication-Results: (comment) MX.Test;\r\n\tspf=pass\r\n\
            Authentication-Results: other.test; dkim=pass\r\n\
            Authentication-Results: mx.test.evil; dkim=pass\r\n\
            Subject: hi\r\n\r\nAuthentication-Results: mx.test; body stays\r\n";
        let s = String::from_utf8(strip_forged(m, "mx.test")).unwrap();
        assert_eq!(
            s,
            "Authentication-Results: other.test; dkim=pass\r\n\
             Authentication-Results: mx.test.evil; dkim=pass\r\n\
             Subject: hi\r\n\r\nAuthentication-Results: mx.test; body stays\r\n"
        );
    }

    #[test]
    fn quarantine_mark_counts_only_in_our_first_results() {
        let ours = format!(
            "Authentication-Results: mx.test;\r\n\tdmarc=fail {QUARANTINE_MARK}\r\nSubject: x\r\n\r\nbody\r\n"
        );
        assert!(is_quarantined(ours.as_bytes(), "mx.test"));
        let theirs = format!(
            "Authentication-Results: other.test;\r\n\tdmarc=fail {QUARANTINE_MARK}\r\n\r\nbody\r\n"
        );
        assert!(!is_quarantined(theirs.as_bytes(), "mx.test"));
        let in_body =
            format!("Subject: x\r\n\r\nAuthentication-Results: mx.test; {QUARANTINE_MARK}\r\n");
        assert!(!is_quarantined(in_body.as_bytes(), "mx.test"));
    }

    fn checked(dmarc: Dmarc, sealer: Option<&str>) -> Checked {
        Checked {
            header: String::new(),
            dmarc,
            from_domain: "a.test".into(),
            arc_sealer: sealer.map(str::to_string),
            dkim: Vec::new(),
            arc_set: None,
        }
    }

    #[test]
    fn decisions_by_mode_and_policy() {
        let reject = checked(Dmarc::Fail(Policy::Reject), None);
        assert_eq!(decide(DmarcMode::Report, &reject, &[]), Action::Accept);
        let Action::Reject(r) = decide(DmarcMode::Enforce, &reject, &[]) else {
            panic!()
        };
        assert_eq!(r.code, 550);
        assert!(r.to_string().contains("5.7.1"), "{r:?}");
        assert_eq!(
            decide(
                DmarcMode::Enforce,
                &checked(Dmarc::Fail(Policy::Quarantine), None),
                &[]
            ),
            Action::Quarantine
        );
        assert_eq!(
            decide(
                DmarcMode::Enforce,
                &checked(Dmarc::Fail(Policy::None), None),
                &[]
            ),
            Action::Accept
        );
        assert!(matches!(
            decide(DmarcMode::Enforce, &checked(Dmarc::TempError("x".into()), None), &[]),
            Action::TempFail(r) if r.code == 451
        ));
        let vouched = checked(Dmarc::Fail(Policy::Reject), Some("fwd.test"));
        assert_eq!(
            decide(DmarcMode::Enforce, &vouched, &["fwd.test".into()]),
            Action::Accept
        );
        assert!(matches!(
            decide(DmarcMode::Enforce, &vouched, &["other.test".into()]),
            Action::Reject(_)
        ));
    }
}
