//! The state database schema and its migrations.
//!
//! Invariant: every table that holds history is append-only, enforced by triggers that the
//! store's own connection cannot drop (see the authorizer in `store`).
//! Migrations are numbered by `PRAGMA user_version` and run inside one immediate transaction.

/// The schema version this binary writes.
pub(crate) const CURRENT_VERSION: i64 = 3;

/// Migration `n` (1-based) brings the schema from version `n - 1` to `n`.
pub(crate) const MIGRATIONS: &[&str] = &[
    r"
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
",
    r"
-- Record time is strictly increasing across every process that writes this database.
CREATE TABLE tx_clock (
    id      INTEGER PRIMARY KEY CHECK (id = 0),
    last_tx INTEGER NOT NULL
) STRICT;
INSERT INTO tx_clock (id, last_tx) VALUES (0, 0);

CREATE TABLE subjects (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
) STRICT;

CREATE TABLE predicates (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
) STRICT;

-- Who changed a fact: collectors, operators. Interned, as subjects and predicates are.
CREATE TABLE actors (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE CHECK (name <> '')
) STRICT;

-- One row per version. Immutable but for two one-way transitions: closing (valid_to,
-- closed_at, closed_by, closed_reason set once) and superseding (superseded_at,
-- superseded_by, superseded_reason set once).
CREATE TABLE facts (
    id                INTEGER PRIMARY KEY,
    subject_id        INTEGER NOT NULL REFERENCES subjects (id),
    predicate_id      INTEGER NOT NULL REFERENCES predicates (id),
    fact_type         INTEGER NOT NULL CHECK (fact_type BETWEEN 0 AND 3),
    value             TEXT NOT NULL,
    valid_from        INTEGER NOT NULL,
    valid_to          INTEGER,
    closed_at         INTEGER,
    closed_by         INTEGER REFERENCES actors (id),
    closed_reason     TEXT,
    recorded_at       INTEGER NOT NULL,
    superseded_at     INTEGER,
    superseded_by     INTEGER REFERENCES actors (id),
    superseded_reason TEXT,
    actor             INTEGER NOT NULL REFERENCES actors (id),
    reason            TEXT,
    CHECK ((valid_to IS NULL) = (closed_at IS NULL) AND (valid_to IS NULL) = (closed_by IS NULL)),
    CHECK ((superseded_at IS NULL) = (superseded_by IS NULL)),
    CHECK (valid_to IS NULL OR valid_to > valid_from)
) STRICT;

-- Invariant: one active version per (subject, predicate, fact type).
CREATE UNIQUE INDEX facts_active ON facts (subject_id, predicate_id, fact_type)
    WHERE superseded_at IS NULL AND valid_to IS NULL;
CREATE INDEX facts_by_subject ON facts (subject_id, predicate_id, fact_type);
-- The active versions again, by predicate: a fleet-wide snapshot of one predicate.
CREATE INDEX facts_active_by_predicate ON facts (predicate_id, fact_type, subject_id)
    WHERE superseded_at IS NULL AND valid_to IS NULL;
CREATE INDEX facts_by_predicate ON facts (predicate_id, fact_type, subject_id);

-- Re-observing an identical value adds no version; this says when it was last seen.
-- Deliberately mutable and outside the history: it is a cache of sightings, not a fact.
CREATE TABLE fact_seen (
    fact_id   INTEGER PRIMARY KEY REFERENCES facts (id),
    last_seen INTEGER NOT NULL,
    sightings INTEGER NOT NULL
) STRICT;

CREATE TRIGGER facts_no_delete BEFORE DELETE ON facts
BEGIN
    SELECT RAISE(ABORT, 'facts are append-only: deletion is blocked');
END;

CREATE TRIGGER facts_append_only BEFORE UPDATE ON facts
WHEN NEW.id IS NOT OLD.id
  OR NEW.subject_id IS NOT OLD.subject_id
  OR NEW.predicate_id IS NOT OLD.predicate_id
  OR NEW.fact_type IS NOT OLD.fact_type
  OR NEW.value IS NOT OLD.value
  OR NEW.valid_from IS NOT OLD.valid_from
  OR NEW.recorded_at IS NOT OLD.recorded_at
  OR NEW.actor IS NOT OLD.actor
  OR NEW.reason IS NOT OLD.reason
  OR (OLD.valid_to IS NOT NULL AND (NEW.valid_to IS NOT OLD.valid_to
      OR NEW.closed_at IS NOT OLD.closed_at OR NEW.closed_by IS NOT OLD.closed_by
      OR NEW.closed_reason IS NOT OLD.closed_reason))
  OR (OLD.superseded_at IS NOT NULL AND (NEW.superseded_at IS NOT OLD.superseded_at
      OR NEW.superseded_by IS NOT OLD.superseded_by
      OR NEW.superseded_reason IS NOT OLD.superseded_reason))
  OR (NEW.valid_to IS NULL AND OLD.valid_to IS NOT NULL)
  OR (NEW.superseded_at IS NULL AND OLD.superseded_at IS NOT NULL)
BEGIN
    SELECT RAISE(ABORT, 'facts are append-only: only closing or superseding a version, once, is allowed');
END;

CREATE TRIGGER subjects_no_change BEFORE UPDATE ON subjects
BEGIN
    SELECT RAISE(ABORT, 'subjects are append-only');
END;
CREATE TRIGGER subjects_no_delete BEFORE DELETE ON subjects
BEGIN
    SELECT RAISE(ABORT, 'subjects are append-only');
END;
CREATE TRIGGER actors_no_change BEFORE UPDATE ON actors
BEGIN
    SELECT RAISE(ABORT, 'actors are append-only');
END;
CREATE TRIGGER actors_no_delete BEFORE DELETE ON actors
BEGIN
    SELECT RAISE(ABORT, 'actors are append-only');
END;
CREATE TRIGGER predicates_no_change BEFORE UPDATE ON predicates
BEGIN
    SELECT RAISE(ABORT, 'predicates are append-only');
END;
CREATE TRIGGER predicates_no_delete BEFORE DELETE ON predicates
BEGIN
    SELECT RAISE(ABORT, 'predicates are append-only');
END;
CREATE TRIGGER fact_seen_no_delete BEFORE DELETE ON fact_seen
BEGIN
    SELECT RAISE(ABORT, 'sightings are kept');
END;
",
    r"
-- Human approvals (issue 7). A row is advisory except for the fields the operator's
-- signature covers (id, binding_sha256, approver, decided_at, expires_at): the server verifies
-- the signature before it believes anything else. Triggers keep the transitions one-way.
CREATE TABLE approvals (
    id             TEXT PRIMARY KEY,
    binding        TEXT NOT NULL,
    binding_sha256 TEXT NOT NULL,
    tier           TEXT NOT NULL,
    target         TEXT NOT NULL,
    session_id     TEXT NOT NULL,
    reason         TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'used')),
    approver       TEXT,
    decided_at     INTEGER,
    signature      TEXT,
    deny_reason    TEXT,
    used_at        INTEGER,
    used_session   TEXT
) STRICT;
CREATE INDEX approvals_by_state ON approvals (state, created_at);

CREATE TRIGGER approvals_no_delete BEFORE DELETE ON approvals
BEGIN
    SELECT RAISE(ABORT, 'approvals are kept');
END;

CREATE TRIGGER approvals_one_way BEFORE UPDATE ON approvals
WHEN NEW.id IS NOT OLD.id
  OR NEW.binding IS NOT OLD.binding
  OR NEW.binding_sha256 IS NOT OLD.binding_sha256
  OR NEW.tier IS NOT OLD.tier
  OR NEW.target IS NOT OLD.target
  OR NEW.session_id IS NOT OLD.session_id
  OR NEW.reason IS NOT OLD.reason
  OR NEW.created_at IS NOT OLD.created_at
  OR NEW.expires_at IS NOT OLD.expires_at
  OR NOT ((OLD.state = 'pending' AND NEW.state IN ('approved', 'denied'))
       OR (OLD.state = 'approved' AND NEW.state = 'used'
           AND NEW.approver IS OLD.approver AND NEW.decided_at IS OLD.decided_at
           AND NEW.signature IS OLD.signature))
BEGIN
    SELECT RAISE(ABORT, 'approvals only move pending -> approved|denied -> used, once');
END;
",
];
