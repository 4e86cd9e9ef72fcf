//! Human approvals (issue 7): `praxis approve` driven through a pseudo-terminal, exactly as an
//! operator types at it; no test-only bypass exists in the binary.

use serde_json::{Value, json};

use crate::support::{Session, StateDir, Typed, operator_types, refusal_code};

const PASSPHRASE: &str = "correct horse battery staple";

const FLEET: &str = "[hosts.web-1]\nhost_type = \"linux\"\ngroups = [\"web\"]\n\
    ssh = { address = \"127.0.10.1\", port = 2222, user = \"aiops\" }\n\
    [hosts.web-2]\nhost_type = \"linux\"\ngroups = [\"web\"]\n\
    ssh = { address = \"127.0.10.2\", port = 2222, user = \"aiops\" }\n\
    [hosts.cp-1]\nhost_type = \"talos\"\ntalos = { nodes = [\"10.5.0.2\", \"10.5.0.3\"] }\n";

/// A state directory with an inventory and an approver key made by `praxis init` in a
/// terminal.
fn with_key(name: &str) -> StateDir {
    let directory = StateDir::initialised(name);
    directory.import_inventory(FLEET);
    let init = operator_types(
        &directory,
        "init",
        &[
            ("New passphrase", PASSPHRASE),
            ("The same passphrase again", PASSPHRASE),
        ],
    );
    assert_eq!(init.code, Some(0), "{}", init.screen);
    assert!(
        init.screen.contains("approver key: created SHA256:"),
        "{}",
        init.screen
    );
    assert!(
        !init.screen.contains(PASSPHRASE),
        "the passphrase is never echoed"
    );
    directory
}

fn session(directory: &StateDir, mode: &str) -> Session {
    let mut session = Session::start_with(
        directory,
        &[
            ("PRAXIS_MODE", mode),
            ("PRAXIS_SSH_IDENTITY_FILE", "/nonexistent/praxis-test-key"),
        ],
    );
    session.request(
        "initialize",
        json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "it", "version": "0"}}),
    );
    session
}

/// The approval id a preview asked for.
fn approval_id(preview: &Value) -> String {
    preview["structuredContent"]["approval_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no approval_id: {preview}"))
        .to_owned()
}

fn approve(directory: &StateDir, id: &str, passphrase: &str) -> Typed {
    operator_types(
        directory,
        &format!("approve {id}"),
        &[("Passphrase for the approver key", passphrase)],
    )
}

fn restart(host: &str, dry_run: bool, approval: Option<&str>) -> Value {
    let mut arguments = json!({"adapter": "ssh", "host": host, "action": "systemctl restart nginx", "dry_run": dry_run});
    if let Some(id) = approval {
        arguments["approval_id"] = json!(id);
    }
    arguments
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one approval's whole life, read top to bottom"
)]
fn invariant_6_an_operator_approves_in_a_terminal_and_the_action_runs_exactly_once() {
    let directory = with_key("approve-once");
    let mut session = session(&directory, "guarded");
    let preview = session.call("run_action", restart("web-1", true, None));
    assert_eq!(refusal_code(&preview), None, "{preview}");
    let id = preview["structuredContent"]["approval_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{preview}"))
        .to_owned();
    assert!(
        preview["structuredContent"]["approval"]
            .as_str()
            .unwrap()
            .contains(&format!("praxis approve {id}"))
    );
    // The same preview again asks for nothing new.
    let again = session.call("run_action", restart("web-1", true, None));
    assert_eq!(again["structuredContent"]["approval_id"], id.as_str());
    let without = session.call("run_action", restart("web-1", false, None));
    assert_eq!(refusal_code(&without), Some("approval-required"));
    let early = session.call("run_action", restart("web-1", false, Some(&id)));
    assert_eq!(refusal_code(&early), Some("approval-pending"), "{early}");
    let status = session.call("approval_status", json!({"approval_id": id}));
    assert_eq!(status["structuredContent"]["state"], "pending");

    // The operator sees what they approve; a wrong passphrase approves nothing.
    let listed = directory.run(&["pending"]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains(&id));
    let wrong = approve(&directory, &id, "not the passphrase at all");
    assert_eq!(wrong.code, Some(1), "{}", wrong.screen);
    assert!(
        wrong.screen.contains("systemctl restart nginx"),
        "{}",
        wrong.screen
    );
    assert!(wrong.screen.contains("web-1"));
    assert!(!wrong.screen.contains("not the passphrase at all"));
    let still = session.call("run_action", restart("web-1", false, Some(&id)));
    assert_eq!(refusal_code(&still), Some("approval-pending"));
    // Outside a terminal, `praxis approve` refuses whatever it is given.
    let piped = directory.run(&["approve", &id]);
    assert_eq!(piped.status.code(), Some(1));

    let approved = approve(&directory, &id, PASSPHRASE);
    assert_eq!(approved.code, Some(0), "{}", approved.screen);
    assert!(approved.screen.contains(&format!("approved {id}")));
    // Bound to the exact action: another host or another command is refused.
    let elsewhere = session.call("run_action", restart("web-2", false, Some(&id)));
    assert_eq!(
        refusal_code(&elsewhere),
        Some("approval-mismatch"),
        "{elsewhere}"
    );
    let other = session.call(
        "run_action",
        json!({"adapter": "ssh", "host": "web-1", "action": "systemctl stop nginx", "dry_run": false, "approval_id": id}),
    );
    assert_eq!(refusal_code(&other), Some("approval-mismatch"), "{other}");
    // It runs (here the host does not answer, so the run itself fails) — once.
    let ran = session.call("run_action", restart("web-1", false, Some(&id)));
    assert!(
        !refusal_code(&ran).is_some_and(|code| code.starts_with("approval")),
        "{ran}"
    );
    let replay = session.call("run_action", restart("web-1", false, Some(&id)));
    assert_eq!(refusal_code(&replay), Some("approval-used"), "{replay}");
    let status = session.call("approval_status", json!({"approval_id": id}));
    assert_eq!(status["structuredContent"]["state"], "used");
    // Someone with write access resets the used row to `approved`: the trail already holds its
    // run's intent record, so it does not run again.
    let database = rusqlite::Connection::open(directory.database()).unwrap();
    database
        .execute_batch("DROP TRIGGER approvals_one_way;")
        .unwrap();
    database
        .execute(
            "UPDATE approvals SET state = 'approved' WHERE id = ?1",
            [&id],
        )
        .unwrap();
    drop(database);
    let reset = session.call("run_action", restart("web-1", false, Some(&id)));
    assert_eq!(refusal_code(&reset), Some("approval-used"), "{reset}");
    assert_eq!(status["structuredContent"]["approver"], "operator");
    assert_eq!(session.finish().0, 0);

    let records = directory.records();
    let session_record = records
        .iter()
        .rev()
        .find(|record| record["decision"] == "session")
        .unwrap();
    assert!(
        session_record["args"]["approver_key"]["fingerprint"]
            .as_str()
            .is_some_and(|fingerprint| fingerprint.starts_with("SHA256:")),
        "every session names the approver key: {session_record}"
    );
    let intents: Vec<&Value> = records
        .iter()
        .filter(|record| record["decision"] == "intent" && record["approval_id"] == id.as_str())
        .collect();
    assert_eq!(intents.len(), 1, "exactly one run carries the approval");
    for tool in ["approval.requested", "cli.approve"] {
        assert!(
            records
                .iter()
                .any(|record| record["tool"] == tool && record["approval_id"] == id.as_str()),
            "{tool} is audited"
        );
    }
    assert!(
        records.iter().any(|record| record["tool"] == "cli.approve"
            && record["args"]["error"] == "wrong passphrase"),
        "the failed attempt is audited too"
    );
    assert_eq!(directory.verify().0, 0);
}

#[test]
fn forged_edited_or_denied_approvals_let_nothing_run() {
    let directory = with_key("approve-forged");
    let mut session = session(&directory, "guarded");
    let ask = |session: &mut Session, host: &str| -> String {
        let preview = session.call("run_action", restart(host, true, None));
        approval_id(&preview)
    };
    let forged = ask(&mut session, "web-1");
    let edited = ask(&mut session, "web-2");
    let reload = json!({"adapter": "ssh", "host": "web-1", "action": "systemctl reload nginx", "dry_run": true});
    let copied = session.call("run_action", reload.clone())["structuredContent"]["approval_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let approved = approve(&directory, &edited, PASSPHRASE);
    assert_eq!(approved.code, Some(0), "{}", approved.screen);

    // Someone with write access to the database: drops the trigger, marks a pending row
    // approved with a made-up signature, and re-targets an approved one.
    let database = rusqlite::Connection::open(directory.database()).unwrap();
    database
        .execute_batch("DROP TRIGGER approvals_one_way;")
        .unwrap();
    database
        .execute(
            "UPDATE approvals SET state = 'approved', approver = 'operator', decided_at = created_at, signature = ?2 WHERE id = ?1",
            rusqlite::params![forged, "ab".repeat(64)],
        )
        .unwrap();
    database
        .execute(
            "UPDATE approvals SET expires_at = expires_at + 86400000000000 WHERE id = ?1",
            [&edited],
        )
        .unwrap();
    // A valid signature copied from another approval does not transfer: it names that id.
    database
        .execute(
            "UPDATE approvals SET state = 'approved', approver = o.approver, decided_at = o.decided_at, \
             signature = o.signature FROM (SELECT approver, decided_at, signature FROM approvals WHERE id = ?2) AS o \
             WHERE approvals.id = ?1",
            [&copied, &edited],
        )
        .unwrap();
    drop(database);
    let mut real_reload = reload;
    real_reload["dry_run"] = json!(false);
    real_reload["approval_id"] = json!(copied);
    let run = session.call("run_action", real_reload);
    assert_eq!(
        refusal_code(&run),
        Some("approval-invalid-signature"),
        "{run}"
    );
    let run = session.call("run_action", restart("web-1", false, Some(&forged)));
    assert_eq!(
        refusal_code(&run),
        Some("approval-invalid-signature"),
        "{run}"
    );
    let run = session.call("run_action", restart("web-2", false, Some(&edited)));
    assert_eq!(
        refusal_code(&run),
        Some("approval-invalid-signature"),
        "{run}"
    );
    let unknown = session.call("run_action", restart("web-1", false, Some("apr-made-up")));
    assert_eq!(refusal_code(&unknown), Some("approval-unknown"));

    // Denied: the model is told the operator's reason.
    let denied_id = ask(&mut session, "web-1");
    assert_ne!(
        denied_id, forged,
        "a forged row is not pending, so a new approval is asked"
    );
    let deny = operator_types(
        &directory,
        &format!("deny {denied_id} --reason not-during-business-hours"),
        &[],
    );
    assert_eq!(deny.code, Some(0), "{}", deny.screen);
    let refused = session.call("run_action", restart("web-1", false, Some(&denied_id)));
    assert_eq!(refusal_code(&refused), Some("approval-denied"));
    assert!(
        refused["structuredContent"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not-during-business-hours")
    );
    assert_eq!(session.finish().0, 0);
}

#[test]
fn an_irreversible_action_on_two_targets_cannot_be_approved() {
    let directory = with_key("approve-t3");
    // Through the talosctl double: the preview of a reset runs its health pre-flight.
    let (wrapper, talosconfig, _) = crate::support::talos_double(&directory);
    let mut session = Session::start_with(
        &directory,
        &[
            ("PRAXIS_MODE", "open"),
            ("PRAXIS_TALOSCTL_BINARY", wrapper.to_str().unwrap()),
            ("PRAXIS_TALOSCONFIG_FILE", talosconfig.to_str().unwrap()),
        ],
    );
    session.request(
        "initialize",
        json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "it", "version": "0"}}),
    );
    let preview = session.call(
        "run_action",
        json!({"adapter": "talosctl", "host": "cp-1", "action": "reset", "dry_run": true}),
    );
    let content = &preview["structuredContent"];
    assert_eq!(content["tier"], "T3", "{preview}");
    let id = content["approval_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{preview}"));
    let approve = approve(&directory, id, PASSPHRASE);
    assert_eq!(approve.code, Some(1), "{}", approve.screen);
    assert!(approve.screen.contains("exactly one"), "{}", approve.screen);
    let status = session.call("approval_status", json!({"approval_id": id}));
    assert_eq!(status["structuredContent"]["state"], "pending");
    assert_eq!(session.finish().0, 0);
}

#[test]
fn two_processes_racing_for_one_approval_run_it_once() {
    let directory = with_key("approve-race");
    let mut first = session(&directory, "guarded");
    let preview = first.call("run_action", restart("web-1", true, None));
    let id = approval_id(&preview);
    assert_eq!(approve(&directory, &id, PASSPHRASE).code, Some(0));
    let second = session(&directory, "guarded");
    let results: Vec<Value> = std::thread::scope(|scope| {
        let handles: Vec<_> = [first, second]
            .into_iter()
            .map(|mut racer| {
                let id = id.clone();
                scope.spawn(move || {
                    let answer = racer.call("run_action", restart("web-1", false, Some(&id)));
                    assert_eq!(racer.finish().0, 0);
                    answer
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .collect()
    });
    let used = results
        .iter()
        .filter(|answer| refusal_code(answer) == Some("approval-used"))
        .count();
    assert_eq!(used, 1, "{results:?}");
    let intents = directory
        .records()
        .iter()
        .filter(|record| record["decision"] == "intent" && record["approval_id"] == id.as_str())
        .count();
    assert_eq!(intents, 1);
}

#[test]
fn an_expired_approval_is_refused() {
    let directory = with_key("approve-expired");
    let mut session = Session::start_with(
        &directory,
        &[
            ("PRAXIS_SSH_IDENTITY_FILE", "/nonexistent/praxis-test-key"),
            ("PRAXIS_APPROVAL_TTL_SECONDS", "20"),
        ],
    );
    session.request(
        "initialize",
        json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "it", "version": "0"}}),
    );
    let preview = session.call("run_action", restart("web-1", true, None));
    let id = approval_id(&preview);
    assert_eq!(approve(&directory, &id, PASSPHRASE).code, Some(0));
    let expires: String = preview["structuredContent"]["approval_expires_at"]
        .as_str()
        .unwrap()
        .to_owned();
    // Wait past the expiry, then try.
    while session.call("approval_status", json!({"approval_id": id}))["structuredContent"]["state"]
        != "expired"
    {
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let late = session.call("run_action", restart("web-1", false, Some(&id)));
    assert_eq!(
        refusal_code(&late),
        Some("approval-expired"),
        "{late} (expired {expires})"
    );
    assert_eq!(session.finish().0, 0);
}

#[test]
fn a_changed_policy_voids_a_pending_approval() {
    let directory = with_key("approve-policy");
    let mut session = session(&directory, "guarded");
    let preview = session.call("run_action", restart("web-1", true, None));
    let id = approval_id(&preview);
    assert_eq!(session.finish().0, 0);
    // The operator's policy changes before anyone approves.
    crate::support::policy_dir_with(
        &directory,
        &[(
            "local.toml",
            "schema = 1\n[drift]\ncritical_drift_open = \"refuse\"\n",
        )],
    );
    let refused = approve(&directory, &id, PASSPHRASE);
    assert_eq!(refused.code, Some(1), "{}", refused.screen);
    assert!(
        refused.screen.contains("policy changed"),
        "{}",
        refused.screen
    );
    let status = directory.run(&["pending", "--json"]);
    assert!(
        String::from_utf8_lossy(&status.stdout).contains(&id),
        "still pending, never approvable"
    );
}

#[test]
fn a_session_budget_counts_only_runs_that_passed_every_gate() {
    let directory = with_key("approve-budget");
    let mut session = Session::start_with(
        &directory,
        &[
            ("PRAXIS_SSH_IDENTITY_FILE", "/nonexistent/praxis-test-key"),
            ("PRAXIS_MAX_ACTIONS", "1"),
        ],
    );
    session.request(
        "initialize",
        json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "it", "version": "0"}}),
    );
    // Refused approvals spend nothing.
    for _ in 0..3 {
        let refused = session.call("run_action", restart("web-1", false, Some("apr-made-up")));
        assert_eq!(refusal_code(&refused), Some("approval-unknown"));
    }
    let touch = json!({"adapter": "ssh", "host": "web-1", "action": "touch /tmp/praxis-budget", "dry_run": false});
    let first = session.call("run_action", touch.clone());
    assert!(
        !matches!(
            refusal_code(&first),
            Some("budget-exhausted" | "approval-required")
        ),
        "{first}"
    );
    let second = session.call("run_action", touch);
    assert_eq!(refusal_code(&second), Some("budget-exhausted"), "{second}");
    // Reads are never budgeted.
    let read = session.call(
        "run_action",
        json!({"adapter": "ssh", "host": "web-1", "action": "uptime", "dry_run": true}),
    );
    assert_eq!(refusal_code(&read), None);
    assert_eq!(session.finish().0, 0);
}

#[test]
fn the_operator_is_notified_of_a_pending_approval_and_can_watch_for_them() {
    let directory = with_key("approve-notify");
    let notes = directory.root.join("notifications");
    let command = format!("sh,-c,printf '%s\\n' \"$0\" >> {}", notes.display());
    let mut session = Session::start_with(
        &directory,
        &[
            ("PRAXIS_SSH_IDENTITY_FILE", "/nonexistent/praxis-test-key"),
            ("PRAXIS_APPROVAL_NOTIFY_COMMAND", command.as_str()),
        ],
    );
    session.request(
        "initialize",
        json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "it", "version": "0"}}),
    );
    let mut watcher = directory
        .praxis(&["pending", "--watch"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let preview = session.call("run_action", restart("web-1", true, None));
    let id = approval_id(&preview);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !std::fs::read_to_string(&notes).is_ok_and(|text| text.contains(&id))
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let told = std::fs::read_to_string(&notes).unwrap_or_default();
    assert!(told.contains(&format!("praxis approve {id}")), "{told}");
    assert!(told.contains("web-1"), "{told}");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    drop(watcher.kill());
    let printed = watcher.wait_with_output().unwrap();
    assert!(
        String::from_utf8_lossy(&printed.stdout).contains(&id),
        "pending --watch printed the new approval"
    );
    assert_eq!(session.finish().0, 0);
    let doctor = directory.run(&["doctor"]);
    assert!(
        String::from_utf8_lossy(&doctor.stdout).contains("approver key: SHA256:"),
        "{}",
        String::from_utf8_lossy(&doctor.stdout)
    );
}

#[test]
fn an_approval_survives_a_server_restart() {
    let directory = with_key("approve-restart");
    let mut before = session(&directory, "guarded");
    let preview = before.call("run_action", restart("web-1", true, None));
    let id = approval_id(&preview);
    assert_eq!(before.finish().0, 0);
    assert_eq!(approve(&directory, &id, PASSPHRASE).code, Some(0));
    let mut after = session(&directory, "guarded");
    let status = after.call("approval_status", json!({"approval_id": id}));
    assert_eq!(status["structuredContent"]["state"], "approved");
    let ran = after.call("run_action", restart("web-1", false, Some(&id)));
    assert!(
        !refusal_code(&ran).is_some_and(|code| code.starts_with("approval")),
        "{ran}"
    );
    assert_eq!(after.finish().0, 0);
}

#[test]
fn a_run_can_wait_for_the_operator_and_reports_progress_while_it_waits() {
    let directory = with_key("approve-wait");
    let mut session = session(&directory, "guarded");
    let preview = session.call("run_action", restart("web-1", true, None));
    let id = approval_id(&preview);
    let mut arguments = restart("web-1", false, Some(&id));
    arguments["wait_for_approval_s"] = json!(60);
    session.send_line(
        &json!({"jsonrpc": "2.0", "id": 900, "method": "tools/call",
            "params": {"name": "run_action", "arguments": arguments, "_meta": {"progressToken": "wait-1"}}})
        .to_string(),
    );
    // The operator takes a few seconds to come to the terminal.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let approved = approve(&directory, &id, PASSPHRASE);
    assert_eq!(approved.code, Some(0), "{}", approved.screen);
    let mut progress = Vec::new();
    let answer = loop {
        let message = session
            .next_message(std::time::Duration::from_secs(60))
            .expect("an answer within the wait");
        if message["method"] == "notifications/progress" {
            progress.push(message);
        } else if message["id"] == 900 {
            break message;
        }
    };
    assert!(
        !progress.is_empty()
            && progress
                .iter()
                .all(|note| note["params"]["progressToken"] == "wait-1"),
        "{progress:?}"
    );
    assert!(
        progress[0]["params"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("praxis approve {id}"))
    );
    let result = &answer["result"];
    assert!(
        !refusal_code(result).is_some_and(|code| code.starts_with("approval")),
        "the call went on once approved: {answer}"
    );
    let too_long = session.call(
        "run_action",
        json!({"adapter": "ssh", "host": "web-1", "action": "uptime", "dry_run": false, "wait_for_approval_s": 601}),
    );
    assert_eq!(refusal_code(&too_long), Some("invalid-arguments"));
    assert_eq!(session.finish().0, 0);
}
