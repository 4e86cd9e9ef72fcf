//! Baseline files (`<policy_dir>/baselines/*.toml`): what hosts are expected to look like, per
//! host, group or host type, as desired facts for the drift comparison.
//!
//! ```toml
//! schema = 1
//!
//! [[expect]]
//! id = "ssh-no-root-login"
//! groups = ["web"]                 # and/or hosts = ["db-1"], host_types = ["linux"]
//! predicate = "sshd_config:PermitRootLogin"
//! equals = "no"                    # or at_least_version = "1.22", same_set = [...], absent = true
//! severity = "high"                # optional; default from the predicate's family
//! remediation = { adapter = "ansible", action = "playbooks/sshd.yml" }   # optional
//! ```
//!
//! A remediation is only a proposal (`praxis drift plan`): it runs, if ever, through
//! `run_action` and the tier, mode and approval it classifies to.
//!
//! Invariants: unknown keys, a missing or repeated id, no target, not exactly one comparison,
//! an unknown severity or an empty predicate are refused with the file and the key; a file is
//! all or nothing.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::Value;

use super::{Compare, Desired, Severity};

/// One expectation of a baseline file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectation {
    pub id: String,
    /// The file it came from (for provenance: `baseline:<file>#<id>`).
    pub file: String,
    pub hosts: Vec<String>,
    pub groups: Vec<String>,
    pub host_types: Vec<String>,
    pub predicate: String,
    pub compare: Compare,
    pub value: Value,
    pub severity: Severity,
    /// The action that converges a host to this expectation: (adapter, action).
    pub remediation: Option<(String, String)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRemediation {
    adapter: String,
    action: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    schema: u32,
    #[serde(default)]
    expect: Vec<RawExpectation>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpectation {
    id: Option<String>,
    #[serde(default)]
    hosts: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    host_types: Vec<String>,
    predicate: Option<String>,
    equals: Option<Value>,
    at_least_version: Option<String>,
    same_set: Option<Vec<Value>>,
    absent: Option<bool>,
    severity: Option<String>,
    remediation: Option<RawRemediation>,
}

/// The severity named `name`.
pub fn severity_named(name: &str) -> Option<Severity> {
    [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ]
    .into_iter()
    .find(|severity| severity.as_str() == name)
}

/// Parses one baseline file; every problem is reported as `<file>: <key>: <problem>`.
#[expect(
    clippy::too_many_lines,
    reason = "one check per key, in the file's order"
)]
pub fn parse(file: &str, text: &str) -> Result<Vec<Expectation>, Vec<String>> {
    let raw: RawFile = toml::from_str(text).map_err(|error| {
        vec![format!(
            "{file}: {}",
            error.to_string().replace('\n', " ").trim()
        )]
    })?;
    let mut problems = Vec::new();
    if raw.schema != 1 {
        problems.push(format!("{file}: schema: {} is not 1", raw.schema));
    }
    let mut ids = BTreeSet::new();
    let mut expectations = Vec::new();
    for (index, entry) in raw.expect.into_iter().enumerate() {
        let key = |field: &str| format!("{file}: expect[{index}].{field}");
        let Some(id) = entry.id.filter(|id| !id.trim().is_empty()) else {
            problems.push(format!("{}: every expectation needs an id", key("id")));
            continue;
        };
        if !ids.insert(id.clone()) {
            problems.push(format!("{}: {id:?} is used twice in this file", key("id")));
        }
        if entry.hosts.is_empty() && entry.groups.is_empty() && entry.host_types.is_empty() {
            problems.push(format!(
                "{}: name hosts, groups or host_types: an expectation applies to someone",
                key("groups")
            ));
        }
        let predicate = entry.predicate.unwrap_or_default();
        if predicate.trim().is_empty() || predicate.len() > 256 {
            problems.push(format!("{}: 1 to 256 characters", key("predicate")));
        }
        let comparisons = [
            entry.equals.is_some(),
            entry.at_least_version.is_some(),
            entry.same_set.is_some(),
            entry.absent.is_some(),
        ];
        let (compare, value) = match (
            entry.equals,
            entry.at_least_version,
            entry.same_set,
            entry.absent,
        ) {
            _ if comparisons.iter().filter(|given| **given).count() != 1 => {
                problems.push(format!(
                    "{}: give exactly one of equals, at_least_version, same_set, absent",
                    key("equals")
                ));
                continue;
            }
            (Some(value), ..) => (Compare::Equal, value),
            (_, Some(version), ..) => (Compare::AtLeastVersion, Value::String(version)),
            (_, _, Some(items), _) => (Compare::SameSet, Value::Array(items)),
            (_, _, _, Some(true)) => (Compare::Absent, Value::Null),
            _ => {
                problems.push(format!(
                    "{}: absent = false expects nothing; leave it out",
                    key("absent")
                ));
                continue;
            }
        };
        let severity = match entry.severity.as_deref() {
            None => Severity::default_for(&predicate),
            Some(name) => {
                if let Some(severity) = severity_named(name) {
                    severity
                } else {
                    problems.push(format!(
                        "{}: {name:?} is not one of info, low, medium, high, critical",
                        key("severity")
                    ));
                    continue;
                }
            }
        };
        let adapters = [
            "ssh",
            "ansible",
            "talosctl",
            "redfish",
            "terraform",
            "opentofu",
            "runbook",
        ];
        let remediation = match entry.remediation {
            Some(remedy) if !adapters.contains(&remedy.adapter.as_str()) => {
                problems.push(format!(
                    "{}: {:?} is not one of {}",
                    key("remediation.adapter"),
                    remedy.adapter,
                    adapters.join(", ")
                ));
                continue;
            }
            Some(remedy) if remedy.action.trim().is_empty() || remedy.action.len() > 4096 => {
                problems.push(format!(
                    "{}: 1 to 4096 characters",
                    key("remediation.action")
                ));
                continue;
            }
            Some(remedy) => Some((remedy.adapter, remedy.action)),
            None => None,
        };
        expectations.push(Expectation {
            remediation,
            id,
            file: file.to_owned(),
            hosts: entry.hosts,
            groups: entry.groups,
            host_types: entry.host_types,
            predicate,
            compare,
            value,
            severity,
        });
    }
    if problems.is_empty() {
        Ok(expectations)
    } else {
        Err(problems)
    }
}

/// An inventory host, as far as a baseline cares.
#[derive(Clone, Debug)]
pub struct BaselineHost<'a> {
    pub name: &'a str,
    pub host_type: &'a str,
    pub groups: &'a [String],
}

impl Expectation {
    /// Whether the expectation names `host` (by name, group or host type).
    pub fn applies_to(&self, host: &BaselineHost<'_>) -> bool {
        self.hosts.iter().any(|name| name == host.name)
            || self.groups.iter().any(|group| host.groups.contains(group))
            || self.host_types.iter().any(|kind| kind == host.host_type)
    }
}

/// The desired facts `expectations` give `hosts`: one per expectation per host it applies to,
/// for subject `host:<name>`.
pub fn desired_for(expectations: &[Expectation], hosts: &[BaselineHost<'_>]) -> Vec<Desired> {
    let mut desired = Vec::new();
    for host in hosts {
        for expectation in expectations
            .iter()
            .filter(|expectation| expectation.applies_to(host))
        {
            desired.push(Desired {
                subject: format!("host:{}", host.name),
                predicate: expectation.predicate.clone(),
                value: expectation.value.clone(),
                compare: expectation.compare.clone(),
                severity: expectation.severity,
                source: format!("baseline:{}#{}", expectation.file, expectation.id),
            });
        }
    }
    desired
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const WEB: &str = "schema = 1\n\n\
        [[expect]]\nid = \"no-root\"\ngroups = [\"web\"]\npredicate = \"sshd_config:PermitRootLogin\"\nequals = \"no\"\n\n\
        [[expect]]\nid = \"nginx\"\nhost_types = [\"linux\"]\npredicate = \"package:nginx\"\nat_least_version = \"1.22\"\nseverity = \"medium\"\n\n\
        [[expect]]\nid = \"no-telnet\"\nhosts = [\"db-1\"]\npredicate = \"port:tcp/23\"\nabsent = true\n";

    #[test]
    fn a_group_baseline_applies_to_every_host_of_the_group() {
        let expectations = parse("web.toml", WEB).unwrap();
        assert_eq!(expectations.len(), 3);
        assert_eq!(
            expectations[0].severity,
            Severity::High,
            "ssh config defaults to high"
        );
        let web = vec!["web".to_owned()];
        let none: Vec<String> = Vec::new();
        let hosts = [
            BaselineHost {
                name: "web-1",
                host_type: "linux",
                groups: &web,
            },
            BaselineHost {
                name: "web-2",
                host_type: "linux",
                groups: &web,
            },
            BaselineHost {
                name: "db-1",
                host_type: "linux",
                groups: &none,
            },
            BaselineHost {
                name: "cp-1",
                host_type: "talos",
                groups: &none,
            },
        ];
        let desired = desired_for(&expectations, &hosts);
        let for_host = |subject: &str| {
            desired
                .iter()
                .filter(|entry| entry.subject == subject)
                .map(|entry| entry.predicate.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            for_host("host:web-1"),
            ["sshd_config:PermitRootLogin", "package:nginx"]
        );
        assert_eq!(
            for_host("host:web-2"),
            ["sshd_config:PermitRootLogin", "package:nginx"]
        );
        assert_eq!(for_host("host:db-1"), ["package:nginx", "port:tcp/23"]);
        assert!(for_host("host:cp-1").is_empty());
        assert_eq!(desired[0].source, "baseline:web.toml#no-root");
        assert_eq!(desired[1].value, json!("1.22"));
    }

    #[test]
    fn malformed_baselines_are_refused_with_file_and_key() {
        for (text, needle) in [
            (
                "schema = 1\n[[expect]]\nid = \"a\"\ngroups = [\"web\"]\npredicate = \"p\"\nequals = 1\nbogus = 2\n",
                "unknown field `bogus`",
            ),
            ("schema = 2\n", "bad.toml: schema: 2 is not 1"),
            (
                "schema = 1\n[[expect]]\ngroups = [\"web\"]\npredicate = \"p\"\nequals = 1\n",
                "bad.toml: expect[0].id",
            ),
            (
                "schema = 1\n[[expect]]\nid = \"a\"\npredicate = \"p\"\nequals = 1\n",
                "bad.toml: expect[0].groups",
            ),
            (
                "schema = 1\n[[expect]]\nid = \"a\"\ngroups = [\"w\"]\npredicate = \"p\"\nequals = 1\nabsent = true\n",
                "bad.toml: expect[0].equals: give exactly one",
            ),
            (
                "schema = 1\n[[expect]]\nid = \"a\"\ngroups = [\"w\"]\npredicate = \"p\"\nequals = 1\nseverity = \"dire\"\n",
                "bad.toml: expect[0].severity",
            ),
            (
                "schema = 1\n[[expect]]\nid = \"a\"\ngroups = [\"w\"]\npredicate = \"\"\nequals = 1\n",
                "bad.toml: expect[0].predicate",
            ),
            (
                "schema = 1\n[[expect]]\nid = \"a\"\ngroups = [\"w\"]\npredicate = \"p\"\nequals = 1\n[[expect]]\nid = \"a\"\ngroups = [\"w\"]\npredicate = \"q\"\nequals = 1\n",
                "bad.toml: expect[1].id: \"a\" is used twice",
            ),
        ] {
            let problems = parse("bad.toml", text).unwrap_err();
            assert!(
                problems.iter().any(|problem| problem.contains(needle)),
                "{needle}: {problems:?}"
            );
            assert!(
                problems
                    .iter()
                    .all(|problem| problem.starts_with("bad.toml")),
                "{problems:?}"
            );
        }
    }
}
