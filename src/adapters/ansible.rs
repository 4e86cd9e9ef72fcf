//! The ansible adapter: `ansible-playbook --check --diff` (the dry run, executed) of a playbook
//! under the configured root, against one inventory host, reported per host and task.
//!
//! Invariants:
//! - The playbook is a relative path under `ansible_playbook_root`: no absolute path, no `..`,
//!   no symlink anywhere on the way (the root itself is canonicalised once), a regular
//!   `.yml`/`.yaml` file. The action is only that path: no options, no extra variables.
//! - A dry run is refused while any YAML file under the root sets `check_mode` to anything but
//!   true: such a task would change the host during `--check`.
//! - The inventory ansible sees is written by praxis from the trusted inventory and holds the one
//!   target host (`--limit` names it too), with the pinned host key checked strictly; no
//!   `ansible.cfg` but praxis's own is read (`ANSIBLE_CONFIG`), and its state stays under
//!   praxis's state directory (`ANSIBLE_HOME`).
//! - The result comes from praxis's own stdout callback (`praxis_json`), one JSON document.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use super::process::{self, ChildOutcome, ChildSpec, ProcessError};
use super::ssh::{self, SshTarget};

/// The stdout callback that reports the run as one JSON document.
const CALLBACK: &str = include_str!("ansible_callback.py");
/// The marker key of that document.
const REPORT_KEY: &str = "praxis_ansible";
/// Files the `check_mode` scan reads at most, and their largest size.
const SCAN_MAX_FILES: usize = 10_000;
const SCAN_MAX_BYTES: u64 = 4 * 1024 * 1024;

/// Why a playbook is not run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlaybookRefusal {
    #[error("no ansible_playbook_root is configured, so no playbook can run")]
    NoRoot,
    #[error("the ansible_playbook_root {0} cannot be read: {1}")]
    BadRoot(String, String),
    #[error(
        "the action must be one playbook path relative to the playbook root (letters, digits, '.', '_', '-', '/'), with no options: {0:?}"
    )]
    NotAPath(String),
    #[error("{0} leaves the playbook root (absolute, or through '..')")]
    OutsideRoot(String),
    #[error(
        "{0} is reached through a symlink ({1}); praxis runs only playbooks that are plainly under the root"
    )]
    Symlink(String, String),
    #[error("{0} is not a .yml or .yaml file under the playbook root")]
    NotAPlaybook(String),
    #[error(
        "{0} sets check_mode to something other than true, so `--check` would change hosts; praxis refuses dry runs while any file under the root does"
    )]
    CheckModeOverride(String),
}

/// Resolves `action` to a playbook under `root`, refusing anything that leaves it.
pub fn confine_playbook(root: Option<&Path>, action: &str) -> Result<PathBuf, PlaybookRefusal> {
    use super::confine::{Refusal, under_root};
    let (root, path) = under_root(root, action).map_err(|refusal| match refusal {
        Refusal::NoRoot => PlaybookRefusal::NoRoot,
        Refusal::BadRoot(root, error) => PlaybookRefusal::BadRoot(root, error),
        Refusal::NotAPath(shown) => PlaybookRefusal::NotAPath(shown),
        Refusal::OutsideRoot(shown) => PlaybookRefusal::OutsideRoot(shown),
        Refusal::Symlink(shown, link) => PlaybookRefusal::Symlink(shown, link),
        Refusal::Missing(shown) => PlaybookRefusal::NotAPlaybook(shown),
    })?;
    let is_yaml = path
        .extension()
        .is_some_and(|extension| extension == "yml" || extension == "yaml");
    let is_file = fs::symlink_metadata(&path).is_ok_and(|metadata| metadata.is_file());
    if !is_yaml || !is_file || path == root {
        return Err(PlaybookRefusal::NotAPlaybook(crate::audit::cut(
            action, 200,
        )));
    }
    Ok(path)
}

/// The first YAML file under `root` that sets `check_mode` to anything but true, if any.
pub fn check_mode_override(root: &Path) -> Option<PathBuf> {
    let mut pending = vec![root.to_path_buf()];
    let mut seen = 0_usize;
    while let Some(directory) = pending.pop() {
        let Ok(entries) = fs::read_dir(&directory) else {
            continue;
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > SCAN_MAX_FILES {
                // Too many files to be sure: refuse rather than guess.
                return Some(root.to_path_buf());
            }
            let path = entry.path();
            let Ok(metadata) = fs::symlink_metadata(&path) else {
                continue;
            };
            if metadata.is_dir() {
                pending.push(path);
                continue;
            }
            let yaml = path
                .extension()
                .is_some_and(|extension| extension == "yml" || extension == "yaml");
            if !yaml || !metadata.is_file() {
                continue;
            }
            if metadata.len() > SCAN_MAX_BYTES {
                return Some(path);
            }
            let Ok(text) = fs::read_to_string(&path) else {
                return Some(path);
            };
            if text.lines().any(overrides_check_mode) {
                return Some(path);
            }
        }
    }
    None
}

/// Whether a YAML line sets `check_mode` to anything but a literal true.
fn overrides_check_mode(line: &str) -> bool {
    let line = line.split('#').next().unwrap_or_default();
    let Some(position) = line.find("check_mode") else {
        return false;
    };
    let rest = line[position + "check_mode".len()..].trim_start();
    let Some(value) = rest.strip_prefix(':') else {
        return false;
    };
    let value = value.trim().trim_matches(['"', '\'']).to_ascii_lowercase();
    !matches!(value.as_str(), "true" | "yes" | "on")
}

/// How the ansible adapter runs, from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct AnsibleOptions<'a> {
    pub binary: Option<&'a Path>,
    pub root: Option<&'a Path>,
    pub state_dir: &'a Path,
    pub identity: Option<&'a Path>,
    pub timeout: Duration,
}

/// Why ansible could not be run.
#[derive(Debug, thiserror::Error)]
pub enum AnsibleError {
    #[error(transparent)]
    Refused(#[from] PlaybookRefusal),
    #[error(
        "{0} has no pinned host key in the inventory; praxis does not trust a key it has never seen"
    )]
    NoHostKey(String),
    #[error("no ssh identity is configured (ssh_identity_file)")]
    NoIdentity,
    #[error("cannot prepare the ansible run in {path}: {source}")]
    Prepare {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("ansible-playbook: {0}")]
    Process(#[from] ProcessError),
}

/// Where the files of runs against `host` live.
fn host_directory(state_dir: &Path, host: &str) -> PathBuf {
    state_dir.join("ansible").join("hosts").join(host)
}

/// The argv of a real run (`check` false) or a dry run (`check` true) of `playbook` on `host`.
pub fn argv(options: &AnsibleOptions<'_>, host: &str, playbook: &Path, check: bool) -> Vec<String> {
    let binary = options.binary.map_or_else(
        || "ansible-playbook".to_owned(),
        |path| path.display().to_string(),
    );
    let inventory = host_directory(options.state_dir, host).join("inventory.json");
    let mut argv = vec![
        binary,
        "-i".into(),
        inventory.display().to_string(),
        "--limit".into(),
        host.to_owned(),
    ];
    if check {
        argv.extend(["--check".into(), "--diff".into()]);
    }
    argv.push(playbook.display().to_string());
    argv
}

/// Runs `ansible-playbook --check --diff` of `action` on `target`; returns the child's outcome
/// and the callback's report (None if ansible printed none, e.g. a syntax error).
pub fn run_check(
    options: &AnsibleOptions<'_>,
    target: &SshTarget,
    action: &str,
    capture_limit: usize,
) -> Result<(ChildOutcome, Option<Value>), AnsibleError> {
    run_playbook(options, target, action, capture_limit, true)
}

/// Runs `ansible-playbook` of `action` on `target` for real (`check` false: the actuator
/// reaches this only for an approved action) or as a dry run (`check` true).
pub fn run_playbook(
    options: &AnsibleOptions<'_>,
    target: &SshTarget,
    action: &str,
    capture_limit: usize,
    check: bool,
) -> Result<(ChildOutcome, Option<Value>), AnsibleError> {
    let playbook = confine_playbook(options.root, action)?;
    // A task that opts out of check mode would change the host during a dry run.
    if check
        && let Some(root) = options.root
        && let Some(file) = check_mode_override(root)
    {
        let shown = file
            .strip_prefix(root)
            .unwrap_or(&file)
            .display()
            .to_string();
        return Err(PlaybookRefusal::CheckModeOverride(shown).into());
    }
    let host_key = target
        .host_key
        .as_deref()
        .ok_or_else(|| AnsibleError::NoHostKey(target.host.clone()))?;
    let identity = options.identity.ok_or(AnsibleError::NoIdentity)?;
    let known_hosts =
        ssh::write_known_hosts(options.state_dir, target, host_key).map_err(|error| {
            AnsibleError::Prepare {
                path: ssh::known_hosts_path(options.state_dir, &target.host),
                source: std::io::Error::other(error.to_string()),
            }
        })?;
    let base = options.state_dir.join("ansible");
    let directory = host_directory(options.state_dir, &target.host);
    let prepare = |path: &Path, source| AnsibleError::Prepare {
        path: path.to_path_buf(),
        source,
    };
    for folder in [
        &base,
        &base.join("home"),
        &base.join("callback_plugins"),
        &directory,
    ] {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(folder)
            .map_err(|source| prepare(folder, source))?;
    }
    let mut host = json!({
        "ansible_host": target.address,
        "ansible_port": target.port,
        "ansible_ssh_private_key_file": identity.display().to_string(),
        "ansible_ssh_common_args": format!(
            "-F /dev/null -o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes",
            known_hosts.display()
        ),
    });
    if let Some(user) = &target.user {
        host["ansible_user"] = json!(user);
    }
    let inventory = json!({"all": {"hosts": {target.host.clone(): host}}});
    let files = [
        (directory.join("inventory.json"), inventory.to_string()),
        (
            base.join("callback_plugins").join("praxis_json.py"),
            CALLBACK.to_owned(),
        ),
        (base.join("ansible.cfg"), config(&base)),
    ];
    for (path, content) in &files {
        super::write_private_file(path, content).map_err(|source| prepare(path, source))?;
    }
    let spec = ChildSpec {
        argv: argv(options, &target.host, &playbook, check),
        extra_environment: vec![
            (
                "ANSIBLE_CONFIG".into(),
                base.join("ansible.cfg").display().to_string(),
            ),
            (
                "ANSIBLE_HOME".into(),
                base.join("home").display().to_string(),
            ),
            ("ANSIBLE_NOCOLOR".into(), "1".into()),
            ("ANSIBLE_FORCE_COLOR".into(), "0".into()),
        ],
        timeout: options.timeout,
        capture_limit,
    };
    let outcome = process::run(&spec, std::env::vars())?;
    let report = parse_report(&outcome.preview);
    Ok((outcome, report))
}

/// praxis's `ansible.cfg`: its callback, strict host keys, no retry files, short-lived masters.
fn config(base: &Path) -> String {
    format!(
        "[defaults]\n\
         stdout_callback = praxis_json\n\
         callback_plugins = {}\n\
         host_key_checking = True\n\
         retry_files_enabled = False\n\
         interpreter_python = auto_silent\n\
         deprecation_warnings = False\n\
         \n\
         [ssh_connection]\n\
         ssh_args = -o ControlMaster=auto -o ControlPersist=10s\n\
         control_path_dir = {}\n",
        base.join("callback_plugins").display(),
        base.join("home").join("cp").display()
    )
}

/// The callback's report in ansible's stdout, if there is one.
pub fn parse_report(stdout: &str) -> Option<Value> {
    stdout.lines().rev().find_map(|line| {
        let line = line.trim();
        if !line.starts_with('{') || !line.contains(REPORT_KEY) {
            return None;
        }
        serde_json::from_str::<Value>(line)
            .ok()
            .filter(|value| value[REPORT_KEY] == json!(1))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(name: &str) -> PathBuf {
        let root =
            std::env::temp_dir().join(format!("praxis-ansible-{name}-{}", std::process::id()));
        drop(fs::remove_dir_all(&root));
        fs::create_dir_all(root.join("playbooks/roles")).unwrap();
        fs::write(
            root.join("playbooks/site.yml"),
            "- hosts: all\n  tasks: []\n",
        )
        .unwrap();
        fs::write(root.join("outside.yml"), "- hosts: all\n").unwrap();
        root
    }

    #[test]
    fn playbooks_outside_the_root_or_through_symlinks_are_refused() {
        let base = root("confine");
        let root = base.join("playbooks");
        std::os::unix::fs::symlink(base.join("outside.yml"), root.join("link.yml")).unwrap();
        std::os::unix::fs::symlink(&base, root.join("up")).unwrap();
        let confined = |action: &str| confine_playbook(Some(&root), action);
        assert_eq!(
            confined("site.yml").unwrap(),
            root.canonicalize().unwrap().join("site.yml")
        );
        assert_eq!(
            confined("./site.yml").unwrap().file_name().unwrap(),
            "site.yml"
        );
        assert!(matches!(
            confined("../outside.yml"),
            Err(PlaybookRefusal::OutsideRoot(_))
        ));
        assert!(matches!(
            confined("/etc/passwd"),
            Err(PlaybookRefusal::OutsideRoot(_))
        ));
        assert!(matches!(
            confined("link.yml"),
            Err(PlaybookRefusal::Symlink(_, _))
        ));
        assert!(
            matches!(confined("up/outside.yml"), Err(PlaybookRefusal::Symlink(_, link)) if link == "up")
        );
        for bad in ["site.yml -e x=1", "--check", "site.yml;id", "$(id).yml", ""] {
            assert!(
                matches!(confined(bad), Err(PlaybookRefusal::NotAPath(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            confined("roles"),
            Err(PlaybookRefusal::NotAPlaybook(_))
        ));
        assert!(matches!(
            confined("missing.yml"),
            Err(PlaybookRefusal::NotAPlaybook(_))
        ));
        assert!(matches!(
            confined("."),
            Err(PlaybookRefusal::NotAPlaybook(_))
        ));
        assert_eq!(
            confine_playbook(None, "site.yml"),
            Err(PlaybookRefusal::NoRoot)
        );
        drop(fs::remove_dir_all(&base));
    }

    #[test]
    fn a_check_mode_override_anywhere_under_the_root_is_found() {
        let base = root("check-mode");
        let root = base.join("playbooks");
        assert_eq!(check_mode_override(&root), None);
        fs::write(
            root.join("roles/main.yml"),
            "- name: ok\n  check_mode: true\n",
        )
        .unwrap();
        assert_eq!(check_mode_override(&root), None);
        fs::write(
            root.join("roles/tasks.yaml"),
            "- command: rm -rf /srv\n  check_mode: \"no\"  # sneaky\n",
        )
        .unwrap();
        assert_eq!(
            check_mode_override(&root),
            Some(root.join("roles/tasks.yaml"))
        );
        for line in [
            "check_mode: false",
            "  check_mode:   no",
            "check_mode: \"{{ x }}\"",
            "check_mode: False",
        ] {
            assert!(overrides_check_mode(line), "{line}");
        }
        for line in [
            "check_mode: yes",
            "# check_mode: no",
            "name: check_mode_is_fine",
            "check_mode: 'true'",
        ] {
            assert!(!overrides_check_mode(line), "{line}");
        }
        drop(fs::remove_dir_all(&base));
    }

    #[test]
    fn the_report_is_the_callbacks_last_json_line() {
        let stdout = "noise\n{\"praxis_ansible\": 1, \"hosts\": {\"web-1\": {\"changed\": 1}}}\n";
        assert_eq!(
            parse_report(stdout).unwrap()["hosts"]["web-1"]["changed"],
            1
        );
        assert_eq!(
            parse_report("{\"praxis_ansible\": 2}\n{not json praxis_ansible"),
            None
        );
    }

    #[test]
    fn the_argv_names_the_one_host_and_checks_only_in_a_dry_run() {
        let options = AnsibleOptions {
            binary: None,
            root: None,
            state_dir: Path::new("/var/lib/praxis"),
            identity: None,
            timeout: Duration::from_secs(1),
        };
        let playbook = Path::new("/srv/playbooks/site.yml");
        let check = argv(&options, "web-1", playbook, true);
        assert_eq!(
            check,
            [
                "ansible-playbook",
                "-i",
                "/var/lib/praxis/ansible/hosts/web-1/inventory.json",
                "--limit",
                "web-1",
                "--check",
                "--diff",
                "/srv/playbooks/site.yml"
            ]
        );
        assert!(!argv(&options, "web-1", playbook, false).contains(&"--check".to_owned()));
    }
}
