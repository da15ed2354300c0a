//! The CPU cost of DKIM per message (issue #15's "cost per message of signing and of verifying"):
//! signing a 4 KB message with postern's signer (RSA-2048 and Ed25519, the demo's relaxed/relaxed
//! and default header set), and verifying that signature with the same checks incoming mail gets
//! (mail-auth's DKIM verifier, the public key served from a cache, so no DNS and no network: the
//! figure is the cryptography and canonicalisation alone).
//!
//! `cargo bench --bench dkim` (release build; one thread; prints the median and p90 of 9 rounds
//! of N operations each). Not a test: nothing here fails on a number.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // a benchmark may panic

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::verify::DomainKey;
use mail_auth::{
    AuthenticatedMessage, DkimResult, MessageAuthenticator, Parameters, ResolverCache, Txt,
};

use postern::config::mailauth::{DkimAlgorithm, DkimKey, DEFAULT_SIGNED_HEADERS};
use postern::mailauth::keys::{self, SigningKey};
use postern::mailauth::sign::sign_with;

/// A TXT cache holding the published keys (what the resolver's cache holds after the first message).
struct Keys(Mutex<HashMap<Box<str>, Txt>>);

impl ResolverCache<Box<str>, Txt> for Keys {
    fn get<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.0.lock().unwrap().get(name).cloned()
    }
    fn remove<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.0.lock().unwrap().remove(name)
    }
    fn insert(&self, key: Box<str>, value: Txt, _: std::time::Instant) {
        self.0.lock().unwrap().insert(key, value);
    }
}

fn message() -> Vec<u8> {
    let mut m =
        b"From: Bench <bench@example.test>\r\nTo: sink@remote.test\r\nSubject: DKIM cost\r\n\
Date: Fri, 04 Dec 2026 21:00:00 +0000\r\nMessage-ID: <bench.1@example.test>\r\n\
MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
            .to_vec();
    while m.len() < 4096 {
        m.extend_from_slice(b"The quick brown fox jumps over the lazy dog, 0123456789 times.\r\n");
    }
    m
}

fn rounds(label: &str, n: usize, mut op: impl FnMut()) {
    let mut per_op: Vec<f64> = (0..9)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                op();
            }
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        })
        .collect();
    per_op.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{label:<28} median {:>8.1} us   p90 {:>8.1} us   ({n} a round, 9 rounds)",
        per_op[4], per_op[7]
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let resolver = runtime
        .block_on(async { postern::dns::resolver(&Default::default()) })
        .unwrap();
    let auth = MessageAuthenticator(resolver);
    let msg = message();
    for (algorithm, selector, n) in [
        (DkimAlgorithm::RsaSha256, "rsa", 500),
        (DkimAlgorithm::Ed25519Sha256, "ed", 2000),
    ] {
        let pem = keys::generate(algorithm).unwrap();
        let key = Arc::new(SigningKey::from_pem(pem.as_bytes(), algorithm).unwrap());
        let k = DkimKey {
            selector: selector.into(),
            key: "unused".into(),
            algorithm,
            headers: DEFAULT_SIGNED_HEADERS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            canonicalization: "relaxed/relaxed".into(),
        };
        let name = algorithm.name();
        rounds(&format!("sign {name}"), n, || {
            sign_with("example.test", &k, &key, &msg).unwrap();
        });

        let mut signed = sign_with("example.test", &k, &key, &msg)
            .unwrap()
            .into_bytes();
        signed.extend_from_slice(&msg);
        let record = key.record().unwrap();
        let cache = Keys(Mutex::new(HashMap::new()));
        cache.insert(
            format!("{selector}._domainkey.example.test.").into(),
            Txt::from(DomainKey::parse(record.as_bytes())),
            Instant::now(),
        );
        let parsed = AuthenticatedMessage::parse(&signed).unwrap();
        let verify = || {
            runtime.block_on(async {
                auth.verify_dkim(Parameters::new(&parsed).with_txt_cache(&cache))
                    .await
            })
        };
        let first = verify();
        assert!(
            matches!(first.first().map(|o| o.result()), Some(DkimResult::Pass)),
            "the signature must verify: {:?}",
            first.first().map(|o| o.result())
        );
        rounds(&format!("verify {name}"), n, || {
            verify();
        });
        rounds(&format!("parse + verify {name}"), n, || {
            let parsed = AuthenticatedMessage::parse(&signed).unwrap();
            runtime.block_on(async {
                auth.verify_dkim(Parameters::new(&parsed).with_txt_cache(&cache))
                    .await
            });
        });
    }
}
