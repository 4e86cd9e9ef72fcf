//! Approvals in the state database. Every change is written in one transaction with the audit
//! record that describes it, so an approval event exists exactly when its record does.
//!
//! Invariant: consuming an approval is one `UPDATE ... WHERE state = 'approved'` in the same
//! `BEGIN IMMEDIATE` transaction as the run's intent record: of two calls, or two processes,
//! racing for one approval, exactly one sees its update take and runs.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{Durability, Store, StoreError};
use crate::approval::{Approval, State};
use crate::audit::chain::SealedRecord;
use crate::clock::Timestamp;
use crate::digest::Digest;
use crate::policy::Tier;

const COLUMNS: &str = "id, binding, binding_sha256, tier, target, session_id, reason, created_at, \
     expires_at, state, approver, decided_at, signature, deny_reason, used_at";

fn approval_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Approval> {
    let binding: String = row.get(1)?;
    let tier: String = row.get(3)?;
    let state: String = row.get(9)?;
    let time = |index: usize| -> rusqlite::Result<Option<Timestamp>> {
        Ok(row
            .get::<_, Option<i64>>(index)?
            .map(Timestamp::from_unix_nanos))
    };
    Ok(Approval {
        id: row.get(0)?,
        binding: serde_json::from_str(&binding).unwrap_or(serde_json::Value::Null),
        binding_sha256: row.get(2)?,
        // An unreadable tier is the highest: nothing a row says can lower one.
        tier: Tier::from_name(&tier).unwrap_or(Tier::T3),
        target: row.get(4)?,
        session_id: row.get(5)?,
        reason: row.get(6)?,
        created_at: Timestamp::from_unix_nanos(row.get(7)?),
        expires_at: Timestamp::from_unix_nanos(row.get(8)?),
        // An unreadable state is pending: it lets nothing run.
        state: State::from_name(&state).unwrap_or(State::Pending),
        approver: row.get(10)?,
        decided_at: time(11)?,
        signature: row.get(12)?,
        deny_reason: row.get(13)?,
        used_at: time(14)?,
    })
}

impl Store {
    /// Stores a new pending approval with its record.
    pub fn insert_approval(
        &self,
        approval: &Approval,
        seal: impl FnOnce(u64, &Digest) -> SealedRecord,
    ) -> Result<SealedRecord, StoreError> {
        let mut connection = self.connection();
        super::set_durability(&connection, Durability::Full)?;
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        transaction
            .prepare_cached(&format!(
                "INSERT INTO approvals ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, NULL, NULL, NULL, NULL, NULL)"
            ))?
            .execute(params![
                approval.id,
                approval.binding.to_string(),
                approval.binding_sha256,
                approval.tier.as_str(),
                approval.target,
                approval.session_id,
                approval.reason,
                approval.created_at.unix_nanos(),
                approval.expires_at.unix_nanos(),
                approval.state.as_str(),
            ])?;
        let sealed = super::append_audit_in(&transaction, seal)?;
        transaction.commit()?;
        Ok(sealed)
    }

    /// The approval with this id.
    pub fn approval(&self, id: &str) -> Result<Option<Approval>, StoreError> {
        let connection = self.connection();
        Ok(connection
            .prepare_cached(&format!("SELECT {COLUMNS} FROM approvals WHERE id = ?1"))?
            .query_row([id], approval_from_row)
            .optional()?)
    }

    /// Approvals in `state` (all without one), oldest first.
    pub fn approvals(&self, state: Option<State>) -> Result<Vec<Approval>, StoreError> {
        let connection = self.connection();
        let mut statement = connection.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM approvals WHERE ?1 IS NULL OR state = ?1 ORDER BY created_at"
        ))?;
        let rows = statement.query_map([state.map(State::as_str)], approval_from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Records the operator's decision on a pending approval, with its record. Returns false
    /// (and writes nothing) if it was no longer pending.
    pub fn decide_approval(
        &self,
        decided: &Approval,
        seal: impl FnOnce(u64, &Digest) -> SealedRecord,
    ) -> Result<Option<SealedRecord>, StoreError> {
        self.update_then_record(
            "UPDATE approvals SET state = ?2, approver = ?3, decided_at = ?4, signature = ?5, \
             deny_reason = ?6 WHERE id = ?1 AND state = 'pending'",
            params![
                decided.id,
                decided.state.as_str(),
                decided.approver,
                decided.decided_at.map(Timestamp::unix_nanos),
                decided.signature,
                decided.deny_reason,
            ],
            seal,
        )
    }

    /// Consumes an approved approval and writes the run's intent record, in one durable
    /// transaction. `None` when it was not (or no longer) approved: someone else consumed it.
    pub fn consume_approval(
        &self,
        id: &str,
        session_id: &str,
        now: Timestamp,
        seal: impl FnOnce(u64, &Digest) -> SealedRecord,
    ) -> Result<Option<SealedRecord>, StoreError> {
        // Still unexpired, and never run before: a row reset to `approved` by hand is refused
        // because the audit chain already holds the intent record of its run.
        let ran_marker = format!("\"approval_id\":{}", serde_json::Value::from(id));
        self.update_then_record(
            "UPDATE approvals SET state = 'used', used_at = ?2, used_session = ?3 \
             WHERE id = ?1 AND state = 'approved' AND expires_at > ?2 \
               AND NOT EXISTS (SELECT 1 FROM audit WHERE instr(body, ?4) > 0 \
                               AND instr(body, '\"decision\":\"intent\"') > 0)",
            params![id, now.unix_nanos(), session_id, ran_marker],
            seal,
        )
    }

    /// Runs one guarded `UPDATE` and, if it changed exactly one row, appends the record, in
    /// one durable immediate transaction.
    fn update_then_record(
        &self,
        sql: &str,
        parameters: &[&dyn rusqlite::ToSql],
        seal: impl FnOnce(u64, &Digest) -> SealedRecord,
    ) -> Result<Option<SealedRecord>, StoreError> {
        let mut connection = self.connection();
        super::set_durability(&connection, Durability::Full)?;
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let changed = transaction.prepare_cached(sql)?.execute(parameters)?;
        if changed != 1 {
            return Ok(None);
        }
        let sealed = super::append_audit_in(&transaction, seal)?;
        transaction.commit()?;
        Ok(Some(sealed))
    }
}
