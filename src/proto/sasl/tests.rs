//! Exchange-level tests shared by all mechanisms: a fake users file and scripted dialogues.

use super::*;

/// A fake users file: tim/tanstaaf (shared secret tanstaaftanstaaf, from RFC 2195),
/// user/pencil (SCRAM verifier from RFC 7677), nosecret/pw (no shared secret).
pub(super) struct FakeUsers;

/// The salt of the RFC 7677 example.
pub(super) const RFC7677_SALT: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";

impl Credentials for FakeUsers {
    fn verify_password(&self, user: &str, password: &str) -> bool {
        matches!(
            (user, password),
            ("tim", "tanstaaf") | ("user", "pencil") | ("nosecret", "pw") | ("ünï", "pässwörd")
        )
    }

    fn shared_secret(&self, user: &str) -> Option<String> {
        (user == "tim").then(|| "tanstaaftanstaaf".to_owned())
    }

    fn scram_sha256(&self, user: &str) -> Option<ScramSecret> {
        let salt = BASE64_STANDARD.decode(RFC7677_SALT).ok()?;
        match user {
            "user" => Some(ScramSecret::derive_with("pencil", &salt, 4096)),
            "a,b=c" => Some(ScramSecret::derive_with("pencil", &salt, 4096)),
            "broken" => Some(ScramSecret {
                salt,
                iterations: 4096,
                stored_key: vec![1, 2, 3],
                server_key: vec![4, 5, 6],
            }),
            _ => None,
        }
    }

    fn quota(&self, _user: &str) -> Option<u64> {
        None
    }

    fn nt_hash(&self, user: &str) -> Option<[u8; 16]> {
        (user == "tim").then(|| ntlm::nt_hash("tanstaaf"))
    }
}

/// NTLM with and without an initial NEGOTIATE, as Outlook and curl send it: the right password
/// of a user with an NT hash succeeds; a wrong one, a user without a hash, an NTLMv1 response
/// and an anonymous AUTHENTICATE fail as credentials; garbage is malformed.
#[test]
fn ntlm_exchanges() {
    let nonce = || "0102030405060708 mail.example.test".to_string();
    let run = |initial: bool, user: &str, pw: &str| -> Step {
        let negotiate = ntlm::client_negotiate();
        let (mut ex, step) = if initial {
            Exchange::start_with_nonce(Mechanism::Ntlm, Some(&enc(&negotiate)), &FakeUsers, nonce())
        } else {
            let (mut ex, first) =
                Exchange::start_with_nonce(Mechanism::Ntlm, None, &FakeUsers, nonce());
            assert_eq!(first, Step::Challenge(String::new()));
            let step = ex.step(&enc(&negotiate), &FakeUsers);
            (ex, step)
        };
        let Step::Challenge(b64) = step else {
            panic!("no challenge: {step:?}")
        };
        let challenge = BASE64_STANDARD.decode(b64).unwrap();
        assert_eq!(
            ntlm::challenge_of(&challenge),
            Some([1, 2, 3, 4, 5, 6, 7, 8])
        );
        let auth = ntlm::client_authenticate(&challenge, user, "WORKGROUP", pw, [9; 8]).unwrap();
        ex.step(&enc(&auth), &FakeUsers)
    };
    let ok = Step::Success { user: "tim".into() };
    assert_eq!(run(true, "tim", "tanstaaf"), ok);
    assert_eq!(run(false, "tim", "tanstaaf"), ok);
    for (user, pw) in [
        ("tim", "wrong"),
        ("nosecret", "pw"),
        ("nobody", "x"),
        ("", ""),
    ] {
        assert_eq!(
            run(true, user, pw),
            Step::Failure(SaslError::InvalidCredentials),
            "{user}"
        );
    }
    // An NTLMv1 response (24 bytes) is refused even for the right user.
    let (mut ex, step) = Exchange::start_with_nonce(
        Mechanism::Ntlm,
        Some(&enc(&ntlm::client_negotiate())),
        &FakeUsers,
        nonce(),
    );
    let Step::Challenge(b64) = step else { panic!() };
    let challenge = BASE64_STANDARD.decode(b64).unwrap();
    let mut v1 = ntlm::client_authenticate(&challenge, "tim", "W", "tanstaaf", [9; 8]).unwrap();
    v1[20..22].copy_from_slice(&24u16.to_le_bytes());
    assert_eq!(
        ex.step(&enc(&v1), &FakeUsers),
        Step::Failure(SaslError::InvalidCredentials)
    );
    let (_, step) =
        Exchange::start_with_nonce(Mechanism::Ntlm, Some(&enc(b"junk")), &FakeUsers, nonce());
    assert!(
        matches!(step, Step::Failure(SaslError::Malformed(_))),
        "{step:?}"
    );
}

/// One scripted dialogue: name, initial response, client lines, expected steps.
type Dialogue = (&'static str, Option<Vec<u8>>, Vec<Vec<u8>>, Vec<Step>);

pub(super) fn enc(data: &[u8]) -> Vec<u8> {
    BASE64_STANDARD.encode(data).into_bytes()
}

fn challenge(text: &str) -> Step {
    Step::Challenge(BASE64_STANDARD.encode(text))
}

fn success(user: &str) -> Step {
    Step::Success {
        user: user.to_owned(),
    }
}

fn fail(err: SaslError) -> Step {
    Step::Failure(err)
}

/// Runs a whole dialogue and returns every step, stopping at the first non-challenge.
pub(super) fn run(
    mech: Mechanism,
    nonce: &str,
    initial: Option<&[u8]>,
    lines: &[Vec<u8>],
) -> Vec<Step> {
    // The process-wide SCRAM decoy key, as the server sets it from the spool at start-up.
    crate::proto::sasl::set_scram_decoy_key([0x42; 32]);
    let (mut exchange, first) =
        Exchange::start_with_nonce(mech, initial, &FakeUsers, nonce.to_owned());
    let mut steps = vec![first];
    for line in lines {
        if !matches!(steps.last(), Some(Step::Challenge(_))) {
            break;
        }
        steps.push(exchange.step(line, &FakeUsers));
    }
    assert_eq!(
        exchange.is_finished(),
        !matches!(steps.last(), Some(Step::Challenge(_)))
    );
    steps
}

#[test]
fn mechanism_names() {
    let cases = [
        ("PLAIN", Some(Mechanism::Plain)),
        ("plain", Some(Mechanism::Plain)),
        ("Login", Some(Mechanism::Login)),
        ("cram-md5", Some(Mechanism::CramMd5)),
        ("SCRAM-SHA-256", Some(Mechanism::ScramSha256)),
        ("SCRAM-SHA-256-PLUS", None),
        ("SCRAM-SHA-1", None),
        ("ntlm", Some(Mechanism::Ntlm)),
        ("GSSAPI", None),
        ("", None),
    ];
    for (name, want) in cases {
        assert_eq!(Mechanism::from_name(name), want, "{name}");
    }
    for mech in Mechanism::ALL {
        assert_eq!(Mechanism::from_name(mech.name()), Some(mech));
        assert_eq!(mech.to_string(), mech.name());
        assert_eq!(
            mech.is_plaintext(),
            matches!(mech, Mechanism::Plain | Mechanism::Login)
        );
    }
}

#[test]
fn plain_dialogues() {
    let long = vec![b'A'; MAX_CLIENT_LINE + 4];
    let cases: Vec<Dialogue> = vec![
        (
            "initial",
            Some(enc(b"\0tim\0tanstaaf")),
            vec![],
            vec![success("tim")],
        ),
        (
            "authzid equal",
            Some(enc(b"tim\0tim\0tanstaaf")),
            vec![],
            vec![success("tim")],
        ),
        (
            "utf-8",
            Some(enc("\0ünï\0pässwörd".as_bytes())),
            vec![],
            vec![success("ünï")],
        ),
        (
            "authzid other",
            Some(enc(b"root\0tim\0tanstaaf")),
            vec![],
            vec![fail(SaslError::AuthzidNotPermitted)],
        ),
        (
            "wrong password",
            Some(enc(b"\0tim\0tanstaaX")),
            vec![],
            vec![fail(SaslError::InvalidCredentials)],
        ),
        (
            "unknown user",
            Some(enc(b"\0bob\0tanstaaf")),
            vec![],
            vec![fail(SaslError::InvalidCredentials)],
        ),
        (
            "empty password",
            Some(enc(b"\0tim\0")),
            vec![],
            vec![fail(SaslError::InvalidCredentials)],
        ),
        (
            "empty initial response",
            Some(b"=".to_vec()),
            vec![],
            vec![fail(SaslError::Malformed(
                "PLAIN needs exactly three NUL-separated fields",
            ))],
        ),
        (
            "two fields",
            Some(enc(b"tim\0tanstaaf")),
            vec![],
            vec![fail(SaslError::Malformed(
                "PLAIN needs exactly three NUL-separated fields",
            ))],
        ),
        (
            "four fields",
            Some(enc(b"\0tim\0tan\0staaf")),
            vec![],
            vec![fail(SaslError::Malformed(
                "PLAIN needs exactly three NUL-separated fields",
            ))],
        ),
        (
            "empty user",
            Some(enc(b"\0\0tanstaaf")),
            vec![],
            vec![fail(SaslError::Malformed("PLAIN user name is empty"))],
        ),
        (
            "not utf-8",
            Some(enc(b"\0tim\0\xff\xfe")),
            vec![],
            vec![fail(SaslError::Malformed("PLAIN password is not UTF-8"))],
        ),
        (
            "bad base64 initial",
            Some(b"AHRpbQB0YW5zdGFhZg=!".to_vec()),
            vec![],
            vec![fail(SaslError::MalformedBase64)],
        ),
        (
            "star initial",
            Some(b"*".to_vec()),
            vec![],
            vec![fail(SaslError::Cancelled)],
        ),
        (
            "long initial",
            Some(long.clone()),
            vec![],
            vec![fail(SaslError::LineTooLong)],
        ),
        (
            "no initial",
            None,
            vec![enc(b"\0tim\0tanstaaf")],
            vec![Step::Challenge(String::new()), success("tim")],
        ),
        (
            "no initial, CRLF and spaces tolerated",
            None,
            vec![[b" ".as_slice(), &enc(b"\0tim\0tanstaaf"), b" \r\n"].concat()],
            vec![Step::Challenge(String::new()), success("tim")],
        ),
        (
            "no initial, cancelled",
            None,
            vec![b"*".to_vec()],
            vec![Step::Challenge(String::new()), fail(SaslError::Cancelled)],
        ),
        (
            "no initial, bad base64",
            None,
            vec![b"%%%".to_vec()],
            vec![
                Step::Challenge(String::new()),
                fail(SaslError::MalformedBase64),
            ],
        ),
        (
            "no initial, unpadded base64 refused",
            None,
            vec![b"AHRpbQB0YW5zdGFhZg".to_vec()],
            vec![
                Step::Challenge(String::new()),
                fail(SaslError::MalformedBase64),
            ],
        ),
        (
            "no initial, over-long line",
            None,
            vec![long],
            vec![Step::Challenge(String::new()), fail(SaslError::LineTooLong)],
        ),
    ];
    for (name, initial, lines, want) in cases {
        let got = run(Mechanism::Plain, "", initial.as_deref(), &lines);
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn login_dialogues() {
    let user_prompt = Step::Challenge("VXNlcm5hbWU6".to_owned());
    let pass_prompt = Step::Challenge("UGFzc3dvcmQ6".to_owned());
    let cases: Vec<Dialogue> = vec![
        (
            "two prompts",
            None,
            vec![enc(b"tim"), enc(b"tanstaaf")],
            vec![user_prompt.clone(), pass_prompt.clone(), success("tim")],
        ),
        (
            "user as initial response",
            Some(enc(b"tim")),
            vec![enc(b"tanstaaf")],
            vec![pass_prompt.clone(), success("tim")],
        ),
        (
            "wrong password",
            None,
            vec![enc(b"tim"), enc(b"nope")],
            vec![
                user_prompt.clone(),
                pass_prompt.clone(),
                fail(SaslError::InvalidCredentials),
            ],
        ),
        (
            "empty password",
            None,
            vec![enc(b"tim"), Vec::new()],
            vec![
                user_prompt.clone(),
                pass_prompt.clone(),
                fail(SaslError::InvalidCredentials),
            ],
        ),
        (
            "empty user name",
            None,
            vec![Vec::new()],
            vec![
                user_prompt.clone(),
                fail(SaslError::Malformed("LOGIN user name is empty")),
            ],
        ),
        (
            "empty initial response",
            Some(b"=".to_vec()),
            vec![],
            vec![fail(SaslError::Malformed("LOGIN user name is empty"))],
        ),
        (
            "cancel at password",
            None,
            vec![enc(b"tim"), b"*".to_vec()],
            vec![
                user_prompt.clone(),
                pass_prompt.clone(),
                fail(SaslError::Cancelled),
            ],
        ),
        (
            "bad base64 user",
            None,
            vec![b"dGlt=x".to_vec()],
            vec![user_prompt.clone(), fail(SaslError::MalformedBase64)],
        ),
        (
            "password not utf-8",
            None,
            vec![enc(b"tim"), enc(b"\xc3")],
            vec![
                user_prompt,
                pass_prompt,
                fail(SaslError::Malformed("LOGIN password is not UTF-8")),
            ],
        ),
    ];
    for (name, initial, lines, want) in cases {
        let got = run(Mechanism::Login, "", initial.as_deref(), &lines);
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn cram_md5_dialogues() {
    // RFC 2195 section 2.
    let rfc_challenge = "<1896.697170952@postoffice.reston.mci.net>";
    let first = challenge(rfc_challenge);
    let cases: Vec<Dialogue> = vec![
        (
            "rfc 2195 vector",
            None,
            vec![enc(b"tim b913a602c7eda7a495b4e6e7334d3890")],
            vec![first.clone(), success("tim")],
        ),
        (
            "upper-case hex",
            None,
            vec![enc(b"tim B913A602C7EDA7A495B4E6E7334D3890")],
            vec![first.clone(), success("tim")],
        ),
        (
            "wrong digest",
            None,
            vec![enc(b"tim b913a602c7eda7a495b4e6e7334d3891")],
            vec![first.clone(), fail(SaslError::InvalidCredentials)],
        ),
        (
            "user without shared secret",
            None,
            vec![enc(b"nosecret b913a602c7eda7a495b4e6e7334d3890")],
            vec![first.clone(), fail(SaslError::InvalidCredentials)],
        ),
        (
            "no digest",
            None,
            vec![enc(b"tim")],
            vec![
                first.clone(),
                fail(SaslError::Malformed("CRAM-MD5 response has no digest")),
            ],
        ),
        (
            "short digest",
            None,
            vec![enc(b"tim b913a602")],
            vec![
                first.clone(),
                fail(SaslError::Malformed("CRAM-MD5 digest is not 32 hex digits")),
            ],
        ),
        (
            "empty user",
            None,
            vec![enc(b" b913a602c7eda7a495b4e6e7334d3890")],
            vec![
                first.clone(),
                fail(SaslError::Malformed("CRAM-MD5 user name is empty")),
            ],
        ),
        (
            "cancelled",
            None,
            vec![b"*".to_vec()],
            vec![first, fail(SaslError::Cancelled)],
        ),
        (
            "initial response refused",
            Some(enc(b"tim b913a602c7eda7a495b4e6e7334d3890")),
            vec![],
            vec![fail(SaslError::InitialResponseNotAllowed)],
        ),
    ];
    for (name, initial, lines, want) in cases {
        let got = run(
            Mechanism::CramMd5,
            rfc_challenge,
            initial.as_deref(),
            &lines,
        );
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn real_start_makes_fresh_challenges() {
    let (_, a) = Exchange::start(Mechanism::CramMd5, "mx.example.org", None, &FakeUsers);
    let (_, b) = Exchange::start(Mechanism::CramMd5, "mx.example.org", None, &FakeUsers);
    assert_ne!(a, b);
    let Step::Challenge(text) = a else {
        panic!("expected a challenge, got {a:?}");
    };
    let decoded = BASE64_STANDARD.decode(text).unwrap_or_default();
    let decoded = String::from_utf8(decoded).unwrap_or_default();
    assert!(decoded.starts_with('<') && decoded.ends_with("@mx.example.org>"));
}

#[test]
fn step_after_finish_fails() {
    let (mut exchange, step) = Exchange::start(
        Mechanism::Plain,
        "h",
        Some(&enc(b"\0tim\0tanstaaf")),
        &FakeUsers,
    );
    assert_eq!(step, success("tim"));
    assert!(exchange.is_finished());
    assert_eq!(
        exchange.step(&enc(b"\0tim\0tanstaaf"), &FakeUsers),
        fail(SaslError::Finished)
    );
}

#[test]
fn debug_output_hides_secrets() {
    let (exchange, _) = Exchange::start(Mechanism::Login, "h", Some(&enc(b"tim")), &FakeUsers);
    let text = format!("{exchange:?}");
    assert!(!text.contains("tim"), "{text}");
    let secret = ScramSecret::derive_with("pencil", b"salt", 1);
    let text = format!("{secret:?}");
    assert!(!text.contains("stored") && !text.contains('['), "{text}");
}

#[test]
fn credential_failures_are_classified() {
    let cases = [
        (SaslError::InvalidCredentials, true),
        (SaslError::AuthzidNotPermitted, true),
        (SaslError::Cancelled, false),
        (SaslError::MalformedBase64, false),
        (SaslError::LineTooLong, false),
        (SaslError::ChannelBindingUnsupported, false),
    ];
    for (err, want) in cases {
        assert_eq!(err.is_credentials_failure(), want, "{err:?}");
    }
}

#[test]
fn pop3_password_defaults_to_login_password() {
    assert!(FakeUsers.verify_pop3_password("tim", "tanstaaf"));
    assert!(!FakeUsers.verify_pop3_password("tim", "x"));
}

#[test]
fn trim_and_constant_time_helpers() {
    let cases: [(&[u8], &[u8]); 6] = [
        (b"abc", b"abc"),
        (b"  abc \r\n", b"abc"),
        (b"\r\n", b""),
        (b" \r", b""),
        (b"", b""),
        (b"\ta b\t", b"a b"),
    ];
    for (line, want) in cases {
        assert_eq!(trim_line(line), want, "{line:?}");
    }
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(!constant_time_eq(b"abc", b"abd"));
    assert!(!constant_time_eq(b"abc", b"ab"));
}

/// The random source failing: no challenge, nonce, decoy or salt made up from something
/// guessable — the exchange fails as temporarily unavailable, the salt and the APOP banner are
/// errors. PLAIN and LOGIN need no randomness and go on.
#[test]
fn no_random_bytes_fails_closed() {
    use super::random::failing;
    failing::during(|| {
        for mech in [Mechanism::CramMd5, Mechanism::ScramSha256] {
            let (_, step) = Exchange::start(mech, "mail.example.org", None, &FakeUsers);
            assert_eq!(step, Step::Failure(SaslError::Unavailable), "{mech:?}");
        }
        // SCRAM with the client-first message as initial response: no nonce, no decoy.
        let first = enc(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let (_, step) = Exchange::start(
            Mechanism::ScramSha256,
            "mail.example.org",
            Some(&first),
            &FakeUsers,
        );
        assert_eq!(step, Step::Failure(SaslError::Unavailable));
        assert!(ScramSecret::derive("pencil").is_err());
        assert!(apop_banner("pop.example.org").is_err());
        let plain = enc(b"\0tim\0tanstaaf");
        let (_, step) = Exchange::start(
            Mechanism::Plain,
            "mail.example.org",
            Some(&plain),
            &FakeUsers,
        );
        assert_eq!(step, success("tim"));
    });
    let (_, step) = Exchange::start(Mechanism::CramMd5, "mail.example.org", None, &FakeUsers);
    assert!(matches!(step, Step::Challenge(_)), "{step:?}");
}
