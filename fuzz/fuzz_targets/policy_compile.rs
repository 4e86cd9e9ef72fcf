//! Fuzzes the policy parser and compiler: any text compiles or yields diagnostics.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    if let Ok(policy) = praxis::policy::Policy::compile(&[("fuzz.toml".to_owned(), text)]) {
        // A compiled policy classifies anything without failing, and never below T0's floor
        // for unlisted tools.
        let classification = policy.classify("\u{0}not-a-tool");
        assert_eq!(classification.tier, praxis::policy::Tier::T2);
    }
});
