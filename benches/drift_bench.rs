//! The drift benchmark (issue 6): the pure comparison over 10,000 hosts × 20 predicates, with
//! a tenth of the values changed, a twentieth missing and some unexpected ports. Writes its
//! section of `docs/performance.md`. Run with `cargo bench --bench drift_bench`.

#![expect(
    clippy::print_stdout,
    clippy::disallowed_macros,
    reason = "a benchmark reports on stdout"
)]
#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]
#![expect(clippy::cast_precision_loss, reason = "kilobytes as megabytes")]

mod common;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use praxis::clock::Timestamp;
use praxis::drift::engine;
use praxis::drift::{Compare, Desired, Observed, Severity, compare};
use praxis::fleet::{FactKey, FactType, Provenance};
use praxis::store::facts::NewFact;
use praxis::store::{OpenMode, Store};
use serde_json::json;

const HOSTS: usize = 10_000;
const PREDICATES: usize = 20;
const RUNS: usize = 5;

#[expect(
    clippy::too_many_lines,
    reason = "builds the inputs, measures, writes the report"
)]
fn main() {
    let mut desired = Vec::with_capacity(HOSTS * PREDICATES);
    let mut observed = Vec::with_capacity(HOSTS * PREDICATES + HOSTS);
    for host in 0..HOSTS {
        let subject = format!("host:web-{host:05}");
        for predicate in 0..PREDICATES {
            let name = if predicate < 5 {
                format!("package:pkg-{predicate}")
            } else {
                format!("port:tcp/{}", 8000 + predicate)
            };
            let compare = if predicate < 5 {
                Compare::AtLeastVersion
            } else {
                Compare::Equal
            };
            let value = if predicate < 5 {
                json!(format!("1.{predicate}.0-1"))
            } else {
                json!({"address": "0.0.0.0", "pid": predicate})
            };
            desired.push(Desired {
                subject: subject.clone(),
                predicate: name.clone(),
                value: value.clone(),
                compare,
                severity: Severity::default_for(&name),
                source: "bench".into(),
            });
            let seen = (host * PREDICATES + predicate) % 20;
            if seen == 0 {
                continue; // missing
            }
            let value = if seen % 10 == 1 {
                json!({"address": "127.0.0.1", "pid": predicate}) // changed
            } else if predicate < 5 {
                json!({"version": format!("1.{predicate}.1-1")})
            } else {
                value
            };
            observed.push(Observed {
                subject: subject.clone(),
                predicate: name,
                value,
            });
        }
        if host % 7 == 0 {
            observed.push(Observed {
                subject,
                predicate: "port:tcp/4444".into(),
                value: json!({"address": "0.0.0.0"}),
            });
        }
    }
    let mut samples = Vec::with_capacity(RUNS);
    let mut findings = 0;
    for _ in 0..RUNS {
        let started = Instant::now();
        let report = compare(&desired, &observed, |predicate| {
            Some(Severity::default_for(predicate))
        });
        samples.push(started.elapsed());
        findings = report.findings.len();
    }
    samples.sort();
    let median: Duration = samples[RUNS / 2];
    println!(
        "(rss after the pure comparison: {} KiB)",
        common::peak_rss_kib(std::process::id())
    );
    let (scan, reads, written, store_findings) = from_the_store(&desired, &observed);
    let mut body = String::new();
    writeln!(
        body,
        "Release profile, praxis {}.\n",
        env!("CARGO_PKG_VERSION")
    )
    .unwrap();
    writeln!(body, "Machine: {}.\n", common::machine()).unwrap();
    writeln!(
        body,
        "Method: `praxis::drift::compare` in process over {HOSTS} hosts × {PREDICATES} desired \
         predicates ({} desired, {} observed facts; a twentieth missing, a tenth of the rest \
         changed, an unexpected port on every seventh host); the median of {RUNS} runs. The \
         fleet-wide scan is what `drift_scan {{}}` does before its write: the same state as \
         known-good and observed facts in a state database, every subject's facts read \
         (`drift::engine::load`) and compared and reconciled with the open findings \
         (`reconcile_all`), median of 3; the write is the first scan's findings committed in \
         one transaction.\n",
        desired.len(),
        observed.len()
    )
    .unwrap();
    writeln!(body, "| measure | praxis | target | findings |").unwrap();
    writeln!(body, "| --- | --- | --- | --- |").unwrap();
    writeln!(
        body,
        "| drift comparison, {HOSTS} hosts × {PREDICATES} predicates | {:.1} ms | < 2 s | {findings} |",
        median.as_secs_f64() * 1_000.0
    )
    .unwrap();
    writeln!(
        body,
        "| fleet-wide drift scan from the store (read + compare + reconcile), {HOSTS} hosts × {PREDICATES} predicates | {:.1} ms | < 2 s | {store_findings} |",
        scan.as_secs_f64() * 1_000.0
    )
    .unwrap();
    writeln!(
        body,
        "| of which reading the fleet's facts (`engine::load`, {} facts) | {:.1} ms | | |",
        desired.len() + observed.len(),
        reads.as_secs_f64() * 1_000.0
    )
    .unwrap();
    writeln!(
        body,
        "| writing those findings as drift facts (one transaction) | {:.1} ms | | |",
        written.as_secs_f64() * 1_000.0
    )
    .unwrap();
    writeln!(
        body,
        "| peak RSS of the benchmark process, inputs included | {:.1} MB | | |",
        common::peak_rss_kib(std::process::id()) as f64 / 1_024.0
    )
    .unwrap();
    print!("{body}");
    common::write_section("drift", &body);
}

/// The same state in a state database: desired as known-good facts, observed as observed
/// facts. Returns the median fleet-wide scan, the median of its reads alone, the time to write
/// its findings, and how many.
fn from_the_store(
    desired: &[Desired],
    observed: &[Observed],
) -> (Duration, Duration, Duration, usize) {
    let directory = std::env::temp_dir().join(format!("praxis-drift-bench-{}", std::process::id()));
    drop(std::fs::remove_dir_all(&directory));
    std::fs::create_dir_all(&directory).unwrap();
    let store = Store::open(&directory.join("praxis.db"), OpenMode::CreateIfMissing).unwrap();
    let provenance = Provenance {
        actor: "bench".into(),
        reason: None,
    };
    let at = Timestamp::from_unix_nanos(1_700_000_000_000_000_000);
    let facts = |fact_type, entries: Vec<(&String, &String, &serde_json::Value)>| -> Vec<NewFact> {
        entries
            .into_iter()
            .map(|(subject, predicate, value)| NewFact {
                key: FactKey {
                    subject: subject.clone(),
                    predicate: predicate.clone(),
                    fact_type,
                },
                value: value.clone(),
                valid_from: at,
            })
            .collect()
    };
    let known_good = facts(
        FactType::KnownGood,
        desired
            .iter()
            .map(|entry| (&entry.subject, &entry.predicate, &entry.value))
            .collect(),
    );
    let seen = facts(
        FactType::Observed,
        observed
            .iter()
            .map(|entry| (&entry.subject, &entry.predicate, &entry.value))
            .collect(),
    );
    for chunk in known_good.chunks(20_000).chain(seen.chunks(20_000)) {
        store.put_facts(chunk, &provenance, at).unwrap();
    }
    println!(
        "(rss after filling the store: {} KiB)",
        common::peak_rss_kib(std::process::id())
    );
    let now = Timestamp::from_unix_nanos(1_800_000_000_000_000_000);
    let mut samples = Vec::new();
    let mut reads = Vec::new();
    let mut changes = engine::Changes::default();
    for _ in 0..3 {
        let started = Instant::now();
        let states = engine::load(&store, None).unwrap();
        reads.push(started.elapsed());
        println!(
            "(rss after load: {} KiB)",
            common::peak_rss_kib(std::process::id())
        );
        changes = engine::reconcile_all(&states, &[], now).0;
        samples.push(started.elapsed());
    }
    samples.sort();
    reads.sort();
    println!(
        "(store reads alone: {:.1} ms)",
        reads[1].as_secs_f64() * 1_000.0
    );
    let started = Instant::now();
    store
        .apply_changes(&changes.puts, &changes.closings, &provenance, now)
        .unwrap();
    let written = started.elapsed();
    drop(store);
    drop(std::fs::remove_dir_all(&directory));
    (samples[1], reads[1], written, changes.open.len())
}
