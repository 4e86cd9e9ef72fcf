//! The fleet graph's domain types: what a fact is, independent of how it is stored.
//!
//! A fact says that `subject` has `predicate` = `value`, of one `FactType`, over an interval of
//! valid time (when it was true in the world) and an interval of record time (when praxis
//! believed it). Storage and queries live in `store::facts`; the interval rules are the pure
//! `store::bitemporal`.

pub mod import;

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use crate::clock::Timestamp;

/// What kind of statement a fact is.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum FactType {
    /// Seen on a host (untrusted: it came from host output).
    Observed,
    /// What the operator wants.
    Desired,
    /// Blessed by the operator as a good state.
    KnownGood,
    /// A drift finding.
    Drift,
}

impl FactType {
    /// Every fact type, in storage order.
    pub const ALL: [FactType; 4] = [
        FactType::Observed,
        FactType::Desired,
        FactType::KnownGood,
        FactType::Drift,
    ];

    /// The name used in tools and records.
    pub fn as_str(self) -> &'static str {
        match self {
            FactType::Observed => "observed",
            FactType::Desired => "desired",
            FactType::KnownGood => "known_good",
            FactType::Drift => "drift",
        }
    }

    /// The small integer stored in the database.
    pub fn code(self) -> i64 {
        match self {
            FactType::Observed => 0,
            FactType::Desired => 1,
            FactType::KnownGood => 2,
            FactType::Drift => 3,
        }
    }

    /// The fact type of a stored code.
    pub fn from_code(code: i64) -> Option<FactType> {
        FactType::ALL
            .into_iter()
            .find(|fact_type| fact_type.code() == code)
    }
}

impl fmt::Display for FactType {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl FromStr for FactType {
    type Err = String;

    fn from_str(text: &str) -> Result<FactType, String> {
        FactType::ALL
            .into_iter()
            .find(|fact_type| fact_type.as_str() == text)
            .ok_or_else(|| {
                format!(
                    "unknown fact_type `{text}`; expected observed, desired, known_good or drift"
                )
            })
    }
}

/// The adapters a host type allows (PRODUCT.md §10); runbooks run locally for any host.
pub fn adapters_for(host_type: &str) -> &'static [&'static str] {
    match host_type {
        "linux" => &["ssh", "ansible", "opentofu", "terraform", "runbook"],
        "windows" => &["ssh", "runbook"],
        "talos" => &["talosctl", "runbook"],
        "bmc" => &["redfish", "runbook"],
        "cloud" => &["opentofu", "terraform", "runbook"],
        _ => &[],
    }
}

/// Identifies the one active fact: (subject, predicate, fact type).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct FactKey {
    pub subject: String,
    pub predicate: String,
    pub fact_type: FactType,
}

/// Who made a change, and why (both are recorded with the change).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Provenance {
    pub actor: String,
    pub reason: Option<String>,
}

/// One stored version of a fact, with its four timestamps.
#[derive(Clone, PartialEq, Debug)]
pub struct FactVersion {
    pub id: i64,
    pub key: FactKey,
    pub value: Value,
    pub valid_from: Timestamp,
    /// When the fact stopped being true in the world, as known since `closed_at`.
    pub valid_to: Option<Timestamp>,
    pub closed_at: Option<Timestamp>,
    pub recorded_at: Timestamp,
    /// When praxis stopped believing this version (a correction or replacement).
    pub superseded_at: Option<Timestamp>,
    pub created_by: Provenance,
    /// Who ended the version (closed or superseded it), and why.
    pub ended_by: Option<Provenance>,
    /// The last time an identical value was observed again (re-observations add no version).
    pub last_seen: Option<Timestamp>,
}
