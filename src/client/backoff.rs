//! Primus's reconnect backoff (its `recovery` module, docs/protocol.md#heartbeat-and-reconnect).
//!
//! The struct only counts retries and computes delays; the client's timer table holds
//! the deadline. Unlike Primus, the retry counter is reset only when a connection is
//! fully configured (rooms rejoined, detailsView answered), not when the socket opens,
//! so a server that accepts and then drops at once cannot cause a tight reconnect loop.

use std::time::Duration;

use super::config::ReconnectConfig;

/// The largest exponent used in `factor^(n-1)`; later retries reuse it so the delay
/// computation cannot overflow (quinn's `MAX_BACKOFF_EXPONENT`). With the default
/// factor 2 and min 500 ms this is already about 68 years.
pub(super) const MAX_BACKOFF_EXPONENT: u32 = 32;

/// The retry counter of one recovery run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Recovery {
    /// Retries scheduled in the current run; `0` when no recovery is running.
    attempt: u32,
}

/// What [`Recovery::schedule`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Schedule {
    /// Retry number `attempt` (1-based) after `delay`.
    Retry { attempt: u32, delay: Duration },
    /// `retries` retries failed: give up.
    Exhausted { attempts: u32 },
}

impl Recovery {
    /// True while a recovery run is active (a retry was scheduled and the connection
    /// has not been configured since).
    pub(super) fn is_recovering(&self) -> bool {
        self.attempt > 0
    }

    /// Retries scheduled so far in this run.
    pub(super) fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Ends the run: the next failure starts again at retry 1.
    pub(super) fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Schedules the next retry, drawing `rand ∈ [0, 1)` only when the formula needs it.
    pub(super) fn schedule(
        &mut self,
        config: &ReconnectConfig,
        rand: impl FnOnce() -> f64,
    ) -> Schedule {
        if self.attempt >= config.retries {
            return Schedule::Exhausted {
                attempts: self.attempt,
            };
        }
        self.attempt += 1;
        let delay = if self.attempt == 1 {
            delay(config, 1, 0.0)
        } else {
            delay(config, self.attempt, rand())
        };
        Schedule::Retry {
            attempt: self.attempt,
            delay,
        }
    }
}

/// The delay before retry `attempt` (1-based) for a given `rand ∈ [0, 1)`:
/// `min` for the first, else `min(round((rand + 1) * min * factor^(attempt-1)), max)`
/// whole milliseconds.
pub(super) fn delay(config: &ReconnectConfig, attempt: u32, rand: f64) -> Duration {
    let min_ms = config.min.as_secs_f64() * 1000.0;
    if attempt <= 1 {
        return Duration::from_millis(round_ms(min_ms));
    }
    let exponent = (attempt - 1).min(MAX_BACKOFF_EXPONENT);
    // `exponent` is at most 32, so the cast is lossless.
    let raw = (rand + 1.0) * min_ms * config.factor.powi(exponent as i32);
    let mut ms = round_ms(raw);
    if let Some(max) = config.max {
        ms = ms.min(u64::try_from(max.as_millis()).unwrap_or(u64::MAX));
    }
    Duration::from_millis(ms)
}

/// JavaScript's `Math.round` for non-negative values, saturating at `u64::MAX`.
fn round_ms(ms: f64) -> u64 {
    if ms.is_nan() || ms <= 0.0 {
        return 0;
    }
    // `as` saturates for floats out of range (and +inf).
    (ms + 0.5).floor() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Rng;

    fn defaults() -> ReconnectConfig {
        ReconnectConfig::default()
    }

    #[test]
    fn first_retry_is_exactly_min() {
        let mut r = Recovery::default();
        let s = r.schedule(&defaults(), || panic!("rand must not be drawn for retry 1"));
        assert_eq!(
            s,
            Schedule::Retry {
                attempt: 1,
                delay: Duration::from_millis(500)
            }
        );
    }

    #[test]
    fn sequence_matches_the_formula_exactly() {
        let cfg = defaults();
        let mut rng = Rng::new([3; 32]);
        let mut expected_rng = Rng::new([3; 32]);
        let mut r = Recovery::default();
        for n in 1..=10u32 {
            let Schedule::Retry { attempt, delay } = r.schedule(&cfg, || rng.unit_f64()) else {
                panic!("exhausted early at {n}");
            };
            assert_eq!(attempt, n);
            let want_ms = if n == 1 {
                500
            } else {
                let rand = expected_rng.unit_f64();
                ((rand + 1.0) * 500.0 * 2f64.powi(n as i32 - 1)).round() as u64
            };
            assert_eq!(delay, Duration::from_millis(want_ms), "retry {n}");
            // docs/protocol.md#heartbeat-and-reconnect: retry n in [min*2^(n-1), 2*min*2^(n-1)].
            if n >= 2 {
                let lo = 500u64 << (n - 1);
                assert!((lo..=2 * lo).contains(&want_ms), "retry {n}: {want_ms}");
            }
        }
        assert_eq!(
            r.schedule(&cfg, || 0.0),
            Schedule::Exhausted { attempts: 10 }
        );
        // Exhaustion does not change the counter.
        assert_eq!(r.attempt(), 10);
    }

    #[test]
    fn observed_primus_delays_are_reachable() {
        // Live runs saw 1150 / 1907 / 1166 ms for retry 2 and 3873 / 2412 / 2042 for retry 3.
        let cfg = defaults();
        assert_eq!(delay(&cfg, 2, 0.15), Duration::from_millis(1150));
        assert_eq!(delay(&cfg, 2, 0.907), Duration::from_millis(1907));
        assert_eq!(delay(&cfg, 3, 0.9365), Duration::from_millis(3873));
        assert_eq!(delay(&cfg, 3, 0.0), Duration::from_millis(2000));
    }

    #[test]
    fn max_caps_and_huge_exponents_do_not_overflow() {
        let mut cfg = defaults();
        cfg.max = Some(Duration::from_secs(5));
        assert_eq!(delay(&cfg, 4, 0.99), Duration::from_secs(5));
        assert_eq!(delay(&cfg, u32::MAX, 0.99), Duration::from_secs(5));
        cfg.max = None;
        cfg.factor = 1e300;
        let d = delay(&cfg, u32::MAX, 0.5);
        assert_eq!(d, Duration::from_millis(u64::MAX));
        cfg.factor = 2.0;
        assert_eq!(
            delay(&cfg, 1000, 0.0),
            delay(&cfg, MAX_BACKOFF_EXPONENT + 1, 0.0)
        );
    }

    #[test]
    fn zero_retries_gives_up_at_once_and_reset_restarts() {
        let mut cfg = defaults();
        cfg.retries = 0;
        let mut r = Recovery::default();
        assert_eq!(
            r.schedule(&cfg, || 0.0),
            Schedule::Exhausted { attempts: 0 }
        );
        assert!(!r.is_recovering());
        cfg.retries = 2;
        r.schedule(&cfg, || 0.0);
        r.schedule(&cfg, || 0.0);
        assert!(r.is_recovering());
        r.reset();
        assert_eq!(
            r.schedule(&cfg, || 0.0),
            Schedule::Retry {
                attempt: 1,
                delay: Duration::from_millis(500)
            }
        );
    }
}
