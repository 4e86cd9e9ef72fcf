//! The kill switch: a durable sentinel file that stops every tool call.
//!
//! Invariants:
//! - The switch is engaged while the sentinel file exists, so it survives restarts and an
//!   operator can trip it with `touch`; it is checked on every call.
//! - If the sentinel cannot be checked (any error other than "not found"), the switch counts
//!   as engaged: fail closed.
//! - If tripping cannot write the file, the stop still holds in this process (an in-memory
//!   latch) and the caller is told the stop is not durable.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::clock::Timestamp;

/// The state of the switch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KillState {
    Clear,
    /// Engaged; `detail` is the sentinel's first line (time and reason) or why it is assumed.
    Engaged {
        detail: String,
    },
}

/// How a trip went.
#[derive(Debug, PartialEq, Eq)]
pub enum TripOutcome {
    /// The sentinel was written and synced.
    Durable,
    /// The sentinel could not be written; the stop holds in memory until this process ends.
    InMemoryOnly { error: String },
}

/// The kill switch at one sentinel path.
pub struct KillSwitch {
    sentinel: PathBuf,
    latched: AtomicBool,
}

/// Sentinel contents are cut to this many bytes when read.
const MAX_DETAIL_BYTES: usize = 500;

impl KillSwitch {
    /// A kill switch whose sentinel is `sentinel`.
    pub fn new(sentinel: PathBuf) -> KillSwitch {
        KillSwitch {
            sentinel,
            latched: AtomicBool::new(false),
        }
    }

    /// The sentinel file.
    pub fn sentinel(&self) -> &Path {
        &self.sentinel
    }

    /// Whether the switch is engaged, checked now.
    pub fn state(&self) -> KillState {
        if self.latched.load(Ordering::SeqCst) {
            return KillState::Engaged {
                detail: "tripped in this process; the sentinel could not be written".into(),
            };
        }
        match fs::read(&self.sentinel) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                let first_line = text.lines().next().unwrap_or("").trim();
                KillState::Engaged {
                    detail: crate::audit::cut(first_line, MAX_DETAIL_BYTES),
                }
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => KillState::Clear,
            Err(error) => KillState::Engaged {
                detail: format!(
                    "the sentinel {} cannot be checked ({error}); assuming engaged",
                    self.sentinel.display()
                ),
            },
        }
    }

    /// Trips the switch with a (redacted) reason.
    pub fn trip(&self, now: Timestamp, reason: &str) -> TripOutcome {
        let line = format!("{now} {}\n", reason.replace(['\n', '\r'], " "));
        match write_sentinel(&self.sentinel, line.as_bytes()) {
            Ok(()) => TripOutcome::Durable,
            Err(error) => {
                self.latched.store(true, Ordering::SeqCst);
                TripOutcome::InMemoryOnly {
                    error: error.to_string(),
                }
            }
        }
    }

    /// Clears the switch: removes the sentinel. Returns whether it was engaged.
    pub fn clear(&self) -> io::Result<bool> {
        match fs::remove_file(&self.sentinel) {
            Ok(()) => Ok(true),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(error) => Err(error),
        }
    }
}

fn write_sentinel(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()?;
    if let Some(parent) = path.parent()
        && let Ok(directory) = fs::File::open(parent)
    {
        // Syncing the directory makes the new entry itself durable; failure here leaves the
        // file written, which is what matters for the next check.
        drop(directory.sync_all());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trip_survives_a_new_instance_and_clear_releases_it() {
        let directory = std::env::temp_dir().join(format!("praxis-kill-{}", std::process::id()));
        drop(fs::remove_dir_all(&directory));
        fs::create_dir_all(&directory).unwrap();
        let sentinel = directory.join("KILL");
        let switch = KillSwitch::new(sentinel.clone());
        assert_eq!(switch.state(), KillState::Clear);
        assert_eq!(
            switch.trip(Timestamp::from_unix_nanos(0), "smoke\nrising"),
            TripOutcome::Durable
        );
        let reopened = KillSwitch::new(sentinel.clone());
        let KillState::Engaged { detail } = reopened.state() else {
            panic!("a tripped switch must stay engaged across instances");
        };
        assert!(detail.ends_with("smoke rising"));
        assert!(reopened.clear().unwrap());
        assert_eq!(reopened.state(), KillState::Clear);
        fs::write(&sentinel, b"by hand").unwrap();
        assert!(matches!(switch.state(), KillState::Engaged { .. }));
    }

    #[test]
    fn an_unwritable_sentinel_latches_in_memory() {
        let switch = KillSwitch::new(PathBuf::from("/proc/praxis-cannot-write-here/KILL"));
        assert!(matches!(
            switch.trip(Timestamp::from_unix_nanos(0), "x"),
            TripOutcome::InMemoryOnly { .. }
        ));
        assert!(matches!(switch.state(), KillState::Engaged { .. }));
    }
}
