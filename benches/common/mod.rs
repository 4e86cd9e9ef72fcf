//! Shared by the benchmarks: the machine description and writing a section of
//! `docs/performance.md` between its markers, leaving the rest of the file as it is.

#![expect(
    clippy::print_stderr,
    clippy::exit,
    reason = "a benchmark that cannot save its figures says so and fails"
)]

use std::path::Path;

/// CPU, cores, memory and kernel of this machine, in one line.
pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|line| line.starts_with("model name"))
        .and_then(|line| line.split(':').nth(1))
        .map_or_else(|| "unknown".into(), |name| name.trim().to_owned());
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .next()
        .map_or_else(String::new, |line| {
            line.split_whitespace().nth(1).unwrap_or("0").to_owned()
        });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{cpu}, {cores} cores, {} GiB RAM, Linux {}",
        memory.parse::<u64>().unwrap_or(0) / 1024 / 1024,
        kernel.trim()
    )
}

/// Peak resident memory of a process (`VmHWM`), in KiB.
pub(crate) fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

/// Replaces the text between `<!-- begin:NAME -->` and `<!-- end:NAME -->` in
/// `docs/performance.md` (appending the section if it is not there yet).
pub(crate) fn write_section(name: &str, body: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join("performance.md");
    let existing = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Performance\n".into());
    let begin = format!("<!-- begin:{name} -->");
    let end = format!("<!-- end:{name} -->");
    let section = format!("{begin}\n{body}{end}");
    let updated = match (existing.find(&begin), existing.find(&end)) {
        (Some(start), Some(stop)) if stop > start => {
            format!(
                "{}{section}{}",
                &existing[..start],
                &existing[stop + end.len()..]
            )
        }
        _ => format!("{}\n{section}\n", existing.trim_end()),
    };
    if let Err(error) = std::fs::write(&path, updated) {
        eprintln!("cannot write {}: {error}", path.display());
        std::process::exit(1);
    }
}
