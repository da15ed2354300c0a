//! ManageSieve (RFC 5804): the command reader and the whole session (CAPABILITY, STARTTLS,
//! AUTHENTICATE with every SASL mechanism, the script commands) over an in-memory script store
//! whose `check` is postern's real Sieve compiler, as the connection driver steps it.
//!
//! Beyond "no panic": the reader yields at most [`MAX_ARGS`] arguments and no literal larger
//! than allowed, and the same commands however the input is split; the session ends every command (never asks for input while a whole command is
//! waiting), stores only scripts that compile under names the store accepts, within its quota,
//! keeps the active script among the stored ones; and what it says reads back as ManageSieve
//! responses: CRLF lines without CR, LF or NUL inside, each literal `{N}` followed by exactly N
//! octets and CRLF.

use std::collections::BTreeMap;
use std::time::Duration;

use postern::proto::managesieve::parser::MAX_ARGS;
use postern::proto::managesieve::{
    Action, Arg, Backend, Item, ManageSieveConfig, Reader, Session, StoreFailure,
};
use postern::proto::sasl::{AuthFailures, Availability, Credentials, MethodPolicy};
use postern::proto::sieve::{compile_with_limits, Extensions, Limits};

use super::alphabet::{chunk_size, spell};
use super::creds::Fast;
use super::{bounded, quiet};

/// The store's quota: scripts per user and octets per script.
const MAX_SCRIPTS: usize = 3;
const MAX_SIZE: u64 = 2000;
/// The largest literal the session reads, and the longest command text.
const MAX_LITERAL: u64 = 4000;
const MAX_LINE: usize = 512;

/// Scripts by name, and the active one.
#[derive(Default)]
struct Memory {
    scripts: BTreeMap<String, Vec<u8>>,
    active: Option<String>,
}

fn compiles(script: &[u8]) -> Result<(), String> {
    let source = std::str::from_utf8(script).map_err(|_| "line 1: not UTF-8".to_string())?;
    let limits = Limits {
        max_script_size: MAX_SIZE as usize,
        max_nesting: 16,
        max_string_len: 1024,
        max_nodes: 500,
    };
    compile_with_limits(source, &Extensions::all(), &limits)
        .map(drop)
        .map_err(|e| e.to_string())
}

fn name_ok(name: &str) -> Result<(), StoreFailure> {
    postern::store::sieve::valid_name(name).map_err(|e| StoreFailure::BadName(e.to_string()))
}

impl Backend for Memory {
    fn credentials(&self) -> &dyn Credentials {
        &Fast
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
        name_ok(name)?;
        // The session must have checked it, and asked for the room first.
        assert!(
            compiles(script).is_ok(),
            "PUTSCRIPT stored a script that does not compile: {:?}",
            String::from_utf8_lossy(script)
        );
        assert!(
            script.len() as u64 <= MAX_SIZE,
            "{} octets stored",
            script.len()
        );
        self.scripts.insert(name.into(), script.to_vec());
        assert!(self.scripts.len() <= MAX_SCRIPTS, "over the script quota");
        Ok(())
    }
    fn have_space(&mut self, _: &str, name: &str, size: u64) -> Result<(), StoreFailure> {
        name_ok(name)?;
        if size > MAX_SIZE {
            return Err(StoreFailure::TooLarge("too large".into()));
        }
        if !self.scripts.contains_key(name) && self.scripts.len() >= MAX_SCRIPTS {
            return Err(StoreFailure::TooMany("too many scripts".into()));
        }
        Ok(())
    }
    fn delete(&mut self, _: &str, name: &str) -> Result<(), StoreFailure> {
        if self.active.as_deref() == Some(name) {
            return Err(StoreFailure::Active("the active script".into()));
        }
        self.scripts
            .remove(name)
            .map(drop)
            .ok_or(StoreFailure::NonExistent("no such script".into()))
    }
    fn rename(&mut self, _: &str, old: &str, new: &str) -> Result<(), StoreFailure> {
        name_ok(new)?;
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
            let script = self
                .scripts
                .get(n)
                .ok_or(StoreFailure::NonExistent("no such script".into()))?;
            assert!(
                compiles(script).is_ok(),
                "SETACTIVE on a script that does not compile"
            );
        }
        self.active = name.map(str::to_string);
        Ok(())
    }
    fn check(&self, script: &[u8]) -> Result<(), String> {
        compiles(script)
    }
}

const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"CAPABILITY\r\n",
    b"STARTTLS\r\n",
    b"AUTHENTICATE \"PLAIN\" \"AGFsaWNlAHNlY3JldA==\"\r\n",
    b"AUTHENTICATE \"PLAIN\"\r\n",
    b"\"AGFsaWNlAHNlY3JldA==\"\r\n",
    b"AUTHENTICATE \"LOGIN\"\r\n",
    b"\"YWxpY2U=\"\r\n",
    b"\"c2VjcmV0\"\r\n",
    b"AUTHENTICATE \"CRAM-MD5\"\r\n",
    b"AUTHENTICATE \"SCRAM-SHA-256\" ",
    b"\"*\"\r\n",
    b"NOOP\r\n",
    b"NOOP \"tag\"\r\n",
    b"LOGOUT\r\n",
    b"UNAUTHENTICATE\r\n",
    b"LISTSCRIPTS\r\n",
    b"PUTSCRIPT \"main\" ",
    b"PUTSCRIPT \"other\" \"keep;\"\r\n",
    b"CHECKSCRIPT ",
    b"{8+}\r\nkeep;\r\n\r\n",
    b"{",
    b"+}\r\n",
    b"\"require \\\"fileinto\\\"; fileinto \\\"A\\\";\"\r\n",
    b"\"frobnicate;\"\r\n",
    b"SETACTIVE \"main\"\r\n",
    b"SETACTIVE \"\"\r\n",
    b"GETSCRIPT \"main\"\r\n",
    b"DELETESCRIPT \"other\"\r\n",
    b"RENAMESCRIPT \"main\" \"other\"\r\n",
    b"RENAMESCRIPT \"other\" \"../x\"\r\n",
    b"HAVESPACE \"main\" 100\r\n",
    b"HAVESPACE \"x\" 18446744073709551616\r\n",
    b"\"",
    b"\\",
    b" ",
    b"4294967296",
];

/// The first byte chooses TLS, the mechanisms and the size of the reads; the rest is what the
/// client sends ([`spell`]). The same bytes also go through a reader of their own.
pub fn session(data: &[u8]) {
    quiet();
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let input = spell(rest, TOKENS);
    let size = chunk_size(flags >> 3).min(input.len().max(1));
    reader(&input, size);

    let tls = flags & 1 == 1;
    let mut sasl = MethodPolicy {
        plain: Availability::Tls,
        ..MethodPolicy::default()
    };
    if flags & 2 == 2 {
        sasl.plain = Availability::Allow;
        sasl.login = Availability::Allow;
        sasl.cram_md5 = Availability::Allow;
    }
    let config = ManageSieveConfig {
        hostname: "mail.example.test".into(),
        sasl,
        starttls: flags & 4 == 4,
        tls_active: tls,
        sieve_extensions: Extensions::all().capability_string(),
        max_redirects: 4,
        max_errors: 10,
        failures: AuthFailures::with_delays(3, Duration::ZERO, Duration::ZERO),
        max_line: MAX_LINE,
        max_literal: MAX_LITERAL,
    };
    let (mut session, greeting) = Session::new(config, Memory::default());
    let mut said = greeting;
    'feed: for chunk in input.chunks(size) {
        session.receive(chunk);
        let mut round = bounded(100_000, "ManageSieve session");
        while let Some(actions) = session.next_actions() {
            round();
            for action in actions {
                match action {
                    Action::Reply(bytes) => said.extend_from_slice(&bytes),
                    Action::Event(_) | Action::Pause(_) => {}
                    Action::StartTls => said.extend_from_slice(&session.tls_started()),
                    Action::Close => break 'feed,
                }
            }
        }
    }
    super::show("client", &input);
    super::show("server", &said);
    check_responses(&said);
}

/// The reader alone, fed `size` octets at a time: bounded commands, bounded literals, and the
/// same commands as when everything comes at once (the network's splitting changes nothing;
/// only whether a command too long to read is called too long or too large may differ).
fn reader(input: &[u8], size: usize) {
    let chunked = items(input, size);
    let whole = items(input, usize::MAX);
    let same = |i: &Item| match i {
        Item::Bad(_) | Item::TooLarge(_) => None,
        Item::Command(args) => Some(args.clone()),
    };
    assert_eq!(
        chunked.iter().map(same).collect::<Vec<_>>(),
        whole.iter().map(same).collect::<Vec<_>>(),
        "read {size} octets at a time"
    );
}

fn items(input: &[u8], size: usize) -> Vec<Item> {
    let mut r = Reader::new(MAX_LINE, MAX_LITERAL);
    let mut out = Vec::new();
    let mut round = bounded(input.len() + 10, "ManageSieve reader");
    for chunk in input.chunks(size.max(1)) {
        r.feed(chunk);
        while let Some(item) = r.next_item() {
            round();
            match &item {
                Item::Command(args) => {
                    assert!(!args.is_empty(), "a command without a name");
                    assert!(args.len() <= MAX_ARGS, "{} arguments", args.len());
                    for a in args {
                        if let Arg::Str(s) = a {
                            assert!(s.len() as u64 <= MAX_LITERAL, "a {}-octet string", s.len());
                        }
                    }
                }
                Item::TooLarge(n) => assert!(*n > MAX_LITERAL, "{n} octets called too large"),
                Item::Bad(_) => {}
            }
            out.push(item);
        }
    }
    out
}

/// The server's output as a client reads it: the greeting's capabilities and OK, then lines
/// (CRLF, no CR/LF/NUL inside), a literal `{N}` at a line's end followed by N octets and CRLF.
fn check_responses(out: &[u8]) {
    let text = String::from_utf8_lossy(out);
    assert!(
        text.starts_with("\"IMPLEMENTATION\" \"postern\"\r\n"),
        "greeting {text:?}"
    );
    let mut rest = out;
    let mut round = bounded(out.len() + 1, "response lines");
    while !rest.is_empty() {
        round();
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .unwrap_or_else(|| panic!("a line without CRLF: {:?}", String::from_utf8_lossy(rest)));
        let line = &rest[..end];
        assert!(
            !line.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0),
            "CR, LF or NUL inside a line: {:?}",
            String::from_utf8_lossy(line)
        );
        assert!(
            line.first()
                .is_some_and(|b| b == &b'"' || b == &b'{' || b.is_ascii_uppercase()),
            "a line starting with neither a string, a literal nor a word: {:?}",
            String::from_utf8_lossy(line)
        );
        rest = &rest[end + 2..];
        if let Some(n) = literal_size(line) {
            let n = usize::try_from(n).expect("literal size");
            assert!(
                rest.len() >= n + 2 && &rest[n..n + 2] == b"\r\n",
                "a {n}-octet literal not followed by CRLF"
            );
            rest = &rest[n + 2..];
        }
    }
}

/// The size of a literal a line ends with (`{N}`), for a line that is only one (GETSCRIPT).
fn literal_size(line: &[u8]) -> Option<u64> {
    let digits = line.strip_prefix(b"{")?.strip_suffix(b"}")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}
