//! Certificates from an ACME certificate authority (RFC 8555): `cert acme` and `serve`'s
//! renewal schedule.
//!
//! The protocol (account, orders, authorizations, JWS) is the `instant-acme` crate's; its HTTP
//! client is hyper over rustls (*ring*) trusting the system's roots and `[acme] ca_roots`. This
//! module decides when a certificate is due ([`served::due`]), answers the challenge (HTTP-01 by
//! the built-in responder or a webroot file, TLS-ALPN-01 by its own listener), makes the key and
//! CSR (rcgen), and writes the new chain and key over every target pair: key first, then
//! certificate, each atomically (temporary file, fsync, rename, directory fsync) and keeping the
//! old files' owner and mode. Running listeners pick the new pair up at their next handshake (they
//! watch their files, `driver/tls/reload.rs`); inetd-started daemons read it when they start. A
//! failure leaves the served certificate alone.

pub mod alpn;
pub mod http01;
pub mod served;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, HttpClient, Identifier,
    NewAccount, NewOrder, OrderStatus, RetryPolicy, RevocationReason, RevocationRequest,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256};

use crate::config::acme::{Acme, Challenge, KeyType, Target};
use crate::config::Config;
use crate::events::event;
use served::{Due, Served};

/// The longest a whole issuance (account, order, challenges, finalization) may take.
pub const ISSUE_TIMEOUT: Duration = Duration::from_secs(300);
/// How long the CA gets to validate the challenges and to issue.
const POLL: RetryPolicy = RetryPolicy::new()
    .initial_delay(Duration::from_millis(250))
    .backoff(1.5)
    .timeout(Duration::from_secs(90));

/// Why a certificate could not be obtained; each message says what to look at.
#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    #[error("no [acme] section in the configuration")]
    NotConfigured,
    #[error("[acme] has nowhere to write the certificate (no acme.cert/key, no TLS listener)")]
    NoTarget,
    #[error("no name to ask a certificate for (set acme.names or server.hostname)")]
    NoNames,
    #[error("cannot read the trusted roots {}: {source}", path.display())]
    Roots {
        path: PathBuf,
        source: crate::driver::tls::TlsError,
    },
    #[error("the ACME account in {}: {reason}", path.display())]
    AccountFile { path: PathBuf, reason: String },
    #[error("ACME directory {directory}: {}", chain(source))]
    Directory {
        directory: String,
        source: instant_acme::Error,
    },
    #[error("ACME {step}: {}", chain(source))]
    Protocol {
        step: &'static str,
        source: instant_acme::Error,
    },
    #[error("the CA offers no {challenge} challenge for {name}")]
    NoChallenge {
        name: String,
        challenge: &'static str,
    },
    #[error("cannot answer the {challenge} challenge on {address}: {source}")]
    Responder {
        challenge: &'static str,
        address: String,
        source: std::io::Error,
    },
    #[error("validation failed: {0}")]
    Validation(String),
    #[error("{0}")]
    Key(String),
    #[error("the CA's certificate does not work with the new key: {0}")]
    BadCertificate(String),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no certificate is served to revoke ({0})")]
    NothingToRevoke(String),
    #[error("issuance took longer than {} seconds", ISSUE_TIMEOUT.as_secs())]
    Timeout,
    #[error("cannot claim the renewal: {0}")]
    Claim(String),
}

/// An error and its causes, `a: b: c` (hyper's "client error (Connect)" says little alone).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}

/// What `cert acme` is asked to do.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Obtain a new certificate even when the served one is good.
    pub force: bool,
    /// Revoke the served certificate at the CA, then obtain a new one.
    pub revoke: bool,
}

/// What a run did.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The served certificate is good until `renew_from`.
    NotDue {
        names: Vec<String>,
        not_after: SystemTime,
    },
    /// A new certificate was written.
    Obtained {
        why: Due,
        names: Vec<String>,
        serial: String,
        not_after: SystemTime,
        targets: Vec<Target>,
    },
    /// Another process (on this host or another one sharing the spool) is obtaining the
    /// certificate right now; its files are picked up when written.
    Elsewhere { holder: String },
}

/// Checks the served certificate and obtains a new one when it is due (or forced); writes it
/// over every target. Events: `acme_obtained`, `acme_revoked` (the caller reports failures).
pub async fn run(config: &Config, options: Options) -> Result<Outcome, AcmeError> {
    let acme = config.acme.as_ref().ok_or(AcmeError::NotConfigured)?;
    let targets = acme.targets(config);
    let first = targets.first().ok_or(AcmeError::NoTarget)?;
    let current = served::read(&first.cert).ok();
    let names = served::wanted_names(&acme.names, &config.server.hostname, current.as_ref());
    if names.is_empty() {
        return Err(AcmeError::NoNames);
    }
    if options.revoke {
        let current = served::read(&first.cert).map_err(AcmeError::NothingToRevoke)?;
        tokio::time::timeout(ISSUE_TIMEOUT, revoke(config, acme, &current))
            .await
            .map_err(|_| AcmeError::Timeout)??;
    }
    let force = options.force || options.revoke;
    let due = |current: Option<&Served>| {
        served::due(
            current,
            &names,
            acme.renew_before.duration(),
            SystemTime::now(),
            force,
        )
    };
    if due(current.as_ref()).is_none() {
        let not_after = current.map_or(SystemTime::now(), |c| c.not_after);
        return Ok(Outcome::NotDue { names, not_after });
    }
    // One renewal at a time among every process and host sharing the spool: the others find
    // the claim, and the renewed files when they look again.
    let claim = match renewal_claim(config)? {
        Ok(c) => c,
        Err(holder) => return Ok(Outcome::Elsewhere { holder }),
    };
    // A renewal that ended just before the claim was ours has written the files already.
    let current = served::read(&first.cert).ok();
    let Some(why) = due(current.as_ref()) else {
        claim.release();
        let not_after = current.map_or(SystemTime::now(), |c| c.not_after);
        return Ok(Outcome::NotDue { names, not_after });
    };
    let result = issue_and_write(acme, config, &names, &targets, why).await;
    claim.release();
    result
}

/// The claim on the renewal (`<spool>/claims/acme`), or who holds it. A claim older than twice
/// [`ISSUE_TIMEOUT`], or of a process of this host that is gone, is taken over.
fn renewal_claim(
    config: &Config,
) -> Result<Result<crate::queue::spool::claim::Claim, String>, AcmeError> {
    use crate::queue::spool::claim::{claim, Claimant, Claimed, DIR};
    let who = Claimant {
        node: config.cluster.node,
        host: &config.server.hostname,
        timeout: ISSUE_TIMEOUT * 2,
    };
    let path = config.paths.spool.join(DIR).join("acme");
    match claim(path, &who).map_err(|e| AcmeError::Claim(e.to_string()))? {
        Claimed::Ours { claim, took_over } => {
            if let Some(h) = took_over {
                event("claim_taken_over")
                    .field("what", "acme")
                    .field("node", h.node)
                    .field("host", &h.host)
                    .field("pid", h.pid)
                    .emit();
            }
            Ok(Ok(claim))
        }
        Claimed::Held(Some(h)) => Ok(Err(format!(
            "process {} on {} (node {})",
            h.pid, h.host, h.node
        ))),
        Claimed::Held(None) => Ok(Err("another process".into())),
    }
}

/// Obtains the certificate for `names` and writes it over every target.
async fn issue_and_write(
    acme: &Acme,
    config: &Config,
    names: &[String],
    targets: &[Target],
    why: Due,
) -> Result<Outcome, AcmeError> {
    let names = names.to_vec();
    let targets = targets.to_vec();
    let (chain, key) = tokio::time::timeout(ISSUE_TIMEOUT, obtain(config, acme, &names))
        .await
        .map_err(|_| AcmeError::Timeout)??;
    // The pair must load as a listener loads it before anything is replaced.
    crate::driver::tls::acceptor_from_pem(
        chain.as_bytes(),
        key.as_bytes(),
        Path::new("(new certificate)"),
        Path::new("(new key)"),
    )
    .map_err(|e| AcmeError::BadCertificate(e.to_string()))?;
    let leaf = CertificateDer::pem_slice_iter(chain.as_bytes())
        .next()
        .and_then(Result::ok)
        .ok_or_else(|| AcmeError::BadCertificate("no certificate in the chain".into()))?;
    let new = served::parse(leaf.as_ref()).map_err(AcmeError::BadCertificate)?;
    for t in &targets {
        write_pair(t, &chain, &key)?;
    }
    event("acme_obtained")
        .field("names", names.join(","))
        .field("why", &why)
        .field("serial", &new.serial)
        .field(
            "not_after",
            humantime::format_rfc3339_seconds(new.not_after),
        )
        .field(
            "cert",
            targets
                .iter()
                .map(|t| t.cert.display().to_string())
                .collect::<Vec<_>>()
                .join(","),
        )
        .emit();
    Ok(Outcome::Obtained {
        why,
        names,
        serial: new.serial,
        not_after: new.not_after,
        targets,
    })
}

/// Key first (a listener seeing the new key with the old certificate keeps serving the old pair
/// until the certificate follows), then the chain.
fn write_pair(t: &Target, chain: &str, key: &str) -> Result<(), AcmeError> {
    let write = |path: &Path, bytes: &[u8], mode| {
        crate::store::durable::replace_keeping(path, bytes, mode).map_err(|source| {
            AcmeError::Write {
                path: path.to_owned(),
                source,
            }
        })
    };
    write(&t.key, key.as_bytes(), 0o600)?;
    write(&t.cert, chain.as_bytes(), 0o644)
}

/// The HTTP client for the directory: hyper over rustls, trusting the system's roots and
/// `ca_roots`.
fn http_client(acme: &Acme) -> Result<Box<dyn HttpClient>, AcmeError> {
    use crate::driver::tls;
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(tls::system_roots().iter().cloned());
    for path in &acme.ca_roots {
        let certs = tls::trust_anchors(path).map_err(|source| AcmeError::Roots {
            path: path.clone(),
            source,
        })?;
        roots.add_parsable_certificates(certs);
    }
    let config = rustls::ClientConfig::builder_with_provider(tls::provider())
        .with_protocol_versions(tls::VERSIONS)
        .map_err(|e| AcmeError::Key(format!("TLS set-up: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only()
        .enable_http1()
        .build();
    let client: hyper_util::client::legacy::Client<_, instant_acme::BodyWrapper<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(connector);
    Ok(Box::new(client))
}

/// The account file for `directory`: one per directory URL, under the state directory.
fn account_path(config: &Config, acme: &Acme) -> PathBuf {
    let digest = Sha256::digest(acme.directory.as_bytes());
    let tag: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    acme.state_dir(config).join(format!("account-{tag}.json"))
}

/// The account: restored from its file, or registered (terms of service agreed, the contacts
/// given) and stored, mode 0600.
async fn load_account(config: &Config, acme: &Acme) -> Result<Account, AcmeError> {
    let path = account_path(config, acme);
    let file_error = |reason: String| AcmeError::AccountFile {
        path: path.clone(),
        reason,
    };
    let directory_error = |source| AcmeError::Directory {
        directory: acme.directory.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let credentials: AccountCredentials =
                serde_json::from_str(&text).map_err(|e| file_error(e.to_string()))?;
            return Account::builder_with_http(http_client(acme)?)
                .from_credentials(credentials)
                .await
                .map_err(directory_error);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(file_error(e.to_string())),
    }
    let contacts = acme.contact_urls();
    let contact: Vec<&str> = contacts.iter().map(String::as_str).collect();
    let (account, credentials) = Account::builder_with_http(http_client(acme)?)
        .create(
            &NewAccount {
                contact: &contact,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            acme.directory.clone(),
            None,
        )
        .await
        .map_err(directory_error)?;
    let json = serde_json::to_vec_pretty(&credentials).map_err(|e| file_error(e.to_string()))?;
    if let Some(dir) = path.parent() {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| file_error(e.to_string()))?;
    }
    crate::store::durable::replace(&path, &json, 0o600).map_err(|e| file_error(e.to_string()))?;
    event("acme_account")
        .field("directory", &acme.directory)
        .field("account", account.id())
        .field("file", path.display())
        .emit();
    Ok(account)
}

/// Revokes the served certificate (reason: superseded).
async fn revoke(config: &Config, acme: &Acme, current: &Served) -> Result<(), AcmeError> {
    let account = load_account(config, acme).await?;
    let der = CertificateDer::from(current.der.clone());
    account
        .revoke(&RevocationRequest {
            certificate: &der,
            reason: Some(RevocationReason::Superseded),
        })
        .await
        .map_err(|source| AcmeError::Protocol {
            step: "revocation",
            source,
        })?;
    event("acme_revoked")
        .field("serial", &current.serial)
        .field("names", current.names.join(","))
        .emit();
    Ok(())
}

/// A running challenge responder; stopped (and its webroot files removed) when dropped.
struct Responder {
    task: Option<tokio::task::JoinHandle<()>>,
    files: Vec<PathBuf>,
}

impl Drop for Responder {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

enum Answer {
    Http(http01::Tokens),
    Webroot(PathBuf),
    Alpn(Arc<alpn::Validations>),
}

async fn bind(
    address: std::net::SocketAddr,
    challenge: &'static str,
) -> Result<tokio::net::TcpListener, AcmeError> {
    crate::driver::net::bind(address)
        .await
        .map_err(|source| AcmeError::Responder {
            challenge,
            address: address.to_string(),
            source,
        })
}

/// Starts what answers the configured challenge.
async fn start_responder(acme: &Acme) -> Result<(Responder, Answer), AcmeError> {
    match (acme.challenge, &acme.webroot) {
        (Challenge::Http01, Some(root)) => Ok((
            Responder {
                task: None,
                files: Vec::new(),
            },
            Answer::Webroot(root.join(".well-known").join("acme-challenge")),
        )),
        (Challenge::Http01, None) => {
            let listener = bind(acme.http_listen, "http-01").await?;
            let tokens = http01::Tokens::default();
            let task = tokio::spawn(http01::serve(listener, tokens.clone()));
            Ok((
                Responder {
                    task: Some(task),
                    files: Vec::new(),
                },
                Answer::Http(tokens),
            ))
        }
        (Challenge::TlsAlpn01, _) => {
            let listener = bind(acme.tls_alpn_listener, "tls-alpn-01").await?;
            let validations = Arc::new(alpn::Validations::default());
            let acceptor = crate::driver::tls::acme_alpn_acceptor(validations.clone())
                .map_err(|e| AcmeError::Key(e.to_string()))?;
            let task = tokio::spawn(alpn::serve(listener, acceptor));
            Ok((
                Responder {
                    task: Some(task),
                    files: Vec::new(),
                },
                Answer::Alpn(validations),
            ))
        }
    }
}

/// Orders a certificate for `names`, answers the challenges, and returns the PEM chain and the
/// new PKCS#8 PEM key.
async fn obtain(
    config: &Config,
    acme: &Acme,
    names: &[String],
) -> Result<(String, String), AcmeError> {
    let protocol = |step: &'static str| move |source| AcmeError::Protocol { step, source };
    let identifiers: Vec<Identifier> = names.iter().map(|n| Identifier::Dns(n.clone())).collect();
    let new_order = NewOrder::new(&identifiers);
    let mut order = match load_account(config, acme)
        .await?
        .new_order(&new_order)
        .await
    {
        Ok(order) => order,
        Err(instant_acme::Error::Api(p))
            if p.r#type
                .as_deref()
                .is_some_and(|t| t.ends_with(":accountDoesNotExist")) =>
        {
            // The CA no longer knows the stored account (deactivated, or a test CA restarted):
            // register again.
            let path = account_path(config, acme);
            event("acme_account_unknown")
                .field("directory", &acme.directory)
                .field("file", path.display())
                .field("effect", "registering a new account")
                .emit();
            std::fs::remove_file(&path).map_err(|e| AcmeError::AccountFile {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            load_account(config, acme)
                .await?
                .new_order(&new_order)
                .await
                .map_err(protocol("new order"))?
        }
        Err(e) => return Err(protocol("new order")(e)),
    };
    let (challenge_type, label) = match acme.challenge {
        Challenge::Http01 => (ChallengeType::Http01, "http-01"),
        Challenge::TlsAlpn01 => (ChallengeType::TlsAlpn01, "tls-alpn-01"),
    };
    let (mut responder, answer) = start_responder(acme).await?;
    {
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz.map_err(protocol("authorization"))?;
            let name = authz.identifier().to_string();
            match authz.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => {
                    return Err(AcmeError::Validation(format!(
                        "authorization for {name} is {other:?}"
                    )))
                }
            }
            let mut challenge =
                authz
                    .challenge(challenge_type.clone())
                    .ok_or(AcmeError::NoChallenge {
                        name: name.clone(),
                        challenge: label,
                    })?;
            let key_auth = challenge.key_authorization();
            let token = challenge.token.clone();
            match &answer {
                Answer::Http(tokens) => tokens.insert(&token, key_auth.as_str()),
                Answer::Webroot(dir) => {
                    if !http01::is_token(&token) {
                        return Err(AcmeError::Validation(format!(
                            "the CA sent a token that is not base64url: {token:?}"
                        )));
                    }
                    let path = dir.join(&token);
                    write_token(dir, &path, key_auth.as_str()).map_err(|source| {
                        AcmeError::Write {
                            path: path.clone(),
                            source,
                        }
                    })?;
                    responder.files.push(path);
                }
                Answer::Alpn(validations) => validations
                    .insert(&name, key_auth.digest().as_ref())
                    .map_err(AcmeError::Key)?,
            }
            event("acme_challenge")
                .field("name", &name)
                .field("challenge", label)
                .emit();
            challenge.set_ready().await.map_err(protocol("challenge"))?;
        }
    }
    let status = match order.poll_ready(&POLL).await {
        Ok(s) => s,
        Err(instant_acme::Error::Timeout(_)) => {
            return Err(AcmeError::Validation(format!(
                "the CA did not validate the {label} challenges within {} seconds",
                POLL_SECS
            )))
        }
        Err(instant_acme::Error::Api(problem)) => {
            // The order went invalid: what the CA said about each challenge.
            let detail = challenge_errors(&mut order).await;
            let detail = if detail.is_empty() {
                problem_text(&problem)
            } else {
                detail
            };
            return Err(AcmeError::Validation(detail));
        }
        Err(e) => return Err(protocol("order")(e)),
    };
    if status != OrderStatus::Ready {
        let detail = challenge_errors(&mut order).await;
        return Err(AcmeError::Validation(if detail.is_empty() {
            format!("the order is {status:?} after the {label} challenges")
        } else {
            detail
        }));
    }
    drop(responder);
    let (csr, key_pem) = key_and_csr(acme.key_type, names)?;
    order
        .finalize_csr(&csr)
        .await
        .map_err(protocol("finalization"))?;
    let chain = order
        .poll_certificate(&POLL)
        .await
        .map_err(protocol("certificate download"))?;
    Ok((chain, key_pem))
}

const POLL_SECS: u64 = 90;

/// What the CA said about each failed challenge (else about the order); empty if nothing.
async fn challenge_errors(order: &mut instant_acme::Order) -> String {
    let mut out = Vec::new();
    {
        let mut authorizations = order.authorizations();
        while let Some(Ok(authz)) = authorizations.next().await {
            let name = authz.identifier().to_string();
            for c in &authz.challenges {
                if let Some(p) = &c.error {
                    out.push(format!("{name}: {}", problem_text(p)));
                }
            }
        }
    }
    if out.is_empty() {
        if let Some(p) = &order.state().error {
            out.push(problem_text(p));
        }
    }
    out.join("; ")
}

fn problem_text(p: &instant_acme::Problem) -> String {
    match (&p.r#type, &p.detail) {
        (Some(t), Some(d)) => format!("{d} ({t})"),
        (None, Some(d)) => d.clone(),
        (Some(t), None) => t.clone(),
        (None, None) => "unspecified problem".into(),
    }
}

/// Writes a token file (0644) under the webroot's `.well-known/acme-challenge/` (made if
/// missing, 0755).
fn write_token(dir: &Path, path: &Path, key_auth: &str) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)?;
    crate::store::durable::replace(path, key_auth.as_bytes(), 0o644)
}

/// A new key of `key_type` (PKCS#8 PEM) and a CSR (DER) for `names`.
fn key_and_csr(key_type: KeyType, names: &[String]) -> Result<(Vec<u8>, String), AcmeError> {
    let fail = |e: &dyn std::fmt::Display| AcmeError::Key(format!("new key: {e}"));
    let key = match key_type {
        KeyType::EcdsaP256 => {
            rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| fail(&e))?
        }
        KeyType::Rsa2048 => {
            let der = crate::mailauth::keys::rsa2048_pkcs8().map_err(|e| fail(&e))?;
            rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
                &rustls::pki_types::PrivatePkcs8KeyDer::from(der.as_slice()),
                &rcgen::PKCS_RSA_SHA256,
            )
            .map_err(|e| fail(&e))?
        }
    };
    let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(|e| fail(&e))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    if let Some(first) = names.first() {
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, first.as_str());
    }
    let csr = params.serialize_request(&key).map_err(|e| fail(&e))?;
    Ok((csr.der().to_vec(), key.serialize_pem()))
}

/// `serve`'s schedule: check at start and every `check_interval`; after a failure retry sooner
/// (5 minutes, doubling up to the interval); a certificate expiring within 7 days is a warning
/// event (`acme_expiry_warning`) at most once a day.
pub fn spawn_schedule(config: Arc<Config>) -> Option<tokio::task::JoinHandle<()>> {
    let acme = config.acme.clone()?;
    Some(tokio::spawn(async move {
        let interval = acme.check_interval.duration();
        let mut failures: u32 = 0;
        let mut warned: Option<std::time::Instant> = None;
        loop {
            let wait = match run(&config, Options::default()).await {
                Ok(outcome) => {
                    failures = 0;
                    match &outcome {
                        Outcome::NotDue { names, not_after } => {
                            event("acme_checked")
                                .field("names", names.join(","))
                                .field("not_after", humantime::format_rfc3339_seconds(*not_after))
                                .emit();
                            interval
                        }
                        // Looked at again soon: the other's files, or its claim gone stale.
                        Outcome::Elsewhere { holder } => {
                            event("acme_elsewhere").field("holder", holder).emit();
                            retry_after(1, interval)
                        }
                        Outcome::Obtained { .. } => interval,
                    }
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let wait = retry_after(failures, interval);
                    event("acme_failed")
                        .field("error", &e)
                        .field("effect", "the served certificate is kept")
                        .field("retry_in", humantime::format_duration(wait))
                        .emit();
                    wait
                }
            };
            expiry_warning(&config, &acme, &mut warned);
            tokio::time::sleep(wait).await;
        }
    }))
}

/// The wait after the `failures`-th failure in a row: 5 minutes doubling, at most `interval`.
pub fn retry_after(failures: u32, interval: Duration) -> Duration {
    let shift = failures.saturating_sub(1).min(16);
    Duration::from_secs(300u64 << shift).min(interval)
}

/// The days within which an expiring certificate is warned about daily.
pub const WARN_DAYS: u64 = 7;

fn expiry_warning(config: &Config, acme: &Acme, warned: &mut Option<std::time::Instant>) {
    let day = Duration::from_secs(86_400);
    if warned.is_some_and(|w| w.elapsed() < day) {
        return;
    }
    for t in acme.targets(config) {
        let Ok(s) = served::read(&t.cert) else {
            continue;
        };
        let left = s
            .not_after
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        if left < Duration::from_secs(WARN_DAYS * 86_400) {
            event("acme_expiry_warning")
                .field("cert", t.cert.display())
                .field("days_left", left.as_secs() / 86_400)
                .field("not_after", humantime::format_rfc3339_seconds(s.not_after))
                .emit();
            *warned = Some(std::time::Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic
    use super::*;

    #[test]
    fn back_off_doubles_up_to_the_interval() {
        let day = Duration::from_secs(43_200);
        let waits: Vec<u64> = (1..=10).map(|n| retry_after(n, day).as_secs()).collect();
        assert_eq!(
            waits,
            [300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 43200, 43200]
        );
    }

    #[test]
    fn csr_for_both_key_types() {
        for kt in [KeyType::EcdsaP256, KeyType::Rsa2048] {
            let (csr, key) = key_and_csr(kt, &["mail.example.test".into()]).unwrap();
            assert!(!csr.is_empty());
            assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"), "{key}");
        }
    }
}
