//! Two processes appending at once build one chain: no fork, no gap.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

use serde_json::json;

use crate::support::StateDir;

const CALLS_PER_PROCESS: usize = 10_000;

#[test]
fn two_processes_appending_ten_thousand_records_each_form_one_chain() {
    let directory = StateDir::initialised("concurrent");
    let mut input = Vec::new();
    writeln!(input, "{}", json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "load", "version": "0"}}})).unwrap();
    writeln!(
        input,
        "{}",
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
    )
    .unwrap();
    for id in 1..=CALLS_PER_PROCESS {
        writeln!(input, "{}", json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": "server_status", "arguments": {}}})).unwrap();
    }
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let mut child = directory
                .praxis(&["serve"])
                .env("PRAXIS_LOG", "error")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let stdout = child.stdout.take().unwrap();
            let bytes = input.clone();
            // Write everything, then wait until every call is answered before closing stdin.
            let reader = std::thread::spawn(move || {
                let mut answered = 0;
                for line in BufReader::new(stdout).lines() {
                    let line = line.unwrap();
                    let message: serde_json::Value = serde_json::from_str(&line).unwrap();
                    if message["id"].as_u64().is_some_and(|id| id > 0)
                        && message.get("result").is_some()
                    {
                        answered += 1;
                        if answered == CALLS_PER_PROCESS {
                            return answered;
                        }
                    }
                }
                answered
            });
            // Feed stdin from its own thread so both processes run at the same time.
            let writer = std::thread::spawn(move || {
                stdin.write_all(&bytes).unwrap();
                stdin.flush().unwrap();
                stdin
            });
            (child, writer, reader)
        })
        .collect();
    for (mut child, writer, reader) in workers {
        assert_eq!(reader.join().unwrap(), CALLS_PER_PROCESS);
        drop(writer.join().unwrap());
        assert!(child.wait().unwrap().success());
    }
    let (code, verdict) = directory.verify();
    assert_eq!(code, 0, "{verdict}");
    // init (1) + per process: session (1) + calls + session-end (1).
    let expected = 1 + 2 * (CALLS_PER_PROCESS + 2);
    assert_eq!(verdict["count"], json!(expected), "{verdict}");
    // The two sessions really did interleave.
    let records = directory.records();
    let switches = records
        .windows(2)
        .filter(|pair| pair[0]["session_id"] != pair[1]["session_id"])
        .count();
    assert!(
        switches > 10,
        "the processes did not append concurrently ({switches} switches)"
    );
}
