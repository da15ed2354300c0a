//! One client connection as the protocol loops drive it: reads against a deadline, writes
//! against a stall timeout, STARTTLS, and blocking work that notices a client hanging up.
//!
//! **Deadlines.** Input comes in *units*: a command line, or a command with everything that
//! belongs to it (DATA or BDAT content, an IMAP literal, a SASL exchange line). The loop calls
//! [`Link::begin_unit`] when it waits for a new command; from then on the client has `patience`
//! plus one second per `min_rate` bytes it has sent in this unit. A client sending a byte a second
//! therefore cannot hold a connection past `patience`, whatever its per-read pace, while a large
//! message at a reasonable rate is never cut off.
//!
//! **Writes** fail when the client takes nothing for `write_stall` (a client that pipelines and
//! never reads would otherwise park the session in a write forever). Progress resets the timer,
//! so a slow but reading client of a large message is served.
//!
//! **Blocking work** ([`Link::blocking`]) runs on tokio's blocking pool while the link keeps
//! reading: bytes that arrive are kept for the next [`Link::read`], and when the client hangs up
//! [`Link::cancel`] is set, so a queued password check for a vanished client is skipped.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use crate::config::Limits;
use crate::driver::compress::Deflate;
use crate::driver::net::{Conn, Io};

/// Bytes kept from the client while blocking work runs; beyond this the link stops reading until
/// the work is done.
const STASH_LIMIT: usize = 64 * 1024;

/// The read buffer of a connection.
const READ_BUFFER: usize = 64 * 1024;
/// Most inflated bytes one read of a compressed connection hands out.
const INFLATE_CHUNK: usize = 256 * 1024;

/// The longest a client may take for a TLS handshake (and never more than `idle_timeout`).
pub const TLS_HANDSHAKE_LIMIT: Duration = Duration::from_secs(30);

/// The time limits of a connection (from `[limits]`).
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Time for a unit of input before its size is counted (`idle_timeout`).
    pub patience: Duration,
    /// Bytes per second a unit must keep up beyond that (`min_data_rate`; 0: no allowance).
    pub min_rate: u64,
    /// A write that makes no progress for this long fails (`write_timeout`).
    pub write_stall: Duration,
}

impl Timing {
    pub fn from_limits(limits: &Limits) -> Timing {
        Timing {
            patience: limits.idle_timeout.duration(),
            min_rate: limits.min_data_rate.0,
            write_stall: limits.write_timeout.duration(),
        }
    }
}

/// What a read brought.
pub enum Input<'a> {
    /// Bytes from the client.
    Data(&'a [u8]),
    /// The client closed the connection (or it broke).
    Closed,
    /// The unit's deadline passed.
    TimedOut,
}

/// [`Input`] detached from the link's buffer.
pub enum Owned {
    Data(Vec<u8>),
    Closed,
    TimedOut,
}

impl Input<'_> {
    pub fn into_owned(self) -> Owned {
        match self {
            Input::Data(d) => Owned::Data(d.to_vec()),
            Input::Closed => Owned::Closed,
            Input::TimedOut => Owned::TimedOut,
        }
    }
}

/// The unit of input being read.
struct Unit {
    start: Instant,
    patience: Duration,
    bytes: u64,
}

impl Unit {
    fn deadline(&self, min_rate: u64) -> Instant {
        let earned = if min_rate == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(self.bytes as f64 / min_rate as f64)
        };
        self.start + self.patience + earned
    }
}

/// A client connection with its limits.
pub struct Link {
    io: Box<dyn Io>,
    pub peer: Option<SocketAddr>,
    /// TLS is active (implicit, or STARTTLS done).
    pub tls: bool,
    /// The TCP socket under `io`, for [`super::net::quick_ack`].
    tcp_fd: Option<std::os::fd::RawFd>,
    timing: Timing,
    unit: Unit,
    /// The read buffer, allocated at the first read.
    buf: Vec<u8>,
    /// Bytes read while blocking work ran, not yet handed out.
    stash: Vec<u8>,
    /// How much of `stash` is handed out already.
    stash_pos: usize,
    /// The client hung up while blocking work ran.
    gone: bool,
    /// Set when the client is gone: blocking work checks it to skip what is now pointless.
    cancel: Arc<AtomicBool>,
    /// Turns `true` when the server shuts down.
    shutdown: Option<tokio::sync::watch::Receiver<bool>>,
    /// COMPRESS=DEFLATE is active: everything read is inflated, everything written deflated.
    deflate: Option<Box<Deflate>>,
}

impl Link {
    pub fn new(conn: Conn, timing: Timing) -> Link {
        Link {
            io: conn.io,
            peer: conn.peer,
            tls: conn.tls,
            tcp_fd: conn.tcp_fd,
            timing,
            unit: Unit {
                start: Instant::now(),
                patience: timing.patience,
                bytes: 0,
            },
            buf: Vec::new(),
            stash: Vec::new(),
            stash_pos: 0,
            gone: false,
            cancel: Arc::new(AtomicBool::new(false)),
            shutdown: None,
            deflate: None,
        }
    }

    /// Lets the link see the server's shutdown ([`Link::shutdown`]).
    pub fn watch_shutdown(&mut self, shutdown: tokio::sync::watch::Receiver<bool>) {
        self.shutdown = Some(shutdown);
    }

    /// A future that completes when the server shuts down (never, when not watched). It does
    /// not borrow the link, so it can be raced against a read.
    pub fn shutdown(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let watch = self.shutdown.clone();
        async move {
            match watch {
                Some(mut w) => {
                    // A dropped sender means the process is going away: that is a shutdown too.
                    let _ = w.wait_for(|down| *down).await;
                }
                None => std::future::pending().await,
            }
        }
    }

    /// Whether the server is shutting down now.
    pub fn shutting_down(&self) -> bool {
        self.shutdown.as_ref().is_some_and(|w| *w.borrow())
    }

    pub fn peer_ip(&self) -> Option<IpAddr> {
        self.peer.map(|p| p.ip())
    }

    /// The flag set once the client is known to be gone.
    pub fn cancel(&self) -> Arc<AtomicBool> {
        self.cancel.clone()
    }

    /// The default patience for a unit (`idle_timeout`).
    pub fn patience(&self) -> Duration {
        self.timing.patience
    }

    /// A new unit of input starts now (the loop waits for a new command).
    pub fn begin_unit(&mut self, patience: Duration) {
        self.unit = Unit {
            start: Instant::now(),
            patience,
            bytes: 0,
        };
    }

    /// Reads what the client sends next, within the current unit's deadline.
    pub async fn read(&mut self) -> Input<'_> {
        if self.deflate.is_some() {
            return self.read_inflated().await;
        }
        if self.stash_pos < self.stash.len() {
            let from = self.stash_pos;
            self.stash_pos = self.stash.len();
            return Input::Data(self.stash.get(from..).unwrap_or_default());
        }
        self.stash.clear();
        self.stash_pos = 0;
        if self.gone {
            return Input::Closed;
        }
        self.ensure_buffer();
        let deadline = self.unit.deadline(self.timing.min_rate);
        match tokio::time::timeout_at(deadline, self.io.read(&mut self.buf)).await {
            Err(_) => Input::TimedOut,
            Ok(Ok(0)) | Ok(Err(_)) => {
                self.mark_gone();
                Input::Closed
            }
            Ok(Ok(n)) => {
                super::net::quick_ack(self.tcp_fd);
                self.unit.bytes += n as u64;
                Input::Data(self.buf.get(..n).unwrap_or_default())
            }
        }
    }

    /// [`Link::read`] on a compressed connection: raw bytes (and those kept while blocking work
    /// ran) go into the inflater, what comes out is handed on in bounded chunks.
    async fn read_inflated(&mut self) -> Input<'_> {
        self.ensure_buffer();
        loop {
            let Some(d) = self.deflate.as_mut() else {
                return Input::Closed;
            };
            if self.stash_pos < self.stash.len() {
                let raw = self.stash.get(self.stash_pos..).unwrap_or_default();
                if d.feed(raw).is_err() {
                    self.gone = true;
                    self.cancel.store(true, Ordering::SeqCst);
                    return Input::Closed;
                }
            }
            self.stash.clear();
            self.stash_pos = 0;
            match d.inflate(INFLATE_CHUNK) {
                Err(_) => {
                    self.gone = true;
                    self.cancel.store(true, Ordering::SeqCst);
                    return Input::Closed;
                }
                Ok(out) if !out.is_empty() => {
                    // Handed out from the stash, marked as taken.
                    self.stash = out;
                    self.stash_pos = self.stash.len();
                    return Input::Data(&self.stash);
                }
                Ok(_) => {}
            }
            if self.gone {
                return Input::Closed;
            }
            let deadline = self.unit.deadline(self.timing.min_rate);
            match tokio::time::timeout_at(deadline, self.io.read(&mut self.buf)).await {
                Err(_) => return Input::TimedOut,
                Ok(Ok(0)) | Ok(Err(_)) => {
                    self.gone = true;
                    self.cancel.store(true, Ordering::SeqCst);
                    return Input::Closed;
                }
                Ok(Ok(n)) => {
                    self.unit.bytes += n as u64;
                    let raw = self.buf.get(..n).unwrap_or_default();
                    if d.feed(raw).is_err() {
                        self.gone = true;
                        self.cancel.store(true, Ordering::SeqCst);
                        return Input::Closed;
                    }
                }
            }
        }
    }

    /// Starts COMPRESS=DEFLATE (RFC 4978): from now on both directions are deflated. What was
    /// written before (the tagged OK) is flushed first, uncompressed.
    pub async fn start_compress(&mut self) -> std::io::Result<()> {
        self.flush().await?;
        self.deflate = Some(Box::new(Deflate::new()));
        Ok(())
    }

    /// Whether COMPRESS=DEFLATE is active.
    pub fn compressed(&self) -> bool {
        self.deflate.is_some()
    }

    /// Writes all of `bytes` (deflated when compression is on); fails when the client takes
    /// nothing for the write stall limit.
    pub async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self.deflate.as_mut() {
            Some(d) => {
                let wire = d.deflate(bytes, false)?;
                self.write_raw(&wire).await
            }
            None => self.write_raw(bytes).await,
        }
    }

    async fn write_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let mut rest = bytes;
        while !rest.is_empty() {
            match tokio::time::timeout(self.timing.write_stall, self.io.write(rest)).await {
                Err(_) => return Err(stalled()),
                Ok(Err(e)) => return Err(e),
                Ok(Ok(0)) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(Ok(n)) => rest = rest.get(n..).unwrap_or_default(),
            }
        }
        Ok(())
    }

    /// Pushes buffered output (a deflate sync flush, TLS records) to the client, within the
    /// write stall limit.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        if let Some(d) = self.deflate.as_mut() {
            let wire = d.deflate(&[], true)?;
            self.write_raw(&wire).await?;
        }
        tokio::time::timeout(self.timing.write_stall, self.io.flush())
            .await
            .map_err(|_| stalled())?
    }

    /// Writes `bytes` and flushes.
    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if !bytes.is_empty() {
            self.write(bytes).await?;
        }
        self.flush().await
    }

    /// A last word before closing (a timeout reply, a BYE): best effort, bounded.
    pub async fn say_last(&mut self, bytes: &[u8]) {
        let bounded = Duration::from_secs(2).min(self.timing.write_stall);
        let wire = match self.deflate.as_mut() {
            Some(d) => match d.deflate(bytes, true) {
                Ok(w) => w,
                Err(_) => return,
            },
            None => bytes.to_vec(),
        };
        let _ = tokio::time::timeout(bounded, async {
            self.io.write_all(&wire).await?;
            self.io.flush().await
        })
        .await;
    }

    /// Closes the connection (TLS close_notify, then FIN), bounded.
    pub async fn close(&mut self) {
        let bounded = Duration::from_secs(2).min(self.timing.write_stall);
        let _ = tokio::time::timeout(bounded, async {
            let _ = self.io.flush().await;
            self.io.shutdown().await
        })
        .await;
    }

    /// Runs the TLS handshake on this connection. Anything the client pipelined behind the
    /// STARTTLS command in plaintext is discarded (RFC 3207 §4.2, RFC 2595 §4).
    pub async fn start_tls(&mut self, acceptor: &TlsAcceptor) -> Result<(), String> {
        self.flush().await.map_err(|e| e.to_string())?;
        self.stash.clear();
        self.stash_pos = 0;
        let plain = std::mem::replace(
            &mut self.io,
            Box::new(tokio::io::join(tokio::io::empty(), tokio::io::sink())),
        );
        let limit = TLS_HANDSHAKE_LIMIT.min(self.timing.patience);
        match tokio::time::timeout(limit, acceptor.accept(plain)).await {
            Ok(Ok(tls)) => {
                self.io = Box::new(tls);
                self.tls = true;
                Ok(())
            }
            Ok(Err(e)) => Err(format!("TLS handshake failed: {e}")),
            Err(_) => Err("TLS handshake timed out".into()),
        }
    }

    /// Runs `work` on the blocking pool. Meanwhile the client's bytes are kept for the next
    /// [`Link::read`], and if the client hangs up the cancel flag is set (the work still
    /// finishes: its result may be a reply nobody reads, or an event to log).
    pub async fn blocking<T: Send + 'static>(
        &mut self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, String> {
        self.ensure_buffer();
        let mut task = tokio::task::spawn_blocking(work);
        loop {
            if self.gone || self.stash.len() >= STASH_LIMIT {
                return (&mut task)
                    .await
                    .map_err(|e| format!("internal error: {e}"));
            }
            tokio::select! {
                done = &mut task => return done.map_err(|e| format!("internal error: {e}")),
                read = self.io.read(&mut self.buf) => match read {
                    Ok(0) | Err(_) => self.mark_gone(),
                    Ok(n) => {
                        super::net::quick_ack(self.tcp_fd);
                        self.unit.bytes += n as u64;
                        self.stash.extend_from_slice(self.buf.get(..n).unwrap_or_default());
                    }
                },
            }
        }
    }

    fn ensure_buffer(&mut self) {
        if self.buf.is_empty() {
            self.buf = vec![0u8; READ_BUFFER];
        }
    }

    fn mark_gone(&mut self) {
        self.gone = true;
        self.cancel.store(true, Ordering::SeqCst);
    }
}

fn stalled() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "client accepted no data within the write timeout",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(patience_ms: u64, min_rate: u64, stall_ms: u64) -> Timing {
        Timing {
            patience: Duration::from_millis(patience_ms),
            min_rate,
            write_stall: Duration::from_millis(stall_ms),
        }
    }

    fn link(io: tokio::io::DuplexStream, t: Timing) -> Link {
        Link::new(
            Conn {
                io: Box::new(io),
                peer: None,
                local: None,
                tls: false,
                tcp_fd: None,
            },
            t,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickling_unit_times_out_at_its_patience() {
        let (client, server) = tokio::io::duplex(1024);
        let mut l = link(server, timing(10_000, 1024, 1000));
        let feeder = tokio::spawn(async move {
            let mut client = client;
            for _ in 0..40 {
                if client.write_all(b"x").await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            client
        });
        l.begin_unit(Duration::from_secs(10));
        let start = Instant::now();
        let mut got = 0;
        loop {
            match l.read().await {
                Input::Data(d) => got += d.len(),
                Input::TimedOut => break,
                Input::Closed => panic!("closed"),
            }
        }
        let took = start.elapsed();
        assert!(
            took >= Duration::from_secs(10) && took < Duration::from_secs(11),
            "{took:?}"
        );
        assert!((9..=11).contains(&got), "{got}");
        drop(feeder);
    }

    #[tokio::test(start_paused = true)]
    async fn a_unit_earns_time_for_its_size() {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let mut l = link(server, timing(1000, 1000, 1000));
        l.begin_unit(Duration::from_secs(1));
        client.write_all(&[b'a'; 5000]).await.unwrap();
        let mut got = 0;
        while got < 5000 {
            match l.read().await {
                Input::Data(d) => got += d.len(),
                _ => panic!("early end"),
            }
        }
        // 1 s of patience plus 5 s earned by 5,000 bytes at 1,000 B/s.
        let start = Instant::now();
        assert!(matches!(l.read().await, Input::TimedOut));
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(5900), "{waited:?}");
        assert!(waited <= Duration::from_millis(6100), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_to_a_client_that_never_reads_fails_after_the_stall_limit() {
        let (_client, server) = tokio::io::duplex(1024);
        let mut l = link(server, timing(1000, 0, 3000));
        let start = Instant::now();
        let err = l.write(&[0u8; 100_000]).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        let took = start.elapsed();
        assert!(
            took >= Duration::from_secs(3) && took < Duration::from_secs(4),
            "{took:?}"
        );
    }

    #[tokio::test]
    async fn blocking_work_keeps_input_and_notices_a_hang_up() {
        let (mut client, server) = tokio::io::duplex(1024);
        let mut l = link(server, timing(5000, 0, 1000));
        let cancel = l.cancel();
        client.write_all(b"NOOP\r\n").await.unwrap();
        drop(client);
        let seen = l
            .blocking(move || {
                for _ in 0..200 {
                    if cancel.load(Ordering::SeqCst) {
                        return true;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                false
            })
            .await
            .unwrap();
        assert!(seen, "the work saw the client go");
        match l.read().await {
            Input::Data(d) => assert_eq!(d, b"NOOP\r\n"),
            _ => panic!("stashed input lost"),
        }
        assert!(matches!(l.read().await, Input::Closed));
    }
}
