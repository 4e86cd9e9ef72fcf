//! Bitemporal interval rules, pure: which stored version is visible at a valid time and a
//! record time, and what a write does to the current version.
//!
//! A version is believed over record time `[recorded_at, superseded_at)` and claims validity
//! over `[valid_from, valid_to)`. `valid_to` is set once, when the version is closed, and that
//! closing is itself only known from `closed_at` on: as of an earlier record time the version
//! still looked open. So "the fleet at valid time V as known at record time R" is exact on both
//! axes without copying rows.
//! Invariants: no I/O, no clock, no globals; `visible` is the single definition the SQL of
//! `store::facts` implements (checked against a naive model by property tests).

use crate::clock::Timestamp;

/// The temporal columns of one stored version.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Span {
    pub valid_from: Timestamp,
    pub valid_to: Option<Timestamp>,
    pub closed_at: Option<Timestamp>,
    pub recorded_at: Timestamp,
    pub superseded_at: Option<Timestamp>,
}

impl Span {
    /// Whether this version is the believed value at valid time `valid` as known at `recorded`.
    pub fn visible(&self, valid: Timestamp, recorded: Timestamp) -> bool {
        let believed = self.recorded_at <= recorded
            && self
                .superseded_at
                .is_none_or(|superseded| superseded > recorded);
        let closed_then = match (self.valid_to, self.closed_at) {
            (Some(valid_to), Some(closed_at)) if closed_at <= recorded => Some(valid_to),
            _ => None,
        };
        believed && self.valid_from <= valid && closed_then.is_none_or(|valid_to| valid_to > valid)
    }

    /// Whether this is the key's active version now (believed, and not closed).
    pub fn active(&self) -> bool {
        self.superseded_at.is_none() && self.valid_to.is_none()
    }
}

/// What a new value or a retraction at valid time `at` does to the current active version.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Ending {
    /// The active version ends in the world at `at` (it was true until then).
    Close,
    /// The active version is withdrawn: it starts at `at` or later, so it was never true
    /// before the change (a correction).
    Supersede,
}

/// Why a write is refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum WriteRefusal {
    /// `at` is earlier than the key's latest valid-time boundary; history is not rewritten
    /// backwards (a correction supersedes the current version instead).
    Backdated { boundary: Timestamp },
}

/// Decides how the active version (if any) ends when the key changes at valid time `at`.
/// `boundary` is the latest valid-time boundary among the key's believed versions other than
/// the active one (the last `valid_to`), if any.
pub fn ending(
    active_valid_from: Option<Timestamp>,
    boundary: Option<Timestamp>,
    at: Timestamp,
) -> Result<Option<Ending>, WriteRefusal> {
    let latest = active_valid_from.max(boundary);
    if let Some(latest) = latest
        && at < latest
    {
        return Err(WriteRefusal::Backdated { boundary: latest });
    }
    Ok(match active_valid_from {
        None => None,
        Some(valid_from) if at > valid_from => Some(Ending::Close),
        Some(_) => Some(Ending::Supersede),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(nanos: i64) -> Timestamp {
        Timestamp::from_unix_nanos(nanos)
    }

    #[test]
    fn a_closed_version_looks_open_before_its_closing_was_recorded() {
        let span = Span {
            valid_from: at(10),
            valid_to: Some(at(20)),
            closed_at: Some(at(100)),
            recorded_at: at(50),
            superseded_at: None,
        };
        assert!(!span.visible(at(15), at(49)), "not yet recorded");
        assert!(
            span.visible(at(25), at(99)),
            "before the closing was known, still open"
        );
        assert!(
            !span.visible(at(25), at(100)),
            "after the closing, not valid at 25"
        );
        assert!(span.visible(at(19), at(100)));
        assert!(!span.visible(at(9), at(100)), "before valid_from");
    }

    #[test]
    fn endings_follow_the_valid_time_of_the_change() {
        assert_eq!(ending(None, None, at(5)), Ok(None));
        assert_eq!(ending(Some(at(5)), None, at(9)), Ok(Some(Ending::Close)));
        assert_eq!(
            ending(Some(at(5)), None, at(5)),
            Ok(Some(Ending::Supersede))
        );
        assert_eq!(
            ending(Some(at(5)), None, at(4)),
            Err(WriteRefusal::Backdated { boundary: at(5) })
        );
        assert_eq!(
            ending(None, Some(at(7)), at(6)),
            Err(WriteRefusal::Backdated { boundary: at(7) })
        );
    }
}
