//! The intake's last step: handing a queued message to delivery. Depending on the process that
//! accepted it, nothing (the queue runner takes it: `delivery.immediate = false`), one attempt
//! right away on the accepting thread (`postern sendmail`, the `collect` command, notifications
//! sent from a delivery attempt), or a request to the process's immediate-delivery worker
//! (`serve` and the daemons).
//!
//! The worker delivers in the same process right after a message is stored (no waiting for
//! cron). Bounded: at most `delivery.concurrency` at once, shared with the queue runner of the
//! same process ([`Deliverer::attempt_in_turn`]); when the channel is full the message simply
//! waits for the next queue run.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, Semaphore};

use crate::events::event;
use crate::queue::deliver::Deliverer;
use crate::queue::spool::QueueId;

/// What happens to a queued message right after the intake accepted it.
#[derive(Clone)]
pub enum Handoff {
    /// Nothing: the queue runner takes it (`delivery.immediate = false`).
    QueueRunner,
    /// One delivery attempt right away, on the accepting thread.
    Attempt,
    /// A request to the process's immediate-delivery worker.
    Worker(Immediate),
}

impl Handoff {
    /// Whether an attempt happens at once (then local recipients may be delivered before the
    /// message is acknowledged, see [`super::local`]).
    pub fn immediate(&self) -> bool {
        match self {
            Handoff::QueueRunner => false,
            Handoff::Attempt => true,
            Handoff::Worker(i) => i.enabled,
        }
    }

    /// Hand `id` over without blocking: `Some(id)` when an attempt must run on this thread
    /// (blocking file and network work: see [`attempt`]).
    pub fn submit(&self, id: QueueId) -> Option<QueueId> {
        match self {
            Handoff::QueueRunner => None,
            Handoff::Attempt => Some(id),
            Handoff::Worker(i) => {
                i.submit(id);
                None
            }
        }
    }
}

/// One delivery attempt on `id` now (blocking); a failure is logged, the queue runner retries.
pub fn attempt(d: &Deliverer, id: &QueueId) {
    if let Err(e) = d.attempt(id, true) {
        event("delivery_error")
            .field("id", id)
            .field("error", e)
            .emit();
    }
}

/// Messages waiting for their immediate attempt.
const BACKLOG: usize = 10_000;

/// Handle to the immediate-delivery worker.
#[derive(Clone)]
pub struct Immediate {
    tx: mpsc::Sender<QueueId>,
    /// Submitted and not yet finished.
    pending: Arc<AtomicUsize>,
    /// `delivery.immediate`: when off, messages wait for the queue runner.
    enabled: bool,
}

impl Immediate {
    /// Start the worker on the current tokio runtime.
    pub fn start(deliverer: Arc<Deliverer>) -> Immediate {
        let (tx, mut rx) = mpsc::channel::<QueueId>(BACKLOG);
        let enabled = deliverer.config.delivery.immediate;
        let workers = deliverer.config.delivery.concurrency.max(1);
        let sem = Arc::new(Semaphore::new(workers));
        let pending = Arc::new(AtomicUsize::new(0));
        let done = pending.clone();
        tokio::spawn(async move {
            while let Some(id) = rx.recv().await {
                let Ok(permit) = sem.clone().acquire_owned().await else {
                    return;
                };
                let d = deliverer.clone();
                let done = done.clone();
                tokio::task::spawn_blocking(move || {
                    if let Err(e) = d.attempt_in_turn(&id, true) {
                        event("delivery_error")
                            .field("id", &id)
                            .field("error", e)
                            .emit();
                    }
                    drop(permit);
                    done.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Immediate {
            tx,
            pending,
            enabled,
        }
    }

    /// Ask for an immediate attempt on `id` (dropped when the backlog is full: cron catches it).
    pub fn submit(&self, id: QueueId) {
        if !self.enabled {
            return;
        }
        self.pending.fetch_add(1, Ordering::SeqCst);
        if self.tx.try_send(id).is_err() {
            self.pending.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Wait until nothing is queued or being delivered (inetd mode, before exiting).
    pub async fn drain(&self) {
        for _ in 0..600 {
            if self.pending.load(Ordering::SeqCst) == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}
