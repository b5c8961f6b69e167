//! The drivers' deadline timer (docs/architecture.md#the-adapter-loop, step 2), shared
//! by the server and client drivers.

use std::pin::Pin;
use std::time::{Duration, Instant};

use tokio::time::Sleep;

/// One `Sleep`, re-armed only when the core's deadline changes.
pub(crate) struct DeadlineTimer {
    sleep: Pin<Box<Sleep>>,
    armed: Option<Instant>,
}

impl DeadlineTimer {
    pub(crate) fn new() -> Self {
        Self {
            sleep: Box::pin(tokio::time::sleep(Duration::from_secs(86_400))),
            armed: None,
        }
    }

    /// Arms the timer for the core's `deadline`. Returns `true` when it has already
    /// passed: the caller handles the timeout before waiting, because tokio's cooperative
    /// budget may hold back an elapsed `Sleep`.
    pub(crate) fn arm(&mut self, deadline: Option<Instant>) -> bool {
        if let Some(d) = deadline {
            if d <= Instant::now() {
                return true;
            }
            if self.armed != deadline {
                self.sleep.as_mut().reset(d.into());
            }
        }
        self.armed = deadline;
        false
    }

    /// Whether a deadline is armed (the `select!` guard of [`DeadlineTimer::fired`]).
    pub(crate) fn is_armed(&self) -> bool {
        self.armed.is_some()
    }

    /// Completes when the armed deadline passes; the timer is then re-armed on the next
    /// [`DeadlineTimer::arm`] even if the deadline did not move.
    pub(crate) async fn fired(&mut self) {
        self.sleep.as_mut().await;
        self.armed = None;
    }
}
