//! Shared helpers: a temporary state directory, the binary, and a scripted MCP session.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_praxis")
}

/// A temporary state directory, removed on drop.
pub struct StateDir {
    pub root: PathBuf,
}

impl StateDir {
    /// A fresh directory; `praxis init` has not run.
    pub fn empty(name: &str) -> StateDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let root = std::env::temp_dir().join(format!(
            "praxis-it-{name}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        drop(std::fs::remove_dir_all(&root));
        std::fs::create_dir_all(&root).unwrap();
        StateDir { root }
    }

    /// A fresh directory with `praxis init` done.
    pub fn initialised(name: &str) -> StateDir {
        let directory = StateDir::empty(name);
        let output = directory.praxis(&["init"]).output().unwrap();
        assert!(
            output.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        directory
    }

    pub fn state(&self) -> PathBuf {
        self.root.join("state")
    }

    pub fn database(&self) -> PathBuf {
        self.state().join("praxis.db")
    }

    /// `praxis ARGS` with a clean environment pointing at this state directory.
    pub fn praxis(&self, arguments: &[&str]) -> Command {
        let mut command = Command::new(binary());
        command
            .args(arguments)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &self.root)
            .env("PRAXIS_STATE_DIR", self.state())
            .stdin(Stdio::null());
        command
    }

    /// Runs `praxis ARGS` to completion.
    pub fn run(&self, arguments: &[&str]) -> Output {
        self.praxis(arguments).output().unwrap()
    }

    /// Writes `inventory` (praxis TOML) to `fleet.toml` and imports it; panics if refused.
    pub fn import_inventory(&self, inventory: &str) {
        let file = self.root.join("fleet.toml");
        std::fs::write(&file, inventory).unwrap();
        let imported = self.run(&["fleet", "import", file.to_str().unwrap()]);
        assert!(
            imported.status.success(),
            "{}",
            String::from_utf8_lossy(&imported.stderr)
        );
    }

    /// `praxis audit verify --json` as (exit code, verdict).
    pub fn verify(&self) -> (i32, Value) {
        let output = self.run(&["audit", "verify", "--json"]);
        let verdict = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
        (output.status.code().unwrap_or(-1), verdict)
    }

    /// Every audit record, parsed, oldest first.
    pub fn records(&self) -> Vec<Value> {
        let output = self.run(&["audit", "export", "--format", "jsonl"]);
        assert!(output.status.success());
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        drop(std::fs::remove_dir_all(&self.root));
    }
}

/// A running `praxis serve` driven line by line.
pub struct Session {
    pub child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Every stdout line seen so far.
    pub transcript: Vec<String>,
    next_id: i64,
}

impl Session {
    /// Spawns `praxis serve` (stderr goes to a file in the state root).
    pub fn start(directory: &StateDir) -> Session {
        Session::start_with(directory, &[])
    }

    /// Spawns `praxis serve` with extra environment.
    pub fn start_with(directory: &StateDir, environment: &[(&str, &str)]) -> Session {
        let stderr = std::fs::File::create(directory.root.join("serve.stderr")).unwrap();
        let mut command = directory.praxis(&["serve"]);
        for (key, value) in environment {
            command.env(key, value);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Session {
            stdin: child.stdin.take(),
            child,
            lines,
            transcript: Vec::new(),
            next_id: 1,
        }
    }

    /// Starts and completes the MCP handshake.
    pub fn initialised(directory: &StateDir) -> Session {
        let mut session = Session::start(directory);
        let answer = session.request(
            "initialize",
            json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "it", "version": "0"}}),
        );
        assert!(answer.get("result").is_some(), "{answer}");
        session.send_line(
            &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string(),
        );
        session
    }

    /// Writes raw bytes followed by a newline.
    pub fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    /// Takes stdin away, for a test that writes from another thread.
    pub fn take_stdin(&mut self) -> ChildStdin {
        self.stdin.take().unwrap()
    }

    /// Gives stdin back.
    pub fn give_stdin(&mut self, stdin: ChildStdin) {
        self.stdin = Some(stdin);
    }

    /// Writes raw bytes (no newline added).
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(bytes).unwrap();
        stdin.flush().unwrap();
    }

    /// The next stdout line, parsed.
    pub fn next_message(&mut self, timeout: Duration) -> Option<Value> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => {
                let parsed = serde_json::from_str(&line)
                    .unwrap_or_else(|error| panic!("stdout line is not JSON ({error}): {line}"));
                self.transcript.push(line);
                Some(parsed)
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => None,
        }
    }

    /// Sends a request and waits for the response with its id.
    #[expect(
        clippy::needless_pass_by_value,
        reason = "call sites read better with json! by value"
    )]
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send_line(
            &json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string(),
        );
        self.response_to(&json!(id))
    }

    /// Waits for the response whose id is `id`.
    pub fn response_to(&mut self, id: &Value) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(message) = self.next_message(Duration::from_secs(60))
                && message.get("id") == Some(id)
            {
                return message;
            }
        }
        panic!("no response to id {id}");
    }

    /// `tools/call` and its result object.
    #[expect(
        clippy::needless_pass_by_value,
        reason = "call sites read better with json! by value"
    )]
    pub fn call(&mut self, tool: &str, arguments: Value) -> Value {
        let answer = self.request("tools/call", json!({"name": tool, "arguments": arguments}));
        answer
            .get("result")
            .cloned()
            .unwrap_or_else(|| panic!("tools/call {tool} failed: {answer}"))
    }

    /// Closes stdin and waits for the exit code.
    pub fn finish(mut self) -> (i32, Vec<String>) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "praxis serve did not exit after stdin closed"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        while let Some(_message) = self.next_message(Duration::from_millis(200)) {}
        (status.code().unwrap_or(-1), self.transcript)
    }
}

/// The error code of a refused tool result.
/// The stable code of every `denied` record, in order.
pub fn denied_codes(records: &[Value]) -> Vec<&str> {
    records
        .iter()
        .filter(|record| record["decision"] == "denied")
        .filter_map(|record| record["error"].as_str()?.split(':').next())
        .collect()
}

pub fn refusal_code(result: &Value) -> Option<&str> {
    if result.get("isError") != Some(&Value::Bool(true)) {
        return None;
    }
    result
        .pointer("/structuredContent/error/code")
        .and_then(Value::as_str)
}

/// Asserts that a stdout line is one JSON-RPC 2.0 message.
pub fn assert_json_rpc(line: &str) {
    let message: Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
    assert_eq!(
        message.get("jsonrpc"),
        Some(&json!("2.0")),
        "not JSON-RPC 2.0: {line}"
    );
    let has_result = message.get("result").is_some();
    let has_error = message.get("error").is_some();
    let has_method = message.get("method").is_some();
    assert!(
        has_result ^ has_error || has_method,
        "neither a response nor a request: {line}"
    );
}

/// Resident and peak memory of a process in KiB (`VmRSS`, `VmHWM`).
pub fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|value| value.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Writes a policy directory under the test's root holding the shipped policy files and
/// `extra` (relative path, contents), and a config file pointing praxis at it.
pub fn policy_dir_with(directory: &StateDir, extra: &[(&str, &str)]) -> PathBuf {
    let policy = directory.root.join("policy");
    std::fs::create_dir_all(&policy).unwrap();
    for name in ["default.toml", "commands.toml"] {
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("policy")
                .join(name),
            policy.join(name),
        )
        .unwrap();
    }
    for (name, contents) in extra {
        let path = policy.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
    let config = directory.root.join(".config/praxis");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("praxis.toml"),
        format!("policy_dir = {:?}\n", policy.display().to_string()),
    )
    .unwrap();
    policy
}

/// What an operator saw and how the command ended, after `operator_types`.
pub struct Typed {
    pub code: Option<i32>,
    pub screen: String,
}

/// Runs `praxis ARGS` in a pseudo-terminal (util-linux `script`) the way an operator would:
/// each time the next prompt of `answers` appears on the screen, types its answer and Enter.
/// Nothing but the terminal carries the answers, as for a person at a keyboard.
pub fn operator_types(directory: &StateDir, arguments: &str, answers: &[(&str, &str)]) -> Typed {
    use std::io::Read as _;
    use std::sync::{Arc, Mutex};
    let command_line = format!("{} {arguments}", binary());
    let mut child = Command::new("script")
        .args(["-qec", &command_line, "/dev/null"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &directory.root)
        .env("PRAXIS_STATE_DIR", directory.state())
        .env("USER", "operator")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let screen = Arc::new(Mutex::new(String::new()));
    let mut stdout = child.stdout.take().unwrap();
    let shared = Arc::clone(&screen);
    let reader = std::thread::spawn(move || {
        let mut buffer = [0_u8; 4096];
        while let Ok(count) = stdout.read(&mut buffer) {
            if count == 0 {
                break;
            }
            shared
                .lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buffer[..count]));
        }
    });
    let mut stdin = child.stdin.take().unwrap();
    let mut seen = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    for (prompt, answer) in answers {
        loop {
            let found = screen.lock().unwrap()[seen..].find(prompt);
            if let Some(offset) = found {
                seen += offset + prompt.len();
                break;
            }
            if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // A moment for the program to turn echo off after printing its prompt.
        std::thread::sleep(Duration::from_millis(100));
        drop(stdin.write_all(format!("{answer}\n").as_bytes()));
        drop(stdin.flush());
    }
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            drop(child.kill());
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(stdin);
    drop(reader.join());
    let screen = screen.lock().unwrap().clone();
    Typed {
        code: status.and_then(|status| status.code()),
        screen,
    }
}

/// `praxis init` typed in a terminal: creates the approver key with `passphrase`.
pub fn init_approver_key(directory: &StateDir, passphrase: &str) {
    let init = operator_types(
        directory,
        "init",
        &[
            ("New passphrase", passphrase),
            ("The same passphrase again", passphrase),
        ],
    );
    assert_eq!(init.code, Some(0), "{}", init.screen);
}

/// `praxis approve ID` typed in a terminal with `passphrase` (and `target` for a T3 action).
pub fn approve_in_terminal(
    directory: &StateDir,
    id: &str,
    passphrase: &str,
    target: Option<&str>,
) -> Typed {
    let mut answers = vec![("Passphrase for the approver key", passphrase)];
    if let Some(target) = target {
        answers.push(("Type the target's name", target));
    }
    operator_types(directory, &format!("approve {id}"), &answers)
}

/// Runs a command under a pseudo-terminal (`script`), so stdin is a terminal.
pub fn run_in_terminal(directory: &StateDir, arguments: &str) -> Output {
    let command_line = format!("{} {arguments}", binary());
    let mut command = Command::new("script");
    command
        .args(["-qec", &command_line, "/dev/null"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &directory.root)
        .env("PRAXIS_STATE_DIR", directory.state())
        .stdin(Stdio::null());
    command.output().unwrap()
}

/// Path of a test-support file.
pub fn support_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("support")
        .join(name)
}

/// The talosctl double (tests/lab/fake-talosctl) installed in `directory`: a wrapper script to
/// use as `talosctl_binary`, the lab talosconfig, and the double's state file (each argv the
/// double receives is appended to `<state>.log`). talosctl itself cannot be installed here.
pub fn talos_double(directory: &StateDir) -> (PathBuf, PathBuf, PathBuf) {
    let lab = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab");
    let state = directory.root.join("talos-state.json");
    std::fs::copy(lab.join("talos-fake/state.json"), &state).unwrap();
    let talosconfig = directory.root.join("talosconfig");
    std::fs::copy(lab.join("talos-fake/talosconfig"), &talosconfig).unwrap();
    let wrapper = directory.root.join("talosctl");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nFAKE_TALOS_STATE='{}' exec python3 '{}' \"$@\"\n",
            state.display(),
            lab.join("fake-talosctl").display()
        ),
    )
    .unwrap();
    let mut permissions = std::fs::metadata(&wrapper).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&wrapper, permissions).unwrap();
    (wrapper, talosconfig, state)
}
