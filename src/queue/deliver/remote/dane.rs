//! DANE for SMTP (RFC 7672) on delivery by MX, with `[dns] dnssec = true`.
//!
//! The MX RRset of the domain (or, without MX, the domain's own address records) must be
//! secure; then each MX host whose address records are secure has its TLSA RRset looked up at
//! `_PORT._tcp.HOST`. A secure, non-empty RRset is that host's DANE policy: STARTTLS is
//! mandatory (never the plaintext retry), the SNI is the MX host name, and the certificate must
//! match a usable record — usage 3 (DANE-EE: the end entity, no name or date checks, §3.1.1) or
//! 2 (DANE-TA: a trust anchor among the certificates the server sends, with the chain, dates
//! and the name checked against the MX host name or the destination domain, §3.2.2); selectors
//! 0/1, matching 0/1/2. Usages 0 and 1 are unusable (§3.1.3); a secure RRset with no usable
//! record still makes TLS mandatory, unauthenticated (§2.2). An insecure answer is no policy
//! (opportunistic TLS or MTA-STS as before); a failed lookup — SERVFAIL, which a validating
//! resolver answers for bogus data — makes the host unusable, so the mail waits (§2.2).
//!
//! The matching is a rustls [`ServerCertVerifier`]; x509-parser gives the SubjectPublicKeyInfo,
//! sha2 the digests, and webpki (through rustls' own verifier, with the matched certificate as
//! its only trust anchor) the chain and name checks of DANE-TA.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use hickory_resolver::proto::rr::{RData, RecordType};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::Digest;

use crate::config::Config;
use crate::dns::secure;

/// One TLSA record (RFC 6698 §2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlsa {
    pub usage: u8,
    pub selector: u8,
    pub matching: u8,
    pub data: Vec<u8>,
}

impl fmt::Display for Tlsa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {} ", self.usage, self.selector, self.matching)?;
        for b in &self.data {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl Tlsa {
    /// Usable for SMTP (RFC 7672 §3.1): DANE-TA or DANE-EE, a known selector, and a known
    /// matching type with data of its length.
    pub fn usable(&self) -> bool {
        matches!(self.usage, 2 | 3)
            && matches!(self.selector, 0 | 1)
            && match self.matching {
                0 => !self.data.is_empty(),
                1 => self.data.len() == 32,
                2 => self.data.len() == 64,
                _ => false,
            }
    }

    /// Whether the certificate `der` matches the selector and matching type.
    pub fn matches(&self, der: &[u8]) -> bool {
        let selected: Vec<u8> = match self.selector {
            0 => der.to_vec(),
            1 => match x509_parser::parse_x509_certificate(der) {
                Ok((_, c)) => c.tbs_certificate.subject_pki.raw.to_vec(),
                Err(_) => return false,
            },
            _ => return false,
        };
        match self.matching {
            0 => selected == self.data,
            1 => sha2::Sha256::digest(&selected).as_slice() == self.data.as_slice(),
            2 => sha2::Sha512::digest(&selected).as_slice() == self.data.as_slice(),
            _ => false,
        }
    }
}

/// The DANE policy of one MX host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPolicy {
    /// Usable records: TLS mandatory, the certificate must match one.
    Authenticate(Vec<Tlsa>),
    /// A secure TLSA RRset without a usable record: TLS mandatory, not authenticated.
    EncryptOnly(Vec<Tlsa>),
    /// The lookup failed (bogus, SERVFAIL, no reply): the host is not used; the RFC 8460
    /// result type.
    Unusable(String, &'static str),
}

/// The DANE policies of a domain's MX hosts (those without one are not listed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainDane {
    pub hosts: BTreeMap<String, HostPolicy>,
    /// The TLSA base domain of a host whose name is a CNAME (RFC 7672 §2.2.3), where the
    /// records were found at the expanded name.
    pub bases: BTreeMap<String, String>,
}

impl DomainDane {
    /// The TLSA base domain of `host`: the CNAME-expanded name the records were found at, or
    /// the host name itself.
    pub fn base<'a>(&'a self, host: &'a str) -> &'a str {
        self.bases.get(host).map_or(host, String::as_str)
    }
}

impl DomainDane {
    /// Whether `host` is authenticated by DANE.
    pub fn authenticates(&self, host: &str) -> bool {
        matches!(self.hosts.get(host), Some(HostPolicy::Authenticate(_)))
    }
}

/// The TLSA base name of `host` on `port`.
pub fn tlsa_name(host: &str, port: u16) -> String {
    format!("_{port}._tcp.{host}")
}

/// The records of a TLSA answer.
fn tlsa_records(records: &[RData]) -> Vec<Tlsa> {
    records
        .iter()
        .filter_map(|d| match d {
            RData::TLSA(t) => Some(Tlsa {
                usage: u8::from(t.cert_usage),
                selector: u8::from(t.selector),
                matching: u8::from(t.matching),
                data: t.cert_data.clone(),
            }),
            _ => None,
        })
        .collect()
}

/// The DANE policies for `domain` delivered to `hosts` (its MX hosts, as looked up). `Ok(None)`:
/// no DANE (the MX RRset is insecure, or no host has a secure TLSA RRset). `Err`: the MX
/// RRset could not be looked up securely (bogus or failed): the mail waits.
pub async fn lookup(
    config: &Config,
    domain: &str,
    hosts: &[String],
) -> Result<Option<DomainDane>, String> {
    let dns = config.dns();
    if secure::trusted_servers(&dns).is_empty() {
        crate::events::event("dane_unavailable")
            .field("domain", domain)
            .field(
                "reason",
                "no validating resolver on loopback or in [dns] dnssec_trusted",
            )
            .emit();
        return Ok(None);
    }
    let mx = secure::query(&dns, domain, RecordType::MX)
        .await
        .map_err(|e| format!("MX lookup for {domain}: {e}"))?;
    if !mx.secure {
        return Ok(None);
    }
    let port = config.remote.mx_port;
    let mut out = DomainDane::default();
    for host in hosts {
        // The host's address records must be secure too (§2.2.2).
        let a = match secure::query(&dns, host, RecordType::A).await {
            Ok(a) => a,
            Err(_) => continue,
        };
        if !a.secure {
            continue;
        }
        // A host name that is a (secure) CNAME: its TLSA records are looked for at the expanded
        // name first, then at the name itself (RFC 7672 §2.2.3).
        let mut name = tlsa_name(host, port);
        let mut found = None;
        if let Some(owner) = a.owner.as_deref().filter(|o| !o.eq_ignore_ascii_case(host)) {
            let expanded = tlsa_name(owner, port);
            match secure::query(&dns, &expanded, RecordType::TLSA).await {
                Ok(t) if t.secure && !t.records.is_empty() => {
                    out.bases.insert(host.clone(), owner.to_string());
                    name = expanded;
                    found = Some(Ok(t));
                }
                Ok(_) => {}
                Err(e) => found = Some(Err(e)),
            }
        }
        let answer = match found {
            Some(a) => a,
            None => secure::query(&dns, &name, RecordType::TLSA).await,
        };
        let policy = match answer {
            Err(e) => HostPolicy::Unusable(
                format!("TLSA lookup for {name} failed: {e}"),
                "dnssec-invalid",
            ),
            Ok(t) if !t.secure || t.records.is_empty() => continue,
            Ok(t) => {
                let records = tlsa_records(&t.records);
                if records.iter().any(Tlsa::usable) {
                    HostPolicy::Authenticate(records.into_iter().filter(Tlsa::usable).collect())
                } else {
                    HostPolicy::EncryptOnly(records)
                }
            }
        };
        out.hosts.insert(host.clone(), policy);
    }
    if out.hosts.is_empty() {
        return Ok(None);
    }
    for (host, p) in &out.hosts {
        let (records, state) = match p {
            HostPolicy::Authenticate(r) => (r.len(), "authenticate"),
            HostPolicy::EncryptOnly(r) => (r.len(), "encrypt-only (no usable record)"),
            HostPolicy::Unusable(..) => (0, "unusable (lookup failed)"),
        };
        crate::events::event("dane_policy")
            .field("domain", domain)
            .field("mx", host)
            .field("tlsa", tlsa_name(out.base(host), port))
            .field("records", records)
            .field("state", state)
            .emit();
    }
    Ok(Some(out))
}

/// The certificate check of a DANE host: its usable records, or none (encrypt only).
#[derive(Debug)]
pub struct Verifier {
    /// The TLSA base domain (the MX host name, or its CNAME expansion): the SNI and the first
    /// reference identifier of DANE-TA.
    pub host: String,
    /// The MX host name as the MX record gives it (another reference identifier).
    pub mx: String,
    /// The destination domain (the other reference identifier of DANE-TA, §3.2.2).
    pub domain: String,
    /// The TLSA base name, for error messages.
    pub tlsa: String,
    pub records: Vec<Tlsa>,
    /// Check the certificate at all (no usable record: encryption only).
    pub authenticate: bool,
    pub provider: Arc<CryptoProvider>,
}

impl Verifier {
    /// The first reason the chain does not pass, `Ok` when it does.
    pub fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<(), String> {
        if !self.authenticate {
            return Ok(());
        }
        if self
            .records
            .iter()
            .any(|r| r.usage == 3 && r.matches(end_entity))
        {
            return Ok(());
        }
        let mut why = format!(
            "DANE: the certificate matches no TLSA record of {} ({})",
            self.tlsa,
            self.records
                .iter()
                .map(|r| format!("{} {} {}", r.usage, r.selector, r.matching))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for anchor in intermediates {
            if !self
                .records
                .iter()
                .any(|r| r.usage == 2 && r.matches(anchor))
            {
                continue;
            }
            let mut roots = rustls::RootCertStore::empty();
            if let Err(e) = roots.add(anchor.clone().into_owned()) {
                why = format!(
                    "DANE: the trust anchor matching {} is unusable: {e}",
                    self.tlsa
                );
                continue;
            }
            let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                self.provider.clone(),
            )
            .build()
            .map_err(|e| format!("DANE: {e}"))?;
            for name in [&self.host, &self.mx, &self.domain] {
                let Ok(name) = ServerName::try_from(name.clone()) else {
                    continue;
                };
                match webpki.verify_server_cert(end_entity, intermediates, &name, &[], now) {
                    Ok(_) => return Ok(()),
                    Err(e) => {
                        why = format!(
                            "DANE: a trust anchor matches {} (DANE-TA) but the chain does not \
                             pass for {}, {} or {}: {e}",
                            self.tlsa, self.host, self.mx, self.domain
                        )
                    }
                }
            }
        }
        Err(why)
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.check(end_entity, intermediates, now)
            .map(|()| ServerCertVerified::assertion())
            .map_err(rustls::Error::General)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The rustls client configuration for a DANE host.
pub fn client_config(verifier: Verifier) -> Result<rustls::ClientConfig, rustls::Error> {
    use crate::driver::tls;
    Ok(rustls::ClientConfig::builder_with_provider(tls::provider())
        .with_protocol_versions(tls::VERSIONS)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

/// The verifier for MX `host` of `domain`, its TLSA base domain `base`, under `policy` (none for
/// an unusable host).
pub fn verifier_for(
    domain: &str,
    host: &str,
    base: &str,
    port: u16,
    policy: &HostPolicy,
) -> Option<Verifier> {
    let (records, authenticate) = match policy {
        HostPolicy::Authenticate(r) => (r.clone(), true),
        HostPolicy::EncryptOnly(r) => (r.clone(), false),
        HostPolicy::Unusable(..) => return None,
    };
    Some(Verifier {
        host: base.to_string(),
        mx: host.to_string(),
        domain: domain.to_string(),
        tlsa: tlsa_name(base, port),
        records,
        authenticate,
        provider: crate::driver::tls::provider(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic
    use super::*;

    struct Pki {
        ca: CertificateDer<'static>,
        leaf: CertificateDer<'static>,
        other: CertificateDer<'static>,
    }

    /// A CA, a leaf for mx.a.test signed by it, and a self-signed certificate for the same name.
    fn pki(leaf_name: &str) -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec![leaf_name.to_string()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        let other_key = KeyPair::generate().unwrap();
        let other = CertificateParams::new(vec!["mx.a.test".to_string()])
            .unwrap()
            .self_signed(&other_key)
            .unwrap();
        Pki {
            ca: ca.der().clone(),
            leaf: leaf.der().clone(),
            other: other.der().clone(),
        }
    }

    fn spki(der: &[u8]) -> Vec<u8> {
        let (_, c) = x509_parser::parse_x509_certificate(der).unwrap();
        c.tbs_certificate.subject_pki.raw.to_vec()
    }

    fn rec(usage: u8, selector: u8, matching: u8, cert: &[u8]) -> Tlsa {
        let selected = if selector == 1 {
            spki(cert)
        } else {
            cert.to_vec()
        };
        let data = match matching {
            0 => selected,
            1 => sha2::Sha256::digest(&selected).to_vec(),
            _ => sha2::Sha512::digest(&selected).to_vec(),
        };
        Tlsa {
            usage,
            selector,
            matching,
            data,
        }
    }

    fn verifier(records: Vec<Tlsa>) -> Verifier {
        verifier_for(
            "a.test",
            "mx.a.test",
            "mx.a.test",
            25,
            &HostPolicy::Authenticate(records),
        )
        .unwrap()
    }

    #[test]
    fn usable_records() {
        let r = |u, s, m, n| Tlsa {
            usage: u,
            selector: s,
            matching: m,
            data: vec![0; n],
        };
        assert!(r(3, 1, 1, 32).usable());
        assert!(r(2, 0, 2, 64).usable());
        assert!(r(3, 0, 0, 100).usable());
        assert!(!r(1, 1, 1, 32).usable(), "PKIX-EE is unusable for SMTP");
        assert!(!r(0, 1, 1, 32).usable(), "PKIX-TA is unusable for SMTP");
        assert!(!r(3, 2, 1, 32).usable());
        assert!(!r(3, 1, 3, 32).usable());
        assert!(!r(3, 1, 1, 31).usable(), "a SHA-256 is 32 bytes");
        assert_eq!(r(3, 1, 1, 2).to_string(), "3 1 1 0000");
    }

    #[test]
    fn dane_ee_matches_every_selector_and_type_without_name_checks() {
        let p = pki("some.other.name");
        let now = UnixTime::now();
        for (s, m) in [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)] {
            let v = verifier(vec![rec(3, s, m, &p.leaf)]);
            assert_eq!(v.check(&p.leaf, &[], now), Ok(()), "3 {s} {m}");
            let err = v.check(&p.other, &[], now).unwrap_err();
            assert!(
                err.contains("matches no TLSA record of _25._tcp.mx.a.test"),
                "{err}"
            );
        }
    }

    #[test]
    fn dane_ta_checks_the_chain_and_the_names() {
        let now = UnixTime::now();
        // The leaf is for the MX host, then for the destination domain: both pass.
        for name in ["mx.a.test", "a.test"] {
            let p = pki(name);
            for (s, m) in [(0, 1), (1, 1), (0, 2)] {
                let v = verifier(vec![rec(2, s, m, &p.ca)]);
                assert_eq!(
                    v.check(&p.leaf, std::slice::from_ref(&p.ca), now),
                    Ok(()),
                    "2 {s} {m} for {name}"
                );
                // The anchor must be among the certificates sent.
                assert!(v.check(&p.leaf, &[], now).is_err());
            }
        }
        // Signed by the anchor but for another name: refused.
        let p = pki("elsewhere.test");
        let v = verifier(vec![rec(2, 0, 1, &p.ca)]);
        let err = v
            .check(&p.leaf, std::slice::from_ref(&p.ca), now)
            .unwrap_err();
        assert!(
            err.contains("DANE-TA") && err.contains("mx.a.test"),
            "{err}"
        );
        // A certificate the anchor did not sign, sent with the anchor: refused.
        let err = v
            .check(&p.other, std::slice::from_ref(&p.ca), now)
            .unwrap_err();
        assert!(err.contains("DANE"), "{err}");
        // DANE-EE of the CA does not authenticate the leaf.
        let v = verifier(vec![rec(3, 0, 1, &p.ca)]);
        assert!(v.check(&p.leaf, std::slice::from_ref(&p.ca), now).is_err());
    }

    #[test]
    fn encrypt_only_accepts_any_certificate() {
        let p = pki("x.test");
        let v = verifier_for(
            "a.test",
            "mx.a.test",
            "mx.a.test",
            25,
            &HostPolicy::EncryptOnly(vec![rec(1, 1, 1, &p.leaf)]),
        )
        .unwrap();
        assert_eq!(v.check(&p.other, &[], UnixTime::now()), Ok(()));
        assert!(verifier_for(
            "a.test",
            "mx.a.test",
            "mx.a.test",
            25,
            &HostPolicy::Unusable("x".into(), "dnssec-invalid")
        )
        .is_none());
    }
}
