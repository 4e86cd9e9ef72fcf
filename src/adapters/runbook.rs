//! The runbook adapter: an operator's local script, confined to `runbook_root`, run for one
//! inventory host with the scrubbed environment.
//!
//! Invariants:
//! - The action is `SCRIPT [ARG ...]`: the script a plain relative path under the root
//!   (`adapters::confine`: no `..`, no absolute path, no symlink), at most eight arguments of
//!   plain characters that do not start with `-`; they go to the script as an argv, never
//!   through a shell.
//! - The script is a regular file its owner may execute and nobody else may write (mode
//!   `& 0o022 == 0`); the root directory must not be writable by others either. A script an
//!   attacker could edit is refused, not run.
//! - The script sees the scrubbed environment plus `PRAXIS_RUNBOOK_HOST`,
//!   `PRAXIS_RUNBOOK_HOST_TYPE` and, when the inventory has one, `PRAXIS_RUNBOOK_ADDRESS`;
//!   never a secret.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::confine::{self, Refusal};
use super::process::{self, ChildOutcome, ChildSpec, ProcessError};

/// The most arguments an action may pass.
const MAX_ARGUMENTS: usize = 8;

/// Why a runbook is not run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RunbookRefusal {
    #[error("no runbook_root is configured, so no runbook can run")]
    NoRoot,
    #[error("{0}")]
    Invalid(String),
    #[error("{0} leaves the runbook root (absolute, or through '..')")]
    OutsideRoot(String),
    #[error(
        "{0} is reached through a symlink ({1}); praxis runs only runbooks plainly under the root"
    )]
    Symlink(String, String),
    #[error(
        "{0} can be changed by others ({1}); praxis runs only runbooks nobody but their owner can write"
    )]
    Unsafe(String, String),
}

/// The script and arguments an action names.
pub fn resolve(
    root: Option<&Path>,
    action: &str,
) -> Result<(PathBuf, Vec<String>), RunbookRefusal> {
    let mut words = action.split_whitespace();
    let script = words.next().unwrap_or_default();
    let arguments: Vec<String> = words.map(str::to_owned).collect();
    let plain = |word: &str| {
        !word.starts_with('-')
            && word.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '/' | '=' | '-' | ',')
            })
    };
    if arguments.len() > MAX_ARGUMENTS || !arguments.iter().all(|word| plain(word)) {
        return Err(RunbookRefusal::Invalid(format!(
            "a runbook takes at most {MAX_ARGUMENTS} plain arguments (letters, digits, ._:/=-, not starting with '-'): {:?}",
            crate::audit::cut(action, 200)
        )));
    }
    let (root, path) = confine::under_root(root, script).map_err(|refusal| match refusal {
        Refusal::NoRoot => RunbookRefusal::NoRoot,
        Refusal::BadRoot(root, error) => {
            RunbookRefusal::Invalid(format!("runbook_root {root}: {error}"))
        }
        Refusal::NotAPath(shown) => {
            RunbookRefusal::Invalid(format!("{shown:?} is not a plain relative path"))
        }
        Refusal::OutsideRoot(shown) => RunbookRefusal::OutsideRoot(shown),
        Refusal::Symlink(shown, link) => RunbookRefusal::Symlink(shown, link),
        Refusal::Missing(shown) => RunbookRefusal::Invalid(format!(
            "there is no runbook {shown} under the runbook root"
        )),
    })?;
    for (what, checked) in [("the runbook root", &root), ("the script", &path)] {
        let metadata = std::fs::symlink_metadata(checked)
            .map_err(|error| RunbookRefusal::Invalid(format!("{}: {error}", checked.display())))?;
        let mode = metadata.permissions().mode();
        if mode & 0o022 != 0 {
            return Err(RunbookRefusal::Unsafe(
                script.to_owned(),
                format!("{what} has mode {:04o}", mode & 0o7777),
            ));
        }
    }
    let metadata = std::fs::symlink_metadata(&path)
        .map_err(|error| RunbookRefusal::Invalid(format!("{script}: {error}")))?;
    if !metadata.is_file() || metadata.permissions().mode() & 0o100 == 0 {
        return Err(RunbookRefusal::Invalid(format!(
            "{script} is not an executable file under the runbook root"
        )));
    }
    Ok((path, arguments))
}

/// What the script is told about its host.
#[derive(Clone, Debug)]
pub struct RunbookHost {
    pub name: String,
    pub host_type: String,
    pub address: Option<String>,
}

/// The argv a run executes.
pub fn argv(script: &Path, arguments: &[String]) -> Vec<String> {
    std::iter::once(script.display().to_string())
        .chain(arguments.iter().cloned())
        .collect()
}

/// Why a runbook could not be run.
#[derive(Debug, thiserror::Error)]
pub enum RunbookError {
    #[error(transparent)]
    Refused(#[from] RunbookRefusal),
    #[error("runbook: {0}")]
    Process(#[from] ProcessError),
}

/// Runs `action` for `host`.
pub fn run(
    root: Option<&Path>,
    host: &RunbookHost,
    action: &str,
    timeout: Duration,
    capture_limit: usize,
) -> Result<ChildOutcome, RunbookError> {
    let (script, arguments) = resolve(root, action)?;
    let mut environment = vec![
        ("PRAXIS_RUNBOOK_HOST".to_owned(), host.name.clone()),
        (
            "PRAXIS_RUNBOOK_HOST_TYPE".to_owned(),
            host.host_type.clone(),
        ),
    ];
    if let Some(address) = &host.address {
        environment.push(("PRAXIS_RUNBOOK_ADDRESS".to_owned(), address.clone()));
    }
    let spec = ChildSpec {
        argv: argv(&script, &arguments),
        extra_environment: environment,
        timeout,
        capture_limit,
    };
    Ok(process::run(&spec, std::env::vars())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(path: &Path, mode: u32) {
        std::fs::write(path, "#!/bin/sh\necho \"$PRAXIS_RUNBOOK_HOST $*\"\n").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn only_owner_writable_executables_under_the_root_run() {
        let base = std::env::temp_dir().join(format!("praxis-runbooks-{}", std::process::id()));
        drop(std::fs::remove_dir_all(&base));
        let root = base.join("runbooks");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        script(&root.join("check.sh"), 0o755);
        script(&root.join("shared.sh"), 0o775);
        script(&root.join("plain.sh"), 0o644);
        script(&base.join("outside.sh"), 0o755);
        std::os::unix::fs::symlink(base.join("outside.sh"), root.join("link.sh")).unwrap();
        let root_ref = Some(root.as_path());
        let (path, arguments) = resolve(root_ref, "check.sh web-1 mode=fast").unwrap();
        assert!(path.ends_with("check.sh"));
        assert_eq!(arguments, ["web-1", "mode=fast"]);
        assert!(matches!(
            resolve(root_ref, "../outside.sh"),
            Err(RunbookRefusal::OutsideRoot(_))
        ));
        assert!(matches!(
            resolve(root_ref, "link.sh"),
            Err(RunbookRefusal::Symlink(..))
        ));
        assert!(matches!(
            resolve(root_ref, "shared.sh"),
            Err(RunbookRefusal::Unsafe(..))
        ));
        assert!(matches!(
            resolve(root_ref, "plain.sh"),
            Err(RunbookRefusal::Invalid(_))
        ));
        for bad in [
            "check.sh --force",
            "check.sh $(id)",
            "check.sh a;b",
            "check.sh 1 2 3 4 5 6 7 8 9",
        ] {
            assert!(
                matches!(resolve(root_ref, bad), Err(RunbookRefusal::Invalid(_))),
                "{bad}"
            );
        }
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(
            resolve(root_ref, "check.sh"),
            Err(RunbookRefusal::Unsafe(..))
        ));
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        let host = RunbookHost {
            name: "web-1".into(),
            host_type: "linux".into(),
            address: None,
        };
        let outcome = run(
            root_ref,
            &host,
            "check.sh now",
            Duration::from_secs(10),
            4096,
        )
        .unwrap();
        assert_eq!(outcome.preview.trim(), "web-1 now");
        assert_eq!(resolve(None, "check.sh"), Err(RunbookRefusal::NoRoot));
        drop(std::fs::remove_dir_all(&base));
    }
}
