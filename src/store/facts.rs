//! Facts in the state database: bitemporal writes and as-of queries.
//!
//! Invariants:
//! - Every write runs in one `BEGIN IMMEDIATE` transaction and takes its record time from the
//!   database's `tx_clock`, so record time strictly increases across processes.
//! - A new value ends the key's active version (closes it at the new value's valid time, or
//!   supersedes it when it had not started yet) and inserts the new one, in one transaction;
//!   the unique partial index `facts_active` makes two active versions impossible.
//! - An identical value adds no version; it updates `fact_seen` only.
//! - Queries implement `bitemporal::Span::visible` in SQL.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};
use serde_json::Value;

use super::bitemporal::{self, Ending, WriteRefusal};
use super::{Durability, Store, StoreError};
use crate::audit::canonical;
use crate::audit::chain::SealedRecord;
use crate::clock::Timestamp;
use crate::digest::Digest;
use crate::fleet::{FactKey, FactType, FactVersion, Provenance};

/// A fact write failure.
#[derive(Debug, thiserror::Error)]
pub enum FactError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "{subject} {predicate} ({fact_type}): valid time {at} is earlier than the current version's {boundary}; correct the current version instead of rewriting history"
    )]
    Backdated {
        subject: String,
        predicate: String,
        fact_type: FactType,
        at: Timestamp,
        boundary: Timestamp,
    },
    #[error("a fact change needs an actor")]
    NoActor,
    #[error("a retraction needs a reason")]
    NoReason,
}

impl From<rusqlite::Error> for FactError {
    fn from(error: rusqlite::Error) -> FactError {
        FactError::Store(StoreError::Sql(error))
    }
}

/// One value to write.
#[derive(Clone, Debug)]
pub struct NewFact {
    pub key: FactKey,
    pub value: Value,
    /// When it became true in the world (usually when it was observed).
    pub valid_from: Timestamp,
}

/// What a write did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PutOutcome {
    /// The key had no active version; one was added.
    Created,
    /// The active version ended and a new one was added.
    Changed,
    /// The value was identical: no version added, the sighting recorded.
    Unchanged,
}

/// The axes of an as-of query, and optional filters.
#[derive(Clone, Debug)]
pub struct FactQuery<'query> {
    pub subject: Option<&'query str>,
    pub predicate: Option<&'query str>,
    pub fact_type: Option<FactType>,
    /// Valid time.
    pub valid_at: Timestamp,
    /// Record time.
    pub known_at: Timestamp,
}

/// Every change needs an actor; ending a fact also needs a reason.
fn check_provenance(provenance: &Provenance, retracting: bool) -> Result<(), FactError> {
    if provenance.actor.trim().is_empty() {
        return Err(FactError::NoActor);
    }
    if retracting
        && provenance
            .reason
            .as_deref()
            .is_none_or(|reason| reason.trim().is_empty())
    {
        return Err(FactError::NoReason);
    }
    Ok(())
}

const VERSION_COLUMNS: &str = "f.id, s.name, p.name, f.fact_type, f.value, f.valid_from, f.valid_to, \
     f.closed_at, f.recorded_at, f.superseded_at, \
     (SELECT name FROM actors WHERE id = f.actor), f.reason, \
     (SELECT name FROM actors WHERE id = COALESCE(f.superseded_by, f.closed_by)), \
     CASE WHEN f.superseded_by IS NOT NULL THEN f.superseded_reason ELSE f.closed_reason END, \
     (SELECT last_seen FROM fact_seen WHERE fact_id = f.id)";

impl Store {
    /// Writes values in one transaction; returns one outcome per value, and the record time.
    pub fn put_facts(
        &self,
        facts: &[NewFact],
        provenance: &Provenance,
        now: Timestamp,
    ) -> Result<(Vec<PutOutcome>, Timestamp), FactError> {
        if provenance.actor.trim().is_empty() {
            return Err(FactError::NoActor);
        }
        let mut connection = self.connection();
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let recorded_at = next_tx(&transaction, now)?;
        let mut writer = Writer::new(&transaction, provenance)?;
        let mut outcomes = Vec::with_capacity(facts.len());
        for fact in facts {
            outcomes.push(writer.put(fact, recorded_at)?);
        }
        transaction.commit()?;
        Ok((outcomes, recorded_at))
    }

    /// Writes values and the audit record that describes the write in one transaction, so a
    /// fact exists exactly when its record does. `seal` gets the outcomes, the record time and
    /// the chain position, and returns the sealed record.
    pub fn put_facts_audited<Seal>(
        &self,
        facts: &[NewFact],
        provenance: &Provenance,
        now: Timestamp,
        durability: Durability,
        seal: Seal,
    ) -> Result<(Vec<PutOutcome>, Timestamp, SealedRecord), FactError>
    where
        Seal: FnOnce(&[PutOutcome], Timestamp, u64, &Digest) -> SealedRecord,
    {
        self.change_facts_audited(
            facts,
            &[],
            provenance,
            now,
            durability,
            |outcomes, _, at, seq, previous| seal(outcomes, at, seq, previous),
        )
        .map(|(outcomes, _, recorded_at, sealed)| (outcomes, recorded_at, sealed))
    }

    /// Like `put_facts_audited`, and also ends the active versions of `retractions` at `now`
    /// (valid time) in the same transaction; `seal` also gets how many were ended.
    pub fn change_facts_audited<Seal>(
        &self,
        facts: &[NewFact],
        retractions: &[FactKey],
        provenance: &Provenance,
        now: Timestamp,
        durability: Durability,
        seal: Seal,
    ) -> Result<(Vec<PutOutcome>, usize, Timestamp, SealedRecord), FactError>
    where
        Seal: FnOnce(&[PutOutcome], usize, Timestamp, u64, &Digest) -> SealedRecord,
    {
        check_provenance(provenance, !retractions.is_empty())?;
        let mut connection = self.connection();
        super::set_durability(&connection, durability)?;
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let recorded_at = next_tx(&transaction, now)?;
        let mut writer = Writer::new(&transaction, provenance)?;
        let mut outcomes = Vec::with_capacity(facts.len());
        for fact in facts {
            outcomes.push(writer.put(fact, recorded_at)?);
        }
        let actor_id = writer.actor_id;
        let mut retracted = 0;
        for key in retractions {
            if retract_one(&transaction, key, now, actor_id, provenance, recorded_at)? {
                retracted += 1;
            }
        }
        let sealed = super::append_audit_in(&transaction, |seq, previous| {
            seal(&outcomes, retracted, recorded_at, seq, previous)
        })?;
        transaction.commit()?;
        Ok((outcomes, retracted, recorded_at, sealed))
    }

    /// Applies a set of changes in one transaction: every value in `puts` is written, every key
    /// in `retractions` that is active ends at `now` (valid time). All or nothing.
    pub fn apply_changes(
        &self,
        puts: &[NewFact],
        retractions: &[FactKey],
        provenance: &Provenance,
        now: Timestamp,
    ) -> Result<(Vec<PutOutcome>, usize, Timestamp), FactError> {
        check_provenance(provenance, !retractions.is_empty())?;
        let mut connection = self.connection();
        super::set_durability(&connection, Durability::Full)?;
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let recorded_at = next_tx(&transaction, now)?;
        let mut writer = Writer::new(&transaction, provenance)?;
        let mut outcomes = Vec::with_capacity(puts.len());
        for fact in puts {
            outcomes.push(writer.put(fact, recorded_at)?);
        }
        let actor_id = writer.actor_id;
        let mut retracted = 0;
        for key in retractions {
            if retract_one(&transaction, key, now, actor_id, provenance, recorded_at)? {
                retracted += 1;
            }
        }
        transaction.commit()?;
        Ok((outcomes, retracted, recorded_at))
    }

    /// Ends the key's active version at valid time `valid_to` (the fact stopped being true).
    /// Returns whether there was an active version.
    pub fn retract_fact(
        &self,
        key: &FactKey,
        valid_to: Timestamp,
        provenance: &Provenance,
        now: Timestamp,
    ) -> Result<bool, FactError> {
        if provenance.actor.trim().is_empty() {
            return Err(FactError::NoActor);
        }
        if provenance
            .reason
            .as_deref()
            .is_none_or(|reason| reason.trim().is_empty())
        {
            return Err(FactError::NoReason);
        }
        let mut connection = self.connection();
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let recorded_at = next_tx(&transaction, now)?;
        let actor_id = intern(&transaction, "actors", &provenance.actor)?;
        let retracted = retract_one(
            &transaction,
            key,
            valid_to,
            actor_id,
            provenance,
            recorded_at,
        )?;
        transaction.commit()?;
        Ok(retracted)
    }

    /// The versions visible at `query.valid_at` as known at `query.known_at`, in insertion order.
    pub fn facts_as_of(&self, query: &FactQuery<'_>) -> Result<Vec<FactVersion>, StoreError> {
        let connection = self.connection();
        // The filters become plain equalities on interned ids, so SQLite can use the subject
        // or predicate index instead of scanning every version.
        let end_of_time = i64::MAX;
        let current = query.valid_at.unix_nanos() == end_of_time
            && query.known_at.unix_nanos() == end_of_time;
        // As of the end of both axes, the visible versions are exactly the active ones, which
        // the partial index `facts_active` holds; any other point needs the full predicate.
        let mut sql = if current {
            // Without statistics SQLite would rather walk every version of the subject, so the
            // partial index of active versions is named.
            let index = if query.subject.is_none() && query.predicate.is_some() {
                "facts_active_by_predicate"
            } else {
                "facts_active"
            };
            format!(
                "SELECT {VERSION_COLUMNS} FROM facts f INDEXED BY {index} \
                 JOIN subjects s ON s.id = f.subject_id JOIN predicates p ON p.id = f.predicate_id \
                 WHERE f.superseded_at IS NULL AND f.valid_to IS NULL \
                   AND :known = :known AND :valid = :valid"
            )
        } else {
            format!(
                "SELECT {VERSION_COLUMNS} FROM facts f \
                 JOIN subjects s ON s.id = f.subject_id JOIN predicates p ON p.id = f.predicate_id \
                 WHERE f.recorded_at <= :known AND (f.superseded_at IS NULL OR f.superseded_at > :known) \
                   AND f.valid_from <= :valid \
                   AND (f.valid_to IS NULL OR f.closed_at > :known OR f.valid_to > :valid)"
            )
        };
        if query.subject.is_some() {
            sql.push_str(" AND f.subject_id = (SELECT id FROM subjects WHERE name = :subject)");
        }
        if query.predicate.is_some() {
            sql.push_str(
                " AND f.predicate_id = (SELECT id FROM predicates WHERE name = :predicate)",
            );
        }
        if query.fact_type.is_some() {
            sql.push_str(" AND f.fact_type = :fact_type");
        }
        sql.push_str(" ORDER BY f.id");
        let mut statement = connection.prepare_cached(&sql)?;
        let known = query.known_at.unix_nanos();
        let valid = query.valid_at.unix_nanos();
        let fact_type = query.fact_type.map(FactType::code);
        let mut parameters: Vec<(&str, &dyn rusqlite::ToSql)> =
            vec![(":known", &known), (":valid", &valid)];
        if let Some(subject) = &query.subject {
            parameters.push((":subject", subject));
        }
        if let Some(predicate) = &query.predicate {
            parameters.push((":predicate", predicate));
        }
        if let Some(fact_type) = &fact_type {
            parameters.push((":fact_type", fact_type));
        }
        let rows = statement.query_map(parameters.as_slice(), version_from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The active facts of one type (optionally one subject), oldest first, without their
    /// provenance: `each` gets (subject, predicate, value, when last seen). For the drift
    /// engine, which reads whole fleets and needs neither actors nor reasons.
    pub fn for_each_current_fact(
        &self,
        fact_type: FactType,
        subject: Option<&str>,
        mut each: impl FnMut(&str, String, Value, Timestamp),
    ) -> Result<(), StoreError> {
        let connection = self.connection();
        let mut sql = String::from(
            "SELECT s.name, p.name, f.value,                COALESCE((SELECT last_seen FROM fact_seen WHERE fact_id = f.id), f.recorded_at)              FROM facts f INDEXED BY facts_active              JOIN subjects s ON s.id = f.subject_id JOIN predicates p ON p.id = f.predicate_id              WHERE f.superseded_at IS NULL AND f.valid_to IS NULL AND f.fact_type = :fact_type",
        );
        if subject.is_some() {
            sql.push_str(" AND f.subject_id = (SELECT id FROM subjects WHERE name = :subject)");
        }
        sql.push_str(" ORDER BY f.id");
        let mut statement = connection.prepare_cached(&sql)?;
        let code = fact_type.code();
        let mut parameters: Vec<(&str, &dyn rusqlite::ToSql)> = vec![(":fact_type", &code)];
        if let Some(subject) = &subject {
            parameters.push((":subject", subject));
        }
        let mut rows = statement.query(parameters.as_slice())?;
        while let Some(row) = rows.next()? {
            let value_text: String = row.get(2)?;
            let value = serde_json::from_str(&value_text).unwrap_or(Value::String(value_text));
            each(
                row.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?,
                row.get(1)?,
                value,
                Timestamp::from_unix_nanos(row.get(3)?),
            );
        }
        Ok(())
    }

    /// Every version of a subject's facts (optionally one predicate), oldest first.
    pub fn fact_history(
        &self,
        subject: &str,
        predicate: Option<&str>,
    ) -> Result<Vec<FactVersion>, StoreError> {
        let connection = self.connection();
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM facts f \
             JOIN subjects s ON s.id = f.subject_id JOIN predicates p ON p.id = f.predicate_id \
             WHERE f.subject_id = (SELECT id FROM subjects WHERE name = ?1) \
               AND (?2 IS NULL OR p.name = ?2) ORDER BY f.id"
        );
        let mut statement = connection.prepare_cached(&sql)?;
        let rows = statement.query_map(params![subject, predicate], version_from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

fn backdated(key: &FactKey, at: Timestamp, refusal: WriteRefusal) -> FactError {
    let WriteRefusal::Backdated { boundary } = refusal;
    FactError::Backdated {
        subject: key.subject.clone(),
        predicate: key.predicate.clone(),
        fact_type: key.fact_type,
        at,
        boundary,
    }
}

/// The next record time: the caller's clock, but always after every earlier write.
fn next_tx(transaction: &Transaction<'_>, now: Timestamp) -> rusqlite::Result<Timestamp> {
    let last: i64 =
        transaction.query_row("SELECT last_tx FROM tx_clock WHERE id = 0", [], |row| {
            row.get(0)
        })?;
    let next = now.unix_nanos().max(last.saturating_add(1));
    transaction.execute("UPDATE tx_clock SET last_tx = ?1 WHERE id = 0", [next])?;
    Ok(Timestamp::from_unix_nanos(next))
}

fn intern(transaction: &Transaction<'_>, table: &str, name: &str) -> rusqlite::Result<i64> {
    let select = format!("SELECT id FROM {table} WHERE name = ?1");
    if let Some(id) = transaction
        .prepare_cached(&select)?
        .query_row([name], |row| row.get(0))
        .optional()?
    {
        return Ok(id);
    }
    let insert = format!("INSERT INTO {table} (name) VALUES (?1)");
    transaction.prepare_cached(&insert)?.execute([name])?;
    Ok(transaction.last_insert_rowid())
}

fn key_ids(transaction: &Transaction<'_>, key: &FactKey) -> rusqlite::Result<Option<(i64, i64)>> {
    let subject: Option<i64> = transaction
        .prepare_cached("SELECT id FROM subjects WHERE name = ?1")?
        .query_row([&key.subject], |row| row.get(0))
        .optional()?;
    let predicate: Option<i64> = transaction
        .prepare_cached("SELECT id FROM predicates WHERE name = ?1")?
        .query_row([&key.predicate], |row| row.get(0))
        .optional()?;
    Ok(subject.zip(predicate))
}

struct Active {
    id: i64,
    value: String,
    valid_from: Timestamp,
}

fn active_version(
    transaction: &Transaction<'_>,
    subject_id: i64,
    predicate_id: i64,
    fact_type: FactType,
) -> rusqlite::Result<Option<Active>> {
    transaction
        .prepare_cached(
            "SELECT id, value, valid_from FROM facts WHERE subject_id = ?1 AND predicate_id = ?2 \
             AND fact_type = ?3 AND superseded_at IS NULL AND valid_to IS NULL",
        )?
        .query_row(params![subject_id, predicate_id, fact_type.code()], |row| {
            Ok(Active {
                id: row.get(0)?,
                value: row.get(1)?,
                valid_from: Timestamp::from_unix_nanos(row.get(2)?),
            })
        })
        .optional()
}

/// The latest `valid_to` among the key's believed, closed versions.
fn closed_boundary(
    transaction: &Transaction<'_>,
    subject_id: i64,
    predicate_id: i64,
    fact_type: FactType,
) -> rusqlite::Result<Option<Timestamp>> {
    let boundary: Option<i64> = transaction
        .prepare_cached(
            "SELECT MAX(valid_to) FROM facts WHERE subject_id = ?1 AND predicate_id = ?2 \
             AND fact_type = ?3 AND superseded_at IS NULL",
        )?
        .query_row(params![subject_id, predicate_id, fact_type.code()], |row| {
            row.get(0)
        })?;
    Ok(boundary.map(Timestamp::from_unix_nanos))
}

fn end_version(
    transaction: &Transaction<'_>,
    id: i64,
    ending: Option<Ending>,
    at: Timestamp,
    actor_id: i64,
    reason: Option<&str>,
    recorded_at: Timestamp,
) -> rusqlite::Result<()> {
    match ending {
        None => {}
        Some(Ending::Close) => {
            transaction
                .prepare_cached(
                    "UPDATE facts SET valid_to = ?2, closed_at = ?3, closed_by = ?4, closed_reason = ?5 \
                     WHERE id = ?1",
                )?
                .execute(params![id, at.unix_nanos(), recorded_at.unix_nanos(), actor_id, reason])?;
        }
        Some(Ending::Supersede) => {
            transaction
                .prepare_cached(
                    "UPDATE facts SET superseded_at = ?2, superseded_by = ?3, superseded_reason = ?4 \
                     WHERE id = ?1",
                )?
                .execute(params![id, recorded_at.unix_nanos(), actor_id, reason])?;
        }
    }
    Ok(())
}

/// Ends `key`'s active version at valid time `valid_to`; false when it has none.
fn retract_one(
    transaction: &Transaction<'_>,
    key: &FactKey,
    valid_to: Timestamp,
    actor_id: i64,
    provenance: &Provenance,
    recorded_at: Timestamp,
) -> Result<bool, FactError> {
    let Some((subject_id, predicate_id)) = key_ids(transaction, key)? else {
        return Ok(false);
    };
    let Some(active) = active_version(transaction, subject_id, predicate_id, key.fact_type)? else {
        return Ok(false);
    };
    let boundary = closed_boundary(transaction, subject_id, predicate_id, key.fact_type)?;
    let ending = bitemporal::ending(Some(active.valid_from), boundary, valid_to)
        .map_err(|refusal| backdated(key, valid_to, refusal))?;
    end_version(
        transaction,
        active.id,
        ending,
        valid_to,
        actor_id,
        provenance.reason.as_deref(),
        recorded_at,
    )?;
    Ok(true)
}

/// Writes versions inside one transaction, remembering interned ids for the batch.
struct Writer<'transaction, 'connection> {
    transaction: &'transaction Transaction<'connection>,
    provenance: &'transaction Provenance,
    actor_id: i64,
    subjects: HashMap<String, i64>,
    predicates: HashMap<String, i64>,
}

impl<'transaction, 'connection> Writer<'transaction, 'connection> {
    fn new(
        transaction: &'transaction Transaction<'connection>,
        provenance: &'transaction Provenance,
    ) -> rusqlite::Result<Self> {
        Ok(Writer {
            actor_id: intern(transaction, "actors", &provenance.actor)?,
            transaction,
            provenance,
            subjects: HashMap::new(),
            predicates: HashMap::new(),
        })
    }

    fn cached_id(
        transaction: &Transaction<'_>,
        cache: &mut HashMap<String, i64>,
        table: &str,
        name: &str,
    ) -> rusqlite::Result<i64> {
        if let Some(id) = cache.get(name) {
            return Ok(*id);
        }
        let id = intern(transaction, table, name)?;
        cache.insert(name.to_owned(), id);
        Ok(id)
    }

    fn put(&mut self, fact: &NewFact, recorded_at: Timestamp) -> Result<PutOutcome, FactError> {
        let transaction = self.transaction;
        let subject_id = Self::cached_id(
            transaction,
            &mut self.subjects,
            "subjects",
            &fact.key.subject,
        )?;
        let predicate_id = Self::cached_id(
            transaction,
            &mut self.predicates,
            "predicates",
            &fact.key.predicate,
        )?;
        let value = canonical::to_canonical_string(&fact.value);
        let active = active_version(transaction, subject_id, predicate_id, fact.key.fact_type)?;
        if let Some(active) = &active
            && active.value == value
        {
            transaction
                .prepare_cached(
                    "INSERT INTO fact_seen (fact_id, last_seen, sightings) VALUES (?1, ?2, 1) \
                     ON CONFLICT (fact_id) DO UPDATE SET last_seen = excluded.last_seen, sightings = sightings + 1",
                )?
                .execute(params![active.id, recorded_at.unix_nanos()])?;
            return Ok(PutOutcome::Unchanged);
        }
        // Every closed version ends at or before the active one starts, so with an active
        // version its start is the latest boundary; only without one is the closed set read.
        let boundary = match &active {
            Some(_) => None,
            None => closed_boundary(transaction, subject_id, predicate_id, fact.key.fact_type)?,
        };
        let ending = bitemporal::ending(
            active.as_ref().map(|active| active.valid_from),
            boundary,
            fact.valid_from,
        )
        .map_err(|refusal| backdated(&fact.key, fact.valid_from, refusal))?;
        if let Some(active) = &active {
            end_version(
                transaction,
                active.id,
                ending,
                fact.valid_from,
                self.actor_id,
                self.provenance.reason.as_deref(),
                recorded_at,
            )?;
        }
        transaction
            .prepare_cached(
                "INSERT INTO facts (subject_id, predicate_id, fact_type, value, valid_from, recorded_at, actor, reason) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                subject_id,
                predicate_id,
                fact.key.fact_type.code(),
                value,
                fact.valid_from.unix_nanos(),
                recorded_at.unix_nanos(),
                self.actor_id,
                self.provenance.reason
            ])?;
        Ok(if active.is_some() {
            PutOutcome::Changed
        } else {
            PutOutcome::Created
        })
    }
}

fn version_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<FactVersion> {
    let timestamp = |index: usize| -> rusqlite::Result<Option<Timestamp>> {
        Ok(row
            .get::<_, Option<i64>>(index)?
            .map(Timestamp::from_unix_nanos))
    };
    let fact_type_code: i64 = row.get(3)?;
    let value_text: String = row.get(4)?;
    let ended_by: Option<String> = row.get(12)?;
    Ok(FactVersion {
        id: row.get(0)?,
        key: FactKey {
            subject: row.get(1)?,
            predicate: row.get(2)?,
            fact_type: FactType::from_code(fact_type_code).unwrap_or(FactType::Observed),
        },
        value: serde_json::from_str(&value_text).unwrap_or(Value::String(value_text)),
        valid_from: Timestamp::from_unix_nanos(row.get(5)?),
        valid_to: timestamp(6)?,
        closed_at: timestamp(7)?,
        recorded_at: Timestamp::from_unix_nanos(row.get(8)?),
        superseded_at: timestamp(9)?,
        created_by: Provenance {
            actor: row.get(10)?,
            reason: row.get(11)?,
        },
        ended_by: ended_by.map(|actor| Provenance {
            actor,
            reason: row.get(13).ok().flatten(),
        }),
        last_seen: timestamp(14)?,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::PathBuf;

    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::clock::Clock;
    use crate::store::OpenMode;

    fn temporary_store(name: &str) -> (Store, PathBuf) {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let directory = std::env::temp_dir().join(format!(
            "praxis-facts-{name}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        drop(std::fs::remove_dir_all(&directory));
        std::fs::create_dir_all(&directory).unwrap();
        let path = directory.join("praxis.db");
        (
            Store::open(&path, OpenMode::CreateIfMissing).unwrap(),
            directory,
        )
    }

    fn at(nanos: i64) -> Timestamp {
        Timestamp::from_unix_nanos(nanos)
    }

    fn key(subject: &str, predicate: &str) -> FactKey {
        FactKey {
            subject: subject.into(),
            predicate: predicate.into(),
            fact_type: FactType::Observed,
        }
    }

    fn collector() -> Provenance {
        Provenance {
            actor: "collector:probe".into(),
            reason: Some("test".into()),
        }
    }

    fn put(store: &Store, key: &FactKey, value: Value, valid: i64, now: i64) -> PutOutcome {
        let fact = NewFact {
            key: key.clone(),
            value,
            valid_from: at(valid),
        };
        store.put_facts(&[fact], &collector(), at(now)).unwrap().0[0]
    }

    fn current(store: &Store, subject: &str) -> Vec<FactVersion> {
        store
            .facts_as_of(&FactQuery {
                subject: Some(subject),
                predicate: None,
                fact_type: None,
                valid_at: at(i64::MAX),
                known_at: at(i64::MAX),
            })
            .unwrap()
    }

    #[test]
    fn a_new_value_supersedes_and_an_identical_one_is_only_a_sighting() {
        let (store, _directory) = temporary_store("values");
        let os = key("host:web-1", "os");
        assert_eq!(
            put(&store, &os, json!("debian 12"), 100, 100),
            PutOutcome::Created
        );
        assert_eq!(
            put(&store, &os, json!("debian 12"), 200, 200),
            PutOutcome::Unchanged
        );
        assert_eq!(
            put(&store, &os, json!("debian 13"), 300, 300),
            PutOutcome::Changed
        );
        let history = store.fact_history("host:web-1", Some("os")).unwrap();
        assert_eq!(history.len(), 2, "the identical value added no version");
        assert_eq!(history[0].valid_to, Some(at(300)));
        assert_eq!(history[0].closed_at, Some(at(300)));
        assert_eq!(
            history[0].last_seen,
            Some(at(200)),
            "the sighting is answerable"
        );
        assert_eq!(
            history[0].ended_by.as_ref().unwrap().actor,
            "collector:probe"
        );
        assert_eq!(current(&store, "host:web-1")[0].value, json!("debian 13"));
        let between = store
            .facts_as_of(&FactQuery {
                subject: Some("host:web-1"),
                predicate: None,
                fact_type: None,
                valid_at: at(i64::MAX),
                known_at: at(250),
            })
            .unwrap();
        assert_eq!(between[0].value, json!("debian 12"), "as known at 250");
    }

    #[test]
    fn record_time_is_strictly_increasing_even_if_the_clock_is_not() {
        let (store, _directory) = temporary_store("tx");
        let (_, first) = store.put_facts(&[], &collector(), at(1_000)).unwrap();
        let (_, second) = store.put_facts(&[], &collector(), at(5)).unwrap();
        assert!(second > first);
    }

    #[test]
    fn a_retraction_needs_an_actor_and_a_reason_and_records_them() {
        let (store, _directory) = temporary_store("retract");
        let host = key("host:db-1", "inventory");
        put(&store, &host, json!({"host_type": "linux"}), 10, 10);
        let no_reason = Provenance {
            actor: "alice".into(),
            reason: None,
        };
        assert!(matches!(
            store.retract_fact(&host, at(20), &no_reason, at(20)),
            Err(FactError::NoReason)
        ));
        let operator = Provenance {
            actor: "alice".into(),
            reason: Some("host decommissioned".into()),
        };
        assert!(
            store
                .retract_fact(&host, at(20), &operator, at(20))
                .unwrap()
        );
        assert!(current(&store, "host:db-1").is_empty());
        let history = store.fact_history("host:db-1", None).unwrap();
        assert_eq!(history[0].ended_by, Some(operator));
        assert_eq!(history[0].valid_to, Some(at(20)));
        assert!(matches!(
            put(&store, &host, json!(1), 25, 30),
            PutOutcome::Created
        ));
        assert!(matches!(
            store.put_facts(
                &[NewFact {
                    key: host.clone(),
                    value: json!(2),
                    valid_from: at(1)
                }],
                &collector(),
                at(40)
            ),
            Err(FactError::Backdated { .. })
        ));
    }

    #[test]
    fn invariant_4_the_own_connection_cannot_delete_edit_or_drop() {
        let (store, _directory) = temporary_store("append-only");
        let os = key("host:web-1", "os");
        put(&store, &os, json!("a"), 1, 1);
        put(&store, &os, json!("b"), 2, 2);
        let connection = store.connection();
        for statement in [
            "DELETE FROM facts",
            "UPDATE facts SET value = '\"x\"'",
            "UPDATE facts SET recorded_at = 0",
            "UPDATE facts SET actor = 'mallory'",
            "DROP TRIGGER facts_no_delete",
            "DROP TRIGGER facts_append_only",
            "DROP INDEX facts_active",
            "DELETE FROM subjects",
            "UPDATE subjects SET name = 'host:other'",
            "ALTER TABLE facts ADD COLUMN sneaky TEXT",
        ] {
            assert!(
                connection.execute_batch(statement).is_err(),
                "{statement} must be refused"
            );
        }
        // A transition the authorizer allows is still checked by the trigger: closing twice.
        assert!(
            connection
                .execute_batch("UPDATE facts SET valid_to = 99, closed_at = 99, closed_by = 'x' WHERE valid_to IS NOT NULL")
                .is_err()
        );
        drop(connection);
        assert_eq!(store.fact_history("host:web-1", None).unwrap().len(), 2);
    }

    #[test]
    fn invariant_4_two_concurrent_writers_of_one_key_leave_one_active_version() {
        let (store, directory) = temporary_store("concurrent");
        drop(store);
        let path = directory.join("praxis.db");
        let writers: Vec<_> = (0..2)
            .map(|writer| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let store = Store::open(&path, OpenMode::MustExist).unwrap();
                    let clock = crate::clock::SystemClock::default();
                    for round in 0..200 {
                        let now = clock.now();
                        let fact = NewFact {
                            key: key("host:shared", "load"),
                            value: json!(format!("writer {writer} round {round}")),
                            valid_from: now,
                        };
                        // A write may lose the race on valid time; it must then be refused,
                        // never leave two active versions.
                        match store.put_facts(&[fact], &collector(), now) {
                            Ok(_) | Err(FactError::Backdated { .. }) => {}
                            Err(error) => panic!("{error}"),
                        }
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        let store = Store::open(&path, OpenMode::MustExist).unwrap();
        assert_eq!(current(&store, "host:shared").len(), 1);
        let history = store.fact_history("host:shared", None).unwrap();
        assert!(history.len() > 200);
        assert_eq!(
            history
                .iter()
                .filter(|version| version.valid_to.is_none() && version.superseded_at.is_none())
                .count(),
            1
        );
    }

    /// One believed stretch of a key's value: valid from, valid until (open if `None`), value.
    type Stretch = (i64, Option<i64>, u8);
    /// Every key's believed timeline.
    type Timelines = BTreeMap<usize, Vec<Stretch>>;

    /// A naive model: per key, the believed timeline after every write, by record time.
    #[derive(Default)]
    struct Model {
        timelines: Timelines,
        snapshots: Vec<(i64, Timelines)>,
    }

    impl Model {
        /// Applies a put (`Some(value)`) or a retraction (`None`); false when refused.
        fn apply(&mut self, key: usize, value: Option<u8>, valid: i64, tx: i64) -> bool {
            let timeline = self.timelines.entry(key).or_default();
            let active = timeline.last().copied().filter(|entry| entry.1.is_none());
            if let (Some(active), Some(value)) = (active, value)
                && active.2 == value
            {
                return true;
            }
            if value.is_none() && active.is_none() {
                return true;
            }
            let closed = timeline.iter().filter_map(|entry| entry.1).max();
            let latest = active.map(|entry| entry.0).max(closed);
            if latest.is_some_and(|latest| valid < latest) {
                return false;
            }
            if let Some(active) = active {
                timeline.pop();
                if valid > active.0 {
                    timeline.push((active.0, Some(valid), active.2));
                }
            }
            if let Some(value) = value {
                timeline.push((valid, None, value));
            }
            self.snapshots.push((tx, self.timelines.clone()));
            true
        }

        fn visible(&self, valid: i64, known: i64) -> BTreeSet<(usize, u8)> {
            let Some((_, timelines)) = self.snapshots.iter().rev().find(|(tx, _)| *tx <= known)
            else {
                return BTreeSet::new();
            };
            timelines
                .iter()
                .flat_map(|(key, timeline)| {
                    timeline
                        .iter()
                        .filter(move |(from, to, _)| {
                            *from <= valid && to.is_none_or(|to| to > valid)
                        })
                        .map(move |(_, _, value)| (*key, *value))
                })
                .collect()
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn as_of_answers_match_a_naive_model_on_both_axes(
            operations in prop::collection::vec((0usize..3, prop::option::weighted(0.8, 0u8..3), 0i64..40), 1..30),
            probes in prop::collection::vec((0i64..45, 0i64..32_000), 20),
        ) {
            let (store, _directory) = temporary_store("model");
            let mut model = Model::default();
            let keys: Vec<FactKey> = (0..3).map(|index| key(&format!("host:h{index}"), "p")).collect();
            for (index, (key_index, value, valid)) in operations.iter().enumerate() {
                let tx = (i64::try_from(index).unwrap() + 1) * 1_000;
                let key = &keys[*key_index];
                let stored = match value {
                    Some(value) => store
                        .put_facts(&[NewFact { key: key.clone(), value: json!(value), valid_from: at(*valid) }], &collector(), at(tx))
                        .map(|_| ()),
                    None => store
                        .retract_fact(key, at(*valid), &Provenance { actor: "t".into(), reason: Some("r".into()) }, at(tx))
                        .map(|_| ()),
                };
                let accepted = model.apply(*key_index, *value, *valid, tx);
                prop_assert_eq!(stored.is_ok(), accepted, "operation {} {:?}", index, stored.err());
            }
            for (valid, known) in probes {
                let expected = model.visible(valid, known);
                let actual: BTreeSet<(usize, u8)> = store
                    .facts_as_of(&FactQuery { subject: None, predicate: None, fact_type: None, valid_at: at(valid), known_at: at(known) })
                    .unwrap()
                    .into_iter()
                    .map(|version| {
                        let index = keys.iter().position(|key| *key == version.key).unwrap();
                        (index, u8::try_from(version.value.as_u64().unwrap()).unwrap())
                    })
                    .collect();
                prop_assert_eq!(actual, expected, "valid {} known {}", valid, known);
            }
        }
    }
}
