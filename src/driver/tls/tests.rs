//! Real handshakes over in-memory duplex streams, with certificates from `cert::generate`: trust
//! and name checks, TLS 1.3 and 1.2, load errors, certificate replacement.

use super::keys::pem_certificates;
use super::*;
use crate::cert::{self, GeneratedCert};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

struct Files {
    _dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
}

fn files(cn: &str, sans: &[&str]) -> (GeneratedCert, Files) {
    let sans: Vec<String> = sans.iter().map(|s| (*s).to_owned()).collect();
    let generated = cert::generate(cn, &sans, 2).unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    cert::write_files(&generated, &cert, &key).unwrap_or_else(|e| panic!("{e}"));
    (
        generated,
        Files {
            _dir: dir,
            cert,
            key,
        },
    )
}

/// Handshakes `connector` (as `domain`) with `acceptor` and exchanges one SMTP-ish line.
async fn handshake(
    acceptor: &tokio_rustls::TlsAcceptor,
    connector: &Connector,
    domain: &str,
) -> Result<String, String> {
    let (client_io, server_io) = tokio::io::duplex(16 * 1024);
    let server = async {
        let stream = acceptor
            .accept(server_io)
            .await
            .map_err(|e| e.to_string())?;
        let mut stream = BufReader::new(stream);
        let mut line = String::new();
        stream
            .read_line(&mut line)
            .await
            .map_err(|e| e.to_string())?;
        let reply = format!("250 got {}", line.trim_end());
        stream
            .write_all(format!("{reply}\r\n").as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        stream.flush().await.map_err(|e| e.to_string())
    };
    let client = async {
        let stream = connector
            .connect(domain, client_io)
            .await
            .map_err(|e| e.to_string())?;
        let mut stream = BufReader::new(stream);
        stream
            .write_all(b"EHLO client.example\r\n")
            .await
            .map_err(|e| e.to_string())?;
        stream.flush().await.map_err(|e| e.to_string())?;
        let mut line = String::new();
        stream
            .read_line(&mut line)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<String, String>(line)
    };
    let (server, client) = tokio::join!(server, client);
    let line = client?;
    server?;
    Ok(line)
}

#[tokio::test]
async fn handshakes_by_trust_anchor_and_name() {
    let (_, f) = files("localhost", &["*.example.com", "127.0.0.1"]);
    let acceptor = load_acceptor(&f.cert, &f.key).unwrap_or_else(|e| panic!("{e}"));
    let trusting = connector(Some(&f.cert), false).unwrap_or_else(|e| panic!("{e}"));
    let default = connector(None, false).unwrap_or_else(|e| panic!("{e}"));
    let lax = connector(None, true).unwrap_or_else(|e| panic!("{e}"));
    let cases: [(&str, &Connector, &str, bool); 7] = [
        ("trusted, CN", &trusting, "localhost", true),
        ("trusted, wildcard", &trusting, "mail.example.com", true),
        ("trusted, IP", &trusting, "127.0.0.1", true),
        (
            "trusted, wildcard is one label only",
            &trusting,
            "a.b.example.com",
            false,
        ),
        ("trusted, other name", &trusting, "mail.example.org", false),
        ("not trusted", &default, "localhost", false),
        ("verification off", &lax, "anything.invalid", true),
    ];
    for (name, conn, domain, want_ok) in cases {
        let result = handshake(&acceptor, conn, domain).await;
        match (result, want_ok) {
            (Ok(line), true) => assert_eq!(line, "250 got EHLO client.example\r\n", "{name}"),
            (Err(_), false) => {}
            (other, _) => panic!("{name}: unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn in_memory_acceptor_works() {
    let (generated, _) = files("demo.example", &[]);
    let acceptor = acceptor_from_pem(
        generated.cert_pem.as_bytes(),
        generated.key_pem.as_bytes(),
        Path::new("(demo certificate)"),
        Path::new("(demo key)"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let lax = connector(None, true).unwrap_or_else(|e| panic!("{e}"));
    assert!(handshake(&acceptor, &lax, "demo.example").await.is_ok());
}

fn load_error(cert: &Path, key: &Path) -> String {
    match load_acceptor(cert, key) {
        Ok(_) => "loaded".to_owned(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn load_errors_name_the_file() {
    let (_, a) = files("a.example", &[]);
    let (_, b) = files("b.example", &[]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let write = |name: &str, data: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, data).unwrap_or_else(|e| panic!("{e}"));
        path
    };
    let missing = dir.path().join("missing.pem");
    let garbage = write("garbage.pem", b"hello\n");
    let bad_cert = write(
        "bad-cert.pem",
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    let ec_key = write(
        "ec.key",
        b"-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
    );
    let encrypted = write(
        "encrypted.key",
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
    );
    let huge = write("huge.pem", &vec![b'A'; MAX_PEM_FILE as usize + 1]);
    let cases: Vec<(&str, &Path, &Path, Vec<String>)> = vec![
        (
            "missing cert",
            &missing,
            &a.key,
            vec![format!("cannot read {}", missing.display())],
        ),
        (
            "missing key",
            &a.cert,
            &missing,
            vec![format!("cannot read {}", missing.display())],
        ),
        (
            "garbage cert",
            &garbage,
            &a.key,
            vec![format!(
                "{} holds no valid PEM certificate",
                garbage.display()
            )],
        ),
        (
            "invalid cert",
            &bad_cert,
            &a.key,
            vec![format!(
                "{} holds no valid PEM certificate",
                bad_cert.display()
            )],
        ),
        (
            "garbage key",
            &a.cert,
            &garbage,
            vec![format!("{} holds no PEM private key", garbage.display())],
        ),
        (
            "encrypted key",
            &a.cert,
            &encrypted,
            vec![
                format!("{} holds no PEM private key", encrypted.display()),
                "openssl pkey -in OLD -out NEW".to_owned(),
            ],
        ),
        (
            "broken EC key",
            &a.cert,
            &ec_key,
            vec![format!(
                "certificate {} and key {} do not work together: unsupported private key",
                a.cert.display(),
                ec_key.display()
            )],
        ),
        (
            "huge cert",
            &huge,
            &a.key,
            vec![format!("{} is larger than", huge.display())],
        ),
        (
            "key of another certificate",
            &a.cert,
            &b.key,
            vec![format!(
                "certificate {} and key {} do not work together: the key does not belong",
                a.cert.display(),
                b.key.display()
            )],
        ),
        ("good pair", &a.cert, &a.key, vec!["loaded".to_owned()]),
    ];
    for (name, cert, key, wants) in cases {
        let msg = load_error(cert, key);
        for want in wants {
            assert!(msg.contains(&want), "{name}: {msg:?} lacks {want:?}");
        }
    }
}

#[test]
fn connector_trust_anchor_errors() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, b"").unwrap_or_else(|e| panic!("{e}"));
    let missing = dir.path().join("missing.pem");
    for path in [&empty, &missing] {
        let err = connector(Some(path), false).err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains(&path.display().to_string())),
            "{err:?}"
        );
    }
}

#[test]
fn pem_bundle_parsing() {
    let (one, _) = files("one.example", &[]);
    let (two, _) = files("two.example", &[]);
    let bundle = format!("junk before\n{}\n{}trailing", one.cert_pem, two.cert_pem);
    assert_eq!(pem_certificates(bundle.as_bytes()).map(|c| c.len()), Ok(2));
    assert_eq!(pem_certificates(b"").map(|c| c.len()), Ok(0));
    let cut = one.cert_pem.replace("-----END CERTIFICATE-----", "");
    assert!(pem_certificates(cut.as_bytes()).is_err());
    assert_eq!(pem_certificates(b"\xff\xfe").map(|c| c.len()), Ok(0));
    // A block that is base64 but no certificate.
    let not_x509 = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    assert!(pem_certificates(not_x509).is_err());
}

/// A client offering only `version`, verifying nothing.
fn client_only(version: &'static rustls::SupportedProtocolVersion) -> tokio_rustls::TlsConnector {
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[version])
        .unwrap_or_else(|e| panic!("{e}"))
        .dangerous()
        .with_custom_certificate_verifier(std::sync::Arc::new(client::NoVerify))
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
}

#[tokio::test]
async fn serves_tls13_and_tls12_with_aead_suites() {
    let (_, f) = files("localhost", &[]);
    let acceptor = load_acceptor(&f.cert, &f.key).unwrap_or_else(|e| panic!("{e}"));
    for (version, want) in [
        (&rustls::version::TLS13, rustls::ProtocolVersion::TLSv1_3),
        (&rustls::version::TLS12, rustls::ProtocolVersion::TLSv1_2),
    ] {
        let (client_io, server_io) = tokio::io::duplex(16 * 1024);
        let name = rustls::pki_types::ServerName::try_from("localhost")
            .unwrap_or_else(|e| panic!("{e}"))
            .to_owned();
        let connector = client_only(version);
        let (server, client) = tokio::join!(
            acceptor.accept(server_io),
            connector.connect(name, client_io)
        );
        let server = server.unwrap_or_else(|e| panic!("{want:?}: {e}"));
        let client = client.unwrap_or_else(|e| panic!("{want:?}: {e}"));
        let (_, conn) = server.get_ref();
        assert_eq!(conn.protocol_version(), Some(want));
        assert_eq!(client.get_ref().1.protocol_version(), Some(want));
        let suite = format!("{:?}", conn.negotiated_cipher_suite().map(|s| s.suite()));
        assert!(
            ["AES_128_GCM", "AES_256_GCM", "CHACHA20_POLY1305"]
                .iter()
                .any(|aead| suite.contains(aead)),
            "{want:?}: {suite}"
        );
    }
}

#[test]
fn replaced_files_are_served_and_broken_ones_are_not() {
    use rustls::pki_types::pem::PemObject;
    let (first, f) = files("first.example", &[]);
    let der = |g: &GeneratedCert| {
        rustls::pki_types::CertificateDer::from_pem_slice(g.cert_pem.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let served = |r: &reload::Reloading| r.current().cert[0].clone();
    let replace = |path: &Path, data: &[u8]| {
        let tmp = path.with_extension("new");
        std::fs::write(&tmp, data).unwrap_or_else(|e| panic!("{e}"));
        std::fs::rename(&tmp, path).unwrap_or_else(|e| panic!("{e}"));
    };
    // Looking at every handshake; the one-second limit is tested through a real listener.
    let resolver = reload::Reloading::load(&f.cert, &f.key, std::time::Duration::ZERO)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(served(&resolver), der(&first));
    assert_eq!(served(&resolver), der(&first), "unchanged files");

    let (second, _) = files("second.example", &[]);
    replace(&f.cert, second.cert_pem.as_bytes());
    // The certificate alone is new: the pair does not match, the first stays.
    assert_eq!(served(&resolver), der(&first), "half-replaced pair");
    replace(&f.key, second.key_pem.as_bytes());
    assert_eq!(served(&resolver), der(&second), "both replaced");

    replace(&f.key, b"not a key\n");
    assert_eq!(served(&resolver), der(&second), "broken key");
    std::fs::remove_file(&f.cert).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(served(&resolver), der(&second), "missing certificate");

    let (third, _) = files("third.example", &[]);
    replace(&f.key, third.key_pem.as_bytes());
    replace(&f.cert, third.cert_pem.as_bytes());
    assert_eq!(served(&resolver), der(&third), "repaired");
}
