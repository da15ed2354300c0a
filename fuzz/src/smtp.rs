//! SMTP: the command-line parser with the address and xtext grammars behind it, and the whole
//! server session driven the way `server::smtp` drives it, with the real receiving policy over the
//! fixture site ([`super::site`]), a fixed DNS zone, STARTTLS, AUTH exchanges and storing.

use std::net::IpAddr;

use postern::config::Protocol;
use postern::policy::{assumed_user, trusted_client, MailboxUsage, SmtpPolicy};
use postern::sasl::{Exchange, Mechanism, MethodRefusal, SaslError, Step, MAX_CLIENT_LINE};
use postern::smtp::address::parse_path;
use postern::smtp::command::{self, Command};
use postern::smtp::received::Trace;
use postern::smtp::{xtext, Action, Client, Reply, Session, SessionConfig, Transaction};
use postern::spool::Recipient;

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

enum Mode {
    Session,
    Auth {
        exchange: Exchange,
        mechanism: Mechanism,
        skipping: bool,
    },
    Closed,
}

struct Driver<'a> {
    s: Session,
    policy: SmtpPolicy<'a>,
    mode: Mode,
    failures: postern::sasl::AuthFailures,
    out: Vec<u8>,
    max_recipients: usize,
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
        i => Some(IpAddr::from(CLIENTS[usize::from(i)])),
    };
    let client = Client {
        ip,
        trusted: trusted_client(config, listener, ip),
        auth_user: ip.and_then(|ip| assumed_user(config, ip).map(str::to_string)),
        ..Client::default()
    };
    let cfg = SessionConfig {
        hostname: config.server.hostname.clone(),
        max_size: config.limits.message_size.0,
        max_recipients: config.limits.recipients,
        line_limit: config.limits.line_length,
        max_errors: config.limits.errors,
        starttls: flags & 1 != 0,
        submission: flags & 2 != 0,
        auth_mechanisms: Vec::new(),
    };
    let dns = CountingDns::new(decode(ZONE).zone);
    let usage = Usage;
    let mut d = Driver {
        s: Session::new(cfg, client),
        policy: SmtpPolicy {
            listener: Some("smtp"),
            dns: Some(&dns),
            usage: Some(&usage),
            ..SmtpPolicy::new(config, users)
        },
        mode: Mode::Session,
        failures: config.auth.failures(),
        out: Vec::new(),
        max_recipients: config.limits.recipients,
    };
    d.s.set_auth_mechanisms(config.auth.offered_names(Protocol::Smtp, false));
    d.out = d.s.greeting();
    for chunk in input.chunks(chunk_size(flags >> 5).min(input.len().max(1))) {
        if matches!(d.mode, Mode::Closed) {
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
    /// Step until the session needs input or closes.
    fn run(&mut self) {
        let mut round = bounded(100_000, "SMTP session");
        loop {
            round();
            match std::mem::replace(&mut self.mode, Mode::Session) {
                Mode::Closed => {
                    self.mode = Mode::Closed;
                    return;
                }
                Mode::Auth {
                    mut exchange,
                    mechanism,
                    mut skipping,
                } => match self.s.take_line() {
                    Some(line) => {
                        let step = if skipping {
                            Step::Failure(SaslError::LineTooLong)
                        } else {
                            exchange.step(&line, &Fast)
                        };
                        self.auth_step(exchange, mechanism, step);
                    }
                    None => {
                        if self.s.buffered() > MAX_CLIENT_LINE {
                            self.s.discard_buffered();
                            skipping = true;
                        }
                        self.mode = Mode::Auth {
                            exchange,
                            mechanism,
                            skipping,
                        };
                        return;
                    }
                },
                Mode::Session => {
                    let step = self.s.step(&self.policy);
                    self.out.extend(step.output);
                    match step.action {
                        Action::NeedInput => return,
                        Action::Close => {
                            self.mode = Mode::Closed;
                            return;
                        }
                        Action::Store(txn) => {
                            let reply = self.store(&txn);
                            self.out.extend(reply);
                        }
                        Action::StartTls => {
                            self.s.tls_started();
                            let offered =
                                self.policy.config.auth.offered_names(Protocol::Smtp, true);
                            self.s.set_auth_mechanisms(offered);
                        }
                        Action::Auth(mech, initial) => self.auth(&mech, initial),
                    }
                }
            }
        }
    }

    /// What `server::smtp::store` computes before the spool write: the Received header and the
    /// spool recipients with the handlers' copies; every second message is refused as the
    /// content filter would.
    fn store(&mut self, txn: &Transaction) -> Vec<u8> {
        assert!(
            !txn.recipients.is_empty() && txn.recipients.len() <= self.max_recipients,
            "a transaction with {} recipients was stored",
            txn.recipients.len()
        );
        let client = self.s.client();
        let trace = Trace {
            helo: client.helo.as_deref(),
            ip: client.ip,
            hostname: &self.policy.config.server.hostname,
            esmtp: client.esmtp,
            tls: client.tls,
            authenticated: client.auth_user.is_some(),
            id: "0123456789ABCDEFGH",
            single_recipient: match txn.recipients.as_slice() {
                [(only, _)] => Some(only.as_str()),
                _ => None,
            },
            time: 1_700_000_000,
        };
        check_header(&trace.header());
        let recipients: Vec<Recipient> = txn
            .recipients
            .iter()
            .map(|(a, p)| Recipient {
                orcpt: p.orcpt.clone(),
                notify: p.notify.clone(),
                ..Recipient::new(a.clone())
            })
            .collect();
        let _ = postern::policy::restrictions::envelope(
            self.policy.config,
            self.policy.users,
            recipients,
            &txn.refused,
            &txn.data,
        );
        if txn.data.len() % 2 == 1 {
            self.s.refused(Reply::new(
                554,
                "5.7.1",
                "Message rejected by content filter",
            ))
        } else {
            self.s.stored(Ok("0123456789ABCDEFGH".into()))
        }
    }

    /// `Action::Auth`, as `server::smtp::auth` runs it.
    fn auth(&mut self, mech: &str, initial: Option<String>) {
        let tls = self.s.client().tls;
        let mechanism = match self.policy.config.auth.check(Protocol::Smtp, mech, tls) {
            Ok(m) => m,
            Err(why) => {
                let reply = match why {
                    MethodRefusal::Denied => Reply::new(504, "5.5.4", "Mechanism not available"),
                    MethodRefusal::NeedsTls => Reply::new(538, "5.7.11", "Encryption required"),
                };
                let out = self.s.auth_finished(Err(reply));
                self.out.extend(out);
                return;
            }
        };
        let hostname = self.policy.config.server.hostname.clone();
        let (exchange, step) = Exchange::start(
            mechanism,
            &hostname,
            initial.as_deref().map(str::as_bytes),
            &Fast,
        );
        self.auth_step(exchange, mechanism, step);
    }

    fn auth_step(&mut self, exchange: Exchange, mechanism: Mechanism, step: Step) {
        let err = match step {
            Step::Challenge(c) => {
                self.out.extend(format!("334 {c}\r\n").into_bytes());
                self.mode = Mode::Auth {
                    exchange,
                    mechanism,
                    skipping: false,
                };
                return;
            }
            Step::Success { user } => {
                let out = self.s.auth_finished(Ok(user));
                self.out.extend(out);
                return;
            }
            Step::Failure(err) => err,
        };
        if !err.is_credentials_failure() {
            let reply = Reply::new(501, "5.5.2", format!("Authentication failed: {err}"));
            let out = self.s.auth_finished(Err(reply));
            self.out.extend(out);
            return;
        }
        let verdict = self.failures.record_failure();
        let out = self.s.auth_finished(Err(Reply::new(
            535,
            "5.7.8",
            "Authentication credentials invalid",
        )));
        self.out.extend(out);
        if verdict.close {
            self.mode = Mode::Closed;
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

/// A header field: its lines end in CRLF and continuation lines start with white space.
fn check_header(header: &str) {
    let body = header.strip_suffix("\r\n").expect("header ends with CRLF");
    for (i, line) in body.split("\r\n").enumerate() {
        assert!(
            !line.contains(['\r', '\n']),
            "bare CR or LF in a header: {header:?}"
        );
        assert!(
            i == 0 || line.starts_with([' ', '\t']),
            "header line without folding white space: {header:?}"
        );
    }
}
