//! The state database schema and its migrations.
//!
//! Invariant: every table that holds history is append-only, enforced by triggers that the
//! store's own connection cannot drop (see the authorizer in `store`).
//! Migrations are numbered by `PRAGMA user_version` and run inside one immediate transaction.

/// The schema version this binary writes.
pub(crate) const CURRENT_VERSION: i64 = 1;

/// Migration `n` (1-based) brings the schema from version `n - 1` to `n`.
pub(crate) const MIGRATIONS: &[&str] = &[r"
CREATE TABLE audit (
    seq        INTEGER PRIMARY KEY,
    entry_hash TEXT NOT NULL,
    body       TEXT NOT NULL
) STRICT;

CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit is append-only: update is blocked');
END;

CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit is append-only: deletion is blocked');
END;
"];
