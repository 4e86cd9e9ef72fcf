//! Fuzzes command classification: any text parses or is refused, and never panics.
#![no_main]

use std::sync::OnceLock;

use praxis::policy::{Policy, UnknownDefault};

static POLICY: OnceLock<Policy> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let policy = POLICY.get_or_init(|| Policy::default_policy().expect("the default policy compiles"));
    let text = String::from_utf8_lossy(data);
    for adapter in ["ssh", "talosctl", "terraform", "powershell"] {
        let classification = policy.classify_command(adapter, &text, UnknownDefault::Approval);
        // Wrapping never lowers the verdict.
        let wrapped = policy.classify_command(adapter, &format!("sudo {text}"), UnknownDefault::Approval);
        let _ = (classification, wrapped);
    }
});
