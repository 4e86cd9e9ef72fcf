//! The terraform / OpenTofu adapter: `plan`, the dry run, executed in a workspace under the
//! configured root; `apply` and `destroy` are only ever previewed until approvals exist.
//!
//! Invariants:
//! - An action is `plan|apply|destroy WORKSPACE`, nothing else: no `-var`, no `-chdir`, no
//!   `-target`. The workspace is a directory under `terraform_root` reached without `..`, an
//!   absolute path or a symlink (`adapters::confine`).
//! - A dry run runs `init -input=false` (with `-plugin-dir` when one is configured), then
//!   `plan -input=false -lock=false -out=<state>/terraform/…` (`-destroy` for a destroy), then
//!   `show -json` of that plan, which is kept (mode 0600) for the drift engine. Nothing is
//!   applied; the plan file lives in praxis's state directory, not the workspace.
//! - terraform runs with the scrubbed environment plus `CHECKPOINT_DISABLE=1`,
//!   `TF_IN_AUTOMATION=1`, `TF_INPUT=0` and `TF_CLI_CONFIG_FILE=/dev/null` (no user CLI
//!   configuration, no credentials helper from a home directory).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::confine::{self, Refusal};
use super::process::{self, ChildOutcome, ChildSpec, ProcessError};
use crate::digest::Digest;

/// What an action asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    Plan,
    Apply,
    Destroy,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Plan => "plan",
            Verb::Apply => "apply",
            Verb::Destroy => "destroy",
        }
    }
}

/// Reads `plan|apply|destroy WORKSPACE`.
pub fn parse_action(action: &str) -> Result<(Verb, &str), String> {
    let words: Vec<&str> = action.split_whitespace().collect();
    let verb = match words.first().copied() {
        Some("plan") => Verb::Plan,
        Some("apply") => Verb::Apply,
        Some("destroy") => Verb::Destroy,
        _ => {
            return Err(format!(
                "a terraform action is `plan WORKSPACE`, `apply WORKSPACE` or `destroy WORKSPACE`, not {:?}",
                crate::audit::cut(action, 200)
            ));
        }
    };
    match words.as_slice() {
        [_, workspace] => Ok((verb, workspace)),
        _ => Err(format!(
            "a terraform action names one workspace and takes no options (variables and targets live in the workspace): {:?}",
            crate::audit::cut(action, 200)
        )),
    }
}

/// Why a workspace is not used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WorkspaceRefusal {
    #[error("no terraform_root is configured, so no workspace can be planned")]
    NoRoot,
    #[error("{0}")]
    Invalid(String),
    #[error("{0} leaves the terraform root (absolute, or through '..')")]
    OutsideRoot(String),
    #[error(
        "{0} is reached through a symlink ({1}); praxis plans only workspaces plainly under the root"
    )]
    Symlink(String, String),
    #[error("{0} is not a directory of .tf files under the terraform root")]
    NotAWorkspace(String),
}

/// The workspace an action names, confined to `root`.
pub fn workspace(root: Option<&Path>, action: &str) -> Result<(Verb, PathBuf), WorkspaceRefusal> {
    let (verb, relative) = parse_action(action).map_err(WorkspaceRefusal::Invalid)?;
    let (_, path) = confine::under_root(root, relative).map_err(|refusal| match refusal {
        Refusal::NoRoot => WorkspaceRefusal::NoRoot,
        Refusal::BadRoot(root, error) => {
            WorkspaceRefusal::Invalid(format!("terraform_root {root}: {error}"))
        }
        Refusal::NotAPath(shown) => {
            WorkspaceRefusal::Invalid(format!("{shown:?} is not a plain relative path"))
        }
        Refusal::OutsideRoot(shown) => WorkspaceRefusal::OutsideRoot(shown),
        Refusal::Symlink(shown, link) => WorkspaceRefusal::Symlink(shown, link),
        Refusal::Missing(shown) => WorkspaceRefusal::NotAWorkspace(shown),
    })?;
    let has_tf = std::fs::read_dir(&path).is_ok_and(|entries| {
        entries.flatten().any(|entry| {
            entry
                .path()
                .extension()
                .is_some_and(|extension| extension == "tf")
        })
    });
    if !has_tf {
        return Err(WorkspaceRefusal::NotAWorkspace(relative.to_owned()));
    }
    Ok((verb, path))
}

/// How the adapter runs, from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct TerraformOptions<'a> {
    pub binary: &'a Path,
    pub root: Option<&'a Path>,
    pub plugin_dir: Option<&'a Path>,
    pub state_dir: &'a Path,
    pub timeout: Duration,
}

/// Where the plan of `verb` on `workspace` for `host` is kept (an apply's and a destroy's
/// plans never share a file).
pub fn plan_directory(state_dir: &Path, host: &str, workspace: &Path, verb: Verb) -> PathBuf {
    let name =
        Digest::of(format!("{}\0{}", workspace.display(), verb.as_str()).as_bytes()).to_hex();
    state_dir.join("terraform").join(host).join(&name[..16])
}

/// The argv of a real run: what an approved `apply`/`destroy` would execute.
pub fn apply_argv(options: &TerraformOptions<'_>, verb: Verb, workspace: &Path) -> Vec<String> {
    let mut argv = vec![
        options.binary.display().to_string(),
        format!("-chdir={}", workspace.display()),
    ];
    match verb {
        Verb::Plan => argv.extend(["plan".into(), "-input=false".into(), "-no-color".into()]),
        Verb::Apply => argv.extend(["apply".into(), "-input=false".into(), "-no-color".into()]),
        Verb::Destroy => argv.extend(["destroy".into(), "-input=false".into(), "-no-color".into()]),
    }
    argv
}

/// The argvs of a dry run: init, plan into praxis's state directory, show it as JSON.
pub fn plan_argvs(
    options: &TerraformOptions<'_>,
    verb: Verb,
    workspace: &Path,
    plan_file: &Path,
) -> [Vec<String>; 3] {
    let binary = options.binary.display().to_string();
    let chdir = format!("-chdir={}", workspace.display());
    let mut init = vec![
        binary.clone(),
        chdir.clone(),
        "init".into(),
        "-input=false".into(),
        "-no-color".into(),
    ];
    if let Some(plugins) = options.plugin_dir {
        init.push(format!("-plugin-dir={}", plugins.display()));
    }
    let mut plan = vec![
        binary.clone(),
        chdir.clone(),
        "plan".into(),
        "-input=false".into(),
        "-no-color".into(),
        "-lock=false".into(),
        format!("-out={}", plan_file.display()),
    ];
    if verb == Verb::Destroy {
        plan.push("-destroy".into());
    }
    let show = vec![
        binary,
        chdir,
        "show".into(),
        "-json".into(),
        plan_file.display().to_string(),
    ];
    [init, plan, show]
}

/// Why a plan could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TerraformError {
    #[error(transparent)]
    Refused(#[from] WorkspaceRefusal),
    #[error("cannot prepare {0}: {1}")]
    Prepare(PathBuf, std::io::Error),
    #[error("terraform: {0}")]
    Process(#[from] ProcessError),
    #[error("terraform {step} failed (exit {code:?}{timed_out}): {stderr}")]
    Step {
        step: &'static str,
        code: Option<i32>,
        timed_out: &'static str,
        stderr: String,
    },
}

/// What every terraform child gets besides the scrubbed environment: no update checks, no
/// prompts, no operator CLI configuration.
fn environment() -> Vec<(String, String)> {
    [
        ("CHECKPOINT_DISABLE", "1"),
        ("TF_IN_AUTOMATION", "1"),
        ("TF_INPUT", "0"),
        ("TF_CLI_CONFIG_FILE", "/dev/null"),
    ]
    .iter()
    .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
    .collect()
}

/// The plan file a dry run of `action` for `host` kept (`plan.tfplan`), if any: its digest
/// binds an approval to exactly that plan.
pub fn kept_plan_digest(
    options: &TerraformOptions<'_>,
    host: &str,
    action: &str,
) -> Option<Digest> {
    let (verb, workspace) = workspace(options.root, action).ok()?;
    // The plan file itself: what `apply` runs, not its JSON rendering.
    let plan_file = plan_directory(options.state_dir, host, &workspace, verb).join("plan.tfplan");
    let bytes = std::fs::read(plan_file).ok()?;
    Some(Digest::of(&bytes))
}

/// Applies the plan the dry run of `action` kept for `host` (`terraform apply PLANFILE`): what
/// was previewed and approved, nothing else; terraform refuses a plan the world has moved
/// away from. The actuator reaches this only for an approved action.
pub fn apply_kept_plan(
    options: &TerraformOptions<'_>,
    host: &str,
    action: &str,
    capture_limit: usize,
) -> Result<(Vec<String>, ChildOutcome), TerraformError> {
    let (verb, workspace) = workspace(options.root, action)?;
    let plan_file = plan_directory(options.state_dir, host, &workspace, verb).join("plan.tfplan");
    if !plan_file.is_file() {
        return Err(TerraformError::Prepare(
            plan_file,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no kept plan; preview the action first",
            ),
        ));
    }
    let argv = vec![
        options.binary.display().to_string(),
        format!("-chdir={}", workspace.display()),
        "apply".into(),
        "-input=false".into(),
        "-no-color".into(),
        plan_file.display().to_string(),
    ];
    let spec = ChildSpec {
        argv: argv.clone(),
        extra_environment: environment(),
        timeout: options.timeout,
        capture_limit,
    };
    let outcome = process::run(&spec, std::env::vars())?;
    Ok((argv, outcome))
}

/// A plan, made and kept.
#[derive(Debug)]
pub struct Planned {
    pub verb: Verb,
    pub workspace: PathBuf,
    /// The `show -json` document.
    pub plan: Value,
    /// Where it was kept.
    pub plan_json: PathBuf,
    /// The plan step's own outcome (its human-readable output).
    pub outcome: ChildOutcome,
    pub argvs: [Vec<String>; 3],
}

/// Runs the dry run of `action` for `host`.
pub fn plan(
    options: &TerraformOptions<'_>,
    host: &str,
    action: &str,
    capture_limit: usize,
) -> Result<Planned, TerraformError> {
    let started = Instant::now();
    let (verb, workspace) = workspace(options.root, action)?;
    let directory = plan_directory(options.state_dir, host, &workspace, verb);
    {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&directory)
            .map_err(|error| TerraformError::Prepare(directory.clone(), error))?;
    }
    let plan_file = directory.join("plan.tfplan");
    let argvs = plan_argvs(options, verb, &workspace, &plan_file);
    let environment = environment();
    let run_step =
        |step: &'static str, argv: &Vec<String>| -> Result<ChildOutcome, TerraformError> {
            let spec = ChildSpec {
                argv: argv.clone(),
                extra_environment: environment.clone(),
                timeout: options.timeout.saturating_sub(started.elapsed()),
                capture_limit,
            };
            let outcome = process::run(&spec, std::env::vars())?;
            if outcome.exit_code != Some(0) || outcome.timed_out {
                return Err(TerraformError::Step {
                    step,
                    code: outcome.exit_code,
                    timed_out: if outcome.timed_out { ", timed out" } else { "" },
                    stderr: crate::audit::cut(outcome.stderr_preview.trim(), 2_000),
                });
            }
            Ok(outcome)
        };
    let [init_argv, plan_argv, show_argv] = &argvs;
    run_step("init", init_argv)?;
    let plan_outcome = run_step("plan", plan_argv)?;
    let show = run_step("show", show_argv)?;
    if usize::try_from(show.output_len).unwrap_or(usize::MAX) > capture_limit {
        return Err(TerraformError::Step {
            step: "show",
            code: show.exit_code,
            timed_out: "",
            stderr: format!(
                "the plan's JSON is {} bytes, over the {capture_limit}-byte limit",
                show.output_len
            ),
        });
    }
    let plan: Value =
        serde_json::from_str(&show.preview).map_err(|error| TerraformError::Step {
            step: "show",
            code: show.exit_code,
            timed_out: "",
            stderr: format!("the plan is not JSON: {error}"),
        })?;
    let plan_json = directory.join("plan.json");
    super::write_private_file(&plan_json, &show.preview)
        .map_err(|error| TerraformError::Prepare(plan_json.clone(), error))?;
    Ok(Planned {
        verb,
        workspace,
        plan,
        plan_json,
        outcome: plan_outcome,
        argvs,
    })
}

/// What a plan would do: each resource change (address and actions) and each drift entry, and
/// counts by action.
pub fn summary(plan: &Value) -> Value {
    let changes: Vec<Value> = plan["resource_changes"]
        .as_array()
        .map(|changes| {
            changes
                .iter()
                .map(|change| json!({"address": change["address"], "actions": change["change"]["actions"]}))
                .collect()
        })
        .unwrap_or_default();
    let drift: Vec<Value> = plan["resource_drift"]
        .as_array()
        .map(|drift| {
            drift
                .iter()
                .map(|entry| json!({"address": entry["address"], "actions": entry["change"]["actions"]}))
                .collect()
        })
        .unwrap_or_default();
    let mut counts = serde_json::Map::new();
    for change in &changes {
        for action in change["actions"].as_array().into_iter().flatten() {
            if let Some(action) = action.as_str() {
                let count = counts.get(action).and_then(Value::as_u64).unwrap_or(0);
                counts.insert(action.to_owned(), json!(count + 1));
            }
        }
    }
    json!({"changes": changes, "drift": drift, "counts": counts, "terraform_version": plan["terraform_version"]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_a_verb_and_one_workspace() {
        assert_eq!(parse_action("plan web"), Ok((Verb::Plan, "web")));
        assert_eq!(
            parse_action("destroy envs/prod"),
            Ok((Verb::Destroy, "envs/prod"))
        );
        for bad in [
            "plan",
            "plan web -var x=1",
            "import web",
            "plan -chdir=/ web",
            "",
        ] {
            assert!(parse_action(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn workspaces_stay_under_the_root_and_hold_terraform() {
        let base = std::env::temp_dir().join(format!("praxis-tf-{}", std::process::id()));
        drop(std::fs::remove_dir_all(&base));
        let root = base.join("root");
        std::fs::create_dir_all(root.join("web")).unwrap();
        std::fs::create_dir_all(root.join("empty")).unwrap();
        std::fs::create_dir_all(base.join("outside")).unwrap();
        std::fs::write(root.join("web/main.tf"), "").unwrap();
        std::fs::write(base.join("outside/main.tf"), "").unwrap();
        std::os::unix::fs::symlink(base.join("outside"), root.join("link")).unwrap();
        let root_ref = Some(root.as_path());
        assert_eq!(workspace(root_ref, "plan web").unwrap().0, Verb::Plan);
        assert!(matches!(
            workspace(root_ref, "plan ../outside"),
            Err(WorkspaceRefusal::OutsideRoot(_))
        ));
        assert!(matches!(
            workspace(root_ref, "plan /etc"),
            Err(WorkspaceRefusal::OutsideRoot(_))
        ));
        assert!(matches!(
            workspace(root_ref, "plan link"),
            Err(WorkspaceRefusal::Symlink(..))
        ));
        assert!(matches!(
            workspace(root_ref, "plan empty"),
            Err(WorkspaceRefusal::NotAWorkspace(_))
        ));
        assert!(matches!(
            workspace(root_ref, "plan nowhere"),
            Err(WorkspaceRefusal::NotAWorkspace(_))
        ));
        assert_eq!(workspace(None, "plan web"), Err(WorkspaceRefusal::NoRoot));
        drop(std::fs::remove_dir_all(&base));
    }

    #[test]
    fn a_dry_run_plans_into_the_state_directory_and_never_applies() {
        let options = TerraformOptions {
            binary: Path::new("terraform"),
            root: None,
            plugin_dir: Some(Path::new("/srv/plugins")),
            state_dir: Path::new("/var/lib/praxis"),
            timeout: Duration::from_secs(1),
        };
        let [init, plan, show] = plan_argvs(
            &options,
            Verb::Destroy,
            Path::new("/srv/tf/web"),
            Path::new("/var/lib/praxis/terraform/p"),
        );
        assert!(init.contains(&"-plugin-dir=/srv/plugins".to_owned()));
        assert_eq!(
            &plan[2..],
            [
                "plan",
                "-input=false",
                "-no-color",
                "-lock=false",
                "-out=/var/lib/praxis/terraform/p",
                "-destroy"
            ]
        );
        assert_eq!(&show[2..], ["show", "-json", "/var/lib/praxis/terraform/p"]);
        assert!(
            ![init, plan, show]
                .iter()
                .flatten()
                .any(|word| word == "apply")
        );
    }

    #[test]
    fn the_summary_counts_actions_and_lists_drift() {
        let plan = json!({"terraform_version": "1.0.3",
            "resource_changes": [
                {"address": "null_resource.a", "change": {"actions": ["create"]}},
                {"address": "null_resource.b", "change": {"actions": ["delete", "create"]}}],
            "resource_drift": [{"address": "null_resource.c", "change": {"actions": ["update"]}}]});
        let summarised = summary(&plan);
        assert_eq!(summarised["counts"], json!({"create": 2, "delete": 1}));
        assert_eq!(summarised["drift"][0]["address"], "null_resource.c");
        assert_eq!(summary(&json!({}))["changes"], json!([]));
    }
}
