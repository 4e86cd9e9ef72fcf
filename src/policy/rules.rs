//! Command rules as data: what `policy/*.toml` says about each command, compiled for lookup.
//!
//! A `[[rule]]` names commands (and the adapters it applies to) and optional matchers on the
//! arguments; a matching rule contributes its verdict. Matchers: `subcommand` (the first
//! operand is one of), `any_option`, `all_options`, `no_option` (short options match inside
//! clusters: `-r` matches `-rf`), `any_operand` (a regex over operands, paths normalised),
//! `any_arg` / `no_arg` (regexes over every argument), `last_operand` / `no_last_operand`
//! (a regex over the last operand, the destination of `cp` and `mv`), `max_operands`, `min_operands`.
//! Invariants: pure; every rule has a stable, unique id; a bad rule is a diagnostic naming the
//! file and key, never a panic.

use std::collections::HashMap;

use regex::Regex;
use serde::Deserialize;

use super::classify::Verdict;
use super::{PolicyDiagnostic, Tier};

/// One compiled command rule.
#[derive(Clone, Debug)]
pub struct CommandRule {
    pub id: String,
    pub verdict: Verdict,
    pub subcommand: Option<Vec<String>>,
    pub any_option: Vec<String>,
    pub all_options: Vec<String>,
    pub no_option: Vec<String>,
    pub any_operand: Option<Regex>,
    pub any_arg: Option<Regex>,
    pub no_arg: Option<Regex>,
    pub max_operands: Option<usize>,
    pub min_operands: Option<usize>,
    pub last_operand: Option<Regex>,
    pub no_last_operand: Option<Regex>,
}

/// A rule as listed for the model (`praxis://policy`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct RuleSummary {
    pub id: String,
    pub tier: String,
    pub commands: Vec<String>,
    pub adapters: Vec<String>,
}

/// The rules, indexed by (adapter, command name).
#[derive(Clone, Debug, Default)]
pub struct RuleSet {
    by_command: HashMap<(String, String), Vec<CommandRule>>,
    summaries: Vec<RuleSummary>,
    count: usize,
}

impl RuleSet {
    /// The rules that name `command` for `adapter`.
    pub fn for_command(&self, adapter: &str, command: &str) -> impl Iterator<Item = &CommandRule> {
        self.by_command
            .get(&(adapter.to_owned(), command.to_owned()))
            .into_iter()
            .flatten()
    }

    /// Every rule, in file order, for listing.
    pub fn summaries(&self) -> &[RuleSummary] {
        &self.summaries
    }

    /// How many rules there are.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// A `[[rule]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCommandRule {
    id: String,
    tier: String,
    commands: Vec<String>,
    #[serde(default)]
    adapters: Option<Vec<String>>,
    #[serde(default)]
    subcommand: Option<Vec<String>>,
    #[serde(default)]
    any_option: Vec<String>,
    #[serde(default)]
    all_options: Vec<String>,
    #[serde(default)]
    no_option: Vec<String>,
    #[serde(default)]
    any_operand: Option<String>,
    #[serde(default)]
    any_arg: Option<String>,
    #[serde(default)]
    no_arg: Option<String>,
    #[serde(default)]
    max_operands: Option<usize>,
    #[serde(default)]
    min_operands: Option<usize>,
    #[serde(default)]
    last_operand: Option<String>,
    #[serde(default)]
    no_last_operand: Option<String>,
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "documentation for operators; parsed so unknown keys stay errors"
    )]
    reason: Option<String>,
}

/// The adapters a rule applies to when it names none.
const DEFAULT_ADAPTERS: &[&str] = &["ssh"];

/// The adapter keys the classifier looks rules up by; a rule for any other adapter could never
/// match (an unreachable rule).
pub const RULE_ADAPTERS: &[&str] = &[
    "ssh",
    "talosctl",
    "terraform",
    "opentofu",
    "powershell",
    "redfish",
    "runbook",
];

/// Adds `raw` rules from `file` to `set`, reporting every problem.
#[expect(
    clippy::too_many_lines,
    reason = "one pass over the rules, every check in the order an operator reads them"
)]
pub(super) fn compile_rules(
    file: &str,
    raw: Vec<RawCommandRule>,
    set: &mut RuleSet,
    seen_ids: &mut HashMap<String, String>,
    diagnostics: &mut Vec<PolicyDiagnostic>,
) {
    let mut seen_signatures: HashMap<String, String> = HashMap::new();
    for (index, rule) in raw.into_iter().enumerate() {
        let key = format!("rule[{index}]");
        let mut problem = |key: String, message: String| {
            diagnostics.push(PolicyDiagnostic {
                file: file.to_owned(),
                key,
                message,
            });
        };
        if let Some(first) = seen_ids.insert(rule.id.clone(), file.to_owned()) {
            problem(
                format!("{key}.id"),
                format!("rule id `{}` is also defined in {first}", rule.id),
            );
            continue;
        }
        let verdict = match rule.tier.as_str() {
            "T0" => Verdict::Tier(Tier::T0),
            "T1" => Verdict::Tier(Tier::T1),
            "T2" => Verdict::Tier(Tier::T2),
            "T3" => Verdict::Tier(Tier::T3),
            "deny" => Verdict::Deny,
            other => {
                problem(
                    format!("{key}.tier"),
                    format!("unknown tier `{other}`; expected T0, T1, T2, T3 or deny"),
                );
                continue;
            }
        };
        if rule.commands.is_empty() {
            problem(
                format!("{key}.commands"),
                "a rule must name at least one command".into(),
            );
            continue;
        }
        let mut regex = |name: &str, text: Option<String>| -> Result<Option<Regex>, ()> {
            match text {
                None => Ok(None),
                Some(text) => Regex::new(&text).map(Some).map_err(|error| {
                    problem(format!("{key}.{name}"), format!("invalid regex: {error}"));
                }),
            }
        };
        let (Ok(any_operand), Ok(any_arg), Ok(no_arg), Ok(last_operand), Ok(no_last_operand)) = (
            regex("any_operand", rule.any_operand),
            regex("any_arg", rule.any_arg),
            regex("no_arg", rule.no_arg),
            regex("last_operand", rule.last_operand),
            regex("no_last_operand", rule.no_last_operand),
        ) else {
            continue;
        };
        let compiled = CommandRule {
            id: rule.id,
            verdict,
            subcommand: rule.subcommand,
            any_option: rule.any_option,
            all_options: rule.all_options,
            no_option: rule.no_option,
            any_operand,
            any_arg,
            no_arg,
            max_operands: rule.max_operands,
            min_operands: rule.min_operands,
            last_operand,
            no_last_operand,
        };
        let adapters: Vec<String> = rule.adapters.unwrap_or_else(|| {
            DEFAULT_ADAPTERS
                .iter()
                .map(|adapter| (*adapter).to_owned())
                .collect()
        });
        if let Some(unknown) = adapters
            .iter()
            .find(|adapter| !RULE_ADAPTERS.contains(&adapter.as_str()))
        {
            problem(
                format!("{key}.adapters"),
                format!(
                    "unknown adapter `{unknown}`: the rule could never match; use one of {}",
                    RULE_ADAPTERS.join(", ")
                ),
            );
            continue;
        }
        // Two rules with the same commands, adapters, matchers and tier: the second adds nothing.
        let signature = format!(
            "{:?}|{:?}|{}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
            rule.commands,
            adapters,
            compiled.verdict,
            compiled.subcommand,
            compiled.any_option,
            compiled.all_options,
            compiled.no_option,
            compiled.any_operand.as_ref().map(Regex::as_str),
            compiled.any_arg.as_ref().map(Regex::as_str),
            compiled.no_arg.as_ref().map(Regex::as_str),
            compiled.max_operands,
            compiled.min_operands,
            compiled.last_operand.as_ref().map(Regex::as_str),
            compiled.no_last_operand.as_ref().map(Regex::as_str),
        );
        if let Some(first) = seen_signatures.insert(signature, compiled.id.clone()) {
            problem(
                key.clone(),
                format!(
                    "rule `{}` repeats rule `{first}` exactly and can never change a verdict",
                    compiled.id
                ),
            );
            continue;
        }
        set.summaries.push(RuleSummary {
            id: compiled.id.clone(),
            tier: compiled.verdict.to_string(),
            commands: rule.commands.clone(),
            adapters: adapters.clone(),
        });
        for adapter in &adapters {
            for command in &rule.commands {
                set.by_command
                    .entry((adapter.clone(), command.clone()))
                    .or_default()
                    .push(compiled.clone());
            }
        }
        set.count += 1;
    }
}

#[cfg(test)]
mod tests {
    use crate::policy::Policy;

    fn problems(rules: &str) -> Vec<String> {
        let files = vec![("p.toml".to_owned(), format!("schema = 1\n{rules}"))];
        Policy::compile(&files)
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|diagnostic| diagnostic.to_string())
            .collect()
    }

    #[test]
    fn unreachable_and_broken_rules_are_reported_with_file_and_key() {
        let duplicate = "[[rule]]\nid = \"a\"\ntier = \"T0\"\ncommands = [\"ls\"]\n[[rule]]\nid = \"b\"\ntier = \"T0\"\ncommands = [\"ls\"]\n";
        assert_eq!(
            problems(duplicate),
            vec![
                "p.toml: rule[1]: rule `b` repeats rule `a` exactly and can never change a verdict"
                    .to_owned()
            ]
        );
        let unknown_adapter =
            "[[rule]]\nid = \"a\"\ntier = \"T0\"\ncommands = [\"ls\"]\nadapters = [\"telnet\"]\n";
        assert!(
            problems(unknown_adapter)[0]
                .starts_with("p.toml: rule[0].adapters: unknown adapter `telnet`")
        );
        let same_id = "[[rule]]\nid = \"a\"\ntier = \"T0\"\ncommands = [\"ls\"]\n[[rule]]\nid = \"a\"\ntier = \"T2\"\ncommands = [\"rm\"]\n";
        assert!(problems(same_id)[0].contains("rule id `a` is also defined in p.toml"));
        let bad_regex =
            "[[rule]]\nid = \"a\"\ntier = \"T0\"\ncommands = [\"ls\"]\nany_arg = \"(\"\n";
        assert!(problems(bad_regex)[0].starts_with("p.toml: rule[0].any_arg: invalid regex"));
        let unknown_key =
            "[[rule]]\nid = \"a\"\ntier = \"T0\"\ncommands = [\"ls\"]\nwhen = \"always\"\n";
        assert!(problems(unknown_key)[0].contains("when"));
    }
}
