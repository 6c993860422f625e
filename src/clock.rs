//! Time is injected: everything that needs "now" takes a `Clock`, so tests
//! and the simulator can jump days without sleeping.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, TimeDelta, Utc};

/// A source of the current instant.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// The machine's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Wall-clock time plus an offset that tests (and the simulator's
/// `/__sim/clock`) can push forward, so "7 days later" takes no time.
#[derive(Debug, Clone, Default)]
pub struct OffsetClock {
    offset: Arc<Mutex<TimeDelta>>,
}

impl OffsetClock {
    /// A clock that starts at wall-clock time.
    pub fn new() -> OffsetClock {
        OffsetClock::default()
    }

    /// A clock that reads `start` now and then runs at wall-clock speed:
    /// tests and the demo start on a chosen day, whatever today is.
    pub fn starting_at(start: DateTime<Utc>) -> OffsetClock {
        let clock = OffsetClock::new();
        clock.advance(start - Utc::now());
        clock
    }

    /// Moves the clock forward (or back, with a negative delta).
    pub fn advance(&self, by: TimeDelta) {
        let mut offset = self.offset.lock().unwrap_or_else(PoisonError::into_inner);
        *offset += by;
    }

    /// How far the clock is ahead of wall-clock time.
    pub fn offset(&self) -> TimeDelta {
        *self.offset.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset()
    }
}

/// A clock that stands still until told to move: for scenario tests with a
/// fixed `now`.
#[derive(Debug, Clone)]
pub struct FixedClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl FixedClock {
    /// A clock stopped at `now`.
    pub fn at(now: DateTime<Utc>) -> FixedClock {
        FixedClock {
            now: Arc::new(Mutex::new(now)),
        }
    }

    /// Moves the clock by `by`.
    pub fn advance(&self, by: TimeDelta) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now += by;
    }

    /// Sets the clock to `to`.
    pub fn set(&self, to: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) = to;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_clock_moves_only_when_told() {
        let start = DateTime::parse_from_rfc3339("2026-03-02T10:00:00-03:00")
            .expect("valid instant")
            .with_timezone(&Utc);
        let clock = FixedClock::at(start);
        assert_eq!(clock.now(), start);
        clock.advance(TimeDelta::days(7));
        assert_eq!(clock.now(), start + TimeDelta::days(7));
    }

    #[test]
    fn offset_clock_runs_ahead_by_its_offset() {
        let clock = OffsetClock::new();
        clock.advance(TimeDelta::days(3));
        let ahead = clock.now() - Utc::now();
        assert!(
            ahead > TimeDelta::days(3) - TimeDelta::seconds(5),
            "ahead by {ahead}"
        );
        assert!(ahead <= TimeDelta::days(3), "ahead by {ahead}");
    }

    #[test]
    fn a_clock_started_at_an_instant_reads_it_and_runs_on() {
        let start = DateTime::parse_from_rfc3339("2027-02-08T10:00:00-03:00")
            .expect("valid instant")
            .with_timezone(&Utc);
        let clock = OffsetClock::starting_at(start);
        let read = clock.now();
        assert!(read >= start, "{read} is before {start}");
        assert!(
            read - start < TimeDelta::seconds(5),
            "{read} runs far ahead of {start}"
        );
    }
}
