//! The ssh adapter: one remote command on one inventory host, through the system `ssh`
//! client run by `adapters::process`.
//!
//! Invariants:
//! - The target (address, port, user) and the pinned host key come from the inventory, never
//!   from the caller; the host key is written to a praxis-managed `known_hosts` file and checked
//!   strictly (`StrictHostKeyChecking=yes`); a host with no pinned key is refused.
//! - No user or system ssh configuration is read (`-F /dev/null`), so no `ProxyCommand` or
//!   `LocalCommand` can be injected; `BatchMode=yes`; the identity file comes from the config.
//! - The remote command is one argv element after `--`; the remote shell runs it.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::process::{self, ChildOutcome, ChildSpec, ProcessError};

/// Where and how to reach one host.
#[derive(Clone, Debug)]
pub struct SshTarget {
    pub host: String,
    pub address: String,
    pub port: u16,
    pub user: Option<String>,
    /// The pinned host key line (`ssh-ed25519 AAAA…`).
    pub host_key: Option<String>,
}

/// An ssh failure before the remote command could run.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error(
        "{0} has no pinned host key in the inventory (praxis_ssh_host_key); praxis does not trust a key it has never seen"
    )]
    NoHostKey(String),
    #[error("no ssh identity is configured (ssh_identity_file)")]
    NoIdentity,
    #[error("cannot write the known_hosts file {path}: {source}")]
    KnownHosts {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Process(#[from] ProcessError),
}

/// How long the client may take to connect.
const CONNECT_TIMEOUT_SECONDS: u64 = 10;
/// The ssh argv for `command` on `target`, with `known_hosts` and `identity`.
pub fn argv(target: &SshTarget, known_hosts: &Path, identity: &Path, command: &str) -> Vec<String> {
    let destination = match &target.user {
        Some(user) => format!("{user}@{}", target.address),
        None => target.address.clone(),
    };
    let mut argv: Vec<String> = vec!["ssh".into(), "-F".into(), "/dev/null".into()];
    for option in [
        "BatchMode=yes".to_owned(),
        "StrictHostKeyChecking=yes".to_owned(),
        format!("UserKnownHostsFile={}", known_hosts.display()),
        "GlobalKnownHostsFile=/dev/null".to_owned(),
        format!("ConnectTimeout={CONNECT_TIMEOUT_SECONDS}"),
        "IdentitiesOnly=yes".to_owned(),
        "ForwardAgent=no".to_owned(),
        "ForwardX11=no".to_owned(),
        "ClearAllForwardings=yes".to_owned(),
        "PermitLocalCommand=no".to_owned(),
        "RequestTTY=no".to_owned(),
        "ServerAliveInterval=5".to_owned(),
        "ServerAliveCountMax=2".to_owned(),
        "LogLevel=ERROR".to_owned(),
    ] {
        argv.push("-o".into());
        argv.push(option);
    }
    argv.extend([
        "-i".into(),
        identity.display().to_string(),
        "-p".into(),
        target.port.to_string(),
        "--".into(),
        destination,
        command.to_owned(),
    ]);
    argv
}

/// Runs `command` on `target`; `state_dir` holds the `known_hosts` files praxis writes.
pub fn run(
    target: &SshTarget,
    command: &str,
    state_dir: &Path,
    identity: Option<&Path>,
    timeout: Duration,
    capture_limit: usize,
) -> Result<ChildOutcome, SshError> {
    let host_key = target
        .host_key
        .as_deref()
        .ok_or_else(|| SshError::NoHostKey(target.host.clone()))?;
    let identity = identity.ok_or(SshError::NoIdentity)?;
    let known_hosts = write_known_hosts(state_dir, target, host_key)?;
    let spec = ChildSpec {
        argv: argv(target, &known_hosts, identity, command),
        extra_environment: Vec::new(),
        timeout,
        capture_limit,
    };
    Ok(process::run(&spec, std::env::vars())?)
}

/// Where praxis keeps the pinned key of `host`.
pub fn known_hosts_path(state_dir: &Path, host: &str) -> PathBuf {
    state_dir.join("ssh").join(format!("known_hosts-{host}"))
}

/// Writes the one pinned key of `target` to `<state>/ssh/known_hosts-<host>` (mode 0600).
fn write_known_hosts(
    state_dir: &Path,
    target: &SshTarget,
    host_key: &str,
) -> Result<PathBuf, SshError> {
    let path = known_hosts_path(state_dir, &target.host);
    let directory = state_dir.join("ssh");
    let error = |source| SshError::KnownHosts {
        path: path.clone(),
        source,
    };
    fs::create_dir_all(&directory).map_err(error)?;
    let pattern = if target.port == 22 {
        target.address.clone()
    } else {
        format!("[{}]:{}", target.address, target.port)
    };
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .map_err(error)?;
    writeln!(file, "{pattern} {}", host_key.trim()).map_err(error)?;
    Ok(path)
}
