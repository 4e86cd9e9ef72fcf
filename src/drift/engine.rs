//! The drift engine over the fleet graph: reads a subject's desired state (its known-good
//! facts and the baseline expectations that name it through the inventory) and its observed
//! state, compares them with the pure [`compare`](super::compare), and reconciles the result
//! with the subject's open `drift` facts.
//!
//! Invariants:
//! - A finding is a `drift` fact (subject, predicate of the difference): it opens when the
//!   difference is first seen and its valid time ends when the difference clears, so as-of
//!   queries answer "what drift did X have then". Its value keeps `since` (when it opened) for
//!   as long as it stays open, so a finding whose observed value moves again is still one
//!   finding.
//! - Findings are owned by their source: a comparison only opens and closes findings of
//!   predicates outside `terraform:` and `ansible:`; an import only those of its own prefix
//!   (and playbook). One source never closes another's findings.
//! - Reading is separate from writing: everything here but [`load`] is pure.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::baseline::{BaselineHost, Expectation, desired_for};
use super::{Compare, Desired, Finding, Observed, Report, Severity, compare};
use crate::actuator::INVENTORY_PREDICATE;
use crate::audit::canonical;
use crate::clock::Timestamp;
use crate::digest::Digest;
use crate::fleet::{FactKey, FactType};
use crate::store::facts::NewFact;
use crate::store::{Store, StoreError};

/// Predicate prefixes of findings that imports own (a terraform plan, an ansible check).
pub const IMPORTED_PREFIXES: [&str; 2] = ["terraform:", "ansible:"];

/// The predicates praxis writes when it collects from a host itself.
pub const COLLECTED_PREFIX: &str = "praxis:collected:";

/// Whether a drift predicate belongs to an import rather than to the comparison.
pub fn is_imported(predicate: &str) -> bool {
    IMPORTED_PREFIXES
        .iter()
        .any(|prefix| predicate.starts_with(prefix))
}

/// One active fact of a subject, as the engine needs it (no provenance).
#[derive(Clone, Debug, PartialEq)]
pub struct Held {
    pub predicate: String,
    pub value: Value,
    /// When it was last seen (or recorded).
    pub seen: Timestamp,
}

/// What the engine reads of one subject.
#[derive(Clone, Debug, Default)]
pub struct SubjectState {
    pub subject: String,
    /// The inventory entry (`name`, `host_type`, `groups`), when the subject is a host.
    pub inventory: Option<Value>,
    pub known_good: Vec<Held>,
    pub observed: Vec<Held>,
    /// The open findings.
    pub drift: Vec<Held>,
}

/// The state of `name` in `states`, added empty if missing.
fn entry<'a>(states: &'a mut BTreeMap<String, SubjectState>, name: &str) -> &'a mut SubjectState {
    states
        .entry(name.to_owned())
        .or_insert_with(|| SubjectState {
            subject: name.to_owned(),
            ..SubjectState::default()
        })
}

/// Reads the current state of `subject`, or of every subject that has an inventory entry, a
/// known-good fact or an open finding.
pub fn load(store: &Store, subject: Option<&str>) -> Result<Vec<SubjectState>, StoreError> {
    let mut states: BTreeMap<String, SubjectState> = BTreeMap::new();
    if let Some(subject) = subject {
        entry(&mut states, subject);
    }
    store.for_each_current_fact(FactType::Desired, subject, |name, predicate, value, _| {
        if predicate == INVENTORY_PREDICATE {
            entry(&mut states, name).inventory = Some(value);
        }
    })?;
    for fact_type in [FactType::KnownGood, FactType::Drift] {
        store.for_each_current_fact(fact_type, subject, |name, predicate, value, seen| {
            let held = Held {
                predicate,
                value,
                seen,
            };
            let state = entry(&mut states, name);
            if fact_type == FactType::Drift {
                state.drift.push(held);
            } else {
                state.known_good.push(held);
            }
        })?;
    }
    store.for_each_current_fact(
        FactType::Observed,
        subject,
        |name, predicate, value, seen| {
            if let Some(state) = states.get_mut(name) {
                state.observed.push(Held {
                    predicate,
                    value,
                    seen,
                });
            }
        },
    )?;
    Ok(states.into_values().collect())
}

impl SubjectState {
    /// The desired facts: known-good (equality, default severities) and every baseline
    /// expectation that names this host by name, group or host type.
    pub fn desired(&self, expectations: &[Expectation]) -> Vec<Desired> {
        let mut desired: Vec<Desired> = self
            .known_good
            .iter()
            .map(|version| Desired {
                subject: self.subject.clone(),
                predicate: version.predicate.clone(),
                value: version.value.clone(),
                compare: Compare::Equal,
                severity: Severity::default_for(&version.predicate),
                source: "bless".to_owned(),
            })
            .collect();
        if let Some(inventory) = &self.inventory {
            let groups: Vec<String> = inventory["groups"]
                .as_array()
                .map(|groups| {
                    groups
                        .iter()
                        .filter_map(|group| group.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let host = BaselineHost {
                name: inventory["name"].as_str().unwrap_or_default(),
                host_type: inventory["host_type"].as_str().unwrap_or_default(),
                groups: &groups,
            };
            desired.extend(
                desired_for(expectations, std::slice::from_ref(&host))
                    .into_iter()
                    .filter(|entry| entry.subject == self.subject),
            );
        }
        desired
    }

    /// The observed facts the comparison judges.
    pub fn observations(&self) -> Vec<Observed> {
        self.observed
            .iter()
            .filter(|version| {
                !is_imported(&version.predicate) && !version.predicate.starts_with("praxis:")
            })
            .map(|version| Observed {
                subject: self.subject.clone(),
                predicate: version.predicate.clone(),
                value: version.value.clone(),
            })
            .collect()
    }

    /// Compares desired with observed state. Unexpected observations are judged only in the
    /// predicate families a blessed snapshot covers (a host blessed with its ports gets an
    /// unexpected finding for a new port; a baseline about one sshd setting does not make
    /// every package unexpected).
    pub fn report(&self, expectations: &[Expectation]) -> Report {
        let families: BTreeSet<&str> = self
            .known_good
            .iter()
            .map(|version| family(&version.predicate))
            .collect();
        compare(
            &self.desired(expectations),
            &self.observations(),
            |predicate| {
                families
                    .contains(family(predicate))
                    .then(|| Severity::default_for(predicate))
            },
        )
    }

    /// When praxis last collected from this subject: the latest sighting of its
    /// `praxis:collected:<probe>` facts. Telemetry a caller ingests does not count (it could
    /// be made up), and cannot write those predicates.
    pub fn last_observed(&self) -> Option<Timestamp> {
        self.observed
            .iter()
            .filter(|version| version.predicate.starts_with(COLLECTED_PREFIX))
            .map(|version| version.seen)
            .max()
    }

    /// This state as it will be once `puts` are written and `closings` ended (for an ingest,
    /// whose findings are reconciled in the same transaction as its facts).
    #[must_use]
    pub fn with_changes(&self, puts: &[NewFact], closings: &[FactKey]) -> SubjectState {
        let mut next = self.clone();
        let ended: BTreeSet<&str> = closings
            .iter()
            .filter(|key| key.subject == self.subject && key.fact_type == FactType::Observed)
            .map(|key| key.predicate.as_str())
            .collect();
        next.observed
            .retain(|version| !ended.contains(version.predicate.as_str()));
        for put in puts.iter().filter(|put| {
            put.key.subject == self.subject && put.key.fact_type == FactType::Observed
        }) {
            let version = next
                .observed
                .iter_mut()
                .find(|version| version.predicate == put.key.predicate);
            match version {
                Some(version) => {
                    version.value = put.value.clone();
                    version.seen = put.valid_from;
                }
                None => next.observed.push(Held {
                    predicate: put.key.predicate.clone(),
                    value: put.value.clone(),
                    seen: put.valid_from,
                }),
            }
        }
        next
    }

    /// The open findings of this subject as shown to the model and the operator.
    pub fn open_findings(&self) -> Vec<Value> {
        self.drift
            .iter()
            .map(|held| finding_json(&self.subject, held))
            .collect()
    }
}

/// The part of a predicate before its first `:` (`port:22/tcp` → `port`).
fn family(predicate: &str) -> &str {
    predicate.split(':').next().unwrap_or(predicate)
}

/// An open finding, as listed: the drift fact's value with its subject and predicate.
pub fn finding_json(subject: &str, held: &Held) -> Value {
    let mut value = held.value.clone();
    if let Value::Object(map) = &mut value {
        map.insert("subject".into(), json!(subject));
        map.insert("predicate".into(), json!(held.predicate));
    }
    value
}

/// The digest of a list of open findings (what an intent record names): what differs and how,
/// not since when, so two evaluations of the same drift agree whether or not the findings were
/// stored in between.
pub fn digest(findings: &[Value]) -> Digest {
    let mut stable: Vec<Value> = findings
        .iter()
        .map(|finding| {
            let mut finding = finding.clone();
            if let Value::Object(map) = &mut finding {
                map.remove("since");
            }
            finding
        })
        .collect();
    stable.sort_by_key(canonical::to_canonical_string);
    Digest::of(canonical::to_canonical_string(&Value::Array(stable)).as_bytes())
}

/// Drift-fact writes that bring a subject's open findings in line with a new set.
#[derive(Clone, Debug, Default)]
pub struct Changes {
    pub puts: Vec<NewFact>,
    pub closings: Vec<FactKey>,
    /// Predicates whose finding opened.
    pub opened: Vec<String>,
    /// Predicates whose finding closed.
    pub closed: Vec<String>,
    /// Every open finding of the subject afterwards, as listed.
    pub open: Vec<Value>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.puts.is_empty() && self.closings.is_empty()
    }
}

/// The drift fact value of `finding`, open since `since`.
fn finding_value(finding: &Finding, since: &Value) -> Value {
    json!({
        "kind": finding.kind.as_str(),
        "severity": finding.severity.as_str(),
        "desired": finding.desired,
        "observed": finding.observed,
        "source": finding.source,
        "since": since,
    })
}

/// Reconciles `open` (the subject's open drift facts) with `findings` over the predicates
/// `owned` selects: a new finding opens (since `now`), a continuing one keeps its `since` and
/// gets a new version only if its value changed, an owned open finding no longer found closes
/// at `now`. Open findings outside `owned` are left alone and still listed.
pub fn reconcile(
    subject: &str,
    findings: &[Finding],
    open: &[Held],
    owned: impl Fn(&str) -> bool,
    now: Timestamp,
) -> Changes {
    reconcile_with(subject, findings, open, owned, true, now)
}

/// Like `reconcile`, for a source that could not see everything it owns (an ansible check
/// that failed or could not reach the host): it opens and updates findings, and closes none.
pub fn reconcile_partial(
    subject: &str,
    findings: &[Finding],
    open: &[Held],
    owned: impl Fn(&str) -> bool,
    now: Timestamp,
) -> Changes {
    reconcile_with(subject, findings, open, owned, false, now)
}

fn reconcile_with(
    subject: &str,
    findings: &[Finding],
    open: &[Held],
    owned: impl Fn(&str) -> bool,
    close_missing: bool,
    now: Timestamp,
) -> Changes {
    let mut changes = Changes::default();
    let current: BTreeMap<&str, &Held> = open
        .iter()
        .map(|version| (version.predicate.as_str(), version))
        .collect();
    let mut found: BTreeSet<&str> = BTreeSet::new();
    let mut listed: BTreeMap<String, Value> = BTreeMap::new();
    for finding in findings
        .iter()
        .filter(|finding| finding.subject == subject && owned(&finding.predicate))
    {
        found.insert(&finding.predicate);
        let existing = current.get(finding.predicate.as_str());
        let since = existing.map_or_else(
            || json!(now.to_string()),
            |version| version.value["since"].clone(),
        );
        let value = finding_value(finding, &since);
        if existing.is_none_or(|version| !super::same_value(&version.value, &value)) {
            if existing.is_none() {
                changes.opened.push(finding.predicate.clone());
            }
            changes.puts.push(NewFact {
                key: FactKey {
                    subject: subject.to_owned(),
                    predicate: finding.predicate.clone(),
                    fact_type: FactType::Drift,
                },
                value: value.clone(),
                valid_from: now,
            });
        }
        let mut shown = value;
        shown["subject"] = json!(subject);
        shown["predicate"] = json!(finding.predicate);
        listed.insert(finding.predicate.clone(), shown);
    }
    for version in open {
        let predicate = version.predicate.as_str();
        if found.contains(predicate) {
            continue;
        }
        if owned(predicate) && close_missing {
            changes.closed.push(predicate.to_owned());
            changes.closings.push(FactKey {
                subject: subject.to_owned(),
                predicate: predicate.to_owned(),
                fact_type: FactType::Drift,
            });
        } else {
            listed.insert(predicate.to_owned(), finding_json(subject, version));
        }
    }
    changes.open = listed.into_values().collect();
    changes
}

/// Fact writes with their provenance, as one transaction will make them.
#[derive(Clone, Debug)]
pub struct FactWrite<'a> {
    pub puts: &'a [NewFact],
    pub closings: &'a [FactKey],
    pub provenance: crate::fleet::Provenance,
    pub now: Timestamp,
}

/// Reconciles every state in `states`: all their changes together (`opened` and `closed`
/// as `<subject> <predicate>`), and one summary per subject (open count, last observation).
pub fn reconcile_all(
    states: &[SubjectState],
    expectations: &[Expectation],
    now: Timestamp,
) -> (Changes, Vec<Value>) {
    let mut all = Changes::default();
    let mut subjects = Vec::with_capacity(states.len());
    for state in states {
        let changes = reconcile_state(state, expectations, now);
        subjects.push(json!({
            "subject": state.subject,
            "open": changes.open.len(),
            "last_observed": state.last_observed().map(|at| at.to_string()),
        }));
        all.merge(&state.subject, changes);
    }
    (all, subjects)
}

impl Changes {
    /// Adds `other`, the changes of `subject`, to these.
    pub fn merge(&mut self, subject: &str, other: Changes) {
        self.puts.extend(other.puts);
        self.closings.extend(other.closings);
        self.opened.extend(
            other
                .opened
                .iter()
                .map(|predicate| format!("{subject} {predicate}")),
        );
        self.closed.extend(
            other
                .closed
                .iter()
                .map(|predicate| format!("{subject} {predicate}")),
        );
        self.open.extend(other.open);
    }
}

/// The comparison's findings for `state`, reconciled with its open findings.
pub fn reconcile_state(
    state: &SubjectState,
    expectations: &[Expectation],
    now: Timestamp,
) -> Changes {
    let report = state.report(expectations);
    reconcile(
        &state.subject,
        &report.findings,
        &state.drift,
        |predicate| !is_imported(predicate),
        now,
    )
}

/// A way to converge some open findings of a host. Nothing here runs anything: an action is a
/// proposal for `run_action`, classified and approved like any other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// The predicates it addresses.
    pub findings: Vec<String>,
    /// (adapter, action) for `run_action`, when there is one to propose.
    pub action: Option<(String, String)>,
    /// Why this proposal.
    pub why: String,
}

impl Proposal {
    pub fn describe(&self) -> String {
        self.why.clone()
    }
}

/// Proposals for `host`'s open findings: a baseline's declared remediation; a real run of
/// the ansible playbook whose check found changes; a terraform apply for plan findings; and
/// for drift from a blessed snapshot, either converging by hand or re-blessing (an operator's
/// decision, never an action).
pub fn proposals(host: &str, open: &[Value], expectations: &[Expectation]) -> Vec<Proposal> {
    type Key = (Option<(String, String)>, String);
    let mut grouped: BTreeMap<Key, Vec<String>> = BTreeMap::new();
    for finding in open {
        let predicate = finding["predicate"].as_str().unwrap_or_default().to_owned();
        let source = finding["source"].as_str().unwrap_or_default();
        let (action, why) = if let Some(rest) = source.strip_prefix("baseline:") {
            let (file, id) = rest.split_once('#').unwrap_or((rest, ""));
            match expectations
                .iter()
                .find(|expectation| expectation.file == file && expectation.id == id)
                .and_then(|expectation| expectation.remediation.clone())
            {
                Some(remedy) => (
                    Some(remedy),
                    format!("apply the remediation baseline {file} declares for {id}"),
                ),
                None => (
                    None,
                    format!(
                        "baseline {file}#{id} declares no remediation: converge {host} by hand, or add one"
                    ),
                ),
            }
        } else if let Some(playbook) = source.strip_prefix("ansible:") {
            (
                Some(("ansible".to_owned(), playbook.to_owned())),
                format!(
                    "run the playbook {playbook} for real: its --check --diff found these changes on {host}"
                ),
            )
        } else if source.starts_with("terraform:") {
            // The adapter's findings name their workspace (`terraform:create in demo`); an
            // imported plan's do not, and the operator completes the proposal.
            match source.rsplit_once(" in ") {
                Some((_, workspace)) if !workspace.is_empty() => (
                    Some(("terraform".to_owned(), format!("apply {workspace}"))),
                    format!(
                        "apply the terraform workspace {workspace} for {host}: its plan found these differences"
                    ),
                ),
                _ => (
                    None,
                    format!(
                        "apply the terraform configuration this plan of {host} came from (`run_action` terraform `apply WORKSPACE`)"
                    ),
                ),
            }
        } else if finding["kind"] == json!("unexpected") || source == "bless" {
            (
                None,
                format!(
                    "drift from the blessed snapshot of {host}: undo it by hand, or, if it is intended, an operator re-blesses (`praxis drift bless host:{host} --predicates ...`)"
                ),
            )
        } else {
            (
                None,
                format!("investigate {host}: no source proposes a fix"),
            )
        };
        grouped.entry((action, why)).or_default().push(predicate);
    }
    grouped
        .into_iter()
        .map(|((action, why), findings)| Proposal {
            findings,
            action,
            why,
        })
        .collect()
}

/// Whether any open finding is critical.
pub fn has_critical(findings: &[Value]) -> bool {
    findings
        .iter()
        .any(|finding| finding["severity"] == json!(Severity::Critical.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::Kind;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_unix_nanos(seconds * 1_000_000_000)
    }

    fn version(_subject: &str, predicate: &str, _fact_type: FactType, value: Value) -> Held {
        Held {
            predicate: predicate.into(),
            value,
            seen: at(1),
        }
    }

    fn changed(predicate: &str, observed: Value) -> Finding {
        Finding {
            subject: "host:a".into(),
            predicate: predicate.into(),
            kind: Kind::Changed,
            severity: Severity::High,
            desired: Some(json!("no")),
            observed: Some(observed),
            source: Some("bless".into()),
        }
    }

    #[test]
    fn a_continuing_finding_keeps_its_since_and_a_cleared_one_closes() {
        let first = reconcile(
            "host:a",
            &[changed("sshd_config:x", json!("yes"))],
            &[],
            |_| true,
            at(10),
        );
        assert_eq!(first.opened, ["sshd_config:x"]);
        assert_eq!(first.puts[0].value["since"], json!(at(10).to_string()));
        let open = vec![version(
            "host:a",
            "sshd_config:x",
            FactType::Drift,
            first.puts[0].value.clone(),
        )];
        let same = reconcile(
            "host:a",
            &[changed("sshd_config:x", json!("yes"))],
            &open,
            |_| true,
            at(20),
        );
        assert!(
            same.is_empty(),
            "an unchanged finding writes nothing: {same:?}"
        );
        let moved = reconcile(
            "host:a",
            &[changed("sshd_config:x", json!("maybe"))],
            &open,
            |_| true,
            at(30),
        );
        assert!(moved.opened.is_empty());
        assert_eq!(
            moved.puts.len(),
            1,
            "the observed value moved: a new version"
        );
        assert_eq!(moved.puts[0].value["since"], json!(at(10).to_string()));
        let cleared = reconcile("host:a", &[], &open, |_| true, at(40));
        assert_eq!(cleared.closed, ["sshd_config:x"]);
        assert!(cleared.open.is_empty());
    }

    #[test]
    fn the_digest_names_what_differs_not_when_or_in_what_order() {
        let first = json!({"subject": "host:a", "predicate": "p", "kind": "changed", "since": "1"});
        let second =
            json!({"subject": "host:a", "predicate": "q", "kind": "missing", "since": "1"});
        let mut later = first.clone();
        later["since"] = json!("2");
        assert_eq!(
            digest(&[first.clone(), second.clone()]),
            digest(&[second.clone(), later])
        );
        let mut other = first.clone();
        other["kind"] = json!("unexpected");
        assert_ne!(digest(&[first, second.clone()]), digest(&[other, second]));
        assert_ne!(digest(&[]), digest(&[json!({"predicate": "p"})]));
    }

    #[test]
    fn a_partial_check_opens_but_never_closes() {
        let open = vec![version(
            "host:a",
            "ansible:site.yml:motd",
            FactType::Drift,
            json!({"kind": "changed", "severity": "medium", "since": "1"}),
        )];
        let owned = |predicate: &str| predicate.starts_with("ansible:site.yml:");
        let partial = reconcile_partial("host:a", &[], &open, owned, at(5));
        assert!(partial.closed.is_empty() && partial.closings.is_empty());
        assert_eq!(partial.open.len(), 1, "still listed");
        let whole = reconcile("host:a", &[], &open, owned, at(5));
        assert_eq!(whole.closed, ["ansible:site.yml:motd"]);
    }

    #[test]
    fn one_source_never_closes_another_sources_findings() {
        let open = vec![
            version(
                "host:a",
                "terraform:null_resource.x",
                FactType::Drift,
                json!({"kind": "changed", "severity": "high"}),
            ),
            version(
                "host:a",
                "port:23/tcp",
                FactType::Drift,
                json!({"kind": "unexpected", "severity": "high"}),
            ),
        ];
        let changes = reconcile(
            "host:a",
            &[],
            &open,
            |predicate| !is_imported(predicate),
            at(5),
        );
        assert_eq!(changes.closed, ["port:23/tcp"]);
        assert_eq!(changes.open.len(), 1);
        assert_eq!(
            changes.open[0]["predicate"],
            json!("terraform:null_resource.x")
        );
    }

    #[test]
    fn unexpected_is_judged_only_in_families_a_snapshot_covers() {
        let state = SubjectState {
            subject: "host:a".into(),
            inventory: None,
            known_good: vec![version(
                "host:a",
                "port:22/tcp",
                FactType::KnownGood,
                json!({"port": 22}),
            )],
            observed: vec![
                version(
                    "host:a",
                    "port:22/tcp",
                    FactType::Observed,
                    json!({"port": 22}),
                ),
                version(
                    "host:a",
                    "port:8080/tcp",
                    FactType::Observed,
                    json!({"port": 8080}),
                ),
                version(
                    "host:a",
                    "package:vim",
                    FactType::Observed,
                    json!({"version": "9"}),
                ),
            ],
            drift: Vec::new(),
        };
        let report = state.report(&[]);
        assert_eq!(report.findings.len(), 1, "{report:?}");
        assert_eq!(report.findings[0].predicate, "port:8080/tcp");
        assert_eq!(report.findings[0].kind, Kind::Unexpected);
        assert_eq!(report.findings[0].severity, Severity::High);
    }

    #[test]
    fn an_ingest_is_judged_on_the_state_it_leaves() {
        let state = SubjectState {
            subject: "host:a".into(),
            inventory: None,
            known_good: vec![version(
                "host:a",
                "port:22/tcp",
                FactType::KnownGood,
                json!({"port": 22}),
            )],
            observed: vec![version(
                "host:a",
                "port:22/tcp",
                FactType::Observed,
                json!({"port": 22}),
            )],
            drift: Vec::new(),
        };
        let closed = state.with_changes(
            &[],
            &[FactKey {
                subject: "host:a".into(),
                predicate: "port:22/tcp".into(),
                fact_type: FactType::Observed,
            }],
        );
        let report = closed.report(&[]);
        assert_eq!(report.findings.len(), 1);
        assert_eq!(report.findings[0].kind, Kind::Missing);
        let moved = state.with_changes(
            &[NewFact {
                key: FactKey {
                    subject: "host:a".into(),
                    predicate: "port:22/tcp".into(),
                    fact_type: FactType::Observed,
                },
                value: json!({"port": 22, "process": "other"}),
                valid_from: at(9),
            }],
            &[],
        );
        assert_eq!(moved.report(&[]).findings[0].kind, Kind::Changed);
        assert_eq!(
            moved.last_observed(),
            None,
            "a caller's telemetry is not a collection"
        );
        let collected = state.with_changes(
            &[NewFact {
                key: FactKey {
                    subject: "host:a".into(),
                    predicate: format!("{COLLECTED_PREFIX}listening_ports"),
                    fact_type: FactType::Observed,
                },
                value: json!(true),
                valid_from: at(11),
            }],
            &[],
        );
        assert_eq!(collected.last_observed(), Some(at(11)));
        assert!(
            collected.report(&[]).findings.is_empty(),
            "the sighting is not judged as drift"
        );
    }
}
