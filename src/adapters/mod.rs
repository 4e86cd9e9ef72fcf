//! Adapters: the only module that spawns processes or opens sockets.
//!
//! Invariants: adapters know nothing about tiers or approvals (the actuator decides what may
//! run); every child runs from an argv vector (no local shell), with a scrubbed environment,
//! stdin closed, in its own process group that is killed at the timeout and after the child
//! exits, and with bounded capture.

pub mod ansible;
pub mod egress;
pub mod process;
pub mod ssh;
pub mod talosctl;
