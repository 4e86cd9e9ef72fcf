//! The praxis benchmark: measures the PRODUCT.md §11 and issue-2 figures and writes them to
//! `docs/performance.md`. Run with `make bench` (`cargo bench --bench praxis_bench`).
//!
//! Everything runs the release-profile binary or library on this machine, on loopback-free
//! stdio pipes, in a temporary state directory. Timings are wall-clock; each figure says how
//! many samples it is made of.

#![expect(
    clippy::print_stdout,
    clippy::disallowed_macros,
    reason = "a benchmark reports on stdout"
)]
#![expect(
    clippy::disallowed_methods,
    reason = "a benchmark spawns the binary it measures"
)]
#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]
#![expect(clippy::cast_precision_loss, reason = "statistics")]

use std::fmt::Write as _;
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
mod server;

use common::{machine, peak_rss_kib};
use praxis::audit::AuditLog;
use praxis::audit::chain::{AuditDecision, RecordDraft};
use praxis::clock::{Clock, SystemClock};
use praxis::store::{Durability, OpenMode, Store};
use serde_json::{Value, json};
use server::{BINARY, INITIALIZE, INITIALIZED, Server, Stats, init, millis, state_root, stats};

fn cold_start(root: &Path) -> Stats {
    let mut samples = Vec::new();
    for _ in 0..40 {
        let started = Instant::now();
        let mut server = Server::start(root);
        server.send(INITIALIZE);
        let answer = server.receive();
        samples.push(started.elapsed());
        assert!(answer.get("result").is_some());
        server.stop();
    }
    stats(samples)
}

fn round_trips(root: &Path, method: &str, params: &Value, count: usize) -> (Stats, u64) {
    let mut server = Server::start(root);
    server.send(INITIALIZE);
    server.receive();
    server.send(INITIALIZED);
    let mut samples = Vec::with_capacity(count);
    for id in 1..=count {
        let request =
            json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string();
        let started = Instant::now();
        server.send(&request);
        let answer = server.receive();
        samples.push(started.elapsed());
        assert!(answer.get("result").is_some(), "{answer}");
    }
    let peak = server.peak_rss_kib();
    server.stop();
    (stats(samples), peak)
}

fn pipelined_calls(root: &Path, count: usize) -> (f64, u64) {
    let mut server = Server::start(root);
    server.send(INITIALIZE);
    server.receive();
    server.send(INITIALIZED);
    let mut payload = String::new();
    for id in 1..=count {
        writeln!(payload, "{}", json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": "server_status", "arguments": {}}})).unwrap();
    }
    let started = Instant::now();
    let mut stdin = server.stdin;
    let writer = std::thread::spawn(move || {
        stdin.write_all(payload.as_bytes()).unwrap();
        stdin.flush().unwrap();
        stdin
    });
    let mut answered = 0;
    let mut line = String::new();
    while answered < count {
        line.clear();
        server.stdout.read_line(&mut line).unwrap();
        if line.contains("\"result\"") {
            answered += 1;
        }
    }
    let elapsed = started.elapsed();
    let peak = peak_rss_kib(server.child.id());
    drop(writer.join().unwrap());
    server.child.wait().unwrap();
    (count as f64 / elapsed.as_secs_f64(), peak)
}

/// Appends `count` typical records to a fresh database; returns how long the appends took.
fn fill_log(database: &Path, durability: Durability, count: usize) -> Duration {
    drop(std::fs::remove_file(database));
    let log = AuditLog::new(Arc::new(
        Store::open(database, OpenMode::CreateIfMissing).unwrap(),
    ));
    let clock = SystemClock::default();
    let started = Instant::now();
    for index in 0..count {
        let mut draft = RecordDraft::new(
            clock.now(),
            "bench-session",
            "server_status",
            AuditDecision::Allowed,
        );
        draft.request_id = Some(index.to_string());
        draft.args = json!({"index": index, "note": "a typical small argument object"});
        draft.output_len = Some(180);
        log.append(&draft, durability).unwrap();
    }
    started.elapsed()
}

fn appends(root: &Path, durability: Durability, count: usize) -> f64 {
    count as f64 / fill_log(&root.join("appends.db"), durability, count).as_secs_f64()
}

fn verify_rate(root: &Path, records: usize) -> (f64, f64) {
    let state = root.join("verify-state");
    std::fs::create_dir_all(&state).unwrap();
    let database = state.join("praxis.db");
    fill_log(&database, Durability::Normal, records);
    let log = AuditLog::new(Arc::new(
        Store::open(&database, OpenMode::ReadOnly).unwrap(),
    ));
    let started = Instant::now();
    let head = log.verify().unwrap().unwrap();
    let library = head.count as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let status = Command::new(BINARY)
        .args(["audit", "verify"])
        .env_clear()
        .env("PRAXIS_STATE_DIR", &state)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let command = records as f64 / started.elapsed().as_secs_f64();
    (library, command)
}

fn main() {
    if std::env::args().any(|argument| argument == "--list") {
        return;
    }
    let root = state_root("main");
    init(&root);
    println!("cold start ...");
    let cold = cold_start(&root);
    println!("tools/list ...");
    let (list, _) = round_trips(&root, "tools/list", &json!({}), 2_000);
    println!("T0 call round trip ...");
    let (t0, peak_sequential) = round_trips(
        &root,
        "tools/call",
        &json!({"name": "server_status", "arguments": {}}),
        5_000,
    );
    println!("audited calls per second ...");
    let (throughput, peak_pipelined) = pipelined_calls(&root, 20_000);
    println!("appends ...");
    let normal = appends(&root, Durability::Normal, 50_000);
    let full = appends(&root, Durability::Full, 2_000);
    println!("verify ...");
    let (verify_library, verify_command) = verify_rate(&root, 300_000);
    let peak = peak_sequential.max(peak_pipelined);

    let mut report = String::new();
    writeln!(
        report,
        "Release profile (thin LTO, `panic = \"abort\"`, overflow checks on), praxis {}.",
        env!("CARGO_PKG_VERSION")
    )
    .unwrap();
    writeln!(report).unwrap();
    writeln!(report, "Machine: {}.", machine()).unwrap();
    writeln!(report).unwrap();
    writeln!(report, "Method: the benchmark spawns the real binary over stdio pipes in a temporary state directory").unwrap();
    writeln!(report, "(initialised by `praxis init`) and times wall-clock round trips; appends and verification use the").unwrap();
    writeln!(
        report,
        "library against a fresh database file on the same disk. Each row names its sample count."
    )
    .unwrap();
    writeln!(
        report,
        "praxis-py figures are the ones measured on this machine kind and quoted in issue 2."
    )
    .unwrap();
    writeln!(report).unwrap();
    writeln!(
        report,
        "| measure | praxis | target | praxis-py | samples |"
    )
    .unwrap();
    writeln!(report, "| --- | --- | --- | --- | --- |").unwrap();
    writeln!(
        report,
        "| cold start: spawn → `initialize` answered, p50 | {} | ≤ 18 ms | 921 ms | {} |",
        millis(cold.p50),
        cold.samples
    )
    .unwrap();
    writeln!(
        report,
        "| cold start p99 | {} | | | {} |",
        millis(cold.p99),
        cold.samples
    )
    .unwrap();
    writeln!(
        report,
        "| `tools/list` round trip p50 / p99 | {} / {} | | | {} |",
        millis(list.p50),
        millis(list.p99),
        list.samples
    )
    .unwrap();
    writeln!(
        report,
        "| T0 call (`server_status`, audited) round trip p50 / p99 | {} / {} | | | {} |",
        millis(t0.p50),
        millis(t0.p99),
        t0.samples
    )
    .unwrap();
    writeln!(report, "| audited calls per second (20,000 pipelined `server_status`) | {throughput:.0} /s | | | 20000 |").unwrap();
    writeln!(report, "| audit appends per second, committed, `synchronous=NORMAL` (T0) | {normal:.0} /s | ≥ 20,000 /s | 8,900 /s without any fsync | 50000 |").unwrap();
    writeln!(report, "| audit appends per second, `synchronous=FULL` (intents, fsync each) | {full:.0} /s | | | 2000 |").unwrap();
    writeln!(report, "| `audit verify` records per second, library | {verify_library:.0} /s | ≥ 500,000 /s | 42,000 /s | 300000 |").unwrap();
    writeln!(report, "| `praxis audit verify` records per second, whole command | {verify_command:.0} /s | ≥ 500,000 /s | | 300000 |").unwrap();
    writeln!(
        report,
        "| peak RSS of `praxis serve` (VmHWM) | {:.1} MB | ≤ 15 MB | 41.6 MB | |",
        peak as f64 * 1024.0 / 1_000_000.0
    )
    .unwrap();
    writeln!(report).unwrap();
    common::write_section("stdio", &report);
    println!("{report}");
    drop(std::fs::remove_dir_all(&root));
}
