//! `cert gen`: a self-signed X.509 server certificate and its private key, in PEM.
//!
//! The key is ECDSA P-256 in PKCS#8 (`BEGIN PRIVATE KEY`, read by [`crate::driver::tls`]). Names that
//! parse as IP addresses become IP subject alternative names, all others DNS names; a wildcard is
//! allowed as the whole leftmost label (`*.example.com`). The common name is always among the
//! subject alternative names too, since clients match against those.

use rcgen::{
    date_time_ymd, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, SanType, SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use sha2::{Digest, Sha256};
use std::fmt;
use std::io;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest validity `generate` accepts, in days (100 years).
pub const MAX_DAYS: u32 = 36_500;

/// A freshly generated certificate and key. `Debug` leaves out the private key.
#[derive(Clone)]
pub struct GeneratedCert {
    /// The certificate, PEM (`-----BEGIN CERTIFICATE-----`).
    pub cert_pem: String,
    /// The private key, PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub key_pem: String,
    /// SHA-256 of the certificate's DER, upper-case hex pairs joined by `:`.
    pub sha256_fingerprint: String,
}

impl fmt::Debug for GeneratedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedCert")
            .field("sha256_fingerprint", &self.sha256_fingerprint)
            .finish_non_exhaustive()
    }
}

/// Why a certificate could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A common name or alternative name that is neither a host name (optionally with a
    /// leading `*.`) nor an IP address.
    #[error("invalid certificate name {0:?}: expected a host name, *.domain or an IP address")]
    InvalidName(String),
    /// A validity outside 1..=[`MAX_DAYS`].
    #[error("invalid validity of {0} days: expected 1 to {MAX_DAYS}")]
    InvalidDays(u32),
    /// The system clock is before 1970.
    #[error("the system clock is before 1970")]
    Clock,
    /// The certificate library refused (key generation or signing).
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
}

/// Generates a self-signed certificate for `cn` (also the first subject alternative name) and
/// `sans`, valid from now for `days` days.
pub fn generate(cn: &str, sans: &[String], days: u32) -> Result<GeneratedCert, CertError> {
    if days == 0 || days > MAX_DAYS {
        return Err(CertError::InvalidDays(days));
    }
    let mut names: Vec<SanType> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for name in std::iter::once(cn).chain(sans.iter().map(String::as_str)) {
        let san = subject_alt_name(name)?;
        let key = name.to_ascii_lowercase();
        if !seen.contains(&key) {
            seen.push(key);
            names.push(san);
        }
    }
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| CertError::Clock)?;
    let not_before = date_time_ymd(1970, 1, 1) + Duration::from_secs(since_epoch.as_secs());
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.subject_alt_names = names;
    params.not_before = not_before;
    params.not_after = not_before + Duration::from_secs(u64::from(days) * 86_400);
    params.is_ca = IsCa::NoCa;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.serial_number = random_serial();
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let cert = params.self_signed(&key)?;
    Ok(GeneratedCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        sha256_fingerprint: fingerprint(cert.der()),
    })
}

/// The SHA-256 fingerprint of DER bytes as `AA:BB:…` (the form `openssl x509 -fingerprint`
/// prints).
pub fn fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let pairs: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    pairs.join(":")
}

/// Writes the certificate (mode 0644) and the key (mode 0600), each under a temporary name in
/// the target directory, synced, then renamed into place.
pub fn write_files(cert: &GeneratedCert, cert_path: &Path, key_path: &Path) -> io::Result<()> {
    crate::store::durable::replace(key_path, cert.key_pem.as_bytes(), 0o600)?;
    crate::store::durable::replace(cert_path, cert.cert_pem.as_bytes(), 0o644)
}

/// A random positive 16-byte serial number (rcgen derives one itself if randomness fails).
fn random_serial() -> Option<SerialNumber> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).ok()?;
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    Some(SerialNumber::from_slice(&bytes))
}

/// The subject alternative name for `name`: an IP address, or a (wildcard) DNS name.
fn subject_alt_name(name: &str) -> Result<SanType, CertError> {
    let invalid = || CertError::InvalidName(name.to_owned());
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    if !is_host_name(name) {
        return Err(invalid());
    }
    let ia5 = name.try_into().map_err(|_| invalid())?;
    Ok(SanType::DnsName(ia5))
}

/// A host name of letter-digit-hyphen labels, the leftmost of which may be `*`.
fn is_host_name(name: &str) -> bool {
    if name.is_empty() || name.len() > 253 {
        return false;
    }
    name.split('.').enumerate().all(|(i, label)| {
        (i == 0 && label == "*" && name.len() > 2)
            || (!label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn host_name_rules() {
        let cases = [
            ("mail.example.com", true),
            ("localhost", true),
            ("*.example.com", true),
            ("MX-1.Example.COM", true),
            ("_dmarc.example.com", true),
            ("", false),
            ("*", false),
            ("*.", false),
            ("foo.*.example.com", false),
            ("*.*.example.com", false),
            ("w*.example.com", false),
            ("a b.example.com", false),
            ("ex..com", false),
            ("example.com.", false),
            ("-a.example.com", false),
            ("a-.example.com", false),
            ("ünï.example.com", false),
        ];
        for (name, want) in cases {
            assert_eq!(is_host_name(name), want, "{name:?}");
        }
        assert!(is_host_name(&"a".repeat(63)));
        assert!(!is_host_name(&"a".repeat(64)));
    }

    #[test]
    fn refused_inputs() {
        let cases: &[(&str, &[&str], u32)] = &[
            ("mail.example.com", &[], 0),
            ("mail.example.com", &[], MAX_DAYS + 1),
            ("", &[], 30),
            ("bad name", &[], 30),
            ("mail.example.com", &["ok.example.com", "foo.*.com"], 30),
        ];
        for (cn, sans, days) in cases {
            let result = generate(cn, &names(sans), *days);
            assert!(result.is_err(), "{cn} {sans:?} {days}");
        }
        let err = generate("x y", &[], 1).err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "invalid certificate name \"x y\": expected a host name, *.domain or an IP address"
            )
        );
    }

    #[test]
    fn pem_shapes_and_fingerprint_format() {
        let cert = generate("mail.example.com", &[], 1).unwrap_or_else(|e| panic!("{e}"));
        assert!(cert.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(cert.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_eq!(cert.sha256_fingerprint.len(), 32 * 3 - 1);
        assert!(cert.sha256_fingerprint.split(':').all(|p| p.len() == 2
            && p.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_lowercase())));
        assert!(!format!("{cert:?}").contains("PRIVATE"));
        assert_eq!(
            fingerprint(b"abc"),
            "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD"
        );
    }

    fn openssl(args: &[&str], pem: &str) -> Option<(bool, String)> {
        let dir = tempfile::tempdir().ok()?;
        let path = dir.path().join("cert.pem");
        fs::write(&path, pem).ok()?;
        let out = Command::new("openssl")
            .args(["x509", "-noout", "-in"])
            .arg(&path)
            .args(args)
            .output()
            .ok()?;
        Some((
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        ))
    }

    #[test]
    fn openssl_sees_names_validity_and_fingerprint() {
        let sans = names(&[
            "*.example.com",
            "192.0.2.7",
            "2001:db8::1",
            "MAIL.example.com",
        ]);
        let cert = generate("mail.example.com", &sans, 30).unwrap_or_else(|e| panic!("{e}"));
        let Some((ok, text)) = openssl(&["-text"], &cert.cert_pem) else {
            eprintln!("openssl not available; skipping");
            return;
        };
        assert!(ok, "{text}");
        for want in [
            "Subject: CN = mail.example.com",
            "Issuer: CN = mail.example.com",
            "DNS:mail.example.com, DNS:*.example.com, IP Address:192.0.2.7, IP Address:2001:DB8:0:0:0:0:0:1",
            "ASN1 OID: prime256v1",
            "TLS Web Server Authentication",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        assert_eq!(text.matches("DNS:mail.example.com").count(), 1, "{text}");
        let (_, fp) = openssl(&["-fingerprint", "-sha256"], &cert.cert_pem).unwrap_or_default();
        assert_eq!(
            fp.trim(),
            format!("sha256 Fingerprint={}", cert.sha256_fingerprint)
        );
        let day = 86_400;
        let check = |secs: u32| {
            openssl(&["-checkend", &secs.to_string()], &cert.cert_pem).map(|(ok, _)| ok)
        };
        assert_eq!(check(30 * day - 3600), Some(true), "valid for 30 days");
        assert_eq!(check(30 * day + 3600), Some(false), "not valid for longer");
        let (_, dates) =
            openssl(&["-startdate", "-dateopt", "iso_8601"], &cert.cert_pem).unwrap_or_default();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let today = date_time_ymd(1970, 1, 1) + Duration::from_secs(now);
        let want = format!(
            "notBefore={:04}-{:02}-{:02}",
            today.year(),
            u8::from(today.month()),
            today.day()
        );
        assert!(
            dates.starts_with(&want) || now % u64::from(day) < 5,
            "{dates} vs {want}"
        );
    }

    #[test]
    fn write_files_sets_modes_and_replaces() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let cert_path = dir.path().join("server.pem");
        let key_path = dir.path().join("server.key");
        for cn in ["one.example.com", "two.example.com"] {
            let cert = generate(cn, &[], 1).unwrap_or_else(|e| panic!("{e}"));
            write_files(&cert, &cert_path, &key_path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                fs::read_to_string(&cert_path).ok(),
                Some(cert.cert_pem.clone())
            );
            assert_eq!(
                fs::read_to_string(&key_path).ok(),
                Some(cert.key_pem.clone())
            );
        }
        let mode = |p: &Path| fs::metadata(p).map(|m| m.permissions().mode() & 0o777).ok();
        assert_eq!(mode(&key_path), Some(0o600));
        let cert_mode = mode(&cert_path).unwrap_or(0);
        assert_eq!(cert_mode & 0o600, 0o600);
        assert_eq!(cert_mode & 0o022, 0, "never group/world writable");
        let entries = fs::read_dir(dir.path()).map(|d| d.count()).unwrap_or(0);
        assert_eq!(entries, 2, "no temporary files left behind");
        let cert = generate("x.example.com", &[], 1).unwrap_or_else(|e| panic!("{e}"));
        let missing = dir.path().join("missing/dir/cert.pem");
        assert!(write_files(&cert, &missing, &key_path).is_err());
        assert!(write_files(&cert, &cert_path, Path::new("/")).is_err());
    }
}
