//! The cis collector and the CIS Kubernetes baseline for Talos clusters.
//!
//! The baseline is data: [`cis_controls`] lists the 18 controls of the `talos` benchmark
//! namespace, each with its scope, title and expected normalised value. One of them,
//! `kubelet-event-qps`, is waived by the operator ([`CIS_SUPPRESSED_CONTROL_IDS`]), so 17 are
//! active. Four further controls ([`TALOS_SATISFIED_CONTROL_IDS`]) are guaranteed by Talos's
//! design and are not in the table at all.
//!
//! The collector reads JSON shaped as `{"benchmark"?: "talos", "controls": {...}}` or as a
//! flat object of control ids to values. When `controls` is missing or not an object, the
//! whole object is read as the flat form. A missing `benchmark` means `talos`; a benchmark
//! other than `talos` (compared after trimming, ignoring ASCII case) has no baseline, so all
//! its controls count as unknown. It emits one fact per active baseline control present, in
//! table order, with predicate `cis:<benchmark>:<id>` and value
//! `{"value": <normalised value>}`. Suppressed, Talos-satisfied and unknown controls are
//! dropped, and a note says how many of each. Empty, malformed, hostile or non-object input
//! gives no facts. The caller's predicate is ignored.
//!
//! [`normalize_cis_value`] turns any JSON value into the comparable text the drift engine
//! stores: booleans become `true` or `false`; arrays, and strings containing a comma, are
//! split into tokens that are trimmed, lowercased when they spell a boolean, sorted and
//! joined with `,`; any other scalar becomes its trimmed text.

use serde_json::{Map, Value};

use super::{Parsed, ParsedFact, parse_json_document};

/// The benchmark namespace every baseline control belongs to.
pub const CIS_BENCHMARK_TALOS: &str = "talos";

/// Controls the operator waived: they stay in the baseline table but are never observed.
pub const CIS_SUPPRESSED_CONTROL_IDS: [&str; 1] = ["kubelet-event-qps"];

/// Controls that Talos guarantees by construction, so they are neither baseline nor observed.
pub const TALOS_SATISFIED_CONTROL_IDS: [&str; 4] = [
    "node-no-ssh",
    "kubelet-config-file-perms",
    "apiserver-manifest-file-perms",
    "etcd-data-dir-perms",
];

/// Which subject a control is observed on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CisScope {
    /// Every node, as subject `host:<node>` (kubelet settings).
    Node,
    /// Control-plane nodes only, as subject `host:<control plane node>`.
    ControlPlane,
    /// The cluster as a whole, as subject `cluster:<name>`.
    Cluster,
}

/// One control of the CIS baseline.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CisControl {
    /// The control's id within its benchmark, such as `kubelet-anonymous-auth`.
    pub id: &'static str,
    /// Which subject the control is observed on.
    pub scope: CisScope,
    /// A short human-readable description of the setting.
    pub title: &'static str,
    /// The known-good value, already in [`normalize_cis_value`] form.
    pub expected_value: &'static str,
}

impl CisControl {
    /// The benchmark namespace the control belongs to.
    #[must_use]
    pub fn benchmark(self) -> &'static str {
        CIS_BENCHMARK_TALOS
    }

    /// The predicate facts about this control carry: `cis:<benchmark>:<id>`.
    #[must_use]
    pub fn predicate(self) -> String {
        format!("cis:{}:{}", self.benchmark(), self.id)
    }

    /// Whether the operator waived this control.
    #[must_use]
    pub fn is_suppressed(self) -> bool {
        CIS_SUPPRESSED_CONTROL_IDS.contains(&self.id)
    }
}

/// Builds a table row; it keeps the table below readable.
const fn control(
    id: &'static str,
    scope: CisScope,
    title: &'static str,
    expected_value: &'static str,
) -> CisControl {
    CisControl {
        id,
        scope,
        title,
        expected_value,
    }
}

/// The 18 baseline controls of the `talos` benchmark, suppressed ones included.
const CIS_BASELINE_CONTROLS: [CisControl; 18] = [
    control(
        "kubelet-anonymous-auth",
        CisScope::Node,
        "Kubelet rejects anonymous requests",
        "false",
    ),
    control(
        "kubelet-authorization-mode",
        CisScope::Node,
        "Kubelet authorises requests through a webhook",
        "Webhook",
    ),
    control(
        "kubelet-read-only-port",
        CisScope::Node,
        "Kubelet read-only port is disabled",
        "0",
    ),
    control(
        "kubelet-protect-kernel-defaults",
        CisScope::Node,
        "Kubelet refuses to change kernel defaults",
        "true",
    ),
    control(
        "kubelet-make-iptables-util-chains",
        CisScope::Node,
        "Kubelet manages its iptables utility chains",
        "true",
    ),
    control(
        "kubelet-rotate-certificates",
        CisScope::Node,
        "Kubelet rotates its client certificates",
        "true",
    ),
    control(
        "kubelet-rotate-server-certificates",
        CisScope::Node,
        "Kubelet rotates its serving certificates",
        "true",
    ),
    control(
        "kubelet-event-qps",
        CisScope::Node,
        "Kubelet event recording is not rate limited (waived)",
        "0",
    ),
    control(
        "apiserver-anonymous-auth",
        CisScope::ControlPlane,
        "API server rejects anonymous requests",
        "false",
    ),
    control(
        "apiserver-profiling",
        CisScope::ControlPlane,
        "API server profiling is disabled",
        "false",
    ),
    control(
        "apiserver-authorization-mode",
        CisScope::ControlPlane,
        "API server authorises with Node and RBAC",
        "Node,RBAC",
    ),
    control(
        "apiserver-service-account-lookup",
        CisScope::ControlPlane,
        "API server checks that service account tokens still exist",
        "true",
    ),
    control(
        "controller-manager-profiling",
        CisScope::ControlPlane,
        "Controller manager profiling is disabled",
        "false",
    ),
    control(
        "controller-manager-use-service-account-credentials",
        CisScope::ControlPlane,
        "Controller manager uses one service account per controller",
        "true",
    ),
    control(
        "controller-manager-bind-address",
        CisScope::ControlPlane,
        "Controller manager listens on loopback only",
        "127.0.0.1",
    ),
    control(
        "scheduler-profiling",
        CisScope::ControlPlane,
        "Scheduler profiling is disabled",
        "false",
    ),
    control(
        "scheduler-bind-address",
        CisScope::ControlPlane,
        "Scheduler listens on loopback only",
        "127.0.0.1",
    ),
    control(
        "cluster-default-pod-security",
        CisScope::Cluster,
        "Pods default to the restricted Pod Security Standard",
        "restricted",
    ),
];

/// The CIS baseline table: all 18 controls, including the suppressed one.
#[must_use]
pub fn cis_controls() -> &'static [CisControl] {
    &CIS_BASELINE_CONTROLS
}

/// Normalises an observed control value into comparable text, as the module documentation
/// describes.
#[must_use]
pub fn normalize_cis_value(value: &Value) -> String {
    match value {
        Value::Bool(flag) => flag.to_string(),
        Value::Array(items) => join_sorted_tokens(items.iter().map(token_text)),
        Value::String(text) if text.contains(',') => {
            join_sorted_tokens(text.split(',').map(str::to_owned))
        }
        Value::String(text) => text.trim().to_owned(),
        Value::Number(number) => number.to_string(),
        Value::Null | Value::Object(_) => value.to_string(),
    }
}

/// The text of one list element before it is trimmed and sorted.
fn token_text(item: &Value) -> String {
    match item {
        Value::String(text) => text.clone(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        Value::Null | Value::Array(_) | Value::Object(_) => item.to_string(),
    }
}

/// Trims each token, lowercases boolean spellings, sorts, and joins with commas.
fn join_sorted_tokens(tokens: impl Iterator<Item = String>) -> String {
    let mut normalized_tokens: Vec<String> = tokens
        .map(|token| {
            let trimmed = token.trim();
            if trimmed.eq_ignore_ascii_case("true") || trimmed.eq_ignore_ascii_case("false") {
                trimmed.to_ascii_lowercase()
            } else {
                trimmed.to_owned()
            }
        })
        .collect();
    normalized_tokens.sort_unstable();
    normalized_tokens.join(",")
}

/// Parses CIS control values into one fact per active baseline control present.
pub(super) fn parse_cis(raw: &str) -> Parsed {
    let document = match parse_json_document(raw) {
        Ok(document) => document,
        Err(rejection) => {
            return Parsed {
                facts: Vec::new(),
                notes: vec![rejection.note()],
            };
        }
    };
    let Value::Object(top_level) = document else {
        return Parsed {
            facts: Vec::new(),
            notes: vec!["the input is JSON but not an object, so no controls were read".to_owned()],
        };
    };
    let (benchmark, controls) = split_benchmark_and_controls(top_level);
    let baseline_applies = benchmark
        .as_deref()
        .is_some_and(|name| name.eq_ignore_ascii_case(CIS_BENCHMARK_TALOS));
    let mut facts = Vec::new();
    if baseline_applies {
        for baseline_control in cis_controls()
            .iter()
            .filter(|candidate| !candidate.is_suppressed())
        {
            if let Some(observed) = controls.get(baseline_control.id) {
                let mut value = Map::new();
                value.insert(
                    "value".to_owned(),
                    Value::String(normalize_cis_value(observed)),
                );
                facts.push(ParsedFact {
                    predicate: baseline_control.predicate(),
                    value: Value::Object(value),
                });
            }
        }
    }
    let notes = dropped_control_notes(&controls, baseline_applies, facts.len());
    Parsed { facts, notes }
}

/// Splits the input into its benchmark name (`None` when it is not a string) and its
/// controls, accepting both the wrapped and the flat form.
fn split_benchmark_and_controls(
    mut top_level: Map<String, Value>,
) -> (Option<String>, Map<String, Value>) {
    if !top_level.get("controls").is_some_and(Value::is_object) {
        return (Some(CIS_BENCHMARK_TALOS.to_owned()), top_level);
    }
    let benchmark = match top_level.remove("benchmark") {
        None => Some(CIS_BENCHMARK_TALOS.to_owned()),
        Some(Value::String(name)) => Some(name.trim().to_owned()),
        Some(
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::Array(_) | Value::Object(_),
        ) => None,
    };
    let controls = match top_level.remove("controls") {
        Some(Value::Object(controls)) => controls,
        Some(
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Array(_),
        )
        | None => Map::new(),
    };
    (benchmark, controls)
}

/// Counts the input controls that gave no fact, by reason, and words a note for each reason.
fn dropped_control_notes(
    controls: &Map<String, Value>,
    baseline_applies: bool,
    emitted_fact_count: usize,
) -> Vec<String> {
    let mut notes = Vec::new();
    if controls.is_empty() {
        notes.push("the input named no controls, so no facts were produced".to_owned());
        return notes;
    }
    if !baseline_applies {
        notes.push(format!(
            "the benchmark is not `{CIS_BENCHMARK_TALOS}`, which is the only one with a baseline, so all {} controls were dropped as unknown",
            controls.len()
        ));
        return notes;
    }
    let suppressed_count = controls
        .keys()
        .filter(|id| CIS_SUPPRESSED_CONTROL_IDS.contains(&id.as_str()))
        .count();
    let satisfied_count = controls
        .keys()
        .filter(|id| TALOS_SATISFIED_CONTROL_IDS.contains(&id.as_str()))
        .count();
    let unknown_count = controls
        .len()
        .saturating_sub(emitted_fact_count + suppressed_count + satisfied_count);
    if suppressed_count > 0 {
        notes.push(format!(
            "{suppressed_count} suppressed controls (waived by the operator) were dropped"
        ));
    }
    if satisfied_count > 0 {
        notes.push(format!(
            "{satisfied_count} controls that Talos satisfies by design were dropped"
        ));
    }
    if unknown_count > 0 {
        notes.push(format!(
            "{unknown_count} controls are not in the baseline and were dropped"
        ));
    }
    notes
}

#[cfg(test)]
mod tests {
    use crate::collectors::tests::{
        arbitrary_input_text, arbitrary_json_value, assert_parsed_within_caps, nested_arrays,
    };
    use crate::collectors::{Collector, MAX_STRING_BYTES, Parsed, parse};
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn cis(raw: &str) -> Parsed {
        let parsed = parse(Collector::Cis, raw, None);
        assert_parsed_within_caps(&parsed);
        parsed
    }

    #[test]
    fn the_table_has_18_controls_and_17_are_active() {
        assert_eq!(cis_controls().len(), 18);
        assert_eq!(
            cis_controls()
                .iter()
                .filter(|entry| !entry.is_suppressed())
                .count(),
            17
        );
        let mut ids: Vec<&str> = cis_controls().iter().map(|entry| entry.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 18);
        for entry in cis_controls() {
            assert!(!TALOS_SATISFIED_CONTROL_IDS.contains(&entry.id));
            assert_eq!(
                normalize_cis_value(&json!(entry.expected_value)),
                entry.expected_value
            );
            assert!(entry.predicate().starts_with("cis:talos:"));
        }
        for id in CIS_SUPPRESSED_CONTROL_IDS {
            assert!(cis_controls().iter().any(|entry| entry.id == id));
        }
    }

    #[test]
    fn normalisation_follows_the_reference_rules() {
        assert_eq!(normalize_cis_value(&json!(true)), "true");
        assert_eq!(normalize_cis_value(&json!(false)), "false");
        assert_eq!(normalize_cis_value(&json!("RBAC, Node")), "Node,RBAC");
        assert_eq!(normalize_cis_value(&json!(["RBAC", " Node "])), "Node,RBAC");
        assert_eq!(normalize_cis_value(&json!("TRUE,b,False")), "b,false,true");
        assert_eq!(normalize_cis_value(&json!([true, "x", 3])), "3,true,x");
        assert_eq!(normalize_cis_value(&json!("  Webhook ")), "Webhook");
        assert_eq!(
            normalize_cis_value(&json!("True")),
            "True",
            "single strings keep their case"
        );
        assert_eq!(normalize_cis_value(&json!(0)), "0");
        assert_eq!(normalize_cis_value(&json!(1.5)), "1.5");
        assert_eq!(normalize_cis_value(&json!([])), "");
        assert_eq!(normalize_cis_value(&json!("a,,b")), ",a,b");
    }

    const CIS_REPORT: &str = r#"{
  "benchmark": "talos",
  "controls": {
    "kubelet-anonymous-auth": false,
    "kubelet-read-only-port": 0,
    "apiserver-authorization-mode": "RBAC,Node",
    "controller-manager-bind-address": " 127.0.0.1 ",
    "cluster-default-pod-security": "restricted",
    "kubelet-event-qps": 5,
    "node-no-ssh": true,
    "etcd-data-dir-perms": "700",
    "made-up-control": "x"
  }
}"#;

    #[test]
    fn a_cis_report_gives_one_fact_per_active_control() {
        let parsed = parse(Collector::Cis, CIS_REPORT, Some("ignored"));
        assert_parsed_within_caps(&parsed);
        let facts: Vec<(&str, &Value)> = parsed
            .facts
            .iter()
            .map(|fact| (fact.predicate.as_str(), &fact.value))
            .collect();
        assert_eq!(
            facts,
            vec![
                (
                    "cis:talos:kubelet-anonymous-auth",
                    &json!({"value": "false"})
                ),
                ("cis:talos:kubelet-read-only-port", &json!({"value": "0"})),
                (
                    "cis:talos:apiserver-authorization-mode",
                    &json!({"value": "Node,RBAC"})
                ),
                (
                    "cis:talos:controller-manager-bind-address",
                    &json!({"value": "127.0.0.1"})
                ),
                (
                    "cis:talos:cluster-default-pod-security",
                    &json!({"value": "restricted"})
                ),
            ]
        );
        let notes = parsed.notes.join("\n");
        assert!(notes.contains("ignored"));
        assert!(notes.contains("1 suppressed"));
        assert!(notes.contains("2 controls that Talos satisfies"));
        assert!(notes.contains("1 controls are not in the baseline"));
    }

    #[test]
    fn the_flat_form_is_read() {
        let parsed =
            cis(r#"{"scheduler-profiling": "False", "scheduler-bind-address": "127.0.0.1"}"#);
        assert_eq!(parsed.facts.len(), 2);
        assert_eq!(parsed.facts[0].predicate, "cis:talos:scheduler-profiling");
        assert_eq!(parsed.facts[0].value, json!({"value": "False"}));
    }

    #[test]
    fn other_benchmarks_have_no_baseline() {
        let parsed =
            cis(r#"{"benchmark": "cis-k8s", "controls": {"kubelet-anonymous-auth": false}}"#);
        assert!(parsed.facts.is_empty());
        let parsed = cis(r#"{"benchmark": 5, "controls": {"kubelet-anonymous-auth": false}}"#);
        assert!(parsed.facts.is_empty());
        let parsed =
            cis(r#"{"benchmark": " TALOS ", "controls": {"kubelet-anonymous-auth": false}}"#);
        assert_eq!(parsed.facts.len(), 1);
    }

    #[test]
    fn empty_malformed_and_non_object_input_give_no_facts() {
        for raw in [
            "",
            "  ",
            "{",
            "[1,2]",
            "\"talos\"",
            "null",
            "{}",
            "{\"controls\": {}}",
        ] {
            let parsed = cis(raw);
            assert!(parsed.facts.is_empty(), "{raw:?}");
            assert!(!parsed.notes.is_empty(), "{raw:?}");
        }
    }

    #[test]
    fn non_finite_values_normalise_to_null_text() {
        let parsed = cis(
            r#"{"controls": {"kubelet-read-only-port": NaN, "apiserver-profiling": [Infinity, -Infinity]}}"#,
        );
        assert_eq!(parsed.facts[0].value, json!({"value": "null"}));
        assert_eq!(parsed.facts[1].value, json!({"value": "null,null"}));
    }

    #[test]
    fn hostile_input_stays_bounded() {
        for raw in ["[".repeat(100_000), nested_arrays(100_000)] {
            let parsed = cis(&raw);
            assert!(parsed.facts.is_empty());
            assert!(parsed.notes[0].contains("hostile"));
        }
        let huge = format!(
            r#"{{"kubelet-authorization-mode": "{}"}}"#,
            "W".repeat(5 * 1024 * 1024)
        );
        let parsed = cis(&huge);
        assert!(parsed.facts[0].value["value"].as_str().unwrap().len() <= MAX_STRING_BYTES);
        let parsed = cis(&format!(
            r#"{{"apiserver-profiling": {}}}"#,
            nested_arrays(100)
        ));
        assert_eq!(parsed.facts.len(), 1);
    }

    #[test]
    fn control_characters_in_keys_make_controls_unknown() {
        let parsed = cis("{\"kubelet-anonymous-auth\\n\": false, \"\\u0000\": 1}");
        assert!(parsed.facts.is_empty());
        assert!(
            parsed
                .notes
                .iter()
                .any(|note| note.contains("2 controls are not in the baseline"))
        );
    }

    proptest! {
        #[test]
        fn cis_never_panics_and_respects_the_caps(raw in arbitrary_input_text()) {
            assert_parsed_within_caps(&parse(Collector::Cis, &raw, None));
        }

        #[test]
        fn cis_values_of_any_shape_respect_the_caps(value in arbitrary_json_value()) {
            let mut controls = Map::new();
            for entry in cis_controls() {
                controls.insert(entry.id.to_owned(), value.clone());
            }
            let raw = json!({"controls": controls}).to_string();
            let parsed = parse(Collector::Cis, &raw, None);
            assert_parsed_within_caps(&parsed);
            prop_assert_eq!(parsed.facts.len(), 17);
        }
    }
}
