//! The integration tests: one binary, organised by what they prove (ripgrep style).
//!
//! Each test runs the real `praxis` binary in a temporary state directory; nothing here talks
//! to anything but the child process and its files.

mod cli;
mod concurrency;
mod invariants;
mod malformed;
mod mcp;
mod session;
mod shutdown;
mod support;
