//! The talosctl adapter: a Talos node's API through the `talosctl` binary.
//!
//! The nodes, endpoints and talosconfig come from the inventory and the configuration, always
//! before the verb; the action's words follow them unchanged (the actuator has already refused
//! quoting and options that would retarget, see `actuator::action`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::process::{self, ChildOutcome, ChildSpec, ProcessError};

/// Where a Talos host's API is reached, from the inventory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TalosTarget {
    pub host: String,
    pub nodes: Vec<String>,
    pub endpoints: Vec<String>,
}

/// Why talosctl could not be run.
#[derive(Debug, thiserror::Error)]
pub enum TalosError {
    #[error("no talosconfig is configured (talosconfig_file)")]
    NoTalosconfig,
    #[error("the inventory records no Talos nodes for {0}")]
    NoNodes(String),
    #[error("talosctl: {0}")]
    Process(#[from] ProcessError),
}

/// The argv for `action` on `target`: the binary, the talosconfig, the targets, then the verb.
pub fn argv(binary: &Path, talosconfig: &Path, target: &TalosTarget, action: &str) -> Vec<String> {
    let mut argv = vec![
        binary.display().to_string(),
        "--talosconfig".into(),
        talosconfig.display().to_string(),
        "--nodes".into(),
        target.nodes.join(","),
    ];
    if !target.endpoints.is_empty() {
        argv.push("--endpoints".into());
        argv.push(target.endpoints.join(","));
    }
    argv.extend(action.split_whitespace().map(str::to_owned));
    argv
}

/// Runs `action` on `target` through `binary` (default `talosctl` from the child's PATH).
pub fn run(
    binary: Option<&Path>,
    talosconfig: Option<&Path>,
    target: &TalosTarget,
    action: &str,
    timeout: Duration,
    capture_limit: usize,
) -> Result<ChildOutcome, TalosError> {
    let talosconfig = talosconfig.ok_or(TalosError::NoTalosconfig)?;
    if target.nodes.is_empty() {
        return Err(TalosError::NoNodes(target.host.clone()));
    }
    let binary = binary.map_or_else(|| PathBuf::from("talosctl"), Path::to_path_buf);
    let spec = ChildSpec {
        argv: argv(&binary, talosconfig, target, action),
        extra_environment: Vec::new(),
        timeout,
        capture_limit,
    };
    Ok(process::run(&spec, std::env::vars())?)
}

/// The verbs that change a node beyond undoing: reset wipes it, upgrade replaces its OS.
pub const IRREVERSIBLE_VERBS: &[&str] = &["reset", "upgrade", "upgrade-k8s"];

/// Whether `action` starts with an irreversible verb.
pub fn is_irreversible(action: &str) -> bool {
    action
        .split_whitespace()
        .next()
        .is_some_and(|verb| IRREVERSIBLE_VERBS.contains(&verb))
}

/// The health pre-flight of `target`: `talosctl health` from its first node, which checks the
/// whole cluster (etcd, apid, kubelet, every node ready). Nothing irreversible runs unless it
/// passes.
pub fn health_argv(binary: &Path, talosconfig: &Path, target: &TalosTarget) -> Vec<String> {
    argv(binary, talosconfig, &first_node(target), HEALTH_ACTION)
}

/// `target` asked through its first node only (`talosctl health` takes exactly one).
fn first_node(target: &TalosTarget) -> TalosTarget {
    TalosTarget {
        nodes: target.nodes.iter().take(1).cloned().collect(),
        ..target.clone()
    }
}

/// The pre-flight's verb and options.
const HEALTH_ACTION: &str = "health --wait-timeout 60s";

/// Runs the health pre-flight (`health_argv`, through `run`); the outcome's exit code 0 means
/// the cluster is healthy.
pub fn health_preflight(
    binary: Option<&Path>,
    talosconfig: Option<&Path>,
    target: &TalosTarget,
    timeout: Duration,
    capture_limit: usize,
) -> Result<ChildOutcome, TalosError> {
    run(
        binary,
        talosconfig,
        &first_node(target),
        HEALTH_ACTION,
        timeout,
        capture_limit,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_credentials_come_before_the_verb() {
        let target = TalosTarget {
            host: "cp-1".into(),
            nodes: vec!["10.5.0.2".into()],
            endpoints: vec!["10.5.0.2".into(), "10.5.0.3".into()],
        };
        assert_eq!(
            argv(
                Path::new("/usr/bin/talosctl"),
                Path::new("/etc/praxis/talosconfig"),
                &target,
                "get  members"
            ),
            [
                "/usr/bin/talosctl",
                "--talosconfig",
                "/etc/praxis/talosconfig",
                "--nodes",
                "10.5.0.2",
                "--endpoints",
                "10.5.0.2,10.5.0.3",
                "get",
                "members"
            ]
        );
    }

    #[test]
    fn the_health_preflight_asks_one_node_about_the_whole_cluster() {
        let target = TalosTarget {
            host: "cp-1".into(),
            nodes: vec!["10.5.0.2".into(), "10.5.0.3".into()],
            endpoints: Vec::new(),
        };
        let argv = health_argv(Path::new("talosctl"), Path::new("/t"), &target);
        assert_eq!(
            argv[3..],
            ["--nodes", "10.5.0.2", "health", "--wait-timeout", "60s"]
        );
        assert!(is_irreversible("reset --graceful=false"));
        assert!(is_irreversible("upgrade --image x"));
        assert!(!is_irreversible("reboot"));
        assert!(!is_irreversible("get members"));
    }

    #[test]
    fn missing_config_or_nodes_is_refused_before_spawning() {
        let target = TalosTarget {
            host: "cp-1".into(),
            nodes: Vec::new(),
            endpoints: Vec::new(),
        };
        let timeout = Duration::from_secs(1);
        assert!(matches!(
            run(None, None, &target, "version", timeout, 1024),
            Err(TalosError::NoTalosconfig)
        ));
        assert!(matches!(
            run(
                None,
                Some(Path::new("/nonexistent")),
                &target,
                "version",
                timeout,
                1024
            ),
            Err(TalosError::NoNodes(_))
        ));
    }
}
