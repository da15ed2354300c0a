//! One SMTP client session to one host: TLS per the server's settings, AUTH (PLAIN and LOGIN by
//! lettre, CRAM-MD5 by us — lettre has no CRAM-MD5 client), then MAIL, every RCPT of the domain
//! job, DATA, with a result per recipient.
//!
//! lettre's `AsyncSmtpConnection` carries the connection, greeting, EHLO, STARTTLS and replies;
//! MAIL/RCPT are sent as our own command lines so that RFC 3461 parameters and `<>` pass as they
//! are, and a refused RCPT refuses that recipient only.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use base64::prelude::{Engine as _, BASE64_STANDARD};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, Certificate, CertificateStore, TlsParameters,
};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;

use super::connect::{self, ConnectError};
use super::transaction;
use crate::config::servers::{OutboundAuth, OutboundTls, RemoteServer};
use crate::proto::mail::{Class, Outcome, RemoteMta, Reply, Status};

/// What the session needs to know about the message.
pub struct Outgoing<'a> {
    pub sender: &'a str,
    pub body: &'a [u8],
    pub smtputf8: bool,
    pub dsn_ret: Option<&'a str>,
    pub dsn_envid: Option<&'a str>,
    pub recipients: Vec<OutRcpt<'a>>,
    /// RFC 8689 REQUIRETLS: only to a next hop that offers it (and is passed on).
    pub requiretls: bool,
    /// The message says `TLS-Required: No` (RFC 8689 §5): MTA-STS is not applied.
    pub tls_optional: bool,
}

/// One recipient of the job.
pub struct OutRcpt<'a> {
    pub address: &'a str,
    pub notify: Option<&'a str>,
    pub orcpt: Option<&'a str>,
}

/// A recipient the next hop took: its reply (as an outcome), and whether the next hop supports
/// DSN (so it carries NOTIFY on; without it a NOTIFY=SUCCESS recipient gets a "relayed" report
/// from us).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub outcome: Outcome,
    pub dsn: bool,
}

/// Per-recipient result, parallel to `Outgoing::recipients`: taken, or why not (permanent when
/// its status is 5.x.x).
pub type RcptResult = Result<Accepted, Outcome>;

/// A temporary failure of ours: `4.subject.detail text`.
pub(super) fn temp(subject: u16, detail: u16, text: impl Into<String>) -> Outcome {
    Outcome::new(Status::new(Class::Transient, subject, detail), text)
}

/// What a server's reply at `stage` (`RCPT TO`) comes to: refused (or, for a 2xx, accepted)
/// with the reply's status.
pub fn reply_outcome(code: u16, text: &str, stage: &str) -> Outcome {
    let reply = Reply::received(code, text);
    let what = if reply.is_error() {
        format!("refused at {stage}")
    } else {
        format!("accepted at {stage}")
    };
    Outcome::replied(reply, what)
}

/// What a lettre error at `stage` comes to: the server's reply when there was one, else a
/// broken connection (`broken`: its status, `4.4.2` in a session).
pub(super) fn lettre_outcome(
    e: &lettre::transport::smtp::Error,
    stage: &str,
    broken: Status,
) -> Outcome {
    match e.status() {
        Some(code) => {
            let text = std::error::Error::source(e)
                .map(|s| s.to_string())
                .unwrap_or_default();
            reply_outcome(u16::from(code), &text, stage)
        }
        None => Outcome::new(broken, format!("connection failed at {stage}: {e}")),
    }
}

/// Why a connection to `peer` could not be opened and greeted: refused or timed out before
/// there was an MTA to talk to (no Remote-MTA then), or a greeting or EHLO that did not come or
/// was negative. Always temporary: the next MX may do better.
pub fn connect_outcome(e: &ConnectError, peer: &RemoteMta) -> Outcome {
    let transient = |subject, detail| Status::new(Class::Transient, subject, detail);
    match e {
        ConnectError::Tcp(e) => Outcome::new(transient(4, 1), format!("connect to {peer}: {e}")),
        ConnectError::ConnectTimeout(t) => Outcome::new(
            transient(4, 1),
            format!("connect to {peer}: timed out after {t:?}"),
        ),
        ConnectError::GreetingTimeout(t) => {
            Outcome::new(transient(4, 2), format!("no greeting within {t:?}")).at(peer.clone())
        }
        ConnectError::EhloTimeout(t) => {
            Outcome::new(transient(4, 2), format!("no reply to EHLO within {t:?}")).at(peer.clone())
        }
        ConnectError::Smtp(e) => lettre_outcome(e, "the greeting or EHLO", transient(4, 1))
            .with_class(Class::Transient)
            .at(peer.clone()),
    }
}

/// Timeouts of one session.
#[derive(Clone, Copy)]
pub struct Timeouts {
    /// The TCP connect and the greeting together.
    pub connect: Duration,
    /// Each reply after the greeting (EHLO's, STARTTLS's, DATA's final one).
    pub command: Duration,
}

/// A command line we write ourselves.
struct Line(String);

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\r\n", self.0)
    }
}

/// A positive reply from lettre as a [`Reply`].
pub(super) fn reply_of(r: &Response) -> Reply {
    Reply::received(
        u16::from(r.code()),
        &r.message().collect::<Vec<_>>().join(" "),
    )
}

/// An open, greeted (and, when configured, encrypted and authenticated) connection to one host,
/// ready for a mail transaction; reusable for the next one after a reset.
pub struct Session {
    pub(super) conn: AsyncSmtpConnection,
    pub(super) command: Duration,
    /// The host and address talked to, named in every outcome.
    pub(super) peer: RemoteMta,
    /// Keywords of the last EHLO reply.
    keywords: Vec<String>,
    /// Transactions sent on this connection.
    pub sent: usize,
    /// The TCP stream of a plaintext connection, for our own STARTTLS (DANE).
    tcp: Option<connect::Slot>,
    /// A kept connection's RSET, to go out in front of the next transaction's commands.
    pub(super) reset_pending: bool,
}

impl Session {
    /// Send `line` and read the reply; a negative one is the `Err`. `stage` names the command
    /// in outcomes (never the line: it may hold a password).
    pub(super) async fn cmd(&mut self, line: String, stage: &str) -> Result<Response, Outcome> {
        self.write_then_reply(Line(line), stage).await
    }

    /// Write `lines` (ending in CRLF) in one go and read the first reply; a negative one is the
    /// `Err`.
    pub(super) async fn write_then_reply(
        &mut self,
        lines: impl fmt::Display,
        stage: &str,
    ) -> Result<Response, Outcome> {
        let got = tokio::time::timeout(self.command, self.conn.command(lines)).await;
        self.answer(got, stage)
    }

    /// A reply awaited within the command timeout, as the outcome of `stage`: a negative one,
    /// a broken connection or the timeout is the `Err`.
    fn answer(
        &self,
        got: Result<Result<Response, lettre::transport::smtp::Error>, tokio::time::error::Elapsed>,
        stage: &str,
    ) -> Result<Response, Outcome> {
        let broken = Status::new(Class::Transient, 4, 2);
        match got {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(lettre_outcome(&e, stage, broken).at(self.peer.clone())),
            Err(_) => Err(Outcome::new(
                broken,
                format!("timeout waiting for the reply to {stage}"),
            )
            .at(self.peer.clone())),
        }
    }

    /// Keywords of the EHLO reply (lettre keeps only those it knows).
    async fn ehlo_keywords(&mut self, hello: &str) -> Result<Vec<String>, Outcome> {
        let r = self.cmd(format!("EHLO {hello}"), "EHLO").await?;
        Ok(r.message()
            .skip(1)
            .map(|l| l.to_ascii_uppercase())
            .collect())
    }

    /// The next reply to a command already written (pipelining); a negative one is the `Err`.
    pub(super) async fn reply(&mut self, stage: &str) -> Result<Response, Outcome> {
        let got = tokio::time::timeout(self.command, self.conn.read_response()).await;
        self.answer(got, stage)
    }

    pub(super) fn has(&self, k: &str) -> bool {
        self.keywords
            .iter()
            .any(|l| l == k || l.starts_with(&format!("{k} ")))
    }

    /// RSET before the next transaction on a reused connection: whether it is still usable.
    /// With PIPELINING the RSET goes out with the next transaction's commands instead (its
    /// failure then fails that transaction as a broken connection, which a new one retries).
    pub async fn reset(&mut self) -> bool {
        if self.has("PIPELINING") {
            self.reset_pending = true;
            return true;
        }
        self.cmd("RSET".into(), "RSET")
            .await
            .is_ok_and(|r| r.is_positive())
    }

    /// Say goodbye politely (bounded by the command timeout).
    pub async fn quit(mut self) {
        let limit = self.command.min(Duration::from_secs(10));
        let _ = tokio::time::timeout(limit, self.conn.quit()).await;
    }

    /// Close after an error.
    pub async fn abort(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.conn.abort()).await;
    }

    /// One mail transaction; `Err` means nothing was decided for any recipient (the connection
    /// is then not to be reused).
    pub async fn send(&mut self, out: &Outgoing<'_>) -> Result<Vec<RcptResult>, Outcome> {
        self.sent += 1;
        let peer = self.peer.clone();
        let at = |o: Outcome| match o.remote_mta {
            Some(_) => o,
            None => o.at(peer.clone()),
        };
        transaction::run(self, out)
            .await
            .map(|rs| rs.into_iter().map(|r| r.map_err(&at)).collect())
            .map_err(&at)
    }

    async fn cram_md5(&mut self, user: &str, password: &str) -> Result<(), Outcome> {
        let r = self.cmd("AUTH CRAM-MD5".into(), "AUTH").await?;
        if r.code().to_string() != "334" {
            return Err(temp(7, 0, format!("unexpected reply {}", reply_of(&r))));
        }
        let challenge = BASE64_STANDARD
            .decode(r.first_word().unwrap_or(""))
            .map_err(|_| temp(7, 0, "CRAM-MD5 challenge is not base64"))?;
        let answer = crate::proto::sasl::cram_md5::client_response(user, password, &challenge);
        self.cmd(BASE64_STANDARD.encode(answer), "AUTH")
            .await
            .map(drop)
    }
}

/// lettre's rustls set-up for `host`: TLS 1.3 and 1.2, the system roots plus the server's `ca`,
/// or no certificate check where `verify` is off (opportunistic TLS).
fn tls_parameters(server: &RemoteServer, host: &str) -> Result<TlsParameters, Outcome> {
    let mut extra = Vec::new();
    for ca in server.ca.iter().chain(&server.extra_roots) {
        extra.extend(crate::driver::tls::trust_anchors(ca).map_err(|e| temp(7, 5, e.to_string()))?);
    }
    let mut b = TlsParameters::builder(host.to_string()).certificate_store(CertificateStore::None);
    for der in crate::driver::tls::system_roots().iter().chain(&extra) {
        let cert = Certificate::from_der(der.to_vec())
            .map_err(|e| temp(7, 5, format!("bad trust anchor: {e}")))?;
        b = b.add_root_certificate(cert);
    }
    if !server.verifies() {
        b = b
            .dangerous_accept_invalid_certs(true)
            .dangerous_accept_invalid_hostnames(true);
    }
    b.build_rustls()
        .map_err(|e| temp(7, 5, format!("TLS setup failed: {e}")))
}

/// Why a connection could not be made ready for mail.
enum NotReady {
    /// STARTTLS was offered but the upgrade failed (refused, handshake broken, timed out).
    Tls(Outcome),
    Other(Outcome),
}

impl NotReady {
    fn failure(self) -> Outcome {
        match self {
            NotReady::Tls(f) | NotReady::Other(f) => f,
        }
    }
}

/// Connect to `addr` and get ready for mail: greeting, STARTTLS or implicit TLS per the server's
/// settings, EHLO, AUTH. With opportunistic TLS, a STARTTLS that fails is followed by a second
/// connection to the same address in plaintext (as Postfix's `smtp_tls_security_level = may`);
/// with required TLS it is a temporary failure.
///
/// With a DANE verifier (`dane`) STARTTLS is mandatory and made by us with that certificate
/// check (lettre's TLS set-up takes no verifier of ours); the SNI is the host name.
pub async fn open(
    addr: SocketAddr,
    host: &str,
    server: &RemoteServer,
    hello: &str,
    timeouts: Timeouts,
    dane: Option<super::dane::Verifier>,
) -> Result<Session, Outcome> {
    if let Some(v) = dane {
        return open_once(addr, host, server, hello, timeouts, Some(v))
            .await
            .map_err(NotReady::failure);
    }
    match open_once(addr, host, server, hello, timeouts, None).await {
        Err(NotReady::Tls(f)) if server.tls == OutboundTls::Opportunistic => {
            // The plaintext retry never shows a password: a broken or tampered STARTTLS must
            // not make us send it in the clear (see `authenticate`).
            if server.user.is_some()
                && server.password.is_some()
                && matches!(server.auth, OutboundAuth::Plain | OutboundAuth::Login)
            {
                return Err(Outcome {
                    status: Status::new(Class::Transient, 7, 0),
                    text: format!("{}; {CLEAR_REFUSAL}", f.text),
                    ..f
                });
            }
            crate::events::event("tls_fallback")
                .field("host", host)
                .field("address", addr)
                .field("error", &f)
                .emit();
            open_plain(addr, host, server, hello, timeouts)
                .await
                .map_err(NotReady::failure)
        }
        other => other.map_err(NotReady::failure),
    }
}

/// Why PLAIN/LOGIN are not used where TLS was wanted (opportunistic) but is not there.
const CLEAR_REFUSAL: &str = "not sending the password unencrypted (PLAIN/LOGIN without TLS)";

/// How the connection is encrypted.
enum Tls {
    /// Per the server's settings, through lettre.
    Settings,
    /// The plaintext retry after a failed STARTTLS.
    None,
    /// Mandatory STARTTLS of our own with a DANE certificate check.
    Dane(super::dane::Verifier),
}

/// The plaintext retry after a failed STARTTLS.
async fn open_plain(
    addr: SocketAddr,
    host: &str,
    server: &RemoteServer,
    hello: &str,
    timeouts: Timeouts,
) -> Result<Session, NotReady> {
    open_with(addr, host, server, hello, timeouts, Tls::None).await
}

/// One connection: TLS per the server's settings, or DANE's.
async fn open_once(
    addr: SocketAddr,
    host: &str,
    server: &RemoteServer,
    hello: &str,
    timeouts: Timeouts,
    dane: Option<super::dane::Verifier>,
) -> Result<Session, NotReady> {
    let tls = match dane {
        Some(v) => Tls::Dane(v),
        None => Tls::Settings,
    };
    open_with(addr, host, server, hello, timeouts, tls).await
}

async fn open_with(
    addr: SocketAddr,
    host: &str,
    server: &RemoteServer,
    hello: &str,
    timeouts: Timeouts,
    tls: Tls,
) -> Result<Session, NotReady> {
    let peer = RemoteMta::new(host, addr);
    let client_id = ClientId::Domain(hello.to_string());
    let implicit = match (server.tls, &tls) {
        (OutboundTls::Implicit, Tls::Settings) => {
            Some(tls_parameters(server, host).map_err(NotReady::Other)?)
        }
        _ => None,
    };
    let mut slot = None;
    let conn = match implicit {
        // Connect and greeting within connect_timeout, EHLO within command_timeout.
        None => {
            let (conn, tcp) = connect::plain(addr, &client_id, timeouts.connect, timeouts.command)
                .await
                .map_err(|e| NotReady::Other(connect_outcome(&e, &peer)))?;
            slot = Some(tcp);
            conn
        }
        // The TLS handshake comes before the greeting, inside lettre: connect within
        // connect_timeout, the handshake, greeting and EHLO within both limits together.
        Some(tls) => {
            let connect = AsyncSmtpConnection::connect_tokio1(
                addr,
                Some(timeouts.connect),
                &client_id,
                Some(tls),
                None,
            );
            match tokio::time::timeout(timeouts.connect + timeouts.command, connect).await {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => {
                    return Err(NotReady::Other(connect_outcome(
                        &ConnectError::Smtp(e),
                        &peer,
                    )))
                }
                Err(_) => {
                    return Err(NotReady::Other(temp(
                        4,
                        1,
                        format!("connect to {peer}: timed out"),
                    )))
                }
            }
        }
    };
    let mut s = Session {
        conn,
        command: timeouts.command,
        peer: peer.clone(),
        keywords: Vec::new(),
        sent: 0,
        tcp: slot,
        reset_pending: false,
    };
    match prepare(&mut s, server, host, hello, &client_id, tls).await {
        Ok(()) => Ok(s),
        Err(mut e) => {
            // After a failed STARTTLS lettre has no stream left to say QUIT on (and asserts
            // so in debug builds): just drop the connection.
            if matches!(e, NotReady::Other(_)) {
                s.abort().await;
            }
            let (NotReady::Tls(f) | NotReady::Other(f)) = &mut e;
            if f.remote_mta.is_none() {
                f.remote_mta = Some(peer);
            }
            Err(e)
        }
    }
}

async fn prepare(
    s: &mut Session,
    server: &RemoteServer,
    host: &str,
    hello: &str,
    client_id: &ClientId,
    tls: Tls,
) -> Result<(), NotReady> {
    // A password may travel in the clear only where the administrator said `tls = "off"`.
    let mut may_send_password = server.tls != OutboundTls::Opportunistic;
    let try_tls = matches!(tls, Tls::Settings);
    let dane = matches!(tls, Tls::Dane(_));
    if let Tls::Dane(verifier) = tls {
        dane_starttls(s, host, verifier).await?;
        may_send_password = true;
    }
    match server.tls {
        _ if dane => {}
        OutboundTls::Off | OutboundTls::Implicit => {}
        OutboundTls::Opportunistic | OutboundTls::Required => {
            if try_tls && s.conn.can_starttls() {
                may_send_password = true;
                let params = tls_parameters(server, host).map_err(NotReady::Other)?;
                let up = s.conn.starttls(params, client_id);
                match tokio::time::timeout(s.command, up).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        return Err(NotReady::Tls(temp(7, 5, format!("STARTTLS failed: {e}"))))
                    }
                    Err(_) => return Err(NotReady::Tls(temp(7, 5, "STARTTLS timed out"))),
                }
            } else if server.tls == OutboundTls::Required {
                return Err(NotReady::Other(temp(
                    7,
                    4,
                    "TLS is required but the server does not offer STARTTLS",
                )));
            }
        }
    }
    s.keywords = s.ehlo_keywords(hello).await.map_err(NotReady::Other)?;
    if let (Some(user), Some(password)) = (&server.user, &server.password) {
        let keywords = s.keywords.clone();
        let password = password.expose();
        authenticate(s, server.auth, &keywords, user, password, may_send_password)
            .await
            .map_err(NotReady::Other)?;
    }
    Ok(())
}

/// STARTTLS with the DANE verifier: mandatory, on the TCP stream taken from under lettre (any
/// bytes the server sent after its `220` are dropped with lettre's buffer, RFC 3207 §4.2).
async fn dane_starttls(
    s: &mut Session,
    host: &str,
    verifier: super::dane::Verifier,
) -> Result<(), NotReady> {
    if !s.conn.can_starttls() {
        return Err(NotReady::Other(temp(
            7,
            4,
            "TLS is required but the server does not offer STARTTLS",
        )));
    }
    s.cmd("STARTTLS".into(), "STARTTLS")
        .await
        .map_err(|f| NotReady::Other(temp(7, 5, format!("STARTTLS refused: {}", f.text))))?;
    let tcp = s
        .tcp
        .take()
        .and_then(|slot| match slot.lock() {
            Ok(mut g) => g.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        })
        .ok_or_else(|| NotReady::Other(temp(7, 5, "STARTTLS: no TCP stream to encrypt")))?;
    // The SNI is the TLSA base domain (RFC 7672 §8.1): the MX host, or its CNAME expansion.
    let sni = verifier.host.clone();
    let name = rustls::pki_types::ServerName::try_from(sni)
        .map_err(|e| NotReady::Other(temp(7, 5, format!("{host}: {e}"))))?;
    let config = super::dane::client_config(verifier)
        .map_err(|e| NotReady::Other(temp(7, 5, format!("TLS setup failed: {e}"))))?;
    let up = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config)).connect(name, tcp);
    let stream = match tokio::time::timeout(s.command, up).await {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => return Err(NotReady::Other(temp(7, 5, format!("STARTTLS failed: {e}")))),
        Err(_) => return Err(NotReady::Other(temp(7, 5, "STARTTLS timed out"))),
    };
    #[allow(deprecated)] // lettre's one way to hand it a stream of our own
    let stream = lettre::transport::smtp::client::AsyncNetworkStream::use_existing_tokio1(
        Box::new(connect::Tls(stream)),
    );
    s.conn.set_stream(stream);
    Ok(())
}

async fn authenticate(
    s: &mut Session,
    method: OutboundAuth,
    keywords: &[String],
    user: &str,
    password: &str,
    may_send_password: bool,
) -> Result<(), Outcome> {
    let offered: Vec<&str> = keywords
        .iter()
        .filter_map(|l| l.strip_prefix("AUTH ").or_else(|| l.strip_prefix("AUTH=")))
        .flat_map(|l| l.split_whitespace())
        .collect();
    let has = |m: &str| offered.contains(&m);
    let chosen = match method {
        OutboundAuth::Best if has("CRAM-MD5") => OutboundAuth::CramMd5,
        OutboundAuth::Best | OutboundAuth::Plain | OutboundAuth::Login if !may_send_password => {
            return Err(temp(7, 0, CLEAR_REFUSAL))
        }
        OutboundAuth::Best if has("PLAIN") => OutboundAuth::Plain,
        OutboundAuth::Best if has("LOGIN") => OutboundAuth::Login,
        OutboundAuth::Best => {
            return Err(temp(
                7,
                0,
                "no authentication method in common with the server",
            ))
        }
        m => m,
    };
    let result = match chosen {
        OutboundAuth::CramMd5 => s.cram_md5(user, password).await,
        OutboundAuth::Plain | OutboundAuth::Login | OutboundAuth::Best => {
            let mech = if chosen == OutboundAuth::Login {
                Mechanism::Login
            } else {
                Mechanism::Plain
            };
            let creds = Credentials::new(user.to_string(), password.to_string());
            // lettre picks only mechanisms it parsed from its own EHLO; ask for this one.
            let auth = lettre::transport::smtp::commands::Auth::new(mech, creds.clone(), None)
                .map_err(|e| temp(7, 0, e.to_string()))?;
            match s.cmd(auth.to_string().trim_end().to_string(), "AUTH").await {
                Ok(mut r) => {
                    let mut rounds = 0;
                    while r.code().to_string() == "334" && rounds < 4 {
                        rounds += 1;
                        let next = lettre::transport::smtp::commands::Auth::new_from_response(
                            mech,
                            creds.clone(),
                            &r,
                        )
                        .map_err(|e| temp(7, 0, e.to_string()))?;
                        r = s
                            .cmd(next.to_string().trim_end().to_string(), "AUTH")
                            .await?;
                    }
                    Ok(())
                }
                Err(f) => Err(f),
            }
        }
    };
    // An authentication refusal is kept temporary (as Postfix does): the password may be fixed.
    result.map_err(|f| {
        let text = match f.reply {
            Some(_) => "authentication failed".to_string(),
            None => format!("authentication failed: {}", f.text),
        };
        Outcome {
            status: Status::new(Class::Transient, 7, 0),
            text,
            ..f
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(s: &str) -> Status {
        Status::parse(s).unwrap_or_else(|| panic!("{s}"))
    }

    #[test]
    fn replies_map_to_outcomes() {
        for (code, text, want, diagnostic) in [
            (
                550,
                "5.1.1 <b@x.test>: Recipient address rejected",
                "5.1.1",
                "smtp; 550 5.1.1 <b@x.test>: Recipient address rejected",
            ),
            (550, "no such user", "5.0.0", "smtp; 550 no such user"),
            (
                452,
                "4.2.2 mailbox full",
                "4.2.2",
                "smtp; 452 4.2.2 mailbox full",
            ),
            (421, "too busy", "4.0.0", "smtp; 421 too busy"),
        ] {
            let o = reply_outcome(code, text, "RCPT TO");
            assert_eq!(o.status, status(want), "{code} {text}");
            assert_eq!(o.is_permanent(), code >= 500);
            assert_eq!(o.diagnostic_code().as_deref(), Some(diagnostic));
            assert_eq!(o.text, "refused at RCPT TO");
        }
        let ok = reply_outcome(250, "2.0.0 Ok: queued as 4Q", "end of DATA");
        assert_eq!(
            (ok.status, ok.text.as_str()),
            (status("2.0.0"), "accepted at end of DATA")
        );
    }

    /// Connections that never reach an MTA name no Remote-MTA; all are temporary.
    #[test]
    fn connection_failures_map_to_outcomes() {
        let peer = RemoteMta::new("mx.x.test", "127.0.0.1:25".parse().expect("addr"));
        let refused = connect_outcome(
            &ConnectError::Tcp(std::io::ErrorKind::ConnectionRefused.into()),
            &peer,
        );
        assert_eq!(refused.status, status("4.4.1"));
        assert_eq!(refused.remote_mta, None);
        assert!(
            refused
                .to_string()
                .starts_with("4.4.1 connect to mx.x.test[127.0.0.1]:25: "),
            "{refused}"
        );
        let timeout = connect_outcome(&ConnectError::ConnectTimeout(Duration::from_secs(3)), &peer);
        assert_eq!(
            timeout.to_string(),
            "4.4.1 connect to mx.x.test[127.0.0.1]:25: timed out after 3s"
        );
        let greeting = connect_outcome(
            &ConnectError::GreetingTimeout(Duration::from_secs(2)),
            &peer,
        );
        assert_eq!(
            greeting.to_string(),
            "4.4.2 no greeting within 2s (at mx.x.test[127.0.0.1]:25)"
        );
        let ehlo = connect_outcome(&ConnectError::EhloTimeout(Duration::from_secs(6)), &peer);
        assert_eq!(
            (ehlo.status, ehlo.remote_mta),
            (status("4.4.2"), Some(peer))
        );
    }
}
