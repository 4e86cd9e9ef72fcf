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

use praxis::drift::{Compare, Desired, Observed, Severity, compare};
use serde_json::json;

const HOSTS: usize = 10_000;
const PREDICATES: usize = 20;
const RUNS: usize = 5;

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
         store reads that feed it (issue 6) are not included yet.\n",
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
        "| peak RSS of the benchmark process, inputs included | {:.1} MB | | |",
        common::peak_rss_kib(std::process::id()) as f64 / 1_024.0
    )
    .unwrap();
    print!("{body}");
    common::write_section("drift", &body);
}
