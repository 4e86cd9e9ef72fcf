//! The aide collector: an `aide --check` report becomes one `file_integrity` fact.
//!
//! The fact's predicate is always `file_integrity`, whatever the caller asked for, and its
//! value is `{"added": [...], "removed": [...], "changed": [...], "complete": bool,
//! "clean": bool}` plus `"totals": {"total", "added", "removed", "changed"}` when the report's
//! summary was found. How the report is read:
//!
//! - Summary counts are lines `Total number of entries: N`, `Added entries: N`,
//!   `Removed entries: N` and `Changed entries: N` (the older `files` wording is accepted
//!   too, labels are matched without regard to case, and the first occurrence of each wins).
//!   A count longer than 18 digits is clamped to 0. The summary matched when all four counts
//!   were found; `totals` is present exactly then. As an addition to the reference, a report
//!   whose verdict line says AIDE found NO differences also counts as complete, and its
//!   `Number of entries: N` line gives totals with zero changes.
//! - A section starts at a line reading exactly `Added entries:`, `Removed entries:` or
//!   `Changed entries:` (or the `files` wording) with nothing after the colon. Within a
//!   section, each line's path is its first `/` followed by non-whitespace, up to the next
//!   whitespace; lines without one, such as the dashed rules, are ignored. Once a section has
//!   an entry, a blank line or a dashed rule ends it, and so does the next header or the
//!   `Detailed information about changes:` header. Blank lines before the first entry are
//!   skipped, because real reports put one between the header and the entries.
//! - Each path list keeps at most [`MAX_AIDE_PATHS_PER_LIST`] paths; a note counts the rest.
//! - `complete` is true when the summary matched, any list is non-empty, or the verdict said
//!   no differences. `clean` is true only when the report is complete, every list is empty,
//!   no path was dropped, the summary counts no change, and no verdict line says differences
//!   were found: an empty or failed run is never clean.
//!
//! Invariant: the collector always emits exactly one fact and never fails.

use serde_json::{Map, Value, json};

use super::{MAX_AIDE_PATHS_PER_LIST, Parsed, ParsedFact};

/// The predicate of the single fact this collector emits.
const FILE_INTEGRITY_PREDICATE: &str = "file_integrity";

/// The most digits a count may have before it is clamped to 0.
const MAX_COUNT_DIGITS: usize = 18;

/// Labels longer than this are not looked up, so a huge line costs no lowercasing.
const MAX_LABEL_BYTES: usize = 64;

/// Lines longer than this are not searched for a verdict.
const MAX_VERDICT_LINE_BYTES: usize = 256;

/// The entry lists of an aide report.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum EntryList {
    /// The list of files that appeared since the database was built.
    Added,
    /// The list of files that disappeared.
    Removed,
    /// The list of files whose attributes changed.
    Changed,
}

/// The summary counts of an aide report.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum SummaryCount {
    /// The `Total number of entries` line.
    Total,
    /// The `Number of entries` line, printed by reports that found no differences.
    Entries,
    /// The `Added entries` line.
    Added,
    /// The `Removed entries` line.
    Removed,
    /// The `Changed entries` line.
    Changed,
}

/// What a labelled line (`label: rest`) means in an aide report.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum LabelledLine {
    /// A header that starts an entry section.
    SectionHeader(EntryList),
    /// The header of the detailed changes, which ends any entry section.
    DetailsHeader,
    /// A summary count with its value.
    Count(SummaryCount, u64),
}

/// What the verdict line of the report said, if anything.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
enum Verdict {
    /// No verdict line was seen.
    #[default]
    Unstated,
    /// The report said `AIDE found NO differences between database and filesystem.`
    NoDifferences,
    /// The report said `AIDE found differences between database and filesystem!!`
    Differences,
}

/// Everything read from the report so far.
#[derive(Default)]
struct AideReport {
    /// Added paths, at most [`MAX_AIDE_PATHS_PER_LIST`].
    added: Vec<String>,
    /// Removed paths, at most [`MAX_AIDE_PATHS_PER_LIST`].
    removed: Vec<String>,
    /// Changed paths, at most [`MAX_AIDE_PATHS_PER_LIST`].
    changed: Vec<String>,
    /// Paths dropped because their list was full.
    dropped_paths: usize,
    /// The `Total number of entries` count.
    total_count: Option<u64>,
    /// The `Number of entries` count of a report without differences.
    entries_count: Option<u64>,
    /// The `Added entries` count.
    added_count: Option<u64>,
    /// The `Removed entries` count.
    removed_count: Option<u64>,
    /// The `Changed entries` count.
    changed_count: Option<u64>,
    /// The verdict line, if any.
    verdict: Verdict,
}

impl AideReport {
    /// Records a path in `list`, or counts it as dropped when the list is full.
    fn record_path(&mut self, list: EntryList, path: &str) {
        let paths = match list {
            EntryList::Added => &mut self.added,
            EntryList::Removed => &mut self.removed,
            EntryList::Changed => &mut self.changed,
        };
        if paths.len() < MAX_AIDE_PATHS_PER_LIST {
            paths.push(path.to_owned());
        } else {
            self.dropped_paths += 1;
        }
    }

    /// Records a summary count unless the same count was already seen.
    fn record_count(&mut self, count: SummaryCount, value: u64) {
        let slot = match count {
            SummaryCount::Total => &mut self.total_count,
            SummaryCount::Entries => &mut self.entries_count,
            SummaryCount::Added => &mut self.added_count,
            SummaryCount::Removed => &mut self.removed_count,
            SummaryCount::Changed => &mut self.changed_count,
        };
        slot.get_or_insert(value);
    }

    /// The totals object, when the summary matched or a no-differences verdict gave a count.
    fn totals(&self) -> Option<Value> {
        match (
            self.total_count,
            self.added_count,
            self.removed_count,
            self.changed_count,
        ) {
            (Some(total), Some(added), Some(removed), Some(changed)) => Some(json!({
                "total": total, "added": added, "removed": removed, "changed": changed,
            })),
            _ if self.verdict == Verdict::NoDifferences => self
                .total_count
                .or(self.entries_count)
                .map(|total| json!({"total": total, "added": 0, "removed": 0, "changed": 0})),
            _ => None,
        }
    }

    /// Whether all four summary counts were found.
    fn summary_matched(&self) -> bool {
        self.total_count.is_some()
            && self.added_count.is_some()
            && self.removed_count.is_some()
            && self.changed_count.is_some()
    }

    /// Builds the fact value, with `complete` and `clean` as the module documentation says.
    fn into_value(self) -> Value {
        let any_entry =
            !(self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty());
        let complete =
            self.summary_matched() || any_entry || self.verdict == Verdict::NoDifferences;
        let summary_counts_changes = [self.added_count, self.removed_count, self.changed_count]
            .into_iter()
            .flatten()
            .any(|count| count > 0);
        let clean = complete
            && !any_entry
            && self.dropped_paths == 0
            && !summary_counts_changes
            && self.verdict != Verdict::Differences;
        let totals = self.totals();
        let mut value = Map::new();
        value.insert("added".to_owned(), json!(self.added));
        value.insert("removed".to_owned(), json!(self.removed));
        value.insert("changed".to_owned(), json!(self.changed));
        value.insert("complete".to_owned(), Value::Bool(complete));
        value.insert("clean".to_owned(), Value::Bool(clean));
        if let Some(totals) = totals {
            value.insert("totals".to_owned(), totals);
        }
        Value::Object(value)
    }
}

/// Parses an `aide --check` report into the single `file_integrity` fact.
pub(super) fn parse_aide(raw: &str) -> Parsed {
    let mut report = AideReport::default();
    let mut open_section: Option<EntryList> = None;
    let mut section_has_entries = false;
    for line in raw.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with("---") {
            if section_has_entries {
                open_section = None;
                section_has_entries = false;
            }
            continue;
        }
        read_verdict(trimmed, &mut report);
        match classify_labelled_line(trimmed) {
            Some(LabelledLine::SectionHeader(list)) => {
                open_section = Some(list);
                section_has_entries = false;
                continue;
            }
            Some(LabelledLine::DetailsHeader) => {
                open_section = None;
                section_has_entries = false;
                continue;
            }
            Some(LabelledLine::Count(count, value)) => {
                report.record_count(count, value);
                continue;
            }
            None => {}
        }
        if let Some(list) = open_section
            && let Some(path) = first_absolute_path(trimmed)
        {
            report.record_path(list, path);
            section_has_entries = true;
        }
    }
    let mut notes = Vec::new();
    if report.dropped_paths > 0 {
        notes.push(format!(
            "{} paths were dropped: each list keeps at most {MAX_AIDE_PATHS_PER_LIST} paths",
            report.dropped_paths
        ));
    }
    if raw.trim().is_empty() {
        notes.push("the report was empty, so it is neither complete nor clean".to_owned());
    }
    Parsed {
        facts: vec![ParsedFact {
            predicate: FILE_INTEGRITY_PREDICATE.to_owned(),
            value: report.into_value(),
        }],
        notes,
    }
}

/// Notes the verdict line if `trimmed` is one.
fn read_verdict(trimmed: &str, report: &mut AideReport) {
    if trimmed.len() > MAX_VERDICT_LINE_BYTES || report.verdict != Verdict::Unstated {
        return;
    }
    let lowered = trimmed.to_ascii_lowercase();
    if lowered.contains("found no differences") {
        report.verdict = Verdict::NoDifferences;
    } else if lowered.contains("found differences") {
        report.verdict = Verdict::Differences;
    }
}

/// Reads a `label: rest` line as a section header, the details header or a summary count.
fn classify_labelled_line(trimmed: &str) -> Option<LabelledLine> {
    let (label, rest) = trimmed.split_once(':')?;
    if label.len() > MAX_LABEL_BYTES {
        return None;
    }
    let label = label.trim().to_ascii_lowercase();
    let rest = rest.trim();
    let entry_list = match label.as_str() {
        "added entries" | "added files" => Some(EntryList::Added),
        "removed entries" | "removed files" => Some(EntryList::Removed),
        "changed entries" | "changed files" => Some(EntryList::Changed),
        _ => None,
    };
    if let Some(list) = entry_list
        && rest.is_empty()
    {
        return Some(LabelledLine::SectionHeader(list));
    }
    if label == "detailed information about changes" && rest.is_empty() {
        return Some(LabelledLine::DetailsHeader);
    }
    let count = match (label.as_str(), entry_list) {
        (_, Some(EntryList::Added)) => SummaryCount::Added,
        (_, Some(EntryList::Removed)) => SummaryCount::Removed,
        (_, Some(EntryList::Changed)) => SummaryCount::Changed,
        ("total number of entries" | "total number of files", None) => SummaryCount::Total,
        ("number of entries", None) => SummaryCount::Entries,
        (_, None) => return None,
    };
    parse_count(rest).map(|value| LabelledLine::Count(count, value))
}

/// Reads a summary count: all ASCII digits, clamped to 0 when longer than 18 digits.
fn parse_count(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    if text.len() > MAX_COUNT_DIGITS {
        return Some(0);
    }
    text.parse().ok()
}

/// The first `/` followed by a non-whitespace character, up to the next whitespace.
fn first_absolute_path(line: &str) -> Option<&str> {
    let mut search_from = 0;
    while let Some(offset) = line.get(search_from..)?.find('/') {
        let start = search_from + offset;
        let after_slash = line.get(start + 1..)?;
        if after_slash
            .chars()
            .next()
            .is_some_and(|next| !next.is_whitespace())
        {
            let length = after_slash
                .find(char::is_whitespace)
                .unwrap_or(after_slash.len());
            return line.get(start..=start + length);
        }
        search_from = start + 1;
    }
    None
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

    fn aide(raw: &str) -> Parsed {
        let parsed = parse(Collector::Aide, raw, None);
        assert_parsed_within_caps(&parsed);
        assert_eq!(parsed.facts.len(), 1);
        assert_eq!(parsed.facts[0].predicate, "file_integrity");
        parsed
    }

    fn value_of(raw: &str) -> Value {
        aide(raw).facts[0].value.clone()
    }

    const AIDE_REPORT_WITH_CHANGES: &str =
        "Start timestamp: 2024-05-01 03:00:01 +0000 (AIDE 0.17.4)
AIDE found differences between database and filesystem!!

Summary:
  Total number of entries:\t45678
  Added entries:\t\t2
  Removed entries:\t\t1
  Changed entries:\t\t2

---------------------------------------------------
Added entries:
---------------------------------------------------

f++++++++++++++++: /etc/cron.d/backdoor
d++++++++++++++++: /root/.ssh/new dir

---------------------------------------------------
Removed entries:
---------------------------------------------------

f----------------: /usr/sbin/auditd

---------------------------------------------------
Changed entries:
---------------------------------------------------

f   ...    .C... : /etc/passwd
f   ...    .C... : /etc/shadow

---------------------------------------------------
Detailed information about changes:
---------------------------------------------------

File: /etc/passwd
  SHA512   : AbCd/EfGh | IjKl/MnOp

File: /etc/shadow
  SHA512   : QrSt/UvWx | YzAb/CdEf

---------------------------------------------------
The attributes of the (uncompressed) database(s):
---------------------------------------------------

/var/lib/aide/aide.db.gz
  SHA512   : 1234

End timestamp: 2024-05-01 03:02:11 +0000 (run time: 2m 10s)
";

    #[test]
    fn a_report_with_changes_lists_every_section() {
        let parsed = parse(Collector::Aide, AIDE_REPORT_WITH_CHANGES, Some("ignored"));
        assert_parsed_within_caps(&parsed);
        assert_eq!(parsed.facts[0].predicate, "file_integrity");
        assert!(parsed.notes.iter().any(|note| note.contains("ignored")));
        assert_eq!(
            parsed.facts[0].value,
            json!({
                "added": ["/etc/cron.d/backdoor", "/root/.ssh/new"],
                "removed": ["/usr/sbin/auditd"],
                "changed": ["/etc/passwd", "/etc/shadow"],
                "complete": true,
                "clean": false,
                "totals": {"total": 45678, "added": 2, "removed": 1, "changed": 2},
            })
        );
    }

    #[test]
    fn a_clean_report_with_a_zero_summary_is_clean() {
        let value = value_of(
            "Summary:\n  Total number of entries: 100\n  Added entries: 0\n  Removed entries: 0\n  Changed entries: 0\n",
        );
        assert_eq!(value["complete"], true);
        assert_eq!(value["clean"], true);
        assert_eq!(value["totals"]["total"], 100);
    }

    #[test]
    fn a_no_differences_verdict_is_complete_and_clean() {
        let value = value_of(
            "Start timestamp: 2024-05-01 03:00:01 +0000 (AIDE 0.17.4)\nAIDE found NO differences between database and filesystem. Looks okay!!\n\nNumber of entries:\t45678\n",
        );
        assert_eq!(value["complete"], true);
        assert_eq!(value["clean"], true);
        assert_eq!(
            value["totals"],
            json!({"total": 45678, "added": 0, "removed": 0, "changed": 0})
        );
    }

    #[test]
    fn the_older_files_wording_is_read() {
        let value = value_of(
            "Summary:\n  Total number of files:\t3\n  Added files:\t\t1\n  Removed files:\t\t0\n  Changed files:\t\t1\n\n---\nAdded files:\n---\n\nadded: /tmp/foo\n\n---\nChanged files:\n---\n\nchanged: /etc/hosts\n",
        );
        assert_eq!(value["added"], json!(["/tmp/foo"]));
        assert_eq!(value["changed"], json!(["/etc/hosts"]));
        assert_eq!(value["clean"], false);
    }

    #[test]
    fn a_blank_line_ends_a_section_after_its_entries() {
        let value = value_of("Added entries:\n\nf+: /a\n\n/not/an/entry\n");
        assert_eq!(value["added"], json!(["/a"]));
        assert_eq!(value["complete"], true);
        assert!(value.get("totals").is_none());
    }

    #[test]
    fn empty_input_is_neither_complete_nor_clean() {
        let parsed = aide("");
        assert_eq!(
            parsed.facts[0].value,
            json!({"added": [], "removed": [], "changed": [], "complete": false, "clean": false})
        );
        assert!(!parsed.notes.is_empty());
    }

    #[test]
    fn malformed_input_is_neither_complete_nor_clean() {
        for raw in [
            "aide: error opening database\n",
            "\u{0}\u{1}/etc\n",
            "{\"not\": \"aide\"}",
        ] {
            let value = value_of(raw);
            assert_eq!(value["complete"], false);
            assert_eq!(value["clean"], false);
        }
    }

    #[test]
    fn a_summary_counting_changes_is_never_clean() {
        let value = value_of(
            "Total number of entries: 5\nAdded entries: 1\nRemoved entries: 0\nChanged entries: 0\n",
        );
        assert_eq!(value["complete"], true);
        assert_eq!(value["clean"], false);
    }

    #[test]
    fn counts_longer_than_18_digits_clamp_to_zero() {
        let value = value_of(
            "Total number of entries: 1234567890123456789\nAdded entries: 999999999999999999\nRemoved entries: 0\nChanged entries: 00000000000000000000000001\n",
        );
        assert_eq!(
            value["totals"],
            json!({"total": 0, "added": 999_999_999_999_999_999_u64, "removed": 0, "changed": 0})
        );
    }

    #[test]
    fn path_lists_are_capped_with_a_note() {
        let entry_lines: Vec<String> = (0..10_050)
            .map(|index| format!("f   ...    .C... : /var/lib/file{index}"))
            .collect();
        let raw = format!("Changed entries:\n{}\n", entry_lines.join("\n"));
        let parsed = aide(&raw);
        let value = &parsed.facts[0].value;
        assert_eq!(
            value["changed"].as_array().unwrap().len(),
            MAX_AIDE_PATHS_PER_LIST
        );
        assert_eq!(value["clean"], false);
        assert!(parsed.notes.iter().any(|note| note.contains("50 paths")));
    }

    #[test]
    fn hostile_input_stays_bounded() {
        let huge_path = format!("Added entries:\nf+: /{}\n", "x".repeat(5 * 1024 * 1024));
        let value = value_of(&huge_path);
        assert!(value["added"][0].as_str().unwrap().len() <= MAX_STRING_BYTES);
        let value = value_of(&nested_arrays(100_000));
        assert_eq!(value["complete"], false);
        let value = value_of("Added entries:\nf+: /etc/\u{1b}]0;evil\u{7}x\r\nNaN Infinity\n");
        assert_eq!(value["added"], json!(["/etc/\u{1b}]0;evil\u{7}x"]));
    }

    #[test]
    fn first_absolute_path_skips_lone_slashes() {
        assert_eq!(first_absolute_path("a / b /etc/x y"), Some("/etc/x"));
        assert_eq!(first_absolute_path("ends with /"), None);
        assert_eq!(first_absolute_path("é/ü"), Some("/ü"));
    }

    proptest! {
        #[test]
        fn aide_never_panics_and_respects_the_caps(raw in arbitrary_input_text()) {
            let parsed = parse(Collector::Aide, &raw, None);
            assert_parsed_within_caps(&parsed);
            prop_assert_eq!(parsed.facts.len(), 1);
        }
    }
}
