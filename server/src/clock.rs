//! The time as Kurier's schedulers see it: the system clock, which tests
//! can move (a subscriber's delivery window opening tomorrow at 08:00 is
//! tested by setting the clock, not by waiting). Only the parts that decide
//! *when* by wall-clock hours (notifications) read it; leases and timeouts
//! keep the real clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};

#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// Microseconds added to the system time.
    offset: Arc<AtomicI64>,
}

impl Clock {
    pub fn system() -> Self {
        Self::default()
    }

    pub fn now(&self) -> DateTime<Utc> {
        let micros = Utc::now().timestamp_micros() + self.offset.load(Ordering::Relaxed);
        DateTime::from_timestamp_micros(micros).unwrap_or_else(Utc::now)
    }

    pub fn now_micros(&self) -> i64 {
        self.now().timestamp_micros()
    }

    /// From now on, the time reads `at` (and goes on from there).
    pub fn set(&self, at: DateTime<Utc>) {
        self.offset.store(at.timestamp_micros() - Utc::now().timestamp_micros(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_clock_reads_the_set_time_and_moves_on() {
        let clock = Clock::system();
        let at = DateTime::parse_from_rfc3339("2030-01-01T06:00:00Z").unwrap().with_timezone(&Utc);
        clock.set(at);
        let read = clock.now();
        assert!(read >= at && read - at < chrono::Duration::seconds(5), "{read}");
        let other = clock.clone();
        assert!(other.now() >= at, "clones share the setting");
    }
}
