//! The intake's last step: handing a queued message to delivery. Depending on the process that
//! accepted it, nothing (the queue runner takes it: `delivery.immediate = false`), one attempt
//! right away on the accepting thread (`postern sendmail`, the `collect` command, notifications
//! sent from a delivery attempt), or a request to the process's immediate-delivery worker
//! (`serve` and the daemons).
//!
//! The worker delivers in the same process right after a message is stored (no waiting for
//! cron). Bounded: at most `delivery.concurrency` attempts at once, each also taking a slot
//! shared with the queue runner of the same process ([`Deliverer::attempt_in_turn`]); when the
//! backlog is full the message simply waits for the next queue run.
//!
//! The worker is a queue and up to `delivery.concurrency` threads of the blocking pool that
//! drain it. The thread that wrote a message becomes one of them when one is missing: it
//! delivers its own message once the client has its answer, then whatever is waiting. Under
//! load the draining threads find the next message waiting, so a message crosses no thread to
//! reach delivery (each crossing is a wake-up and two thread switches).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

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

    /// Hand `id` over on the thread that wrote it (blocking: the pool's thread of the write),
    /// before the writer has its answer. [`Handoff::Attempt`] runs its attempt here and now.
    /// A worker's attempt stays on this same thread when the worker is short of a draining
    /// thread (`Some`: run it once the answer is out, [`Claimed::run`]), which spares the
    /// message the crossing to another thread; otherwise it waits in the worker's queue for
    /// the draining threads at work.
    pub(super) fn after_write(&self, d: &Arc<Deliverer>, id: QueueId) -> Option<Claimed> {
        match self {
            Handoff::QueueRunner => None,
            Handoff::Attempt => {
                attempt(d, &id);
                None
            }
            Handoff::Worker(i) => i.claim(id),
        }
    }
}

/// The writing thread's turn as one of the worker's draining threads: its own message first.
pub(super) struct Claimed {
    worker: Arc<Worker>,
    id: QueueId,
}

impl Claimed {
    /// The attempt on the message (blocking), then the others waiting.
    pub(super) fn run(self) {
        self.worker.drain_from(self.id);
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
    worker: Arc<Worker>,
    /// `delivery.immediate`: when off, messages wait for the queue runner.
    enabled: bool,
}

/// The worker's queue and its draining threads.
struct Worker {
    deliverer: Arc<Deliverer>,
    /// The process's runtime, whose blocking pool lends the draining threads.
    runtime: tokio::runtime::Handle,
    state: Mutex<Waiting>,
    /// At most this many draining threads (`delivery.concurrency`).
    threads: usize,
    /// Submitted and not yet finished.
    pending: AtomicUsize,
}

struct Waiting {
    queue: VecDeque<QueueId>,
    /// Draining threads at work.
    draining: usize,
}

impl Worker {
    /// Queue `id`, or `Some(id)` when a draining thread is missing: the caller then starts one
    /// with it ([`Worker::drain_from`]).
    fn enqueue(&self, id: QueueId) -> Option<QueueId> {
        let Ok(mut w) = self.state.lock() else {
            return None;
        };
        if w.draining < self.threads {
            w.draining += 1;
            self.pending.fetch_add(1, Ordering::SeqCst);
            return Some(id);
        }
        if w.queue.len() < BACKLOG {
            w.queue.push_back(id);
            self.pending.fetch_add(1, Ordering::SeqCst);
        }
        None
    }

    /// Attempt `first`, then each message waiting, until the queue is empty (blocking).
    fn drain_from(&self, first: QueueId) {
        let _unwinding = Unwinding(self);
        let mut next = Some(first);
        while let Some(id) = next {
            if let Err(e) = self.deliverer.attempt_in_turn(&id, true) {
                event("delivery_error")
                    .field("id", &id)
                    .field("error", e)
                    .emit();
            }
            self.pending.fetch_sub(1, Ordering::SeqCst);
            next = match self.state.lock() {
                Ok(mut w) => {
                    let next = w.queue.pop_front();
                    if next.is_none() {
                        w.draining = w.draining.saturating_sub(1);
                    }
                    next
                }
                Err(_) => None,
            };
        }
    }
}

/// A draining thread that panics gives its place back (its message is the queue runner's).
struct Unwinding<'a>(&'a Worker);

impl Drop for Unwinding<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.pending.fetch_sub(1, Ordering::SeqCst);
            if let Ok(mut w) = self.0.state.lock() {
                w.draining = w.draining.saturating_sub(1);
            }
        }
    }
}

impl Immediate {
    /// Start the worker on the current tokio runtime.
    pub fn start(deliverer: Arc<Deliverer>) -> Immediate {
        let enabled = deliverer.config.delivery.immediate;
        let threads = deliverer.config.delivery.concurrency.max(1);
        Immediate {
            worker: Arc::new(Worker {
                deliverer,
                runtime: tokio::runtime::Handle::current(),
                state: Mutex::new(Waiting {
                    queue: VecDeque::new(),
                    draining: 0,
                }),
                threads,
                pending: AtomicUsize::new(0),
            }),
            enabled,
        }
    }

    /// `id` for the calling (writing, blocking) thread to deliver when a draining thread is
    /// missing; otherwise it waits in the queue ([`Immediate::submit`]).
    fn claim(&self, id: QueueId) -> Option<Claimed> {
        if !self.enabled {
            return None;
        }
        let id = self.worker.enqueue(id)?;
        Some(Claimed {
            worker: self.worker.clone(),
            id,
        })
    }

    /// Ask for an immediate attempt on `id` (dropped when the backlog is full: cron catches
    /// it). Does not block: a missing draining thread is started on the blocking pool.
    pub fn submit(&self, id: QueueId) {
        if !self.enabled {
            return;
        }
        if let Some(id) = self.worker.enqueue(id) {
            let worker = self.worker.clone();
            self.worker
                .runtime
                .spawn_blocking(move || worker.drain_from(id));
        }
    }

    /// Wait until nothing is queued or being delivered (inetd mode, before exiting).
    pub async fn drain(&self) {
        for _ in 0..600 {
            if self.worker.pending.load(Ordering::SeqCst) == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}
