//! Shared by the benchmarks that drive the real binary: a state directory, `praxis init`, and a
//! `praxis serve` child spoken to over stdio; plus percentiles.

#![allow(
    dead_code,
    reason = "each benchmark uses the part it needs; an expectation would fail in the other"
)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::common::peak_rss_kib;

pub(crate) const BINARY: &str = env!("CARGO_BIN_EXE_praxis");

pub(crate) fn state_root(name: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("praxis-bench-{name}-{}", std::process::id()));
    drop(std::fs::remove_dir_all(&root));
    std::fs::create_dir_all(&root).unwrap();
    root
}

pub(crate) fn praxis(root: &Path, arguments: &[&str]) -> Command {
    let mut command = Command::new(BINARY);
    command
        .args(arguments)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", root)
        .env("PRAXIS_STATE_DIR", root.join("state"))
        .env("PRAXIS_LOG", "error");
    command
}

pub(crate) fn init(root: &Path) {
    let status = praxis(root, &["init"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

pub(crate) const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"0"}}}"#;
pub(crate) const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) stdin: ChildStdin,
    pub(crate) stdout: BufReader<std::process::ChildStdout>,
}

impl Server {
    pub(crate) fn start(root: &Path) -> Server {
        Server::start_with(root, &[])
    }

    /// Starts `praxis serve` with `environment` added to the scrubbed one.
    pub(crate) fn start_with(root: &Path, environment: &[(&str, &str)]) -> Server {
        let mut child = praxis(root, &["serve"])
            .envs(environment.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Server {
            child,
            stdin,
            stdout,
        }
    }

    pub(crate) fn send(&mut self, line: &str) {
        self.stdin.write_all(line.as_bytes()).unwrap();
        self.stdin.write_all(b"\n").unwrap();
        self.stdin.flush().unwrap();
    }

    pub(crate) fn receive(&mut self) -> Value {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap()
    }

    pub(crate) fn peak_rss_kib(&self) -> u64 {
        peak_rss_kib(self.child.id())
    }

    pub(crate) fn stop(mut self) {
        drop(self.stdin);
        self.child.wait().unwrap();
    }
}

pub(crate) struct Stats {
    pub(crate) samples: usize,
    pub(crate) p50: Duration,
    pub(crate) p99: Duration,
}

#[expect(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a rank within a few thousand samples"
)]
pub(crate) fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    let at = |quantile: f64| samples[((samples.len() as f64 - 1.0) * quantile).round() as usize];
    Stats {
        samples: samples.len(),
        p50: at(0.50),
        p99: at(0.99),
    }
}

pub(crate) fn millis(duration: Duration) -> String {
    format!("{:.3} ms", duration.as_secs_f64() * 1_000.0)
}
