//! IMAP: the streaming command assembler (literals, limits, resynchronisation), the command
//! parser on its own, and the whole session on a real maildir in a temporary directory.

use std::time::Duration;

use postern::access::imap::store::MaildirStore;
use postern::proto::imap::assembler::{CommandAssembler, Event, Limits, LineEvent};
use postern::proto::imap::parser::{parse_command, peek_tag};
use postern::proto::imap::session::{Action, Session, SessionConfig};
use postern::proto::sasl::{AuthFailures, Availability};
use postern::store::maildir::deliver::Delivery;

use super::alphabet::{chunk_size, spell};
use super::creds::Fast;
use super::{bounded, quiet};

/// A tiny deterministic source of decisions (accept this literal? read a plain line now?).
struct Choices(u32);

impl Choices {
    fn next(&mut self) -> bool {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0 & 1 == 1
    }
}

const ASSEMBLER_TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"a LOGIN {5}\r\n",
    b"alice {6+}\r\nsecret\r\n",
    b"b APPEND INBOX (\\Seen) {12}\r\n",
    b"{100000}\r\n",
    b"{3+}\r\n",
    b"c NOOP\r\n",
    b"d AUTHENTICATE PLAIN\r\n",
    b"DONE\r\n",
    b"e SEARCH TEXT {4}\r\n",
    b"x\r\nyz",
];

/// The assembler with small limits, fed in pieces; each literal accepted or refused by turns.
/// It must settle after every push and never hold more than its limits allow.
pub fn assembler(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let input = spell(rest, ASSEMBLER_TOKENS);
    let limits = if flags & 2 == 0 {
        Limits {
            max_line: 200,
            max_literal: 100,
            max_literals: 3,
        }
    } else {
        Limits::default()
    };
    let bound = limits.max_line + limits.max_literals * limits.max_literal as usize + 2;
    let mut a = CommandAssembler::new(limits);
    let mut choose = Choices(u32::from(flags) | 0x5a5a_0000);
    let size = chunk_size(flags >> 2).min(input.len().max(1));
    let mut events = 0usize;
    for chunk in input.chunks(size) {
        a.push(chunk);
        let mut round = bounded(100_000, "IMAP assembler");
        loop {
            round();
            if flags & 1 == 1 && choose.next() && choose.next() {
                // As IDLE and AUTHENTICATE read their plain lines.
                match a.next_line() {
                    LineEvent::Incomplete => break,
                    LineEvent::Line(_) | LineEvent::TooLong => continue,
                }
            }
            match a.poll() {
                Event::Incomplete => break,
                Event::NeedLiteral { .. } => {
                    if choose.next() {
                        a.accept_literal();
                    } else {
                        let _ = a.reject_literal();
                    }
                }
                Event::Command(_) | Event::Error(_) => events += 1,
            }
        }
        assert!(
            a.buffered() <= bound + size,
            "the assembler holds {} bytes (limits allow {bound})",
            a.buffered()
        );
    }
    assert!(
        events <= input.len(),
        "{events} commands out of {} bytes",
        input.len()
    );
}

/// One complete command: parsed, a parsed command's tag is the tag [`peek_tag`] sees.
pub fn parser(data: &[u8]) {
    if let Ok(cmd) = parse_command(data) {
        assert_eq!(peek_tag(data).as_deref(), Some(cmd.tag.as_str()));
    }
}

const SESSION_TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"a LOGIN alice secret\r\n",
    b"a AUTHENTICATE PLAIN\r\n",
    b"AGFsaWNlAHNlY3JldA==\r\n",
    b"a AUTHENTICATE SCRAM-SHA-256 ",
    b"a STARTTLS\r\n",
    b"b SELECT INBOX\r\n",
    b"b EXAMINE INBOX\r\n",
    b"b ENABLE CONDSTORE QRESYNC\r\n",
    b"b SELECT INBOX (QRESYNC (",
    b"c FETCH ",
    b"c UID FETCH ",
    b"1:* ",
    b"2,4:* ",
    b"(FLAGS UID MODSEQ RFC822.SIZE INTERNALDATE)\r\n",
    b"(ENVELOPE BODYSTRUCTURE BODY)\r\n",
    b"BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)]\r\n",
    b"BODY[1.2.MIME]<0.20>\r\n",
    b"BODY[2.TEXT]\r\n",
    b"(CHANGEDSINCE 1 VANISHED)",
    b"d STORE 1:2 +FLAGS (\\Deleted \\Seen $Junk)\r\n",
    b"d UID STORE 1 FLAGS.SILENT (\\Flagged)\r\n",
    b"e EXPUNGE\r\n",
    b"e UID EXPUNGE 1:3\r\n",
    b"f SEARCH ",
    b"OR SUBJECT hello NOT SEEN ",
    b"TEXT \"world\" LARGER 10 SENTBEFORE 1-Jan-2030 ",
    b"CHARSET UTF-8 BODY caf\xc3\xa9",
    b"g APPEND INBOX (\\Seen) {",
    b"g APPEND Sent {22+}\r\nSubject: x\r\n\r\nbody\r\n\r\n",
    b"h CREATE Projects/2024\r\n",
    b"h CREATE Later (USE (\\Archive))\r\n",
    b"h RENAME Projects Old\r\n",
    b"h DELETE Old\r\n",
    b"i COPY 1:2 Trash\r\n",
    b"i MOVE 1 Junk\r\n",
    b"i UID MOVE 2:* Archive\r\n",
    b"j LIST \"\" *\r\n",
    b"j LIST (SUBSCRIBED) \"\" \"*\" RETURN (CHILDREN STATUS (MESSAGES))\r\n",
    b"j LSUB \"\" %\r\n",
    b"j SUBSCRIBE Sent\r\n",
    b"k STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN SIZE HIGHESTMODSEQ)\r\n",
    b"l IDLE\r\n",
    b"DONE\r\n",
    b"m CLOSE\r\n",
    b"m UNSELECT\r\n",
    b"n NAMESPACE\r\n",
    b"n ID (\"name\" \"fuzz\")\r\n",
    b"n CAPABILITY\r\n",
    b"n CHECK\r\n",
    b"z LOGOUT\r\n",
    b"&AOk-",
];

/// Messages already in alice's INBOX when the session starts.
pub const MESSAGES: &[&[u8]] = &[
    b"From: Bob <bob@example.test>\nTo: alice@example.test\nSubject: hello\nDate: Mon, 6 May 2024 10:00:00 +0200\nMessage-ID: <1@example.test>\n\nhello world\n",
    b"From: carol@example.test\nSubject: =?UTF-8?Q?caf=C3=A9?=\nContent-Type: multipart/mixed; boundary=\"xx\"\n\n--xx\nContent-Type: text/plain; charset=utf-8\n\npart one\n--xx\nContent-Type: message/rfc822\n\nSubject: inner\nContent-Type: multipart/alternative; boundary=yy\n\n--yy\n\ntext\n--yy\nContent-Type: text/html\n\n<p>html</p>\n--yy--\n--xx\nContent-Type: application/pdf; name=a.pdf\nContent-Disposition: attachment; filename=a.pdf\nContent-Transfer-Encoding: base64\n\nJVBERi0=\n--xx--\n",
    b"Subject: third\r\n\r\nCRLF body\r\n",
];

/// One client connection of the session target.
struct Conn {
    s: Session<MaildirStore>,
    said: Vec<u8>,
    output: usize,
    idling: bool,
    closed: bool,
}

impl Conn {
    fn new(cfg: SessionConfig<MaildirStore>) -> Conn {
        let s = Session::new(cfg);
        let said = s.greeting();
        Conn {
            output: said.len(),
            s,
            said,
            idling: false,
            closed: false,
        }
    }

    fn note(&mut self, bytes: &[u8]) {
        self.output += bytes.len();
        if self.said.len() < 1 << 20 {
            self.said.extend_from_slice(bytes);
        }
    }

    /// Feeds `bytes` in reads of `size`, stepping as the socket loop does.
    fn feed(&mut self, bytes: &[u8], size: usize) {
        for chunk in bytes.chunks(size.max(1)) {
            if self.closed {
                return;
            }
            self.s.receive(chunk);
            let mut round = bounded(100_000, "IMAP session");
            loop {
                round();
                let step = self.s.step(&Fast);
                self.note(&step.output);
                self.idling = step.action == Action::Idle;
                match step.action {
                    Action::Continue => {}
                    Action::NeedInput => break,
                    Action::Idle => {
                        let updates = self.s.idle_check();
                        self.note(&updates);
                        break;
                    }
                    Action::StartTls => self.s.tls_started(),
                    // What follows would be deflated: the fuzzed plain bytes end here.
                    Action::Compress => {
                        self.closed = true;
                        return;
                    }
                    Action::Close => {
                        self.closed = true;
                        return;
                    }
                }
            }
            let _ = self.s.settle();
        }
    }

    /// What an idling connection sends when its mailbox changed under it.
    fn wake(&mut self) {
        if self.idling && !self.closed {
            let updates = self.s.idle_check();
            self.note(&updates);
        }
    }
}

/// The session on a fresh maildir of three messages. The first byte chooses implicit TLS or
/// STARTTLS, LOGIN's availability, the size of the reads and whether a second connection shares
/// the maildir (then each line starting with `@` goes to it, without the `@`, and an idling
/// connection is woken after the other's every line); the rest is what the clients send
/// ([`spell`]).
pub fn session(data: &[u8]) {
    quiet();
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let input = spell(rest, SESSION_TOKENS);
    let dir = tempfile::tempdir().expect("temporary directory");
    let inbox = dir.path().join(super::creds::USER);
    for (i, message) in MESSAGES.iter().enumerate() {
        let key = format!("m{i}");
        let d = Delivery {
            maildir: &inbox,
            key: &key,
            time: 1_700_000_000 + i as u64,
            hostname: "mx.example.test",
            prefix: b"",
            message,
            recovering: false,
            flags: "",
        };
        d.write().expect("delivery into the fixture maildir");
    }
    let mut cfg = SessionConfig::new("mx.example.test", dir.path());
    cfg.tls_active = flags & 1 == 1;
    cfg.starttls = !cfg.tls_active;
    cfg.login = if flags & 2 == 0 {
        Availability::Tls
    } else {
        Availability::Allow
    };
    cfg.max_append = 64 * 1024;
    cfg.failures = AuthFailures::with_delays(3, Duration::ZERO, Duration::ZERO);
    cfg.max_errors = 20;
    let size = chunk_size(flags >> 2).min(input.len().max(1));
    let mut a = Conn::new(cfg.clone());
    if flags & 0x80 == 0 {
        a.feed(&input, size);
        finish(&input, &[a]);
        return;
    }
    let mut b = Conn::new(cfg);
    for line in input.split_inclusive(|&x| x == b'\n') {
        match line.strip_prefix(b"@") {
            Some(line) => {
                b.feed(line, size);
                a.wake();
            }
            None => {
                a.feed(line, size);
                b.wake();
            }
        }
    }
    finish(&input, &[a, b]);
}

fn finish(input: &[u8], conns: &[Conn]) {
    super::show("client", input);
    for c in conns {
        super::show("server", &c.said);
        // Everything said comes from the client's commands and the three small messages.
        assert!(c.output < 1 << 30, "{} bytes of output", c.output);
        if c.said.len() == c.output {
            check_responses(&c.said);
        }
    }
}

/// The server's responses as a client reads them: lines ending in CRLF, each `{n}` at a line's
/// end followed by n bytes of literal; no CR, LF or NUL inside a line (that would let a client's
/// bytes forge a response).
pub fn check_responses(out: &[u8]) {
    let mut i = 0;
    while i < out.len() {
        let end = out[i..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|p| i + p)
            .unwrap_or_else(|| panic!("a response without CRLF at {i}"));
        let line = &out[i..end];
        assert!(
            !line.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0),
            "CR, LF or NUL inside a response line: {:?}",
            String::from_utf8_lossy(line)
        );
        i = end + 2;
        if let Some(open) = line
            .ends_with(b"}")
            .then(|| line.iter().rposition(|&b| b == b'{'))
        {
            let digits = open
                .map(|o| &line[o + 1..line.len() - 1])
                .unwrap_or_default();
            if let Some(n) = std::str::from_utf8(digits)
                .ok()
                .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|d| d.parse::<usize>().ok())
            {
                assert!(i + n <= out.len(), "a literal cut short");
                i += n;
            }
        }
    }
}
