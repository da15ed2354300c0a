//! The DNS records a hosted domain publishes (`postern dns records`), and the comparison with what
//! is published (`postern dns check`): MX; SPF; each active DKIM selector's key; DMARC starting at
//! `p=none` with aggregate reports to the postmaster; MTA-STS's `_mta-sts` and TLSRPT's
//! `_smtp._tls`; the RFC 6186 / RFC 8314 SRV records of the configured submission, IMAP and POP3
//! listeners; and autoconfig/autodiscover names. Pure: the caller reads the keys and looks up.

use crate::config::{Config, Protocol, TlsMode};

/// Time to live printed with each record.
pub const TTL: u32 = 3600;

/// What a record is for, and how a published one is compared with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Mx,
    Spf,
    Dkim,
    Dmarc,
    MtaSts,
    TlsRpt,
    Srv,
    Cname,
}

/// One record to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Owner name, without the trailing dot.
    pub name: String,
    /// `MX`, `TXT`, `SRV`, `CNAME`.
    pub rtype: &'static str,
    /// The data: TXT as the unquoted text, names without the trailing dot.
    pub value: String,
    pub kind: Kind,
}

impl Record {
    fn new(name: String, rtype: &'static str, value: String, kind: Kind) -> Record {
        Record {
            name,
            rtype,
            value,
            kind,
        }
    }

    /// The record in zone-file syntax.
    pub fn zone_line(&self) -> String {
        let data = match self.rtype {
            "TXT" => super::keys::txt_strings(&self.value),
            "MX" | "CNAME" | "SRV" => format!("{}.", self.value.trim_end_matches('.')),
            _ => self.value.clone(),
        };
        format!("{}.\t{TTL}\tIN\t{}\t{data}", self.name, self.rtype)
    }
}

/// A DKIM key's record: its selector and `v=DKIM1; k=…; p=…` text (or why it cannot be read).
pub type DkimRecord = (String, Result<String, String>);

/// The records `domain` needs, given the records of its DKIM keys (`dkim`, in config order) and
/// a MTA-STS policy id (`sts_id`, changed when the policy changes).
pub fn records(config: &Config, domain: &str, dkim: &[DkimRecord], sts_id: &str) -> Vec<Record> {
    let d = domain.trim_end_matches('.').to_ascii_lowercase();
    let host = config.server.hostname.trim_end_matches('.').to_string();
    let mut out = vec![
        Record::new(d.clone(), "MX", format!("10 {host}"), Kind::Mx),
        Record::new(d.clone(), "TXT", "v=spf1 mx ~all".into(), Kind::Spf),
    ];
    for (selector, record) in dkim {
        if let Ok(text) = record {
            out.push(Record::new(
                format!("{selector}._domainkey.{d}"),
                "TXT",
                text.clone(),
                Kind::Dkim,
            ));
        }
    }
    out.push(Record::new(
        format!("_dmarc.{d}"),
        "TXT",
        format!("v=DMARC1; p=none; rua=mailto:postmaster@{d}"),
        Kind::Dmarc,
    ));
    out.push(Record::new(
        format!("_mta-sts.{d}"),
        "TXT",
        format!("v=STSv1; id={sts_id}"),
        Kind::MtaSts,
    ));
    out.push(Record::new(
        format!("_smtp._tls.{d}"),
        "TXT",
        format!("v=TLSRPTv1; rua=mailto:postmaster@{d}"),
        Kind::TlsRpt,
    ));
    let mut seen = Vec::new();
    for l in &config.listeners {
        let service = match (l.protocol, l.tls) {
            (Protocol::Submission, TlsMode::Implicit) => "_submissions",
            (Protocol::Submission, _) => "_submission",
            (Protocol::Imap, TlsMode::Implicit) => "_imaps",
            (Protocol::Imap, _) => "_imap",
            (Protocol::Pop3, TlsMode::Implicit) => "_pop3s",
            (Protocol::Pop3, _) => "_pop3",
            // No SRV service for ManageSieve (RFC 5804 names none; clients ask for port 4190).
            (Protocol::Smtp | Protocol::Managesieve, _) => continue,
        };
        if seen.contains(&service) {
            continue;
        }
        seen.push(service);
        // IMAP before POP3 for clients that choose by priority (RFC 6186 §3.4).
        let priority = if service.starts_with("_pop3") { 10 } else { 0 };
        out.push(Record::new(
            format!("{service}._tcp.{d}"),
            "SRV",
            format!("{priority} 1 {} {host}", l.address.port()),
            Kind::Srv,
        ));
    }
    for name in ["autoconfig", "autodiscover"] {
        out.push(Record::new(
            format!("{name}.{d}"),
            "CNAME",
            host.clone(),
            Kind::Cname,
        ));
    }
    out
}

/// How a published record compares with the one to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Published as suggested (or equivalently).
    Ok,
    /// Published, with other data: the found values.
    Different(Vec<String>),
    /// Nothing of its kind is published.
    Missing,
    /// The lookup failed (temporarily).
    LookupFailed(String),
}

impl Verdict {
    /// Whether the domain works as it is (an SPF, DMARC or TLSRPT record of the admin's own
    /// wording is fine; a different DKIM key or mail host is not).
    pub fn acceptable(&self, kind: Kind) -> bool {
        match self {
            Verdict::Ok => true,
            Verdict::Different(_) => matches!(
                kind,
                Kind::Spf | Kind::Dmarc | Kind::MtaSts | Kind::TlsRpt | Kind::Srv | Kind::Cname
            ),
            Verdict::Missing | Verdict::LookupFailed(_) => false,
        }
    }
}

/// Compare `want` with the data found under its name and type (`found`: TXT texts, MX as
/// `PREF HOST`, SRV as `PRIO WEIGHT PORT HOST`, CNAME targets; names without trailing dots).
pub fn compare(want: &Record, found: &[String]) -> Verdict {
    let norm = |s: &str| s.trim().trim_end_matches('.').to_ascii_lowercase();
    let tag = |s: &str| -> Option<&str> {
        match want.kind {
            Kind::Spf => Some("v=spf1"),
            Kind::Dkim => Some("v=dkim1"),
            Kind::Dmarc => Some("v=dmarc1"),
            Kind::MtaSts => Some("v=stsv1"),
            Kind::TlsRpt => Some("v=tlsrptv1"),
            _ => None,
        }
        .filter(|_| !s.is_empty())
    };
    let relevant: Vec<&String> = match tag(&want.value) {
        Some(t) => found
            .iter()
            .filter(|f| {
                let f = f.trim_start().to_ascii_lowercase();
                // A DKIM record may leave out v= (RFC 6376 §3.6.1).
                f.starts_with(t) || (want.kind == Kind::Dkim && f.contains("p="))
            })
            .collect(),
        None => found.iter().collect(),
    };
    if relevant.is_empty() {
        return Verdict::Missing;
    }
    let matches = |f: &str| match want.kind {
        Kind::Dkim => dkim_key(f) == dkim_key(&want.value),
        Kind::Mx => {
            norm(f).split_whitespace().last() == norm(&want.value).split_whitespace().last()
        }
        Kind::MtaSts => true,
        _ => squash(f) == squash(&want.value),
    };
    if relevant.iter().any(|f| matches(f)) {
        Verdict::Ok
    } else {
        Verdict::Different(relevant.into_iter().cloned().collect())
    }
}

/// The `p=` of a DKIM record, without white space.
fn dkim_key(record: &str) -> String {
    record
        .split(';')
        .filter_map(|t| t.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("p"))
        .map(|(_, v)| v.chars().filter(|c| !c.is_whitespace()).collect())
        .unwrap_or_default()
}

/// Lower case, tags separated by `;` without spaces, trailing dots off names.
fn squash(s: &str) -> String {
    s.split(';')
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(";")
        .to_ascii_lowercase()
        .trim_end_matches('.')
        .to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic
    use super::*;

    fn rec(kind: Kind, value: &str) -> Record {
        Record::new("x.test".into(), "TXT", value.into(), kind)
    }

    #[test]
    fn comparisons() {
        let dkim = rec(Kind::Dkim, "v=DKIM1; k=ed25519; p=abc");
        assert_eq!(compare(&dkim, &[]), Verdict::Missing);
        assert_eq!(
            compare(&dkim, &["v=DKIM1; k=ed25519; p=a bc".into()]),
            Verdict::Ok
        );
        assert_eq!(
            compare(&dkim, &["v=DKIM1; k=ed25519; p=xyz".into()]),
            Verdict::Different(vec!["v=DKIM1; k=ed25519; p=xyz".into()])
        );
        let spf = rec(Kind::Spf, "v=spf1 mx ~all");
        assert_eq!(compare(&spf, &["v=spf1  mx ~all".into()]), Verdict::Ok);
        assert_eq!(
            compare(&spf, &["google-site-verification=1".into()]),
            Verdict::Missing
        );
        let d = compare(&spf, &["v=spf1 -all".into()]);
        assert!(matches!(d, Verdict::Different(_)));
        assert!(d.acceptable(Kind::Spf));
        let mx = Record::new("x.test".into(), "MX", "10 mail.x.test".into(), Kind::Mx);
        assert_eq!(compare(&mx, &["20 Mail.X.Test.".into()]), Verdict::Ok);
        assert!(!compare(&mx, &["10 other.test".into()]).acceptable(Kind::Mx));
    }

    #[test]
    fn zone_lines() {
        let r = Record::new(
            "s._domainkey.x.test".into(),
            "TXT",
            "v=DKIM1; p=abc".into(),
            Kind::Dkim,
        );
        assert_eq!(
            r.zone_line(),
            "s._domainkey.x.test.\t3600\tIN\tTXT\t\"v=DKIM1; p=abc\""
        );
        let m = Record::new("x.test".into(), "MX", "10 mail.x.test".into(), Kind::Mx);
        assert_eq!(m.zone_line(), "x.test.\t3600\tIN\tMX\t10 mail.x.test.");
    }
}
