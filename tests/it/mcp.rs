//! A real MCP client (the official Python SDK) drives the binary; the tool list is golden.

use std::process::Command;

use serde_json::Value;

use crate::support::{StateDir, binary, support_file};

#[test]
fn the_official_python_sdk_initializes_lists_and_calls_tools() {
    let directory = StateDir::initialised("python-sdk");
    let output = Command::new("python3")
        .arg(support_file("mcp_client.py"))
        .arg(binary())
        .env("PRAXIS_STATE_DIR", directory.state())
        .env("HOME", &directory.root)
        .output()
        .expect("python3 must be installed (make test installs it)");
    assert!(
        output.status.success(),
        "the MCP Python SDK client failed (is `pip install mcp` done?): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["server_name"], "praxis");
    assert_eq!(summary["protocol_version"], "2025-11-25");
    assert_eq!(summary["has_instructions"], true);
    assert_eq!(summary["ping"], true);
    assert_eq!(
        summary["tools"],
        serde_json::json!([
            "approval_status",
            "audit_verify",
            "collect",
            "drift_scan",
            "emergency_stop",
            "explain_action",
            "fact_history",
            "ingest_observation",
            "list_hosts",
            "query_facts",
            "run_action",
            "server_status"
        ])
    );
    assert_eq!(summary["all_have_output_schema"], true);
    assert_eq!(summary["prompts"], serde_json::json!(["drift_triage"]));
    assert_eq!(summary["drift_triage_names_drift_scan"], true);
    assert_eq!(summary["status_is_error"], false);
    assert_eq!(summary["status_mode"], "guarded");
    assert_eq!(summary["unknown_is_error"], true);
    assert_eq!(summary["unknown_code"], "unknown-tool");
    assert_eq!(summary["invalid_code"], "invalid-arguments");
    assert_eq!(summary["verify_ok"], true);
    // The SDK validated every successful structuredContent against its outputSchema.
    let (code, verdict) = directory.verify();
    assert_eq!(code, 0, "{verdict}");
    let records = directory.records();
    let calls: Vec<&Value> = records
        .iter()
        .filter(|record| record["request_id"].is_string())
        .collect();
    assert_eq!(calls.len(), 4, "one record per tools/call: {records:#?}");
}

#[test]
fn the_tool_list_matches_the_golden_file() {
    let golden_path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/tools_list.json");
    let current =
        serde_json::to_string_pretty(&praxis::transport::tools_list_json()).unwrap() + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden_path, &current).unwrap();
    }
    let golden = std::fs::read_to_string(&golden_path).unwrap_or_default();
    assert_eq!(
        golden, current,
        "tools/list changed; review the diff and refresh with UPDATE_GOLDEN=1 cargo test --test it"
    );
}

#[test]
fn newer_protocol_versions_negotiate_and_discover_answers() {
    let directory = StateDir::initialised("protocol");
    let mut session = crate::support::Session::start(&directory);
    let answer = session.request(
        "initialize",
        serde_json::json!({"protocolVersion": "2026-07-28", "capabilities": {}, "clientInfo": {"name": "it", "version": "0"}}),
    );
    let negotiated = answer
        .pointer("/result/protocolVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    assert!(
        negotiated == "2026-07-28" || negotiated == "2025-11-25",
        "{answer}"
    );
    let (code, _) = session.finish();
    assert_eq!(code, 0);

    // The 2026-07-28 era: no initialize; each request carries its protocol metadata.
    let meta = serde_json::json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}
    });
    let mut session = crate::support::Session::start(&directory);
    let discover = session.request("server/discover", serde_json::json!({"_meta": meta}));
    let versions = discover
        .pointer("/result/supportedVersions")
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("{discover}"));
    for version in ["2025-06-18", "2025-11-25", "2026-07-28"] {
        assert!(
            versions.contains(&serde_json::json!(version)),
            "{version} missing: {discover}"
        );
    }
    assert!(
        discover
            .pointer("/result/instructions")
            .and_then(Value::as_str)
            .is_some_and(|text| text.contains("emergency_stop"))
    );
    let listed = session.request("tools/list", serde_json::json!({"_meta": meta}));
    assert_eq!(
        listed
            .pointer("/result/tools")
            .and_then(Value::as_array)
            .map(Vec::len),
        Some(12),
        "{listed}"
    );
    let called = session.request(
        "tools/call",
        serde_json::json!({"name": "server_status", "arguments": {}, "_meta": meta}),
    );
    assert_eq!(
        called.pointer("/result/isError"),
        Some(&serde_json::json!(false)),
        "{called}"
    );
    let missing = session.request(
        "tools/list",
        serde_json::json!({"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}),
    );
    assert_eq!(
        missing.pointer("/error/code"),
        Some(&serde_json::json!(-32602)),
        "{missing}"
    );
    // Stateless 2026-07-28 sessions have no ping (rmcp answers method-not-found); ping in an
    // initialized session is proven by the Python SDK test above.
    let ping = session.request("ping", serde_json::json!({"_meta": meta}));
    assert_eq!(
        ping.pointer("/error/code"),
        Some(&serde_json::json!(-32601)),
        "{ping}"
    );
    let (code, transcript) = session.finish();
    assert_eq!(code, 0);
    for line in &transcript {
        crate::support::assert_json_rpc(line);
    }
}
