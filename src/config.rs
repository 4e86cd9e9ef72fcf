//! Configuration: one TOML file plus `PRAXIS_*` overrides, resolved into `Settings`.
//!
//! Precedence, highest first: command-line flag, `PRAXIS_*` variable, config file, default.
//! The file is `--config`, else `PRAXIS_CONFIG`, else `$XDG_CONFIG_HOME/praxis/praxis.toml`
//! (only that last one may be absent).
//! Invariants: unknown keys in the file and unknown `PRAXIS_*` variables are errors (a typo
//! never silently falls back to a default); every path is absolute; errors are one line.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::json;

use crate::adapters::egress::{Cidr, DEFAULT_ALLOWED_NETWORKS};
use crate::audit::canonical;
use crate::digest::Digest;
use crate::policy::{Mode, Policy, Tier, UnknownDefault};

/// Variables that are not configuration keys but are read by praxis.
const NON_KEY_VARIABLES: &[&str] = &["PRAXIS_CONFIG", "PRAXIS_LOG"];

/// Default cap on one JSON-RPC message (one stdio line).
pub const DEFAULT_MAX_MESSAGE_BYTES: u64 = 16 * 1024 * 1024;

/// A configuration problem; the message is one line and says what to change.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl ConfigError {
    fn new(message: impl Into<String>) -> ConfigError {
        ConfigError(message.into())
    }
}

/// Everything the settings are resolved from.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    /// `--config`.
    pub config_flag: Option<PathBuf>,
    /// `--state-dir`.
    pub state_dir_flag: Option<PathBuf>,
    /// The process environment (only `PRAXIS_*`, `XDG_*` and `HOME` are read).
    pub environment: BTreeMap<String, String>,
}

impl Sources {
    /// Sources from the real process environment.
    pub fn from_process(config_flag: Option<PathBuf>, state_dir_flag: Option<PathBuf>) -> Sources {
        Sources {
            config_flag,
            state_dir_flag,
            environment: std::env::vars_os()
                .filter_map(|(key, value)| {
                    Some((key.into_string().ok()?, value.into_string().ok()?))
                })
                .filter(|(key, _)| {
                    key.starts_with("PRAXIS_") || key.starts_with("XDG_") || key == "HOME"
                })
                .collect(),
        }
    }
}

/// The file's keys; each has a `PRAXIS_<KEY>` override.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    state_dir: Option<PathBuf>,
    mode: Option<String>,
    unknown_default: Option<String>,
    kill_switch_path: Option<PathBuf>,
    approval_ttl_seconds: Option<u64>,
    approver_public_key: Option<String>,
    max_actions: Option<u64>,
    max_wall_seconds: Option<u64>,
    approval_notify_command: Option<Vec<String>>,
    policy_dir: Option<PathBuf>,
    max_message_bytes: Option<u64>,
    ssh_identity_file: Option<PathBuf>,
    ssh_command_timeout_seconds: Option<u64>,
    egress_allowed_networks: Option<Vec<String>>,
    talosctl_binary: Option<PathBuf>,
    talosconfig_file: Option<PathBuf>,
    talosctl_timeout_seconds: Option<u64>,
    ssh_control_persist_seconds: Option<u64>,
    ssh_max_sessions_per_host: Option<u64>,
    fanout_concurrency: Option<u64>,
    ansible_playbook_root: Option<PathBuf>,
    ansible_playbook_binary: Option<PathBuf>,
    ansible_timeout_seconds: Option<u64>,
    terraform_binary: Option<PathBuf>,
    terraform_root: Option<PathBuf>,
    terraform_plugin_dir: Option<PathBuf>,
    terraform_timeout_seconds: Option<u64>,
    runbook_root: Option<PathBuf>,
    runbook_timeout_seconds: Option<u64>,
    output_preview_bytes: Option<u64>,
    ssh_accept_new_host_keys: Option<bool>,
    /// Named credentials (`[credentials.NAME]`); file only, no `PRAXIS_*` override.
    credentials: Option<BTreeMap<String, RawCredential>>,
}

/// One `[credentials.NAME]` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCredential {
    kind: String,
    user: Option<String>,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
    ca_file: Option<PathBuf>,
    identity_file: Option<PathBuf>,
    talosconfig: Option<PathBuf>,
    hosts: Option<Vec<String>>,
    groups: Option<Vec<String>>,
    max_tier: Option<String>,
}

/// Where a secret is read from, at the moment it is needed (so a rotated file takes effect on
/// the next call). The secret itself never enters `Settings`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// A file readable by praxis's user only; one trailing newline is dropped.
    File(PathBuf),
    /// A variable of praxis's environment (never passed to a child).
    Environment(String),
}

/// A named credential from the configuration: what it is, and where and up to which tier it
/// may be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    pub secret: CredentialSecret,
    pub scope: Scope,
}

/// The secret side of a credential: where it lives, never the secret itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialSecret {
    /// An ssh private key (for the ssh and ansible adapters).
    Ssh { identity_file: PathBuf },
    /// A talosconfig (for the talosctl adapter).
    Talos { talosconfig: PathBuf },
    /// A BMC account for the Redfish adapter, and the CA its certificate must chain to.
    Redfish {
        user: String,
        password: SecretSource,
        ca_file: PathBuf,
    },
}

impl CredentialSecret {
    /// `ssh`, `talos` or `redfish`.
    pub fn kind(&self) -> &'static str {
        match self {
            CredentialSecret::Ssh { .. } => "ssh",
            CredentialSecret::Talos { .. } => "talos",
            CredentialSecret::Redfish { .. } => "redfish",
        }
    }
}

/// Where a credential may be used: hosts whose name matches a pattern (`*` and `?`) or that
/// belong to a group, for actions up to a tier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    pub hosts: Vec<String>,
    pub groups: Vec<String>,
    pub max_tier: Tier,
}

impl Scope {
    /// Every host, every tier: the scope of the `ssh_identity_file` and `talosconfig_file` keys.
    pub fn everywhere() -> Scope {
        Scope {
            hosts: vec!["*".into()],
            groups: Vec::new(),
            max_tier: Tier::T3,
        }
    }

    /// Whether the scope names `host` (or one of its `groups`).
    pub fn covers_host(&self, host: &str, groups: &[String]) -> bool {
        self.hosts.iter().any(|pattern| glob_matches(pattern, host))
            || self.groups.iter().any(|group| groups.contains(group))
    }
}

/// `*` matches any run of characters, `?` any one; everything else matches itself.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    let (mut star, mut resume) = (None, 0);
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some(p);
            resume = t;
            p += 1;
        } else if let Some(position) = star {
            p = position + 1;
            resume += 1;
            t = resume;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

const KEYS: &[&str] = &[
    "state_dir",
    "mode",
    "unknown_default",
    "kill_switch_path",
    "approval_ttl_seconds",
    "approver_public_key",
    "max_actions",
    "max_wall_seconds",
    "approval_notify_command",
    "policy_dir",
    "max_message_bytes",
    "ssh_identity_file",
    "ssh_command_timeout_seconds",
    "egress_allowed_networks",
    "talosctl_binary",
    "talosconfig_file",
    "talosctl_timeout_seconds",
    "ssh_control_persist_seconds",
    "ssh_max_sessions_per_host",
    "fanout_concurrency",
    "ansible_playbook_root",
    "ansible_playbook_binary",
    "ansible_timeout_seconds",
    "terraform_binary",
    "terraform_root",
    "terraform_plugin_dir",
    "terraform_timeout_seconds",
    "runbook_root",
    "runbook_timeout_seconds",
    "output_preview_bytes",
    "ssh_accept_new_host_keys",
];

/// The resolved configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Where the config file was read from, if one was.
    pub config_file: Option<PathBuf>,
    pub state_dir: PathBuf,
    pub database: PathBuf,
    pub mode: Mode,
    pub unknown_default: UnknownDefault,
    pub kill_switch_path: PathBuf,
    pub approval_ttl_seconds: u64,
    /// The Ed25519 public key (hex) that approvals must be signed with; without it, the one
    /// `praxis init` wrote to `<state_dir>/approver.pub`.
    pub approver_public_key: Option<crate::approval::key::PublicKey>,
    /// How many state-changing runs (T1 and above, for real) one session may make.
    pub max_actions: Option<u64>,
    /// How long one session may make state-changing runs, from its start.
    pub max_wall_seconds: Option<u64>,
    /// A command (argv) run when an approval is requested, with one more argument: a line
    /// saying what waits (e.g. `["notify-send", "praxis"]`).
    pub approval_notify_command: Option<Vec<String>>,
    pub policy_dir: Option<PathBuf>,
    pub max_message_bytes: u64,
    /// The private key the ssh adapter uses (a path; the key never enters praxis's records).
    pub ssh_identity_file: Option<PathBuf>,
    /// How long one remote command may run before its ssh client is killed.
    pub ssh_command_timeout_seconds: u64,
    /// The networks an adapter that opens its own sockets (Redfish) may reach; see
    /// `adapters::egress` for the ranges no entry can open.
    pub egress_allowed_networks: Vec<Cidr>,
    /// The talosctl binary (default: `talosctl` on the children's PATH).
    pub talosctl_binary: Option<PathBuf>,
    /// The talosconfig the talosctl adapter uses (a path; its keys never enter praxis's records).
    pub talosconfig_file: Option<PathBuf>,
    /// How long one talosctl call may run before it is killed.
    pub talosctl_timeout_seconds: u64,
    /// How long an idle ssh master connection stays up (0: no multiplexing).
    pub ssh_control_persist_seconds: u64,
    /// How many commands praxis runs on one host at once; more wait their turn (sshd's
    /// `MaxSessions` and `MaxStartups` default to 10).
    pub ssh_max_sessions_per_host: u64,
    /// How many hosts a group call works on at once.
    pub fanout_concurrency: u64,
    /// The only directory ansible playbooks are run from.
    pub ansible_playbook_root: Option<PathBuf>,
    /// The ansible-playbook binary (default: `ansible-playbook` on the children's PATH).
    pub ansible_playbook_binary: Option<PathBuf>,
    /// How long one ansible-playbook run may take before it is killed.
    pub ansible_timeout_seconds: u64,
    /// The terraform (or OpenTofu: `tofu`) binary both the terraform and opentofu adapters run.
    pub terraform_binary: Option<PathBuf>,
    /// The only directory terraform workspaces are planned in.
    pub terraform_root: Option<PathBuf>,
    /// A provider mirror for `init -plugin-dir` (offline installs).
    pub terraform_plugin_dir: Option<PathBuf>,
    /// How long one terraform dry run (init, plan, show) may take.
    pub terraform_timeout_seconds: u64,
    /// The only directory runbook scripts are run from.
    pub runbook_root: Option<PathBuf>,
    /// How long one runbook may run.
    pub runbook_timeout_seconds: u64,
    /// How much of an action's output a result shows (head and tail); the output is hashed in
    /// full whatever this is.
    pub output_preview_bytes: u64,
    /// Trust an ssh host whose inventory record pins no key on first use (off by default).
    pub ssh_accept_new_host_keys: bool,
    /// Named credentials; inventories refer to them by name.
    pub credentials: BTreeMap<String, Credential>,
}

impl Settings {
    /// Resolves settings from `sources`.
    #[expect(
        clippy::too_many_lines,
        reason = "one key after another, in the file's order"
    )]
    pub fn resolve(sources: &Sources) -> Result<Settings, ConfigError> {
        let environment = &sources.environment;
        for key in environment.keys().filter(|key| key.starts_with("PRAXIS_")) {
            let known = NON_KEY_VARIABLES.contains(&key.as_str())
                || KEYS.iter().any(|name| variable_for(name) == *key);
            if !known {
                return Err(ConfigError::new(format!(
                    "unknown environment variable {key}; known keys are {}",
                    KEYS.iter()
                        .map(|name| variable_for(name))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        let (config_file, raw) = read_config_file(sources)?;
        let text = |key: &str, file_value: Option<String>| -> Option<String> {
            environment.get(&variable_for(key)).cloned().or(file_value)
        };
        let path =
            |key: &str, file_value: Option<PathBuf>| -> Result<Option<PathBuf>, ConfigError> {
                let value = environment
                    .get(&variable_for(key))
                    .map(PathBuf::from)
                    .or(file_value);
                value.map(|value| absolute(key, value)).transpose()
            };
        let number = |key: &str, file_value: Option<u64>| -> Result<Option<u64>, ConfigError> {
            match environment.get(&variable_for(key)) {
                Some(text) => text.trim().parse().map(Some).map_err(|_| {
                    ConfigError::new(format!(
                        "{}={text:?} is not a whole number",
                        variable_for(key)
                    ))
                }),
                None => Ok(file_value),
            }
        };

        let ranged = |key: &str,
                      file_value: Option<u64>,
                      default: u64,
                      range: std::ops::RangeInclusive<u64>|
         -> Result<u64, ConfigError> {
            let value = number(key, file_value)?.unwrap_or(default);
            if range.contains(&value) {
                Ok(value)
            } else {
                Err(ConfigError::new(format!(
                    "{key} = {value} is out of range; use {} to {}",
                    range.start(),
                    range.end()
                )))
            }
        };

        let state_dir = match &sources.state_dir_flag {
            Some(flag) => absolute("--state-dir", flag.clone())?,
            None => match path("state_dir", raw.state_dir)? {
                Some(directory) => directory,
                None => default_state_dir(environment)?,
            },
        };
        let mode = text("mode", raw.mode)
            .map(|value| value.parse::<Mode>())
            .transpose()
            .map_err(ConfigError::new)?
            .unwrap_or(Mode::Guarded);
        let unknown_default = text("unknown_default", raw.unknown_default)
            .map(|value| value.parse::<UnknownDefault>())
            .transpose()
            .map_err(ConfigError::new)?
            .unwrap_or(UnknownDefault::Approval);
        let kill_switch_path = path("kill_switch_path", raw.kill_switch_path)?
            .unwrap_or_else(|| state_dir.join("KILL"));
        let approval_ttl_seconds = ranged(
            "approval_ttl_seconds",
            raw.approval_ttl_seconds,
            600,
            1..=86_400,
        )?;
        let max_actions = number("max_actions", raw.max_actions)?;
        if max_actions == Some(0) {
            return Err(ConfigError::new(
                "max_actions = 0 would refuse every action; leave it unset for no limit",
            ));
        }
        let max_wall_seconds = number("max_wall_seconds", raw.max_wall_seconds)?;
        if max_wall_seconds == Some(0) {
            return Err(ConfigError::new(
                "max_wall_seconds = 0 would refuse every action; leave it unset for no limit",
            ));
        }
        let approval_notify_command =
            match environment.get(&variable_for("approval_notify_command")) {
                Some(list) => Some(
                    list.split(',')
                        .map(str::trim)
                        .filter(|entry| !entry.is_empty())
                        .map(ToOwned::to_owned)
                        .collect::<Vec<_>>(),
                ),
                None => raw.approval_notify_command,
            };
        if approval_notify_command
            .as_ref()
            .is_some_and(|argv| argv.is_empty() || argv[0].trim().is_empty())
        {
            return Err(ConfigError::new(
                "approval_notify_command: give a program and its arguments, e.g. [\"notify-send\", \"praxis\"]",
            ));
        }
        let policy_dir = path("policy_dir", raw.policy_dir)?;
        let max_message_bytes = number("max_message_bytes", raw.max_message_bytes)?
            .unwrap_or(DEFAULT_MAX_MESSAGE_BYTES);
        if !(65_536..=268_435_456).contains(&max_message_bytes) {
            return Err(ConfigError::new(format!(
                "max_message_bytes = {max_message_bytes} is out of range; use 65536 to 268435456"
            )));
        }
        let ssh_identity_file = path("ssh_identity_file", raw.ssh_identity_file)?;
        let ssh_command_timeout_seconds = ranged(
            "ssh_command_timeout_seconds",
            raw.ssh_command_timeout_seconds,
            30,
            1..=3_600,
        )?;
        let egress_allowed_networks =
            match environment.get(&variable_for("egress_allowed_networks")) {
                Some(list) => list
                    .split(',')
                    .map(str::trim)
                    .filter(|entry| !entry.is_empty())
                    .map(ToOwned::to_owned)
                    .collect(),
                None => raw.egress_allowed_networks.unwrap_or_else(|| {
                    DEFAULT_ALLOWED_NETWORKS
                        .iter()
                        .map(|network| (*network).to_owned())
                        .collect()
                }),
            };
        let egress_allowed_networks = egress_allowed_networks
            .iter()
            .map(|entry| {
                entry
                    .parse::<Cidr>()
                    .map_err(|error| ConfigError::new(format!("egress_allowed_networks: {error}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let approver_public_key = raw
            .approver_public_key
            .map(|text| {
                crate::approval::key::PublicKey::from_hex(&text).ok_or_else(|| {
                    ConfigError::new(
                        "approver_public_key: not an Ed25519 public key (64 hex digits; `praxis approver show` prints it)",
                    )
                })
            })
            .transpose()?;
        let talosctl_binary = path("talosctl_binary", raw.talosctl_binary)?;
        let talosconfig_file = path("talosconfig_file", raw.talosconfig_file)?;
        let talosctl_timeout_seconds = ranged(
            "talosctl_timeout_seconds",
            raw.talosctl_timeout_seconds,
            60,
            1..=3_600,
        )?;
        let ssh_control_persist_seconds = ranged(
            "ssh_control_persist_seconds",
            raw.ssh_control_persist_seconds,
            60,
            0..=3_600,
        )?;
        let ssh_max_sessions_per_host = ranged(
            "ssh_max_sessions_per_host",
            raw.ssh_max_sessions_per_host,
            8,
            1..=64,
        )?;
        let fanout_concurrency = ranged("fanout_concurrency", raw.fanout_concurrency, 32, 1..=256)?;
        let ansible_playbook_root = path("ansible_playbook_root", raw.ansible_playbook_root)?;
        let ansible_playbook_binary = path("ansible_playbook_binary", raw.ansible_playbook_binary)?;
        let ansible_timeout_seconds = ranged(
            "ansible_timeout_seconds",
            raw.ansible_timeout_seconds,
            600,
            1..=7_200,
        )?;
        let terraform_binary = path("terraform_binary", raw.terraform_binary)?;
        let terraform_root = path("terraform_root", raw.terraform_root)?;
        let terraform_plugin_dir = path("terraform_plugin_dir", raw.terraform_plugin_dir)?;
        let terraform_timeout_seconds = ranged(
            "terraform_timeout_seconds",
            raw.terraform_timeout_seconds,
            600,
            1..=7_200,
        )?;
        let runbook_root = path("runbook_root", raw.runbook_root)?;
        let runbook_timeout_seconds = ranged(
            "runbook_timeout_seconds",
            raw.runbook_timeout_seconds,
            300,
            1..=7_200,
        )?;
        let output_preview_bytes = ranged(
            "output_preview_bytes",
            raw.output_preview_bytes,
            65_536,
            1_024..=4_194_304,
        )?;
        let ssh_accept_new_host_keys =
            match environment.get(&variable_for("ssh_accept_new_host_keys")) {
                Some(text) => match text.trim() {
                    "true" | "1" | "yes" => true,
                    "false" | "0" | "no" => false,
                    other => {
                        return Err(ConfigError::new(format!(
                            "PRAXIS_SSH_ACCEPT_NEW_HOST_KEYS={other:?} is not true or false"
                        )));
                    }
                },
                None => raw.ssh_accept_new_host_keys.unwrap_or(false),
            };
        let credentials = raw
            .credentials
            .unwrap_or_default()
            .into_iter()
            .map(|(name, credential)| {
                let checked = credential_from(&name, credential)?;
                Ok((name, checked))
            })
            .collect::<Result<BTreeMap<_, _>, ConfigError>>()?;
        Ok(Settings {
            config_file,
            database: state_dir.join("praxis.db"),
            state_dir,
            mode,
            unknown_default,
            kill_switch_path,
            approval_ttl_seconds,
            approver_public_key,
            max_actions,
            max_wall_seconds,
            approval_notify_command,
            policy_dir,
            max_message_bytes,
            ssh_identity_file,
            ssh_command_timeout_seconds,
            egress_allowed_networks,
            talosctl_binary,
            talosconfig_file,
            talosctl_timeout_seconds,
            ssh_control_persist_seconds,
            ssh_max_sessions_per_host,
            fanout_concurrency,
            ansible_playbook_root,
            ansible_playbook_binary,
            ansible_timeout_seconds,
            terraform_binary,
            terraform_root,
            terraform_plugin_dir,
            terraform_timeout_seconds,
            runbook_root,
            runbook_timeout_seconds,
            output_preview_bytes,
            ssh_accept_new_host_keys,
            credentials,
        })
    }

    /// SHA-256 of the canonical JSON of the effective settings; recorded in session records.
    pub fn digest(&self) -> Digest {
        Digest::of(canonical::to_canonical_string(&self.to_json()).as_bytes())
    }

    /// The effective settings as JSON (for `doctor`, the session record and the digest).
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "state_dir": self.state_dir.display().to_string(),
            "database": self.database.display().to_string(),
            "mode": self.mode.as_str(),
            "unknown_default": self.unknown_default.as_str(),
            "kill_switch_path": self.kill_switch_path.display().to_string(),
            "approval_ttl_seconds": self.approval_ttl_seconds,
            "approver_public_key": self.approver_public_key.as_ref().map(crate::approval::key::PublicKey::to_hex),
            "max_actions": self.max_actions,
            "max_wall_seconds": self.max_wall_seconds,
            "approval_notify_command": self.approval_notify_command,
            "policy_dir": self.policy_dir.as_ref().map(|path| path.display().to_string()),
            "max_message_bytes": self.max_message_bytes,
            "ssh_identity_file": self.ssh_identity_file.as_ref().map(|path| path.display().to_string()),
            "ssh_command_timeout_seconds": self.ssh_command_timeout_seconds,
            "egress_allowed_networks": self.egress_allowed_networks.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "talosctl_binary": self.talosctl_binary.as_ref().map(|path| path.display().to_string()),
            "talosconfig_file": self.talosconfig_file.as_ref().map(|path| path.display().to_string()),
            "talosctl_timeout_seconds": self.talosctl_timeout_seconds,
            "ssh_control_persist_seconds": self.ssh_control_persist_seconds,
            "ssh_max_sessions_per_host": self.ssh_max_sessions_per_host,
            "fanout_concurrency": self.fanout_concurrency,
            "ansible_playbook_root": self.ansible_playbook_root.as_ref().map(|path| path.display().to_string()),
            "ansible_playbook_binary": self.ansible_playbook_binary.as_ref().map(|path| path.display().to_string()),
            "ansible_timeout_seconds": self.ansible_timeout_seconds,
            "terraform_binary": self.terraform_binary.as_ref().map(|path| path.display().to_string()),
            "terraform_root": self.terraform_root.as_ref().map(|path| path.display().to_string()),
            "terraform_plugin_dir": self.terraform_plugin_dir.as_ref().map(|path| path.display().to_string()),
            "terraform_timeout_seconds": self.terraform_timeout_seconds,
            "runbook_root": self.runbook_root.as_ref().map(|path| path.display().to_string()),
            "runbook_timeout_seconds": self.runbook_timeout_seconds,
            "output_preview_bytes": self.output_preview_bytes,
            "ssh_accept_new_host_keys": self.ssh_accept_new_host_keys,
            "credentials": self.credentials.iter().map(|(name, credential)| {
                (name.clone(), credential.to_json())
            }).collect::<serde_json::Map<_, _>>(),
        })
    }

    /// Loads the policy in force: the operator's `policy_dir` if set, else the embedded default.
    /// The public key approvals are verified with: `approver_public_key` when pinned, else
    /// the one `praxis init` wrote to `<state_dir>/approver.pub` (`None`: no key yet).
    pub fn approver_key(&self) -> Result<Option<crate::approval::key::PublicKey>, String> {
        match &self.approver_public_key {
            Some(pinned) => Ok(Some(pinned.clone())),
            None => crate::approval::key::read_public_key(&self.state_dir),
        }
    }

    /// The expectations of `<policy_dir>/baselines/*.toml` (none without a policy directory or
    /// a baselines directory); every problem of every file, or all of them.
    pub fn load_baselines(&self) -> Result<Vec<crate::drift::baseline::Expectation>, Vec<String>> {
        let Some(directory) = &self.policy_dir else {
            return Ok(Vec::new());
        };
        let directory = directory.join("baselines");
        let entries = match fs::read_dir(&directory) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(vec![format!("{}: {error}", directory.display())]),
        };
        let mut paths: Vec<PathBuf> = entries
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| {
                path.extension()
                    .is_some_and(|extension| extension == "toml")
            })
            .collect();
        paths.sort();
        let mut expectations = Vec::new();
        let mut problems = Vec::new();
        for path in paths {
            let name = format!(
                "baselines/{}",
                path.file_name().unwrap_or_default().to_string_lossy()
            );
            match fs::read_to_string(&path) {
                Ok(text) => match crate::drift::baseline::parse(&name, &text) {
                    Ok(mut parsed) => expectations.append(&mut parsed),
                    Err(mut found) => problems.append(&mut found),
                },
                Err(error) => problems.push(format!("{name}: {error}")),
            }
        }
        if problems.is_empty() {
            Ok(expectations)
        } else {
            Err(problems)
        }
    }

    pub fn load_policy(&self) -> Result<Policy, ConfigError> {
        let Some(directory) = &self.policy_dir else {
            return Policy::default_policy().map_err(|diagnostics| {
                ConfigError::new(format!(
                    "the embedded policy is invalid: {}",
                    join(&diagnostics)
                ))
            });
        };
        let entries = fs::read_dir(directory).map_err(|error| {
            ConfigError::new(format!(
                "cannot read policy_dir {}: {error}",
                directory.display()
            ))
        })?;
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|error| {
                ConfigError::new(format!(
                    "cannot read policy_dir {}: {error}",
                    directory.display()
                ))
            })?;
            let path = entry.path();
            if path
                .extension()
                .is_some_and(|extension| extension == "toml")
            {
                let text = fs::read_to_string(&path).map_err(|error| {
                    ConfigError::new(format!(
                        "cannot read policy file {}: {error}",
                        path.display()
                    ))
                })?;
                files.push((entry.file_name().to_string_lossy().into_owned(), text));
            }
        }
        Policy::compile(&files).map_err(|diagnostics| {
            ConfigError::new(format!(
                "policy in {} is invalid: {}",
                directory.display(),
                join(&diagnostics)
            ))
        })
    }
}

fn join(diagnostics: &[crate::policy::PolicyDiagnostic]) -> String {
    let mut text = String::new();
    for (index, diagnostic) in diagnostics.iter().enumerate() {
        if index > 0 {
            text.push_str("; ");
        }
        write!(text, "{diagnostic}").unwrap_or_default();
    }
    text
}

fn variable_for(key: &str) -> String {
    format!("PRAXIS_{}", key.to_ascii_uppercase())
}

fn absolute(key: &str, path: PathBuf) -> Result<PathBuf, ConfigError> {
    if path.is_absolute() {
        Ok(path)
    } else {
        Err(ConfigError::new(format!(
            "{key} must be an absolute path, not {}",
            path.display()
        )))
    }
}

fn default_state_dir(environment: &BTreeMap<String, String>) -> Result<PathBuf, ConfigError> {
    if let Some(state_home) = environment
        .get("XDG_STATE_HOME")
        .filter(|value| !value.is_empty())
    {
        return absolute("XDG_STATE_HOME", PathBuf::from(state_home))
            .map(|path| path.join("praxis"));
    }
    match environment.get("HOME").filter(|value| !value.is_empty()) {
        Some(home) => absolute("HOME", PathBuf::from(home))
            .map(|home| home.join(".local").join("state").join("praxis")),
        None => Err(ConfigError::new(
            "no state directory: set PRAXIS_STATE_DIR or state_dir in the config file",
        )),
    }
}

/// Checks one `[credentials.NAME]` table.
fn credential_from(name: &str, raw: RawCredential) -> Result<Credential, ConfigError> {
    let problem = |text: String| ConfigError::new(format!("credentials.{name}: {text}"));
    let valid_name = (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'));
    if !valid_name {
        return Err(problem(
            "a credential name is 1 to 128 letters, digits, '.', '_' or '-'".into(),
        ));
    }
    let path = |key: &str, value: Option<PathBuf>| -> Result<PathBuf, ConfigError> {
        let value =
            value.ok_or_else(|| problem(format!("{key} is required for kind {:?}", raw.kind)))?;
        absolute(&format!("credentials.{name}.{key}"), value)
    };
    let unused = |keys: &[(&str, bool)]| -> Result<(), ConfigError> {
        match keys.iter().find(|(_, present)| *present) {
            Some((key, _)) => Err(problem(format!(
                "{key} does not apply to kind {:?}",
                raw.kind
            ))),
            None => Ok(()),
        }
    };
    let secret = match raw.kind.as_str() {
        "ssh" => {
            unused(&[
                ("user", raw.user.is_some()),
                ("password_file", raw.password_file.is_some()),
                ("password_env", raw.password_env.is_some()),
                ("ca_file", raw.ca_file.is_some()),
                ("talosconfig", raw.talosconfig.is_some()),
            ])?;
            CredentialSecret::Ssh {
                identity_file: path("identity_file", raw.identity_file)?,
            }
        }
        "talos" => {
            unused(&[
                ("user", raw.user.is_some()),
                ("password_file", raw.password_file.is_some()),
                ("password_env", raw.password_env.is_some()),
                ("ca_file", raw.ca_file.is_some()),
                ("identity_file", raw.identity_file.is_some()),
            ])?;
            CredentialSecret::Talos {
                talosconfig: path("talosconfig", raw.talosconfig)?,
            }
        }
        "redfish" => {
            unused(&[
                ("identity_file", raw.identity_file.is_some()),
                ("talosconfig", raw.talosconfig.is_some()),
            ])?;
            redfish_secret(name, &raw)?
        }
        other => {
            return Err(problem(format!(
                "kind {other:?} is not known; the kinds are: ssh, talos, redfish"
            )));
        }
    };
    let hosts = raw.hosts.unwrap_or_default();
    let groups = raw.groups.unwrap_or_default();
    if hosts.is_empty() && groups.is_empty() {
        return Err(problem(
            "hosts or groups is required: a credential is scoped (hosts = [\"*\"] for every host)"
                .into(),
        ));
    }
    if hosts
        .iter()
        .chain(&groups)
        .any(|entry| entry.is_empty() || entry.len() > 253)
    {
        return Err(problem(
            "hosts and groups entries are 1 to 253 characters".into(),
        ));
    }
    let max_tier = match raw.max_tier.as_deref() {
        None => Tier::T0,
        Some(name) => Tier::from_name(name)
            .ok_or_else(|| problem(format!("max_tier {name:?} is not one of T0, T1, T2, T3")))?,
    };
    Ok(Credential {
        secret,
        scope: Scope {
            hosts,
            groups,
            max_tier,
        },
    })
}

/// The secret side of a `kind = "redfish"` credential.
fn redfish_secret(name: &str, raw: &RawCredential) -> Result<CredentialSecret, ConfigError> {
    let problem = |text: String| ConfigError::new(format!("credentials.{name}: {text}"));
    let user = raw
        .user
        .clone()
        .filter(|user| {
            !user.is_empty() && !user.contains(':') && !user.chars().any(char::is_control)
        })
        .ok_or_else(|| problem("user is required (no ':' or control characters)".into()))?;
    let password = match (&raw.password_file, &raw.password_env) {
        (Some(file), None) => SecretSource::File(absolute(
            &format!("credentials.{name}.password_file"),
            file.clone(),
        )?),
        (None, Some(variable)) if variable.starts_with("PRAXIS_") => {
            return Err(problem(format!(
                "password_env {variable} starts with PRAXIS_, which names settings; use another name"
            )));
        }
        (None, Some(variable)) if !variable.is_empty() => {
            SecretSource::Environment(variable.clone())
        }
        _ => {
            return Err(problem(
                "give exactly one of password_file and password_env".into(),
            ));
        }
    };
    let ca_file = raw.ca_file.clone().ok_or_else(|| {
        problem("ca_file is required: the BMC's certificate is verified against it".into())
    })?;
    Ok(CredentialSecret::Redfish {
        user,
        password,
        ca_file: absolute(&format!("credentials.{name}.ca_file"), ca_file)?,
    })
}

impl Credential {
    /// What `doctor`, `credentials list` and the session record show: never a secret.
    pub fn to_json(&self) -> serde_json::Value {
        let mut value = match &self.secret {
            CredentialSecret::Ssh { identity_file } => {
                json!({"identity_file": identity_file.display().to_string()})
            }
            CredentialSecret::Talos { talosconfig } => {
                json!({"talosconfig": talosconfig.display().to_string()})
            }
            CredentialSecret::Redfish {
                user,
                password,
                ca_file,
            } => {
                let password = match password {
                    SecretSource::File(path) => json!({"file": path.display().to_string()}),
                    SecretSource::Environment(name) => json!({"environment": name}),
                };
                json!({"user": user, "password": password, "ca_file": ca_file.display().to_string()})
            }
        };
        value["kind"] = json!(self.secret.kind());
        value["hosts"] = json!(self.scope.hosts);
        value["groups"] = json!(self.scope.groups);
        value["max_tier"] = json!(self.scope.max_tier.as_str());
        value
    }
}

impl SecretSource {
    /// Reads the secret now. A file must be readable by praxis's user only.
    pub fn read(&self) -> Result<String, String> {
        match self {
            SecretSource::File(path) => {
                use std::os::unix::fs::PermissionsExt as _;
                let metadata =
                    fs::metadata(path).map_err(|error| format!("{}: {error}", path.display()))?;
                let mode = metadata.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return Err(format!(
                        "{} has mode {mode:04o}; a secret file must be readable by praxis's user only (chmod 600)",
                        path.display()
                    ));
                }
                let text = fs::read_to_string(path)
                    .map_err(|error| format!("{}: {error}", path.display()))?;
                Ok(text
                    .strip_suffix('\n')
                    .map_or(text.as_str(), |text| {
                        text.strip_suffix('\r').unwrap_or(text)
                    })
                    .to_owned())
            }
            SecretSource::Environment(variable) => std::env::var(variable)
                .map_err(|_| format!("the variable {variable} is not set in praxis's environment")),
        }
    }
}

fn read_config_file(sources: &Sources) -> Result<(Option<PathBuf>, RawConfig), ConfigError> {
    let explicit = sources
        .config_flag
        .clone()
        .or_else(|| sources.environment.get("PRAXIS_CONFIG").map(PathBuf::from));
    let (path, required) = if let Some(path) = explicit {
        (absolute("the config path", path)?, true)
    } else {
        let config_home = sources
            .environment
            .get("XDG_CONFIG_HOME")
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                sources
                    .environment
                    .get("HOME")
                    .map(|home| Path::new(home).join(".config"))
            });
        match config_home {
            Some(home) if home.is_absolute() => (home.join("praxis").join("praxis.toml"), false),
            _ => return Ok((None, RawConfig::default())),
        }
    };
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if !required && error.kind() == std::io::ErrorKind::NotFound => {
            return Ok((None, RawConfig::default()));
        }
        Err(error) => {
            return Err(ConfigError::new(format!(
                "cannot read config file {}: {error}",
                path.display()
            )));
        }
    };
    let raw: RawConfig = toml::from_str(&text).map_err(|error| {
        ConfigError::new(format!(
            "config file {} is invalid: {}",
            path.display(),
            error.message().replace('\n', " ")
        ))
    })?;
    Ok((Some(path), raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(pairs: &[(&str, &str)]) -> Sources {
        Sources {
            environment: pairs
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect(),
            ..Sources::default()
        }
    }

    #[test]
    fn defaults_derive_from_the_state_dir() {
        let settings = Settings::resolve(&sources(&[("PRAXIS_STATE_DIR", "/srv/praxis")])).unwrap();
        assert_eq!(settings.database, Path::new("/srv/praxis/praxis.db"));
        assert_eq!(settings.kill_switch_path, Path::new("/srv/praxis/KILL"));
        assert_eq!(settings.mode, Mode::Guarded);
        assert_eq!(settings.approval_ttl_seconds, 600);
    }

    #[test]
    fn unknown_variables_and_bad_values_are_refused() {
        for (pairs, needle) in [
            (
                vec![("PRAXIS_STATE_DIR", "/x"), ("PRAXIS_MDOE", "open")],
                "unknown environment variable PRAXIS_MDOE",
            ),
            (
                vec![("PRAXIS_STATE_DIR", "/x"), ("PRAXIS_MODE", "yolo")],
                "unknown mode `yolo`",
            ),
            (
                vec![("PRAXIS_STATE_DIR", "relative")],
                "must be an absolute path",
            ),
            (
                vec![("PRAXIS_STATE_DIR", "/x"), ("PRAXIS_MAX_ACTIONS", "ten")],
                "not a whole number",
            ),
            (
                vec![
                    ("PRAXIS_STATE_DIR", "/x"),
                    ("PRAXIS_OUTPUT_PREVIEW_BYTES", "10"),
                ],
                "output_preview_bytes = 10 is out of range; use 1024 to 4194304",
            ),
            (vec![], "no state directory"),
        ] {
            let error = Settings::resolve(&sources(&pairs)).unwrap_err().to_string();
            assert!(error.contains(needle), "{error}");
            assert!(!error.contains('\n'));
        }
    }

    #[test]
    fn egress_networks_default_to_bmc_ranges_and_refuse_bad_entries() {
        let settings = Settings::resolve(&sources(&[("PRAXIS_STATE_DIR", "/x")])).unwrap();
        let listed: Vec<String> = settings
            .egress_allowed_networks
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(listed, DEFAULT_ALLOWED_NETWORKS);
        let lab = Settings::resolve(&sources(&[
            ("PRAXIS_STATE_DIR", "/x"),
            ("PRAXIS_EGRESS_ALLOWED_NETWORKS", "127.0.0.0/8, ::1/128"),
        ]))
        .unwrap();
        assert_eq!(lab.egress_allowed_networks.len(), 2);
        let error = Settings::resolve(&sources(&[
            ("PRAXIS_STATE_DIR", "/x"),
            ("PRAXIS_EGRESS_ALLOWED_NETWORKS", "10.0.0.1/8"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(error.contains("host bits are set"), "{error}");
    }

    #[test]
    fn the_flag_beats_the_variable() {
        let mut both = sources(&[("PRAXIS_STATE_DIR", "/from-env")]);
        both.state_dir_flag = Some(PathBuf::from("/from-flag"));
        assert_eq!(
            Settings::resolve(&both).unwrap().state_dir,
            Path::new("/from-flag")
        );
    }

    /// Settings from a config file holding `text`.
    fn from_file(name: &str, text: &str) -> Result<Settings, ConfigError> {
        let directory =
            std::env::temp_dir().join(format!("praxis-config-{name}-{}", std::process::id()));
        drop(fs::remove_dir_all(&directory));
        fs::create_dir_all(&directory).unwrap();
        let file = directory.join("praxis.toml");
        fs::write(&file, text).unwrap();
        let resolved = Settings::resolve(&Sources {
            config_flag: Some(file),
            ..sources(&[("PRAXIS_STATE_DIR", "/srv/praxis")])
        });
        drop(fs::remove_dir_all(&directory));
        resolved
    }

    #[test]
    fn credentials_are_scoped_references_to_secrets_never_secrets() {
        let settings = from_file(
            "credentials",
            "[credentials.lab-bmc]\nkind = \"redfish\"\nuser = \"admin\"\npassword_file = \"/etc/praxis/bmc.password\"\nca_file = \"/etc/praxis/ca.pem\"\nhosts = [\"bmc-*\"]\nmax_tier = \"T1\"\n\n\
             [credentials.other]\nkind = \"redfish\"\nuser = \"root\"\npassword_env = \"BMC_PASSWORD\"\nca_file = \"/etc/praxis/ca.pem\"\ngroups = [\"bmc\"]\n\n\
             [credentials.web]\nkind = \"ssh\"\nidentity_file = \"/etc/praxis/id_web\"\nhosts = [\"web-*\"]\n",
        )
        .unwrap();
        assert_eq!(
            settings.credentials["lab-bmc"],
            Credential {
                secret: CredentialSecret::Redfish {
                    user: "admin".into(),
                    password: SecretSource::File("/etc/praxis/bmc.password".into()),
                    ca_file: "/etc/praxis/ca.pem".into(),
                },
                scope: Scope {
                    hosts: vec!["bmc-*".into()],
                    groups: Vec::new(),
                    max_tier: Tier::T1,
                },
            }
        );
        assert_eq!(
            settings.credentials["other"].scope.max_tier,
            Tier::T0,
            "T0 unless widened"
        );
        assert_eq!(
            settings.credentials["web"].secret,
            CredentialSecret::Ssh {
                identity_file: "/etc/praxis/id_web".into()
            }
        );
        let shown = settings.to_json().to_string();
        assert!(shown.contains("BMC_PASSWORD") && shown.contains("bmc.password"));
        let redfish = "kind = \"redfish\"\nhosts = [\"*\"]\n";
        for (text, needle) in [
            (format!("[credentials.x]\n{redfish}user = \"a\"\npassword = \"hunter2\"\nca_file = \"/c\"\n"), "unknown field `password`"),
            ("[credentials.x]\nkind = \"winrm\"\nhosts = [\"*\"]\n".to_owned(), "kind \"winrm\" is not known"),
            (format!("[credentials.x]\n{redfish}user = \"a\"\nca_file = \"/c\"\n"), "exactly one of password_file and password_env"),
            (format!("[credentials.x]\n{redfish}user = \"a\"\npassword_env = \"PRAXIS_PW\"\nca_file = \"/c\"\n"), "starts with PRAXIS_"),
            (format!("[credentials.x]\n{redfish}user = \"a\"\npassword_file = \"/p\"\n"), "ca_file is required"),
            (format!("[credentials.x]\n{redfish}user = \"a:b\"\npassword_file = \"/p\"\nca_file = \"/c\"\n"), "user is required"),
            (format!("[credentials.\"a b\"]\n{redfish}user = \"a\"\npassword_file = \"/p\"\nca_file = \"/c\"\n"), "a credential name is"),
            (format!("[credentials.x]\n{redfish}user = \"a\"\npassword_file = \"p\"\nca_file = \"/c\"\n"), "absolute"),
            ("[credentials.x]\nkind = \"ssh\"\nidentity_file = \"/k\"\n".to_owned(), "hosts or groups is required"),
            ("[credentials.x]\nkind = \"ssh\"\nidentity_file = \"/k\"\nhosts = [\"*\"]\nmax_tier = \"T9\"\n".to_owned(), "max_tier \"T9\""),
            ("[credentials.x]\nkind = \"ssh\"\nidentity_file = \"/k\"\nuser = \"u\"\nhosts = [\"*\"]\n".to_owned(), "user does not apply"),
            ("[credentials.x]\nkind = \"talos\"\nhosts = [\"*\"]\n".to_owned(), "talosconfig is required"),
        ] {
            let error = from_file("bad-credentials", &text).unwrap_err().to_string();
            assert!(error.contains(needle), "{needle}: {error}");
            assert!(!error.contains("hunter2"), "{error}");
        }
    }

    #[test]
    fn a_secret_file_readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let path = std::env::temp_dir().join(format!("praxis-secret-{}", std::process::id()));
        fs::write(&path, "s3cret\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(SecretSource::File(path.clone()).read().unwrap(), "s3cret");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let error = SecretSource::File(path.clone()).read().unwrap_err();
        assert!(
            error.contains("chmod 600") && !error.contains("s3cret"),
            "{error}"
        );
        drop(fs::remove_file(&path));
        assert!(
            SecretSource::Environment("PRAXIS_TEST_SURELY_UNSET_VARIABLE".into())
                .read()
                .is_err()
        );
    }
}
