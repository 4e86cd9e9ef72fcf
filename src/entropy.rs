//! Randomness for identifiers: the only place praxis reads system entropy.
//!
//! Session ids need to be unique, not secret; if `/dev/urandom` is unreadable the id falls back
//! to a hash of the time, the process id and a counter, which is still unique on one machine.

use std::fs::File;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::clock::Timestamp;
use crate::digest::Digest;

/// A fresh 128-bit identifier as 32 lowercase hex characters.
pub fn random_id(now: Timestamp) -> String {
    let mut bytes = [0u8; 16];
    let from_system = File::open("/dev/urandom").and_then(|mut file| file.read_exact(&mut bytes));
    if from_system.is_err() {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let seed = format!(
            "{}:{}:{}",
            now.unix_nanos(),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        bytes.copy_from_slice(&Digest::of(seed.as_bytes()).as_bytes()[..16]);
    }
    Digest::from_bytes({
        let mut wide = [0u8; 32];
        wide[..16].copy_from_slice(&bytes);
        wide
    })
    .to_hex()[..32]
        .to_owned()
}
