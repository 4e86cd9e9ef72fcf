//! Telemetry collectors (interim: probe only; the full set replaces this file).

use serde_json::{Map, Value};

/// The collectors a tool call may name.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Collector {
    Probe,
    Osquery,
    Aide,
    Talos,
    Cis,
}

impl Collector {
    pub const ALL: [Collector; 5] = [
        Collector::Probe,
        Collector::Osquery,
        Collector::Aide,
        Collector::Talos,
        Collector::Cis,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Collector::Probe => "probe",
            Collector::Osquery => "osquery",
            Collector::Aide => "aide",
            Collector::Talos => "talos",
            Collector::Cis => "cis",
        }
    }

    pub fn from_name(name: &str) -> Option<Collector> {
        Collector::ALL
            .into_iter()
            .find(|collector| collector.as_str() == name)
    }
}

/// One fact parsed from telemetry.
#[derive(Clone, PartialEq, Debug)]
pub struct ParsedFact {
    pub predicate: String,
    pub value: Value,
}

/// What a collector made of its input.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct Parsed {
    pub facts: Vec<ParsedFact>,
    pub notes: Vec<String>,
}

/// Parses `raw` with `collector`.
pub fn parse(collector: Collector, raw: &str, predicate: Option<&str>) -> Parsed {
    let predicate = predicate.unwrap_or(collector.as_str()).to_owned();
    let mut map = Map::new();
    for line in raw.lines().take(4096) {
        if let Some((key, value)) = line.split_once('=') {
            map.insert(
                key.trim().to_owned(),
                Value::String(value.trim().trim_matches('"').to_owned()),
            );
        }
    }
    Parsed {
        facts: vec![ParsedFact {
            predicate,
            value: Value::Object(map),
        }],
        notes: Vec::new(),
    }
}
