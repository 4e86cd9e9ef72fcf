//! praxis lets an AI assistant operate a fleet of servers through one tiered, audited actuator.
//!
//! # Layout
//!
//! - `cli` parses the command line into typed commands and runs them (thin `main.rs` calls it).
//! - `config` resolves the TOML file and `PRAXIS_*` overrides into `Settings`; unknown keys are errors.
//! - `transport` is the only module that speaks MCP: rmcp over a guarded stdio framing layer.
//!   It turns tool DTOs into `actuator::Request` values and results back into MCP results.
//! - `actuator` is the single choke point every tool call passes:
//!   validate → kill switch → classify → mode gate → approval gate → audit → handler → audit.
//! - `policy` is pure: tiers, modes and the classification of a call (placeholder until the
//!   policy engine lands; it fails closed).
//! - `audit` holds the hash chain: `canonical` (RFC 8785 style bytes), `chain` (pure sealing and
//!   verification), `redact` (secrets never reach a record), `log` (appends through the store).
//! - `fleet` holds the fleet graph's domain types (facts, keys, provenance).
//! - `store` is the only module that touches SQLite (WAL, append-only triggers, 0600); its
//!   `bitemporal` submodule is the pure interval logic of facts.
//! - `killswitch` is the durable sentinel file that stops every tool call.
//! - `clock` is the only place that reads the wall clock.
//!
//! Architecture invariants are listed in `docs/architecture.md`.

pub mod actuator;
pub mod adapters;
pub mod approval;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod collectors;
pub mod config;
pub mod credentials;
pub mod digest;
pub mod drift;
pub mod entropy;
pub mod fleet;
pub mod inventory;
pub mod killswitch;
pub mod policy;
pub mod store;
pub mod transport;
