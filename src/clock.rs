//! Time: the `Clock` trait and the `Timestamp` newtype.
//!
//! This is the only module that reads the wall clock, so tests of the chain and the store can
//! run on a fixed clock.
//! Timestamps are nanoseconds since the Unix epoch in UTC and render as RFC 3339 with nine
//! fractional digits, so they sort as text in the same order as in time.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Timestamp(i64);

impl Timestamp {
    /// Wraps a count of nanoseconds since the epoch.
    pub fn from_unix_nanos(nanos: i64) -> Timestamp {
        Timestamp(nanos)
    }

    /// Nanoseconds since the epoch.
    pub fn unix_nanos(self) -> i64 {
        self.0
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (UTC only, up to nine fractional digits).
    pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
        let bytes = text.as_bytes();
        if bytes.len() < 20 || *bytes.last()? != b'Z' {
            return None;
        }
        let number = |range: std::ops::Range<usize>| -> Option<i64> {
            let part = text.get(range)?;
            if part.bytes().all(|byte| byte.is_ascii_digit()) {
                part.parse().ok()
            } else {
                None
            }
        };
        if bytes[4] != b'-' || bytes[7] != b'-' || bytes[10] != b'T' {
            return None;
        }
        if bytes[13] != b':' || bytes[16] != b':' {
            return None;
        }
        let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
        let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return None;
        }
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let fraction = &text[19..text.len() - 1];
        let nanos = if fraction.is_empty() {
            0
        } else {
            let digits = fraction.strip_prefix('.')?;
            if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            let value: i64 = digits.parse().ok()?;
            value * 10_i64.pow(9 - u32::try_from(digits.len()).ok()?)
        };
        let days = days_from_civil(year, month, day);
        let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second;
        seconds
            .checked_mul(1_000_000_000)?
            .checked_add(nanos)
            .map(Timestamp)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.0.div_euclid(1_000_000_000);
        let nanos = self.0.rem_euclid(1_000_000_000);
        let days = seconds.div_euclid(86_400);
        let second_of_day = seconds.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        write!(
            formatter,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
            second_of_day / 3_600,
            (second_of_day / 60) % 60,
            second_of_day % 60
        )
    }
}

/// A source of wall-clock time.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system's real-time clock. Successive readings never go backwards within one process,
/// so records written by one process keep their order even if the system clock steps back.
#[derive(Default)]
pub struct SystemClock {
    last: AtomicI64,
}

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        #[expect(
            clippy::disallowed_methods,
            reason = "the clock module is the one place that reads the wall clock"
        )]
        let reading = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| {
                i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX)
            });
        let previous = self.last.fetch_max(reading, Ordering::SeqCst);
        Timestamp(reading.max(previous))
    }
}

/// A clock for tests: starts at a fixed time and advances one microsecond per reading.
pub struct FixedClock {
    next: AtomicI64,
}

impl FixedClock {
    /// A clock whose first reading is `start`.
    pub fn starting_at(start: Timestamp) -> FixedClock {
        FixedClock {
            next: AtomicI64::new(start.0),
        }
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.next.fetch_add(1_000, Ordering::SeqCst))
    }
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since the epoch for a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The proleptic Gregorian date of a day count since the epoch.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            Timestamp(1_795_305_600_123_456_789).to_string(),
            "2026-11-22T00:00:00.123456789Z"
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2000-02-29T12:34:56.5Z"),
            Some(Timestamp(951_827_696_500_000_000))
        );
        assert_eq!(Timestamp::parse_rfc3339("2001-02-29T00:00:00Z"), None);
        assert_eq!(Timestamp::parse_rfc3339("2001-01-01T00:00:00+01:00"), None);
    }

    #[test]
    fn system_clock_never_goes_backwards() {
        let clock = SystemClock::default();
        let mut previous = clock.now();
        for _ in 0..1_000 {
            let next = clock.now();
            assert!(next >= previous);
            previous = next;
        }
    }

    proptest! {
        #[test]
        fn rfc3339_round_trips_and_sorts_like_time(a in 0i64..8_000_000_000_000_000_000, b in 0i64..8_000_000_000_000_000_000) {
            let (first, second) = (Timestamp(a), Timestamp(b));
            prop_assert_eq!(Timestamp::parse_rfc3339(&first.to_string()), Some(first));
            prop_assert_eq!(first.cmp(&second), first.to_string().cmp(&second.to_string()));
        }
    }
}
