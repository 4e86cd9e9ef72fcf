//! Fuzzes what `praxis drift import-plan` and `import-ansible` read, and a baseline file: a
//! terraform plan, an ansible report (found in arbitrary output) and a baseline may be hostile;
//! none of it may panic, and every finding keeps the import's prefix.
#![no_main]

use praxis::drift::{baseline, imports};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(plan) = serde_json::from_str::<serde_json::Value>(&text) {
        if let Ok(findings) = imports::terraform_plan("host:fuzz", &plan) {
            assert!(findings.iter().all(|finding| finding.predicate.starts_with("terraform:")));
            assert!(findings.len() <= imports::MAX_FINDINGS);
        }
    }
    if let Some(report) = praxis::adapters::ansible::parse_report(&text) {
        if let Ok(by_host) = imports::ansible_check("site.yml", &report) {
            assert!(by_host
                .values()
                .flatten()
                .all(|finding| finding.predicate.starts_with("ansible:site.yml:")));
        }
    }
    drop(baseline::parse("fuzz.toml", &text));
});
