//! A long mixed session: every call audited, stdout pure JSON-RPC, and tampering found.

use serde_json::json;

use crate::support::{Session, StateDir, assert_json_rpc, refusal_code, run_in_terminal};

/// Copies the state database of `source` into a fresh state directory.
pub fn clone_state(source: &StateDir, name: &str) -> StateDir {
    let copy = StateDir::empty(name);
    std::fs::create_dir_all(copy.state()).unwrap();
    let connection = rusqlite::Connection::open(source.database()).unwrap();
    connection
        .execute("VACUUM INTO ?1", [copy.database().to_str().unwrap()])
        .unwrap();
    copy
}

/// Opens a database with the append-only triggers dropped, as an attacker with the file would.
pub fn tamper(directory: &StateDir, statements: &str) {
    let connection = rusqlite::Connection::open(directory.database()).unwrap();
    connection
        .execute_batch("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;")
        .unwrap();
    connection.execute_batch(statements).unwrap();
}

#[test]
#[expect(clippy::too_many_lines, reason = "one scenario, read top to bottom")]
fn a_thousand_mixed_calls_are_all_audited_and_tampering_is_named() {
    let directory = StateDir::initialised("thousand");
    let mut session = Session::initialised(&directory);
    let mut request_ids = Vec::new();
    let mut refusals = std::collections::BTreeMap::<String, u32>::new();
    for index in 0..1_000u32 {
        let (tool, arguments) = match index % 10 {
            0..=3 => ("server_status", json!({})),
            4 => ("audit_verify", json!({})),
            5 => ("server_status", json!({"unexpected": index})),
            6 => ("emergency_stop", json!({"reason": index})),
            7 => (
                "no_such_tool",
                json!({"password": "hunter2", "index": index}),
            ),
            8 => ("emergency_stop", json!({})),
            _ => ("server_status", json!(null)),
        };
        if index == 300 {
            let stopped = session.call(
                "emergency_stop",
                json!({"reason": "smoke seen at step 300"}),
            );
            assert_eq!(stopped["structuredContent"]["stopped"], true, "{stopped}");
            request_ids.push(None);
        }
        if index == 400 || index == 700 {
            let output = run_in_terminal(&directory, "resume --reason test");
            assert!(
                output.status.success(),
                "resume in a terminal failed: {output:?}"
            );
        }
        if index == 600 {
            std::fs::write(directory.state().join("KILL"), "tripped by hand\n").unwrap();
        }
        let result = session.call(tool, arguments);
        request_ids.push(Some(index));
        let engaged = (300..400).contains(&index) || (600..700).contains(&index);
        let valid = matches!(index % 10, 0..=4 | 9);
        match refusal_code(&result) {
            Some(code) => *refusals.entry(code.to_owned()).or_default() += 1,
            None => assert!(
                !engaged,
                "call {index} ran while the kill switch was engaged: {result}"
            ),
        }
        if engaged && valid {
            // Validation comes first, so an invalid call is refused as invalid even then.
            assert_eq!(
                refusal_code(&result),
                Some("kill-switch-engaged"),
                "call {index}: {result}"
            );
        }
    }
    let (code, transcript) = session.finish();
    assert_eq!(code, 0);
    for line in &transcript {
        assert_json_rpc(line);
    }
    assert_eq!(refusals.get("kill-switch-engaged"), Some(&120));
    assert!(
        refusals.get("invalid-arguments").copied().unwrap_or(0) > 100,
        "{refusals:?}"
    );
    assert!(
        refusals.get("unknown-tool").copied().unwrap_or(0) > 50,
        "{refusals:?}"
    );

    let records = directory.records();
    let sessions = records
        .iter()
        .filter(|record| record["decision"] == "session")
        .count();
    assert_eq!(sessions, 1, "one session record for one serve");
    let call_records = records
        .iter()
        .filter(|record| record["request_id"].is_string())
        .count();
    assert!(
        call_records >= 1_001,
        "at least one record per call, got {call_records}"
    );
    assert!(!serde_json::to_string(&records).unwrap().contains("hunter2"));
    let (code, verdict) = directory.verify();
    assert_eq!(code, 0, "{verdict}");

    // Edit one byte of record 500.
    let edited = clone_state(&directory, "edited");
    tamper(
        &edited,
        "UPDATE audit SET body = substr(body, 1, 30) || 'X' || substr(body, 32) WHERE seq = 500;",
    );
    assert_break(&edited, 500, "edited");

    // Delete record 700.
    let removed = clone_state(&directory, "removed");
    tamper(&removed, "DELETE FROM audit WHERE seq = 700;");
    assert_break(&removed, 700, "removed");

    // Swap records 300 and 301.
    let swapped = clone_state(&directory, "swapped");
    tamper(
        &swapped,
        "UPDATE audit SET seq = -1 WHERE seq = 300; UPDATE audit SET seq = 300 WHERE seq = 301; UPDATE audit SET seq = 301 WHERE seq = -1;",
    );
    assert_break(&swapped, 300, "reordered");

    // Rewrite record 200 and its hash: the next record no longer links.
    let relinked = clone_state(&directory, "relinked");
    {
        let connection = rusqlite::Connection::open(relinked.database()).unwrap();
        connection
            .execute_batch("DROP TRIGGER audit_no_update;")
            .unwrap();
        let body: String = connection
            .query_row("SELECT body FROM audit WHERE seq = 200", [], |row| {
                row.get(0)
            })
            .unwrap();
        let forged = body.replacen("\"T0\"", "\"T3\"", 1);
        let hash = praxis::digest::Digest::of(forged.as_bytes()).to_hex();
        connection
            .execute(
                "UPDATE audit SET body = ?1, entry_hash = ?2 WHERE seq = 200",
                [&forged, &hash],
            )
            .unwrap();
    }
    assert_break(&relinked, 201, "bad-link");
}

fn assert_break(directory: &StateDir, seq: u64, reason: &str) {
    let (code, verdict) = directory.verify();
    assert_eq!(code, 1, "{verdict}");
    assert_eq!(verdict["first_break"]["seq"], json!(seq), "{verdict}");
    assert_eq!(verdict["first_break"]["reason"], json!(reason), "{verdict}");
    let human = directory.run(&["audit", "verify"]);
    assert_eq!(human.status.code(), Some(1));
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains(&format!("seq {seq}")) && text.contains(reason),
        "{text}"
    );
    let doctor = directory.run(&["doctor"]);
    assert_eq!(
        doctor.status.code(),
        Some(1),
        "doctor must report a broken chain"
    );
    assert!(String::from_utf8_lossy(&doctor.stdout).contains("PROBLEM audit chain"));
}
