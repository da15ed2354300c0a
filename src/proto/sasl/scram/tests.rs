//! SCRAM-SHA-256 tests, built around the RFC 7677 section 3 example.

use crate::proto::sasl::scram::secret::{hmac_sha256, sha256};
use crate::proto::sasl::tests::{enc, run, FakeUsers, RFC7677_SALT};
use crate::proto::sasl::{Exchange, Mechanism, SaslError, ScramSecret, Step};
use base64::prelude::{Engine as _, BASE64_STANDARD};

const CLIENT_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
const SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
const NONCE: &str = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
const PROOF: &str = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

fn server_first() -> String {
    format!("r={NONCE},s={RFC7677_SALT},i=4096")
}

fn client_final(binding: &str, nonce: &str, proof: &str) -> Vec<u8> {
    enc(format!("c={binding},r={nonce},p={proof}").as_bytes())
}

fn ch(text: &str) -> Step {
    Step::Challenge(BASE64_STANDARD.encode(text))
}

fn fail(err: SaslError) -> Step {
    Step::Failure(err)
}

fn user() -> Step {
    Step::Success {
        user: "user".to_owned(),
    }
}

#[test]
fn rfc7677_exchange() {
    let rfc_final = client_final("biws", NONCE, PROOF);
    let steps = run(
        Mechanism::ScramSha256,
        SERVER_NONCE,
        Some(&enc(CLIENT_FIRST.as_bytes())),
        &[rfc_final.clone(), Vec::new()],
    );
    assert_eq!(steps, vec![ch(&server_first()), ch(SERVER_FINAL), user()]);
    // The same without an initial response: an empty challenge first.
    let steps = run(
        Mechanism::ScramSha256,
        SERVER_NONCE,
        None,
        &[enc(CLIENT_FIRST.as_bytes()), rfc_final, b"=".to_vec()],
    );
    // `=` is not an empty line outside the initial response: it is bad base64.
    assert_eq!(
        steps,
        vec![
            Step::Challenge(String::new()),
            ch(&server_first()),
            ch(SERVER_FINAL),
            fail(SaslError::MalformedBase64),
        ]
    );
}

#[test]
fn rfc7677_verifier_roundtrips_through_serde() {
    let salt = BASE64_STANDARD.decode(RFC7677_SALT).unwrap_or_default();
    let secret = ScramSecret::derive_with("pencil", &salt, 4096);
    let json = serde_json::to_string(&secret).unwrap_or_default();
    assert!(
        json.contains(r#""salt":"W22ZaJ0SNY7soEsUEjb6gQ==""#),
        "{json}"
    );
    assert!(json.contains(r#""iterations":4096"#), "{json}");
    let back: Result<ScramSecret, _> = serde_json::from_str(&json);
    assert_eq!(back.ok(), Some(secret));
    let bad = r#"{"salt":"!!","iterations":1,"stored_key":"","server_key":""}"#;
    assert!(serde_json::from_str::<ScramSecret>(bad).is_err());
}

#[test]
fn derive_uses_fresh_salts() {
    let a = ScramSecret::derive("pencil").expect("random");
    let b = ScramSecret::derive("pencil").expect("random");
    assert_eq!((a.salt.len(), a.iterations), (16, 4096));
    assert_ne!(a.salt, b.salt);
    assert_ne!(a.stored_key, b.stored_key);
    assert_eq!((a.stored_key.len(), a.server_key.len()), (32, 32));
}

#[test]
fn client_first_errors() {
    let cases: &[(&str, &[u8], SaslError)] = &[
        (
            "channel binding",
            b"p=tls-unique,,n=user,r=abc",
            SaslError::ChannelBindingUnsupported,
        ),
        (
            "bad flag",
            b"x,,n=user,r=abc",
            SaslError::Malformed("SCRAM GS2 channel-binding flag is invalid"),
        ),
        (
            "no header",
            b"n=user,r=abc",
            SaslError::Malformed("SCRAM GS2 channel-binding flag is invalid"),
        ),
        (
            "no comma",
            b"n",
            SaslError::Malformed("SCRAM client-first has no GS2 header"),
        ),
        (
            "mandatory ext",
            b"n,,m=ext,n=user,r=abc",
            SaslError::Malformed("SCRAM mandatory extension not supported"),
        ),
        (
            "no user",
            b"n,,r=abc",
            SaslError::Malformed("SCRAM client-first has no user name"),
        ),
        (
            "empty user",
            b"n,,n=,r=abc",
            SaslError::Malformed("SCRAM user name is empty"),
        ),
        (
            "no nonce",
            b"n,,n=user",
            SaslError::Malformed("SCRAM client-first has no nonce"),
        ),
        (
            "empty nonce",
            b"n,,n=user,r=",
            SaslError::Malformed("SCRAM client nonce is invalid"),
        ),
        (
            "nonce with space",
            b"n,,n=user,r=a b",
            SaslError::Malformed("SCRAM client nonce is invalid"),
        ),
        (
            "bad escape",
            b"n,,n=us=er,r=abc",
            SaslError::Malformed("SCRAM name has an invalid '=' escape"),
        ),
        (
            "bad authzid",
            b"n,x=user,n=user,r=abc",
            SaslError::Malformed("SCRAM GS2 authorization id is invalid"),
        ),
        (
            "other authzid",
            b"n,a=root,n=user,r=abc",
            SaslError::AuthzidNotPermitted,
        ),
        (
            "not utf-8",
            b"n,,n=\xff,r=abc",
            SaslError::Malformed("SCRAM client-first is not UTF-8"),
        ),
    ];
    for (name, first, err) in cases {
        let steps = run(Mechanism::ScramSha256, SERVER_NONCE, Some(&enc(first)), &[]);
        assert_eq!(steps, vec![fail(err.clone())], "{name}");
    }
}

#[test]
fn client_final_errors() {
    let mut flipped = PROOF.to_owned();
    flipped.replace_range(0..1, "e");
    let cases: Vec<(&str, Vec<u8>, SaslError)> = vec![
        (
            "wrong proof",
            client_final("biws", NONCE, &flipped),
            SaslError::InvalidCredentials,
        ),
        (
            "short proof",
            client_final("biws", NONCE, "AAAA"),
            SaslError::Malformed("SCRAM proof has the wrong length"),
        ),
        (
            "proof not base64",
            client_final("biws", NONCE, "****"),
            SaslError::Malformed("SCRAM proof is not base64"),
        ),
        (
            "other nonce",
            client_final("biws", "rOprNGfwEbeRWgbNEkqO", PROOF),
            SaslError::Malformed("SCRAM nonce does not match"),
        ),
        (
            "binding differs from gs2 header",
            client_final("eSws", NONCE, PROOF),
            SaslError::Malformed("SCRAM channel binding does not match"),
        ),
        (
            "binding not base64",
            client_final("b!ws", NONCE, PROOF),
            SaslError::Malformed("SCRAM channel binding is not base64"),
        ),
        (
            "no proof",
            enc(format!("c=biws,r={NONCE}").as_bytes()),
            SaslError::Malformed("SCRAM client-final has no proof"),
        ),
        (
            "no binding",
            enc(format!("r={NONCE},p={PROOF}").as_bytes()),
            SaslError::Malformed("SCRAM client-final has no channel binding"),
        ),
        (
            "no nonce",
            enc(format!("c=biws,p={PROOF}").as_bytes()),
            SaslError::Malformed("SCRAM client-final has no nonce"),
        ),
    ];
    for (name, line, err) in cases {
        let steps = run(
            Mechanism::ScramSha256,
            SERVER_NONCE,
            Some(&enc(CLIENT_FIRST.as_bytes())),
            &[line],
        );
        assert_eq!(steps, vec![ch(&server_first()), fail(err)], "{name}");
    }
}

#[test]
fn unknown_and_broken_users_get_a_decoy_and_fail() {
    for user in ["nobody", "broken"] {
        let first = format!("n,,n={user},r=rOprNGfwEbeRWgbNEkqO");
        let steps = run(
            Mechanism::ScramSha256,
            SERVER_NONCE,
            Some(&enc(first.as_bytes())),
            &[],
        );
        let Some(Step::Challenge(b64)) = steps.first() else {
            panic!("{user}: expected server-first, got {steps:?}");
        };
        let text = String::from_utf8(BASE64_STANDARD.decode(b64).unwrap_or_default());
        let text = text.unwrap_or_default();
        assert!(text.starts_with(&format!("r={NONCE},s=")), "{text}");
        assert!(text.ends_with(",i=4096"), "{text}");
        let again = run(
            Mechanism::ScramSha256,
            SERVER_NONCE,
            Some(&enc(first.as_bytes())),
            &[],
        );
        assert_eq!(steps, again, "{user}: decoy salt must be stable");
        let steps = run(
            Mechanism::ScramSha256,
            SERVER_NONCE,
            Some(&enc(first.as_bytes())),
            &[client_final("biws", NONCE, PROOF)],
        );
        assert_eq!(
            steps.get(1),
            Some(&fail(SaslError::InvalidCredentials)),
            "{user}"
        );
    }
}

/// The decoy salt depends on the key alone (the spool's, the same in every process), and looks
/// like a real one; without a key every exchange fails, known user or not.
#[test]
fn decoy_salt_comes_from_the_kept_key_and_fails_closed_without_it() {
    use crate::proto::sasl::scram::ScramServer;
    use crate::proto::sasl::tests::FakeUsers;
    let salt = |key: &[u8; 32], user: &str| {
        let first = format!("n,,n={user},r=abc");
        let (_, server_first) =
            ScramServer::start_keyed(first.as_bytes(), &FakeUsers, "x".into(), Some(key))
                .unwrap_or_else(|e| panic!("{user}: {e}"));
        let s = server_first
            .split(',')
            .nth(1)
            .unwrap_or_default()
            .to_string();
        assert!(server_first.ends_with(",i=4096"), "{server_first}");
        s
    };
    let (k1, k2) = ([1u8; 32], [2u8; 32]);
    // Two "processes" with the same key agree; another key gives another salt.
    assert_eq!(salt(&k1, "nobody"), salt(&[1u8; 32], "nobody"));
    assert_ne!(salt(&k1, "nobody"), salt(&k2, "nobody"));
    assert_ne!(salt(&k1, "nobody"), salt(&k1, "somebody"));
    // Same shape as a real user's: 16 bytes of salt.
    for s in [salt(&k1, "nobody"), salt(&k1, "user")] {
        let raw = BASE64_STANDARD
            .decode(s.trim_start_matches("s="))
            .unwrap_or_default();
        assert_eq!(raw.len(), 16, "{s}");
    }
    for user in ["user", "nobody"] {
        let first = format!("n,,n={user},r=abc");
        let got = ScramServer::start_keyed(first.as_bytes(), &FakeUsers, "x".into(), None);
        assert!(matches!(got, Err(SaslError::Unavailable)), "{user}");
    }
}

/// The client side of the proof computation (RFC 5802 section 3), for full exchanges.
fn client_proof_and_signature(
    password: &str,
    bare: &str,
    server_first: &str,
    without_proof: &str,
) -> (String, String) {
    let salt = BASE64_STANDARD.decode(RFC7677_SALT).unwrap_or_default();
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), &salt, 4096, &mut salted);
    let client_key = hmac_sha256(&salted, b"Client Key");
    let auth_message = format!("{bare},{server_first},{without_proof}");
    let signature = hmac_sha256(&sha256(&client_key), auth_message.as_bytes());
    let proof: Vec<u8> = client_key
        .iter()
        .zip(signature)
        .map(|(k, s)| k ^ s)
        .collect();
    let server_key = hmac_sha256(&salted, b"Server Key");
    let server_signature = hmac_sha256(&server_key, auth_message.as_bytes());
    (
        BASE64_STANDARD.encode(proof),
        format!("v={}", BASE64_STANDARD.encode(server_signature)),
    )
}

#[test]
fn full_exchanges_with_computed_proofs() {
    // (gs2 header, bare client-first, password, authenticated user or error)
    let cases: &[(&str, &str, &str, Result<&str, SaslError>)] = &[
        ("n,,", "n=user,r=abc", "pencil", Ok("user")),
        ("y,,", "n=user,r=abc", "pencil", Ok("user")),
        ("n,a=user,", "n=user,r=abc", "pencil", Ok("user")),
        ("n,,", "n=user,r=abc,x=ext", "pencil", Ok("user")),
        ("n,a=a=2Cb=3Dc,", "n=a=2Cb=3Dc,r=abc", "pencil", Ok("a,b=c")),
        (
            "n,,",
            "n=user,r=abc",
            "pencil2",
            Err(SaslError::InvalidCredentials),
        ),
        (
            "n,,",
            "n=nobody,r=abc",
            "pencil",
            Err(SaslError::InvalidCredentials),
        ),
    ];
    for (gs2, bare, password, want) in cases {
        crate::proto::sasl::set_scram_decoy_key([0x42; 32]);
        let first = format!("{gs2}{bare}");
        let (_, step) = Exchange::start_with_nonce(
            Mechanism::ScramSha256,
            Some(&enc(first.as_bytes())),
            &FakeUsers,
            SERVER_NONCE.to_owned(),
        );
        let nonce = format!("abc{SERVER_NONCE}");
        let Step::Challenge(server_first) = step else {
            panic!("{first}: {step:?}");
        };
        let server_first = BASE64_STANDARD.decode(server_first).unwrap_or_default();
        let server_first = String::from_utf8(server_first).unwrap_or_default();
        let without_proof = format!("c={},r={nonce}", BASE64_STANDARD.encode(gs2));
        let (proof, server_final) =
            client_proof_and_signature(password, bare, &server_first, &without_proof);
        let steps = run(
            Mechanism::ScramSha256,
            SERVER_NONCE,
            Some(&enc(first.as_bytes())),
            &[
                enc(format!("{without_proof},p={proof}").as_bytes()),
                Vec::new(),
            ],
        );
        let want_steps = match want {
            Ok(user) => vec![
                ch(&server_first),
                ch(&server_final),
                Step::Success {
                    user: (*user).to_owned(),
                },
            ],
            Err(err) => vec![ch(&server_first), fail(err.clone())],
        };
        assert_eq!(steps, want_steps, "{first} / {password}");
    }
}

#[test]
fn y_flag_binding_must_echo_header() {
    // With "y" the binding must echo "y,,"; the RFC proof (made for "n,,") then no longer fits.
    let steps = run(
        Mechanism::ScramSha256,
        SERVER_NONCE,
        Some(&enc(b"y,,n=user,r=rOprNGfwEbeRWgbNEkqO")),
        &[client_final("biws", NONCE, PROOF)],
    );
    assert_eq!(
        steps,
        vec![
            ch(&server_first()),
            fail(SaslError::Malformed("SCRAM channel binding does not match"))
        ]
    );
}

#[test]
fn final_ack_must_be_empty() {
    let steps = run(
        Mechanism::ScramSha256,
        SERVER_NONCE,
        Some(&enc(CLIENT_FIRST.as_bytes())),
        &[client_final("biws", NONCE, PROOF), enc(b"x")],
    );
    assert_eq!(
        steps.last(),
        Some(&fail(SaslError::Malformed(
            "SCRAM expects an empty final response"
        )))
    );
}

/// HMAC-SHA-256 by its key block gives what the crate gives for a key of any length (short,
/// exactly a block, longer than a block: hashed), and RFC 4231's test case 6.
#[test]
fn hmac_of_keys_of_any_length() {
    use hmac::{Hmac, KeyInit, Mac};
    for len in [0, 1, 20, 63, 64, 65, 131, 1000] {
        let key: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&key).expect("any length");
        mac.update(b"data");
        let want: [u8; 32] = mac.finalize().into_bytes().into();
        assert_eq!(hmac_sha256(&key, b"data"), want, "key of {len} bytes");
    }
    let rfc4231 = hmac_sha256(
        &[0xaa; 131],
        b"Test Using Larger Than Block-Size Key - Hash Key First",
    );
    assert_eq!(
        rfc4231
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    );
}
