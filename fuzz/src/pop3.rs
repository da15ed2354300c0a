//! POP3: the whole server session (line splitting, AUTHORIZATION with USER/PASS, APOP and every
//! SASL mechanism, TRANSACTION, UPDATE) over an in-memory maildrop, as the connection driver steps it;
//! and the multi-line data of RETR made by the server checked against the collect client's
//! reading of it, for a message from the input.

use std::io::{Cursor, Read};
use std::time::Duration;

use postern::proto::pop3::conversation::OUT_BATCH;
use postern::proto::pop3::{
    Backend, Conversation, DropMessage, Maildrop, MaildropError, MessageStream, OpenError,
    Pop3Config, Session, Turn,
};
use postern::proto::sasl::{AuthFailures, Availability, Credentials};
use postern::receive::collect::proto::Data;
use postern::store::maildir::name::crlf_size;

use super::alphabet::{chunk_size, spell};
use super::creds::Fast;
use super::{bounded, quiet};

/// Messages of the maildrop, with their UIDLs.
struct Memory {
    messages: Vec<(Vec<u8>, String)>,
    in_use: bool,
}

struct Drop {
    listed: Vec<DropMessage>,
    bytes: Vec<Vec<u8>>,
    deleted: Vec<bool>,
}

impl Backend for Memory {
    type Drop = Drop;
    fn credentials(&self) -> &dyn Credentials {
        &Fast
    }
    fn open_maildrop(&mut self, _user: &str) -> Result<Drop, OpenError> {
        if self.in_use {
            return Err(OpenError::InUse);
        }
        Ok(Drop {
            listed: self
                .messages
                .iter()
                .map(|(m, uidl)| DropMessage {
                    size: crlf_size(m, false),
                    uidl: uidl.clone(),
                })
                .collect(),
            bytes: self.messages.iter().map(|(m, _)| m.clone()).collect(),
            deleted: vec![false; self.messages.len()],
        })
    }
}

impl Maildrop for Drop {
    fn messages(&self) -> &[DropMessage] {
        &self.listed
    }
    fn open(&mut self, index: usize) -> Result<Box<dyn Read + Send>, MaildropError> {
        match (self.bytes.get(index), self.deleted.get(index)) {
            (Some(m), Some(false)) => Ok(Box::new(Cursor::new(m.clone()))),
            _ => Err(MaildropError::Gone),
        }
    }
    fn delete(&mut self, indices: &[usize]) -> Result<usize, MaildropError> {
        for &i in indices {
            let slot = self.deleted.get_mut(i).ok_or(MaildropError::Gone)?;
            *slot = true;
        }
        Ok(indices.len())
    }
}

const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"CAPA\r\n",
    b"USER alice\r\n",
    b"PASS secret\r\n",
    b"APOP alice ",
    b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n",
    b"AUTH LOGIN\r\n",
    b"YWxpY2U=\r\n",
    b"c2VjcmV0\r\n",
    b"AUTH CRAM-MD5\r\n",
    b"AUTH SCRAM-SHA-256 ",
    b"AUTH\r\n",
    b"STLS\r\n",
    b"STAT\r\n",
    b"LIST\r\n",
    b"LIST 2\r\n",
    b"UIDL\r\n",
    b"UIDL 1\r\n",
    b"RETR 1\r\n",
    b"RETR 3\r\n",
    b"TOP 2 0\r\n",
    b"TOP 3 1\r\n",
    b"DELE 1\r\n",
    b"DELE 2\r\n",
    b"RSET\r\n",
    b"NOOP\r\n",
    b"QUIT\r\n",
    b"*\r\n",
    b" 4294967296",
];

/// The session as the connection driver steps it ([`Conversation`]: its line reader, the
/// batching of replies and message streams, the slow steps), then the RETR data round trip. The
/// first byte chooses TLS, the methods, the size of the reads and whether the input starts with
/// a message of its own (up to the first NUL byte) for the maildrop; the rest is what the client
/// sends ([`spell`]).
pub fn session(data: &[u8]) {
    quiet();
    let Some((&flags, mut rest)) = data.split_first() else {
        return;
    };
    let mut messages = vec![
        (
            b"Subject: one\n\nHello\n.dot line\n..two dots\n".to_vec(),
            "uid-1".to_string(),
        ),
        (
            b"Subject: two\r\nX: y\r\n\r\nl1\r\nl2\r\n.\r\n".to_vec(),
            "uid-2".to_string(),
        ),
    ];
    if flags & 0x80 != 0 {
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        let message = rest.get(..end).unwrap_or_default().to_vec();
        data_round_trip(&message);
        // In the maildrop without its CRs (a stored message's bare CR would be sent as it is,
        // and the check below could not tell it from a reply line with a CR inside).
        let stored = message.iter().copied().filter(|&b| b != b'\r').collect();
        messages.push((stored, "uid-3".to_string()));
        rest = rest.get(end + 1..).unwrap_or_default();
    }
    let input = spell(rest, TOKENS);
    let mut config = Pop3Config::new("mx.example.test");
    config.tls_active = flags & 1 == 1;
    config.stls = !config.tls_active;
    if flags & 2 == 2 {
        config.methods.user_pass = Availability::Allow;
        config.sasl.plain = Availability::Allow;
        config.sasl.login = Availability::Allow;
    }
    config.failures = AuthFailures::with_delays(3, Duration::ZERO, Duration::ZERO);
    let max_line = config.max_line;
    let backend = Memory {
        messages,
        in_use: flags & 4 == 4,
    };
    let banner = "<1896.697170952@mx.example.test>".to_string();
    let (session, greeting) = Session::new(config, banner, backend);
    let mut said = Said::new(&greeting);
    let mut c = Conversation::new(session, max_line);
    let size = chunk_size(flags >> 3).min(input.len().max(1));
    'feed: for chunk in input.chunks(size) {
        c.receive(chunk);
        let mut round = bounded(100_000, "POP3 session");
        loop {
            round();
            let mut out = Vec::new();
            let turn = c.step(&mut out);
            assert!(
                out.len() <= OUT_BATCH + 64 * 1024,
                "a step of {} bytes",
                out.len()
            );
            said.add(&out);
            match turn {
                Turn::Read => break,
                // Slow work and a failed login's delay run in the same order here.
                Turn::More | Turn::Slow | Turn::Pause(_) => {}
                Turn::StartTls => c.tls_started(),
                Turn::Close => break 'feed,
            }
        }
    }
    c.dropped();
    let _ = c.take_notes();
    super::show("client", &input);
    super::show("server", &said.kept);
    said.check();
}

/// What the server said: the first MiB kept (for [`super::show`] and the check), and its size.
struct Said {
    kept: Vec<u8>,
    total: usize,
}

impl Said {
    fn new(greeting: &[u8]) -> Said {
        let mut said = Said {
            kept: Vec::new(),
            total: 0,
        };
        said.add(greeting);
        said
    }

    fn add(&mut self, bytes: &[u8]) {
        self.total += bytes.len();
        if self.kept.len() < 1 << 20 {
            self.kept.extend_from_slice(bytes);
        }
    }

    /// It starts with `+OK`, and is CRLF-terminated lines without CR, LF or NUL inside (the
    /// stored messages have none, so a line with one would be a reply a client's bytes forged).
    fn check(&self) {
        let out = &self.kept;
        assert!(out.starts_with(b"+OK "), "greeting {:?}", lossy(out));
        let whole = if self.total == out.len() {
            out.len()
        } else {
            // Cut at the last whole line kept.
            out.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
        };
        for line in out
            .get(..whole)
            .unwrap_or_default()
            .split_inclusive(|&b| b == b'\n')
        {
            let text = line
                .strip_suffix(b"\r\n")
                .unwrap_or_else(|| panic!("a line without CRLF: {:?}", lossy(line)));
            assert!(
                !text.iter().any(|&b| b == b'\r' || b == 0),
                "CR or NUL inside a line: {:?}",
                lossy(line)
            );
        }
    }
}

fn lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}

/// What the server sends for RETR of `message`, read back by the collect client, is the
/// message with CRLF line ends (each bare CR or LF one too, and a last line end added).
pub fn data_round_trip(message: &[u8]) {
    let mut sent = Vec::new();
    MessageStream::new(Box::new(Cursor::new(message.to_vec())), None)
        .read_to_end(&mut sent)
        .expect("reading from memory");
    let mut data = Data::new(u64::MAX);
    let mut lines = sent.split_inclusive(|&b| b == b'\n');
    let mut round = bounded(sent.len() + 2, "RETR data");
    loop {
        round();
        let line = lines.next().expect("the data ends with a lone dot");
        assert!(
            line.ends_with(b"\r\n"),
            "a data line without CRLF: {line:?}"
        );
        if data.line(&line[..line.len() - 2]) {
            break;
        }
    }
    assert!(lines.next().is_none(), "bytes after the terminating dot");
    // Every line end of the stored message — CRLF, a bare LF, a bare CR — is one CRLF in what
    // collect queues (it never passes a bare CR on: RFC 5322 §2.3), and a last one is added.
    let mut want = Vec::with_capacity(message.len() + message.len() / 8 + 2);
    let mut bytes = message.iter().copied().peekable();
    while let Some(b) = bytes.next() {
        match b {
            b'\r' => {
                want.extend_from_slice(b"\r\n");
                bytes.next_if_eq(&b'\n');
            }
            b'\n' => want.extend_from_slice(b"\r\n"),
            b => want.push(b),
        }
    }
    if !want.is_empty() && !want.ends_with(b"\r\n") {
        want.extend_from_slice(b"\r\n");
    }
    assert!(
        data.complete() && data.bytes == want,
        "RETR of {:?} read back as {:?}",
        String::from_utf8_lossy(message),
        String::from_utf8_lossy(&data.bytes)
    );
}
