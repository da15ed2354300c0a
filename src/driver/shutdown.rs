//! Graceful shutdown of a daemon with listeners (`serve`, standalone and systemd `Accept=no`).
//!
//! On SIGTERM or SIGINT: systemd is told `STOPPING=1`, the listeners stop accepting (the kernel
//! refuses new connections), every session at rest gets its protocol's goodbye (`421 4.3.2`,
//! `* BYE`, `-ERR [SYS/TEMP]`) through the shared shutdown flag, sessions in the middle of
//! something (a DATA transfer, a FETCH) finish it first, and the process waits for them and for
//! the immediate deliveries of what it accepted, at most [`GRACE`]. `READY=1` is sent once the
//! listeners are up.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::{AbortHandle, JoinHandle};

use super::Shared;
use crate::events::event;

/// The longest the process waits for sessions and deliveries after a shutdown signal.
pub const GRACE: Duration = Duration::from_secs(30);

/// Sessions running in the process.
#[derive(Default, Clone)]
pub struct Sessions(Arc<AtomicUsize>);

/// One session, counted while it lives.
pub struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Sessions {
    /// Counts a session until the returned guard is dropped.
    pub fn enter(&self) -> Counted {
        self.0.fetch_add(1, Ordering::SeqCst);
        Counted(self.0.clone())
    }

    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Resolves with the signal's name at SIGTERM or SIGINT (never, when they cannot be caught).
pub async fn signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "TERM",
        _ = int.recv() => "INT",
    }
}

/// Tells systemd the daemon is ready (nothing happens outside systemd).
pub fn ready() {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
}

/// Runs the shutdown after `signal`: stop accepting, say goodbye to sessions at rest, wait for
/// the rest and for immediate deliveries, at most [`GRACE`].
pub async fn graceful(
    shared: &Shared,
    accepting: Vec<AbortHandle>,
    stopped: &mut JoinHandle<()>,
    signal: &str,
) {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    event("shutdown")
        .field("signal", signal)
        .field("sessions", shared.sessions.count())
        .emit();
    for task in &accepting {
        task.abort();
    }
    if accepting.is_empty() {
        // `serve` without listeners: the waiter waits for nothing but this.
        stopped.abort();
    }
    let _ = stopped.await;
    shared.shutdown.send_replace(true);
    let deadline = tokio::time::Instant::now() + GRACE;
    while shared.sessions.count() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = tokio::time::timeout_at(deadline, shared.immediate.drain()).await;
    event("stopped")
        .field("sessions_left", shared.sessions.count())
        .emit();
}
