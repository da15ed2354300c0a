//! Milters (`[[milter]]`): each accepted message, from every way in but notifications, goes
//! through each configured milter in turn over the Sendmail milter protocol (version 6, the
//! codec in [`crate::proto::milter`]) — connect, HELO, MAIL, each RCPT, the headers, the body
//! and the end of the message — after the content filter and before anything is written.
//!
//! A milter may refuse (reject, tempfail, a reply code of its own), discard, accept at once, or
//! at the end of the message change it: add, insert, change and delete headers, replace the
//! body, change the sender, add and delete recipients, quarantine. A recipient refused at RCPT
//! is dropped (the message is refused when none is left). A milter that cannot be reached,
//! times out (`timeout`, per connection and per reply) or breaks the protocol takes its
//! `default_action` — accept, tempfail (451 4.7.1, the default) or reject (554 5.7.1) — and
//! never costs more than its timeouts.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::config::filter::{Milter, MilterDefault, MilterSocket};
use crate::config::Config;
use crate::events::event;
use crate::proto::mail::Reply;
use crate::proto::milter::{self as codec, step, Letter, Modification, Response};

/// What the milters made of a message.
#[derive(Debug)]
pub enum Verdict {
    /// Take this letter (changed or not).
    Take(Letter),
    /// Refuse it (`temporary`: for now).
    Refuse { reply: Reply, temporary: bool },
    /// Accept it and drop it.
    Discard,
}

/// The envelope's facts the milters are told.
pub struct Facts<'a> {
    pub hostname: &'a str,
    pub client: Option<std::net::IpAddr>,
    pub helo: Option<&'a str>,
    pub auth_user: Option<&'a str>,
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Why a conversation with a milter broke off.
#[derive(Debug, thiserror::Error)]
enum Broken {
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("timed out")]
    Timeout,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Protocol(#[from] codec::MilterError),
    #[error("unexpected reply {0:?}")]
    Unexpected(String),
}

/// How one milter's conversation ended.
enum End {
    /// Went through to the end (or accepted early): the letter as it left it.
    Done(Letter),
    Refuse(Reply, bool),
    Discard,
}

/// Run `letter` through every configured milter.
pub async fn run(config: &Config, facts: &Facts<'_>, mut letter: Letter) -> Verdict {
    for m in &config.milters {
        let started = std::time::Instant::now();
        let timeout = m.timeout.duration();
        let end = match tokio::time::timeout(timeout, open(m)).await {
            Ok(Ok(mut s)) => talk(&mut *s, timeout, facts, letter.clone()).await,
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Broken::Timeout),
        };
        let log = |action: &str| {
            event("milter")
                .field("milter", &m.name)
                .field("action", action)
                .field("from", &letter.sender)
                .field("ms", started.elapsed().as_millis())
        };
        match end {
            Ok(End::Done(l)) => {
                let mut e = log("continue");
                if let Some(why) = &l.quarantine {
                    e = e.field("quarantine", why);
                }
                e.emit();
                letter = l;
            }
            Ok(End::Refuse(reply, temporary)) => {
                log(if temporary { "tempfail" } else { "reject" })
                    .field("reply", reply.lines.join(" "))
                    .emit();
                return Verdict::Refuse { reply, temporary };
            }
            Ok(End::Discard) => {
                log("discard").emit();
                return Verdict::Discard;
            }
            Err(why) => {
                let e = log("unavailable").field("error", &why);
                match m.default_action {
                    MilterDefault::Accept => e.field("default", "accept").emit(),
                    MilterDefault::Tempfail => {
                        e.field("default", "tempfail").emit();
                        let text = "Message content cannot be checked now; try again later";
                        return Verdict::Refuse {
                            reply: Reply::new(451, "4.7.1", text),
                            temporary: true,
                        };
                    }
                    MilterDefault::Reject => {
                        e.field("default", "reject").emit();
                        return Verdict::Refuse {
                            reply: Reply::new(554, "5.7.1", "Message content rejected"),
                            temporary: false,
                        };
                    }
                }
            }
        }
    }
    Verdict::Take(letter)
}

async fn open(m: &Milter) -> Result<Box<dyn Stream>, Broken> {
    match m.address() {
        Some(MilterSocket::Inet(host, port)) => {
            let s = tokio::net::TcpStream::connect((host.as_str(), port))
                .await
                .map_err(|e| Broken::Connect(e.to_string()))?;
            Ok(Box::new(s))
        }
        Some(MilterSocket::Unix(path)) => {
            let s = tokio::net::UnixStream::connect(&path)
                .await
                .map_err(|e| Broken::Connect(e.to_string()))?;
            Ok(Box::new(s))
        }
        None => Err(Broken::Connect(format!("bad socket {:?}", m.socket))),
    }
}

/// One packet from the milter, within `timeout`.
async fn read(s: &mut dyn Stream, timeout: Duration) -> Result<Response, Broken> {
    let read = async {
        let mut len = [0u8; 4];
        s.read_exact(&mut len).await?;
        let len = codec::frame_len(&len)?.unwrap_or(1);
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).await?;
        let (cmd, data) = body.split_first().ok_or(codec::MilterError::TooLong(0))?;
        Ok::<_, Broken>(codec::decode(*cmd, data)?)
    };
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| Broken::Timeout)?
}

/// Send `packet`; unless `quiet`, the milter's answer (progress reports skipped).
async fn ask(
    s: &mut dyn Stream,
    timeout: Duration,
    packet: &[u8],
    quiet: bool,
) -> Result<Option<Response>, Broken> {
    tokio::time::timeout(timeout, s.write_all(packet))
        .await
        .map_err(|_| Broken::Timeout)??;
    if quiet {
        return Ok(None);
    }
    loop {
        match read(s, timeout).await? {
            Response::Progress => continue,
            r => return Ok(Some(r)),
        }
    }
}

/// What an answer before the end of the message means: go on, stop with the letter as it is
/// (accept), or end.
enum Step {
    Go,
    Stop(End),
}

fn step_of(r: Option<Response>, letter: &Letter) -> Result<Step, Broken> {
    Ok(match r {
        None | Some(Response::Continue) => Step::Go,
        Some(Response::Accept) => Step::Stop(End::Done(letter.clone())),
        Some(Response::Discard) => Step::Stop(End::Discard),
        Some(Response::Reject) => Step::Stop(End::Refuse(
            Reply::new(554, "5.7.1", "Message rejected by content filter"),
            false,
        )),
        Some(Response::TempFail) => Step::Stop(End::Refuse(
            Reply::new(
                451,
                "4.7.1",
                "Message deferred by content filter; try again later",
            ),
            true,
        )),
        Some(Response::ReplyCode(r)) => {
            let temporary = r.code < 500;
            Step::Stop(End::Refuse(r, temporary))
        }
        Some(other) => return Err(Broken::Unexpected(format!("{other:?}"))),
    })
}

async fn talk(
    s: &mut dyn Stream,
    timeout: Duration,
    facts: &Facts<'_>,
    mut letter: Letter,
) -> Result<End, Broken> {
    let neg = match ask(s, timeout, &codec::negotiate(), false).await? {
        Some(Response::Negotiate(n)) => n,
        other => return Err(Broken::Unexpected(format!("{other:?}"))),
    };
    let skip = |flag: u32| neg.protocol & flag != 0;
    macro_rules! stage {
        ($packet:expr, $skip:expr, $quiet:expr) => {
            if !skip($skip) {
                let r = ask(s, timeout, &$packet, skip($quiet)).await?;
                if let Step::Stop(end) = step_of(r, &letter)? {
                    let _ = s.write_all(&codec::packet(b'Q', b"")).await;
                    return Ok(end);
                }
            }
        };
    }
    let client = facts.client.map(|ip| ip.to_string()).unwrap_or_default();
    let name = if client.is_empty() {
        "localhost".to_string()
    } else {
        format!("[{client}]")
    };
    let cmacros = [
        ("j", facts.hostname.to_string()),
        ("{daemon_name}", "postern".to_string()),
        ("_", format!("{name} [{client}]")),
        ("{client_addr}", client.clone()),
        ("{client_name}", name.clone()),
    ];
    s.write_all(&codec::macros(b'C', &cmacros)).await?;
    stage!(
        codec::connect(&name, facts.client.map(|ip| (ip, 0))),
        step::NOCONNECT,
        step::NR_CONN
    );
    let helo = facts.helo.unwrap_or(facts.hostname);
    stage!(
        codec::packet(b'H', &codec::strings(&[helo])),
        step::NOHELO,
        step::NR_HELO
    );
    let mut mmacros = vec![("{mail_addr}", letter.sender.clone())];
    if let Some(u) = facts.auth_user {
        mmacros.push(("{auth_authen}", u.to_string()));
        mmacros.push(("{auth_type}", "PLAIN".to_string()));
    }
    s.write_all(&codec::macros(b'M', &mmacros)).await?;
    let mail = codec::packet(b'M', &codec::strings(&[format!("<{}>", letter.sender)]));
    stage!(mail, step::NOMAIL, step::NR_MAIL);
    let mut kept = Vec::new();
    let mut last_refusal = None;
    for rcpt in letter.recipients.clone() {
        if skip(step::NORCPT) {
            kept.push(rcpt);
            continue;
        }
        s.write_all(&codec::macros(b'R', &[("{rcpt_addr}", rcpt.clone())]))
            .await?;
        let packet = codec::packet(b'R', &codec::strings(&[format!("<{rcpt}>")]));
        let r = ask(s, timeout, &packet, skip(step::NR_RCPT)).await?;
        match step_of(r, &letter)? {
            Step::Go | Step::Stop(End::Done(_)) => kept.push(rcpt),
            Step::Stop(End::Refuse(reply, temporary)) => last_refusal = Some((reply, temporary)),
            Step::Stop(end) => return Ok(end),
        }
    }
    if kept.is_empty() {
        let _ = s.write_all(&codec::packet(b'Q', b"")).await;
        let (reply, temporary) =
            last_refusal.unwrap_or_else(|| (Reply::new(554, "5.7.1", "No recipients left"), false));
        return Ok(End::Refuse(reply, temporary));
    }
    letter.recipients = kept;
    stage!(codec::packet(b'T', b""), step::NODATA, step::NR_DATA);
    if !skip(step::NOHDRS) {
        for (name, value) in letter.message.headers.clone() {
            let value = if skip(step::HDR_LEADSPC) {
                format!(" {value}")
            } else {
                value
            };
            let packet = codec::packet(b'L', &codec::strings(&[name, value]));
            stage!(packet, 0, step::NR_HDR);
        }
    }
    stage!(codec::packet(b'N', b""), step::NOEOH, step::NR_EOH);
    if !skip(step::NOBODY) {
        for chunk in letter.message.body.clone().chunks(codec::CHUNK) {
            stage!(codec::packet(b'B', chunk), 0, step::NR_BODY);
        }
    }
    tokio::time::timeout(timeout, s.write_all(&codec::packet(b'E', b"")))
        .await
        .map_err(|_| Broken::Timeout)??;
    let mut body: Option<Vec<u8>> = None;
    let end = loop {
        match read(s, timeout).await? {
            Response::Progress => {}
            Response::Modify(Modification::ReplaceBody(chunk)) => {
                body.get_or_insert_with(Vec::new).extend_from_slice(&chunk);
            }
            Response::Modify(m) => codec::apply(&mut letter, &m),
            r => match step_of(Some(r), &letter)? {
                Step::Go => break End::Done(letter.clone()),
                Step::Stop(End::Done(_)) => break End::Done(letter.clone()),
                Step::Stop(end) => break end,
            },
        }
    };
    let _ = s.write_all(&codec::packet(b'Q', b"")).await;
    Ok(match (end, body) {
        (End::Done(mut l), Some(b)) => {
            codec::apply(&mut l, &Modification::ReplaceBody(b));
            End::Done(l)
        }
        (end, _) => end,
    })
}
