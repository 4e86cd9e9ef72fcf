//! Running a child process the way every adapter must: argv only, scrubbed environment,
//! stdin closed, own process group, timeout, bounded capture.
//!
//! Invariants:
//! - The environment is built from an allowlist of the parent's variables plus what the caller
//!   adds explicitly; nothing else (no `AWS_SECRET_ACCESS_KEY`, no `PRAXIS_*`) reaches a child.
//! - The child's whole process group is killed when the timeout passes, and again after the
//!   child exits, so no grandchild outlives the call (and none can hold the output pipes open).
//! - Output is hashed in full (SHA-256 and length of stdout) while only a head and a tail are
//!   kept, so memory is bounded whatever the child prints.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group};

use crate::digest::{Digest, Hasher};

/// Variables a child may inherit from praxis's environment.
pub const INHERITED_VARIABLES: &[&str] = &[
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR",
];

/// Variables every child gets, so nothing waits for a terminal or a pager.
const FORCED_VARIABLES: &[(&str, &str)] = &[
    ("PAGER", "cat"),
    ("SYSTEMD_PAGER", ""),
    ("GIT_PAGER", "cat"),
    ("GIT_TERMINAL_PROMPT", "0"),
    ("DEBIAN_FRONTEND", "noninteractive"),
    ("SSH_ASKPASS", ""),
];

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What to run.
#[derive(Clone, Debug)]
pub struct ChildSpec {
    /// Program and arguments; the program is looked up on the scrubbed `PATH`.
    pub argv: Vec<String>,
    /// Variables this child needs beyond the inherited ones (for example `SSH_AUTH_SOCK`).
    pub extra_environment: Vec<(String, String)>,
    pub timeout: Duration,
    /// How many bytes of output to keep (half head, half tail).
    pub capture_limit: usize,
}

/// How a child ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildOutcome {
    /// The exit code, or `None` when a signal ended it.
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    /// SHA-256 and length of the whole of stdout.
    pub output_sha256: Digest,
    pub output_len: u64,
    /// Head and tail of stdout, with a marker where bytes were left out.
    pub preview: String,
    /// Head and tail of stderr.
    pub stderr_preview: String,
    pub duration: Duration,
}

/// A failure to run the child at all.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("nothing to run: the argv is empty")]
    EmptyArgv,
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: io::Error,
    },
    #[error("lost track of {program}: {source}")]
    Wait {
        program: String,
        #[source]
        source: io::Error,
    },
}

/// The environment a child gets from `parent` (the praxis process's variables).
pub fn child_environment(
    parent: impl IntoIterator<Item = (String, String)>,
    extra: &[(String, String)],
) -> BTreeMap<String, String> {
    let mut environment: BTreeMap<String, String> = parent
        .into_iter()
        .filter(|(key, _)| INHERITED_VARIABLES.contains(&key.as_str()))
        .collect();
    environment
        .entry("PATH".into())
        .or_insert_with(|| DEFAULT_PATH.into());
    if environment.get("PATH").is_some_and(String::is_empty) {
        environment.insert("PATH".into(), DEFAULT_PATH.into());
    }
    environment
        .entry("LANG".into())
        .or_insert_with(|| "C.UTF-8".into());
    for (key, value) in FORCED_VARIABLES {
        environment.insert((*key).into(), (*value).into());
    }
    for (key, value) in extra {
        environment.insert(key.clone(), value.clone());
    }
    environment
}

/// Runs `spec` with the environment built from `parent`.
pub fn run(
    spec: &ChildSpec,
    parent: impl IntoIterator<Item = (String, String)>,
) -> Result<ChildOutcome, ProcessError> {
    run_child(spec, parent, true)
}

/// Like `run`, for a child whose job is to leave a daemon behind (ssh's `-M -N -f` master,
/// which forks and calls `setsid`): its group is killed at the timeout but not after it exits,
/// because the daemon may not have left the group yet at that moment.
pub fn run_detaching(
    spec: &ChildSpec,
    parent: impl IntoIterator<Item = (String, String)>,
) -> Result<ChildOutcome, ProcessError> {
    run_child(spec, parent, false)
}

fn run_child(
    spec: &ChildSpec,
    parent: impl IntoIterator<Item = (String, String)>,
    kill_group_after_exit: bool,
) -> Result<ChildOutcome, ProcessError> {
    let Some(program) = spec.argv.first() else {
        return Err(ProcessError::EmptyArgv);
    };
    let started = Instant::now();
    #[expect(
        clippy::disallowed_methods,
        reason = "adapters are the one place that spawns processes"
    )]
    let mut command = Command::new(program);
    command
        .args(&spec.argv[1..])
        .env_clear()
        .envs(child_environment(parent, &spec.extra_environment))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = command.spawn().map_err(|source| ProcessError::Spawn {
        program: program.clone(),
        source,
    })?;
    let group = i32::try_from(child.id()).ok().and_then(Pid::from_raw);
    let half = spec.capture_limit / 2;
    let stdout_reader = child
        .stdout
        .take()
        .map(|stream| thread::spawn(move || Capture::read(stream, half)));
    let stderr_reader = child
        .stderr
        .take()
        .map(|stream| thread::spawn(move || Capture::read(stream, half)));
    let deadline = started + spec.timeout;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                timed_out = true;
                kill_group(group);
                break child.wait().map_err(|source| ProcessError::Wait {
                    program: program.clone(),
                    source,
                })?;
            }
            Ok(None) => thread::sleep(Duration::from_millis(5)),
            Err(source) => {
                kill_group(group);
                return Err(ProcessError::Wait {
                    program: program.clone(),
                    source,
                });
            }
        }
    };
    // Whatever the child left running in its group goes too, so nothing holds the pipes.
    if kill_group_after_exit || timed_out {
        kill_group(group);
    }
    let stdout = stdout_reader
        .and_then(|reader| reader.join().ok())
        .unwrap_or_default();
    let stderr = stderr_reader
        .and_then(|reader| reader.join().ok())
        .unwrap_or_default();
    let preview = stdout.preview();
    Ok(ChildOutcome {
        exit_code: status.code(),
        signal: status.signal(),
        timed_out,
        output_len: stdout.length,
        output_sha256: stdout.hasher.finish(),
        preview,
        stderr_preview: stderr.preview(),
        duration: started.elapsed(),
    })
}

fn kill_group(group: Option<Pid>) {
    if let Some(group) = group {
        // The group may already be gone; that is the outcome wanted.
        kill_process_group(group, Signal::KILL).unwrap_or(());
    }
}

/// A stream read to its end, hashed in full, with only a head and a tail kept.
#[derive(Default)]
pub(crate) struct Capture {
    hasher: Hasher,
    length: u64,
    head: Vec<u8>,
    tail: std::collections::VecDeque<u8>,
    half: usize,
}

impl Capture {
    pub(crate) fn read(mut stream: impl Read, half: usize) -> Capture {
        let mut capture = Capture {
            half,
            ..Capture::default()
        };
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            match stream.read(&mut buffer) {
                Ok(0) | Err(_) => return capture,
                Ok(read) => capture.push(&buffer[..read]),
            }
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.length += bytes.len() as u64;
        let room = self.half.saturating_sub(self.head.len());
        let (into_head, rest) = bytes.split_at(room.min(bytes.len()));
        self.head.extend_from_slice(into_head);
        self.tail.extend(rest);
        while self.tail.len() > self.half {
            self.tail.pop_front();
        }
    }

    /// SHA-256 and length of everything read, and the head-and-tail preview.
    pub(crate) fn finish(self) -> (Digest, u64, String) {
        let preview = self.preview();
        (self.hasher.finish(), self.length, preview)
    }

    fn preview(&self) -> String {
        let kept = (self.head.len() + self.tail.len()) as u64;
        let mut text = String::from_utf8_lossy(&self.head).into_owned();
        if self.length > kept {
            let left_out = self.length - kept;
            let total = self.length;
            write!(text, "\n…[{left_out} bytes left out, {total} in all]…\n").unwrap_or(());
        }
        let tail: Vec<u8> = self.tail.iter().copied().collect();
        text.push_str(&String::from_utf8_lossy(&tail));
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(script: &str, timeout: Duration) -> ChildSpec {
        ChildSpec {
            argv: vec!["sh".into(), "-c".into(), script.into()],
            extra_environment: Vec::new(),
            timeout,
            capture_limit: 64 * 1024,
        }
    }

    fn parent() -> Vec<(String, String)> {
        vec![
            ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
            (
                "AWS_SECRET_ACCESS_KEY".into(),
                "wJalrXUtnFEMI-not-for-children".into(),
            ),
            ("PRAXIS_MODE".into(), "open".into()),
            ("HOME".into(), "/root".into()),
        ]
    }

    #[test]
    fn secrets_in_the_parent_environment_never_reach_a_child() {
        let outcome = run(&spec("env", Duration::from_secs(10)), parent()).unwrap();
        assert_eq!(outcome.exit_code, Some(0));
        assert!(
            !outcome.preview.contains("AWS_SECRET_ACCESS_KEY"),
            "{}",
            outcome.preview
        );
        assert!(!outcome.preview.contains("PRAXIS_"));
        assert!(outcome.preview.contains("PAGER=cat"));
        assert!(outcome.preview.contains("HOME=/root"));
    }

    #[test]
    fn a_child_that_reads_stdin_sees_end_of_file() {
        let outcome = run(
            &spec("read line; echo status $?", Duration::from_secs(10)),
            parent(),
        )
        .unwrap();
        assert_eq!(outcome.preview.trim(), "status 1");
    }

    #[test]
    fn a_child_that_forks_a_sleeper_and_hangs_is_killed_with_its_group() {
        let outcome = run(
            &spec("sleep 300 & echo $!; sleep 300", Duration::from_secs(3)),
            parent(),
        )
        .unwrap();
        assert!(outcome.timed_out);
        assert_eq!(outcome.signal, Some(9));
        let sleeper: u32 = outcome.preview.trim().parse().unwrap();
        // SIGKILL was sent to the group; the sleeper may take a moment to die and then linger
        // as a zombie until init reaps it. It must not keep running.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut state = String::new();
        while Instant::now() < deadline {
            state = std::fs::read_to_string(format!("/proc/{sleeper}/stat")).unwrap_or_default();
            if state.is_empty() || state.contains(") Z ") {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        assert!(
            state.is_empty() || state.contains(") Z "),
            "the sleeper survived: {state}"
        );
        assert!(outcome.duration < Duration::from_secs(15));
    }

    #[test]
    fn a_grandchild_left_behind_after_exit_is_killed_too() {
        let outcome = run(
            &spec("sleep 300 & echo $!", Duration::from_secs(10)),
            parent(),
        )
        .unwrap();
        assert_eq!(outcome.exit_code, Some(0));
        assert!(
            outcome.duration < Duration::from_secs(5),
            "a grandchild held the pipes open"
        );
    }

    #[test]
    fn output_is_hashed_in_full_and_kept_bounded() {
        let outcome = run(
            &spec("head -c 10000000 /dev/zero", Duration::from_secs(30)),
            parent(),
        )
        .unwrap();
        assert_eq!(outcome.output_len, 10_000_000);
        assert_eq!(outcome.output_sha256, Digest::of(&vec![0u8; 10_000_000]));
        assert!(
            outcome.preview.len() < 64 * 1024 + 200,
            "{}",
            outcome.preview.len()
        );
        assert!(outcome.preview.contains("bytes left out, 10000000 in all"));
    }

    #[test]
    fn exit_codes_and_spawn_failures_are_reported() {
        let outcome = run(
            &spec("echo oops >&2; exit 3", Duration::from_secs(10)),
            parent(),
        )
        .unwrap();
        assert_eq!(outcome.exit_code, Some(3));
        assert_eq!(outcome.stderr_preview.trim(), "oops");
        let missing = ChildSpec {
            argv: vec!["praxis-no-such-program".into()],
            ..spec("", Duration::from_secs(1))
        };
        assert!(matches!(
            run(&missing, parent()),
            Err(ProcessError::Spawn { .. })
        ));
        let empty = ChildSpec {
            argv: Vec::new(),
            ..spec("", Duration::from_secs(1))
        };
        assert!(matches!(
            run(&empty, parent()),
            Err(ProcessError::EmptyArgv)
        ));
    }
}
