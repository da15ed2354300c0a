//! The Sendmail milter protocol, version 6 as Postfix speaks it (the client side): packet
//! framing, the commands the MTA sends, the replies and modification requests a milter sends
//! back, and applying those modifications to a message. No I/O: `crate::intake::milter` runs
//! the conversation over a socket.
//!
//! A packet is a 32-bit length in network order (of what follows), a command byte and its data.

use crate::proto::mail::Reply;

pub const VERSION: u32 = 6;

/// Modifications the MTA allows (SMFIF_*): add/change headers, change body, add/delete
/// recipients, quarantine, change sender, add recipient with parameters, set macro list.
pub const ACTIONS: u32 = 0x01 | 0x02 | 0x04 | 0x08 | 0x10 | 0x20 | 0x40 | 0x80;

/// Protocol steps the milter may ask to skip (SMFIP_*), and how the MTA marks them.
pub mod step {
    pub const NOCONNECT: u32 = 0x1;
    pub const NOHELO: u32 = 0x2;
    pub const NOMAIL: u32 = 0x4;
    pub const NORCPT: u32 = 0x8;
    pub const NOBODY: u32 = 0x10;
    pub const NOHDRS: u32 = 0x20;
    pub const NOEOH: u32 = 0x40;
    pub const NR_HDR: u32 = 0x80;
    pub const NODATA: u32 = 0x200;
    pub const NR_CONN: u32 = 0x1000;
    pub const NR_HELO: u32 = 0x2000;
    pub const NR_MAIL: u32 = 0x4000;
    pub const NR_RCPT: u32 = 0x8000;
    pub const NR_DATA: u32 = 0x10000;
    pub const NR_EOH: u32 = 0x40000;
    pub const NR_BODY: u32 = 0x80000;
    pub const HDR_LEADSPC: u32 = 0x100000;
    /// Everything the MTA offers.
    pub const OFFERED: u32 = 0x1fffff;
}

/// The longest packet read from a milter.
pub const MAX_PACKET: usize = 1 << 20;
/// Body chunks sent at most this long (SMFIC_BODY).
pub const CHUNK: usize = 65535;

/// One packet: command byte and data.
pub fn packet(cmd: u8, data: &[u8]) -> Vec<u8> {
    let len = u32::try_from(data.len() + 1).unwrap_or(u32::MAX);
    let mut p = Vec::with_capacity(data.len() + 5);
    p.extend_from_slice(&len.to_be_bytes());
    p.push(cmd);
    p.extend_from_slice(data);
    p
}

/// NUL-terminated strings, one after another.
pub fn strings<S: AsRef<[u8]>>(items: &[S]) -> Vec<u8> {
    let mut out = Vec::new();
    for s in items {
        out.extend(s.as_ref().iter().filter(|&&b| b != 0));
        out.push(0);
    }
    out
}

/// The option negotiation the MTA opens with.
pub fn negotiate() -> Vec<u8> {
    let mut d = Vec::new();
    d.extend_from_slice(&VERSION.to_be_bytes());
    d.extend_from_slice(&ACTIONS.to_be_bytes());
    d.extend_from_slice(&step::OFFERED.to_be_bytes());
    packet(b'O', &d)
}

/// Macros for the step `cmd` (SMFIC_MACRO).
pub fn macros(cmd: u8, pairs: &[(&str, String)]) -> Vec<u8> {
    let mut d = vec![cmd];
    for (k, v) in pairs {
        d.extend(strings(&[k.as_bytes(), v.as_bytes()]));
    }
    packet(b'D', &d)
}

/// SMFIC_CONNECT for a client `name` at `addr` (none: a local submission).
pub fn connect(name: &str, addr: Option<(std::net::IpAddr, u16)>) -> Vec<u8> {
    let mut d = strings(&[name]);
    match addr {
        Some((ip, port)) => {
            d.push(if ip.is_ipv4() { b'4' } else { b'6' });
            d.extend_from_slice(&port.to_be_bytes());
            d.extend(strings(&[ip.to_string()]));
        }
        None => d.push(b'U'),
    }
    packet(b'C', &d)
}

/// What the milter answered to the negotiation: its actions and the steps it skips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    pub actions: u32,
    pub protocol: u32,
}

/// A reply packet from a milter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    Negotiate(Negotiated),
    Continue,
    Accept,
    Discard,
    Reject,
    TempFail,
    /// SMFIR_REPLYCODE: a whole SMTP reply.
    ReplyCode(Reply),
    Progress,
    Modify(Modification),
    /// A command byte this client does not know.
    Unknown(u8),
}

/// A change a milter asks for at the end of the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Modification {
    AddHeader {
        name: String,
        value: String,
    },
    /// Insert at `index` (0: first).
    InsertHeader {
        index: u32,
        name: String,
        value: String,
    },
    /// The `index`-th (from 1) header called `name`; an empty value deletes it.
    ChangeHeader {
        index: u32,
        name: String,
        value: String,
    },
    ReplaceBody(Vec<u8>),
    AddRecipient(String),
    DeleteRecipient(String),
    ChangeSender(String),
    Quarantine(String),
}

/// Why a packet could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MilterError {
    #[error("the milter sent a packet of {0} bytes")]
    TooLong(usize),
    #[error("the milter sent a malformed {0:?} packet")]
    Malformed(char),
}

/// The length of the packet at the start of `buf`, once its length field is there.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, MilterError> {
    let Some(len) = be32(buf) else {
        return Ok(None);
    };
    let len = len as usize;
    if len == 0 || len > MAX_PACKET {
        return Err(MilterError::TooLong(len));
    }
    Ok(Some(len))
}

fn nul_strings(data: &[u8]) -> Vec<String> {
    let data = data.strip_suffix(&[0]).unwrap_or(data);
    data.split(|&b| b == 0)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

fn be32(d: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(d.get(..4)?.try_into().ok()?))
}

/// Decode one packet (command byte and data, without the length).
pub fn decode(cmd: u8, data: &[u8]) -> Result<Response, MilterError> {
    let bad = || MilterError::Malformed(char::from(cmd));
    let two = |d: &[u8]| -> Result<(String, String), MilterError> {
        let mut s = nul_strings(d).into_iter();
        Ok((s.next().ok_or_else(bad)?, s.next().unwrap_or_default()))
    };
    let one = |d: &[u8]| nul_strings(d).into_iter().next().unwrap_or_default();
    Ok(match cmd {
        b'O' => Response::Negotiate(Negotiated {
            actions: be32(data.get(4..).ok_or_else(bad)?).ok_or_else(bad)?,
            protocol: be32(data.get(8..).ok_or_else(bad)?).ok_or_else(bad)?,
        }),
        b'c' => Response::Continue,
        b'a' => Response::Accept,
        b'd' => Response::Discard,
        b'r' => Response::Reject,
        b't' => Response::TempFail,
        b'p' => Response::Progress,
        b'y' => Response::ReplyCode(reply_code(&one(data)).ok_or_else(bad)?),
        b'h' => {
            let (name, value) = two(data)?;
            Response::Modify(Modification::AddHeader { name, value })
        }
        b'i' | b'm' => {
            let index = be32(data).ok_or_else(bad)?;
            let (name, value) = two(data.get(4..).unwrap_or_default())?;
            Response::Modify(if cmd == b'i' {
                Modification::InsertHeader { index, name, value }
            } else {
                Modification::ChangeHeader { index, name, value }
            })
        }
        b'b' => Response::Modify(Modification::ReplaceBody(data.to_vec())),
        b'+' | b'2' => Response::Modify(Modification::AddRecipient(bare(&one(data)))),
        b'-' => Response::Modify(Modification::DeleteRecipient(bare(&one(data)))),
        b'e' => Response::Modify(Modification::ChangeSender(bare(&one(data)))),
        b'q' => Response::Modify(Modification::Quarantine(one(data))),
        other => Response::Unknown(other),
    })
}

/// An address without its angle brackets (milters send either form).
fn bare(a: &str) -> String {
    let a = a.split_whitespace().next().unwrap_or("");
    a.trim_start_matches('<').trim_end_matches('>').to_string()
}

/// `"550 5.7.1 text"` (or a multi-line `550-...\r\n550 ...`) as a reply; 4xx and 5xx only.
fn reply_code(text: &str) -> Option<Reply> {
    let last = text.lines().last()?.trim_end();
    let code: u16 = last.get(..3)?.parse().ok()?;
    if !(400..=599).contains(&code) {
        return None;
    }
    let rest = last.get(4..).unwrap_or("").trim();
    let (enhanced, words) = match rest.split_once(' ') {
        Some((e, w)) if e.split('.').count() == 3 && e.starts_with(['4', '5']) => (e, w),
        _ if rest.split('.').count() == 3 && rest.starts_with(['4', '5']) => (rest, ""),
        _ => (if code >= 500 { "5.7.1" } else { "4.7.1" }, rest),
    };
    let words: String = words
        .chars()
        .filter(|c| !c.is_control())
        .take(400)
        .collect();
    Some(Reply::new(code, enhanced, words))
}

/// A message split into its header fields (name, raw value incl. folding, without CRLF) and
/// its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Split a CRLF (or LF) message into header fields and body.
pub fn parse(message: &[u8]) -> Parsed {
    let (head, body) = match find(message, b"\r\n\r\n") {
        Some(i) => (
            message.get(..i + 2).unwrap_or_default(),
            message.get(i + 4..).unwrap_or_default(),
        ),
        None => match find(message, b"\n\n") {
            Some(i) => (
                message.get(..i + 1).unwrap_or_default(),
                message.get(i + 2..).unwrap_or_default(),
            ),
            None => (message, &b""[..]),
        },
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    let text = String::from_utf8_lossy(head);
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = headers.last_mut() {
                v.push_str("\r\n");
                v.push_str(line);
            }
            continue;
        }
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        headers.push((
            name.to_string(),
            value.strip_prefix(' ').unwrap_or(value).to_string(),
        ));
    }
    Parsed {
        headers,
        body: body.to_vec(),
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl Parsed {
    /// The message again, CRLF line ends.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 1024);
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

/// Clean a milter-given header name or value: no line ends but folding, no NUL, bounded.
fn header_text(s: &str, limit: usize) -> String {
    let folded = s.replace("\r\n", "\n");
    let mut out = String::new();
    for (i, line) in folded.split('\n').enumerate() {
        if i > 0 {
            out.push_str("\r\n");
            if !line.starts_with([' ', '\t']) {
                out.push(' ');
            }
        }
        out.extend(line.chars().filter(|c| *c != '\0' && *c != '\r'));
    }
    out.chars().take(limit).collect()
}

/// The envelope and message a milter may change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Letter {
    pub sender: String,
    pub recipients: Vec<String>,
    pub message: Parsed,
    /// Set when a milter quarantined the message (its reason).
    pub quarantine: Option<String>,
}

/// Apply one modification.
pub fn apply(letter: &mut Letter, m: &Modification) {
    match m {
        Modification::AddHeader { name, value } => {
            let field = (header_text(name, 100), header_text(value, 8000));
            letter.message.headers.push(field);
        }
        Modification::InsertHeader { index, name, value } => {
            let at = (*index as usize).min(letter.message.headers.len());
            let field = (header_text(name, 100), header_text(value, 8000));
            letter.message.headers.insert(at, field);
        }
        Modification::ChangeHeader { index, name, value } => {
            let nth = letter
                .message
                .headers
                .iter()
                .enumerate()
                .filter(|(_, (n, _))| n.eq_ignore_ascii_case(name))
                .nth((*index as usize).saturating_sub(1))
                .map(|(i, _)| i);
            match (nth, value.is_empty()) {
                (Some(i), true) => {
                    letter.message.headers.remove(i);
                }
                (Some(i), false) => {
                    if let Some(h) = letter.message.headers.get_mut(i) {
                        h.1 = header_text(value, 8000);
                    }
                }
                (None, false) => letter
                    .message
                    .headers
                    .push((header_text(name, 100), header_text(value, 8000))),
                (None, true) => {}
            }
        }
        Modification::ReplaceBody(body) => letter.message.body = body.clone(),
        Modification::AddRecipient(r) => {
            if !r.is_empty() && !letter.recipients.iter().any(|x| x.eq_ignore_ascii_case(r)) {
                letter.recipients.push(r.clone());
            }
        }
        Modification::DeleteRecipient(r) => {
            letter.recipients.retain(|x| !x.eq_ignore_ascii_case(r))
        }
        Modification::ChangeSender(s) => letter.sender = s.clone(),
        Modification::Quarantine(why) => letter.quarantine = Some(why.clone()),
    }
}

#[cfg(test)]
mod tests;
