//! The long-running queue runner of `serve` and `deliver --watch`: clean the spool when due,
//! scan the queue every `delivery.scan_interval`, and in between look every second at the
//! volumes of messages deferred for a full mail volume ([`super::space`]), delivering them as
//! soon as there is room.

use std::time::{Duration, Instant};

use super::space::POLL;
use super::{Deliverer, Outcome};
use crate::events::event;

impl Deliverer {
    /// Runs the queue until the process ends, a scan every `interval`.
    pub fn run_forever(&self, interval: Duration) -> ! {
        loop {
            self.run_interval(interval);
        }
    }

    /// One queue scan, then the wait until the next one (attempting messages waiting for room
    /// as it appears): one turn of [`Deliverer::run_forever`].
    pub fn run_interval(&self, interval: Duration) {
        self.clean_spool();
        if let Err(e) = self.run_once(false, None) {
            event("queue_run_failed").field("error", e).emit();
        }
        let next_scan = Instant::now() + interval;
        loop {
            let left = next_scan.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(POLL));
            self.retry_where_room();
        }
    }

    /// Attempts the messages waiting for a full volume whose volume has room now.
    fn retry_where_room(&self) {
        if !self.space.any() {
            return;
        }
        for id in self.space.ready() {
            match self.attempt_in_turn(&id, false) {
                // Another runner has it, or it is gone: not ours to wait for any more.
                Ok(Outcome::Skipped) => self.space.forget(&id),
                Ok(_) => {}
                Err(e) => {
                    self.space.forget(&id);
                    event("delivery_error")
                        .field("id", &id)
                        .field("error", e)
                        .emit();
                }
            }
        }
        self.close_idle();
    }
}
