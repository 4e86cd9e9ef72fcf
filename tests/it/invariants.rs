//! One proving test per invariant of PRODUCT.md §2 that exists in this build.
//! Invariants 5 and 8 are proven in `actions` (for previews and refusals; execution comes with
//! issue 5); invariant 6 (approvals) comes with issue 7; LIMITATIONS.md says so.

use serde_json::{Value, json};

use crate::support::{Session, StateDir, refusal_code, talos_double};

fn policy_dir(directory: &StateDir, rules: &str) -> std::path::PathBuf {
    let path = directory.root.join("policy");
    std::fs::create_dir_all(&path).unwrap();
    std::fs::write(path.join("test.toml"), format!("schema = 1\n{rules}")).unwrap();
    path
}

#[test]
fn invariant_1_one_audited_execution_path() {
    let directory = StateDir::initialised("inv1");
    let mut session = Session::initialised(&directory);
    let calls = [
        ("server_status", json!({})),
        ("server_status", json!({"bogus": 1})),
        ("made_up_tool", json!({})),
        ("emergency_stop", json!({"reason": "invariant 1"})),
        ("server_status", json!({})),
    ];
    for (tool, arguments) in calls {
        session.call(tool, arguments);
    }
    let (code, _) = session.finish();
    assert_eq!(code, 0);
    let records = directory.records();
    for request_id in 2..=6 {
        let id = json!(request_id.to_string());
        let count = records
            .iter()
            .filter(|record| record["request_id"] == id)
            .count();
        assert!(
            count >= 1,
            "tools/call id {request_id} left no audit record"
        );
    }
    let decisions: Vec<&str> = records
        .iter()
        .filter(|record| record["request_id"].is_string())
        .map(|record| record["decision"].as_str().unwrap())
        .collect();
    assert_eq!(
        decisions,
        vec!["allowed", "denied", "denied", "intent", "outcome", "denied"]
    );
}

#[test]
fn invariant_2_tiered_authority_unknown_is_never_t0_and_modes_gate_tiers() {
    let directory = StateDir::initialised("inv2");
    let rules = policy_dir(
        &directory,
        "[[tool]]\nid = \"test.status-t1\"\nname = \"server_status\"\ntier = \"T1\"\n\
         [[tool]]\nid = \"test.verify-t2\"\nname = \"audit_verify\"\ntier = \"T2\"\n\
         [[tool]]\nid = \"test.stop\"\nname = \"emergency_stop\"\ntier = \"T0\"\n",
    );
    let rules = rules.to_str().unwrap();
    let mut readonly = Session::start_with(
        &directory,
        &[("PRAXIS_POLICY_DIR", rules), ("PRAXIS_MODE", "readonly")],
    );
    readonly.request("initialize", json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "it", "version": "0"}}));
    let refused = readonly.call("server_status", json!({}));
    assert_eq!(refusal_code(&refused), Some("tier-denied"), "{refused}");
    assert_eq!(
        refused["structuredContent"]["error"]["rule_ids"],
        json!(["test.status-t1"])
    );
    let unknown = readonly.call("reboot_everything", json!({}));
    assert_eq!(unknown["structuredContent"]["error"]["tier"], "T2");
    assert_eq!(readonly.finish().0, 0);

    let mut guarded = Session::start_with(&directory, &[("PRAXIS_POLICY_DIR", rules)]);
    guarded.request("initialize", json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "it", "version": "0"}}));
    let allowed = guarded.call("server_status", json!({}));
    assert_eq!(refusal_code(&allowed), None, "{allowed}");
    let needs_approval = guarded.call("audit_verify", json!({}));
    assert_eq!(
        refusal_code(&needs_approval),
        Some("approval-required"),
        "{needs_approval}"
    );
    assert_eq!(guarded.finish().0, 0);

    let records = directory.records();
    let unknown_record = records
        .iter()
        .find(|record| record["tool"] == "reboot_everything")
        .unwrap();
    assert_eq!(unknown_record["tier"], "T2");
    assert_eq!(unknown_record["rule_ids"], json!(["default.unlisted-tool"]));
    let policy_hashes: std::collections::BTreeSet<&str> = records
        .iter()
        .filter(|record| record["decision"] == "session")
        .map(|record| record["args"]["policy_hash"].as_str().unwrap())
        .collect();
    assert_eq!(
        policy_hashes.len(),
        1,
        "both sessions ran the same operator policy"
    );
}

#[test]
fn invariant_3_audit_stores_hashes_and_lengths_never_bodies_and_redacts() {
    let directory = StateDir::initialised("inv3");
    let mut session = Session::initialised(&directory);
    let secret_reason =
        "db password=hunter2 key AKIAIOSFODNN7EXAMPLE token ghp_0123456789abcdefghijABCDEFGHIJ";
    let stopped = session.call("emergency_stop", json!({"reason": secret_reason}));
    let body = stopped["content"][0]["text"].as_str().unwrap().to_owned();
    let (code, _) = session.finish();
    assert_eq!(code, 0);
    let records = directory.records();
    let outcome = records
        .iter()
        .find(|record| record["decision"] == "outcome")
        .unwrap();
    assert_eq!(outcome["output_len"], json!(body.len()));
    assert_eq!(
        outcome["output_sha256"],
        json!(praxis::digest::Digest::of(body.as_bytes()).to_hex())
    );
    let database = std::fs::read(directory.database()).unwrap();
    let wal = std::fs::read(directory.state().join("praxis.db-wal")).unwrap_or_default();
    let everything = [
        database,
        wal,
        std::fs::read(directory.state().join("KILL")).unwrap(),
    ]
    .concat();
    let haystack = String::from_utf8_lossy(&everything);
    for secret in [
        "hunter2",
        "AKIAIOSFODNN7EXAMPLE",
        "ghp_0123456789abcdefghijABCDEFGHIJ",
    ] {
        assert!(
            !haystack.contains(secret),
            "{secret} reached the state directory"
        );
    }
    assert!(
        !haystack.contains("every tool call is now refused"),
        "an output body was stored"
    );
}

#[test]
fn invariant_3_an_effect_whose_intent_cannot_be_made_durable_does_not_run() {
    let directory = StateDir::initialised("failclosed");
    {
        // Simulate a failing audit sink for intents and reads (a full disk fails every write
        // the same way): another connection adds a trigger that aborts those inserts.
        let connection = rusqlite::Connection::open(directory.database()).unwrap();
        connection
            .execute_batch(
                "CREATE TRIGGER refuse_intents BEFORE INSERT ON audit
                 WHEN json_extract(NEW.body, '$.decision') IN ('intent', 'allowed')
                 BEGIN SELECT RAISE(ABORT, 'simulated audit failure'); END;",
            )
            .unwrap();
    }
    let mut session = Session::initialised(&directory);
    let stop = session.call("emergency_stop", json!({"reason": "should not happen"}));
    assert_eq!(refusal_code(&stop), Some("audit-unavailable"), "{stop}");
    assert!(
        !directory.state().join("KILL").exists(),
        "the effect ran without a durable intent"
    );
    let read = session.call("server_status", json!({}));
    assert_eq!(refusal_code(&read), Some("audit-unavailable"), "{read}");
    assert!(
        read.get("structuredContent")
            .and_then(|content| content.get("mode"))
            .is_none()
    );
    // The server is still up and still refuses cleanly.
    let unknown = session.call("nope", json!({}));
    assert_eq!(refusal_code(&unknown), Some("unknown-tool"));
    assert_eq!(session.finish().0, 0);
}

#[test]
fn invariant_7_stdio_by_default_no_listening_socket() {
    let directory = StateDir::initialised("inv7");
    let mut session = Session::initialised(&directory);
    session.call("server_status", json!({}));
    let pid = session.child.id();
    // Sockets the process holds (tokio's signal driver uses an unnamed socket pair).
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.display().to_string();
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_owned(),
            )
        })
        .collect();
    for table in ["tcp", "tcp6", "udp", "udp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let inode = line.split_whitespace().nth(9).unwrap_or_default();
            assert!(
                !inodes.iter().any(|own| own == inode),
                "praxis serve holds an {table} socket: {line}"
            );
        }
    }
    let unix = std::fs::read_to_string(format!("/proc/{pid}/net/unix")).unwrap_or_default();
    for line in unix.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() > 7 && inodes.iter().any(|own| own == fields[6]) {
            assert!(
                fields.len() == 7 || fields[7].is_empty(),
                "praxis serve bound a unix socket: {line}"
            );
        }
    }
    assert_eq!(session.finish().0, 0);
}

#[test]
fn invariant_9_durable_kill_switch_survives_restarts_and_a_touched_file_trips_it() {
    let directory = StateDir::initialised("inv9");
    let mut session = Session::initialised(&directory);
    session.call("emergency_stop", json!({"reason": "invariant 9"}));
    assert_eq!(session.finish().0, 0);
    let mut restarted = Session::initialised(&directory);
    let refused = restarted.call("server_status", json!({}));
    assert_eq!(refusal_code(&refused), Some("kill-switch-engaged"));
    let again = restarted.call("emergency_stop", json!({"reason": "again"}));
    assert_eq!(refusal_code(&again), Some("kill-switch-engaged"));
    assert_eq!(restarted.finish().0, 0);

    let fresh = StateDir::initialised("inv9-touch");
    let mut session = Session::initialised(&fresh);
    assert_eq!(
        refusal_code(&session.call("server_status", json!({}))),
        None
    );
    std::fs::File::create(fresh.state().join("KILL")).unwrap();
    assert_eq!(
        refusal_code(&session.call("server_status", json!({}))),
        Some("kill-switch-engaged")
    );
    assert_eq!(session.finish().0, 0);
    let denied: Vec<Value> = fresh
        .records()
        .into_iter()
        .filter(|record| record["decision"] == "denied")
        .collect();
    assert_eq!(denied.len(), 1);
    assert!(
        denied[0]["error"]
            .as_str()
            .unwrap()
            .starts_with("kill-switch-engaged: ")
    );
}

#[test]
fn invariant_4_bitemporal_append_only_fleet_state() {
    let directory = StateDir::initialised("inv4");
    let mut session = Session::initialised(&directory);
    for version in ["12", "13"] {
        let result = session.call(
            "ingest_observation",
            json!({"collector": "probe", "subject": "host:web-1", "raw": format!("VERSION_ID={version}")}),
        );
        assert_eq!(refusal_code(&result), None, "{result}");
    }
    assert_eq!(session.finish().0, 0);
    // Anyone with the file, through SQLite itself: deletion and in-place edits are refused by
    // the store's triggers, so history can only grow.
    let connection = rusqlite::Connection::open(directory.database()).unwrap();
    for statement in [
        "DELETE FROM facts",
        "UPDATE facts SET value = '{}'",
        "UPDATE facts SET valid_from = 0",
        "UPDATE facts SET recorded_at = 0",
        "UPDATE facts SET actor = actor + 1",
        "UPDATE facts SET valid_to = NULL, closed_at = NULL, closed_by = NULL WHERE valid_to IS NOT NULL",
        "UPDATE facts SET valid_to = valid_to + 1 WHERE valid_to IS NOT NULL",
        "DELETE FROM subjects",
    ] {
        assert!(
            connection.execute_batch(statement).is_err(),
            "{statement} must be refused"
        );
    }
    drop(connection);
    // The correction is visible with its actor and reason, and both versions remain.
    let output = directory.run(&["fleet", "history", "web-1", "--json"]);
    let versions: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["ended_by"], "collector:probe");
    assert!(
        versions[0]["ended_reason"]
            .as_str()
            .unwrap()
            .starts_with("ingest_observation in session ")
    );
    assert_eq!(versions[1]["value"]["VERSION_ID"], "13");
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "scope by host, by tier, then revocation, then the records"
)]
fn invariant_9_scoped_revocable_credentials_refuse_out_of_scope_actions_from_the_next_call() {
    // talosctl runs through the scripted double (talosctl cannot be installed here).
    let directory = StateDir::initialised("inv9-credentials");
    let (wrapper, talosconfig, state) = talos_double(&directory);
    let config = directory.root.join("praxis.toml");
    std::fs::write(
        &config,
        format!(
            "talosctl_binary = \"{}\"\n\n[credentials.cp-reader]\nkind = \"talos\"\ntalosconfig = \"{}\"\nhosts = [\"cp-*\"]\nmax_tier = \"T0\"\n",
            wrapper.display(),
            talosconfig.display()
        ),
    )
    .unwrap();
    directory.import_inventory(
        "[hosts.cp-1]\nhost_type = \"talos\"\ntalos = { nodes = [\"127.0.30.1\"] }\n\n\
         [hosts.worker-2]\nhost_type = \"talos\"\ntalos = { nodes = [\"127.0.30.3\"] }\n",
    );
    let config_variable = ("PRAXIS_CONFIG", config.to_str().unwrap());
    let mut session = Session::start_with(&directory, &[config_variable]);
    session.request("initialize", json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "it", "version": "0"}}));
    let version = |session: &mut Session, host: &str| {
        session.call(
            "run_action",
            json!({"adapter": "talosctl", "host": host, "action": "version", "dry_run": false}),
        )
    };

    // In scope: runs, and says with which credential.
    let ran = version(&mut session, "cp-1");
    assert_eq!(refusal_code(&ran), None, "{ran}");
    assert_eq!(ran["structuredContent"]["credential"], "cp-reader");
    let mut refusals = Vec::new();
    // Another host: no credential covers it.
    let other = version(&mut session, "worker-2");
    assert_eq!(
        refusal_code(&other),
        Some("credential-out-of-scope"),
        "{other}"
    );
    refusals.push("credential-out-of-scope");
    // A higher tier than the credential allows: refused before any approval is asked for.
    let restart = session.call(
        "run_action",
        json!({"adapter": "talosctl", "host": "cp-1", "action": "service etcd restart", "dry_run": false}),
    );
    assert_eq!(
        refusal_code(&restart),
        Some("credential-out-of-scope"),
        "{restart}"
    );
    assert!(
        restart["structuredContent"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cp-reader goes up to T0 only"),
        "{restart}"
    );
    refusals.push("credential-out-of-scope");

    // Revoked from a terminal while the server runs: the very next call is refused.
    let revoked = directory
        .praxis(&["credentials", "revoke", "cp-reader", "--reason", "rotated"])
        .env(config_variable.0, config_variable.1)
        .output()
        .unwrap();
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    let after = version(&mut session, "cp-1");
    assert_eq!(
        refusal_code(&after),
        Some("credential-out-of-scope"),
        "{after}"
    );
    assert!(
        after["structuredContent"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cp-reader is revoked")
    );
    refusals.push("credential-out-of-scope");
    assert_eq!(session.finish().0, 0);
    let listed = directory
        .praxis(&["credentials", "list", "--json"])
        .env(config_variable.0, config_variable.1)
        .output()
        .unwrap();
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed["cp-reader"]["revoked"], true, "{listed}");
    assert_eq!(listed["cp-reader"]["max_tier"], "T0");
    let unknown = directory
        .praxis(&["credentials", "revoke", "nope"])
        .env(config_variable.0, config_variable.1)
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2));

    // The double ran exactly once; every refusal and the revocation are in the trail.
    let log = std::fs::read_to_string(format!("{}.log", state.display())).unwrap();
    assert_eq!(log.lines().count(), 1, "{log}");
    let records = directory.records();
    assert_eq!(crate::support::denied_codes(&records), refusals);
    let revocation = records
        .iter()
        .find(|record| record["tool"] == "cli.credentials-revoke")
        .expect("the revocation is audited");
    assert_eq!(revocation["args"]["name"], "cp-reader");
    assert_eq!(directory.verify().0, 0);
}
