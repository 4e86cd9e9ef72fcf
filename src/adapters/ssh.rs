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
//! - Commands to one host share a master connection (`ControlMaster`, sockets in a 0700
//!   directory under the state directory, named by a digest of the target, host key and
//!   identity); an idle master exits after `ssh_control_persist_seconds`, and praxis asks every
//!   master to exit when it stops.
//! - At most `ssh_max_sessions_per_host` commands run on one host at once; the rest wait.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

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
    /// Whether the login shell is POSIX (a linux host), so the remote command can be bounded by
    /// `timeout` on the host itself.
    pub posix_shell: bool,
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
    #[error(
        "{host} already runs {running} praxis commands (ssh_max_sessions_per_host) and none finished within {waited:?}"
    )]
    Busy {
        host: String,
        running: usize,
        waited: Duration,
    },
    #[error("cannot connect to {host}: {detail}")]
    Master { host: String, detail: String },
    #[error(transparent)]
    Mux(#[from] super::ssh_mux::MuxError),
    #[error(transparent)]
    Process(#[from] ProcessError),
}

/// How long the client may take to connect.
const CONNECT_TIMEOUT_SECONDS: u64 = 10;
/// The longest control socket path: `sun_path` holds 108 bytes and ssh binds a temporary name
/// 17 bytes longer than the final one before renaming it.
const MAX_CONTROL_PATH_BYTES: usize = 90;

/// How the ssh adapter connects, from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct SshOptions<'a> {
    /// Holds the `known_hosts` files and the master connections' control sockets.
    pub state_dir: &'a Path,
    pub identity: Option<&'a Path>,
    /// How long one remote command may run, waiting for a session slot included.
    pub timeout: Duration,
    /// How long an idle master connection stays up; 0 turns multiplexing off.
    pub control_persist_seconds: u64,
    /// How many commands may run on one host at once; the rest wait their turn.
    pub max_sessions_per_host: usize,
    /// Trust a host without a pinned key on first use (`StrictHostKeyChecking=accept-new`): its
    /// key is then kept in praxis's `known_hosts` file for that host and checked ever after.
    pub accept_new_host_keys: bool,
}

/// The ssh argv for `command` on `target`. With multiplexing on, praxis opens the same session
/// natively over the host's master connection (`ssh_mux`), which `master_argv` starts.
pub fn argv(target: &SshTarget, options: &SshOptions<'_>, command: &str) -> Vec<String> {
    let control = match control_path(target, options) {
        Some(path) => vec![
            "ControlMaster=auto".to_owned(),
            format!("ControlPath={}", path.display()),
            format!("ControlPersist={}", options.control_persist_seconds),
        ],
        None => vec!["ControlMaster=no".to_owned()],
    };
    let mut argv = client_argv(target, options, &control);
    argv.push(remote_command(target, options, command));
    argv
}

/// What the host's shell runs: on a POSIX host, the command under `timeout`, so it ends on the
/// host a little before praxis stops waiting (`timeout` signals its whole process group, then
/// kills it 2 s later), and nothing is left running there.
pub fn remote_command(target: &SshTarget, options: &SshOptions<'_>, command: &str) -> String {
    if !target.posix_shell {
        return command.to_owned();
    }
    let seconds = options.timeout.as_secs().saturating_sub(3).max(1);
    format!(
        "timeout -k 2 {seconds} sh -c '{}'",
        command.replace('\'', "'\\''")
    )
}

/// The argv that starts `target`'s master connection at `control_path`: authenticate, go to
/// the background, serve sessions until idle for `ssh_control_persist_seconds`.
pub fn master_argv(
    target: &SshTarget,
    options: &SshOptions<'_>,
    control_path: &Path,
) -> Vec<String> {
    let control = [
        "ControlMaster=yes".to_owned(),
        format!("ControlPath={}", control_path.display()),
        format!("ControlPersist={}", options.control_persist_seconds),
    ];
    let mut argv = client_argv(target, options, &control);
    // `-N -f` go before the destination.
    let destination = argv.split_off(argv.len() - 2);
    argv.extend(["-N".into(), "-f".into()]);
    argv.extend(destination);
    argv
}

/// `ssh` with praxis's options, `control` settings, identity, port, `--` and the destination.
fn client_argv(target: &SshTarget, options: &SshOptions<'_>, control: &[String]) -> Vec<String> {
    let destination = match &target.user {
        Some(user) => format!("{user}@{}", target.address),
        None => target.address.clone(),
    };
    let known_hosts = known_hosts_path(options.state_dir, &target.host);
    let identity = options
        .identity
        .unwrap_or(Path::new("<ssh_identity_file is not configured>"));
    let mut argv: Vec<String> = vec!["ssh".into(), "-F".into(), "/dev/null".into()];
    let checking = if target.host_key.is_none() && options.accept_new_host_keys {
        "StrictHostKeyChecking=accept-new"
    } else {
        "StrictHostKeyChecking=yes"
    };
    let settings = [
        "BatchMode=yes".to_owned(),
        checking.to_owned(),
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
    ];
    for setting in settings.iter().chain(control) {
        argv.push("-o".into());
        argv.push(setting.clone());
    }
    argv.extend([
        "-i".into(),
        identity.display().to_string(),
        "-p".into(),
        target.port.to_string(),
        "--".into(),
        destination,
    ]);
    argv
}

/// The control socket of the master connection to `target`, or `None` when multiplexing is
/// off (or the state directory's path is too long for a socket). The name digests everything
/// that identifies the connection, so a changed host key or identity never reuses a master.
pub fn control_path(target: &SshTarget, options: &SshOptions<'_>) -> Option<PathBuf> {
    if options.control_persist_seconds == 0 {
        return None;
    }
    let identity = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        target.host,
        target.address,
        target.port,
        target.user.as_deref().unwrap_or(""),
        target.host_key.as_deref().unwrap_or("").trim(),
        options
            .identity
            .map(|path| path.display().to_string())
            .unwrap_or_default(),
    );
    let name = crate::digest::Digest::of(identity.as_bytes()).to_hex();
    let path = mux_directory(options.state_dir).join(&name[..20]);
    (path.as_os_str().len() <= MAX_CONTROL_PATH_BYTES).then_some(path)
}

fn mux_directory(state_dir: &Path) -> PathBuf {
    state_dir.join("ssh").join("mux")
}

/// Runs `command` on `target`, waiting for a session slot on the host if
/// `max_sessions_per_host` commands already run there.
pub fn run(
    target: &SshTarget,
    command: &str,
    options: &SshOptions<'_>,
    capture_limit: usize,
) -> Result<ChildOutcome, SshError> {
    if target.host_key.is_none() && !options.accept_new_host_keys {
        return Err(SshError::NoHostKey(target.host.clone()));
    }
    options.identity.ok_or(SshError::NoIdentity)?;
    let started = Instant::now();
    let _slot = HOST_SLOTS.acquire(
        &format!("{}:{}", target.address, target.port),
        options.max_sessions_per_host,
        options.timeout,
    )?;
    if let Some(host_key) = &target.host_key {
        write_known_hosts(options.state_dir, target, host_key)?;
    } else {
        // Trust on first use: ssh adds the key to this host's own file, which is never
        // rewritten, so a changed key is refused from then on.
        let directory = options.state_dir.join("ssh");
        fs::create_dir_all(&directory).map_err(|source| SshError::KnownHosts {
            path: directory.clone(),
            source,
        })?;
    }
    if let Some(path) = control_path(target, options) {
        let directory = mux_directory(options.state_dir);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&directory)
            .map_err(|source| SshError::KnownHosts {
                path: directory.clone(),
                source,
            })?;
        let remote = remote_command(target, options, command);
        let session = || {
            let left = options.timeout.saturating_sub(started.elapsed());
            super::ssh_mux::run_session(&path, &remote, left, capture_limit)
        };
        // The master is usually up: one connection to it, no liveness check first; only when
        // none answers is one started and the session tried again.
        let answered = match session() {
            Err(super::ssh_mux::MuxError::NoMaster(_)) => {
                ensure_master(
                    target,
                    options,
                    &path,
                    options.timeout.saturating_sub(started.elapsed()),
                )?;
                session()
            }
            other => other,
        };
        match answered {
            Ok(outcome) => return Ok(outcome),
            // The master went away between its start and the session: fall through to a
            // client of our own.
            Err(super::ssh_mux::MuxError::NoMaster(_)) => {}
            Err(error) => return Err(SshError::Mux(error)),
        }
    }
    let spec = ChildSpec {
        argv: argv(target, options, command),
        extra_environment: Vec::new(),
        timeout: options.timeout.saturating_sub(started.elapsed()),
        capture_limit,
    };
    Ok(process::run(&spec, std::env::vars())?)
}

/// Makes sure a master connection answers at `control_path`, starting one if none does. A lock
/// file beside the socket keeps two praxis processes from starting two masters (the loser's
/// `ssh -M -f -N` would otherwise linger as a plain connection).
fn ensure_master(
    target: &SshTarget,
    options: &SshOptions<'_>,
    control_path: &Path,
    timeout: Duration,
) -> Result<(), SshError> {
    if super::ssh_mux::alive(control_path) {
        return Ok(());
    }
    let lock_path = control_path.with_extension("lock");
    let lock = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&lock_path)
        .map_err(|source| SshError::KnownHosts {
            path: lock_path.clone(),
            source,
        })?;
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).map_err(|error| {
        SshError::KnownHosts {
            path: lock_path.clone(),
            source: error.into(),
        }
    })?;
    if super::ssh_mux::alive(control_path) {
        return Ok(());
    }
    if let Err(error) = fs::remove_file(control_path)
        && error.kind() != std::io::ErrorKind::NotFound
    {
        tracing::debug!(%error, "stale control socket not removed");
    }
    let spec = ChildSpec {
        argv: master_argv(target, options, control_path),
        extra_environment: Vec::new(),
        timeout,
        capture_limit: 16 * 1024,
    };
    let outcome = process::run_detaching(&spec, std::env::vars())?;
    if outcome.exit_code != Some(0) || !super::ssh_mux::alive(control_path) {
        return Err(SshError::Master {
            host: target.host.clone(),
            detail: if outcome.timed_out {
                format!(
                    "timed out after {} s waiting for the host to answer",
                    timeout.as_secs_f64().round()
                )
            } else {
                crate::audit::cut(outcome.stderr_preview.trim(), 300)
            },
        });
    }
    Ok(())
}

/// Asks every master connection under `state_dir` to stop (at shutdown, so no master outlives
/// praxis by its idle time): a master stops taking new sessions at once and exits when its
/// running sessions end, so another praxis process sharing the state directory loses nothing.
/// Returns how many masters were asked.
pub fn close_masters(state_dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(mux_directory(state_dir)) else {
        return 0;
    };
    let mut asked = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if path
            .extension()
            .is_some_and(|extension| extension == "lock")
        {
            drop(fs::remove_file(&path));
            continue;
        }
        let spec = ChildSpec {
            argv: vec![
                "ssh".into(),
                "-F".into(),
                "/dev/null".into(),
                "-o".into(),
                format!("ControlPath={}", path.display()),
                "-O".into(),
                "stop".into(),
                "praxis-master".into(),
            ],
            extra_environment: Vec::new(),
            timeout: Duration::from_secs(5),
            capture_limit: 4_096,
        };
        match process::run(&spec, std::env::vars()) {
            Ok(outcome) if outcome.exit_code == Some(0) => asked += 1,
            // A socket whose master is gone (killed, or the machine slept) is only litter.
            _ => {
                if let Err(error) = fs::remove_file(&path) {
                    tracing::debug!(%error, path = %path.display(), "stale control socket left");
                }
            }
        }
    }
    asked
}

/// Session slots per host: sshd refuses sessions over its `MaxSessions` (and drops connections
/// over `MaxStartups`), so praxis queues instead of failing.
static HOST_SLOTS: HostSlots = HostSlots {
    busy: Mutex::new(BTreeMap::new()),
    freed: Condvar::new(),
};

struct HostSlots {
    busy: Mutex<BTreeMap<String, usize>>,
    freed: Condvar,
}

/// A held session slot; dropping it frees the slot.
struct Slot<'a> {
    slots: &'a HostSlots,
    host: String,
}

impl HostSlots {
    fn acquire(&self, host: &str, limit: usize, wait: Duration) -> Result<Slot<'_>, SshError> {
        let deadline = Instant::now() + wait;
        let mut busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let running = busy.get(host).copied().unwrap_or(0);
            if running < limit.max(1) {
                busy.insert(host.to_owned(), running + 1);
                return Ok(Slot {
                    slots: self,
                    host: host.to_owned(),
                });
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(SshError::Busy {
                    host: host.to_owned(),
                    running,
                    waited: wait,
                });
            }
            busy = self
                .freed
                .wait_timeout(busy, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut busy = self
            .slots
            .busy
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(running) = busy.get_mut(&self.host) {
            *running = running.saturating_sub(1);
            if *running == 0 {
                busy.remove(&self.host);
            }
        }
        self.slots.freed.notify_all();
    }
}

/// Where praxis keeps the pinned key of `host`.
pub fn known_hosts_path(state_dir: &Path, host: &str) -> PathBuf {
    state_dir.join("ssh").join(format!("known_hosts-{host}"))
}

/// Writes the one pinned key of `target` to `<state>/ssh/known_hosts-<host>` (mode 0600).
pub(crate) fn write_known_hosts(
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
    let line = format!("{pattern} {}\n", host_key.trim());
    super::write_private_file(&path, &line).map_err(error)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> SshTarget {
        SshTarget {
            host: "web-1".into(),
            address: "127.0.10.1".into(),
            port: 2222,
            user: Some("aiops".into()),
            host_key: Some("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample".into()),
            posix_shell: true,
        }
    }

    fn options(state_dir: &Path, persist: u64) -> SshOptions<'_> {
        SshOptions {
            state_dir,
            identity: Some(Path::new("/keys/id_ed25519")),
            timeout: Duration::from_secs(5),
            control_persist_seconds: persist,
            max_sessions_per_host: 2,
            accept_new_host_keys: false,
        }
    }

    #[test]
    fn a_master_is_per_target_key_and_identity_and_off_when_persist_is_zero() {
        let state = Path::new("/var/lib/praxis");
        let first = control_path(&target(), &options(state, 60)).unwrap();
        assert!(first.starts_with("/var/lib/praxis/ssh/mux"));
        let mut rekeyed = target();
        rekeyed.host_key = Some("ssh-ed25519 AAAAother".into());
        assert_ne!(control_path(&rekeyed, &options(state, 60)).unwrap(), first);
        let mut other_identity = options(state, 60);
        other_identity.identity = Some(Path::new("/keys/other"));
        assert_ne!(control_path(&target(), &other_identity).unwrap(), first);
        assert_eq!(control_path(&target(), &options(state, 0)), None);
        let argv = argv(&target(), &options(state, 0), "uptime");
        assert!(argv.contains(&"ControlMaster=no".to_owned()), "{argv:?}");
        // A state directory too deep for a socket path turns multiplexing off, not ssh.
        let deep = PathBuf::from(format!("/{}", "d".repeat(100)));
        assert_eq!(control_path(&target(), &options(&deep, 60)), None);
        let argv = super::argv(&target(), &options(state, 60), "uptime");
        assert!(argv.contains(&"ControlPersist=60".to_owned()), "{argv:?}");
        assert_eq!(
            argv.last().map(String::as_str),
            Some("timeout -k 2 2 sh -c 'uptime'")
        );
        assert_eq!(argv[argv.len() - 3], "--");
    }

    #[test]
    fn the_remote_command_is_bounded_on_a_posix_host_and_quoted_whole() {
        let options = options(Path::new("/var/lib/praxis"), 60);
        let wrapped = remote_command(&target(), &options, "echo 'a b' && uptime");
        assert_eq!(
            wrapped,
            "timeout -k 2 2 sh -c 'echo '\\''a b'\\'' && uptime'"
        );
        let windows = SshTarget {
            posix_shell: false,
            ..target()
        };
        assert_eq!(
            remote_command(&windows, &options, "Get-Service"),
            "Get-Service"
        );
    }

    #[test]
    fn an_unpinned_host_is_refused_unless_trust_on_first_use_is_configured() {
        let state = Path::new("/var/lib/praxis");
        let unpinned = SshTarget {
            host_key: None,
            ..target()
        };
        assert!(matches!(
            run(&unpinned, "uptime", &options(state, 60), 1024),
            Err(SshError::NoHostKey(_))
        ));
        let mut trusting = options(state, 60);
        trusting.accept_new_host_keys = true;
        assert!(
            argv(&unpinned, &trusting, "uptime")
                .contains(&"StrictHostKeyChecking=accept-new".to_owned())
        );
        // A pinned key is checked strictly whatever the setting.
        assert!(
            argv(&target(), &trusting, "uptime").contains(&"StrictHostKeyChecking=yes".to_owned())
        );
    }

    #[test]
    fn a_host_runs_at_most_its_limit_at_once_and_the_rest_wait_or_time_out() {
        let slots = HostSlots {
            busy: Mutex::new(BTreeMap::new()),
            freed: Condvar::new(),
        };
        let first = slots.acquire("h:22", 2, Duration::from_millis(10)).unwrap();
        let second = slots.acquire("h:22", 2, Duration::from_millis(10)).unwrap();
        // Another host is not affected.
        drop(
            slots
                .acquire("other:22", 2, Duration::from_millis(10))
                .unwrap(),
        );
        let refused = slots.acquire("h:22", 2, Duration::from_millis(20));
        assert!(matches!(refused, Err(SshError::Busy { running: 2, .. })));
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| slots.acquire("h:22", 2, Duration::from_secs(30)).is_ok());
            std::thread::sleep(Duration::from_millis(50));
            drop(first);
            assert!(waiter.join().unwrap(), "a freed slot goes to the waiter");
        });
        drop(second);
        assert!(
            slots.busy.lock().unwrap().is_empty(),
            "every slot was given back"
        );
    }

    #[test]
    fn known_hosts_is_replaced_whole() {
        let directory =
            std::env::temp_dir().join(format!("praxis-known-hosts-{}", std::process::id()));
        drop(fs::remove_dir_all(&directory));
        let path = write_known_hosts(&directory, &target(), "ssh-ed25519 AAAAone").unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "[127.0.10.1]:2222 ssh-ed25519 AAAAone\n"
        );
        write_known_hosts(&directory, &target(), "ssh-ed25519 AAAAtwo").unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "[127.0.10.1]:2222 ssh-ed25519 AAAAtwo\n"
        );
        let leftovers = fs::read_dir(directory.join("ssh"))
            .unwrap()
            .filter(|entry| {
                entry
                    .as_ref()
                    .is_ok_and(|entry| entry.file_name().to_string_lossy().starts_with('.'))
            })
            .count();
        assert_eq!(leftovers, 0);
        drop(fs::remove_dir_all(&directory));
    }
}
