//! Dialogues with the session over an in-memory script store.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

use std::collections::BTreeMap;
use std::time::Duration;

use base64::prelude::{Engine as _, BASE64_STANDARD};

use super::*;
use crate::proto::sasl::{AuthFailures, Availability, Credentials, MethodPolicy, ScramSecret};

struct Users;
impl Credentials for Users {
    fn verify_password(&self, user: &str, password: &str) -> bool {
        (user, password) == ("bob", "secret")
    }
    fn shared_secret(&self, _: &str) -> Option<String> {
        None
    }
    fn scram_sha256(&self, _: &str) -> Option<ScramSecret> {
        None
    }
    fn quota(&self, _: &str) -> Option<u64> {
        None
    }
}

#[derive(Default)]
struct Memory {
    scripts: BTreeMap<String, Vec<u8>>,
    active: Option<String>,
}

impl Backend for Memory {
    fn credentials(&self) -> &dyn Credentials {
        &Users
    }
    fn list(&mut self, _: &str) -> Result<Vec<(String, bool)>, StoreFailure> {
        Ok(self
            .scripts
            .keys()
            .map(|k| (k.clone(), self.active.as_ref() == Some(k)))
            .collect())
    }
    fn get(&mut self, _: &str, name: &str) -> Result<Vec<u8>, StoreFailure> {
        self.scripts
            .get(name)
            .cloned()
            .ok_or(StoreFailure::NonExistent("no such script".into()))
    }
    fn put(&mut self, _: &str, name: &str, script: &[u8]) -> Result<(), StoreFailure> {
        if name.contains('/') {
            return Err(StoreFailure::BadName("bad name".into()));
        }
        self.scripts.insert(name.into(), script.to_vec());
        Ok(())
    }
    fn have_space(&mut self, _: &str, name: &str, size: u64) -> Result<(), StoreFailure> {
        if size > 50 {
            return Err(StoreFailure::TooLarge("too large".into()));
        }
        if !self.scripts.contains_key(name) && self.scripts.len() >= 2 {
            return Err(StoreFailure::TooMany("too many".into()));
        }
        Ok(())
    }
    fn delete(&mut self, _: &str, name: &str) -> Result<(), StoreFailure> {
        if self.active.as_deref() == Some(name) {
            return Err(StoreFailure::Active("active".into()));
        }
        self.scripts
            .remove(name)
            .map(drop)
            .ok_or(StoreFailure::NonExistent("no such script".into()))
    }
    fn rename(&mut self, _: &str, old: &str, new: &str) -> Result<(), StoreFailure> {
        if self.scripts.contains_key(new) {
            return Err(StoreFailure::AlreadyExists("exists".into()));
        }
        let s = self
            .scripts
            .remove(old)
            .ok_or(StoreFailure::NonExistent("no such script".into()))?;
        self.scripts.insert(new.into(), s);
        if self.active.as_deref() == Some(old) {
            self.active = Some(new.into());
        }
        Ok(())
    }
    fn set_active(&mut self, _: &str, name: Option<&str>) -> Result<(), StoreFailure> {
        if let Some(n) = name {
            if !self.scripts.contains_key(n) {
                return Err(StoreFailure::NonExistent("no such script".into()));
            }
        }
        self.active = name.map(str::to_string);
        Ok(())
    }
    fn check(&self, script: &[u8]) -> Result<(), String> {
        if script.starts_with(b"bad") {
            Err("line 2: unknown command \"bad\"".into())
        } else {
            Ok(())
        }
    }
}

fn config(tls: bool) -> ManageSieveConfig {
    ManageSieveConfig {
        hostname: "mail.example.test".into(),
        sasl: MethodPolicy {
            plain: Availability::Tls,
            ..MethodPolicy::default()
        },
        starttls: true,
        tls_active: tls,
        sieve_extensions: "fileinto vacation".into(),
        max_redirects: 4,
        max_errors: 5,
        failures: AuthFailures::with_delays(3, Duration::ZERO, Duration::ZERO),
        max_line: 1024,
        max_literal: 100,
    }
}

/// Feeds `input`, returns the replies as text and whether StartTls / Close came.
fn talk(s: &mut Session<Memory>, input: &str) -> (String, bool, bool) {
    s.receive(input.as_bytes());
    let mut out = Vec::new();
    let (mut tls, mut close) = (false, false);
    while let Some(actions) = s.next_actions() {
        for a in actions {
            match a {
                Action::Reply(r) => out.extend(r),
                Action::StartTls => tls = true,
                Action::Close => close = true,
                _ => {}
            }
        }
    }
    (String::from_utf8(out).unwrap(), tls, close)
}

fn plain(user: &str, pw: &str) -> String {
    BASE64_STANDARD.encode(format!("\0{user}\0{pw}"))
}

#[test]
fn greeting_starttls_and_plain_login() {
    let (mut s, greeting) = Session::new(config(false), Memory::default());
    let g = String::from_utf8(greeting).unwrap();
    assert!(g.contains("\"STARTTLS\"\r\n"), "{g}");
    assert!(g.contains("\"SIEVE\" \"fileinto vacation\"\r\n"), "{g}");
    assert!(!g.contains("PLAIN"), "PLAIN needs TLS: {g}");
    assert!(g.ends_with("OK \"mail.example.test ManageSieve ready\"\r\n"));
    let (r, _, _) = talk(
        &mut s,
        &format!("AUTHENTICATE \"PLAIN\" \"{}\"\r\n", plain("bob", "secret")),
    );
    assert!(r.starts_with("NO (ENCRYPT-NEEDED)"), "{r}");
    let (r, tls, _) = talk(&mut s, "STARTTLS\r\nNOOP\r\n");
    assert!(tls && r == "OK \"begin TLS negotiation\"\r\n", "{r}");
    let again = String::from_utf8(s.tls_started()).unwrap();
    assert!(again.contains(" PLAIN"), "{again}");
    assert!(!again.contains("STARTTLS"), "{again}");
    assert!(s.at_rest(), "the plaintext NOOP is dropped");
    let (r, _, _) = talk(
        &mut s,
        &format!("AUTHENTICATE \"PLAIN\" \"{}\"\r\n", plain("bob", "wrong")),
    );
    assert_eq!(r, "NO \"authentication failed\"\r\n");
    // Without an initial response: an empty challenge, the response as a literal.
    let (r, _, _) = talk(&mut s, "Authenticate \"plain\"\r\n");
    assert_eq!(r, "\"\"\r\n");
    let p = plain("bob", "secret");
    let (r, _, _) = talk(&mut s, &format!("{{{}+}}\r\n{p}\r\n", p.len()));
    assert_eq!(r, "OK \"logged in\"\r\n");
    assert_eq!(s.user(), Some("bob"));
    let (r, _, _) = talk(&mut s, "CAPABILITY\r\n");
    assert!(r.contains("\"OWNER\" \"bob\""), "{r}");
}

fn logged_in() -> Session<Memory> {
    let (mut s, _) = Session::new(config(true), Memory::default());
    let (r, _, _) = talk(
        &mut s,
        &format!("AUTHENTICATE \"PLAIN\" \"{}\"\r\n", plain("bob", "secret")),
    );
    assert_eq!(r, "OK \"logged in\"\r\n");
    s
}

#[test]
fn script_commands() {
    let mut s = logged_in();
    let table: &[(&str, &str)] = &[
        ("LISTSCRIPTS\r\n", "OK \"listscripts completed\"\r\n"),
        (
            "PUTSCRIPT \"a\" {5+}\r\nkeep;\r\n",
            "OK \"putscript completed\"\r\n",
        ),
        (
            "PUTSCRIPT \"b\" \"bad\\\\\"\r\n",
            "NO \"line 2: unknown command \\\"bad\\\"\"\r\n",
        ),
        (
            "CHECKSCRIPT {7+}\r\nbad cmd\r\n",
            "NO \"line 2: unknown command \\\"bad\\\"\"\r\n",
        ),
        (
            "CHECKSCRIPT \"keep;\"\r\n",
            "OK \"the script is valid\"\r\n",
        ),
        (
            "PUTSCRIPT \"b\" \"discard;\"\r\n",
            "OK \"putscript completed\"\r\n",
        ),
        (
            "PUTSCRIPT \"c\" \"discard;\"\r\n",
            "NO (QUOTA/MAXSCRIPTS) \"too many\"\r\n",
        ),
        (
            "HAVESPACE \"c\" 10\r\n",
            "NO (QUOTA/MAXSCRIPTS) \"too many\"\r\n",
        ),
        (
            "HAVESPACE \"a\" 51\r\n",
            "NO (QUOTA/MAXSIZE) \"too large\"\r\n",
        ),
        (
            "HAVESPACE \"a\" 50\r\n",
            "OK \"putscript would succeed\"\r\n",
        ),
        ("SETACTIVE \"a\"\r\n", "OK \"setactive completed\"\r\n"),
        (
            "SETACTIVE \"zz\"\r\n",
            "NO (NONEXISTENT) \"no such script\"\r\n",
        ),
        (
            "LISTSCRIPTS\r\n",
            "\"a\" ACTIVE\r\n\"b\"\r\nOK \"listscripts completed\"\r\n",
        ),
        (
            "GETSCRIPT \"a\"\r\n",
            "{5}\r\nkeep;\r\nOK \"getscript completed\"\r\n",
        ),
        ("DELETESCRIPT \"a\"\r\n", "NO (ACTIVE) \"active\"\r\n"),
        (
            "RENAMESCRIPT \"a\" \"b\"\r\n",
            "NO (ALREADYEXISTS) \"exists\"\r\n",
        ),
        (
            "RENAMESCRIPT \"a\" \"c\"\r\n",
            "OK \"renamescript completed\"\r\n",
        ),
        (
            "LISTSCRIPTS\r\n",
            "\"b\"\r\n\"c\" ACTIVE\r\nOK \"listscripts completed\"\r\n",
        ),
        ("SETACTIVE \"\"\r\n", "OK \"no script is active\"\r\n"),
        (
            "DELETESCRIPT \"c\"\r\n",
            "OK \"deletescript completed\"\r\n",
        ),
        (
            "GETSCRIPT \"c\"\r\n",
            "NO (NONEXISTENT) \"no such script\"\r\n",
        ),
        ("PUTSCRIPT \"x\" {200+}\r\n", ""),
        (&"y".repeat(200), ""),
        (
            "\r\n",
            "NO (QUOTA/MAXSIZE) \"200 octets is more than the 100 allowed\"\r\n",
        ),
        ("NOOP \"t1\"\r\n", "OK (TAG \"t1\") \"done\"\r\n"),
        ("UNAUTHENTICATE\r\n", "OK \"unauthenticated\"\r\n"),
        ("LISTSCRIPTS\r\n", "NO \"log in first\"\r\n"),
        ("LOGOUT\r\n", "OK \"logout completed\"\r\n"),
    ];
    for (input, want) in table {
        let (got, _, _) = talk(&mut s, input);
        assert_eq!(&got, want, "{input}");
    }
}

#[test]
fn errors_close_at_the_limit_and_failed_logins_too() {
    let mut s = logged_in();
    for _ in 0..4 {
        let (r, _, close) = talk(&mut s, "FROB\r\n");
        assert!(r.starts_with("NO ") && !close, "{r}");
    }
    let (r, _, close) = talk(&mut s, "FROB\r\n");
    assert!(r.starts_with("BYE ") && close, "{r}");
    let (mut s, _) = Session::new(config(true), Memory::default());
    let bad = format!("AUTHENTICATE \"PLAIN\" \"{}\"\r\n", plain("bob", "x"));
    talk(&mut s, &bad);
    talk(&mut s, &bad);
    let (r, _, close) = talk(&mut s, &bad);
    assert!(r.starts_with("BYE ") && close, "{r}");
}

#[test]
fn quoted_strings_hold_no_nul_cr_or_lf() {
    let table = [
        ("plain", "\"plain\""),
        ("a \"b\" \\c", "\"a \\\"b\\\" \\\\c\""),
        ("line 2: name \"\0x\"\r\n", "\"line 2: name \\\" x\\\"  \""),
        ("tab\tand\u{1}", "\"tab\tand\u{1}\""),
    ];
    for (text, want) in table {
        assert_eq!(session::quoted(text), want, "{text:?}");
    }
}
