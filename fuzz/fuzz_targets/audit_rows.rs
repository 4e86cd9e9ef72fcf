//! Fuzzes the audit-log reader: hostile stored rows never panic the verifier or the exporter.
#![no_main]

use praxis::audit::chain::{StoredRow, Verifier, export_line};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut verifier = Verifier::default();
    for (index, line) in text.lines().enumerate() {
        let split = line.char_indices().nth(64).map_or(line.len(), |(at, _)| at);
        let (hash, body) = line.split_at(split);
        let row = StoredRow {
            seq: i64::try_from(index).unwrap_or(i64::MAX),
            entry_hash: hash.to_owned(),
            body: body.to_owned(),
        };
        drop(export_line(&row));
        if verifier.push(&row).is_err() {
            break;
        }
    }
});
