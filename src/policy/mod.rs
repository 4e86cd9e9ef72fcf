//! Tiers, modes and classification: pure.
//!
//! Invariants:
//! - `classify` never fails and never returns a tier lower than the policy says; a tool the
//!   policy does not list is T2 (rule `default.unlisted-tool`), so the placeholder classifier
//!   fails closed until the policy engine (issue 4) replaces it.
//! - The mode gate and the approval gate are functions of the tier alone; no argument can
//!   lower a tier.
//! - No I/O, no clock, no globals: `Policy::compile` takes file contents, not paths.
#![deny(clippy::wildcard_enum_match_arm)]

pub mod classify;
pub mod rules;
pub mod shell;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

use crate::digest::{Digest, Hasher};

/// The shipped default policy files, embedded in the binary.
pub const DEFAULT_POLICY_FILES: &[(&str, &str)] = &[
    ("commands.toml", include_str!("../../policy/commands.toml")),
    ("default.toml", include_str!("../../policy/default.toml")),
];

/// The authority an action needs.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Deserialize)]
pub enum Tier {
    /// Observe: read-only.
    T0,
    /// Reversible.
    T1,
    /// State-changing.
    T2,
    /// Irreversible.
    T3,
}

impl Tier {
    /// `T0` … `T3`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::T0 => "T0",
            Tier::T1 => "T1",
            Tier::T2 => "T2",
            Tier::T3 => "T3",
        }
    }

    /// The tier named `T0` … `T3`.
    pub fn from_name(name: &str) -> Option<Tier> {
        [Tier::T0, Tier::T1, Tier::T2, Tier::T3]
            .into_iter()
            .find(|tier| tier.as_str() == name)
    }

    /// Whether running an action of this tier needs a human approval.
    pub fn requires_approval(self) -> bool {
        match self {
            Tier::T0 | Tier::T1 => false,
            Tier::T2 | Tier::T3 => true,
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Which tiers the server will run at all.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// T0 only.
    Readonly,
    /// T0 to T2 (the default); T3 is refused.
    Guarded,
    /// Every tier, each behind its own gate.
    Open,
}

impl Mode {
    /// The highest tier this mode admits.
    pub fn ceiling(self) -> Tier {
        match self {
            Mode::Readonly => Tier::T0,
            Mode::Guarded => Tier::T2,
            Mode::Open => Tier::T3,
        }
    }

    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Readonly => "readonly",
            Mode::Guarded => "guarded",
            Mode::Open => "open",
        }
    }
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(text: &str) -> Result<Mode, String> {
        match text {
            "readonly" => Ok(Mode::Readonly),
            "guarded" => Ok(Mode::Guarded),
            "open" => Ok(Mode::Open),
            other => Err(format!(
                "unknown mode `{other}`; expected readonly, guarded or open"
            )),
        }
    }
}

/// What an unknown command becomes (used by the policy engine; recorded now so the setting
/// has one meaning from the first release).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownDefault {
    /// Unknown → T2, which needs an approval (lab).
    Approval,
    /// Unknown → refused outright (production).
    Reject,
}

impl UnknownDefault {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            UnknownDefault::Approval => "approval",
            UnknownDefault::Reject => "reject",
        }
    }
}

impl FromStr for UnknownDefault {
    type Err = String;

    fn from_str(text: &str) -> Result<UnknownDefault, String> {
        match text {
            "approval" => Ok(UnknownDefault::Approval),
            "reject" => Ok(UnknownDefault::Reject),
            other => Err(format!(
                "unknown unknown_default `{other}`; expected approval or reject"
            )),
        }
    }
}

/// The rule id given to any tool the policy does not list.
pub const UNLISTED_TOOL_RULE: &str = "default.unlisted-tool";

/// The tier and the rules that produced it.
#[derive(Clone, PartialEq, Eq, Debug)]
#[must_use]
pub struct Classification {
    pub tier: Tier,
    pub rule_ids: Vec<String>,
}

/// A compiled policy.
#[derive(Clone, Debug)]
pub struct Policy {
    tools: BTreeMap<String, ToolRule>,
    commands: rules::RuleSet,
    drift: DriftRules,
    hash: Digest,
}

#[derive(Clone, Debug)]
struct ToolRule {
    id: String,
    tier: Tier,
}

/// A problem in a policy file, with the file and key it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyDiagnostic {
    pub file: String,
    pub key: String,
    pub message: String,
}

impl fmt::Display for PolicyDiagnostic {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}: {}: {}", self.file, self.key, self.message)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    schema: u32,
    #[serde(default)]
    tool: Vec<RawToolRule>,
    #[serde(default)]
    rule: Vec<rules::RawCommandRule>,
    #[serde(default)]
    drift: Option<RawDrift>,
}

/// `[drift]`: how drift bears on actuation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDrift {
    #[serde(default)]
    stale_observation_seconds: Option<u64>,
    #[serde(default)]
    stale_observation: Option<DriftEnforcement>,
    #[serde(default)]
    critical_drift_open: Option<DriftEnforcement>,
}

/// What a drift rule does to an actuation it applies to.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DriftEnforcement {
    /// The rule is off.
    Allow,
    /// The actuation needs a human approval whatever its tier.
    Approval,
    /// The actuation is refused.
    Refuse,
}

impl DriftEnforcement {
    pub fn as_str(self) -> &'static str {
        match self {
            DriftEnforcement::Allow => "allow",
            DriftEnforcement::Approval => "approval",
            DriftEnforcement::Refuse => "refuse",
        }
    }
}

/// The drift rules of the policy: what a real run of T1 or above needs of its target's drift.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DriftRules {
    /// An actuation on a target whose last observation is older than this (or that was never
    /// observed) meets `stale_observation`.
    pub stale_after_seconds: Option<u64>,
    pub stale_observation: DriftEnforcement,
    /// An actuation on a target with open critical drift its action does not address.
    pub critical_drift_open: DriftEnforcement,
}

impl DriftRules {
    /// Whether any rule can make an action need an approval (otherwise a preview need not
    /// evaluate drift to know).
    pub fn may_ask_for_approval(&self) -> bool {
        (self.stale_after_seconds.is_some() && self.stale_observation == DriftEnforcement::Approval)
            || self.critical_drift_open == DriftEnforcement::Approval
    }
}

impl Default for DriftRules {
    fn default() -> DriftRules {
        DriftRules {
            stale_after_seconds: None,
            stale_observation: DriftEnforcement::Refuse,
            critical_drift_open: DriftEnforcement::Allow,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToolRule {
    id: String,
    name: String,
    tier: Tier,
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "documentation for operators; parsed so unknown keys stay errors"
    )]
    reason: Option<String>,
}

/// The `[drift]` table of policy file `name`; it may be set in one file only.
fn compile_drift(
    name: &str,
    raw: &RawDrift,
    seen_in: &mut Option<String>,
    diagnostics: &mut Vec<PolicyDiagnostic>,
) -> DriftRules {
    if let Some(first) = seen_in.replace(name.to_owned()) {
        diagnostics.push(PolicyDiagnostic {
            file: name.to_owned(),
            key: "drift".into(),
            message: format!("[drift] is also set in {first}; set it in one file"),
        });
    }
    if raw.stale_observation_seconds == Some(0) {
        diagnostics.push(PolicyDiagnostic {
            file: name.to_owned(),
            key: "drift.stale_observation_seconds".into(),
            message: "must be at least 1 (leave it out to turn the rule off)".into(),
        });
    }
    DriftRules {
        stale_after_seconds: raw.stale_observation_seconds,
        stale_observation: raw.stale_observation.unwrap_or(DriftEnforcement::Refuse),
        critical_drift_open: raw.critical_drift_open.unwrap_or(DriftEnforcement::Allow),
    }
}

impl Policy {
    /// The embedded default policy.
    pub fn default_policy() -> Result<Policy, Vec<PolicyDiagnostic>> {
        let files: Vec<(String, String)> = DEFAULT_POLICY_FILES
            .iter()
            .map(|(name, text)| ((*name).to_owned(), (*text).to_owned()))
            .collect();
        Policy::compile(&files)
    }

    /// Compiles policy files (name, contents). Every problem is reported, not just the first.
    pub fn compile(files: &[(String, String)]) -> Result<Policy, Vec<PolicyDiagnostic>> {
        let mut sorted: Vec<&(String, String)> = files.iter().collect();
        sorted.sort_by(|left, right| left.0.cmp(&right.0));
        let mut hasher = Hasher::default();
        let mut diagnostics = Vec::new();
        let mut tools: BTreeMap<String, ToolRule> = BTreeMap::new();
        let mut ids: BTreeMap<String, String> = BTreeMap::new();
        let mut command_rules = rules::RuleSet::default();
        let mut command_ids: std::collections::HashMap<String, String> =
            std::collections::HashMap::new();
        let mut drift = DriftRules::default();
        let mut drift_file: Option<String> = None;
        if sorted.is_empty() {
            diagnostics.push(PolicyDiagnostic {
                file: "(policy directory)".into(),
                key: "*.toml".into(),
                message: "no policy files found".into(),
            });
        }
        for (name, text) in sorted {
            hasher.update(name.as_bytes());
            hasher.update(&[0]);
            hasher.update(text.as_bytes());
            hasher.update(&[0]);
            let raw: RawPolicy = match toml::from_str(text) {
                Ok(raw) => raw,
                Err(error) => {
                    diagnostics.push(PolicyDiagnostic {
                        file: name.clone(),
                        key: "(file)".into(),
                        message: error.message().to_owned(),
                    });
                    continue;
                }
            };
            if raw.schema != 1 {
                diagnostics.push(PolicyDiagnostic {
                    file: name.clone(),
                    key: "schema".into(),
                    message: format!(
                        "unsupported schema {}; this praxis reads schema 1",
                        raw.schema
                    ),
                });
            }
            if let Some(raw_drift) = raw.drift {
                drift = compile_drift(name, &raw_drift, &mut drift_file, &mut diagnostics);
            }
            rules::compile_rules(
                name,
                raw.rule,
                &mut command_rules,
                &mut command_ids,
                &mut diagnostics,
            );
            for (index, rule) in raw.tool.into_iter().enumerate() {
                let key = format!("tool[{index}]");
                if rule.id.trim().is_empty() || rule.name.trim().is_empty() {
                    diagnostics.push(PolicyDiagnostic {
                        file: name.clone(),
                        key,
                        message: "id and name must not be empty".into(),
                    });
                    continue;
                }
                if let Some(first) = ids.insert(rule.id.clone(), name.clone()) {
                    diagnostics.push(PolicyDiagnostic {
                        file: name.clone(),
                        key: format!("{key}.id"),
                        message: format!("rule id `{}` is also defined in {first}", rule.id),
                    });
                }
                if tools.contains_key(&rule.name) {
                    diagnostics.push(PolicyDiagnostic {
                        file: name.clone(),
                        key: format!("{key}.name"),
                        message: format!("tool `{}` has more than one rule", rule.name),
                    });
                    continue;
                }
                tools.insert(
                    rule.name,
                    ToolRule {
                        id: rule.id,
                        tier: rule.tier,
                    },
                );
            }
        }
        if diagnostics.is_empty() {
            Ok(Policy {
                tools,
                commands: command_rules,
                drift,
                hash: hasher.finish(),
            })
        } else {
            Err(diagnostics)
        }
    }

    /// The hash of the policy text in force; recorded in every audit record.
    pub fn hash(&self) -> Digest {
        self.hash
    }

    /// How drift bears on actuation (`[drift]`; off unless a policy file sets it).
    pub fn drift_rules(&self) -> DriftRules {
        self.drift
    }

    /// Classifies a call to `tool`.
    pub fn classify(&self, tool: &str) -> Classification {
        match self.tools.get(tool) {
            Some(rule) => Classification {
                tier: rule.tier,
                rule_ids: vec![rule.id.clone()],
            },
            None => Classification {
                tier: Tier::T2,
                rule_ids: vec![UNLISTED_TOOL_RULE.to_owned()],
            },
        }
    }

    /// Classifies a command line that `adapter` would run (see `classify`).
    pub fn classify_command(
        &self,
        adapter: &str,
        command: &str,
        unknown_default: UnknownDefault,
    ) -> classify::CommandClassification {
        classify::classify_command(&self.commands, adapter, command, unknown_default)
    }

    /// The command rules, summarised for listing.
    pub fn command_rules(&self) -> &[rules::RuleSummary] {
        self.commands.summaries()
    }

    /// How many command rules the policy holds.
    pub fn command_rule_count(&self) -> usize {
        self.commands.len()
    }

    /// The tool rules in force, as (tool, rule id, tier).
    pub fn tool_rules(&self) -> impl Iterator<Item = (&str, &str, Tier)> {
        self.tools
            .iter()
            .map(|(name, rule)| (name.as_str(), rule.id.as_str(), rule.tier))
    }
}

/// Why the mode gate refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ModeRefusal {
    pub mode: Mode,
    pub tier: Tier,
}

/// The mode gate: a tier above the mode's ceiling is refused, dry run or not.
pub fn admit_by_mode(mode: Mode, tier: Tier) -> Result<(), ModeRefusal> {
    if tier <= mode.ceiling() {
        Ok(())
    } else {
        Err(ModeRefusal { mode, tier })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_compiles_and_lists_only_reads_at_t0() {
        let policy = Policy::default_policy().unwrap();
        for tool in ["server_status", "audit_verify", "emergency_stop"] {
            assert_eq!(policy.classify(tool).tier, Tier::T0, "{tool}");
        }
    }

    #[test]
    fn an_unlisted_tool_is_t2_and_never_t0() {
        let policy = Policy::default_policy().unwrap();
        let classification = policy.classify("rm_rf_everything");
        assert_eq!(classification.tier, Tier::T2);
        assert_eq!(classification.rule_ids, vec![UNLISTED_TOOL_RULE.to_owned()]);
    }

    #[test]
    fn modes_gate_tiers() {
        assert!(admit_by_mode(Mode::Readonly, Tier::T0).is_ok());
        assert!(admit_by_mode(Mode::Readonly, Tier::T1).is_err());
        assert!(admit_by_mode(Mode::Guarded, Tier::T2).is_ok());
        assert!(admit_by_mode(Mode::Guarded, Tier::T3).is_err());
        assert!(admit_by_mode(Mode::Open, Tier::T3).is_ok());
        assert!(Tier::T2.requires_approval() && !Tier::T1.requires_approval());
    }

    #[test]
    fn drift_rules_are_off_by_default_set_in_one_file_and_checked() {
        let default = Policy::default_policy().unwrap().drift_rules();
        assert_eq!(default, DriftRules::default());
        assert_eq!(default.stale_after_seconds, None);
        assert_eq!(default.critical_drift_open, DriftEnforcement::Allow);
        let tools = "[[tool]]\nid = \"t\"\nname = \"server_status\"\ntier = \"T0\"\n";
        let one = vec![(
            "a.toml".to_owned(),
            format!(
                "schema = 1\n{tools}[drift]\nstale_observation_seconds = 60\nstale_observation = \"approval\"\ncritical_drift_open = \"refuse\"\n"
            ),
        )];
        let rules = Policy::compile(&one).unwrap().drift_rules();
        assert_eq!(rules.stale_after_seconds, Some(60));
        assert_eq!(rules.stale_observation, DriftEnforcement::Approval);
        assert_eq!(rules.critical_drift_open, DriftEnforcement::Refuse);
        let twice = vec![
            ("a.toml".to_owned(), format!("schema = 1\n{tools}[drift]\n")),
            (
                "b.toml".to_owned(),
                "schema = 1\n[drift]\nstale_observation_seconds = 0\n".to_owned(),
            ),
        ];
        let keys: Vec<String> = Policy::compile(&twice)
            .unwrap_err()
            .iter()
            .map(|diagnostic| format!("{}: {}", diagnostic.file, diagnostic.key))
            .collect();
        assert_eq!(
            keys,
            ["b.toml: drift", "b.toml: drift.stale_observation_seconds"]
        );
        let unknown = vec![(
            "a.toml".to_owned(),
            "schema = 1\n[drift]\nstale = 1\n".to_owned(),
        )];
        assert!(
            Policy::compile(&unknown).is_err(),
            "unknown keys are errors"
        );
    }

    #[test]
    fn bad_policy_files_report_file_and_key() {
        let files = vec![
            ("a.toml".to_owned(), "schema = 1\nbogus = 2\n".to_owned()),
            (
                "b.toml".to_owned(),
                "schema = 2\n[[tool]]\nid = \"x\"\nname = \"y\"\ntier = \"T9\"\n".to_owned(),
            ),
        ];
        let diagnostics = Policy::compile(&files).unwrap_err();
        assert_eq!(diagnostics.len(), 2);
        assert_eq!(diagnostics[0].file, "a.toml");
        assert!(diagnostics[0].message.contains("bogus"));
        assert_eq!(diagnostics[1].file, "b.toml");
    }

    #[test]
    fn the_policy_hash_changes_with_the_text() {
        let base = Policy::default_policy().unwrap().hash();
        let files = vec![(
            "default.toml".to_owned(),
            format!("{}\n# edited\n", DEFAULT_POLICY_FILES[0].1),
        )];
        assert_ne!(Policy::compile(&files).unwrap().hash(), base);
    }
}
