//! The probe collector: flat `KEY=VALUE` or `key: value` lines become one flat-map fact.
//!
//! It reads os-release files, `sysctl -a` output, `Get-ComputerInfo` listings and anything
//! else shaped as one pair per line. The rules, which match the reference system:
//!
//! - Lines are split on `\n` (a trailing `\r` is dropped). Each line is trimmed; blank lines
//!   and lines starting with `#` are skipped.
//! - `=` is tried before `:`, and the line is split at the first occurrence of the separator.
//!   Keys and values are trimmed. In the `=` form, `"` characters are stripped from both ends
//!   of the value; as an addition, one pair of surrounding single quotes is stripped too, since
//!   os-release allows them.
//! - Lines with neither separator, or with an empty key, are skipped.
//! - Keys are cut to [`MAX_PROBE_KEY_CHARS`] characters and values to
//!   [`MAX_PROBE_VALUE_CHARS`] characters. A repeated key keeps its last value.
//! - At most [`MAX_PROBE_PAIRS`] distinct keys are kept; lines bringing further new keys are
//!   dropped.
//!
//! Invariant: the collector always emits exactly one fact, whose value is a flat object of
//! strings; an empty or pair-less input gives `{}`. Every cut or skipped line is counted in a
//! note, where the reference cut silently.

use serde_json::{Map, Value};

use super::truncate_to_chars;
use super::{MAX_PROBE_KEY_CHARS, MAX_PROBE_PAIRS, MAX_PROBE_VALUE_CHARS, Parsed, ParsedFact};

/// Tallies of what the probe collector skipped or cut, for the caller's notes.
#[derive(Default)]
struct ProbeTallies {
    /// Lines that held no separator or an empty key.
    lines_without_pair: usize,
    /// Lines dropped because [`MAX_PROBE_PAIRS`] distinct keys were already kept.
    lines_over_pair_cap: usize,
    /// Keys cut to [`MAX_PROBE_KEY_CHARS`].
    keys_cut: usize,
    /// Values cut to [`MAX_PROBE_VALUE_CHARS`].
    values_cut: usize,
}

/// Parses pair-per-line text into one fact named `predicate`.
pub(super) fn parse_probe(raw: &str, predicate: String) -> Parsed {
    let mut pairs = Map::new();
    let mut tallies = ProbeTallies::default();
    for line in raw.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((raw_key, raw_value)) = split_pair(line) else {
            tallies.lines_without_pair += 1;
            continue;
        };
        if raw_key.is_empty() {
            tallies.lines_without_pair += 1;
            continue;
        }
        let (key, key_was_cut) = truncate_to_chars(raw_key, MAX_PROBE_KEY_CHARS);
        let (value, value_was_cut) = truncate_to_chars(raw_value, MAX_PROBE_VALUE_CHARS);
        if pairs.len() >= MAX_PROBE_PAIRS && !pairs.contains_key(key) {
            tallies.lines_over_pair_cap += 1;
            continue;
        }
        tallies.keys_cut += usize::from(key_was_cut);
        tallies.values_cut += usize::from(value_was_cut);
        pairs.insert(key.to_owned(), Value::String(value.to_owned()));
    }
    Parsed {
        facts: vec![ParsedFact {
            predicate,
            value: Value::Object(pairs),
        }],
        notes: tally_notes(&tallies),
    }
}

/// Splits a trimmed line into a trimmed key and value, trying `=` before `:`.
fn split_pair(line: &str) -> Option<(&str, &str)> {
    if let Some((key, value)) = line.split_once('=') {
        return Some((key.trim(), strip_value_quotes(value.trim())));
    }
    line.split_once(':')
        .map(|(key, value)| (key.trim(), value.trim()))
}

/// Strips `"` characters from both ends of a `KEY=VALUE` value, then one pair of surrounding
/// single quotes if present.
fn strip_value_quotes(value: &str) -> &str {
    let without_double_quotes = value.trim_matches('"');
    without_double_quotes
        .strip_prefix('\'')
        .and_then(|rest| rest.strip_suffix('\''))
        .unwrap_or(without_double_quotes)
}

/// Turns the tallies into notes for the caller, one per non-zero tally.
fn tally_notes(tallies: &ProbeTallies) -> Vec<String> {
    let mut notes = Vec::new();
    if tallies.lines_without_pair > 0 {
        notes.push(format!(
            "{} lines had no `=` or `:` separator or an empty key and were skipped",
            tallies.lines_without_pair
        ));
    }
    if tallies.lines_over_pair_cap > 0 {
        notes.push(format!(
            "{} lines were dropped: the probe keeps at most {MAX_PROBE_PAIRS} keys",
            tallies.lines_over_pair_cap
        ));
    }
    if tallies.keys_cut > 0 {
        notes.push(format!(
            "{} keys were cut to {MAX_PROBE_KEY_CHARS} characters",
            tallies.keys_cut
        ));
    }
    if tallies.values_cut > 0 {
        notes.push(format!(
            "{} values were cut to {MAX_PROBE_VALUE_CHARS} characters",
            tallies.values_cut
        ));
    }
    notes
}

#[cfg(test)]
mod tests {
    use crate::collectors::tests::{
        arbitrary_input_text, assert_parsed_within_caps, nested_arrays,
    };
    use crate::collectors::{Collector, MAX_STRING_BYTES, Parsed, parse};
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    fn probe(raw: &str) -> Parsed {
        let parsed = parse(Collector::Probe, raw, None);
        assert_parsed_within_caps(&parsed);
        parsed
    }

    fn only_map(parsed: &Parsed) -> &Map<String, Value> {
        assert_eq!(parsed.facts.len(), 1);
        assert_eq!(parsed.facts[0].predicate, "probe");
        parsed.facts[0].value.as_object().unwrap()
    }

    const OS_RELEASE: &str = r#"PRETTY_NAME="Ubuntu 22.04.4 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.4 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
HOME_URL="https://www.ubuntu.com/"
# A comment line is skipped.

UBUNTU_CODENAME='jammy'
"#;

    #[test]
    fn os_release_becomes_one_flat_map() {
        let parsed = parse(Collector::Probe, OS_RELEASE, Some("os_release"));
        assert_parsed_within_caps(&parsed);
        assert_eq!(parsed.facts.len(), 1);
        assert_eq!(parsed.facts[0].predicate, "os_release");
        assert_eq!(
            parsed.facts[0].value,
            json!({
                "PRETTY_NAME": "Ubuntu 22.04.4 LTS",
                "NAME": "Ubuntu",
                "VERSION_ID": "22.04",
                "VERSION": "22.04.4 LTS (Jammy Jellyfish)",
                "VERSION_CODENAME": "jammy",
                "ID": "ubuntu",
                "ID_LIKE": "debian",
                "HOME_URL": "https://www.ubuntu.com/",
                "UBUNTU_CODENAME": "jammy",
            })
        );
        assert!(parsed.notes.is_empty());
    }

    #[test]
    fn sysctl_and_colon_forms_are_read() {
        let parsed = probe(
            "net.ipv4.ip_forward = 1\r\nWindowsProductName : Windows Server 2022\nOsLastBootUpTime : 1/2/2024 10:00:00 AM\nkey: \"quoted\"\n",
        );
        let map = only_map(&parsed);
        assert_eq!(map["net.ipv4.ip_forward"], "1");
        assert_eq!(map["WindowsProductName"], "Windows Server 2022");
        assert_eq!(map["OsLastBootUpTime"], "1/2/2024 10:00:00 AM");
        assert_eq!(
            map["key"], "\"quoted\"",
            "quotes are only stripped in the = form"
        );
    }

    #[test]
    fn equals_is_tried_before_colon() {
        let parsed = probe("url: http://x?a=b\n");
        let map = only_map(&parsed);
        assert_eq!(map["url: http://x?a"], "b");
    }

    #[test]
    fn empty_input_gives_one_empty_fact() {
        for raw in ["", "   \n\n", "# only a comment\n"] {
            let parsed = probe(raw);
            assert_eq!(parsed.facts[0].value, json!({}));
        }
    }

    #[test]
    fn malformed_lines_are_skipped_with_a_note() {
        let parsed = probe("no separator here\n=value without key\nGOOD=1\n");
        assert_eq!(only_map(&parsed), json!({"GOOD": "1"}).as_object().unwrap());
        assert!(parsed.notes.iter().any(|note| note.contains("2 lines")));
    }

    #[test]
    fn repeated_keys_keep_the_last_value() {
        let parsed = probe("A=1\nA=2\n");
        assert_eq!(only_map(&parsed)["A"], "2");
    }

    #[test]
    fn five_thousand_pairs_keep_4096() {
        let pair_lines: Vec<String> = (0..5000)
            .map(|index| format!("KEY_{index}={index}"))
            .collect();
        let raw = pair_lines.join("\n");
        let parsed = probe(&raw);
        let map = only_map(&parsed);
        assert_eq!(map.len(), MAX_PROBE_PAIRS);
        assert!(map.contains_key("KEY_0"));
        assert!(!map.contains_key("KEY_4096"));
        assert!(parsed.notes.iter().any(|note| note.contains("904 lines")));
    }

    #[test]
    fn a_five_megabyte_value_is_cut() {
        let raw = format!("BIG={}\n", "x".repeat(5 * 1024 * 1024));
        let parsed = probe(&raw);
        let big = only_map(&parsed)["BIG"].as_str().unwrap();
        assert_eq!(big.chars().count(), MAX_PROBE_VALUE_CHARS);
        assert!(!parsed.notes.is_empty());
    }

    #[test]
    fn a_five_megabyte_multibyte_value_respects_the_byte_cap() {
        let raw = format!("BIG={}\n", "€".repeat(2 * 1024 * 1024));
        let parsed = probe(&raw);
        let big = only_map(&parsed)["BIG"].as_str().unwrap();
        assert!(big.len() <= MAX_STRING_BYTES);
        assert!(big.contains("[cut: "));
    }

    #[test]
    fn long_keys_are_cut_to_256_characters() {
        let raw = format!("{}=1\n", "k".repeat(10_000));
        let parsed = probe(&raw);
        let map = only_map(&parsed);
        assert_eq!(map.keys().next().unwrap().len(), MAX_PROBE_KEY_CHARS);
    }

    #[test]
    fn control_characters_in_keys_stay_data_and_newlines_split_lines() {
        let parsed = probe("BAD\u{1b}[31mKEY\u{0}=1\nSPLIT\nKEY=2\n");
        let map = only_map(&parsed);
        assert_eq!(map["BAD\u{1b}[31mKEY\u{0}"], "1");
        assert_eq!(map["KEY"], "2");
        assert_eq!(map.len(), 2);
    }

    #[test]
    fn non_finite_tokens_and_deep_nesting_are_just_text() {
        let parsed = probe("A=NaN\nB=-Infinity\n");
        assert_eq!(only_map(&parsed)["A"], "NaN");
        let parsed = probe(&nested_arrays(100_000));
        assert_eq!(parsed.facts[0].value, json!({}));
    }

    proptest! {
        #[test]
        fn probe_never_panics_and_respects_the_caps(raw in arbitrary_input_text()) {
            let parsed = parse(Collector::Probe, &raw, None);
            assert_parsed_within_caps(&parsed);
            prop_assert_eq!(parsed.facts.len(), 1);
        }
    }
}
