//! The fleet-graph benchmark (issue 3): one million facts — 10,000 hosts × 20 predicates ×
//! 5 versions — written through the store's batch API, then the query latencies an MCP read
//! sees. Writes its section of `docs/performance.md`. Run with `cargo bench --bench fleet_bench`.

#![expect(
    clippy::print_stdout,
    clippy::disallowed_macros,
    reason = "a benchmark reports on stdout"
)]
#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]
#![expect(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "statistics"
)]

mod common;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use praxis::clock::Timestamp;
use praxis::fleet::{FactKey, FactType, Provenance};
use praxis::store::facts::{FactQuery, NewFact};
use praxis::store::{OpenMode, Store};
use serde_json::json;

const HOSTS: usize = 10_000;
const PREDICATES: usize = 20;
const VERSIONS: usize = 5;
const HOSTS_PER_BATCH: usize = 500;

fn percentile(samples: &mut [Duration], quantile: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 - 1.0) * quantile).round() as usize]
}

fn millis(duration: Duration) -> String {
    format!("{:.3} ms", duration.as_secs_f64() * 1_000.0)
}

/// p50 and p99 of `runs` timings of `query`.
fn time_query(runs: usize, mut query: impl FnMut(usize) -> usize) -> (Duration, Duration, usize) {
    let mut samples = Vec::with_capacity(runs);
    let mut rows = 0;
    for run in 0..runs {
        let started = Instant::now();
        rows = query(run);
        samples.push(started.elapsed());
    }
    (
        percentile(&mut samples, 0.50),
        percentile(&mut samples, 0.99),
        rows,
    )
}

#[expect(
    clippy::too_many_lines,
    reason = "the report is one table, written in order"
)]
fn main() {
    if std::env::args().any(|argument| argument == "--list") {
        return;
    }
    let directory = std::env::temp_dir().join(format!("praxis-fleet-bench-{}", std::process::id()));
    drop(std::fs::remove_dir_all(&directory));
    std::fs::create_dir_all(&directory).unwrap();
    let path = directory.join("praxis.db");
    let store = Store::open(&path, OpenMode::CreateIfMissing).unwrap();
    let provenance = Provenance {
        actor: "collector:bench".into(),
        reason: None,
    };
    let base = 1_800_000_000_000_000_000_i64;
    let mut version_times = Vec::new();
    println!("writing {} facts ...", HOSTS * PREDICATES * VERSIONS);
    let started = Instant::now();
    for version in 0..VERSIONS {
        let mut last = Timestamp::from_unix_nanos(0);
        for first_host in (0..HOSTS).step_by(HOSTS_PER_BATCH) {
            let now = Timestamp::from_unix_nanos(
                base + i64::try_from(version * HOSTS + first_host).unwrap() * 1_000_000,
            );
            let batch: Vec<NewFact> = (first_host..first_host + HOSTS_PER_BATCH)
                .flat_map(|host| {
                    (0..PREDICATES).map(move |predicate| NewFact {
                        key: FactKey {
                            subject: format!("host:h{host:05}"),
                            predicate: format!("p{predicate:02}"),
                            fact_type: FactType::Observed,
                        },
                        value: json!({"v": version, "detail": format!("value {version} of p{predicate:02}")}),
                        valid_from: now,
                    })
                })
                .collect();
            let (_, recorded) = store.put_facts(&batch, &provenance, now).unwrap();
            last = recorded;
        }
        version_times.push(last);
    }
    let import_elapsed = started.elapsed();
    let facts = (HOSTS * PREDICATES * VERSIONS) as f64;
    let import_rate = facts / import_elapsed.as_secs_f64();
    drop(store);
    let size = ["praxis.db", "praxis.db-wal"]
        .iter()
        .map(|name| std::fs::metadata(directory.join(name)).map_or(0, |metadata| metadata.len()))
        .sum::<u64>();

    let store = Store::open(&path, OpenMode::ReadOnly).unwrap();
    let end_of_time = Timestamp::from_unix_nanos(i64::MAX);
    let middle = version_times[2];
    let subject_of = |run: usize| format!("host:h{:05}", (run * 7_919) % HOSTS);
    println!("querying ...");
    // Every host's facts at one (valid time, record time) point.
    let query = |valid_at: Timestamp, known_at: Timestamp| {
        time_query(2_000, |run| {
            let subject = subject_of(run);
            store
                .facts_as_of(&FactQuery {
                    subject: Some(&subject),
                    predicate: None,
                    fact_type: None,
                    valid_at,
                    known_at,
                })
                .unwrap()
                .len()
        })
    };
    let current = query(end_of_time, end_of_time);
    let as_of_valid = query(middle, end_of_time);
    let as_of_recorded = query(end_of_time, middle);
    let history = time_query(2_000, |run| {
        store.fact_history(&subject_of(run), None).unwrap().len()
    });
    let snapshot = time_query(20, |run| {
        let predicate = format!("p{:02}", run % PREDICATES);
        store
            .facts_as_of(&FactQuery {
                subject: None,
                predicate: Some(&predicate),
                fact_type: None,
                valid_at: end_of_time,
                known_at: end_of_time,
            })
            .unwrap()
            .len()
    });
    assert_eq!(current.2, PREDICATES);
    assert_eq!(history.2, PREDICATES * VERSIONS);
    assert_eq!(snapshot.2, HOSTS);
    let peak = common::peak_rss_kib(std::process::id());

    let mut report = String::new();
    writeln!(
        report,
        "Release profile, praxis {}. Machine: {}.",
        env!("CARGO_PKG_VERSION"),
        common::machine()
    )
    .unwrap();
    writeln!(report).unwrap();
    writeln!(report, "Method: {HOSTS} hosts × {PREDICATES} predicates × {VERSIONS} versions = {} facts written through `Store::put_facts` in transactions of {} facts (each version of a value closes the previous one), into a fresh database file; then 2,000 queries of random subjects per row (20 for the fleet-wide snapshot), timed in the benchmark process. Peak RSS is the benchmark process's.", HOSTS * PREDICATES * VERSIONS, HOSTS_PER_BATCH * PREDICATES).unwrap();
    writeln!(report).unwrap();
    writeln!(report, "| measure | praxis | target | praxis-py |").unwrap();
    writeln!(report, "| --- | --- | --- | --- |").unwrap();
    writeln!(
        report,
        "| import rate | {import_rate:.0} facts/s ({:.1} s) | ≥ 100,000 facts/s | 1,600 facts/s |",
        import_elapsed.as_secs_f64()
    )
    .unwrap();
    writeln!(
        report,
        "| database size (db + wal) | {:.1} MB | ≤ 150 MB | 294 MB |",
        size as f64 / 1_000_000.0
    )
    .unwrap();
    writeln!(
        report,
        "| one subject's current facts ({} rows) p50 / p99 | {} / {} | ≤ 0.05 ms p50 | 0.52 ms |",
        current.2,
        millis(current.0),
        millis(current.1)
    )
    .unwrap();
    writeln!(
        report,
        "| one subject as of a valid time p50 / p99 | {} / {} | | |",
        millis(as_of_valid.0),
        millis(as_of_valid.1)
    )
    .unwrap();
    writeln!(
        report,
        "| one subject as of a record time p50 / p99 | {} / {} | | |",
        millis(as_of_recorded.0),
        millis(as_of_recorded.1)
    )
    .unwrap();
    writeln!(
        report,
        "| one subject's history ({} rows) p50 / p99 | {} / {} | ≤ 0.2 ms p50 | 2.1 ms |",
        history.2,
        millis(history.0),
        millis(history.1)
    )
    .unwrap();
    writeln!(
        report,
        "| fleet-wide snapshot of one predicate ({} rows) p50 / p99 | {} / {} | | |",
        snapshot.2,
        millis(snapshot.0),
        millis(snapshot.1)
    )
    .unwrap();
    writeln!(
        report,
        "| peak RSS | {:.1} MB | | |",
        peak as f64 * 1024.0 / 1_000_000.0
    )
    .unwrap();
    common::write_section("fleet", &report);
    println!("{report}");
    drop(std::fs::remove_dir_all(&directory));
}
