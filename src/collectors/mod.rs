//! Telemetry collectors: pure parsers that turn untrusted host output into facts.
//!
//! The model pastes command output (an os-release file, `osqueryi --json` rows, an
//! `aide --check` report, `talosctl get ... -o json` output, CIS scanner JSON) into a tool
//! call, and [`parse`] turns that text into [`ParsedFact`]s about the subject the caller named.
//! Praxis never collects anything itself; every byte handed to a collector is hostile until
//! proven otherwise.
//!
//! Invariants that hold for every collector and every input, however large or strange:
//!
//! - Parsing never panics, never reads outside the input, and never recurses more than a small
//!   fixed depth: JSON nesting beyond the parser's recursion limit is rejected as hostile, and
//!   [`bound_value`] only walks [`MAX_VALUE_DEPTH`] levels before it cuts a subtree.
//! - At most [`MAX_FACTS_PER_INGEST`] facts come back from one call.
//! - Every fact value leaves through [`bound_value`]: no array or object nests deeper than
//!   [`MAX_VALUE_DEPTH`], and no string (object keys included) is longer than
//!   [`MAX_STRING_BYTES`] bytes. [`parse`] applies it to every fact, so no collector can forget.
//! - Every predicate is non-empty, holds no control or bidirectional-formatting characters, and
//!   is at most [`MAX_PREDICATE_BYTES`] bytes long.
//! - Malformed input gives fewer facts, never an error; whatever was dropped or cut is
//!   described in [`Parsed::notes`] so the caller can tell the model.
//! - JSON input may use the bare tokens `NaN`, `Infinity` and `-Infinity`, which become null:
//!   strict parsing is tried first, and only when it fails is a copy with those tokens
//!   (outside string literals) replaced by `null` parsed again.

use serde_json::{Map, Value};

mod aide;
mod cis;
mod osquery;
mod probe;
pub mod probes;
mod talos;

pub use cis::{
    CIS_BENCHMARK_TALOS, CIS_SUPPRESSED_CONTROL_IDS, CisControl, CisScope,
    TALOS_SATISFIED_CONTROL_IDS, cis_controls, normalize_cis_value,
};

/// The most facts one ingest may produce; typed osquery facts count against it too.
pub const MAX_FACTS_PER_INGEST: usize = 10_000;

/// The deepest nesting of arrays and objects a fact value may have; a scalar has depth 0 and
/// each enclosing array or object adds one. Deeper subtrees become [`DEPTH_CUT_MARKER`].
pub const MAX_VALUE_DEPTH: usize = 32;

/// The text that replaces an array or object nested deeper than [`MAX_VALUE_DEPTH`].
pub const DEPTH_CUT_MARKER: &str = "[cut: nesting deeper than 32]";

/// The longest string, in bytes, a fact value may hold, object keys included. Longer strings
/// are cut on a character boundary and end with `…[cut: N bytes]`, where N is the number of
/// bytes removed; the marker counts towards the limit.
pub const MAX_STRING_BYTES: usize = 8192;

/// The longest predicate, in bytes, a fact may carry.
pub const MAX_PREDICATE_BYTES: usize = 256;

/// The most distinct keys the probe collector keeps; later new keys are dropped.
pub const MAX_PROBE_PAIRS: usize = 4096;

/// The longest probe key, in characters; longer keys are cut to this length.
pub const MAX_PROBE_KEY_CHARS: usize = 256;

/// The longest probe value, in characters; longer values are cut to this length.
pub const MAX_PROBE_VALUE_CHARS: usize = 8192;

/// The most paths the aide collector keeps in each of its added, removed and changed lists.
pub const MAX_AIDE_PATHS_PER_LIST: usize = 10_000;

/// The longest non-JSON Talos output, in characters, kept as a status text.
pub const MAX_TALOS_STATUS_CHARS: usize = 4096;

/// The nesting depth at which `serde_json` stops with a recursion error; input that nests this
/// deep and fails to parse is treated as hostile rather than merely malformed.
const JSON_PARSER_NESTING_LIMIT: usize = 128;

/// The collectors a tool call may name.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Collector {
    /// Flat `KEY=VALUE` or `key: value` lines, such as os-release, sysctl or `Get-ComputerInfo`.
    Probe,
    /// `osqueryi --json` output: an array of row objects.
    Osquery,
    /// An `aide --check` report.
    Aide,
    /// `talosctl get ... -o json` output.
    Talos,
    /// CIS baseline control values as JSON.
    Cis,
}

impl Collector {
    /// Every collector, in the order tools list them.
    pub const ALL: [Collector; 5] = [
        Collector::Probe,
        Collector::Osquery,
        Collector::Aide,
        Collector::Talos,
        Collector::Cis,
    ];

    /// The collector's name as tool calls spell it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Collector::Probe => "probe",
            Collector::Osquery => "osquery",
            Collector::Aide => "aide",
            Collector::Talos => "talos",
            Collector::Cis => "cis",
        }
    }

    /// Looks a collector up by name, ignoring surrounding whitespace and ASCII case.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Collector> {
        let trimmed_name = name.trim();
        Collector::ALL
            .into_iter()
            .find(|collector| collector.as_str().eq_ignore_ascii_case(trimmed_name))
    }
}

/// One fact parsed from telemetry, for the subject the caller named.
#[derive(Clone, PartialEq, Debug)]
pub struct ParsedFact {
    /// What the fact is about, such as `probe`, `package:openssh-server` or `cis:talos:<id>`.
    pub predicate: String,
    /// The observed value, already bounded by [`bound_value`].
    pub value: Value,
}

/// What a collector made of its input.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct Parsed {
    /// The facts, at most [`MAX_FACTS_PER_INGEST`] of them.
    pub facts: Vec<ParsedFact>,
    /// Human-readable notes on what was dropped or cut (caps hit, malformed input), for the caller.
    pub notes: Vec<String>,
}

/// Parses `raw` with `collector`. `predicate` is the caller's optional predicate name
/// (collector name when absent; ignored by aide and cis, as in the reference).
///
/// The caller's predicate is sanitised like every other predicate; when nothing usable is
/// left, the collector's name is used instead and a note says so.
#[must_use]
pub fn parse(collector: Collector, raw: &str, predicate: Option<&str>) -> Parsed {
    let mut notes = Vec::new();
    let mut parsed = match collector {
        Collector::Probe => {
            let resolved_predicate = resolve_caller_predicate(collector, predicate, &mut notes);
            probe::parse_probe(raw, resolved_predicate)
        }
        Collector::Osquery => {
            let resolved_predicate = resolve_caller_predicate(collector, predicate, &mut notes);
            osquery::parse_osquery(raw, resolved_predicate)
        }
        Collector::Talos => {
            let resolved_predicate = resolve_caller_predicate(collector, predicate, &mut notes);
            talos::parse_talos(raw, resolved_predicate)
        }
        Collector::Aide => {
            note_ignored_predicate(collector, predicate, &mut notes);
            aide::parse_aide(raw)
        }
        Collector::Cis => {
            note_ignored_predicate(collector, predicate, &mut notes);
            cis::parse_cis(raw)
        }
    };
    notes.append(&mut parsed.notes);
    parsed.notes = notes;
    enforce_output_bounds(&mut parsed);
    parsed
}

/// Applies the crate-wide caps to a collector's output: the fact count, the predicate rules
/// and [`bound_value`] on every value. This is the single exit every fact passes through.
fn enforce_output_bounds(parsed: &mut Parsed) {
    if parsed.facts.len() > MAX_FACTS_PER_INGEST {
        let dropped_fact_count = parsed.facts.len() - MAX_FACTS_PER_INGEST;
        parsed.facts.truncate(MAX_FACTS_PER_INGEST);
        parsed.notes.push(format!(
            "{dropped_fact_count} facts were dropped: one ingest keeps at most {MAX_FACTS_PER_INGEST}"
        ));
    }
    let mut report = BoundReport::default();
    let mut unusable_predicate_count = 0_usize;
    let facts = std::mem::take(&mut parsed.facts);
    for fact in facts {
        let Some(predicate) = sanitize_predicate(&fact.predicate) else {
            unusable_predicate_count += 1;
            continue;
        };
        let value = bound_value_with_report(fact.value, MAX_VALUE_DEPTH, &mut report);
        parsed.facts.push(ParsedFact { predicate, value });
    }
    if unusable_predicate_count > 0 {
        parsed.notes.push(format!(
            "{unusable_predicate_count} facts were dropped because their predicate was empty after sanitising"
        ));
    }
    if report.strings_cut > 0 {
        parsed.notes.push(format!(
            "{} strings longer than {MAX_STRING_BYTES} bytes were cut",
            report.strings_cut
        ));
    }
    if report.subtrees_cut > 0 {
        parsed.notes.push(format!(
            "{} subtrees nested deeper than {MAX_VALUE_DEPTH} levels were replaced by a marker",
            report.subtrees_cut
        ));
    }
}

/// Picks the predicate for collectors that honour the caller's choice: the sanitised caller
/// predicate when one is given and usable, the collector's name otherwise.
fn resolve_caller_predicate(
    collector: Collector,
    caller_predicate: Option<&str>,
    notes: &mut Vec<String>,
) -> String {
    match caller_predicate {
        None => collector.as_str().to_owned(),
        Some(candidate) => sanitize_predicate(candidate).unwrap_or_else(|| {
            notes.push(format!(
                "the given predicate was empty after sanitising, so `{}` was used",
                collector.as_str()
            ));
            collector.as_str().to_owned()
        }),
    }
}

/// Tells the caller that a collector with fixed predicates ignored the one it passed.
fn note_ignored_predicate(
    collector: Collector,
    caller_predicate: Option<&str>,
    notes: &mut Vec<String>,
) {
    if caller_predicate.is_some_and(|candidate| !candidate.trim().is_empty()) {
        notes.push(format!(
            "the {} collector names its own predicates, so the given predicate was ignored",
            collector.as_str()
        ));
    }
}

/// Counts what [`bound_value`] had to cut, so [`parse`] can tell the caller.
#[derive(Default)]
struct BoundReport {
    /// How many strings (values or keys) were longer than [`MAX_STRING_BYTES`].
    strings_cut: usize,
    /// How many arrays or objects sat deeper than [`MAX_VALUE_DEPTH`].
    subtrees_cut: usize,
}

/// Bounds a JSON value for storage: arrays and objects nested deeper than [`MAX_VALUE_DEPTH`]
/// become [`DEPTH_CUT_MARKER`], and strings and object keys longer than [`MAX_STRING_BYTES`]
/// are cut on a character boundary with a `…[cut: N bytes]` marker.
///
/// The walk never goes deeper than [`MAX_VALUE_DEPTH`] plus one levels, whatever the input.
/// Bounding an already bounded value returns it unchanged.
#[must_use]
pub fn bound_value(value: Value) -> Value {
    bound_value_with_report(value, MAX_VALUE_DEPTH, &mut BoundReport::default())
}

/// Does the work of [`bound_value`], allowing `remaining_depth` more levels of nesting below
/// `value` and counting every cut in `report`.
fn bound_value_with_report(
    value: Value,
    remaining_depth: usize,
    report: &mut BoundReport,
) -> Value {
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => value,
        Value::String(text) => Value::String(cut_string_with_report(text, report)),
        Value::Array(items) => {
            let Some(depth_below) = remaining_depth.checked_sub(1) else {
                report.subtrees_cut += 1;
                return Value::String(DEPTH_CUT_MARKER.to_owned());
            };
            Value::Array(
                items
                    .into_iter()
                    .map(|item| bound_value_with_report(item, depth_below, report))
                    .collect(),
            )
        }
        Value::Object(entries) => {
            let Some(depth_below) = remaining_depth.checked_sub(1) else {
                report.subtrees_cut += 1;
                return Value::String(DEPTH_CUT_MARKER.to_owned());
            };
            let mut bounded_entries = Map::new();
            for (key, entry_value) in entries {
                let bounded_key = cut_string_with_report(key, report);
                let bounded_entry = bound_value_with_report(entry_value, depth_below, report);
                bounded_entries.insert(bounded_key, bounded_entry);
            }
            Value::Object(bounded_entries)
        }
    }
}

/// Cuts `text` to at most [`MAX_STRING_BYTES`] bytes, marker included, counting the cut.
fn cut_string_with_report(text: String, report: &mut BoundReport) -> String {
    if text.len() <= MAX_STRING_BYTES {
        return text;
    }
    report.strings_cut += 1;
    // The marker for the whole length has at least as many digits as the final marker, so
    // reserving its length keeps the result within the limit.
    let reserved_marker_bytes = string_cut_marker(text.len()).len();
    let kept_text = truncate_to_bytes(
        &text,
        MAX_STRING_BYTES.saturating_sub(reserved_marker_bytes),
    );
    let removed_bytes = text.len() - kept_text.len();
    let mut cut_text = String::with_capacity(MAX_STRING_BYTES);
    cut_text.push_str(kept_text);
    cut_text.push_str(&string_cut_marker(removed_bytes));
    cut_text
}

/// The marker that ends a string cut by [`bound_value`].
fn string_cut_marker(removed_bytes: usize) -> String {
    format!("…[cut: {removed_bytes} bytes]")
}

/// Cuts `text` to at most `max_chars` characters, returning the kept text and whether
/// anything was removed.
pub(crate) fn truncate_to_chars(text: &str, max_chars: usize) -> (&str, bool) {
    match text.char_indices().nth(max_chars) {
        Some((cut_byte_index, _)) => (text.get(..cut_byte_index).unwrap_or_default(), true),
        None => (text, false),
    }
}

/// Cuts `text` to at most `max_bytes` bytes on a character boundary.
pub(crate) fn truncate_to_bytes(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut kept_bytes = max_bytes;
    while kept_bytes > 0 && !text.is_char_boundary(kept_bytes) {
        kept_bytes -= 1;
    }
    text.get(..kept_bytes).unwrap_or_default()
}

/// Whether a character must never appear in a predicate: control characters, and the
/// invisible formatting characters that can reorder or hide text when it is displayed.
fn is_hidden_character(character: char) -> bool {
    character.is_control()
        || matches!(
            character,
            '\u{061C}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

/// Makes a predicate safe to store: hidden characters are removed, surrounding whitespace is
/// trimmed, and the result is cut to [`MAX_PREDICATE_BYTES`] on a character boundary.
/// Returns `None` when nothing is left.
pub(crate) fn sanitize_predicate(candidate: &str) -> Option<String> {
    let mut sanitized = String::new();
    for character in candidate
        .trim()
        .chars()
        .filter(|character| !is_hidden_character(*character))
    {
        if sanitized.len() + character.len_utf8() > MAX_PREDICATE_BYTES {
            break;
        }
        sanitized.push(character);
    }
    let trimmed = sanitized.trim();
    if trimmed.is_empty() {
        None
    } else if trimmed.len() == sanitized.len() {
        Some(sanitized)
    } else {
        Some(trimmed.to_owned())
    }
}

/// Why JSON input gave no value.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) enum JsonRejection {
    /// The input holds nothing but whitespace.
    Empty,
    /// Brackets nest at least as deep as the parser's recursion limit: hostile input.
    TooDeep,
    /// Anything else that is not one JSON document, with the parser's explanation.
    Malformed(String),
}

impl JsonRejection {
    /// A note for the caller explaining why no facts came from the input.
    pub(crate) fn note(&self) -> String {
        match self {
            JsonRejection::Empty => "the input was empty, so no facts were produced".to_owned(),
            JsonRejection::TooDeep => format!(
                "the input nests brackets {JSON_PARSER_NESTING_LIMIT} or more levels deep and was rejected as hostile"
            ),
            JsonRejection::Malformed(reason) => {
                format!("the input is not valid JSON ({reason}), so no facts were produced")
            }
        }
    }
}

/// Parses one JSON document, accepting `NaN`, `Infinity` and `-Infinity` as null.
pub(crate) fn parse_json_document(raw: &str) -> Result<Value, JsonRejection> {
    if raw.trim().is_empty() {
        return Err(JsonRejection::Empty);
    }
    match serde_json::from_str::<Value>(raw) {
        Ok(document) => Ok(document),
        Err(strict_error) => {
            if bracket_nesting_reaches(raw, JSON_PARSER_NESTING_LIMIT) {
                return Err(JsonRejection::TooDeep);
            }
            if let Some(replaced) = replace_non_finite_number_tokens(raw)
                && let Ok(document) = serde_json::from_str::<Value>(&replaced)
            {
                return Ok(document);
            }
            Err(JsonRejection::Malformed(strict_error.to_string()))
        }
    }
}

/// Parses whitespace-separated JSON documents, such as the concatenated objects `talosctl`
/// prints, accepting `NaN`, `Infinity` and `-Infinity` as null. Fails unless every byte
/// belongs to a document.
pub(crate) fn parse_json_stream(raw: &str) -> Result<Vec<Value>, JsonRejection> {
    if raw.trim().is_empty() {
        return Err(JsonRejection::Empty);
    }
    if bracket_nesting_reaches(raw, JSON_PARSER_NESTING_LIMIT) {
        return Err(JsonRejection::TooDeep);
    }
    let strict_attempt = collect_json_stream(raw);
    match strict_attempt {
        Ok(documents) => Ok(documents),
        Err(strict_error) => {
            if let Some(replaced) = replace_non_finite_number_tokens(raw)
                && let Ok(documents) = collect_json_stream(&replaced)
            {
                return Ok(documents);
            }
            Err(JsonRejection::Malformed(strict_error.to_string()))
        }
    }
}

/// Reads every JSON document in `text`, stopping at the first error.
fn collect_json_stream(text: &str) -> Result<Vec<Value>, serde_json::Error> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .collect()
}

/// Whether `[` and `{` outside string literals nest `limit` or more levels deep at any point.
/// The scan is iterative, so it is safe on any input.
fn bracket_nesting_reaches(text: &str, limit: usize) -> bool {
    let mut depth = 0_usize;
    let mut inside_string = false;
    let mut previous_was_backslash = false;
    for byte in text.bytes() {
        if inside_string {
            if previous_was_backslash {
                previous_was_backslash = false;
            } else if byte == b'\\' {
                previous_was_backslash = true;
            } else if byte == b'"' {
                inside_string = false;
            }
            continue;
        }
        match byte {
            b'"' => inside_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth >= limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// The non-finite number tokens some JSON writers emit, longest first so `-Infinity` wins
/// over a bare minus sign.
const NON_FINITE_NUMBER_TOKENS: [&str; 3] = ["-Infinity", "Infinity", "NaN"];

/// Returns a copy of `text` with bare `NaN`, `Infinity` and `-Infinity` tokens outside string
/// literals replaced by `null`, or `None` when there was nothing to replace.
fn replace_non_finite_number_tokens(text: &str) -> Option<String> {
    if !text.contains("NaN") && !text.contains("Infinity") {
        return None;
    }
    let bytes = text.as_bytes();
    let mut rewritten = String::with_capacity(text.len());
    let mut copied_up_to = 0_usize;
    let mut index = 0_usize;
    let mut inside_string = false;
    let mut replaced_any = false;
    while let Some(&byte) = bytes.get(index) {
        if inside_string {
            match byte {
                // An escape consumes the next byte too, so `\"` never ends the string.
                b'\\' => index += 2,
                b'"' => {
                    inside_string = false;
                    index += 1;
                }
                _ => index += 1,
            }
            continue;
        }
        if byte == b'"' {
            inside_string = true;
            index += 1;
            continue;
        }
        let remaining = text.get(index..).unwrap_or_default();
        let preceded_by_word = index
            .checked_sub(1)
            .and_then(|previous| bytes.get(previous))
            .is_some_and(|previous_byte| is_word_byte(*previous_byte));
        let matched_token = NON_FINITE_NUMBER_TOKENS.into_iter().find(|token| {
            remaining.starts_with(token)
                && !bytes
                    .get(index + token.len())
                    .is_some_and(|next_byte| is_word_byte(*next_byte))
        });
        match matched_token {
            Some(token) if !preceded_by_word => {
                rewritten.push_str(text.get(copied_up_to..index).unwrap_or_default());
                rewritten.push_str("null");
                index += token.len();
                copied_up_to = index;
                replaced_any = true;
            }
            Some(_) | None => index += 1,
        }
    }
    if !replaced_any {
        return None;
    }
    rewritten.push_str(text.get(copied_up_to..).unwrap_or_default());
    Some(rewritten)
}

/// Whether a byte can continue an identifier-like token, so a match next to it is not a
/// whole token.
fn is_word_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// The depth of a value: 0 for a scalar, one more than its deepest child for a container.
    pub(crate) fn value_depth(value: &Value) -> usize {
        match value {
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => 0,
            Value::Array(items) => 1 + items.iter().map(value_depth).max().unwrap_or(0),
            Value::Object(entries) => 1 + entries.values().map(value_depth).max().unwrap_or(0),
        }
    }

    /// The longest string or key anywhere in a value, in bytes.
    pub(crate) fn longest_string_bytes(value: &Value) -> usize {
        match value {
            Value::Null | Value::Bool(_) | Value::Number(_) => 0,
            Value::String(text) => text.len(),
            Value::Array(items) => items.iter().map(longest_string_bytes).max().unwrap_or(0),
            Value::Object(entries) => entries
                .iter()
                .map(|(key, entry)| key.len().max(longest_string_bytes(entry)))
                .max()
                .unwrap_or(0),
        }
    }

    /// Checks every invariant the module documentation promises about a collector's output.
    pub(crate) fn assert_parsed_within_caps(parsed: &Parsed) {
        assert!(parsed.facts.len() <= MAX_FACTS_PER_INGEST);
        for fact in &parsed.facts {
            assert!(!fact.predicate.is_empty());
            assert!(fact.predicate.len() <= MAX_PREDICATE_BYTES);
            assert!(!fact.predicate.chars().any(is_hidden_character));
            assert!(value_depth(&fact.value) <= MAX_VALUE_DEPTH);
            assert!(longest_string_bytes(&fact.value) <= MAX_STRING_BYTES);
        }
    }

    /// Text `depth` levels of nested arrays deep, closed properly.
    pub(crate) fn nested_arrays(depth: usize) -> String {
        format!("{}{}", "[".repeat(depth), "]".repeat(depth))
    }

    /// Arbitrary JSON values, some of them nested deeper than [`MAX_VALUE_DEPTH`].
    pub(crate) fn arbitrary_json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            any::<String>().prop_map(Value::String),
            "[a-z_]{1,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(40, 256, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z_]{1,10}|.*", inner, 0..4)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
    }

    /// Arbitrary input text: any Unicode, lossily decoded bytes, JSON-looking noise, line
    /// noise, and serialised JSON values.
    pub(crate) fn arbitrary_input_text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            proptest::collection::vec(any::<u8>(), 0..2048)
                .prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
            "[\\[\\]{}\",:0-9a-zNIfinty\\\\ \n=#.-]{0,300}",
            "([A-Za-z_ /#+-]{0,20}[=:]?[ \"a-z0-9/.:=-]{0,30}\n){0,20}",
            arbitrary_json_value().prop_map(|value| value.to_string()),
        ]
    }

    #[test]
    fn collector_names_round_trip() {
        for collector in Collector::ALL {
            assert_eq!(Collector::from_name(collector.as_str()), Some(collector));
        }
        assert_eq!(Collector::from_name(" OSQuery "), Some(Collector::Osquery));
        assert_eq!(Collector::from_name("nmap"), None);
        assert_eq!(Collector::from_name(""), None);
    }

    #[test]
    fn depth_cut_marker_names_the_depth_limit() {
        assert_eq!(
            DEPTH_CUT_MARKER,
            format!("[cut: nesting deeper than {MAX_VALUE_DEPTH}]")
        );
    }

    #[test]
    fn bound_value_cuts_deep_subtrees_at_the_limit() {
        let mut deep = json!("leaf");
        for _ in 0..(MAX_VALUE_DEPTH + 5) {
            deep = json!([deep]);
        }
        let bounded = bound_value(deep);
        assert_eq!(value_depth(&bounded), MAX_VALUE_DEPTH);
        let mut cursor = &bounded;
        for _ in 0..MAX_VALUE_DEPTH {
            cursor = &cursor[0];
        }
        assert_eq!(cursor, &json!(DEPTH_CUT_MARKER));
    }

    #[test]
    fn bound_value_keeps_values_at_exactly_the_limit() {
        let mut exact = json!(1);
        for _ in 0..MAX_VALUE_DEPTH {
            exact = json!({ "k": exact });
        }
        assert_eq!(bound_value(exact.clone()), exact);
    }

    #[test]
    fn bound_value_cuts_long_strings_on_a_char_boundary_with_a_marker() {
        let long_text = "é".repeat(MAX_STRING_BYTES);
        let bounded = bound_value(json!({ long_text.clone(): long_text }));
        assert!(longest_string_bytes(&bounded) <= MAX_STRING_BYTES);
        let (key, value) = bounded.as_object().unwrap().iter().next().unwrap();
        let value_text = value.as_str().unwrap();
        assert!(value_text.starts_with("éé"));
        let kept = value_text.split('…').next().unwrap();
        let removed = 2 * MAX_STRING_BYTES - kept.len();
        assert!(value_text.ends_with(&format!("…[cut: {removed} bytes]")));
        assert_eq!(key, value_text);
    }

    #[test]
    fn bound_value_leaves_short_strings_alone() {
        let exact = "x".repeat(MAX_STRING_BYTES);
        assert_eq!(bound_value(json!(exact.clone())), json!(exact));
    }

    #[test]
    fn sanitize_predicate_removes_hidden_characters_and_caps_length() {
        assert_eq!(
            sanitize_predicate(" pack\u{0}age\n:\u{202E}x\t").as_deref(),
            Some("package:x")
        );
        assert_eq!(sanitize_predicate("\u{1}\u{7f}\n "), None);
        assert_eq!(sanitize_predicate(""), None);
        let long = sanitize_predicate(&"ü".repeat(1000)).unwrap();
        assert!(long.len() <= MAX_PREDICATE_BYTES);
        assert_eq!(long.len(), MAX_PREDICATE_BYTES);
    }

    #[test]
    fn non_finite_tokens_become_null_outside_strings_only() {
        let parsed = parse_json_document(
            r#"{"a": NaN, "b": [Infinity, -Infinity], "c": "NaN Infinity \" -Infinity"}"#,
        )
        .unwrap();
        assert_eq!(
            parsed,
            json!({"a": null, "b": [null, null], "c": "NaN Infinity \" -Infinity"})
        );
    }

    #[test]
    fn identifier_like_words_containing_nan_stay_malformed() {
        assert!(matches!(
            parse_json_document("[NaNa]"),
            Err(JsonRejection::Malformed(_))
        ));
        assert!(matches!(
            parse_json_document("[xInfinity]"),
            Err(JsonRejection::Malformed(_))
        ));
    }

    #[test]
    fn hostile_nesting_is_rejected_without_overflowing_the_stack() {
        assert_eq!(
            parse_json_document(&"[".repeat(100_000)),
            Err(JsonRejection::TooDeep)
        );
        assert_eq!(
            parse_json_document(&nested_arrays(100_000)),
            Err(JsonRejection::TooDeep)
        );
        assert_eq!(
            parse_json_stream(&nested_arrays(100_000)),
            Err(JsonRejection::TooDeep)
        );
    }

    #[test]
    fn empty_and_malformed_json_are_told_apart() {
        assert_eq!(parse_json_document(" \n"), Err(JsonRejection::Empty));
        assert!(matches!(
            parse_json_document("{\"a\":"),
            Err(JsonRejection::Malformed(_))
        ));
    }

    #[test]
    fn json_streams_parse_concatenated_documents() {
        let documents = parse_json_stream("{\"a\":1}\n{\"b\":NaN}").unwrap();
        assert_eq!(documents, vec![json!({"a": 1}), json!({"b": null})]);
        assert!(parse_json_stream("{\"a\":1} garbage").is_err());
    }

    #[test]
    fn unusable_caller_predicates_fall_back_to_the_collector_name() {
        let parsed = parse(Collector::Probe, "A=1", Some("\u{0}\n"));
        assert_eq!(parsed.facts[0].predicate, "probe");
        assert!(!parsed.notes.is_empty());
        let parsed = parse(Collector::Probe, "A=1", Some(" os_release "));
        assert_eq!(parsed.facts[0].predicate, "os_release");
    }

    #[test]
    fn truncate_to_chars_counts_characters_not_bytes() {
        assert_eq!(truncate_to_chars("héllo", 2), ("hé", true));
        assert_eq!(truncate_to_chars("hé", 2), ("hé", false));
        assert_eq!(truncate_to_chars("", 0), ("", false));
    }

    proptest! {
        #[test]
        fn bound_value_always_satisfies_the_caps_and_is_idempotent(value in arbitrary_json_value()) {
            let bounded = bound_value(value);
            prop_assert!(value_depth(&bounded) <= MAX_VALUE_DEPTH);
            prop_assert!(longest_string_bytes(&bounded) <= MAX_STRING_BYTES);
            prop_assert_eq!(bound_value(bounded.clone()), bounded);
        }

        #[test]
        fn every_collector_respects_the_caps_on_arbitrary_text(
            raw in arbitrary_input_text(),
            predicate in proptest::option::of(any::<String>()),
        ) {
            for collector in Collector::ALL {
                let parsed = parse(collector, &raw, predicate.as_deref());
                assert_parsed_within_caps(&parsed);
            }
        }

        #[test]
        fn non_finite_replacement_never_panics(raw in arbitrary_input_text()) {
            let _ = replace_non_finite_number_tokens(&raw);
            let _ = bracket_nesting_reaches(&raw, JSON_PARSER_NESTING_LIMIT);
        }
    }
}
