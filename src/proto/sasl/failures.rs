//! The failed-login policy of one connection: a growing delay, then the connection is closed.

use std::time::Duration;

/// Counts failed logins on one connection (pure: the caller sleeps and closes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthFailures {
    count: u32,
    limit: u32,
    base_delay: Duration,
    max_delay: Duration,
}

/// What to do after a failed login.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailureVerdict {
    /// Wait this long before sending the failure reply.
    pub delay: Duration,
    /// After the reply, close the connection (the limit is reached).
    pub close: bool,
}

impl Default for AuthFailures {
    fn default() -> Self {
        AuthFailures::new(AuthFailures::DEFAULT_LIMIT)
    }
}

impl AuthFailures {
    /// Failures allowed on one connection before it is closed.
    pub const DEFAULT_LIMIT: u32 = 3;
    /// Delay after the first failure; it doubles with each further failure.
    pub const DEFAULT_BASE_DELAY: Duration = Duration::from_secs(1);
    /// The delay never grows beyond this.
    pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(16);

    /// A policy closing the connection at the `limit`-th failure (at least 1), with the default
    /// delays (1 s, 2 s, 4 s … up to 16 s).
    pub fn new(limit: u32) -> Self {
        Self::with_delays(limit, Self::DEFAULT_BASE_DELAY, Self::DEFAULT_MAX_DELAY)
    }

    /// A policy with explicit delays (tests and demo setups use zero).
    pub fn with_delays(limit: u32, base_delay: Duration, max_delay: Duration) -> Self {
        AuthFailures {
            count: 0,
            limit: limit.max(1),
            base_delay,
            max_delay,
        }
    }

    /// Records one failed login and says how to answer it.
    pub fn record_failure(&mut self) -> FailureVerdict {
        self.count = self.count.saturating_add(1);
        let doublings = self.count.saturating_sub(1).min(31);
        let delay = self
            .base_delay
            .checked_mul(1u32 << doublings)
            .map_or(self.max_delay, |d| d.min(self.max_delay));
        FailureVerdict {
            delay,
            close: self.count >= self.limit,
        }
    }

    /// Failed logins so far on this connection.
    pub fn count(&self) -> u32 {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn default_policy_sequence() {
        let mut failures = AuthFailures::default();
        let want = [(secs(1), false), (secs(2), false), (secs(4), true)];
        for (i, (delay, close)) in want.into_iter().enumerate() {
            let verdict = failures.record_failure();
            assert_eq!(
                verdict,
                FailureVerdict { delay, close },
                "failure {}",
                i + 1
            );
        }
        assert_eq!(failures.count(), 3);
    }

    #[test]
    fn delay_is_capped_and_close_persists() {
        let mut failures = AuthFailures::with_delays(10, secs(3), secs(10));
        let delays: Vec<u64> = (0..12)
            .map(|_| failures.record_failure())
            .map(|v| v.delay.as_secs())
            .collect();
        assert_eq!(delays, [3, 6, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10]);
        assert!(failures.record_failure().close);
    }

    #[test]
    fn limit_zero_means_one_and_zero_delay_works() {
        let mut failures = AuthFailures::with_delays(0, Duration::ZERO, Duration::ZERO);
        assert_eq!(
            failures.record_failure(),
            FailureVerdict {
                delay: Duration::ZERO,
                close: true
            }
        );
    }

    #[test]
    fn many_failures_do_not_overflow() {
        let mut failures = AuthFailures::with_delays(u32::MAX, secs(1), secs(60));
        for _ in 0..100 {
            assert!(failures.record_failure().delay <= secs(60));
        }
    }
}
