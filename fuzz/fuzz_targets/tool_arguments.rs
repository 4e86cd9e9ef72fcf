//! Fuzzes tool-argument deserialisation for every tool: never a panic, only typed errors.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(arguments) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    for tool in ["server_status", "audit_verify", "emergency_stop", "unknown"] {
        drop(praxis::transport::parse_tool_arguments(tool, &arguments));
    }
});
