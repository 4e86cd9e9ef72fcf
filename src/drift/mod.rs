//! Drift: desired state against observed state, as findings (issue 6).
//!
//! This module is the pure comparison at the core of the drift engine; it reads no store and
//! knows no adapter. Given the desired facts of some subjects (from a blessed snapshot, a
//! baseline file, a terraform plan or an ansible check) and their observed facts, it sorts
//! every desired key into exactly one of *match*, *missing* or *changed*, and reports watched
//! observations that nothing desired as *unexpected*.
//!
//! Invariants (property-tested):
//! - comparing a state with itself finds nothing;
//! - every desired (subject, predicate) lands in exactly one of match, missing, changed;
//! - the findings do not depend on the order of either input.

pub mod baseline;
pub mod engine;
pub mod imports;

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// The default severity of a predicate no baseline rates: the reference system's critical
    /// predicates (file integrity, listening ports, ssh configuration, users) and the rest.
    pub fn default_for(predicate: &str) -> Severity {
        let family = predicate.split(':').next().unwrap_or(predicate);
        match family {
            "aide" | "file" | "file_integrity" => Severity::Critical,
            "port" | "user" | "sshd_config" | "ssh_config" => Severity::High,
            "service" | "mount" => Severity::Medium,
            "package" => Severity::Low,
            _ => Severity::Info,
        }
    }
}

/// How a desired value is compared with the observed one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Compare {
    /// Deep JSON equality.
    Equal,
    /// The observed version (the value, or its `version` field) is at least the desired one,
    /// compared the way dpkg compares versions.
    AtLeastVersion,
    /// Both are arrays holding the same elements, in any order.
    SameSet,
    /// The predicate must not be observed at all (a port that must not listen).
    Absent,
}

/// One desired fact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    pub subject: String,
    pub predicate: String,
    pub value: Value,
    pub compare: Compare,
    pub severity: Severity,
    /// Where the desire comes from (`bless`, `baseline:web.toml`, `terraform`, `ansible`).
    pub source: String,
}

/// One observed fact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    pub subject: String,
    pub predicate: String,
    pub value: Value,
}

/// What kind of difference a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Desired, never observed.
    Missing,
    /// Observed, but not as desired.
    Changed,
    /// Observed, watched, and desired by nothing.
    Unexpected,
    /// A check could not tell (an ansible task failed, a host was unreachable).
    Unverified,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Missing => "missing",
            Kind::Changed => "changed",
            Kind::Unexpected => "unexpected",
            Kind::Unverified => "unverified",
        }
    }
}

/// One difference between desired and observed state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub subject: String,
    pub predicate: String,
    pub kind: Kind,
    pub severity: Severity,
    pub desired: Option<Value>,
    pub observed: Option<Value>,
    pub source: Option<String>,
}

/// The outcome of a comparison: the desired keys that match, and the findings, sorted by
/// (subject, predicate).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub matched: Vec<(String, String)>,
    pub findings: Vec<Finding>,
}

/// Compares `desired` with `observed`. Observations of subjects with no desired fact are not
/// judged; among the subjects that have some, an observation nothing desires is *unexpected*
/// when `watched` gives it a severity. When the same key is desired twice, the more severe
/// desire wins (ties: the greater source name), so the order of the inputs never matters.
pub fn compare(
    desired: &[Desired],
    observed: &[Observed],
    watched: impl Fn(&str) -> Option<Severity>,
) -> Report {
    let mut wanted: BTreeMap<(&str, &str), &Desired> = BTreeMap::new();
    for entry in desired {
        let key = (entry.subject.as_str(), entry.predicate.as_str());
        let keep = wanted.get(&key).is_none_or(|kept| {
            (entry.severity, &entry.source, entry.value.to_string())
                > (kept.severity, &kept.source, kept.value.to_string())
        });
        if keep {
            wanted.insert(key, entry);
        }
    }
    // The same key observed twice: the greatest value (as text) stands, for order independence.
    let mut seen: BTreeMap<(&str, &str), &Value> = BTreeMap::new();
    for entry in observed {
        let key = (entry.subject.as_str(), entry.predicate.as_str());
        let keep = seen.get(&key).is_none_or(|kept| {
            let (new, old) = (entry.value.to_string(), kept.to_string());
            new > old
        });
        if keep {
            seen.insert(key, &entry.value);
        }
    }
    let judged: BTreeSet<&str> = wanted.keys().map(|(subject, _)| *subject).collect();
    let mut report = Report::default();
    for (&(subject, predicate), want) in &wanted {
        let got = seen.get(&(subject, predicate)).copied();
        let finding = |kind| Finding {
            subject: subject.to_owned(),
            predicate: predicate.to_owned(),
            kind,
            severity: want.severity,
            desired: (want.compare != Compare::Absent).then(|| want.value.clone()),
            observed: got.cloned(),
            source: Some(want.source.clone()),
        };
        match (got, &want.compare) {
            (None, Compare::Absent) => report
                .matched
                .push((subject.to_owned(), predicate.to_owned())),
            (None, _) => report.findings.push(finding(Kind::Missing)),
            (Some(_), Compare::Absent) => report.findings.push(finding(Kind::Changed)),
            (Some(value), compare) if satisfies(compare, &want.value, value) => {
                report
                    .matched
                    .push((subject.to_owned(), predicate.to_owned()));
            }
            (Some(_), _) => report.findings.push(finding(Kind::Changed)),
        }
    }
    for (&(subject, predicate), value) in &seen {
        if !judged.contains(subject) || wanted.contains_key(&(subject, predicate)) {
            continue;
        }
        if let Some(severity) = watched(predicate) {
            report.findings.push(Finding {
                subject: subject.to_owned(),
                predicate: predicate.to_owned(),
                kind: Kind::Unexpected,
                severity,
                desired: None,
                observed: Some((*value).clone()),
                source: None,
            });
        }
    }
    report.findings.sort_by(|left, right| {
        (&left.subject, &left.predicate).cmp(&(&right.subject, &right.predicate))
    });
    report
}

/// Whether two values are the same once stored: the store keeps numbers that JSON cannot
/// carry exactly (floats, integers beyond 2^53) as text, so `1.5` read back is `"1.5"`.
pub fn same_value(left: &Value, right: &Value) -> bool {
    left == right
        || crate::audit::canonical::to_canonical_string(left)
            == crate::audit::canonical::to_canonical_string(right)
}

/// Whether `observed` satisfies `desired` under `compare`.
fn satisfies(compare: &Compare, desired: &Value, observed: &Value) -> bool {
    match compare {
        Compare::Equal => same_value(desired, observed),
        Compare::Absent => false,
        Compare::SameSet => match (desired.as_array(), observed.as_array()) {
            (Some(want), Some(got)) => {
                let text = |items: &Vec<Value>| {
                    items
                        .iter()
                        .map(crate::audit::canonical::to_canonical_string)
                        .collect::<BTreeSet<_>>()
                };
                text(want) == text(got)
            }
            _ => same_value(desired, observed),
        },
        Compare::AtLeastVersion => {
            let version = |value: &Value| {
                value
                    .as_str()
                    .or_else(|| value["version"].as_str())
                    .map(str::to_owned)
            };
            match (version(desired), version(observed)) {
                (Some(want), Some(got)) => compare_versions(&got, &want) != Ordering::Less,
                _ => false,
            }
        }
    }
}

/// Compares two Debian-style versions (`[epoch:]upstream[-revision]`) the way dpkg does: `~`
/// sorts before everything, even the end; letters before other characters; digit runs as
/// numbers.
pub fn compare_versions(left: &str, right: &str) -> Ordering {
    let split = |version: &str| -> (u64, String, String) {
        let (epoch, rest) = match version.split_once(':') {
            Some((epoch, rest))
                if epoch.chars().all(|c| c.is_ascii_digit()) && !epoch.is_empty() =>
            {
                (epoch.parse().unwrap_or(u64::MAX), rest)
            }
            _ => (0, version),
        };
        let (upstream, revision) = rest.rsplit_once('-').unwrap_or((rest, ""));
        (epoch, upstream.to_owned(), revision.to_owned())
    };
    let (left_epoch, left_upstream, left_revision) = split(left);
    let (right_epoch, right_upstream, right_revision) = split(right);
    left_epoch
        .cmp(&right_epoch)
        .then_with(|| compare_part(&left_upstream, &right_upstream))
        .then_with(|| compare_part(&left_revision, &right_revision))
}

/// dpkg's `verrevcmp`.
fn compare_part(left: &str, right: &str) -> Ordering {
    let order = |c: Option<char>| -> i64 {
        match c {
            None => 0,
            Some('~') => -1,
            Some(c) if c.is_ascii_alphabetic() => i64::from(u32::from(c)),
            Some(c) => i64::from(u32::from(c)) + 256,
        }
    };
    let (mut left, mut right) = (left.chars().peekable(), right.chars().peekable());
    loop {
        if left.peek().is_none() && right.peek().is_none() {
            return Ordering::Equal;
        }
        // The non-digit prefix, character by character.
        loop {
            let (l, r) = (left.peek().copied(), right.peek().copied());
            let l_digit = l.is_none_or(|c| c.is_ascii_digit());
            let r_digit = r.is_none_or(|c| c.is_ascii_digit());
            if l_digit && r_digit {
                break;
            }
            let (lo, ro) = (
                order(l.filter(|c| !c.is_ascii_digit())),
                order(r.filter(|c| !c.is_ascii_digit())),
            );
            if lo != ro {
                return lo.cmp(&ro);
            }
            if !l_digit {
                left.next();
            }
            if !r_digit {
                right.next();
            }
        }
        // The digit run, as a number (leading zeros do not count).
        let number = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
            let mut digits = String::new();
            while let Some(c) = chars.peek().copied().filter(char::is_ascii_digit) {
                digits.push(c);
                chars.next();
            }
            digits.trim_start_matches('0').to_owned()
        };
        let (l, r) = (number(&mut left), number(&mut right));
        let by_number = l.len().cmp(&r.len()).then_with(|| l.cmp(&r));
        if by_number != Ordering::Equal {
            return by_number;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn desired(subject: &str, predicate: &str, value: Value, compare: Compare) -> Desired {
        Desired {
            subject: subject.into(),
            predicate: predicate.into(),
            value,
            compare,
            severity: Severity::default_for(predicate),
            source: "bless".into(),
        }
    }

    fn observed(subject: &str, predicate: &str, value: Value) -> Observed {
        Observed {
            subject: subject.into(),
            predicate: predicate.into(),
            value,
        }
    }

    #[expect(
        clippy::unnecessary_wraps,
        reason = "the shape `compare` takes for its watch list"
    )]
    fn watch_all(predicate: &str) -> Option<Severity> {
        Some(Severity::default_for(predicate))
    }

    #[test]
    fn missing_changed_unexpected_and_absent() {
        let report = compare(
            &[
                desired(
                    "host:web-1",
                    "sshd_config:PermitRootLogin",
                    json!("no"),
                    Compare::Equal,
                ),
                desired(
                    "host:web-1",
                    "package:nginx",
                    json!("1.22.1"),
                    Compare::AtLeastVersion,
                ),
                desired("host:web-1", "port:tcp/23", Value::Null, Compare::Absent),
                desired(
                    "host:web-1",
                    "user:backup",
                    json!({"uid": 34}),
                    Compare::Equal,
                ),
            ],
            &[
                observed("host:web-1", "sshd_config:PermitRootLogin", json!("yes")),
                observed(
                    "host:web-1",
                    "package:nginx",
                    json!({"version": "1.22.1-9"}),
                ),
                observed("host:web-1", "port:tcp/23", json!({"address": "0.0.0.0"})),
                observed("host:web-1", "port:tcp/8080", json!({"address": "0.0.0.0"})),
                observed("host:db-1", "port:tcp/5432", json!({})),
            ],
            watch_all,
        );
        let kinds: Vec<(&str, &str)> = report
            .findings
            .iter()
            .map(|finding| (finding.predicate.as_str(), finding.kind.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("port:tcp/23", "changed"),
                ("port:tcp/8080", "unexpected"),
                ("sshd_config:PermitRootLogin", "changed"),
                ("user:backup", "missing"),
            ],
            "db-1 has no desired state, so nothing about it is judged"
        );
        assert_eq!(
            report.matched,
            [("host:web-1".to_owned(), "package:nginx".to_owned())]
        );
        let root_login = &report.findings[2];
        assert_eq!(
            (root_login.desired.clone(), root_login.observed.clone()),
            (Some(json!("no")), Some(json!("yes")))
        );
        assert_eq!(root_login.severity, Severity::High);
    }

    #[test]
    fn versions_compare_the_way_dpkg_compares_them() {
        for (left, right, expected) in [
            ("1.0", "1.0", Ordering::Equal),
            ("1.10", "1.9", Ordering::Greater),
            ("1.0~rc1", "1.0", Ordering::Less),
            ("1.0", "1.0+deb12u1", Ordering::Less),
            ("2:1.0", "1:9.9", Ordering::Greater),
            ("1.22.1-9", "1.22.1-10", Ordering::Less),
            ("1.0a", "1.0", Ordering::Greater),
            ("1.001", "1.1", Ordering::Equal),
        ] {
            assert_eq!(compare_versions(left, right), expected, "{left} vs {right}");
        }
    }

    #[test]
    fn a_number_read_back_from_the_store_still_matches() {
        // The store keeps 1.5 as "1.5" (canonical JSON carries only safe integers as numbers).
        let want = vec![desired(
            "host:a",
            "load",
            json!({"max": 1.5}),
            Compare::Equal,
        )];
        let got = vec![observed("host:a", "load", json!({"max": "1.5"}))];
        assert!(compare(&want, &got, |_| None).findings.is_empty());
        let other = vec![observed("host:a", "load", json!({"max": "2.5"}))];
        assert_eq!(compare(&want, &other, |_| None).findings.len(), 1);
    }

    #[test]
    fn sets_ignore_order() {
        let report = compare(
            &[desired(
                "host:a",
                "groups",
                json!(["web", "db"]),
                Compare::SameSet,
            )],
            &[observed("host:a", "groups", json!(["db", "web"]))],
            watch_all,
        );
        assert!(report.findings.is_empty());
    }

    fn arbitrary_facts() -> impl Strategy<Value = Vec<(u8, u8, u8)>> {
        proptest::collection::vec((0u8..4, 0u8..6, 0u8..3), 0..24)
    }

    fn build(facts: &[(u8, u8, u8)]) -> Vec<Observed> {
        facts
            .iter()
            .map(|(subject, predicate, value)| {
                observed(
                    &format!("host:h{subject}"),
                    &format!("port:tcp/{predicate}"),
                    json!(value),
                )
            })
            .collect()
    }

    proptest! {
        #[test]
        fn a_state_compared_with_itself_has_no_findings(facts in arbitrary_facts()) {
            let observed = build(&facts);
            let report = compare(&[], &observed, watch_all);
            // Nothing desired: nothing judged.
            prop_assert!(report.findings.is_empty());
            // Desire exactly what is observed (one value per key, as compare keeps it).
            let kept = compare(&[], &observed, |_| None);
            prop_assert!(kept.findings.is_empty());
            let mut by_key: BTreeMap<(String, String), Value> = BTreeMap::new();
            for fact in &observed {
                let key = (fact.subject.clone(), fact.predicate.clone());
                let current = by_key.get(&key).map(Value::to_string);
                let new = fact.value.to_string();
                if current.is_none_or(|current| new > current) {
                    by_key.insert(key, fact.value.clone());
                }
            }
            let desired: Vec<Desired> = by_key
                .iter()
                .map(|((subject, predicate), value)| desired(subject, predicate, value.clone(), Compare::Equal))
                .collect();
            let itself = compare(&desired, &observed, watch_all);
            prop_assert!(itself.findings.is_empty(), "{:?}", itself.findings);
        }

        #[test]
        fn every_desired_key_lands_in_exactly_one_outcome(
            wanted in arbitrary_facts(),
            seen in arbitrary_facts(),
        ) {
            let desired: Vec<Desired> = build(&wanted)
                .into_iter()
                .map(|fact| desired(&fact.subject, &fact.predicate, fact.value, Compare::Equal))
                .collect();
            let report = compare(&desired, &build(&seen), watch_all);
            let keys: BTreeSet<(String, String)> = desired
                .iter()
                .map(|entry| (entry.subject.clone(), entry.predicate.clone()))
                .collect();
            for key in &keys {
                let matched = report.matched.iter().filter(|matched| *matched == key).count();
                let found = report
                    .findings
                    .iter()
                    .filter(|finding| (finding.subject.clone(), finding.predicate.clone()) == *key)
                    .filter(|finding| finding.kind != Kind::Unexpected)
                    .count();
                prop_assert_eq!(matched + found, 1, "{:?}", key);
            }
            prop_assert!(report
                .findings
                .iter()
                .filter(|finding| finding.kind == Kind::Unexpected)
                .all(|finding| !keys.contains(&(finding.subject.clone(), finding.predicate.clone()))));
        }

        #[test]
        fn findings_do_not_depend_on_the_order_of_facts(
            wanted in arbitrary_facts(),
            seen in arbitrary_facts(),
            seed in any::<u64>(),
        ) {
            let desired: Vec<Desired> = build(&wanted)
                .into_iter()
                .map(|fact| desired(&fact.subject, &fact.predicate, fact.value, Compare::Equal))
                .collect();
            let observed = build(&seen);
            let order = |count: usize| {
                let mut indices: Vec<usize> = (0..count).collect();
                let mut state = seed | 1;
                for index in (1..count).rev() {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let other = usize::try_from(state % (index as u64 + 1)).unwrap();
                    indices.swap(index, other);
                }
                indices
            };
            let shuffled_desired: Vec<Desired> =
                order(desired.len()).into_iter().map(|index| desired[index].clone()).collect();
            let shuffled_observed: Vec<Observed> =
                order(observed.len()).into_iter().map(|index| observed[index].clone()).collect();
            let forward = compare(&desired, &observed, watch_all);
            let shuffled = compare(&shuffled_desired, &shuffled_observed, watch_all);
            prop_assert_eq!(forward, shuffled);
        }
    }
}
