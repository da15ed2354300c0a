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
use crate::config::servers::{OutboundAuth, OutboundTls, RemoteServer};
use crate::smtp::xtext;

/// What the session needs to know about the message.
pub struct Outgoing<'a> {
    pub sender: &'a str,
    pub body: &'a [u8],
    pub smtputf8: bool,
    pub dsn_ret: Option<&'a str>,
    pub dsn_envid: Option<&'a str>,
    pub recipients: Vec<OutRcpt<'a>>,
}

/// One recipient of the job.
pub struct OutRcpt<'a> {
    pub address: &'a str,
    pub notify: Option<&'a str>,
    pub orcpt: Option<&'a str>,
}

/// A reply or failure, final or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub permanent: bool,
    pub text: String,
}

impl Failure {
    fn temp(text: impl Into<String>) -> Failure {
        Failure {
            permanent: false,
            text: text.into(),
        }
    }
}

/// A recipient the next hop took: its reply, and whether the next hop supports DSN (so it
/// carries NOTIFY on; without it a NOTIFY=SUCCESS recipient gets a "relayed" report from us).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub reply: String,
    pub dsn: bool,
}

/// Per-recipient result, parallel to `Outgoing::recipients`.
pub type RcptResult = Result<Accepted, Failure>;

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

/// `550 5.1.1 text` from a lettre error (or its description when there was no reply).
fn describe(e: &lettre::transport::smtp::Error) -> Failure {
    let text = match e.status() {
        Some(code) => {
            let msg = std::error::Error::source(e)
                .map(|s| s.to_string())
                .unwrap_or_default();
            format!("{code} {}", msg.replace(['\r', '\n'], " "))
        }
        None => e.to_string(),
    };
    Failure {
        permanent: e.is_permanent(),
        text,
    }
}

fn reply_text(r: &Response) -> String {
    format!("{} {}", r.code(), r.message().collect::<Vec<_>>().join(" "))
}

/// An open, greeted (and, when configured, encrypted and authenticated) connection to one host,
/// ready for a mail transaction; reusable for the next one after a reset.
pub struct Session {
    conn: AsyncSmtpConnection,
    command: Duration,
    /// `host[ip]:port`, for messages.
    host: String,
    /// Keywords of the last EHLO reply.
    keywords: Vec<String>,
    /// Transactions sent on this connection.
    pub sent: usize,
}

impl Session {
    async fn cmd(&mut self, line: String) -> Result<Response, Failure> {
        match tokio::time::timeout(self.command, self.conn.command(Line(line))).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(describe(&e)),
            Err(_) => Err(Failure::temp(format!(
                "4.4.2 {}: timeout waiting for a reply",
                self.host
            ))),
        }
    }

    /// Keywords of the EHLO reply (lettre keeps only those it knows).
    async fn ehlo_keywords(&mut self, hello: &str) -> Result<Vec<String>, Failure> {
        let r = self.cmd(format!("EHLO {hello}")).await?;
        Ok(r.message()
            .skip(1)
            .map(|l| l.to_ascii_uppercase())
            .collect())
    }

    fn has(&self, k: &str) -> bool {
        self.keywords
            .iter()
            .any(|l| l == k || l.starts_with(&format!("{k} ")))
    }

    /// RSET before the next transaction on a reused connection: whether it is still usable.
    pub async fn reset(&mut self) -> bool {
        self.cmd("RSET".into()).await.is_ok_and(|r| r.is_positive())
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
    pub async fn send(&mut self, out: &Outgoing<'_>) -> Result<Vec<RcptResult>, Failure> {
        self.sent += 1;
        let where_ = self.host.clone();
        let at = |mut f: Failure| {
            f.text = format!("{} (at {where_})", f.text);
            f
        };
        let at_ok = |mut a: Accepted| {
            a.reply = format!("{} (at {where_})", a.reply);
            a
        };
        transaction(self, out)
            .await
            .map(|rs| rs.into_iter().map(|r| r.map(at_ok).map_err(at)).collect())
            .map_err(at)
    }

    async fn cram_md5(&mut self, user: &str, password: &str) -> Result<(), Failure> {
        let r = self.cmd("AUTH CRAM-MD5".into()).await?;
        if r.code().to_string() != "334" {
            return Err(Failure::temp(format!(
                "unexpected reply {}",
                reply_text(&r)
            )));
        }
        let challenge = BASE64_STANDARD
            .decode(r.first_word().unwrap_or(""))
            .map_err(|_| Failure::temp("CRAM-MD5 challenge is not base64"))?;
        let answer = crate::sasl::cram_md5::client_response(user, password, &challenge);
        self.cmd(BASE64_STANDARD.encode(answer)).await.map(drop)
    }
}

/// lettre's rustls set-up for `host`: TLS 1.3 and 1.2, the system roots plus the server's `ca`,
/// or no certificate check where `verify` is off (opportunistic TLS).
fn tls_parameters(server: &RemoteServer, host: &str) -> Result<TlsParameters, Failure> {
    let extra = match &server.ca {
        Some(ca) => {
            crate::tls::trust_anchors(ca).map_err(|e| Failure::temp(format!("4.7.5 {e}")))?
        }
        None => Vec::new(),
    };
    let mut b = TlsParameters::builder(host.to_string()).certificate_store(CertificateStore::None);
    for der in crate::tls::system_roots().iter().chain(&extra) {
        let cert = Certificate::from_der(der.to_vec())
            .map_err(|e| Failure::temp(format!("4.7.5 bad trust anchor: {e}")))?;
        b = b.add_root_certificate(cert);
    }
    if !server.verifies() {
        b = b
            .dangerous_accept_invalid_certs(true)
            .dangerous_accept_invalid_hostnames(true);
    }
    b.build_rustls()
        .map_err(|e| Failure::temp(format!("4.7.5 TLS setup failed: {e}")))
}

/// Why a connection could not be made ready for mail.
enum NotReady {
    /// STARTTLS was offered but the upgrade failed (refused, handshake broken, timed out).
    Tls(Failure),
    Other(Failure),
}

impl NotReady {
    fn failure(self) -> Failure {
        match self {
            NotReady::Tls(f) | NotReady::Other(f) => f,
        }
    }
}

/// Connect to `addr` and get ready for mail: greeting, STARTTLS or implicit TLS per the server's
/// settings, EHLO, AUTH. With opportunistic TLS, a STARTTLS that fails is followed by a second
/// connection to the same address in plaintext (as Postfix's `smtp_tls_security_level = may`);
/// with required TLS it is a temporary failure.
pub async fn open(
    addr: SocketAddr,
    host: &str,
    server: &RemoteServer,
    hello: &str,
    timeouts: Timeouts,
) -> Result<Session, Failure> {
    match open_once(addr, host, server, hello, timeouts, true).await {
        Err(NotReady::Tls(f)) if server.tls == OutboundTls::Opportunistic => {
            // The plaintext retry never shows a password: a broken or tampered STARTTLS must
            // not make us send it in the clear (see `authenticate`).
            if server.user.is_some()
                && server.password.is_some()
                && matches!(server.auth, OutboundAuth::Plain | OutboundAuth::Login)
            {
                return Err(Failure::temp(format!("{}; {CLEAR_REFUSAL}", f.text)));
            }
            crate::events::event("tls_fallback")
                .field("host", host)
                .field("address", addr)
                .field("error", &f.text)
                .emit();
            open_once(addr, host, server, hello, timeouts, false)
                .await
                .map_err(NotReady::failure)
        }
        other => other.map_err(NotReady::failure),
    }
}

/// Why PLAIN/LOGIN are not used where TLS was wanted (opportunistic) but is not there.
const CLEAR_REFUSAL: &str = "4.7.0 not sending the password unencrypted (PLAIN/LOGIN without TLS)";

/// One connection; `try_tls`: false for the plaintext retry after a failed STARTTLS.
async fn open_once(
    addr: SocketAddr,
    host: &str,
    server: &RemoteServer,
    hello: &str,
    timeouts: Timeouts,
    try_tls: bool,
) -> Result<Session, NotReady> {
    let where_ = format!("{host}[{}]:{}", addr.ip(), addr.port());
    let client_id = ClientId::Domain(hello.to_string());
    let implicit = match server.tls {
        OutboundTls::Implicit => Some(tls_parameters(server, host).map_err(NotReady::Other)?),
        _ => None,
    };
    let lettre_failure = |e: lettre::transport::smtp::Error| {
        let mut f = describe(&e);
        f.permanent = false; // a greeting 5xx or refusal: the next MX may do better
        f.text = if f.text.starts_with(char::is_numeric) {
            format!("{where_}: {}", f.text)
        } else {
            format!("4.4.1 {where_}: {}", f.text)
        };
        NotReady::Other(f)
    };
    let timed_out = |code: &str, what: String| {
        NotReady::Other(Failure::temp(format!("{code} {where_}: {what}")))
    };
    let conn = match implicit {
        // Connect and greeting within connect_timeout, EHLO within command_timeout.
        None => match connect::plain(addr, &client_id, timeouts.connect, timeouts.command).await {
            Ok(c) => c,
            Err(ConnectError::Smtp(e)) => return Err(lettre_failure(e)),
            Err(ConnectError::Tcp(e)) => {
                return Err(NotReady::Other(Failure::temp(format!(
                    "4.4.1 {where_}: {e}"
                ))))
            }
            Err(ConnectError::ConnectTimeout(t)) => {
                return Err(timed_out(
                    "4.4.1",
                    format!("connection timed out after {t:?}"),
                ))
            }
            Err(ConnectError::GreetingTimeout(t)) => {
                return Err(timed_out("4.4.2", format!("no greeting within {t:?}")))
            }
            Err(ConnectError::EhloTimeout(t)) => {
                return Err(timed_out("4.4.2", format!("no reply to EHLO within {t:?}")))
            }
        },
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
                Ok(Err(e)) => return Err(lettre_failure(e)),
                Err(_) => return Err(timed_out("4.4.1", "connection timed out".into())),
            }
        }
    };
    let mut s = Session {
        conn,
        command: timeouts.command,
        host: where_.clone(),
        keywords: Vec::new(),
        sent: 0,
    };
    match prepare(&mut s, server, host, hello, &client_id, try_tls).await {
        Ok(()) => Ok(s),
        Err(mut e) => {
            // After a failed STARTTLS lettre has no stream left to say QUIT on (and asserts
            // so in debug builds): just drop the connection.
            if matches!(e, NotReady::Other(_)) {
                s.abort().await;
            }
            let (NotReady::Tls(f) | NotReady::Other(f)) = &mut e;
            f.text = format!("{} (at {where_})", f.text);
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
    try_tls: bool,
) -> Result<(), NotReady> {
    // A password may travel in the clear only where the administrator said `tls = "off"`.
    let mut may_send_password = server.tls != OutboundTls::Opportunistic;
    match server.tls {
        OutboundTls::Off | OutboundTls::Implicit => {}
        OutboundTls::Opportunistic | OutboundTls::Required => {
            if try_tls && s.conn.can_starttls() {
                may_send_password = true;
                let params = tls_parameters(server, host).map_err(NotReady::Other)?;
                let up = s.conn.starttls(params, client_id);
                match tokio::time::timeout(s.command, up).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        return Err(NotReady::Tls(Failure::temp(format!(
                            "4.7.5 STARTTLS failed: {e}"
                        ))))
                    }
                    Err(_) => return Err(NotReady::Tls(Failure::temp("4.7.5 STARTTLS timed out"))),
                }
            } else if server.tls == OutboundTls::Required {
                return Err(NotReady::Other(Failure::temp(
                    "4.7.4 TLS is required but the server does not offer STARTTLS",
                )));
            }
        }
    }
    s.keywords = s.ehlo_keywords(hello).await.map_err(NotReady::Other)?;
    if let (Some(user), Some(password)) = (&server.user, &server.password) {
        let keywords = s.keywords.clone();
        authenticate(s, server.auth, &keywords, user, password, may_send_password)
            .await
            .map_err(NotReady::Other)?;
    }
    Ok(())
}

async fn transaction(s: &mut Session, out: &Outgoing<'_>) -> Result<Vec<RcptResult>, Failure> {
    // Never a bare CR or LF on the wire (RFC 5321 §2.3.8), whatever the queue file holds: a
    // `\n.\n` in it would end the data early at a lenient next hop and smuggle the rest in as a
    // second message from this server. lettre dot-stuffs only after CRLF, so it must see CRLF.
    let body = crate::smtp::lineends::canonical(out.body);
    let (size, eight_bit, utf8, dsn) = (
        s.has("SIZE"),
        s.has("8BITMIME"),
        s.has("SMTPUTF8"),
        s.has("DSN"),
    );
    let mut mail = format!("MAIL FROM:<{}>", out.sender);
    if size {
        mail.push_str(&format!(" SIZE={}", body.len()));
    }
    if !body.is_ascii() && eight_bit {
        mail.push_str(" BODY=8BITMIME");
    }
    if out.smtputf8 && utf8 {
        mail.push_str(" SMTPUTF8");
    }
    if dsn {
        if let Some(ret) = out.dsn_ret {
            mail.push_str(&format!(" RET={ret}"));
        }
        if let Some(envid) = out.dsn_envid {
            mail.push_str(&format!(" ENVID={}", xtext::encode(envid)));
        }
    }
    s.cmd(mail).await?;

    let mut results: Vec<Result<String, Failure>> = Vec::with_capacity(out.recipients.len());
    for r in &out.recipients {
        let mut line = format!("RCPT TO:<{}>", r.address);
        if dsn {
            if let Some(n) = r.notify {
                line.push_str(&format!(" NOTIFY={n}"));
            }
            if let Some(o) = r.orcpt {
                line.push_str(&format!(" ORCPT={}", xtext::encode(o)));
            }
        }
        match s.cmd(line).await {
            Ok(reply) => results.push(Ok(reply_text(&reply))),
            Err(f) if f.text.starts_with(char::is_numeric) => results.push(Err(f)),
            // The connection broke: nothing is decided for anyone.
            Err(f) => return Err(f),
        }
    }
    if results.iter().all(|r| r.is_err()) {
        let _ = s.cmd("RSET".into()).await;
        return Ok(fail_accepted(results, None));
    }
    if let Err(f) = s.cmd("DATA".into()).await {
        return if f.text.starts_with(char::is_numeric) {
            Ok(fail_accepted(results, Some(f)))
        } else {
            Err(f)
        };
    }
    // lettre adds the final CRLF . CRLF: give it the body without its last line end.
    let body = body.strip_suffix(b"\r\n").unwrap_or(&body);
    let sent = tokio::time::timeout(s.command, s.conn.message(body)).await;
    match sent {
        Ok(Ok(reply)) => {
            let text = reply_text(&reply);
            Ok(results
                .into_iter()
                .map(|r| {
                    r.map(|_| Accepted {
                        reply: text.clone(),
                        dsn,
                    })
                })
                .collect())
        }
        Ok(Err(e)) if e.status().is_some() => Ok(fail_accepted(results, Some(describe(&e)))),
        Ok(Err(e)) => Err(Failure::temp(format!(
            "4.4.2 connection lost after DATA: {e}"
        ))),
        Err(_) => Err(Failure::temp("4.4.2 timeout waiting for the reply to DATA")),
    }
}

/// The DATA stage failed (or was not reached: `None`, every RCPT was refused): every recipient
/// accepted at RCPT gets that failure.
fn fail_accepted(results: Vec<Result<String, Failure>>, f: Option<Failure>) -> Vec<RcptResult> {
    let f = f.unwrap_or_else(|| Failure::temp("4.0.0 no recipient accepted"));
    results
        .into_iter()
        .map(|r| r.and_then(|_| Err(f.clone())))
        .collect()
}

async fn authenticate(
    s: &mut Session,
    method: OutboundAuth,
    keywords: &[String],
    user: &str,
    password: &str,
    may_send_password: bool,
) -> Result<(), Failure> {
    let offered: Vec<&str> = keywords
        .iter()
        .filter_map(|l| l.strip_prefix("AUTH ").or_else(|| l.strip_prefix("AUTH=")))
        .flat_map(|l| l.split_whitespace())
        .collect();
    let has = |m: &str| offered.contains(&m);
    let chosen = match method {
        OutboundAuth::Best if has("CRAM-MD5") => OutboundAuth::CramMd5,
        OutboundAuth::Best | OutboundAuth::Plain | OutboundAuth::Login if !may_send_password => {
            return Err(Failure::temp(CLEAR_REFUSAL))
        }
        OutboundAuth::Best if has("PLAIN") => OutboundAuth::Plain,
        OutboundAuth::Best if has("LOGIN") => OutboundAuth::Login,
        OutboundAuth::Best => {
            return Err(Failure::temp(
                "4.7.0 no authentication method in common with the server",
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
                .map_err(|e| Failure::temp(e.to_string()))?;
            match s.cmd(auth.to_string().trim_end().to_string()).await {
                Ok(mut r) => {
                    let mut rounds = 0;
                    while r.code().to_string() == "334" && rounds < 4 {
                        rounds += 1;
                        let next = lettre::transport::smtp::commands::Auth::new_from_response(
                            mech,
                            creds.clone(),
                            &r,
                        )
                        .map_err(|e| Failure::temp(e.to_string()))?;
                        r = s.cmd(next.to_string().trim_end().to_string()).await?;
                    }
                    Ok(())
                }
                Err(f) => Err(f),
            }
        }
    };
    // An authentication refusal is kept temporary (as Postfix does): the password may be fixed.
    result.map_err(|f| Failure::temp(format!("4.7.0 authentication failed: {}", f.text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_failure_applies_to_accepted_only() {
        let f = Failure {
            permanent: true,
            text: "554 no".into(),
        };
        let refused = Failure {
            permanent: true,
            text: "550 unknown".into(),
        };
        let got = fail_accepted(
            vec![Ok("250 ok".into()), Err(refused.clone())],
            Some(f.clone()),
        );
        assert_eq!(got, vec![Err(f), Err(refused)]);
    }
}
