//! Findings from tools that compute drift themselves: a terraform/OpenTofu plan (`show -json`)
//! and an ansible `--check --diff` run (praxis's `praxis_json` callback report). Pure.
//!
//! Invariants:
//! - Every finding's predicate starts with the import's prefix (`terraform:`, or
//!   `ansible:<playbook>:`), so reconciling an import touches only its own findings.
//! - Values are redacted and bounded before they become findings: a plan can hold secrets and
//!   whole configuration files.
//! - Input that is not what it claims to be is refused with a reason, never half-imported.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Finding, Kind, Severity};
use crate::audit::{self, canonical};
use crate::digest::Digest;

/// The largest value (canonical JSON bytes) a finding keeps; a larger one is replaced by its
/// length and digest.
pub const MAX_VALUE_BYTES: usize = 8 * 1024;

/// The most findings one import produces.
pub const MAX_FINDINGS: usize = 10_000;

/// `value` with every part `sensitive` (terraform's `before_sensitive`/`after_sensitive`
/// shape: `true` where the value is sensitive) replaced by a mark.
fn masked(value: &Value, sensitive: &Value) -> Value {
    match (value, sensitive) {
        (_, Value::Bool(true)) => json!("[sensitive]"),
        (Value::Object(fields), Value::Object(marks)) => Value::Object(
            fields
                .iter()
                .map(|(key, field)| {
                    let mark = marks.get(key).unwrap_or(&Value::Null);
                    (key.clone(), masked(field, mark))
                })
                .collect(),
        ),
        (Value::Array(items), Value::Array(marks)) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(index, item)| masked(item, marks.get(index).unwrap_or(&Value::Null)))
                .collect(),
        ),
        _ => value.clone(),
    }
}

/// The key prefix of an ansible check's findings for `playbook` (its path under the playbook
/// root, as `run_action` names it): `ansible:<playbook>:`. A leading `./` is dropped so one
/// playbook has one prefix; a `:` in the name is refused, so no playbook's prefix is a prefix
/// of another's.
pub fn ansible_prefix(playbook: &str) -> Result<String, String> {
    let name = playbook.trim().trim_start_matches("./");
    if name.is_empty() || name.contains(':') || name.chars().any(char::is_control) {
        return Err(format!(
            "playbook name {:?} cannot key findings (empty, or has `:` or control characters)",
            audit::cut(playbook, 80)
        ));
    }
    Ok(format!("ansible:{name}:"))
}

/// The hosts an ansible report covers completely: in its totals with no failure and not
/// unreachable. A check of any other host saw only part of what it owns.
pub fn ansible_complete_hosts(report: &Value) -> std::collections::BTreeSet<String> {
    report["hosts"]
        .as_object()
        .map(|hosts| {
            hosts
                .iter()
                .filter(|(_, totals)| {
                    totals["failures"].as_u64().unwrap_or(1) == 0
                        && totals["unreachable"].as_u64().unwrap_or(1) == 0
                })
                .map(|(host, _)| host.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// A value as a finding keeps it: redacted, and bounded.
fn kept(value: &Value) -> Value {
    let redacted = audit::redact::redact_value(value);
    let text = canonical::to_canonical_string(&redacted);
    if text.len() <= MAX_VALUE_BYTES {
        redacted
    } else {
        json!({"omitted": true, "len": text.len(), "sha256": Digest::of(text.as_bytes()).to_hex()})
    }
}

/// The findings of a terraform/OpenTofu plan (`terraform show -json PLAN`), for `subject`:
/// `resource_drift` (the world moved away from the state) is *changed*; in `resource_changes`,
/// a create is *missing*, a delete *unexpected*, an update or replace *changed*. No-op and read
/// changes are not findings.
pub fn terraform_plan(subject: &str, plan: &Value) -> Result<Vec<Finding>, String> {
    if !plan.is_object() || plan.get("format_version").is_none() {
        return Err(
            "not a terraform plan in JSON (`terraform show -json PLANFILE`): no format_version"
                .into(),
        );
    }
    let mut findings = Vec::new();
    let entries = |key: &str| -> Result<Vec<Value>, String> {
        match plan.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items.clone()),
            Some(_) => Err(format!("`{key}` is not a list")),
        }
    };
    for (key, drifted) in [("resource_drift", true), ("resource_changes", false)] {
        for (index, entry) in entries(key)?.iter().enumerate() {
            let address = entry["address"]
                .as_str()
                .filter(|address| !address.is_empty())
                .ok_or_else(|| format!("{key}[{index}] has no address"))?;
            let actions: Vec<&str> = entry["change"]["actions"]
                .as_array()
                .ok_or_else(|| format!("{key}[{index}] ({address}) has no change.actions"))?
                .iter()
                .map(|action| action.as_str().unwrap_or("?"))
                .collect();
            // Terraform marks sensitive attributes; they never become findings in the clear.
            let before = &masked(
                &entry["change"]["before"],
                &entry["change"]["before_sensitive"],
            );
            let after = &masked(
                &entry["change"]["after"],
                &entry["change"]["after_sensitive"],
            );
            let (kind, severity) = if drifted {
                (Kind::Changed, Severity::High)
            } else {
                match actions.as_slice() {
                    ["no-op" | "read"] | [] => continue,
                    ["create"] => (Kind::Missing, Severity::Medium),
                    ["delete"] => (Kind::Unexpected, Severity::High),
                    ["update"] => (Kind::Changed, Severity::Medium),
                    _ => (Kind::Changed, Severity::High),
                }
            };
            let predicate = format!(
                "terraform:{}{}",
                if drifted { "drift:" } else { "" },
                audit::cut(address, 512)
            );
            findings.push(Finding {
                subject: subject.to_owned(),
                predicate,
                kind,
                severity,
                // A drift entry's `before` is what the state recorded, `after` what is there now;
                // a planned change's `after` is what the configuration wants.
                desired: (kind != Kind::Unexpected)
                    .then(|| kept(if drifted { before } else { after })),
                observed: (kind != Kind::Missing)
                    .then(|| kept(if drifted { after } else { before })),
                source: Some(format!("terraform:{}", audit::cut(&actions.join("+"), 64))),
            });
            if findings.len() > MAX_FINDINGS {
                return Err(format!(
                    "more than {MAX_FINDINGS} resources; refusing a partial import"
                ));
            }
        }
    }
    Ok(findings)
}

/// The findings of an ansible `--check --diff` run (the `praxis_json` callback's report), per
/// host and task, keyed `ansible:<playbook>:<task>`: a task that would change is *changed*
/// (with the diff's before and after), one that failed or a host that was unreachable is
/// *unverified* (the check could not tell). Returns findings per host name.
pub fn ansible_check(
    playbook: &str,
    report: &Value,
) -> Result<BTreeMap<String, Vec<Finding>>, String> {
    if report["praxis_ansible"] != json!(1) {
        return Err("not a praxis ansible report (the praxis_json callback's line with \"praxis_ansible\": 1)".into());
    }
    let prefix = ansible_prefix(playbook)?;
    let tasks = report["tasks"]
        .as_array()
        .ok_or("the report has no `tasks` list")?;
    let mut by_host: BTreeMap<String, Vec<Finding>> = BTreeMap::new();
    if let Some(hosts) = report["hosts"].as_object() {
        for host in hosts.keys() {
            by_host.entry(host.clone()).or_default();
        }
    }
    let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (index, task) in tasks.iter().enumerate() {
        let host = task["host"]
            .as_str()
            .filter(|host| !host.is_empty())
            .ok_or_else(|| format!("tasks[{index}] has no host"))?;
        let name = audit::cut(task["task"].as_str().unwrap_or("(unnamed task)"), 256);
        // Two tasks of one name stay two findings.
        let count = seen.entry((host.to_owned(), name.clone())).or_default();
        *count += 1;
        let predicate = if *count == 1 {
            format!("{prefix}{name}")
        } else {
            format!("{prefix}{name}#{count}")
        };
        let status = task["status"].as_str().unwrap_or("");
        let (kind, severity, desired, observed) = match status {
            "ok" if task["changed"] == json!(true) => {
                let diff = &task["diff"][0];
                (
                    Kind::Changed,
                    Severity::Medium,
                    Some(kept(diff.get("after").unwrap_or(&json!("(would change)")))),
                    Some(kept(diff.get("before").unwrap_or(&json!("(current)")))),
                )
            }
            "failed" | "unreachable" => (
                Kind::Unverified,
                Severity::Medium,
                None,
                Some(kept(&json!({"status": status, "msg": task["msg"]}))),
            ),
            _ => continue,
        };
        let findings = by_host.entry(host.to_owned()).or_default();
        findings.push(Finding {
            subject: crate::fleet::import::host_subject(host),
            predicate,
            kind,
            severity,
            desired,
            observed,
            source: Some(prefix.trim_end_matches(':').to_owned()),
        });
        if findings.len() > MAX_FINDINGS {
            return Err(format!(
                "more than {MAX_FINDINGS} task results for {host}; refusing a partial import"
            ));
        }
    }
    Ok(by_host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_becomes_missing_changed_and_unexpected_findings() {
        let plan = json!({
            "format_version": "1.0",
            "resource_drift": [{"address": "null_resource.a", "change": {"actions": ["update"], "before": {"triggers": {"v": "1"}}, "after": {"triggers": {"v": "2"}}}}],
            "resource_changes": [
                {"address": "null_resource.new", "change": {"actions": ["create"], "before": null, "after": {"triggers": null}}},
                {"address": "null_resource.old", "change": {"actions": ["delete"], "before": {"id": "1"}, "after": null}},
                {"address": "null_resource.same", "change": {"actions": ["no-op"], "before": {}, "after": {}}},
                {"address": "null_resource.swap", "change": {"actions": ["delete", "create"], "before": {"password": "hunter2"}, "after": {}}}
            ]
        });
        let findings = terraform_plan("host:cloud", &plan).unwrap();
        let kinds: Vec<(&str, Kind)> = findings
            .iter()
            .map(|finding| (finding.predicate.as_str(), finding.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("terraform:drift:null_resource.a", Kind::Changed),
                ("terraform:null_resource.new", Kind::Missing),
                ("terraform:null_resource.old", Kind::Unexpected),
                ("terraform:null_resource.swap", Kind::Changed),
            ]
        );
        assert_eq!(findings[0].desired, Some(json!({"triggers": {"v": "1"}})));
        assert_eq!(findings[0].observed, Some(json!({"triggers": {"v": "2"}})));
        assert!(
            !findings[3]
                .observed
                .as_ref()
                .unwrap()
                .to_string()
                .contains("hunter2"),
            "redacted"
        );
    }

    #[test]
    fn hostile_plans_are_refused_not_half_imported() {
        assert!(terraform_plan("s", &json!([1])).is_err());
        assert!(
            terraform_plan("s", &json!({"format_version": "1", "resource_changes": {}})).is_err()
        );
        let no_address = json!({"format_version": "1", "resource_changes": [{"change": {"actions": ["create"]}}]});
        assert!(
            terraform_plan("s", &no_address)
                .unwrap_err()
                .contains("no address")
        );
        let huge = json!({"format_version": "1", "resource_changes": [{"address": "a", "change": {"actions": ["create"], "after": "x".repeat(100_000)}}]});
        let findings = terraform_plan("s", &huge).unwrap();
        assert_eq!(
            findings[0].desired.as_ref().unwrap()["omitted"],
            json!(true)
        );
    }

    #[test]
    fn an_ansible_check_report_becomes_per_host_findings() {
        let report = json!({
            "praxis_ansible": 1,
            "hosts": {"web-1": {"changed": 1, "failures": 0, "unreachable": 0}, "web-2": {"changed": 0, "failures": 0, "unreachable": 0}, "db-1": {"unreachable": 1, "failures": 0}},
            "tasks": [
                {"host": "web-1", "task": "motd", "status": "ok", "changed": true, "diff": [{"before": "old\n", "after": "new\n"}]},
                {"host": "web-1", "task": "motd", "status": "ok", "changed": true},
                {"host": "web-2", "task": "motd", "status": "ok", "changed": false},
                {"host": "db-1", "task": "Gathering Facts", "status": "unreachable", "changed": false, "msg": "ssh: timeout"}
            ]
        });
        let findings = ansible_check("site.yml", &report).unwrap();
        assert_eq!(findings["web-1"].len(), 2);
        assert_eq!(findings["web-1"][0].predicate, "ansible:site.yml:motd");
        assert_eq!(findings["web-1"][1].predicate, "ansible:site.yml:motd#2");
        assert_eq!(findings["web-1"][0].desired, Some(json!("new\n")));
        assert!(
            findings["web-2"].is_empty(),
            "a host with nothing to change has no findings"
        );
        assert_eq!(findings["db-1"][0].kind, Kind::Unverified);
        assert!(ansible_check("x", &json!({"tasks": []})).is_err());
        assert_eq!(ansible_prefix("./site.yml").unwrap(), "ansible:site.yml:");
        assert!(ansible_prefix("a:b.yml").is_err());
        assert_eq!(
            ansible_complete_hosts(&report)
                .into_iter()
                .collect::<Vec<_>>(),
            ["web-1", "web-2"],
            "db-1 was unreachable"
        );
    }
}
