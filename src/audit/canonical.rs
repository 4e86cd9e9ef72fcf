//! Canonical JSON bytes for hashing, in the style of RFC 8785 (JCS).
//!
//! Invariants:
//! - Object keys are sorted by their UTF-16 code units, as RFC 8785 requires.
//! - Strings escape only `"`, `\` and control characters (short forms where JSON has them,
//!   otherwise `\u00xx` in lowercase hex); everything else is written as raw UTF-8.
//! - The only numbers written as numbers are integers in the I-JSON safe range
//!   (|n| ≤ 2^53 − 1), whose RFC 8785 form is their plain decimal form. Every other number
//!   (big integers, fractions) is written as a JSON string holding `serde_json`'s rendering of it,
//!   so the form never depends on floating-point formatting.
//!   This makes canonicalisation total and idempotent: `canonical(parse(canonical(v)))` equals
//!   `canonical(v)`, and any RFC 8785 implementation reproduces the bytes of a stored record.
//! - The function does no I/O and cannot fail.

use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

/// The largest integer every JSON implementation represents exactly (2^53 − 1).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Renders `value` canonically.
pub fn to_canonical_string(value: &Value) -> String {
    let mut out = String::with_capacity(256);
    write_value(value, &mut out);
    out
}

/// Appends the canonical form of `value` to `out`.
pub fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => write_number(number, out),
        Value::String(text) => write_string(text, out),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(map, out),
    }
}

/// True when `number` is written as a JSON number (a safe integer) rather than a string.
pub fn is_safe_integer(number: &Number) -> bool {
    if let Some(unsigned) = number.as_u64() {
        unsigned <= MAX_SAFE_INTEGER
    } else if let Some(signed) = number.as_i64() {
        signed.unsigned_abs() <= MAX_SAFE_INTEGER
    } else {
        false
    }
}

fn write_number(number: &Number, out: &mut String) {
    if is_safe_integer(number) {
        out.push_str(&number.to_string());
    } else {
        write_string(&number.to_string(), out);
    }
}

fn write_object(map: &Map<String, Value>, out: &mut String) {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    // serde_json's map is ordered by UTF-8 bytes, which equals UTF-16 order unless a key holds
    // characters above U+FFFF; sort again only when that can matter.
    if entries.iter().any(|(key, _)| !key.is_ascii()) {
        entries.sort_by(|left, right| utf16_order(left.0, right.0));
    }
    out.push('{');
    for (index, (key, item)) in entries.into_iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        write_string(key, out);
        out.push(':');
        write_value(item, out);
    }
    out.push('}');
}

fn utf16_order(left: &str, right: &str) -> Ordering {
    left.encode_utf16().cmp(right.encode_utf16())
}

/// Appends `text` as a canonical JSON string literal.
pub fn write_string(text: &str, out: &mut String) {
    out.reserve(text.len() + 2);
    out.push('"');
    let mut start = 0;
    for (index, byte) in text.bytes().enumerate() {
        let escape: Option<&str> = match byte {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            0x08 => Some("\\b"),
            0x0c => Some("\\f"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0x00..=0x1f => None,
            _ => continue,
        };
        out.push_str(&text[start..index]);
        if let Some(short) = escape {
            out.push_str(short);
        } else {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        start = index + 1;
    }
    out.push_str(&text[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn matches_rfc8785_for_the_values_we_store() {
        let value = json!({
            "b": [1, true, null, "x"],
            "a": {"z": -3, "y": "\u{1}\n\"\\/é€😀"},
            "big": 9_007_199_254_740_993_u64,
            "frac": 1.5,
        });
        assert_eq!(
            to_canonical_string(&value),
            r#"{"a":{"y":"\u0001\n\"\\/é€😀","z":-3},"b":[1,true,null,"x"],"big":"9007199254740993","frac":"1.5"}"#
        );
    }

    #[test]
    fn keys_sort_by_utf16_code_units() {
        // U+FB33 sorts after U+1D11E in UTF-8 byte order but before it in UTF-16 order
        // (the surrogate pair starts with 0xD834, which is less than 0xFB33).
        let value = json!({"\u{fb33}": 1, "\u{1d11e}": 2});
        assert_eq!(
            to_canonical_string(&value),
            "{\"\u{1d11e}\":2,\"\u{fb33}\":1}"
        );
    }

    fn arbitrary_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| json!(f)),
            ".*".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::btree_map(".*", inner, 0..8)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn canonical_form_is_valid_json_and_idempotent(value in arbitrary_json()) {
            let once = to_canonical_string(&value);
            let reparsed: Value = serde_json::from_str(&once).expect("canonical output is JSON");
            prop_assert_eq!(to_canonical_string(&reparsed), once);
        }
    }
}
