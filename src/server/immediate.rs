//! Immediate delivery: right after a message is stored, a worker in the same process delivers it
//! (no waiting for cron). Bounded: at most `delivery.concurrency` at once, shared with the queue
//! runner of the same process ([`Deliverer::attempt_in_turn`]); when the channel is full the
//! message simply waits for the next queue run.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, Semaphore};

use crate::deliver::Deliverer;
use crate::spool::QueueId;

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
                        crate::events::event("delivery_error")
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
