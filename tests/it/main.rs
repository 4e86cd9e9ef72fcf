//! The integration tests: one binary, organised by what they prove (ripgrep style).
//!
//! Each test runs the real `praxis` binary in a temporary state directory; nothing here talks
//! to anything but the child process and its files.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests and their helpers fail loudly"
)]
#![expect(unreachable_pub, reason = "helpers are shared between test modules")]
#![expect(
    clippy::disallowed_methods,
    reason = "tests spawn the binary and tamper with its database from outside"
)]

mod actions;
mod approvals;
mod cli;
mod concurrency;
mod drift;
mod facts;
mod fleet;
mod invariants;
mod lab;
mod malformed;
mod mcp;
mod policy;
mod session;
mod shutdown;
mod support;
