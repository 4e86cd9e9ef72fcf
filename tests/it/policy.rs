//! The classification corpus (`tests/fixtures/policy/corpus.toml`): every case's expected
//! verdict, against the embedded default policy.

use std::collections::BTreeSet;

use praxis::policy::{Policy, UnknownDefault};
use serde::Deserialize;

#[derive(Deserialize)]
struct Corpus {
    case: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    id: String,
    command: String,
    #[serde(default)]
    adapter: Option<String>,
    expect: String,
    #[serde(default)]
    why: String,
}

/// Every case of every `tests/fixtures/policy/*.toml` file.
fn load() -> Vec<Case> {
    let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/policy");
    let mut files: Vec<_> = std::fs::read_dir(directory)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "toml")
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .flat_map(|path| {
            toml::from_str::<Corpus>(&std::fs::read_to_string(path).unwrap())
                .unwrap()
                .case
        })
        .collect()
}

/// A case whose verdict differs: (id, expected, actual, command, why).
type Mismatch = (String, String, String, String, String);

/// The number of cases and the mismatches.
pub fn mismatches() -> (usize, Vec<Mismatch>) {
    let policy = Policy::default_policy().unwrap();
    let cases = load();
    let total = cases.len();
    let wrong = cases
        .into_iter()
        .filter_map(|case| {
            let adapter = case.adapter.as_deref().unwrap_or("ssh");
            let verdict = policy
                .classify_command(adapter, &case.command, UnknownDefault::Approval)
                .verdict
                .to_string();
            (verdict != case.expect).then_some((
                case.id,
                case.expect,
                verdict,
                case.command,
                case.why,
            ))
        })
        .collect();
    (total, wrong)
}

#[test]
fn the_corpus_has_at_least_300_cases_with_unique_ids() {
    let cases = load();
    assert!(cases.len() >= 300, "{}", cases.len());
    let mut seen = BTreeSet::new();
    for case in &cases {
        assert!(seen.insert(case.id.clone()), "duplicate id {}", case.id);
    }
}

#[test]
fn every_corpus_case_gets_its_expected_verdict() {
    let (total, wrong) = mismatches();
    for (id, expected, actual, command, why) in &wrong {
        eprintln!("{id}: expected {expected}, got {actual}: {command:?} ({why})");
    }
    assert!(wrong.is_empty(), "{} of {total} cases differ", wrong.len());
}

#[test]
fn no_corpus_case_that_changes_or_sends_anything_is_t0() {
    // Whatever else is still open, a case the corpus says is not T0 must never come out T0:
    // that would be a lowered tier.
    let (_, wrong) = mismatches();
    let lowered: Vec<_> = wrong
        .iter()
        .filter(|(_, expected, actual, _, _)| actual == "T0" && expected != "T0")
        .collect();
    for (id, expected, actual, command, _) in &lowered {
        eprintln!("{id}: expected {expected}, got {actual}: {command:?}");
    }
    assert!(
        lowered.is_empty(),
        "{} cases were classified T0 wrongly",
        lowered.len()
    );
}

#[test]
fn policy_explain_check_and_test_from_the_command_line() {
    let directory = crate::support::StateDir::empty("policy-cli");
    let explained = directory.run(&["policy", "explain", "--json", "uptime; rm -rf /tmp/x"]);
    assert!(explained.status.success());
    let verdict: serde_json::Value = serde_json::from_slice(&explained.stdout).unwrap();
    assert_eq!(verdict["verdict"], "T3");
    assert_eq!(
        verdict["deciding_rules"],
        serde_json::json!(["t3.rm-recursive"])
    );

    let cases = directory.root.join("cases");
    std::fs::create_dir_all(&cases).unwrap();
    std::fs::write(
        cases.join("mine.toml"),
        "[[case]]\ncommand = \"uptime\"\nexpect = \"T0\"\n\n[[case]]\nid = \"wrong-on-purpose\"\ncommand = \"reboot\"\nexpect = \"T0\"\n",
    )
    .unwrap();
    let tested = directory.run(&["policy", "test", cases.to_str().unwrap()]);
    assert_eq!(tested.status.code(), Some(1));
    let report = String::from_utf8_lossy(&tested.stdout);
    assert!(
        report.contains("wrong-on-purpose: expected T0, got T3"),
        "{report}"
    );
    assert!(report.contains("1 passed, 1 failed"));

    let broken = directory.root.join("broken-policy");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(
        broken.join("a.toml"),
        "schema = 1\n[[rule]]\nid = \"x\"\ntier = \"T9\"\ncommands = [\"ls\"]\n",
    )
    .unwrap();
    let checked = directory.run(&["policy", "check", broken.to_str().unwrap()]);
    assert_eq!(checked.status.code(), Some(1));
    let problems = String::from_utf8_lossy(&checked.stdout);
    assert!(
        problems.contains("a.toml: rule[0].tier: unknown tier `T9`"),
        "{problems}"
    );
    let fine = directory.run(&["policy", "check"]);
    assert!(
        fine.status.success(),
        "{}",
        String::from_utf8_lossy(&fine.stdout)
    );
}

#[test]
fn a_malformed_baseline_file_is_refused_by_policy_check_with_file_and_key() {
    let directory = crate::support::StateDir::initialised("baselines");
    let policy = directory.root.join("policy");
    std::fs::create_dir_all(policy.join("baselines")).unwrap();
    for file in ["commands.toml", "default.toml"] {
        std::fs::copy(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("policy")
                .join(file),
            policy.join(file),
        )
        .unwrap();
    }
    std::fs::write(
        policy.join("baselines/web.toml"),
        "schema = 1\n[[expect]]\nid = \"no-root\"\ngroups = [\"web\"]\npredicate = \"sshd_config:PermitRootLogin\"\nequals = \"no\"\n",
    )
    .unwrap();
    let fine = directory.run(&["policy", "check", policy.to_str().unwrap()]);
    let report = String::from_utf8_lossy(&fine.stdout);
    assert!(fine.status.success(), "{report}");
    assert!(report.contains("baselines ok: 1 expectations"), "{report}");
    std::fs::write(
        policy.join("baselines/db.toml"),
        "schema = 1\n[[expect]]\nid = \"pg\"\ngroups = [\"db\"]\npredicate = \"package:postgresql\"\nat_least_version = \"15\"\nseverity = \"urgent\"\n",
    )
    .unwrap();
    let broken = directory.run(&["policy", "check", policy.to_str().unwrap()]);
    let report = String::from_utf8_lossy(&broken.stdout);
    assert_eq!(broken.status.code(), Some(1), "{report}");
    assert!(
        report.contains("problem: baselines/db.toml: expect[0].severity"),
        "{report}"
    );
}
