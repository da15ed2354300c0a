//! Listeners and connections: standalone (`--listen`), systemd (`LISTEN_FDS`), inetd (stdin).
//!
//! Protocol code sees a [`Conn`]: a boxed byte stream (plain TCP, TLS, or stdin/stdout) and the
//! peer's address. The accept loop backs off on accept errors; caps are the server's business.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};

/// A byte stream a protocol session runs on.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One client connection.
pub struct Conn {
    pub io: Box<dyn Io>,
    pub peer: Option<SocketAddr>,
    pub local: Option<SocketAddr>,
    /// TLS is active (implicit TLS done, or STARTTLS completed).
    pub tls: bool,
    /// The TCP socket under `io`, when it is one (for [`quick_ack`]); owned by `io`.
    pub tcp_fd: Option<RawFd>,
}

/// Acknowledges what the peer sent at once instead of after the kernel's delayed-ACK timer
/// (`TCP_QUICKACK`, which the kernel clears again by itself). Called after each read: a
/// client that writes a request in two pieces with Nagle's algorithm on — Python's imaplib
/// sends an APPEND's literal and then its CRLF — would otherwise wait up to 40 ms for the
/// ACK of the first piece before sending the second.
pub fn quick_ack(fd: Option<RawFd>) {
    if let Some(fd) = fd {
        let on: libc::c_int = 1;
        // SAFETY: setsockopt reads one c_int from a valid pointer; `fd` is the live socket
        // owned by the connection being read (a failure changes nothing).
        unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_QUICKACK,
                (&raw const on).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
}

impl Conn {
    pub fn peer_ip(&self) -> Option<IpAddr> {
        self.peer.map(|p| p.ip())
    }
}

/// Bind a standalone listener.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}

/// Listening sockets passed by systemd (`Accept=no`), if `LISTEN_FDS` names this process.
pub fn systemd_listeners() -> std::io::Result<Vec<TcpListener>> {
    let fds = sd_notify::listen_fds().map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut out = Vec::new();
    for fd in fds {
        // SAFETY: systemd passes these descriptors to this process for it to own; each is used
        // exactly once here.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let std_listener = std::net::TcpListener::from(owned);
        std_listener.set_nonblocking(true)?;
        out.push(TcpListener::from_std(std_listener)?);
    }
    Ok(out)
}

/// Whether systemd passed listening sockets to this process.
pub fn has_systemd_listeners() -> bool {
    let pid_ok = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|p| p == std::process::id());
    pid_ok && std::env::var("LISTEN_FDS").is_ok_and(|n| n.parse::<u32>().is_ok_and(|n| n > 0))
}

/// The connection on stdin/stdout (inetd, systemd `Accept=yes`). The peer comes from the socket
/// when stdin is one, else from `TCPREMOTEIP`/`TCPREMOTEPORT` (ucspi-tcp), `REMOTE_HOST`,
/// `REMOTE_ADDR` or `SOCAT_PEERADDR`/`SOCAT_PEERPORT` (socat `EXEC:`).
pub fn inetd_conn() -> std::io::Result<Conn> {
    let stdin = std::io::stdin();
    let fd = stdin.as_fd().try_clone_to_owned()?;
    let std_stream = std::net::TcpStream::from(fd);
    if let Ok(peer) = std_stream.peer_addr() {
        let local = std_stream.local_addr().ok();
        std_stream.set_nonblocking(true)?;
        let stream = TcpStream::from_std(std_stream)?;
        let _ = stream.set_nodelay(true);
        let tcp_fd = Some(stream.as_raw_fd());
        return Ok(Conn {
            io: Box::new(stream),
            peer: Some(peer),
            local,
            tls: false,
            tcp_fd,
        });
    }
    // A Unix socket (socat's EXEC, a socketpair): one bidirectional stream, so that TLS can
    // run on it (a TLS handshake over tokio's stdin/stdout pair fails on their blocking flush).
    let unix = std::os::unix::net::UnixStream::from(OwnedFd::from(std_stream));
    if unix.local_addr().is_ok() {
        unix.set_nonblocking(true)?;
        return Ok(Conn {
            io: Box::new(tokio::net::UnixStream::from_std(unix)?),
            peer: env_peer(),
            local: None,
            tls: false,
            tcp_fd: None,
        });
    }
    // Not a socket (a pipe, a terminal): use stdin/stdout as they are.
    drop(unix);
    let io = tokio::io::join(tokio::io::stdin(), tokio::io::stdout());
    Ok(Conn {
        io: Box::new(io),
        peer: env_peer(),
        local: None,
        tls: false,
        tcp_fd: None,
    })
}

fn env_peer() -> Option<SocketAddr> {
    let ip: IpAddr = [
        "TCPREMOTEIP",
        "REMOTE_HOST",
        "REMOTE_ADDR",
        "SOCAT_PEERADDR",
    ]
    .iter()
    .find_map(|v| std::env::var(v).ok().and_then(|s| s.parse().ok()))?;
    let port = ["TCPREMOTEPORT", "SOCAT_PEERPORT"]
        .iter()
        .find_map(|v| std::env::var(v).ok().and_then(|p| p.parse().ok()))
        .unwrap_or(0);
    Some(SocketAddr::new(ip, port))
}

/// Accept connections forever, handing each to `dispatch` (which decides whether it gets a
/// session); backs off when accepting fails (out of descriptors, say).
pub async fn accept_loop<F>(listener: TcpListener, dispatch: F)
where
    F: Fn(Conn) + Send + Sync + 'static,
{
    let mut backoff = Duration::from_millis(5);
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(5);
                let _ = stream.set_nodelay(true);
                let local = stream.local_addr().ok();
                let tcp_fd = Some(stream.as_raw_fd());
                dispatch(Conn {
                    io: Box::new(stream),
                    peer: Some(peer),
                    local,
                    tls: false,
                    tcp_fd,
                });
            }
            Err(e) => {
                crate::events::event("accept_error")
                    .field("error", e)
                    .emit();
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}
