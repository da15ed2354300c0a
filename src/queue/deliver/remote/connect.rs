//! Opening a plaintext SMTP connection with each step in its own time limit (RFC 5321 §4.5.3.2):
//! the TCP connect and the 220 greeting within `connect_timeout`, the EHLO reply within
//! `command_timeout`. A tarpitting host that accepts and never greets thus holds a delivery slot
//! for `connect_timeout` only, not for both limits together.
//!
//! lettre reads the greeting and sends EHLO in one call; the stream handed to it notes its first
//! write (the EHLO, sent once the greeting is in), which is where one limit ends and the other
//! starts. Implicit TLS (the handshake comes before the greeting) stays with lettre's own
//! connect, bounded by both limits together (see `client::open_once`).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream};
use lettre::transport::smtp::extension::ClientId;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Why no connection ready for EHLO's keywords came about.
#[derive(Debug)]
pub enum ConnectError {
    /// The TCP connection failed (refused, unreachable).
    Tcp(io::Error),
    /// The TCP connection was not made within the connect timeout.
    ConnectTimeout(Duration),
    /// Connected, but no (complete) greeting within the connect timeout.
    GreetingTimeout(Duration),
    /// No reply to EHLO within the command timeout.
    EhloTimeout(Duration),
    /// A negative greeting or EHLO reply, or the connection broke.
    Smtp(lettre::transport::smtp::Error),
}

/// The TCP stream under a plaintext connection, which our own STARTTLS (for DANE, whose
/// certificate check lettre cannot be given) takes out to run the handshake on.
pub type Slot = Arc<Mutex<Option<TcpStream>>>;

/// Connect to `addr`, read the greeting and say EHLO, each step within its limit.
pub async fn plain(
    addr: SocketAddr,
    client_id: &ClientId,
    connect: Duration,
    command: Duration,
) -> Result<(AsyncSmtpConnection, Slot), ConnectError> {
    let deadline = Instant::now() + connect;
    let tcp = match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(ConnectError::Tcp(e)),
        Err(_) => return Err(ConnectError::ConnectTimeout(connect)),
    };
    let wrote = Arc::new(Notify::new());
    let slot: Slot = Arc::new(Mutex::new(Some(tcp)));
    let stream = FirstWrite {
        inner: slot.clone(),
        wrote: Some(wrote.clone()),
    };
    let hello = AsyncSmtpConnection::connect_with_transport(Box::new(stream), client_id);
    tokio::pin!(hello);
    tokio::select! {
        r = &mut hello => return r.map(|c| (c, slot)).map_err(ConnectError::Smtp),
        () = wrote.notified() => {}
        () = tokio::time::sleep_until(deadline) => {
            return Err(ConnectError::GreetingTimeout(connect))
        }
    }
    match tokio::time::timeout(command, hello).await {
        Ok(r) => r.map(|c| (c, slot)).map_err(ConnectError::Smtp),
        Err(_) => Err(ConnectError::EhloTimeout(command)),
    }
}

/// A TCP stream that says when it is first written to (and can be taken out, see [`Slot`]).
#[derive(Debug)]
struct FirstWrite {
    inner: Slot,
    /// Notified (once) at the first write.
    wrote: Option<Arc<Notify>>,
}

fn taken() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the stream was taken for TLS")
}

/// Poll the stream in `slot`, if it is still there.
fn with<T>(
    slot: &Slot,
    f: impl FnOnce(Pin<&mut TcpStream>) -> Poll<io::Result<T>>,
) -> Poll<io::Result<T>> {
    let mut guard = match slot.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    match guard.as_mut() {
        Some(s) => f(Pin::new(s)),
        None => Poll::Ready(Err(taken())),
    }
}

impl AsyncTokioStream for FirstWrite {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        let guard = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        guard.as_ref().ok_or_else(taken)?.peer_addr()
    }
}

/// A TLS stream of our own handshake, handed to lettre in place of the plaintext one.
#[derive(Debug)]
pub struct Tls(pub tokio_rustls::client::TlsStream<TcpStream>);

impl AsyncTokioStream for Tls {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

impl AsyncRead for Tls {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Tls {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl AsyncRead for FirstWrite {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        with(&self.inner, |s| s.poll_read(cx, buf))
    }
}

impl AsyncWrite for FirstWrite {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(n) = self.wrote.take() {
            // A permit is stored when nobody waits yet, so the notice is never lost.
            n.notify_one();
        }
        with(&self.inner, |s| s.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        with(&self.inner, |s| s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        with(&self.inner, |s| s.poll_shutdown(cx))
    }
}
