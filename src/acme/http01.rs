//! The HTTP-01 responder (RFC 8555 §8.3): a minimal HTTP/1.1 server that answers only
//! `GET /.well-known/acme-challenge/TOKEN` with the key authorization, and 404 to anything else.
//! A request head is at most [`MAX_HEAD`] bytes and must arrive within [`READ_TIMEOUT`]; at most
//! [`MAX_CONNECTIONS`] requests are handled at once; every connection is closed after one reply.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The largest request head read.
pub const MAX_HEAD: usize = 4096;
/// The time a client has to send its request head.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests handled at once.
pub const MAX_CONNECTIONS: usize = 32;

const PREFIX: &str = "/.well-known/acme-challenge/";

/// Tokens being answered now: token → key authorization.
#[derive(Clone, Default)]
pub struct Tokens(Arc<Mutex<HashMap<String, String>>>);

impl Tokens {
    pub fn insert(&self, token: &str, key_authorization: &str) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(token.to_owned(), key_authorization.to_owned());
    }

    fn get(&self, token: &str) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(token)
            .cloned()
    }
}

/// What a request head asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// `GET` (or `HEAD`) of a challenge token.
    Token { token: &'a str, head_only: bool },
    /// Anything else that is HTTP: 404.
    Other,
    /// Not an HTTP/1.x request line: 400.
    Bad,
}

/// Whether `token` is a base64url token (RFC 8555 §8.3: the alphabet of RFC 4648 §5, no
/// padding), so it can name a file.
pub fn is_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 256
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Reads the request line of a complete request head.
pub fn parse(head: &[u8]) -> Request<'_> {
    let Some(line) = head.split(|&b| b == b'\n').next() else {
        return Request::Bad;
    };
    let Ok(line) = std::str::from_utf8(line) else {
        return Request::Bad;
    };
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Request::Bad;
    };
    if !version.starts_with("HTTP/1.") {
        return Request::Bad;
    }
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Request::Other,
    };
    // Absolute form (`http://host/path`) as well as origin form.
    let path = match target.strip_prefix("http://") {
        Some(rest) => rest.find('/').and_then(|i| rest.get(i..)).unwrap_or("/"),
        None => target,
    };
    match path.strip_prefix(PREFIX) {
        Some(token) if is_token(token) => Request::Token { token, head_only },
        _ => Request::Other,
    }
}

/// The whole response to `request`.
pub fn respond(request: &Request<'_>, tokens: &Tokens) -> Vec<u8> {
    let (status, body, head_only) = match request {
        Request::Token { token, head_only } => match tokens.get(token) {
            Some(k) => ("200 OK", k, *head_only),
            None => ("404 Not Found", "not found\n".to_owned(), *head_only),
        },
        Request::Other => ("404 Not Found", "not found\n".to_owned(), false),
        Request::Bad => ("400 Bad Request", "bad request\n".to_owned(), false),
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

/// Answers on `listener` until the task is aborted.
pub async fn serve(listener: TcpListener, tokens: Tokens) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok((mut stream, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            continue; // dropped: too many at once
        };
        let tokens = tokens.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let Ok(Some(head)) = tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await
            else {
                return;
            };
            let request = parse(&head);
            if let Request::Token { token, .. } = &request {
                crate::events::event("acme_challenge_request")
                    .field("challenge", "http-01")
                    .field("token", token)
                    .field("client", peer.ip())
                    .field("known", tokens.get(token).is_some())
                    .emit();
            }
            let reply = respond(&request, &tokens);
            let _ = tokio::time::timeout(READ_TIMEOUT, stream.write_all(&reply)).await;
            let _ = stream.shutdown().await;
        });
    }
}

/// The request head (through the blank line), or `None` past [`MAX_HEAD`] or at end of input.
async fn read_head(stream: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        head.extend_from_slice(buf.get(..n)?);
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            return Some(head);
        }
        if head.len() > MAX_HEAD {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic
    use super::*;

    #[test]
    fn request_lines() {
        let cases: &[(&[u8], Request<'_>)] = &[
            (
                b"GET /.well-known/acme-challenge/abc_DEF-1 HTTP/1.1\r\nHost: x\r\n\r\n",
                Request::Token {
                    token: "abc_DEF-1",
                    head_only: false,
                },
            ),
            (
                b"HEAD /.well-known/acme-challenge/abc HTTP/1.0\r\n\r\n",
                Request::Token {
                    token: "abc",
                    head_only: true,
                },
            ),
            (
                b"GET http://mail.example.test/.well-known/acme-challenge/t HTTP/1.1\r\n\r\n",
                Request::Token {
                    token: "t",
                    head_only: false,
                },
            ),
            (
                b"GET /.well-known/acme-challenge/../../etc/passwd HTTP/1.1\r\n\r\n",
                Request::Other,
            ),
            (
                b"GET /.well-known/acme-challenge/ HTTP/1.1\r\n\r\n",
                Request::Other,
            ),
            (b"GET / HTTP/1.1\r\n\r\n", Request::Other),
            (
                b"POST /.well-known/acme-challenge/abc HTTP/1.1\r\n\r\n",
                Request::Other,
            ),
            (b"GET /x\r\n\r\n", Request::Bad),
            (b"HELO there\r\n\r\n", Request::Bad),
            (b"\xff\xfe\r\n\r\n", Request::Bad),
        ];
        for (head, want) in cases {
            assert_eq!(&parse(head), want, "{:?}", String::from_utf8_lossy(head));
        }
    }

    #[test]
    fn responses() {
        let tokens = Tokens::default();
        tokens.insert("tok", "tok.thumb");
        let ok = String::from_utf8(respond(
            &Request::Token {
                token: "tok",
                head_only: false,
            },
            &tokens,
        ))
        .unwrap();
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.ends_with("\r\n\r\ntok.thumb"), "{ok}");
        assert!(ok.contains("Content-Length: 9\r\n"));
        let missing = String::from_utf8(respond(
            &Request::Token {
                token: "other",
                head_only: false,
            },
            &tokens,
        ))
        .unwrap();
        assert!(missing.starts_with("HTTP/1.1 404 "));
        let bad = String::from_utf8(respond(&Request::Bad, &tokens)).unwrap();
        assert!(bad.starts_with("HTTP/1.1 400 "));
    }
}
