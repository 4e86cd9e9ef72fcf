//! The fleet graph over MCP: ingest, query as of both axes, history, restart.

use serde_json::{Value, json};

use crate::support::{Session, StateDir, refusal_code};

fn ingest(session: &mut Session, raw: &str) -> Value {
    session.call(
        "ingest_observation",
        json!({"collector": "probe", "subject": "host:web-1", "raw": raw, "predicate": "os_release"}),
    )
}

#[test]
#[expect(clippy::too_many_lines, reason = "one scenario, read top to bottom")]
fn ingest_twice_then_query_now_and_as_of_and_history_over_mcp() {
    let directory = StateDir::initialised("facts-mcp");
    let mut session = Session::initialised(&directory);
    let first = ingest(&mut session, "ID=debian\nVERSION_ID=\"12\"\n");
    assert_eq!(first["structuredContent"]["ingested"], 1, "{first}");
    assert_eq!(first["structuredContent"]["untrusted"], true);
    let first_recorded = first["structuredContent"]["recorded_at"]
        .as_str()
        .unwrap()
        .to_owned();
    let again = ingest(&mut session, "ID=debian\nVERSION_ID=\"12\"\n");
    assert_eq!(
        again["structuredContent"]["unchanged"], 1,
        "an identical value adds no version"
    );
    let second = ingest(&mut session, "ID=debian\nVERSION_ID=\"13\"\n");
    assert_eq!(second["structuredContent"]["new_versions"], 1);
    let second_recorded = second["structuredContent"]["recorded_at"]
        .as_str()
        .unwrap()
        .to_owned();

    let now = session.call("query_facts", json!({"subject": "host:web-1"}));
    let facts = now["structuredContent"]["facts"].as_array().unwrap();
    assert_eq!(facts.len(), 1, "{now}");
    assert_eq!(facts[0]["value"]["VERSION_ID"], "13");
    assert_eq!(facts[0]["fact_type"], "observed");

    // Between the two recorded versions, praxis knew the first value.
    let between = praxis::clock::Timestamp::from_unix_nanos(
        praxis::clock::Timestamp::parse_rfc3339(&second_recorded)
            .unwrap()
            .unix_nanos()
            - 1,
    );
    let then = session.call(
        "query_facts",
        json!({"subject": "host:web-1", "as_of_recorded": between.to_string()}),
    );
    assert_eq!(
        then["structuredContent"]["facts"][0]["value"]["VERSION_ID"], "12",
        "{then}"
    );
    let before_anything = session.call(
        "query_facts",
        json!({"as_of_recorded": "2000-01-01T00:00:00Z"}),
    );
    assert_eq!(before_anything["structuredContent"]["count"], 0);
    let valid_then = session.call(
        "query_facts",
        json!({"subject": "host:web-1", "as_of_valid": first_recorded}),
    );
    assert_eq!(
        valid_then["structuredContent"]["facts"][0]["value"]["VERSION_ID"],
        "12"
    );

    let history = session.call("fact_history", json!({"subject": "host:web-1"}));
    let versions = history["structuredContent"]["history"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{history}");
    assert_eq!(versions[0]["active"], false);
    assert_eq!(versions[1]["active"], true);
    for key in [
        "valid_from",
        "valid_to",
        "recorded_at",
        "superseded_at",
        "actor",
        "reason",
        "t_recorded",
    ] {
        assert!(versions[0].get(key).is_some(), "history lacks {key}");
    }
    assert_eq!(versions[0]["actor"], "collector:probe");
    assert!(
        versions[0]["last_seen"].is_string(),
        "the re-observation is remembered"
    );

    let unknown_type = session.call("query_facts", json!({"fact_type": "nonsense"}));
    assert_eq!(
        unknown_type["structuredContent"]["count"], 0,
        "praxis-py contract: matches nothing"
    );
    let bad_time = session.call("query_facts", json!({"as_of_valid": "yesterday"}));
    assert_eq!(refusal_code(&bad_time), Some("invalid-arguments"));
    let status = session.call("server_status", json!({}));
    assert_eq!(status["structuredContent"]["untrusted_content"], true);
    assert_eq!(session.finish().0, 0);

    // Every tool call is exactly one audit record, and the session was marked once.
    let records = directory.records();
    let per_call: std::collections::BTreeMap<String, usize> = records
        .iter()
        .filter(|record| {
            record["request_id"].is_string() && record["decision"] != "untrusted-content"
        })
        .fold(std::collections::BTreeMap::new(), |mut counts, record| {
            *counts
                .entry(record["request_id"].as_str().unwrap().to_owned())
                .or_default() += 1;
            counts
        });
    assert_eq!(per_call.len(), 11);
    assert!(per_call.values().all(|count| *count == 1), "{per_call:?}");
    assert_eq!(
        records
            .iter()
            .filter(|record| record["decision"] == "untrusted-content")
            .count(),
        1
    );
    let ingest_record = records
        .iter()
        .find(|record| record["tool"] == "ingest_observation" && record["decision"] == "allowed")
        .unwrap();
    assert!(
        ingest_record["args"].get("raw").is_none(),
        "raw telemetry never enters the audit"
    );
    assert!(ingest_record["args"]["raw_sha256"].is_string());
    assert_eq!(directory.verify().0, 0);

    // Restart: the facts persist by default.
    let mut restarted = Session::initialised(&directory);
    let after = restarted.call("query_facts", json!({"subject": "host:web-1"}));
    assert_eq!(
        after["structuredContent"]["facts"][0]["value"]["VERSION_ID"],
        "13"
    );
    assert_eq!(restarted.finish().0, 0);
}

#[test]
fn ingested_secrets_are_redacted_and_hostile_input_is_refused_cleanly() {
    let directory = StateDir::initialised("facts-hostile");
    let mut session = Session::initialised(&directory);
    let secret = ingest(
        &mut session,
        "DB_PASSWORD=hunter2\nAPI=token ghp_0123456789abcdefghijABCDEFGHIJ\n",
    );
    assert_eq!(secret["structuredContent"]["ingested"], 1);
    let stored = session.call("query_facts", json!({"subject": "host:web-1"}));
    let text = stored["structuredContent"].to_string();
    assert!(
        !text.contains("hunter2") && !text.contains("ghp_0123456789"),
        "{text}"
    );
    let too_big = session.call(
        "ingest_observation",
        json!({"collector": "probe", "subject": "host:web-1", "raw": "x".repeat(4_194_305)}),
    );
    assert_eq!(refusal_code(&too_big), Some("invalid-arguments"));
    let empty_subject = session.call(
        "ingest_observation",
        json!({"collector": "probe", "subject": "", "raw": "A=1"}),
    );
    assert_eq!(refusal_code(&empty_subject), Some("invalid-arguments"));
    let bad_collector = session.call(
        "ingest_observation",
        json!({"collector": "nmap", "subject": "h", "raw": ""}),
    );
    assert_eq!(refusal_code(&bad_collector), Some("invalid-arguments"));
    assert_eq!(session.finish().0, 0);
    let database = std::fs::read(directory.database()).unwrap();
    let wal = std::fs::read(directory.state().join("praxis.db-wal")).unwrap_or_default();
    assert!(!String::from_utf8_lossy(&[database, wal].concat()).contains("hunter2"));
}

#[test]
fn osquery_rows_become_typed_facts_for_the_model() {
    let directory = StateDir::initialised("facts-osquery");
    let mut session = Session::initialised(&directory);
    let rows = json!([
        {"name": "openssh-server", "version": "1:9.2p1-2+deb12u3", "arch": "amd64"},
        {"name": "nginx", "version": "1.22.1-9", "arch": "amd64"},
        {"name": "curl", "version": "7.88.1-10+deb12u5", "arch": "amd64"}
    ]);
    let ingested = session.call(
        "ingest_observation",
        json!({"collector": "osquery", "subject": "host:web-1", "raw": rows.to_string(), "predicate": "deb_packages"}),
    );
    assert_eq!(ingested["isError"], false, "{ingested}");
    let facts = session.call("query_facts", json!({"subject": "host:web-1"}));
    let predicates: Vec<&str> = facts["structuredContent"]["facts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|fact| fact["predicate"].as_str())
        .collect();
    assert!(predicates.contains(&"deb_packages"), "{predicates:?}");
    assert!(predicates.contains(&"package:nginx"), "{predicates:?}");
    let nginx = facts["structuredContent"]["facts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|fact| fact["predicate"] == "package:nginx")
        .unwrap();
    assert_eq!(nginx["value"]["version"], "1.22.1-9");
    let malformed = session.call(
        "ingest_observation",
        json!({"collector": "osquery", "subject": "host:web-1", "raw": "[[[[{\"broken\""}),
    );
    assert_eq!(malformed["structuredContent"]["ingested"], 0, "{malformed}");
    assert_eq!(session.finish().0, 0);
}

#[test]
fn blessing_turns_observed_facts_into_a_known_good_baseline_from_a_terminal_only() {
    let directory = StateDir::initialised("bless");
    let ports = |session: &mut Session, rows: &str| {
        let answer = session.call(
            "ingest_observation",
            json!({"collector": "osquery", "subject": "host:web-1", "raw": rows, "predicate": "listening_ports"}),
        );
        assert_eq!(refusal_code(&answer), None, "{answer}");
    };
    let mut session = Session::initialised(&directory);
    ports(
        &mut session,
        r#"[{"port": "22", "protocol": "6", "address": "0.0.0.0"}, {"port": "80", "protocol": "6", "address": "0.0.0.0"}]"#,
    );
    assert_eq!(session.finish().0, 0);
    let known_good = |directory: &StateDir| {
        let output = directory.run(&["fleet", "show", "web-1", "--json"]);
        let mut predicates: Vec<String> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|version| version["fact_type"] == "known_good")
            .filter_map(|version| version["predicate"].as_str().map(str::to_owned))
            .collect();
        predicates.sort();
        predicates
    };

    let refused = directory.run(&["drift", "bless", "host:web-1"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        known_good(&directory).is_empty(),
        "nothing blessed without a terminal"
    );
    let blessed = crate::support::run_in_terminal(
        &directory,
        "drift bless host:web-1 --predicates port:tcp/22,port:tcp/80 --reason first",
    );
    assert!(blessed.status.success(), "{blessed:?}");
    assert_eq!(known_good(&directory), ["port:tcp/22", "port:tcp/80"]);

    // The host changes: 22 closes, 8080 opens, port 80's address changes. Blessing one
    // predicate changes just that one; blessing everything makes the baseline the observed
    // state.
    let mut session = Session::initialised(&directory);
    ports(
        &mut session,
        r#"[{"port": "80", "protocol": "6", "address": "127.0.0.1"}, {"port": "8080", "protocol": "6", "address": "0.0.0.0"}]"#,
    );
    assert_eq!(session.finish().0, 0);
    let one = crate::support::run_in_terminal(
        &directory,
        "drift bless host:web-1 --predicates port:tcp/8080",
    );
    assert!(one.status.success(), "{one:?}");
    assert_eq!(
        known_good(&directory),
        ["port:tcp/22", "port:tcp/80", "port:tcp/8080"]
    );
    // Port 22 closed in the second snapshot, so blessing everything drops it from the baseline.
    let all = crate::support::run_in_terminal(&directory, "drift bless host:web-1");
    assert!(all.status.success(), "{all:?}");
    assert_eq!(
        known_good(&directory),
        ["listening_ports", "port:tcp/80", "port:tcp/8080"]
    );
    let shown = directory.run(&["drift", "show", "host:web-1", "--json"]);
    let versions: Vec<Value> = String::from_utf8_lossy(&shown.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(
        versions
            .iter()
            .all(|version| version["fact_type"] == "known_good"),
        "{versions:?}"
    );
    assert!(
        versions
            .iter()
            .any(|version| version["predicate"] == "port:tcp/80"
                && version["value"]["address"] == "0.0.0.0"
                && !version["valid_to"].is_null()),
        "re-blessing superseded port 80's old value and kept it in the history: {versions:?}"
    );
    let blessings = directory
        .records()
        .iter()
        .filter(|record| record["tool"] == "cli.drift-bless")
        .count();
    assert_eq!(blessings, 3);
}

#[test]
fn a_complete_snapshot_ends_the_facts_it_no_longer_reports() {
    let directory = StateDir::initialised("snapshot");
    let mut session = Session::initialised(&directory);
    let ports = |session: &mut Session, rows: &str, predicate: &str| {
        let answer = session.call(
            "ingest_observation",
            json!({"collector": "osquery", "subject": "host:web-1", "raw": rows, "predicate": predicate}),
        );
        assert_eq!(refusal_code(&answer), None, "{answer}");
        answer["structuredContent"].clone()
    };
    let current = |session: &mut Session| {
        let facts = session.call(
            "query_facts",
            json!({"subject": "host:web-1", "fact_type": "observed"}),
        );
        let mut predicates: Vec<String> = facts["structuredContent"]["facts"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|fact| fact["predicate"].as_str().map(str::to_owned))
            .filter(|predicate| predicate.starts_with("port:"))
            .collect();
        predicates.sort();
        predicates
    };
    let both = r#"[{"port": "22", "protocol": "6", "address": "0.0.0.0"}, {"port": "80", "protocol": "6", "address": "0.0.0.0"}]"#;
    ports(&mut session, both, "listening_ports");
    assert_eq!(current(&mut session), ["port:tcp/22", "port:tcp/80"]);
    let while_open =
        session.call("server_status", json!({}))["structuredContent"]["version"].clone();
    assert!(while_open.is_string());
    let between = praxis::clock::SystemClock::default();
    let between = praxis::clock::Clock::now(&between).to_string();
    // Port 80 closes: the next snapshot ends its fact; an as-of query before still has it.
    let closed = ports(
        &mut session,
        r#"[{"port": "22", "protocol": "6", "address": "0.0.0.0"}]"#,
        "listening_ports",
    );
    assert_eq!(closed["closed"], 1, "{closed}");
    assert_eq!(closed["closed_predicates"], json!(["port:tcp/80"]));
    assert_eq!(current(&mut session), ["port:tcp/22"]);
    let then = session.call(
        "query_facts",
        json!({"subject": "host:web-1", "fact_type": "observed", "as_of_valid": between}),
    );
    assert!(then.to_string().contains("port:tcp/80"), "{then}");
    // Malformed input, or a table that is not a full snapshot, ends nothing.
    ports(&mut session, "not json", "listening_ports");
    ports(&mut session, "[]", "osquery");
    assert_eq!(current(&mut session), ["port:tcp/22"]);
    // An empty snapshot: nothing listens any more.
    let empty = ports(&mut session, "[]", "listening_ports");
    assert_eq!(empty["closed"], 1, "{empty}");
    assert!(current(&mut session).is_empty());
    assert_eq!(session.finish().0, 0);
    assert_eq!(directory.verify().0, 0);
}
