//! MTA-STS (RFC 8461) for remote delivery by MX: the policy in force for a domain.
//!
//! The `_mta-sts.DOMAIN` TXT record says whether there is a policy and its `id`; the policy comes
//! from `https://mta-sts.DOMAIN/.well-known/mta-sts.txt`, fetched over TLS verified against the
//! system's roots plus `[tls] extra_roots` (the name resolved by the one resolver of `[dns]`; no
//! redirects; a `200` of `text/plain`, at most [`MAX_POLICY`] bytes, within [`FETCH_TIMEOUT`]).
//! It is cached in `<spool>/mta-sts/DOMAIN.json` (written atomically) until its `max_age` runs
//! out, and fetched again when the TXT record's `id` changes. A fetch that fails leaves the
//! cached policy in force (§5.1); with none cached, mail goes as without a policy. Events:
//! `mta_sts_policy` (fetched), `mta_sts_fetch_failed`.

pub mod policy;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hickory_resolver::TokioResolver;
use http_body_util::{BodyExt, Empty, Limited};

use crate::config::Config;
use crate::events::event;
pub use policy::{Mode, Policy};

/// The largest policy file read (RFC 8461 §3.3 suggests 64 KiB).
pub const MAX_POLICY: usize = 64 * 1024;
/// The time a policy fetch may take, connection included (§3.3: at most 60 s).
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn cache_path(config: &Config, domain: &str) -> Option<PathBuf> {
    policy::is_cache_name(domain).then(|| {
        config
            .paths
            .spool
            .join("mta-sts")
            .join(format!("{domain}.json"))
    })
}

fn read_cache(config: &Config, domain: &str) -> Option<Policy> {
    let path = cache_path(config, domain)?;
    let text = std::fs::read(&path).ok()?;
    if text.len() > MAX_POLICY * 2 {
        return None;
    }
    let p: Policy = serde_json::from_slice(&text).ok()?;
    p.fresh(now()).then_some(p)
}

fn write_cache(config: &Config, domain: &str, p: &Policy) {
    let Some(path) = cache_path(config, domain) else {
        return;
    };
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| serde_json::to_vec(p).map_err(std::io::Error::other))
        .and_then(|json| crate::store::durable::replace(&path, &json, 0o644));
    if let Err(e) = written {
        event("mta_sts_cache_failed")
            .field("domain", domain)
            .field("error", e)
            .emit();
    }
}

/// The policy in force for `domain` (lower case), or `None`.
pub async fn policy_for(config: &Config, resolver: &TokioResolver, domain: &str) -> Option<Policy> {
    let cached = read_cache(config, domain);
    let records = match crate::dns::txt(resolver, &format!("_mta-sts.{domain}")).await {
        Ok(r) => r,
        // A failed lookup changes nothing: the cached policy, if any (§5.1).
        Err(_) => return cached,
    };
    let Some(id) = policy::txt_id(&records) else {
        // No (valid) record: a cached policy stays in force until it expires (§5.1).
        return cached;
    };
    if let Some(c) = &cached {
        if c.id == id {
            return cached;
        }
    }
    match tokio::time::timeout(FETCH_TIMEOUT, fetch(config, resolver, domain, &id)).await {
        Ok(Ok(p)) => {
            event("mta_sts_policy")
                .field("domain", domain)
                .field("id", &p.id)
                .field("mode", p.mode)
                .field("mx", p.mx.join(","))
                .field("max_age", p.max_age)
                .emit();
            write_cache(config, domain, &p);
            Some(p)
        }
        Ok(Err(e)) => {
            fetch_failed(config, domain, &id, &e, cached.as_ref());
            cached
        }
        Err(_) => {
            let e = format!("no policy within {} seconds", FETCH_TIMEOUT.as_secs());
            fetch_failed(config, domain, &id, &e, cached.as_ref());
            cached
        }
    }
}

/// A failed fetch: logged, and recorded for the TLS report (RFC 8460 §4.3.2).
fn fetch_failed(config: &Config, domain: &str, id: &str, error: &str, cached: Option<&Policy>) {
    let kind = super::tlsrpt::fetch_failure_kind(error);
    super::tlsrpt::record_fetch_failure(config, domain, id, kind);
    event("mta_sts_fetch_failed")
        .field("domain", domain)
        .field("id", id)
        .field("result_type", kind)
        .field("error", error)
        .field(
            "effect",
            match cached {
                Some(c) => format!("the cached policy (id {}, {}) stays in force", c.id, c.mode),
                None => "delivering as without a policy".to_string(),
            },
        )
        .emit();
}

/// The TLS client for policy hosts: the system's roots and `[tls] extra_roots`, names verified.
fn tls_connector(config: &Config) -> Result<tokio_rustls::TlsConnector, String> {
    use crate::driver::tls;
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(tls::system_roots().iter().cloned());
    for path in &config.tls.extra_roots {
        roots.add_parsable_certificates(tls::trust_anchors(path).map_err(|e| e.to_string())?);
    }
    let client = rustls::ClientConfig::builder_with_provider(tls::provider())
        .with_protocol_versions(tls::VERSIONS)
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(client)))
}

/// GET `https://mta-sts.DOMAIN/.well-known/mta-sts.txt` and parse it.
async fn fetch(
    config: &Config,
    resolver: &TokioResolver,
    domain: &str,
    id: &str,
) -> Result<Policy, String> {
    let host = format!("mta-sts.{domain}");
    let ips = crate::dns::addresses(resolver, &host)
        .await
        .map_err(|e| e.to_string())?;
    let port = config.remote.mta_sts_port;
    let mut last = format!("{host} has no address");
    let mut tcp = None;
    for ip in ips {
        match tokio::net::TcpStream::connect((ip, port)).await {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = format!("connect to {host}[{ip}]:{port}: {e}"),
        }
    }
    let tcp = tcp.ok_or(last)?;
    let name = rustls::pki_types::ServerName::try_from(host.clone()).map_err(|e| e.to_string())?;
    let tls = tls_connector(config)?
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS with {host}: {e}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .map_err(|e| format!("HTTP with {host}: {e}"))?;
    let driver = tokio::spawn(connection);
    let request = hyper::Request::get("/.well-known/mta-sts.txt")
        .header(hyper::header::HOST, &host)
        .header(hyper::header::USER_AGENT, "postern")
        .body(Empty::<bytes::Bytes>::new())
        .map_err(|e| e.to_string())?;
    let result = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("HTTP with {host}: {e}"))?;
        if response.status() != hyper::StatusCode::OK {
            return Err(format!(
                "https://{host}/.well-known/mta-sts.txt answered {} (not 200; redirects are not followed)",
                response.status()
            ));
        }
        let plain = response
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("text/plain"));
        if !plain {
            return Err(format!("{host} served the policy without Content-Type text/plain"));
        }
        let body = Limited::new(response.into_body(), MAX_POLICY)
            .collect()
            .await
            .map_err(|e| format!("policy from {host}: {e}"))?
            .to_bytes();
        let text = std::str::from_utf8(&body).map_err(|_| format!("policy from {host} is not UTF-8"))?;
        policy::parse(text, id, now()).map_err(|e| format!("policy from {host}: {e}"))
    }
    .await;
    driver.abort();
    result
}
