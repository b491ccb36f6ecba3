//! [`Timestamp`]: strata's own point in time.
//!
//! strata's API carries times (migration history, audit records, the query
//! history, sessions) without a date crate, so `chrono` can be a feature
//! like the others (features must be additive: strata's types cannot
//! change with them). A `Timestamp` is microseconds since the Unix epoch in
//! UTC, which is exactly what a PostgreSQL `timestamptz` holds: a value
//! read back equals the one written, where a `SystemTime` would lose its
//! nanoseconds in the column. With the `chrono` feature it converts to and
//! from `chrono::DateTime<Utc>` and is a filter operand.

mod civil;
mod codec;

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use civil::ParseTimestampError;

/// A point in time to the microsecond, in UTC: what a PostgreSQL
/// `timestamptz` holds.
///
/// - From and to `SystemTime` (`Timestamp::from(SystemTime::now())`
///   truncates to the microsecond); with the `chrono` feature, from and to
///   `chrono::DateTime<Utc>`.
/// - Displays and parses as RFC 3339 (`2026-12-04T21:30:00.123456Z`).
/// - Stores in and reads from `timestamptz` and `timestamp` (as UTC)
///   columns; PostgreSQL's `infinity` is a decode error. Prefer
///   `timestamptz`: a `timestamp` column that the server fills with
///   `now()` (soft delete, `updated_at`) holds the session's local time,
///   which reads as UTC only when the server's `TimeZone` is UTC.
/// - Serializes as its RFC 3339 text in human-readable formats (JSON) and
///   as the microsecond count in binary ones.
///
/// ```
/// use std::time::Duration;
/// use strata::Timestamp;
///
/// let t: Timestamp = "2026-12-04T21:30:00.5Z".parse().unwrap();
/// assert_eq!(t.unix_micros(), 1_796_419_800_500_000);
/// let later = t.checked_add(Duration::from_secs(90)).unwrap();
/// assert_eq!(later.to_string(), "2026-12-04T21:31:30.500000Z");
/// assert_eq!(later.duration_since(t), Some(Duration::from_secs(90)));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: Timestamp = Timestamp(0);

    /// The system clock, to the microsecond.
    pub fn now() -> Timestamp {
        Timestamp::from(SystemTime::now())
    }

    /// The time `micros` microseconds after the Unix epoch (before it if
    /// negative).
    pub const fn from_unix_micros(micros: i64) -> Timestamp {
        Timestamp(micros)
    }

    /// Microseconds since the Unix epoch (negative before it).
    pub const fn unix_micros(self) -> i64 {
        self.0
    }

    /// `self + d`, or `None` past the representable range. `d` is
    /// truncated to the microsecond.
    pub fn checked_add(self, d: Duration) -> Option<Timestamp> {
        let us = i64::try_from(d.as_micros()).ok()?;
        self.0.checked_add(us).map(Timestamp)
    }

    /// `self - d`, or `None` past the representable range. `d` is
    /// truncated to the microsecond.
    pub fn checked_sub(self, d: Duration) -> Option<Timestamp> {
        let us = i64::try_from(d.as_micros()).ok()?;
        self.0.checked_sub(us).map(Timestamp)
    }

    /// How long after `earlier` this is; `None` if it is before it.
    pub fn duration_since(self, earlier: Timestamp) -> Option<Duration> {
        let us = i128::from(self.0) - i128::from(earlier.0);
        u64::try_from(us).ok().map(Duration::from_micros)
    }

    /// Year, month, day, hour, minute and second, in UTC.
    pub(crate) fn utc_fields(self) -> (i64, u32, u32, u32, u32, u32) {
        let secs = self.0.div_euclid(1_000_000);
        let (y, m, d) = civil::civil_from_days(secs.div_euclid(86_400));
        let tod = civil::small(secs.rem_euclid(86_400));
        (y, m, d, tod / 3600, tod % 3600 / 60, tod % 60)
    }

    /// The same instant as a `SystemTime`.
    pub fn to_system_time(self) -> SystemTime {
        let magnitude = Duration::from_micros(self.0.unsigned_abs());
        if self.0 >= 0 {
            UNIX_EPOCH + magnitude
        } else {
            UNIX_EPOCH - magnitude
        }
    }
}

impl std::ops::Add<Duration> for Timestamp {
    type Output = Timestamp;

    /// As [`checked_add`](Timestamp::checked_add); panics past the range,
    /// as `SystemTime + Duration` does.
    fn add(self, d: Duration) -> Timestamp {
        self.checked_add(d)
            .expect("overflow when adding a duration to a Timestamp")
    }
}

impl std::ops::Sub<Duration> for Timestamp {
    type Output = Timestamp;

    /// As [`checked_sub`](Timestamp::checked_sub); panics past the range,
    /// as `SystemTime - Duration` does.
    fn sub(self, d: Duration) -> Timestamp {
        self.checked_sub(d)
            .expect("overflow when subtracting a duration from a Timestamp")
    }
}

impl From<SystemTime> for Timestamp {
    /// Truncated to the microsecond (towards the past); saturates beyond
    /// ±292,000 years.
    fn from(t: SystemTime) -> Timestamp {
        let micros = match t.duration_since(UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_micros()).unwrap_or(i64::MAX),
            Err(before) => {
                let before = before.duration();
                let whole = i64::try_from(before.as_micros()).unwrap_or(i64::MAX);
                let partial = before.as_nanos() % 1_000 != 0;
                (-whole).saturating_sub(i64::from(partial))
            }
        };
        Timestamp(micros)
    }
}

impl From<Timestamp> for SystemTime {
    fn from(t: Timestamp) -> SystemTime {
        t.to_system_time()
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC: `2026-12-04T21:30:00Z`, with six fractional digits
    /// when the microseconds are not zero. Years outside 0000-9999 are
    /// written with a sign (`+10000-01-01T00:00:00Z`), as ISO 8601's
    /// expanded form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        civil::write_rfc3339(self.0, f)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Timestamp {
    type Err = ParseTimestampError;

    /// RFC 3339: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` (`t`, `z` and
    /// a space for the `T` accepted too). Digits past the sixth fractional
    /// one are truncated.
    fn from_str(s: &str) -> Result<Timestamp, ParseTimestampError> {
        civil::parse_rfc3339(s).map(Timestamp)
    }
}

#[cfg(test)]
mod tests;
