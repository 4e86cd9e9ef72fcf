//! The osquery collector: `osqueryi --json` rows become one aggregate fact plus typed facts.
//!
//! The aggregate fact matches the reference system: its predicate is the caller's (or
//! `osquery`) and its value is `{"rows": [...], "count": N}`, where `rows` holds the array's
//! objects in order (other items are dropped) and `count` is the number of rows kept. At most
//! [`MAX_FACTS_PER_INGEST`] rows are kept; when more arrive, the value also carries
//! `"omitted": <rows cut>` and a note says so. A JSON value that is not an array gives
//! `{"rows": [], "count": 0}`. Empty, malformed or hostile (too deeply nested) input gives
//! no facts at all.
//!
//! Typed facts are emitted in addition, one per kept row whose columns match a known table,
//! so the model sees packages, ports, users and services as separate facts. The rules are
//! tried in this order, and the first that matches decides:
//!
//! 1. Listening port: the row has `port` and either `protocol` or `address`. The port must be
//!    a decimal number from 1 to 65535 (port 0 marks Unix sockets and is skipped). Predicate
//!    `port:<protocol>/<port>`, where the protocol number 6, 17, 33, 132 or 136 becomes
//!    `tcp`, `udp`, `dccp`, `sctp` or `udplite`, any other protocol text is kept lowercased,
//!    and a missing protocol reads `unknown`. Value: `address`, `pid`, and `process` (the
//!    row's `name`, present when the query joined `processes`), each when present.
//! 2. User: the row has `username` and `uid`. Predicate `user:<username>`. Value: `uid`,
//!    `gid`, `shell` and `directory`, each when present.
//! 3. Service: either a systemd unit (`id` ends in `.service` and `active_state` is present;
//!    the name is the unit id, for example `sshd.service`; value: `load_state`,
//!    `active_state`, `sub_state`) or a Windows service (`name` and `status` plus
//!    `service_type` or `start_type`; value: `status`, `start_type`, `service_type`).
//!    Predicate `service:<name>`.
//! 4. Mount: the row has `path`, `device` and `blocks` (the `mounts` table). Predicate
//!    `mount:<path>`. Value: `device`, `type`, `blocks_size`, `blocks`, `blocks_free` and
//!    `blocks_available`, each when present.
//! 5. Package: the row has `name` and `version` and is not an `os_version` row (one with
//!    `codename`, `platform_like`, or both `major` and `minor`). Predicate `package:<name>`.
//!    Value: `version`, plus `arch`, `source`, `release` and `epoch` when present (`release`
//!    and `epoch` complete RPM versions).
//!
//! Names are taken from string or number columns only. Predicates are sanitised (control and
//! hidden formatting characters removed, cut to 256 bytes); a row whose name is empty after
//! sanitising gets no typed fact. When two rows yield the same predicate (for example sshd on
//! `0.0.0.0:22` and `[::]:22`), only the first becomes a typed fact, because a later fact for
//! the same predicate would silently supersede it in the store; the aggregate fact keeps
//! every row. Typed facts count against [`MAX_FACTS_PER_INGEST`] together with the aggregate.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::{MAX_FACTS_PER_INGEST, Parsed, ParsedFact, parse_json_document, sanitize_predicate};

/// The kind of osquery table a row appears to come from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum RowKind {
    /// The row comes from `listening_ports`, possibly joined with `processes`.
    ListeningPort,
    /// The row comes from `users`.
    User,
    /// The row comes from `systemd_units` or the Windows `services` table.
    Service,
    /// The row comes from `deb_packages`, `rpm_packages` or another table of installed software.
    Package,
    /// The row comes from `mounts` (a mounted filesystem and its space).
    Mount,
}

/// Tallies of rows that did not become typed facts, for the caller's notes.
#[derive(Default)]
struct TypedFactTallies {
    /// Rows of a known kind whose name or port was unusable.
    without_usable_name: usize,
    /// Rows whose predicate an earlier row already produced.
    with_repeated_predicate: usize,
    /// Rows left out because the ingest reached [`MAX_FACTS_PER_INGEST`] facts.
    over_fact_cap: usize,
}

/// Parses `osqueryi --json` output into the aggregate fact named `predicate` and typed facts.
pub(super) fn parse_osquery(raw: &str, predicate: String) -> Parsed {
    let document = match parse_json_document(raw) {
        Ok(document) => document,
        Err(rejection) => {
            return Parsed {
                facts: Vec::new(),
                notes: vec![rejection.note()],
            };
        }
    };
    let mut notes = Vec::new();
    let items = match document {
        Value::Array(items) => items,
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Object(_) => {
            notes.push(
                "the input is JSON but not an array of rows, so no rows were kept".to_owned(),
            );
            Vec::new()
        }
    };
    let item_count = items.len();
    let mut rows: Vec<Map<String, Value>> = items
        .into_iter()
        .filter_map(|item| match item {
            Value::Object(row) => Some(row),
            Value::Null
            | Value::Bool(_)
            | Value::Number(_)
            | Value::String(_)
            | Value::Array(_) => None,
        })
        .collect();
    if rows.len() < item_count {
        notes.push(format!(
            "{} array items were not objects and were dropped",
            item_count - rows.len()
        ));
    }
    let omitted_row_count = rows.len().saturating_sub(MAX_FACTS_PER_INGEST);
    if omitted_row_count > 0 {
        rows.truncate(MAX_FACTS_PER_INGEST);
        notes.push(format!(
            "{omitted_row_count} rows were dropped: one ingest keeps at most {MAX_FACTS_PER_INGEST} rows"
        ));
    }
    let mut tallies = TypedFactTallies::default();
    let typed_facts = typed_facts_for_rows(&rows, MAX_FACTS_PER_INGEST - 1, &mut tallies);
    notes.extend(tally_notes(&tallies));
    let mut aggregate = Map::new();
    aggregate.insert("count".to_owned(), Value::from(rows.len()));
    if omitted_row_count > 0 {
        aggregate.insert("omitted".to_owned(), Value::from(omitted_row_count));
    }
    aggregate.insert(
        "rows".to_owned(),
        Value::Array(rows.into_iter().map(Value::Object).collect()),
    );
    let mut facts = Vec::with_capacity(typed_facts.len() + 1);
    facts.push(ParsedFact {
        predicate,
        value: Value::Object(aggregate),
    });
    facts.extend(typed_facts);
    Parsed { facts, notes }
}

/// Builds at most `fact_budget` typed facts from `rows`, one per row of a known kind, counting
/// the rows that could not become one.
fn typed_facts_for_rows(
    rows: &[Map<String, Value>],
    fact_budget: usize,
    tallies: &mut TypedFactTallies,
) -> Vec<ParsedFact> {
    let mut typed_facts = Vec::new();
    let mut emitted_predicates = HashSet::new();
    for row in rows {
        let Some(kind) = row_kind(row) else {
            continue;
        };
        let Some(fact) = typed_fact(row, kind) else {
            tallies.without_usable_name += 1;
            continue;
        };
        if emitted_predicates.contains(&fact.predicate) {
            tallies.with_repeated_predicate += 1;
            continue;
        }
        if typed_facts.len() >= fact_budget {
            tallies.over_fact_cap += 1;
            continue;
        }
        emitted_predicates.insert(fact.predicate.clone());
        typed_facts.push(fact);
    }
    typed_facts
}

/// Decides which known table a row looks like, by the columns it has.
fn row_kind(row: &Map<String, Value>) -> Option<RowKind> {
    if row.contains_key("port") && (row.contains_key("protocol") || row.contains_key("address")) {
        return Some(RowKind::ListeningPort);
    }
    if row.contains_key("username") && row.contains_key("uid") {
        return Some(RowKind::User);
    }
    if row.contains_key("path") && row.contains_key("device") && row.contains_key("blocks") {
        return Some(RowKind::Mount);
    }
    if is_systemd_service_row(row) || is_windows_service_row(row) {
        return Some(RowKind::Service);
    }
    if row.contains_key("name") && row.contains_key("version") && !is_os_version_row(row) {
        return Some(RowKind::Package);
    }
    None
}

/// Whether a row is a `systemd_units` row for a service unit.
fn is_systemd_service_row(row: &Map<String, Value>) -> bool {
    row.contains_key("active_state")
        && row
            .get("id")
            .and_then(Value::as_str)
            .is_some_and(|unit_id| unit_id.trim_end().ends_with(".service"))
}

/// Whether a row is a row of the Windows `services` table.
fn is_windows_service_row(row: &Map<String, Value>) -> bool {
    row.contains_key("name")
        && row.contains_key("status")
        && (row.contains_key("service_type") || row.contains_key("start_type"))
}

/// Whether a row is an `os_version` row, which has `name` and `version` but is no package.
fn is_os_version_row(row: &Map<String, Value>) -> bool {
    row.contains_key("codename")
        || row.contains_key("platform_like")
        || (row.contains_key("major") && row.contains_key("minor"))
}

/// Builds the typed fact for a row of `kind`, or `None` when its name or port is unusable.
fn typed_fact(row: &Map<String, Value>, kind: RowKind) -> Option<ParsedFact> {
    match kind {
        RowKind::ListeningPort => listening_port_fact(row),
        RowKind::User => {
            let username = column_text(row, "username")?;
            Some(ParsedFact {
                predicate: compose_predicate("user", &username)?,
                value: pick_columns(
                    row,
                    &[
                        ("uid", "uid"),
                        ("gid", "gid"),
                        ("shell", "shell"),
                        ("directory", "directory"),
                    ],
                ),
            })
        }
        RowKind::Service => {
            if is_systemd_service_row(row) {
                let unit_id = column_text(row, "id")?;
                Some(ParsedFact {
                    predicate: compose_predicate("service", &unit_id)?,
                    value: pick_columns(
                        row,
                        &[
                            ("load_state", "load_state"),
                            ("active_state", "active_state"),
                            ("sub_state", "sub_state"),
                        ],
                    ),
                })
            } else {
                let service_name = column_text(row, "name")?;
                Some(ParsedFact {
                    predicate: compose_predicate("service", &service_name)?,
                    value: pick_columns(
                        row,
                        &[
                            ("status", "status"),
                            ("start_type", "start_type"),
                            ("service_type", "service_type"),
                        ],
                    ),
                })
            }
        }
        RowKind::Mount => {
            let path = column_text(row, "path")?;
            Some(ParsedFact {
                predicate: compose_predicate("mount", &path)?,
                value: pick_columns(
                    row,
                    &[
                        ("device", "device"),
                        ("type", "type"),
                        ("blocks_size", "blocks_size"),
                        ("blocks", "blocks"),
                        ("blocks_free", "blocks_free"),
                        ("blocks_available", "blocks_available"),
                    ],
                ),
            })
        }
        RowKind::Package => {
            let package_name = column_text(row, "name")?;
            Some(ParsedFact {
                predicate: compose_predicate("package", &package_name)?,
                value: pick_columns(
                    row,
                    &[
                        ("version", "version"),
                        ("arch", "arch"),
                        ("source", "source"),
                        ("release", "release"),
                        ("epoch", "epoch"),
                    ],
                ),
            })
        }
    }
}

/// Builds the typed fact for a `listening_ports` row.
fn listening_port_fact(row: &Map<String, Value>) -> Option<ParsedFact> {
    let port_text = column_text(row, "port")?;
    let port_number = port_text
        .parse::<u32>()
        .ok()
        .filter(|port| (1..=65_535).contains(port))?;
    let protocol_name = match column_text(row, "protocol") {
        Some(protocol_text) => protocol_display_name(&protocol_text),
        None => "unknown".to_owned(),
    };
    let predicate = compose_predicate("port", &format!("{protocol_name}/{port_number}"))?;
    Some(ParsedFact {
        predicate,
        value: pick_columns(
            row,
            &[("address", "address"), ("pid", "pid"), ("process", "name")],
        ),
    })
}

/// Names an IP protocol number the way people write it, keeping unknown protocols as text.
fn protocol_display_name(protocol_text: &str) -> String {
    match protocol_text {
        "6" => "tcp".to_owned(),
        "17" => "udp".to_owned(),
        "33" => "dccp".to_owned(),
        "132" => "sctp".to_owned(),
        "136" => "udplite".to_owned(),
        other => {
            let cleaned = sanitize_predicate(other).unwrap_or_default();
            if cleaned.is_empty() {
                "unknown".to_owned()
            } else {
                cleaned.to_lowercase()
            }
        }
    }
}

/// The trimmed text of a string or number column, or `None` when it is absent, empty or of
/// another type.
fn column_text(row: &Map<String, Value>, column: &str) -> Option<String> {
    let text = match row.get(column)? {
        Value::String(text) => text.trim().to_owned(),
        Value::Number(number) => number.to_string(),
        Value::Null | Value::Bool(_) | Value::Array(_) | Value::Object(_) => return None,
    };
    if text.is_empty() { None } else { Some(text) }
}

/// Copies the columns that are present, renaming each from its column to its field name.
fn pick_columns(row: &Map<String, Value>, field_and_column_names: &[(&str, &str)]) -> Value {
    let mut picked = Map::new();
    for (field_name, column_name) in field_and_column_names {
        if let Some(column_value) = row.get(*column_name) {
            picked.insert((*field_name).to_owned(), column_value.clone());
        }
    }
    Value::Object(picked)
}

/// Joins a kind prefix and a name into a sanitised predicate, or `None` when the name is
/// empty after sanitising.
fn compose_predicate(kind_prefix: &str, name: &str) -> Option<String> {
    let sanitized_name = sanitize_predicate(name)?;
    sanitize_predicate(&format!("{kind_prefix}:{sanitized_name}"))
}

/// Turns the tallies into notes for the caller, one per non-zero tally.
fn tally_notes(tallies: &TypedFactTallies) -> Vec<String> {
    let mut notes = Vec::new();
    if tallies.without_usable_name > 0 {
        notes.push(format!(
            "{} rows of a known table had no usable name or port and got no typed fact",
            tallies.without_usable_name
        ));
    }
    if tallies.with_repeated_predicate > 0 {
        notes.push(format!(
            "{} rows repeated the predicate of an earlier row; only the first became a typed fact, all stay in the aggregate rows",
            tallies.with_repeated_predicate
        ));
    }
    if tallies.over_fact_cap > 0 {
        notes.push(format!(
            "{} rows got no typed fact: one ingest produces at most {MAX_FACTS_PER_INGEST} facts",
            tallies.over_fact_cap
        ));
    }
    notes
}

#[cfg(test)]
mod tests {
    use crate::collectors::tests::{
        arbitrary_input_text, arbitrary_json_value, assert_parsed_within_caps, nested_arrays,
    };
    use crate::collectors::{Collector, MAX_FACTS_PER_INGEST, MAX_STRING_BYTES, Parsed, parse};
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn osquery(raw: &str) -> Parsed {
        let parsed = parse(Collector::Osquery, raw, None);
        assert_parsed_within_caps(&parsed);
        parsed
    }

    fn fact_value<'parsed>(parsed: &'parsed Parsed, predicate: &str) -> &'parsed Value {
        &parsed
            .facts
            .iter()
            .find(|fact| fact.predicate == predicate)
            .unwrap_or_else(|| panic!("no fact {predicate} in {:?}", parsed.facts))
            .value
    }

    const DEB_PACKAGES: &str = r#"[
  {"admindir":"/var/lib/dpkg","arch":"amd64","maintainer":"Ubuntu Developers <ubuntu-devel-discuss@lists.ubuntu.com>","name":"openssh-server","priority":"optional","revision":"3ubuntu0.10","section":"net","size":"1520","source":"openssh","status":"install ok installed","version":"1:8.9p1-3ubuntu0.10"},
  {"admindir":"/var/lib/dpkg","arch":"amd64","maintainer":"Ubuntu Developers <ubuntu-devel-discuss@lists.ubuntu.com>","name":"bash","priority":"required","revision":"6ubuntu1.1","section":"shells","size":"1864","source":"","status":"install ok installed","version":"5.1-6ubuntu1.1"},
  {"admindir":"/var/lib/dpkg","arch":"amd64","maintainer":"Ubuntu Developers <ubuntu-devel-discuss@lists.ubuntu.com>","name":"libc6","priority":"optional","revision":"0ubuntu3.8","section":"libs","size":"13592","source":"glibc","status":"install ok installed","version":"2.35-0ubuntu3.8"}
]"#;

    const LISTENING_PORTS: &str = r#"[
  {"address":"0.0.0.0","family":"2","fd":"3","net_namespace":"4026531840","path":"","pid":"812","port":"22","protocol":"6","socket":"21345"},
  {"address":"::","family":"10","fd":"4","net_namespace":"4026531840","path":"","pid":"812","port":"22","protocol":"6","socket":"21347"},
  {"address":"127.0.0.53","family":"2","fd":"13","net_namespace":"4026531840","path":"","pid":"645","port":"53","protocol":"17","socket":"18790"},
  {"address":"","family":"1","fd":"41","net_namespace":"0","path":"/run/systemd/private","pid":"1","port":"0","protocol":"0","socket":"14102"}
]"#;

    #[test]
    fn deb_packages_give_an_aggregate_and_three_package_facts() {
        let parsed = parse(Collector::Osquery, DEB_PACKAGES, Some("deb_packages"));
        assert_parsed_within_caps(&parsed);
        assert_eq!(parsed.facts.len(), 4);
        let aggregate = &parsed.facts[0];
        assert_eq!(aggregate.predicate, "deb_packages");
        assert_eq!(aggregate.value["count"], 3);
        assert_eq!(aggregate.value["rows"].as_array().unwrap().len(), 3);
        assert_eq!(
            fact_value(&parsed, "package:openssh-server"),
            &json!({"version": "1:8.9p1-3ubuntu0.10", "arch": "amd64", "source": "openssh"})
        );
        assert_eq!(
            fact_value(&parsed, "package:bash"),
            &json!({"version": "5.1-6ubuntu1.1", "arch": "amd64", "source": ""})
        );
        assert_eq!(
            fact_value(&parsed, "package:libc6")["version"],
            "2.35-0ubuntu3.8"
        );
        assert!(parsed.notes.is_empty());
    }

    #[test]
    fn listening_ports_become_port_facts() {
        let parsed = osquery(LISTENING_PORTS);
        assert_eq!(parsed.facts[0].predicate, "osquery");
        assert_eq!(parsed.facts[0].value["count"], 4);
        assert_eq!(
            fact_value(&parsed, "port:tcp/22"),
            &json!({"address": "0.0.0.0", "pid": "812"})
        );
        assert_eq!(
            fact_value(&parsed, "port:udp/53"),
            &json!({"address": "127.0.0.53", "pid": "645"})
        );
        assert_eq!(
            parsed.facts.len(),
            3,
            "port 0 and the repeated tcp/22 get no typed fact"
        );
        assert!(parsed.notes.iter().any(|note| note.contains("repeated")));
        assert!(
            parsed
                .notes
                .iter()
                .any(|note| note.contains("no usable name or port"))
        );
    }

    #[test]
    fn joined_ports_carry_the_process_name_and_numbers_work() {
        let parsed = osquery(
            r#"[{"name":"nginx","pid":900,"port":443,"protocol":6,"address":"0.0.0.0"},{"port":"8080","address":"::"}]"#,
        );
        assert_eq!(
            fact_value(&parsed, "port:tcp/443"),
            &json!({"address": "0.0.0.0", "pid": 900, "process": "nginx"})
        );
        assert_eq!(
            fact_value(&parsed, "port:unknown/8080"),
            &json!({"address": "::"})
        );
    }

    #[test]
    fn users_services_and_units_are_typed() {
        let parsed = osquery(
            r#"[
            {"uid":"0","gid":"0","uid_signed":"0","gid_signed":"0","username":"root","description":"root","directory":"/root","shell":"/bin/bash","uuid":""},
            {"id":"sshd.service","description":"OpenSSH server daemon","load_state":"loaded","active_state":"active","sub_state":"running","fragment_path":"/usr/lib/systemd/system/sshd.service"},
            {"id":"dbus.socket","load_state":"loaded","active_state":"active","sub_state":"running"},
            {"name":"W32Time","service_type":"SHARE_PROCESS","display_name":"Windows Time","status":"RUNNING","pid":"1234","start_type":"DEMAND_START","path":"C:\\Windows\\system32\\svchost.exe"}
        ]"#,
        );
        assert_eq!(
            fact_value(&parsed, "user:root"),
            &json!({"uid": "0", "gid": "0", "shell": "/bin/bash", "directory": "/root"})
        );
        assert_eq!(
            fact_value(&parsed, "service:sshd.service"),
            &json!({"load_state": "loaded", "active_state": "active", "sub_state": "running"})
        );
        assert_eq!(
            fact_value(&parsed, "service:W32Time"),
            &json!({"status": "RUNNING", "start_type": "DEMAND_START", "service_type": "SHARE_PROCESS"})
        );
        assert_eq!(parsed.facts.len(), 4, "the socket unit gets no typed fact");
    }

    #[test]
    fn os_version_rows_are_not_packages() {
        let parsed = osquery(
            r#"[{"name":"Ubuntu","version":"22.04.4 LTS (Jammy Jellyfish)","major":"22","minor":"4","patch":"0","build":"","platform":"ubuntu","platform_like":"debian","codename":"jammy","arch":"x86_64"}]"#,
        );
        assert_eq!(parsed.facts.len(), 1);
    }

    #[test]
    fn empty_and_malformed_input_give_no_facts() {
        for raw in ["", "  \n", "[{\"name\":", "not json", "{\"a\":1} trailing"] {
            let parsed = osquery(raw);
            assert!(parsed.facts.is_empty(), "{raw:?}");
            assert_eq!(parsed.notes.len(), 1);
        }
    }

    #[test]
    fn non_arrays_give_an_empty_aggregate_and_non_objects_are_dropped() {
        let parsed = osquery("{\"name\":\"x\",\"version\":\"1\"}");
        assert_eq!(parsed.facts.len(), 1);
        assert_eq!(parsed.facts[0].value, json!({"rows": [], "count": 0}));
        let parsed = osquery("[1, \"two\", null, [3], {\"a\":\"b\"}]");
        assert_eq!(
            parsed.facts[0].value,
            json!({"rows": [{"a": "b"}], "count": 1})
        );
        assert!(
            parsed
                .notes
                .iter()
                .any(|note| note.contains("4 array items"))
        );
    }

    #[test]
    fn non_finite_numbers_become_null() {
        let parsed =
            osquery("[{\"name\":\"x\",\"version\":NaN,\"size\":-Infinity,\"score\":Infinity}]");
        assert_eq!(
            parsed.facts[0].value["rows"][0],
            json!({"name": "x", "version": null, "size": null, "score": null})
        );
        assert_eq!(fact_value(&parsed, "package:x"), &json!({"version": null}));
    }

    #[test]
    fn hostile_nesting_gives_no_facts() {
        for raw in ["[".repeat(100_000), nested_arrays(100_000)] {
            let parsed = osquery(&raw);
            assert!(parsed.facts.is_empty());
            assert!(parsed.notes[0].contains("hostile"));
        }
    }

    #[test]
    fn a_five_megabyte_value_is_cut() {
        let raw = format!(
            "[{{\"name\":\"{}\",\"version\":\"1\"}}]",
            "n".repeat(5 * 1024 * 1024)
        );
        let parsed = osquery(&raw);
        assert_eq!(parsed.facts.len(), 2);
        let kept_name = parsed.facts[0].value["rows"][0]["name"].as_str().unwrap();
        assert!(kept_name.len() <= MAX_STRING_BYTES);
        assert!(kept_name.ends_with("bytes]"));
        assert_eq!(parsed.facts[1].predicate.len(), 256);
    }

    #[test]
    fn twenty_thousand_rows_hold_the_fact_cap() {
        let rows: Vec<Value> = (0..20_000)
            .map(|index| json!({"name": format!("pkg{index}"), "version": "1.0"}))
            .collect();
        let parsed = osquery(&Value::Array(rows).to_string());
        assert_eq!(parsed.facts.len(), MAX_FACTS_PER_INGEST);
        let aggregate = &parsed.facts[0].value;
        assert_eq!(aggregate["count"], MAX_FACTS_PER_INGEST);
        assert_eq!(aggregate["omitted"], 10_000);
        assert_eq!(
            aggregate["rows"].as_array().unwrap().len(),
            MAX_FACTS_PER_INGEST
        );
        assert!(
            parsed
                .notes
                .iter()
                .any(|note| note.contains("10000 rows were dropped"))
        );
        assert!(
            parsed
                .notes
                .iter()
                .any(|note| note.contains("1 rows got no typed fact"))
        );
    }

    #[test]
    fn control_characters_in_names_and_keys_are_sanitised() {
        let parsed = osquery(
            "[{\"name\":\"evil\\u001b[2J\\npkg\\u202e\",\"version\":\"1\",\"ke\\u0000y\\n\":\"v\"},{\"name\":\"\\u0007\\n\",\"version\":\"2\"}]",
        );
        assert_eq!(parsed.facts.len(), 2);
        assert_eq!(parsed.facts[1].predicate, "package:evil[2Jpkg");
        assert_eq!(parsed.facts[0].value["rows"][0]["ke\u{0}y\n"], "v");
        assert!(
            parsed
                .notes
                .iter()
                .any(|note| note.contains("no usable name"))
        );
    }

    proptest! {
        #[test]
        fn osquery_never_panics_and_respects_the_caps(raw in arbitrary_input_text()) {
            assert_parsed_within_caps(&parse(Collector::Osquery, &raw, None));
        }

        #[test]
        fn osquery_rows_of_arbitrary_values_respect_the_caps(
            rows in proptest::collection::vec(arbitrary_json_value(), 0..8),
        ) {
            let raw = Value::Array(rows).to_string();
            assert_parsed_within_caps(&parse(Collector::Osquery, &raw, Some("rows")));
        }
    }
}
