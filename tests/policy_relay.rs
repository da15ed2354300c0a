//! The open-relay battery end to end (tests/data/relay-battery.txt, the same list the unit test in
//! src/receive/policy/tests.rs runs through the session state machine): the classic relay tricks from an
//! untrusted client against a plain demo server without any ban list, each with its exact reply.
//! The commands go byte for byte over a socket (a client library might tidy the addresses); a
//! few go through swaks as well.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
mod policy_support;

use common::raw::py;
use common::Demo;
use policy_support::{replied, swaks};

/// (address, expected reply prefix, why) for every case of the battery.
fn battery() -> Vec<(String, String, String)> {
    let text = include_str!("data/relay-battery.txt");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert!(f.len() == 3, "bad battery line {l:?}");
            (f[0].to_string(), f[1].to_string(), f[2].to_string())
        })
        .collect()
}

/// One connection per address: EHLO, MAIL, RCPT TO:<address>; prints each RCPT reply, a line each.
const SCRIPT: &str = r#"
port = sys.argv[1]
for rcpt in sys.argv[2:]:
    s, f = conn(port)
    reply(f)
    say(s, f, b"EHLO mta.test\r\n")
    say(s, f, b"MAIL FROM:<a@b.test>\r\n")
    r = say(s, f, b"RCPT TO:<" + rcpt.encode() + b">\r\n")
    print(r.replace("\n", " | "))
    say(s, f, b"QUIT\r\n")
    s.close()
"#;

#[test]
fn relay_tricks_from_an_untrusted_client_get_their_exact_reply() {
    let d = Demo::start();
    let cases = battery();
    let port = d.port(2525).to_string();
    let mut args = vec![port.as_str()];
    args.extend(cases.iter().map(|(a, _, _)| a.as_str()));
    let out = py(SCRIPT, &args);
    let replies: Vec<&str> = out.lines().collect();
    assert_eq!(replies.len(), cases.len(), "{out}");
    let mut wrong = Vec::new();
    for ((rcpt, want, why), got) in cases.iter().zip(&replies) {
        if !got.starts_with(&format!("{want} ")) {
            wrong.push(format!("RCPT TO:<{rcpt}> ({why}): want {want}, got {got}"));
        }
    }
    assert!(wrong.is_empty(), "{}\nlog:\n{}", wrong.join("\n"), d.log());
    // Nothing was queued: no transaction got as far as DATA.
    assert!(common::maildir_files(&d.maildir("demo")).is_empty());
}

#[test]
fn swaks_gets_the_same_replies() {
    let d = Demo::start();
    for (rcpt, want) in [
        ("victim%hotmail.test@example.test", "550 5.1.1"),
        ("@example.test:victim@hotmail.test", "554 5.7.1"),
        ("victim@[192.0.2.1]", "554 5.7.1"),
        ("POSTMASTER@HOTMAIL.TEST", "554 5.7.1"),
        ("Postmaster@EXAMPLE.TEST", "250 2.1.5"),
        ("postmaster@[127.0.0.1]", "250 2.1.5"),
    ] {
        let out = swaks(
            &d,
            &["--from", "a@b.test", "--to", rcpt, "--quit-after", "RCPT"],
        );
        assert!(replied(&out, want), "{rcpt}: want {want}\n{out}");
    }
}
