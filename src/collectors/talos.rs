//! The talos collector: `talosctl get ... -o json` output becomes one fact.
//!
//! The predicate is the caller's (or `talos`). The value follows the reference system:
//!
//! - Input that is empty or only whitespace gives no fact.
//! - A JSON array gives `{"items": [...], "count": N}`, keeping the array's objects in order
//!   (other items are dropped) with N the number kept. At most [`MAX_FACTS_PER_INGEST`] items
//!   are kept; when more arrive, the value also carries `"omitted": <items cut>`.
//! - A JSON object is stored as it is.
//! - Any other JSON value `x` gives `{"value": x}`.
//! - As an addition, a stream of two or more JSON objects separated by whitespace, which is
//!   what `talosctl get` really prints for several resources, is treated like an array.
//! - Anything else gives `{"status": <text>}`: the trimmed text, cut to
//!   [`MAX_TALOS_STATUS_CHARS`] characters plus `...[truncated]` when longer. When multi-byte
//!   characters would push the cut text and marker past [`MAX_STRING_BYTES`], the text is cut
//!   further so the marker always survives.
//! - Input nesting brackets beyond the JSON parser's recursion limit is hostile and gives no
//!   fact, as in the reference, rather than a status text.
//!
//! Invariant: at most one fact, and never a failure.

use serde_json::{Map, Value};

use super::{
    JsonRejection, MAX_FACTS_PER_INGEST, MAX_STRING_BYTES, MAX_TALOS_STATUS_CHARS, Parsed,
    ParsedFact, parse_json_document, parse_json_stream, truncate_to_bytes, truncate_to_chars,
};

/// The marker appended to a status text cut to [`MAX_TALOS_STATUS_CHARS`].
const STATUS_TRUNCATION_MARKER: &str = "...[truncated]";

/// Parses `talosctl` output into at most one fact named `predicate`.
pub(super) fn parse_talos(raw: &str, predicate: String) -> Parsed {
    let mut notes = Vec::new();
    let value = match parse_json_document(raw) {
        Ok(Value::Array(items)) => items_value(items, &mut notes),
        Ok(Value::Object(object)) => Value::Object(object),
        Ok(scalar @ (Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_))) => {
            let mut wrapper = Map::new();
            wrapper.insert("value".to_owned(), scalar);
            Value::Object(wrapper)
        }
        Err(JsonRejection::Empty) => {
            notes.push(JsonRejection::Empty.note());
            return Parsed {
                facts: Vec::new(),
                notes,
            };
        }
        Err(JsonRejection::TooDeep) => {
            notes.push(JsonRejection::TooDeep.note());
            return Parsed {
                facts: Vec::new(),
                notes,
            };
        }
        Err(JsonRejection::Malformed(_)) => match object_stream(raw) {
            Some(objects) => items_value(objects, &mut notes),
            None => status_value(raw, &mut notes),
        },
    };
    Parsed {
        facts: vec![ParsedFact { predicate, value }],
        notes,
    }
}

/// The objects of a whitespace-separated JSON stream, when it holds at least two documents
/// and every one of them is an object.
fn object_stream(raw: &str) -> Option<Vec<Value>> {
    let documents = parse_json_stream(raw).ok()?;
    let every_document_is_an_object =
        documents.len() >= 2 && documents.iter().all(Value::is_object);
    every_document_is_an_object.then_some(documents)
}

/// Builds `{"items": [...], "count": N}` from a list, keeping objects only, within the cap.
fn items_value(items: Vec<Value>, notes: &mut Vec<String>) -> Value {
    let item_count = items.len();
    let mut objects: Vec<Value> = items.into_iter().filter(Value::is_object).collect();
    if objects.len() < item_count {
        notes.push(format!(
            "{} list items were not objects and were dropped",
            item_count - objects.len()
        ));
    }
    let omitted_count = objects.len().saturating_sub(MAX_FACTS_PER_INGEST);
    let mut value = Map::new();
    if omitted_count > 0 {
        objects.truncate(MAX_FACTS_PER_INGEST);
        notes.push(format!(
            "{omitted_count} items were dropped: one ingest keeps at most {MAX_FACTS_PER_INGEST} items"
        ));
        value.insert("omitted".to_owned(), Value::from(omitted_count));
    }
    value.insert("count".to_owned(), Value::from(objects.len()));
    value.insert("items".to_owned(), Value::Array(objects));
    Value::Object(value)
}

/// Builds `{"status": <text>}` from non-JSON output, cutting long text with a marker.
fn status_value(raw: &str, notes: &mut Vec<String>) -> Value {
    let (kept_text, was_cut) = truncate_to_chars(raw.trim(), MAX_TALOS_STATUS_CHARS);
    let mut status_text = if was_cut {
        // Multi-byte characters could push the text past the string cap, which would cut the
        // marker away, so the text also leaves room for the marker within the byte limit.
        truncate_to_bytes(kept_text, MAX_STRING_BYTES - STATUS_TRUNCATION_MARKER.len()).to_owned()
    } else {
        kept_text.to_owned()
    };
    if was_cut {
        status_text.push_str(STATUS_TRUNCATION_MARKER);
        notes.push(format!(
            "the non-JSON output was cut to {MAX_TALOS_STATUS_CHARS} characters"
        ));
    }
    let mut value = Map::new();
    value.insert("status".to_owned(), Value::String(status_text));
    Value::Object(value)
}

#[cfg(test)]
mod tests {
    use crate::collectors::tests::{
        arbitrary_input_text, arbitrary_json_value, assert_parsed_within_caps, nested_arrays,
    };
    use crate::collectors::{Collector, MAX_FACTS_PER_INGEST, MAX_STRING_BYTES, Parsed, parse};
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    fn talos(raw: &str) -> Parsed {
        let parsed = parse(Collector::Talos, raw, None);
        assert_parsed_within_caps(&parsed);
        parsed
    }

    const TALOSCTL_GET_MEMBERS: &str = r#"{
    "node": "172.20.0.2",
    "metadata": {
        "namespace": "cluster",
        "type": "Members.cluster.talos.dev",
        "id": "talos-default-controlplane-1",
        "version": 2,
        "owner": "cluster.MemberController",
        "phase": "running",
        "created": "2024-05-01T10:00:00Z",
        "updated": "2024-05-01T10:05:00Z"
    },
    "spec": {
        "nodeId": "Gh4kH2aYbVLAvS5qXk2Kq5Yc0Tjx8h3mYKX0tG8bSb6",
        "addresses": ["172.20.0.2"],
        "hostname": "talos-default-controlplane-1",
        "machineType": "controlplane",
        "operatingSystem": "Talos (v1.7.0)"
    }
}
{
    "node": "172.20.0.2",
    "metadata": {
        "namespace": "cluster",
        "type": "Members.cluster.talos.dev",
        "id": "talos-default-worker-1",
        "version": 1,
        "owner": "cluster.MemberController",
        "phase": "running"
    },
    "spec": {
        "addresses": ["172.20.0.3"],
        "hostname": "talos-default-worker-1",
        "machineType": "worker",
        "operatingSystem": "Talos (v1.7.0)"
    }
}
"#;

    #[test]
    fn talosctl_get_members_stream_becomes_items() {
        let parsed = parse(
            Collector::Talos,
            TALOSCTL_GET_MEMBERS,
            Some("talos:members"),
        );
        assert_parsed_within_caps(&parsed);
        assert_eq!(parsed.facts.len(), 1);
        assert_eq!(parsed.facts[0].predicate, "talos:members");
        let value = &parsed.facts[0].value;
        assert_eq!(value["count"], 2);
        assert_eq!(value["items"][1]["spec"]["machineType"], "worker");
    }

    #[test]
    fn a_single_resource_object_is_stored_as_is() {
        let single = TALOSCTL_GET_MEMBERS
            .split("\n}\n")
            .next()
            .unwrap()
            .to_owned()
            + "\n}";
        let parsed = talos(&single);
        assert_eq!(parsed.facts[0].predicate, "talos");
        assert_eq!(
            parsed.facts[0].value["metadata"]["id"],
            "talos-default-controlplane-1"
        );
    }

    #[test]
    fn arrays_keep_objects_and_scalars_are_wrapped() {
        let parsed = talos("[{\"a\":1}, 2, \"x\", {\"b\":2}]");
        assert_eq!(
            parsed.facts[0].value,
            json!({"items": [{"a": 1}, {"b": 2}], "count": 2})
        );
        assert!(
            parsed
                .notes
                .iter()
                .any(|note| note.contains("2 list items"))
        );
        assert_eq!(talos("42").facts[0].value, json!({"value": 42}));
        assert_eq!(talos("\"up\"").facts[0].value, json!({"value": "up"}));
        assert_eq!(talos("null").facts[0].value, json!({"value": null}));
    }

    #[test]
    fn empty_input_gives_no_fact() {
        for raw in ["", " \n\t"] {
            let parsed = talos(raw);
            assert!(parsed.facts.is_empty());
            assert_eq!(parsed.notes.len(), 1);
        }
    }

    #[test]
    fn non_json_becomes_a_status_text() {
        let parsed = talos("  error: rpc error: code = Unavailable desc = connection refused\n");
        assert_eq!(
            parsed.facts[0].value,
            json!({"status": "error: rpc error: code = Unavailable desc = connection refused"})
        );
        let parsed = talos("{\"a\":1} {\"b\":");
        assert!(parsed.facts[0].value["status"].is_string());
        let parsed = talos("1 2 3");
        assert_eq!(parsed.facts[0].value, json!({"status": "1 2 3"}));
    }

    #[test]
    fn long_status_text_is_cut_with_the_reference_marker() {
        let parsed = talos(&"x".repeat(5 * 1024 * 1024));
        let status = parsed.facts[0].value["status"].as_str().unwrap();
        assert!(status.ends_with("...[truncated]"));
        assert_eq!(
            status.len(),
            MAX_TALOS_STATUS_CHARS + STATUS_TRUNCATION_MARKER.len()
        );
        let parsed = talos(&"é".repeat(5 * 1024 * 1024));
        let status = parsed.facts[0].value["status"].as_str().unwrap();
        assert!(status.len() <= MAX_STRING_BYTES);
        assert!(status.ends_with("...[truncated]"));
    }

    #[test]
    fn a_five_megabyte_json_string_is_cut() {
        let parsed = talos(&format!("{{\"spec\":\"{}\"}}", "s".repeat(5 * 1024 * 1024)));
        let spec = parsed.facts[0].value["spec"].as_str().unwrap();
        assert!(spec.len() <= MAX_STRING_BYTES);
        assert!(spec.ends_with("bytes]"));
    }

    #[test]
    fn non_finite_numbers_become_null() {
        let parsed = talos("{\"load\": NaN, \"max\": Infinity}\n{\"min\": -Infinity}");
        assert_eq!(
            parsed.facts[0].value,
            json!({"items": [{"load": null, "max": null}, {"min": null}], "count": 2})
        );
        assert_eq!(talos("NaN").facts[0].value, json!({"value": null}));
    }

    #[test]
    fn hostile_nesting_gives_no_fact() {
        for raw in [
            "[".repeat(100_000),
            nested_arrays(100_000),
            "{\"a\":".repeat(100_000),
        ] {
            let parsed = talos(&raw);
            assert!(parsed.facts.is_empty());
            assert!(parsed.notes[0].contains("hostile"));
        }
    }

    #[test]
    fn deep_but_parseable_values_are_cut_at_the_depth_limit() {
        let parsed = talos(&format!("{{\"x\":{}}}", nested_arrays(100)));
        assert_eq!(parsed.facts.len(), 1);
        assert!(parsed.notes.iter().any(|note| note.contains("subtrees")));
    }

    #[test]
    fn control_characters_in_keys_survive_as_data() {
        let parsed = talos("{\"ke\\u0000y\\n\\u001b\": 1}");
        assert_eq!(parsed.facts[0].value, json!({"ke\u{0}y\n\u{1b}": 1}));
    }

    #[test]
    fn huge_lists_hold_the_cap() {
        let items: Vec<Value> = (0..20_000).map(|index| json!({"id": index})).collect();
        let parsed = talos(&Value::Array(items).to_string());
        let value = &parsed.facts[0].value;
        assert_eq!(value["count"], MAX_FACTS_PER_INGEST);
        assert_eq!(value["omitted"], 10_000);
    }

    proptest! {
        #[test]
        fn talos_never_panics_and_respects_the_caps(raw in arbitrary_input_text()) {
            let parsed = parse(Collector::Talos, &raw, None);
            assert_parsed_within_caps(&parsed);
            prop_assert!(parsed.facts.len() <= 1);
        }

        #[test]
        fn talos_json_values_respect_the_caps(value in arbitrary_json_value()) {
            let parsed = parse(Collector::Talos, &value.to_string(), None);
            assert_parsed_within_caps(&parsed);
        }
    }
}
