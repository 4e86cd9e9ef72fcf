//! The drift engine end to end (issue 6): blessed snapshots and baseline files as desired
//! state, findings that open and close as `drift` facts, `drift_scan`, and drift in the
//! actuator path.

use serde_json::{Value, json};

use crate::support::{Session, StateDir, refusal_code, run_in_terminal};

const FLEET: &str = "[hosts.web-1]\nhost_type = \"linux\"\ngroups = [\"web\"]\n\
    ssh = { address = \"127.0.10.1\", port = 2222, user = \"aiops\" }\n\
    [hosts.web-2]\nhost_type = \"linux\"\ngroups = [\"web\"]\n\
    ssh = { address = \"127.0.10.2\", port = 2222, user = \"aiops\" }\n\
    [hosts.db-1]\nhost_type = \"linux\"\ngroups = [\"db\"]\n\
    ssh = { address = \"127.0.10.3\", port = 2222, user = \"aiops\" }\n";

const WEB_BASELINE: &str = "schema = 1\n\n[[expect]]\nid = \"no-root\"\ngroups = [\"web\"]\n\
    predicate = \"sshd_config:PermitRootLogin\"\nequals = \"no\"\n\
    remediation = { adapter = \"ansible\", action = \"playbooks/sshd.yml\" }\n";

/// A policy directory holding the shipped policy, `extra` as another policy file, and
/// `baselines/web.toml`; the state directory's config file points at it.
fn with_policy(directory: &StateDir, extra: &str) {
    let drift = format!("schema = 1\n{extra}");
    let mut files = vec![("baselines/web.toml", WEB_BASELINE)];
    if !extra.is_empty() {
        files.push(("drift.toml", drift.as_str()));
    }
    crate::support::policy_dir_with(directory, &files);
}

fn ports(session: &mut Session, subject: &str, rows: &str) -> Value {
    let answer = session.call(
        "ingest_observation",
        json!({"collector": "osquery", "subject": subject, "raw": rows, "predicate": "listening_ports"}),
    );
    assert_eq!(refusal_code(&answer), None, "{answer}");
    answer["structuredContent"].clone()
}

fn scan(session: &mut Session, subject: Option<&str>) -> Value {
    let arguments = subject.map_or_else(|| json!({}), |subject| json!({"subject": subject}));
    let answer = session.call("drift_scan", arguments);
    assert_eq!(refusal_code(&answer), None, "{answer}");
    answer["structuredContent"].clone()
}

fn finding<'a>(scanned: &'a Value, subject: &str, predicate: &str) -> Option<&'a Value> {
    scanned["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|finding| finding["subject"] == subject && finding["predicate"] == predicate)
}

fn strings(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect()
}

const FIRST: &str = r#"[{"port": "22", "protocol": "6", "address": "0.0.0.0"}, {"port": "80", "protocol": "6", "address": "0.0.0.0"}]"#;
const DRIFTED: &str = r#"[{"port": "22", "protocol": "6", "address": "0.0.0.0"}, {"port": "80", "protocol": "6", "address": "127.0.0.1"}, {"port": "8080", "protocol": "6", "address": "0.0.0.0"}]"#;

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one story: bless, drift, scan, fix, as-of"
)]
fn drift_findings_open_when_seen_close_when_fixed_and_stay_in_the_history() {
    let directory = StateDir::initialised("drift-story");
    with_policy(&directory, "");
    directory.import_inventory(FLEET);
    let mut session = Session::initialised(&directory);
    ports(&mut session, "host:web-1", FIRST);
    assert_eq!(session.finish().0, 0);
    let blessed = run_in_terminal(&directory, "drift bless host:web-1 --reason baseline");
    assert!(blessed.status.success(), "{blessed:?}");

    let mut session = Session::initialised(&directory);
    // The host drifts: port 80 moves to loopback, 8080 opens. The ingest opens the findings.
    let ingested = ports(&mut session, "host:web-1", DRIFTED);
    let opened = strings(&ingested["drift"]["opened"]);
    assert!(
        opened.contains(&"port:tcp/80") && opened.contains(&"port:tcp/8080"),
        "{ingested}"
    );
    let drifted = scan(&mut session, Some("host:web-1"));
    let changed = finding(&drifted, "host:web-1", "port:tcp/80").expect("port 80 changed");
    assert_eq!(changed["kind"], "changed");
    assert_eq!(changed["severity"], "high");
    assert_eq!(changed["desired"]["address"], "0.0.0.0");
    assert_eq!(changed["observed"]["address"], "127.0.0.1");
    assert_eq!(changed["source"], "bless");
    let unexpected = finding(&drifted, "host:web-1", "port:tcp/8080").expect("8080 unexpected");
    assert_eq!(unexpected["kind"], "unexpected");
    assert!(unexpected["desired"].is_null());
    // A baselined predicate never observed.
    let missing = finding(&drifted, "host:web-1", "sshd_config:PermitRootLogin")
        .expect("the baseline's sshd setting is missing");
    assert_eq!(missing["kind"], "missing");
    assert_eq!(missing["desired"], "no");
    assert_eq!(missing["source"], "baseline:baselines/web.toml#no-root");
    let since = changed["since"].as_str().unwrap().to_owned();
    // A later scan finds the same findings open since the same time.
    let again = scan(&mut session, Some("host:web-1"));
    assert_eq!(
        finding(&again, "host:web-1", "port:tcp/80").unwrap()["since"],
        since.as_str()
    );
    assert!(again["opened"].as_array().unwrap().is_empty(), "{again}");
    let between = again["as_of"].as_str().unwrap().to_owned();

    // The operator fixes the host: the next observation closes both findings.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let fixed = ports(&mut session, "host:web-1", FIRST);
    let closed = strings(&fixed["drift"]["closed"]);
    assert!(
        closed.contains(&"port:tcp/80") && closed.contains(&"port:tcp/8080"),
        "{fixed}"
    );
    let after = scan(&mut session, Some("host:web-1"));
    assert!(
        finding(&after, "host:web-1", "port:tcp/80").is_none(),
        "{after}"
    );
    assert!(
        finding(&after, "host:web-1", "port:tcp/8080").is_none(),
        "{after}"
    );
    assert!(finding(&after, "host:web-1", "sshd_config:PermitRootLogin").is_some());

    // As of the time in between, the drift is still there; now it is not.
    let drift_at = |session: &mut Session, at: Option<&str>| -> Vec<String> {
        let mut arguments = json!({"subject": "host:web-1", "fact_type": "drift"});
        if let Some(at) = at {
            arguments["as_of_valid"] = json!(at);
        }
        let answer = session.call("query_facts", arguments);
        let mut predicates: Vec<String> = answer["structuredContent"]["facts"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|fact| fact["predicate"].as_str().map(str::to_owned))
            .collect();
        predicates.sort();
        predicates
    };
    let then = drift_at(&mut session, Some(&between));
    for predicate in [
        "port:tcp/80",
        "port:tcp/8080",
        "sshd_config:PermitRootLogin",
    ] {
        assert!(
            then.iter().any(|open| open == predicate),
            "{predicate} at {between}: {then:?}"
        );
    }
    let now = drift_at(&mut session, None);
    assert!(!now.iter().any(|open| open.starts_with("port:")), "{now:?}");
    assert!(now.iter().any(|open| open == "sshd_config:PermitRootLogin"));
    // How long it was open: the closed version's valid time has both ends.
    let history = session.call(
        "fact_history",
        json!({"subject": "host:web-1", "predicate": "port:tcp/8080"}),
    );
    let drift_versions: Vec<&Value> = history["structuredContent"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|version| version["fact_type"] == "drift")
        .collect();
    assert_eq!(drift_versions.len(), 1, "{history}");
    assert!(!drift_versions[0]["valid_to"].is_null(), "{history}");
    assert_eq!(session.finish().0, 0);

    // Every drift write has its record: the scans, and the ingests that opened and closed.
    let records = directory.records();
    assert_eq!(
        records
            .iter()
            .filter(|record| record["tool"] == "drift_scan" && record["decision"] == "allowed")
            .count(),
        3
    );
    assert!(
        records
            .iter()
            .filter(|record| record["tool"] == "drift_scan")
            .all(|record| record["drift_sha256"].is_string())
    );
    assert_eq!(directory.verify().0, 0);
}

#[test]
fn a_group_baseline_applies_to_every_host_of_the_group_in_the_inventory() {
    let directory = StateDir::initialised("drift-group");
    with_policy(&directory, "");
    directory.import_inventory(FLEET);
    let mut session = Session::initialised(&directory);
    let fleet = scan(&mut session, None);
    assert_eq!(session.finish().0, 0);
    let subjects: Vec<&str> = fleet["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|finding| finding["predicate"] == "sshd_config:PermitRootLogin")
        .filter_map(|finding| finding["subject"].as_str())
        .collect();
    assert_eq!(subjects, ["host:web-1", "host:web-2"], "{fleet}");
    assert_eq!(fleet["scanned"], 3, "every inventory host is scanned");

    // The proposal for it is the baseline's remediation, classified like any action.
    let plan = directory.run(&["drift", "plan", "host:web-1", "--json"]);
    assert!(plan.status.success(), "{plan:?}");
    let proposal: Value = serde_json::from_slice(
        String::from_utf8_lossy(&plan.stdout)
            .lines()
            .next()
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(proposal["action"]["adapter"], "ansible");
    assert_eq!(proposal["action"]["action"], "playbooks/sshd.yml");
    assert_eq!(proposal["classification"]["approval_required"], true);
}

#[test]
fn a_dry_run_lists_open_drift_and_an_actuation_on_a_stale_host_is_refused() {
    let directory = StateDir::initialised("drift-gate");
    with_policy(
        &directory,
        "[drift]\nstale_observation_seconds = 3600\nstale_observation = \"refuse\"\n",
    );
    directory.import_inventory(FLEET);
    let mut session = Session::initialised(&directory);
    // web-1 has open drift (the baseline's sshd setting is missing).
    let preview = session.call(
        "run_action",
        json!({"adapter": "ssh", "host": "web-1", "action": "systemctl restart nginx", "dry_run": true}),
    );
    assert_eq!(refusal_code(&preview), None, "{preview}");
    let drift = &preview["structuredContent"]["drift"];
    assert_eq!(drift["open"], 1, "{preview}");
    assert_eq!(
        drift["findings"][0]["predicate"],
        "sshd_config:PermitRootLogin"
    );
    assert_eq!(drift["stale"], true, "never observed");
    // A real run of that T2 action on the never-collected host: stale-observation.
    let real = session.call(
        "run_action",
        json!({"adapter": "ssh", "host": "web-1", "action": "systemctl restart nginx", "dry_run": false}),
    );
    assert_eq!(refusal_code(&real), Some("stale-observation"), "{real}");
    // A read is how a stale host gets observed: never refused for staleness.
    let uptime = session.call(
        "run_action",
        json!({"adapter": "ssh", "host": "web-1", "action": "uptime", "dry_run": true}),
    );
    assert_eq!(refusal_code(&uptime), None, "{uptime}");
    // Telemetry the caller ingests is not an observation by praxis (it could be made up): the
    // host stays stale until praxis collects from it (the lab test of collect shows the
    // sighting it records).
    ports(&mut session, "host:web-1", FIRST);
    let still = session.call(
        "run_action",
        json!({"adapter": "ssh", "host": "web-1", "action": "systemctl restart nginx", "dry_run": false}),
    );
    assert_eq!(refusal_code(&still), Some("stale-observation"), "{still}");
    assert_eq!(session.finish().0, 0);

    let records = directory.records();
    let refused: Vec<&Value> = records
        .iter()
        .filter(|record| {
            record["error"]
                .as_str()
                .is_some_and(|error| error.starts_with("stale-observation"))
        })
        .collect();
    assert_eq!(refused.len(), 2);
    assert_eq!(refused[0]["decision"], "denied");
    assert_eq!(refused[0]["target"], "web-1");
    assert!(
        refused[0]["drift_sha256"].is_string(),
        "the refusal names the drift it saw"
    );
    let preview_record = records
        .iter()
        .find(|record| record["tool"] == "run_action" && record["dry_run"] == true)
        .unwrap();
    assert_eq!(
        preview_record["drift_sha256"],
        preview["structuredContent"]["drift"]["digest"]
    );
}

#[test]
fn critical_drift_the_action_does_not_address_refuses_it_when_the_policy_says_so() {
    let directory = StateDir::initialised("drift-critical");
    with_policy(&directory, "[drift]\ncritical_drift_open = \"refuse\"\n");
    directory.import_inventory(FLEET);
    std::fs::write(
        directory.root.join("policy/baselines/files.toml"),
        "schema = 1\n[[expect]]\nid = \"passwd\"\nhosts = [\"db-1\"]\npredicate = \"file:/etc/passwd\"\nequals = \"abc\"\nremediation = { adapter = \"ssh\", action = \"sudo -n /usr/local/bin/restore-passwd\" }\n",
    )
    .unwrap();
    let mut session = Session::initialised(&directory);
    let real = session.call(
        "run_action",
        json!({"adapter": "ssh", "host": "db-1", "action": "systemctl restart postgresql", "dry_run": false}),
    );
    assert_eq!(refusal_code(&real), Some("critical-drift-open"), "{real}");
    let message = real["structuredContent"]["error"]["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("file:/etc/passwd"), "{message}");
    // The baseline's own remediation addresses the finding: it passes the drift gate and stops
    // at the next one (no ssh credential is configured here).
    let remedy = session.call(
        "run_action",
        json!({"adapter": "ssh", "host": "db-1", "action": "sudo -n /usr/local/bin/restore-passwd", "dry_run": false}),
    );
    assert_ne!(
        refusal_code(&remedy),
        Some("critical-drift-open"),
        "{remedy}"
    );
    // web-1's drift is not critical: the same action there passes the drift gate and stops at
    // the next one (no ssh credential is configured here).
    let other = session.call(
        "run_action",
        json!({"adapter": "ssh", "host": "web-1", "action": "systemctl restart postgresql", "dry_run": false}),
    );
    assert_eq!(
        refusal_code(&other),
        Some("credential-out-of-scope"),
        "{other}"
    );
    assert_eq!(session.finish().0, 0);
}

#[test]
fn the_drift_triage_prompt_is_listed_and_names_drift_scan() {
    let directory = StateDir::initialised("drift-prompt");
    let mut session = Session::initialised(&directory);
    let listed = session.request("prompts/list", json!({}));
    assert_eq!(
        listed["result"]["prompts"][0]["name"], "drift_triage",
        "{listed}"
    );
    let prompt = session.request(
        "prompts/get",
        json!({"name": "drift_triage", "arguments": {"subject": "host:web-1"}}),
    );
    let text = prompt["result"]["messages"][0]["content"]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(
        text.contains(r#"drift_scan {"subject": "host:web-1"}"#),
        "{prompt}"
    );
    assert!(text.contains("untrusted"), "{prompt}");
    let unknown = session.request("prompts/get", json!({"name": "nope"}));
    assert!(unknown["error"]["message"].as_str().is_some(), "{unknown}");
    assert_eq!(session.finish().0, 0);
}

#[test]
fn a_drift_rule_that_asks_for_approval_gets_one_from_the_preview() {
    let directory = StateDir::initialised("drift-approval");
    with_policy(
        &directory,
        "[drift]\nstale_observation_seconds = 3600\nstale_observation = \"approval\"\n",
    );
    directory.import_inventory(FLEET);
    let mut session = Session::start_with(
        &directory,
        &[("PRAXIS_SSH_IDENTITY_FILE", "/nonexistent/praxis-test-key")],
    );
    session.request(
        "initialize",
        json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "it", "version": "0"}}),
    );
    // A reversible (T1) action in a clean session needs no human by its tier, but web-1 was
    // never observed and the policy asks for an approval then.
    let touch = |dry_run: bool| json!({"adapter": "ssh", "host": "web-1", "action": "touch /tmp/praxis-drift", "dry_run": dry_run});
    let preview = session.call("run_action", touch(true));
    assert_eq!(preview["structuredContent"]["tier"], "T1", "{preview}");
    assert_eq!(
        preview["structuredContent"]["approval_required"], true,
        "{preview}"
    );
    assert!(
        preview["structuredContent"]["approval_id"].is_string(),
        "{preview}"
    );
    let real = session.call("run_action", touch(false));
    assert_eq!(refusal_code(&real), Some("approval-required"), "{real}");
    assert_eq!(session.finish().0, 0);
}
