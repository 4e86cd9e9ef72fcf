//! Fuzzes what a host prints: every built-in probe's conversion of its output, then the
//! collector that turns the result into facts, and the ssh mux packets a master sends back.
//! Host output is untrusted; none of it may panic or produce more facts than the cap.
#![no_main]

use praxis::adapters::ssh_mux::parse_packet;
use praxis::collectors::probes::PROBES;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for probe in PROBES {
        let raw = probe.convert(&text);
        let parsed = praxis::collectors::parse(probe.collector, &raw, Some(probe.predicate));
        assert!(parsed.facts.len() <= praxis::collectors::MAX_FACTS_PER_INGEST);
    }
    if let Ok((_, mut reader)) = parse_packet(data) {
        drop(reader.u32());
        drop(reader.string());
    }
});
