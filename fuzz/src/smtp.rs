//! SMTP: the command-line parser with the address and xtext grammars behind it, and the whole
//! server session driven the way `receive::smtp` drives it, with the real receiving policy over the
//! fixture site ([`super::site`]), a fixed DNS zone, STARTTLS, AUTH exchanges and storing.

use std::net::IpAddr;

use postern::intake::Outcome;
use postern::proto::smtp::address::parse_path;
use postern::proto::smtp::command::{self, Command};
use postern::proto::smtp::{xtext, Action, Client, Reply, Session, SessionConfig, Transaction};
use postern::receive::policy::lookups::find;
use postern::receive::policy::{
    assumed_user, trusted_client, MailboxUsage, SmtpPolicy, SpoolSpace,
};
use postern::receive::smtp::{session_config, submission};
use postern::store::greylist::Greylist;
use postern::store::rates::Rates;

use super::alphabet::{chunk_size, spell};
use super::creds::Fast;
use super::spf::{decode, CountingDns};
use super::{bounded, quiet, site};

/// The command-line parser, the path grammar and the xtext codec.
pub fn command(data: &[u8]) {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    match command::parse(line) {
        Ok(Command::Mail(path, params)) => {
            let _ = parse_path(&path, true, params.smtputf8);
            if let Some(envid) = &params.envid {
                round_trip(envid);
            }
        }
        Ok(Command::Rcpt(path, params)) => {
            let _ = parse_path(&path, false, true);
            if let Some(orcpt) = &params.orcpt {
                round_trip(orcpt);
            }
        }
        _ => {}
    }
    round_trip(line);
    let _ = xtext::decode(line);
}

/// What xtext encodes, it decodes again unchanged.
fn round_trip(value: &str) {
    let encoded = xtext::encode(value);
    assert_eq!(xtext::decode(&encoded).as_deref(), Some(value), "{encoded}");
}

/// Words of the protocol, for [`spell`].
const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"EHLO client.example.test\r\n",
    b"HELO evil.test\r\n",
    b"MAIL FROM:<user@example.test>",
    b"MAIL FROM:<>",
    b"MAIL FROM:<someone@spam.test>",
    b"MAIL FROM:<a@[192.0.2.1]>",
    b" SIZE=",
    b" BODY=8BITMIME",
    b" SMTPUTF8",
    b" RET=HDRS ENVID=x+2By",
    b"RCPT TO:<alice@example.test>",
    b"RCPT TO:<bob@example.test>",
    b"RCPT TO:<sales@example.test>",
    b"RCPT TO:<out@example.test>",
    b"RCPT TO:<loop1@example.test>",
    b"RCPT TO:<x@other.test>",
    b"RCPT TO:<x@remote.test>",
    b"RCPT TO:<victim@elsewhere.test>",
    b"RCPT TO:<Postmaster>",
    b" NOTIFY=SUCCESS,DELAY ORCPT=rfc822;a@b",
    b"DATA\r\n",
    b"Subject: win a prize\r\n",
    b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Disposition: attachment; filename=x.exe\r\n\r\nMZ\r\n--b--\r\n",
    b"\r\n.\r\n",
    b"BDAT ",
    b" LAST\r\n",
    b"RSET\r\n",
    b"NOOP\r\n",
    b"VRFY alice\r\n",
    b"STARTTLS\r\n",
    b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n",
    b"AUTH LOGIN\r\n",
    b"AUTH CRAM-MD5\r\n",
    b"AUTH SCRAM-SHA-256 ",
    b"YWxpY2U=\r\n",
    b"c2VjcmV0\r\n",
    b"*\r\n",
    b"QUIT\r\n",
    b"0123456789",
];

/// Clients by trust: a trusted network, a stranger, an address assumed to be alice, a banned one.
const CLIENTS: [[u8; 4]; 4] = [
    [10, 1, 2, 3],
    [192, 0, 2, 5],
    [192, 0, 2, 200],
    [198, 51, 100, 7],
];

/// DNS for the spoofed-sender check and SPF.
const ZONE: &str = "\
txt example.test v=spf1 ip4:10.0.0.0/8 a:mail.example.test mx include:spf.helper.test ~all
txt spf.helper.test v=spf1 ip4:192.0.2.0/25 exists:%{i}.allow.test -all
txt spam.test v=spf1 -all
txt elsewhere.test v=spf1 redirect=example.test
mx example.test mail.example.test
a mail.example.test 192.0.2.5
a 192.0.2.5.allow.test 127.0.0.2
ptr 192.0.2.200 host.example.test
a host.example.test 192.0.2.200
fail broken.test
";

/// Bob is always nearly full; everyone else is empty.
struct Usage;
impl MailboxUsage for Usage {
    fn bytes(&self, user: &str) -> Option<u64> {
        Some(if user == "bob" { 2990 } else { 0 })
    }
}

/// The spool's file system: 200 KB free, against the site's reserve of 150 KB (a MAIL with a
/// large SIZE= is refused for space).
struct Space;
impl SpoolSpace for Space {
    fn available(&self) -> Option<u64> {
        Some(200_000)
    }
}

struct Driver<'a> {
    s: Session,
    policy: SmtpPolicy<'a>,
    dns: CountingDns,
    out: Vec<u8>,
    max_recipients: usize,
    closed: bool,
}

/// The whole session: the first byte chooses STARTTLS, submission, the client and the size of
/// the reads; the rest is what the client sends ([`spell`]).
pub fn session(data: &[u8]) {
    quiet();
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let input = spell(rest, TOKENS);
    let (site, users) = site::shared();
    let config = &*site.config;
    let listener = config.listener("smtp");
    let ip = match (flags >> 2) % 5 {
        4 => None,
        i => CLIENTS.get(usize::from(i)).map(|&a| IpAddr::from(a)),
    };
    let client = Client {
        ip,
        trusted: trusted_client(config, listener, ip),
        auth_user: ip.and_then(|ip| assumed_user(config, ip).map(str::to_string)),
        ..Client::default()
    };
    let cfg = SessionConfig {
        submission: flags & 2 != 0,
        ..match listener {
            Some(l) => session_config(config, l, flags & 1 != 0),
            None => panic!("the fixture has an smtp listener"),
        }
    };
    let mut d = Driver {
        s: Session::new(cfg, client),
        policy: SmtpPolicy {
            listener: Some("smtp"),
            dns: true,
            quotas: true,
            spool_space: true,
            creds: Some(&Fast),
            ..SmtpPolicy::new(config, users)
        },
        dns: CountingDns::new(decode(ZONE).zone),
        out: Vec::new(),
        max_recipients: config.limits.recipients,
        closed: false,
    };
    d.out = d.s.greeting();
    for chunk in input.chunks(chunk_size(flags >> 5).min(input.len().max(1))) {
        if d.closed {
            break;
        }
        d.s.receive(chunk);
        d.run();
    }
    super::show("client", &input);
    super::show("server", &d.out);
    check_replies(&d.out);
}

impl Driver<'_> {
    /// Step until the session needs input or closes, carrying out its actions as
    /// `receive::smtp` does.
    fn run(&mut self) {
        let mut round = bounded(100_000, "SMTP session");
        loop {
            round();
            let step = self.s.step(&self.policy);
            self.out.extend(step.output);
            match step.action {
                Action::NeedInput => return,
                Action::Close => {
                    self.closed = true;
                    return;
                }
                // A failed login's delay: nothing to wait for here.
                Action::Pause(_) => {}
                Action::StartTls => self.s.tls_started(),
                Action::Lookup(lookups) => {
                    let config = self.policy.config;
                    let spool = &config.paths.spool;
                    let (greylist, rates) = (Greylist::new(spool), Rates::new(spool));
                    let receiving = &config.receiving;
                    let found = find(
                        &lookups, receiving, &self.dns, &Usage, &Space, &greylist, &rates,
                    );
                    self.s.found(found);
                }
                Action::Store(txn) => {
                    let reply = self.store(txn);
                    self.out.extend(reply);
                }
            }
        }
    }

    /// What `receive::smtp` does with a complete message: hands it to the intake (a spool of
    /// its own, the queue runner to deliver) and answers with the outcome; the stored message
    /// starts with a well-formed Received header. Every second message is refused as the
    /// content filter would.
    fn store(&mut self, txn: Transaction) -> Vec<u8> {
        assert!(
            !txn.recipients.is_empty() && txn.recipients.len() <= self.max_recipients,
            "a transaction with {} recipients was stored",
            txn.recipients.len()
        );
        if txn.data.len() % 2 == 1 {
            return self.s.refused(Reply::new(
                554,
                "5.7.1",
                "Message rejected by content filter",
            ));
        }
        let sub = submission(self.s.client(), "fuzz", txn);
        let (outcome, queued) = super::intake(sub);
        if let Some(body) = queued {
            check_trace(&body);
        }
        match outcome {
            Outcome::Accepted(a) => self.s.stored(Ok(a.id.to_string())),
            Outcome::Refused(r) => self.s.refused(r.reply()),
            Outcome::Failed(e) => self.s.stored(Err(e.to_string())),
        }
    }
}

/// Every reply line is `ddd` then a space or a hyphen and text without CR or LF, ending in CRLF.
pub fn check_replies(out: &[u8]) {
    if out.is_empty() {
        return;
    }
    for line in out.split_inclusive(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r\n").unwrap_or_else(|| {
            panic!(
                "a reply line without CRLF: {:?}",
                String::from_utf8_lossy(line)
            )
        });
        let ok = line.len() >= 4
            && line[..3].iter().all(u8::is_ascii_digit)
            && (line[3] == b' ' || line[3] == b'-')
            && !line.contains(&b'\r');
        assert!(
            ok,
            "malformed reply line {:?}",
            String::from_utf8_lossy(line)
        );
    }
}

/// The stored message starts with the trace header: `Received:`, its lines ending in CRLF,
/// continuation lines starting with white space, no CR or LF inside a line.
fn check_trace(message: &[u8]) {
    let text = String::from_utf8_lossy(message);
    assert!(text.starts_with("Received: "), "no trace header: {text:?}");
    let mut lines = text.split_inclusive("\r\n");
    let first = lines.next().unwrap_or_default();
    let field = std::iter::once(first)
        .chain(lines.take_while(|l| l.starts_with([' ', '\t'])))
        .collect::<Vec<_>>();
    for line in &field {
        let body = line.strip_suffix("\r\n").unwrap_or_else(|| {
            panic!("a trace header line without CRLF: {line:?}");
        });
        assert!(
            !body.contains(['\r', '\n']),
            "bare CR or LF in the trace header: {field:?}"
        );
    }
    assert!(
        field.concat().contains("(postern)"),
        "not our trace header: {field:?}"
    );
}
