//! Mapping between `Instant` and CLOCK_MONOTONIC nanoseconds.
//!
//! std's `Instant` reads CLOCK_MONOTONIC on Linux, the clock that
//! `fixture-worker --stamp-file` writes, so an `Instant` of the harness
//! and a stamp of the fixture differ by a fixed offset that one paired
//! reading finds.

use std::time::{Duration, Instant};

use rustix::time::{ClockId, clock_gettime};

/// Reads CLOCK_MONOTONIC in nanoseconds.
pub fn monotonic_nanos() -> i128 {
    let now = clock_gettime(ClockId::Monotonic);
    i128::from(now.tv_sec) * 1_000_000_000 + i128::from(now.tv_nsec)
}

/// An `Instant` and the CLOCK_MONOTONIC reading taken at the same moment.
pub struct MonotonicClock {
    instant: Instant,
    nanos: i128,
    /// Time between the two `Instant` reads around the clock read, which
    /// bounds the error of every mapped time.
    pub uncertainty: Duration,
}

impl MonotonicClock {
    /// Pairs the clocks, keeping the tightest of 1000 bracketed readings.
    pub fn calibrate() -> MonotonicClock {
        let mut best: Option<MonotonicClock> = None;
        for _ in 0..1000 {
            let before = Instant::now();
            let nanos = monotonic_nanos();
            let after = Instant::now();
            let width = after - before;
            if best.as_ref().is_none_or(|b| width < b.uncertainty) {
                best = Some(MonotonicClock {
                    instant: before + width / 2,
                    nanos,
                    uncertainty: width,
                });
            }
        }
        best.expect("the loop ran at least once")
    }

    /// Returns `instant` as CLOCK_MONOTONIC nanoseconds.
    pub fn nanos_at(&self, instant: Instant) -> i128 {
        if instant >= self.instant {
            self.nanos + (instant - self.instant).as_nanos() as i128
        } else {
            self.nanos - (self.instant - instant).as_nanos() as i128
        }
    }
}
