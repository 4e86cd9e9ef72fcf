//! Fuzzes what reaches a record: redaction, bounding and canonical JSON of any arguments.
#![no_main]

use praxis::audit::{audit_args, audit_error, canonical};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    drop(audit_error("fuzz", &text));
    let Ok(arguments) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let recorded = canonical::to_canonical_string(&audit_args(&arguments));
    let reparsed: serde_json::Value = serde_json::from_str(&recorded).expect("canonical output is JSON");
    assert_eq!(canonical::to_canonical_string(&reparsed), recorded, "canonical form is idempotent");
});
