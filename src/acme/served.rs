//! The certificate served now, and whether it is time to replace it (a pure decision).

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// What renewal needs to know of the certificate served now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// The end-entity certificate's last valid moment.
    pub not_after: SystemTime,
    /// Its DNS subject alternative names (lower case).
    pub names: Vec<String>,
    /// Issuer and subject are the same name (`cert gen`'s placeholder).
    pub self_signed: bool,
    /// The serial number, `aa:bb:…` hex.
    pub serial: String,
    /// The end-entity certificate (for revocation).
    pub der: Vec<u8>,
}

/// Reads the first certificate of a PEM file (at most [`crate::driver::tls::MAX_PEM_FILE`]).
pub fn read(path: &Path) -> Result<Served, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut data = Vec::new();
    file.take(crate::driver::tls::MAX_PEM_FILE)
        .read_to_end(&mut data)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let der = CertificateDer::pem_slice_iter(&data)
        .next()
        .and_then(Result::ok)
        .ok_or_else(|| format!("{}: no PEM certificate", path.display()))?;
    parse(der.as_ref()).map_err(|e| format!("{}: {e}", path.display()))
}

/// The facts of one DER certificate.
pub fn parse(der: &[u8]) -> Result<Served, String> {
    let (_, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|e| format!("not X.509: {e}"))?;
    let secs = cert.validity().not_after.timestamp();
    let not_after = UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0));
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(d) = n {
                names.push(d.to_ascii_lowercase());
            }
        }
    }
    Ok(Served {
        not_after,
        names,
        self_signed: cert.subject().as_raw() == cert.issuer().as_raw(),
        serial: cert.raw_serial_as_string(),
        der: der.to_vec(),
    })
}

/// Why a new certificate is needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// No certificate (or none readable) is served.
    Missing,
    /// The served one is self-signed (a placeholder from `cert gen`).
    SelfSigned,
    /// The served one does not cover these wanted names.
    NamesMissing(Vec<String>),
    /// It expires within `renew_before`.
    Expiring { days_left: u64 },
    /// `--force` or `--revoke`.
    Forced,
}

impl std::fmt::Display for Due {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Due::Missing => f.write_str("no certificate yet"),
            Due::SelfSigned => f.write_str("the certificate is self-signed"),
            Due::NamesMissing(n) => write!(f, "the certificate does not cover {}", n.join(",")),
            Due::Expiring { days_left } => write!(f, "the certificate expires in {days_left} days"),
            Due::Forced => f.write_str("renewal forced"),
        }
    }
}

/// Whether (and why) a certificate must be obtained now.
pub fn due(
    served: Option<&Served>,
    wanted: &[String],
    renew_before: Duration,
    now: SystemTime,
    force: bool,
) -> Option<Due> {
    if force {
        return Some(Due::Forced);
    }
    let Some(served) = served else {
        return Some(Due::Missing);
    };
    if served.self_signed {
        return Some(Due::SelfSigned);
    }
    let missing: Vec<String> = wanted
        .iter()
        .filter(|w| !served.names.iter().any(|n| n.eq_ignore_ascii_case(w)))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Some(Due::NamesMissing(missing));
    }
    let left = served.not_after.duration_since(now).unwrap_or_default();
    if left <= renew_before {
        return Some(Due::Expiring {
            days_left: left.as_secs() / 86_400,
        });
    }
    None
}

/// The names to ask for: `names` when configured, else the host name and the fully qualified,
/// non-wildcard DNS names of the served certificate; in order, each once (lower case).
pub fn wanted_names(configured: &[String], hostname: &str, served: Option<&Served>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |n: &str| {
        let n = n.to_ascii_lowercase();
        if crate::config::acme::is_acme_name(&n) && !out.contains(&n) {
            out.push(n);
        }
    };
    if !configured.is_empty() {
        configured.iter().for_each(|n| add(n));
        return out;
    }
    add(hostname);
    for n in served.map(|s| s.names.as_slice()).unwrap_or_default() {
        add(n);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic
    use super::*;

    fn served(days: u64, names: &[&str], self_signed: bool) -> Served {
        Served {
            not_after: UNIX_EPOCH + Duration::from_secs(1_000_000_000 + days * 86_400),
            names: names.iter().map(|s| s.to_string()).collect(),
            self_signed,
            serial: "01".into(),
            der: Vec::new(),
        }
    }

    #[test]
    fn renewal_decisions() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let month = Duration::from_secs(30 * 86_400);
        let want = vec!["mail.example.test".to_string()];
        let ok = served(60, &["mail.example.test"], false);
        let cases: Vec<(Option<Served>, bool, Option<Due>)> = vec![
            (None, false, Some(Due::Missing)),
            (Some(ok.clone()), false, None),
            (Some(ok.clone()), true, Some(Due::Forced)),
            (
                Some(served(60, &["mail.example.test"], true)),
                false,
                Some(Due::SelfSigned),
            ),
            (
                Some(served(60, &["other.example.test"], false)),
                false,
                Some(Due::NamesMissing(want.clone())),
            ),
            (
                Some(served(29, &["MAIL.example.test"], false)),
                false,
                Some(Due::Expiring { days_left: 29 }),
            ),
            (
                Some(served(0, &["mail.example.test"], false)),
                false,
                Some(Due::Expiring { days_left: 0 }),
            ),
        ];
        for (s, force, expected) in cases {
            assert_eq!(due(s.as_ref(), &want, month, now, force), expected, "{s:?}");
        }
        // Already expired: due, zero days left.
        let old = served(0, &["mail.example.test"], false);
        let later = now + Duration::from_secs(5 * 86_400);
        assert_eq!(
            due(Some(&old), &want, month, later, false),
            Some(Due::Expiring { days_left: 0 })
        );
    }

    #[test]
    fn names_default_to_host_and_served_names() {
        let s = served(
            60,
            &["imap.example.test", "*.example.test", "localhost"],
            false,
        );
        assert_eq!(
            wanted_names(&[], "Mail.Example.test", Some(&s)),
            vec!["mail.example.test", "imap.example.test"]
        );
        assert_eq!(
            wanted_names(&["a.example.test".into()], "mail.example.test", Some(&s)),
            vec!["a.example.test"]
        );
        assert_eq!(
            wanted_names(&[], "mail.example.test", None),
            vec!["mail.example.test"]
        );
    }

    #[test]
    fn reads_a_cert_gen_certificate() {
        let g =
            crate::cert::generate("mail.example.test", &["imap.example.test".into()], 10).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cert.pem");
        std::fs::write(&path, &g.cert_pem).unwrap();
        let s = read(&path).unwrap();
        assert!(s.self_signed);
        assert_eq!(s.names, vec!["mail.example.test", "imap.example.test"]);
        let left = s.not_after.duration_since(SystemTime::now()).unwrap();
        assert!(left > Duration::from_secs(9 * 86_400) && left <= Duration::from_secs(10 * 86_400));
        assert!(read(&dir.path().join("none.pem")).is_err());
    }
}
