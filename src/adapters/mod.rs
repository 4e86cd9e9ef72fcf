//! Adapters: the only module that spawns processes or opens sockets.
//!
//! Invariants: adapters know nothing about tiers or approvals (the actuator decides what may
//! run); every child runs from an argv vector (no local shell), with a scrubbed environment,
//! stdin closed, in its own process group that is killed at the timeout and after the child
//! exits, and with bounded capture.

pub mod ansible;
pub mod confine;
pub mod egress;
pub mod process;
pub mod reach;
pub mod redfish;
pub mod runbook;
pub mod ssh;
pub mod ssh_mux;
pub mod talosctl;
pub mod terraform;

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Names the temporary files of concurrent writes apart.
static WRITES: AtomicU64 = AtomicU64::new(0);

/// Writes `content` to `path` (mode 0600) unless it holds exactly that already. The bytes go to
/// a temporary file beside it, renamed into place, so a concurrent reader (an ssh client
/// reading its `known_hosts`, ansible reading its inventory) sees the old file or the new one,
/// never a partial one.
pub(crate) fn write_private_file(path: &Path, content: &str) -> std::io::Result<()> {
    if std::fs::read_to_string(path).is_ok_and(|current| current == content) {
        return Ok(());
    }
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let aside = path.with_file_name(format!(
        ".{name}.{}.{}",
        std::process::id(),
        WRITES.fetch_add(1, Ordering::Relaxed)
    ));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&aside)
        .and_then(|mut file| file.write_all(content.as_bytes()))
        .and_then(|()| std::fs::rename(&aside, path));
    if written.is_err()
        && let Err(cleanup) = std::fs::remove_file(&aside)
    {
        tracing::debug!(%cleanup, path = %aside.display(), "temporary file left");
    }
    written
}
