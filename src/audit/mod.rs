//! The audit trail: a SHA-256 hash chain in the state database.
//!
//! - `canonical`: the canonical JSON bytes that are hashed (RFC 8785 style).
//! - `chain`: pure sealing and verification of records.
//! - `redact`: secrets are removed from arguments and error strings before they are written.
//! - `log`: appends and verifies through the store.
//!
//! Invariants: output bodies are never stored (only `output_sha256` and `output_len`);
//! arguments are redacted, then bounded, before they reach a record; the audit log is the
//! system of record and tracing is diagnostics, and one is never used as the other.

pub mod canonical;
pub mod chain;
pub mod log;
pub mod redact;

use serde_json::{Map, Value};

use crate::digest::Digest;

pub use chain::{AuditDecision, BreakKind, ChainBreak, ChainHead, RecordDraft};
pub use log::{AuditError, AuditLog};

/// Strings longer than this are cut in records (after redaction).
pub const MAX_AUDIT_STRING_BYTES: usize = 1024;
/// How much of a cut string is kept.
pub const KEPT_PREFIX_BYTES: usize = 256;
/// Arrays and objects keep at most this many members in records.
pub const MAX_AUDIT_MEMBERS: usize = 64;
/// Error strings keep at most this many bytes.
pub const MAX_ERROR_BYTES: usize = 500;

/// The form of a call's arguments that goes into a record: redacted, then bounded.
pub fn audit_args(arguments: &Value) -> Value {
    bound(&redact::redact_value(arguments))
}

/// The form of an error message that goes into a record: redacted and cut.
pub fn audit_error(code: &str, message: &str) -> String {
    let redacted = redact::redact_text(message);
    format!("{code}: {}", cut(&redacted, MAX_ERROR_BYTES))
}

/// Cuts `text` to at most `limit` bytes on a character boundary, marking the cut.
pub fn cut(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…[cut: {} bytes]", &text[..end], text.len())
}

/// Bounds a (redacted) value so a record stays small whatever the caller sent: long strings
/// keep a prefix plus the length and hash of the whole, big arrays and objects keep their
/// first members, and numbers that are not safe integers become strings.
pub fn bound(value: &Value) -> Value {
    match value {
        Value::Null | Value::Bool(_) => value.clone(),
        Value::Number(number) => {
            if canonical::is_safe_integer(number) {
                value.clone()
            } else {
                Value::String(number.to_string())
            }
        }
        Value::String(text) => Value::String(bound_string(text)),
        Value::Array(items) => {
            let mut kept: Vec<Value> = items.iter().take(MAX_AUDIT_MEMBERS).map(bound).collect();
            if items.len() > MAX_AUDIT_MEMBERS {
                kept.push(Value::String(format!(
                    "[cut: {} items in all]",
                    items.len()
                )));
            }
            Value::Array(kept)
        }
        Value::Object(map) => {
            let mut kept: Map<String, Value> = map
                .iter()
                .take(MAX_AUDIT_MEMBERS)
                .map(|(key, item)| (bound_string(key), bound(item)))
                .collect();
            if map.len() > MAX_AUDIT_MEMBERS {
                kept.insert(
                    "[cut]".into(),
                    Value::String(format!("{} keys in all", map.len())),
                );
            }
            Value::Object(kept)
        }
    }
}

fn bound_string(text: &str) -> String {
    if text.len() <= MAX_AUDIT_STRING_BYTES {
        return text.to_owned();
    }
    let mut end = KEPT_PREFIX_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}…[cut: {} bytes, sha256 {}]",
        &text[..end],
        text.len(),
        Digest::of(text.as_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bound_keeps_records_small_and_numbers_canonical() {
        let long = "x".repeat(20_000);
        let many: Vec<u32> = (0..100).collect();
        let bounded = bound(&json!({"long": long, "many": many, "big": 1e300, "n": 7}));
        let text = canonical::to_canonical_string(&bounded);
        assert!(text.len() < 2_000, "{}", text.len());
        assert!(text.contains("[cut: 20000 bytes, sha256 "));
        assert!(text.contains("[cut: 100 items in all]"));
        assert!(text.contains("\"n\":7"));
        assert!(
            text.contains("\"big\":\"1e300\"") || text.contains("\"big\":\"1e+300\""),
            "{text}"
        );
    }

    #[test]
    fn cut_respects_character_boundaries() {
        let text = "é".repeat(400);
        let kept = cut(&text, 501);
        assert!(kept.starts_with(&"é".repeat(250)));
        assert!(kept.ends_with("[cut: 800 bytes]"));
    }
}
