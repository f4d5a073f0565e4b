//! Time as an injected dependency, so deadline rules are tested with a fixed clock.

use std::sync::Mutex;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Offset, Utc};

/// Source of the current instant.
pub trait Clock: Send + Sync + 'static {
    /// The current instant in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that tests move by hand: the system time plus an adjustable offset, so
/// timestamps still advance naturally between steps.
#[derive(Debug, Default)]
pub struct OffsetClock {
    offset: Mutex<Duration>,
}

impl OffsetClock {
    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut offset = self.offset.lock().unwrap_or_else(|e| e.into_inner());
        *offset += by;
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        let offset = *self.offset.lock().unwrap_or_else(|e| e.into_inner());
        Utc::now() + offset
    }
}

/// Milliseconds since the Unix epoch, the form every timestamp takes in the database.
pub fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// Formats an instant (milliseconds) in China Standard Time (UTC+8, no daylight saving),
/// to the minute: how pages, notices and messages show times to people.
pub fn cst(ms: i64) -> String {
    // Through the offset, not `+ 8 h`, so the extremes of the range format instead of panic.
    from_millis(ms)
        .with_timezone(&china())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// China Standard Time, UTC+8 all year (the law's days and office hours are counted in it).
pub fn china() -> FixedOffset {
    // 8 h is within FixedOffset's ±24 h range, so the fallback is never taken.
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix())
}

/// The calendar date in China of an instant (milliseconds).
pub fn china_date(ms: i64) -> NaiveDate {
    from_millis(ms).with_timezone(&china()).date_naive()
}

/// The inverse of [`to_millis`]; out-of-range values clamp to the epoch rather than panic.
pub fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cst_is_utc_plus_eight() {
        assert_eq!(cst(0), "1970-01-01 08:00");
    }
}
