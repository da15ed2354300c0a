//! SMTP TLS reporting (RFC 8460) for MTA-STS policy domains: each delivery attempt under a
//! policy is one line in `<spool>/tlsrpt/DAY/DOMAIN.jsonl` (success, or the failure's result
//! type and MX host); `queue tls-report` aggregates a day into the RFC 8460 JSON report and mails
//! it, gzipped, to the `rua=mailto:` addresses of `_smtp._tls.DOMAIN`.
//!
//! Hosts sharing a spool (`[cluster] node` 1-7) each append to their own file,
//! `DOMAIN@NODE.jsonl`: an `O_APPEND` write is one atomic append among the processes of one
//! host (one kernel knows the file's end), but across the FUSE or NFS clients of several hosts
//! each client appends at the end it last saw, and lines could overwrite each other. The report
//! reads every host's file of the domain. Only one reporter sends a domain's report of a day:
//! it claims `DAY/DOMAIN.report` (`O_EXCL`) first, and marks the files sent before letting go.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::mta_sts::Policy;
use crate::config::Config;
use crate::proto::mail::Outcome;

/// One attempt under a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// `sts` (MTA-STS) or `tlsa` (DANE).
    #[serde(default = "sts")]
    pub policy_type: String,
    /// The policy domain when it is not the recipient domain (DANE: the TLSA base domain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_domain: Option<String>,
    /// The policy as text lines, where it is not rebuilt from the fields below (DANE: its
    /// TLSA records).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_strings: Vec<String>,
    pub policy_id: String,
    pub mode: String,
    pub mx: Vec<String>,
    pub max_age: u64,
    /// `success`, or an RFC 8460 result type.
    pub result: String,
    /// The MX host the failure was with, when one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mx_host: Option<String>,
}

fn sts() -> String {
    "sts".into()
}

/// The UTC day (`YYYY-MM-DD`) of `secs` since the epoch.
pub fn day_of(secs: u64) -> String {
    let t = UNIX_EPOCH + std::time::Duration::from_secs(secs);
    humantime::format_rfc3339_seconds(t)
        .to_string()
        .chars()
        .take(10)
        .collect()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn dir(config: &Config) -> PathBuf {
    config.paths.spool.join("tlsrpt")
}

/// The RFC 8460 result type of a failed attempt under an enforced policy, from its outcome;
/// `None` when TLS was not what failed (a refusal after a verified handshake).
pub fn classify(outcome: &Outcome) -> Option<&'static str> {
    let t = outcome.text.to_ascii_lowercase();
    if t.contains("dane: tlsa lookup") {
        Some("dnssec-invalid")
    } else if t.contains("does not offer starttls") {
        Some("starttls-not-supported")
    } else if t.contains("no mx host matches") {
        Some("validation-failure")
    } else if t.contains("starttls failed") || t.contains("certificate") {
        Some(
            if t.contains("notvalidforname") || t.contains("not valid for name") {
                "certificate-host-mismatch"
            } else if t.contains("expired") {
                "certificate-expired"
            } else if t.contains("unknownissuer") || t.contains("unknown issuer") {
                "certificate-not-trusted"
            } else {
                "validation-failure"
            },
        )
    } else {
        None
    }
}

/// Appends one attempt under the MTA-STS `policy` of `domain` (best effort: reporting never
/// stops delivery).
pub fn record(config: &Config, domain: &str, policy: &Policy, result: &str, mx_host: Option<&str>) {
    append(
        config,
        domain,
        &Attempt {
            policy_type: sts(),
            policy_domain: None,
            policy_strings: Vec::new(),
            policy_id: policy.id.clone(),
            mode: policy.mode.to_string(),
            mx: policy.mx.clone(),
            max_age: policy.max_age,
            result: result.to_string(),
            mx_host: mx_host.map(str::to_string),
        },
    );
}

/// Appends a failed MTA-STS policy fetch for `domain` (TXT id `id`): `sts-policy-fetch-error`,
/// `sts-webpki-invalid` or `sts-policy-invalid` (RFC 8460 §4.3.2).
pub fn record_fetch_failure(config: &Config, domain: &str, id: &str, result: &str) {
    append(
        config,
        domain,
        &Attempt {
            policy_type: sts(),
            policy_domain: None,
            policy_strings: Vec::new(),
            policy_id: id.to_string(),
            mode: String::new(),
            mx: Vec::new(),
            max_age: 0,
            result: result.to_string(),
            mx_host: None,
        },
    );
}

/// The RFC 8460 result type of a failed policy fetch, from its error.
pub fn fetch_failure_kind(error: &str) -> &'static str {
    let e = error.to_ascii_lowercase();
    if e.starts_with("tls with") || e.contains("certificate") {
        "sts-webpki-invalid"
    } else if e.starts_with("policy from") || e.contains("content-type") {
        "sts-policy-invalid"
    } else {
        "sts-policy-fetch-error"
    }
}

/// Appends one DANE attempt for mail to `domain`, under the TLSA RRset at `base`
/// (`_25._tcp.HOST`, its records as `strings`), reported as `policy-type: tlsa`.
pub fn record_dane(
    config: &Config,
    domain: &str,
    base: &str,
    strings: &[String],
    result: &str,
    mx_host: Option<&str>,
) {
    let host = base
        .splitn(3, '.')
        .nth(2)
        .filter(|_| base.starts_with('_'))
        .unwrap_or(base);
    append(
        config,
        domain,
        &Attempt {
            policy_type: "tlsa".into(),
            policy_domain: Some(host.to_string()),
            policy_strings: strings.to_vec(),
            policy_id: format!("tlsa {base}"),
            mode: String::new(),
            mx: vec![host.to_string()],
            max_age: 0,
            result: result.to_string(),
            mx_host: mx_host.map(str::to_string),
        },
    );
}

fn append(config: &Config, domain: &str, line: &Attempt) {
    if !super::mta_sts::policy::is_cache_name(domain) {
        return;
    }
    let day = dir(config).join(day_of(now()));
    let written = std::fs::create_dir_all(&day).and_then(|()| {
        let mut json = serde_json::to_vec(line).map_err(std::io::Error::other)?;
        json.push(b'\n');
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(day.join(file_name(domain, config.cluster.node)))?;
        // One write of a short line with O_APPEND: lines of concurrent writers do not mix.
        f.write_all(&json)
    });
    if let Err(e) = written {
        crate::events::event("tlsrpt_record_failed")
            .field("domain", domain)
            .field("error", e)
            .emit();
    }
}

/// The `mailto:` addresses of the one `v=TLSRPTv1` record among `records` (RFC 8460 §3).
pub fn rua(records: &[String]) -> Vec<String> {
    let found: Vec<&String> = records
        .iter()
        .filter(|r| r.trim_start().starts_with("v=TLSRPTv1"))
        .collect();
    let [record] = found.as_slice() else {
        return Vec::new();
    };
    record
        .split(';')
        .filter_map(|f| f.trim().strip_prefix("rua="))
        .flat_map(|v| v.split(','))
        .filter_map(|u| u.trim().strip_prefix("mailto:"))
        .filter(|a| crate::config::validate::is_address(a))
        .map(str::to_string)
        .collect()
}

/// The RFC 8460 report of `domain` for `day` from its attempts.
pub fn report(config: &Config, domain: &str, day: &str, attempts: &[Attempt]) -> serde_json::Value {
    use std::collections::BTreeMap;
    // One policy entry per policy id seen that day.
    let mut by_policy: BTreeMap<&str, Vec<&Attempt>> = BTreeMap::new();
    for a in attempts {
        by_policy.entry(a.policy_id.as_str()).or_default().push(a);
    }
    let policies: Vec<serde_json::Value> = by_policy
        .values()
        .filter_map(|list| {
            let first = list.first()?;
            let ok = list.iter().filter(|a| a.result == "success").count();
            let mut failures: BTreeMap<(&str, Option<&str>), usize> = BTreeMap::new();
            for a in list.iter().filter(|a| a.result != "success") {
                *failures
                    .entry((a.result.as_str(), a.mx_host.as_deref()))
                    .or_default() += 1;
            }
            let lines = if first.policy_type != "sts" {
                first.policy_strings.clone()
            } else if first.mode.is_empty() {
                // A fetch that failed: no policy text to show.
                Vec::new()
            } else {
                let mut lines = vec![
                    "version: STSv1".to_string(),
                    format!("mode: {}", first.mode),
                ];
                lines.extend(first.mx.iter().map(|m| format!("mx: {m}")));
                lines.push(format!("max_age: {}", first.max_age));
                lines
            };
            Some(serde_json::json!({
                "policy": {
                    "policy-type": first.policy_type,
                    "policy-string": lines,
                    "policy-domain": first.policy_domain.as_deref().unwrap_or(domain),
                    "mx-host": first.mx,
                },
                "summary": {
                    "total-successful-session-count": ok,
                    "total-failure-session-count": list.len() - ok,
                },
                "failure-details": failures.iter().map(|((t, mx), n)| {
                    let mut d = serde_json::json!({"result-type": t, "failed-session-count": n});
                    if let (Some(mx), Some(obj)) = (mx, d.as_object_mut()) {
                        obj.insert("receiving-mx-hostname".into(), serde_json::json!(mx));
                    }
                    d
                }).collect::<Vec<_>>(),
            }))
        })
        .collect();
    serde_json::json!({
        "organization-name": config.server.hostname,
        "date-range": {
            "start-datetime": format!("{day}T00:00:00Z"),
            "end-datetime": format!("{day}T23:59:59Z"),
        },
        "contact-info": config.server.postmaster,
        "report-id": format!("{day}.{domain}@{}", config.server.hostname),
        "policies": policies,
    })
}

/// The report mail (RFC 8460 §5.3): multipart/report with a text part and the gzipped JSON.
pub fn message(config: &Config, domain: &str, day: &str, to: &[String], json: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let gz = gz
        .write_all(json)
        .and_then(|()| gz.finish())
        .unwrap_or_default();
    let b64 = base64::engine::general_purpose::STANDARD.encode(gz);
    let wrapped: Vec<&str> = b64
        .as_bytes()
        .chunks(76)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect();
    let host = &config.server.hostname;
    let boundary = format!("tlsrpt-{day}-{domain}");
    let file = format!("{host}!{domain}!{day}T00:00:00Z!{day}T23:59:59Z.json.gz");
    let date = crate::proto::mail::date::rfc5322_date(now());
    format!(
        "From: {postmaster}\r\nTo: {to}\r\nDate: {date}\r\n\
         Subject: Report Domain: {domain} Submitter: {host} Report-ID: <{day}.{domain}@{host}>\r\n\
         TLS-Report-Domain: {domain}\r\nTLS-Report-Submitter: {host}\r\n\
         Message-ID: <tlsrpt.{day}.{domain}@{host}>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"{boundary}\"\r\n\r\n\
         --{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
         This is an aggregate TLS report from {host} for {domain} on {day}.\r\n\r\n\
         --{boundary}\r\nContent-Type: application/tlsrpt+gzip\r\n\
         Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"{file}\"\r\n\r\n\
         {body}\r\n--{boundary}--\r\n",
        postmaster = config.server.postmaster,
        to = to.join(", "),
        body = wrapped.join("\r\n"),
    )
    .into_bytes()
}

/// The file node `node` appends `domain`'s attempts to: `DOMAIN.jsonl` on node 0 (a host
/// alone), `DOMAIN@NODE.jsonl` on the others.
pub fn file_name(domain: &str, node: u8) -> String {
    if node == 0 {
        format!("{domain}.jsonl")
    } else {
        format!("{domain}@{node}.jsonl")
    }
}

/// The domain of a record file's name (`None`: not a record file, e.g. one marked sent).
fn domain_of(name: &str) -> Option<&str> {
    let stem = name.strip_suffix(".jsonl")?;
    match stem.rsplit_once('@') {
        Some((domain, node)) if node.parse::<u8>().is_ok() => Some(domain),
        Some(_) => None,
        None => Some(stem),
    }
}

/// One domain's attempts of a day, from every host's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub domain: String,
    pub attempts: Vec<Attempt>,
    /// The files they came from (to mark sent).
    pub files: Vec<PathBuf>,
}

/// The attempts recorded for each domain on `day` (domain order; each domain's hosts in node
/// order).
pub fn recorded(config: &Config, day: &str) -> Vec<Recorded> {
    let path = dir(config).join(day);
    let Ok(entries) = std::fs::read_dir(&path) else {
        return Vec::new();
    };
    let mut files: Vec<(String, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            Some((domain_of(&name)?.to_string(), e.path()))
        })
        .collect();
    files.sort();
    let mut out: Vec<Recorded> = Vec::new();
    for (domain, file) in files {
        let attempts = read_attempts(&file);
        match out.last_mut() {
            Some(r) if r.domain == domain => {
                r.attempts.extend(attempts);
                r.files.push(file);
            }
            _ => out.push(Recorded {
                domain,
                attempts,
                files: vec![file],
            }),
        }
    }
    out
}

/// The attempts of one `domain` on `day` (read again once its report is claimed).
pub fn recorded_for(config: &Config, day: &str, domain: &str) -> Option<Recorded> {
    recorded(config, day)
        .into_iter()
        .find(|r| r.domain == domain)
}

/// Claims the sending of `domain`'s report of `day` (`DAY/DOMAIN.report`): `None` when
/// another reporter holds it (one that died leaves it for [`REPORT_CLAIM_STALE`]).
pub fn claim_report(
    config: &Config,
    day: &str,
    domain: &str,
) -> Option<crate::queue::spool::claim::Claim> {
    use crate::queue::spool::claim::{claim, Claimant, Claimed};
    let who = Claimant {
        node: config.cluster.node,
        host: &config.server.hostname,
        timeout: REPORT_CLAIM_STALE,
    };
    let path = dir(config).join(day).join(format!("{domain}.report"));
    match claim(path, &who) {
        Ok(Claimed::Ours { claim, .. }) => Some(claim),
        Ok(Claimed::Held(_)) | Err(_) => None,
    }
}

/// A report claim this old belongs to a reporter that died.
pub const REPORT_CLAIM_STALE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Marks `files` sent (`….jsonl.sent`): a later run does not report them again.
pub fn mark_sent(files: &[PathBuf]) {
    for f in files {
        let _ = std::fs::rename(f, f.with_extension("jsonl.sent"));
    }
}

fn read_attempts(path: &Path) -> Vec<Attempt> {
    use std::io::Read;
    let mut text = String::new();
    // At most 64 MiB of a day's lines for one domain.
    if let Ok(f) = std::fs::File::open(path) {
        let _ = f.take(64 << 20).read_to_string(&mut text);
    }
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic
    use super::*;
    use crate::proto::mail::{Class, Status};

    #[test]
    fn rua_records() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            rua(&s(&[
                "v=TLSRPTv1; rua=mailto:a@x.test,https://r.test/x, mailto:b@y.test"
            ])),
            vec!["a@x.test", "b@y.test"]
        );
        assert!(rua(&s(&["v=TLSRPTv1; rua=https://only.test/"])).is_empty());
        assert!(rua(&s(&[
            "v=TLSRPTv1; rua=mailto:a@x.test",
            "v=TLSRPTv1; rua=mailto:b@x.test"
        ]))
        .is_empty());
        assert!(rua(&s(&["v=spf1 -all"])).is_empty());
    }

    #[test]
    fn failures_are_classified() {
        let o = |t: &str| Outcome::new(Status::new(Class::Transient, 7, 5), t);
        assert_eq!(
            classify(&o(
                "P: TLS is required but the server does not offer STARTTLS"
            )),
            Some("starttls-not-supported")
        );
        assert_eq!(
            classify(&o(
                "P: STARTTLS failed: invalid peer certificate: UnknownIssuer"
            )),
            Some("certificate-not-trusted")
        );
        assert_eq!(
            classify(&o(
                "P: STARTTLS failed: invalid peer certificate: NotValidForName"
            )),
            Some("certificate-host-mismatch")
        );
        assert_eq!(
            classify(&o("P: no MX host matches its mx patterns")),
            Some("validation-failure")
        );
        assert_eq!(
            classify(&o("P: refused at RCPT TO: 550 5.1.1 no such user")),
            None
        );
        assert_eq!(day_of(0), "1970-01-01");
        assert_eq!(
            classify(&o(
                "DANE: TLSA lookup for _25._tcp.mx.a.test failed: SERVFAIL"
            )),
            Some("dnssec-invalid")
        );
        for (error, kind) in [
            (
                "TLS with mta-sts.a.test: invalid peer certificate: NotValidForName",
                "sts-webpki-invalid",
            ),
            (
                "policy from mta-sts.a.test: unknown mode \"x\"",
                "sts-policy-invalid",
            ),
            (
                "mta-sts.a.test served the policy without Content-Type text/plain",
                "sts-policy-invalid",
            ),
            (
                "https://mta-sts.a.test/.well-known/mta-sts.txt answered 404 Not Found",
                "sts-policy-fetch-error",
            ),
            ("no policy within 30 seconds", "sts-policy-fetch-error"),
        ] {
            assert_eq!(fetch_failure_kind(error), kind, "{error}");
        }
    }

    fn config_of_node(spool: &Path, node: u8) -> Config {
        crate::config::parse(
            &format!(
                "[server]\nhostname = \"mx{node}.here.test\"\npostmaster = \"pm@here.test\"\n\
                 [paths]\nspool = \"{}\"\n[cluster]\nnode = {node}\n",
                spool.display()
            ),
            Path::new("/"),
        )
        .unwrap()
    }

    /// Three hosts (nodes 1-3) and a lone host's file (node 0) append at once, many threads
    /// each: every record is read back whole, from one file per host, merged per domain.
    #[test]
    fn every_hosts_records_are_kept_and_merged() {
        let dir = tempfile::tempdir().unwrap();
        let configs: Vec<Config> = (0..4).map(|n| config_of_node(dir.path(), n)).collect();
        let attempt = |k: usize| Attempt {
            policy_type: "sts".into(),
            policy_domain: None,
            policy_strings: Vec::new(),
            policy_id: format!("{k}"),
            mode: "enforce".into(),
            mx: vec!["mx.a.test".into()],
            max_age: 86400,
            result: "success".into(),
            mx_host: None,
        };
        std::thread::scope(|s| {
            for (n, config) in configs.iter().enumerate() {
                for t in 0..4 {
                    s.spawn(move || {
                        for k in 0..50 {
                            append(config, "a.test", &attempt(n * 1000 + t * 100 + k));
                        }
                    });
                }
                s.spawn(move || append(config, "b.test", &attempt(9)));
            }
        });
        let day = day_of(now());
        let all = recorded(&configs[0], &day);
        assert_eq!(
            all.iter().map(|r| r.domain.as_str()).collect::<Vec<_>>(),
            ["a.test", "b.test"]
        );
        assert_eq!(
            all[0].files.len(),
            4,
            "one file per host: {:?}",
            all[0].files
        );
        let mut ids: Vec<String> = all[0]
            .attempts
            .iter()
            .map(|a| a.policy_id.clone())
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 4 * 4 * 50, "records lost or mixed");
        assert_eq!(all[1].attempts.len(), 4);
        // One reporter at a time; the files marked sent are not reported again.
        let claim = claim_report(&configs[1], &day, "a.test").expect("first claim");
        assert!(claim_report(&configs[2], &day, "a.test").is_none());
        mark_sent(&all[0].files);
        claim.release();
        assert!(recorded_for(&configs[2], &day, "a.test").is_none());
        assert_eq!(recorded(&configs[3], &day).len(), 1);
    }

    #[test]
    fn record_file_names() {
        assert_eq!(file_name("a.test", 0), "a.test.jsonl");
        assert_eq!(file_name("a.test", 3), "a.test@3.jsonl");
        assert_eq!(domain_of("a.test@3.jsonl"), Some("a.test"));
        assert_eq!(domain_of("a.test.jsonl"), Some("a.test"));
        assert_eq!(domain_of("a.test.jsonl.sent"), None);
        assert_eq!(domain_of("a.test.report"), None);
        assert_eq!(domain_of("a@b.jsonl"), None);
    }

    #[test]
    fn reports_aggregate_a_day() {
        let config = crate::config::parse(
            "[server]\nhostname = \"mail.here.test\"\npostmaster = \"pm@here.test\"\n",
            Path::new("/"),
        )
        .unwrap();
        let a = |result: &str, mx: Option<&str>| Attempt {
            policy_type: "sts".into(),
            policy_domain: None,
            policy_strings: Vec::new(),
            policy_id: "1".into(),
            mode: "enforce".into(),
            mx: vec!["mx.a.test".into()],
            max_age: 86400,
            result: result.into(),
            mx_host: mx.map(String::from),
        };
        let r = report(
            &config,
            "a.test",
            "2026-12-04",
            &[
                a("success", None),
                a("success", None),
                a("starttls-not-supported", Some("mx.a.test")),
            ],
        );
        let p = &r["policies"][0];
        assert_eq!(p["policy"]["policy-domain"], "a.test");
        assert_eq!(p["summary"]["total-successful-session-count"], 2);
        assert_eq!(p["summary"]["total-failure-session-count"], 1);
        assert_eq!(
            p["failure-details"][0]["result-type"],
            "starttls-not-supported"
        );
        assert_eq!(
            p["failure-details"][0]["receiving-mx-hostname"],
            "mx.a.test"
        );
        assert_eq!(r["date-range"]["start-datetime"], "2026-12-04T00:00:00Z");
    }
}
