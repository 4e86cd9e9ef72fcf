//! The hash chain, pure: seal a record onto a chain head, and verify a sequence of stored rows.
//!
//! A record's `entry_hash` is SHA-256 over the canonical JSON (see `canonical`) of every other
//! field, including `seq` and `prev_hash`; the first record links to 64 zeros.
//! The stored `body` is exactly those hashed bytes, so verification hashes what is stored
//! and never re-serialises it: any edited byte changes the hash.
//!
//! Invariants: no I/O, no clock, no globals; `verify` reports the first break and never panics
//! on hostile rows.

use std::fmt;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::audit::canonical;
use crate::clock::Timestamp;
use crate::digest::Digest;
use crate::policy::Tier;

/// What a record says happened.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AuditDecision {
    /// A process started serving: version, binary hash, config digest, policy hash.
    Session,
    /// A read ran and returned output (one record, written after it ran).
    Allowed,
    /// The call was refused before anything ran.
    Denied,
    /// The call was admitted but its handler failed.
    Error,
    /// An effect is about to run; made durable before it runs.
    Intent,
    /// An effect ran; the outcome of the matching intent.
    Outcome,
    /// An effect was in flight when the server stopped.
    Interrupted,
    /// A serving process stopped.
    SessionEnd,
    /// An operator acted from the command line (kill, resume, init).
    Operator,
    /// The session took in untrusted content (ingested or read observed facts back).
    Untrusted,
    /// An approval event: requested, approved, denied.
    Approval,
}

impl AuditDecision {
    /// The stable name written into records.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditDecision::Session => "session",
            AuditDecision::Allowed => "allowed",
            AuditDecision::Denied => "denied",
            AuditDecision::Error => "error",
            AuditDecision::Intent => "intent",
            AuditDecision::Outcome => "outcome",
            AuditDecision::Interrupted => "interrupted",
            AuditDecision::SessionEnd => "session-end",
            AuditDecision::Operator => "operator",
            AuditDecision::Untrusted => "untrusted-content",
            AuditDecision::Approval => "approval",
        }
    }
}

/// Everything in a record except its position in the chain.
#[derive(Clone, Debug)]
pub struct RecordDraft {
    pub ts: Timestamp,
    pub session_id: String,
    pub request_id: Option<String>,
    pub tool: String,
    pub adapter: Option<String>,
    pub target: Option<String>,
    pub host_type: Option<String>,
    pub tier: Option<Tier>,
    pub rule_ids: Vec<String>,
    pub policy_hash: Option<Digest>,
    pub decision: AuditDecision,
    pub dry_run: Option<bool>,
    pub approval_id: Option<String>,
    /// Redacted and bounded arguments (see `audit::bound`).
    pub args: Value,
    pub output_sha256: Option<Digest>,
    pub output_len: Option<u64>,
    pub exit_code: Option<i64>,
    pub duration_ms: Option<u64>,
    /// A redacted error: `<code>: <message>`.
    pub error: Option<String>,
    /// The digest of the target's open drift findings when the actuator evaluated them (an
    /// action on a host); absent from the record otherwise.
    pub drift_sha256: Option<Digest>,
}

impl RecordDraft {
    /// A draft with every optional field empty.
    pub fn new(
        ts: Timestamp,
        session_id: &str,
        tool: &str,
        decision: AuditDecision,
    ) -> RecordDraft {
        RecordDraft {
            ts,
            session_id: session_id.to_owned(),
            request_id: None,
            tool: tool.to_owned(),
            adapter: None,
            target: None,
            host_type: None,
            tier: None,
            rule_ids: Vec::new(),
            policy_hash: None,
            decision,
            dry_run: None,
            approval_id: None,
            args: Value::Object(Map::new()),
            output_sha256: None,
            output_len: None,
            exit_code: None,
            duration_ms: None,
            error: None,
            drift_sha256: None,
        }
    }
}

/// A record placed on the chain: its hashed body and its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedRecord {
    pub seq: u64,
    pub entry_hash: Digest,
    /// Canonical JSON of every field but `entry_hash`.
    pub body: String,
}

/// Places `draft` at `seq`, linked to `prev_hash`.
pub fn seal(draft: &RecordDraft, seq: u64, prev_hash: &Digest) -> SealedRecord {
    let body = canonical::to_canonical_string(&Value::Object(body_fields(draft, seq, prev_hash)));
    SealedRecord {
        seq,
        entry_hash: Digest::of(body.as_bytes()),
        body,
    }
}

fn body_fields(draft: &RecordDraft, seq: u64, prev_hash: &Digest) -> Map<String, Value> {
    fn text(value: Option<&str>) -> Value {
        value.map_or(Value::Null, |text| Value::String(text.to_owned()))
    }
    fn digest(value: Option<&Digest>) -> Value {
        value.map_or(Value::Null, |digest| Value::String(digest.to_hex()))
    }
    let mut fields = Map::new();
    fields.insert("seq".into(), Value::from(seq));
    fields.insert("ts".into(), Value::String(draft.ts.to_string()));
    fields.insert("prev_hash".into(), Value::String(prev_hash.to_hex()));
    fields.insert("session_id".into(), Value::String(draft.session_id.clone()));
    fields.insert("request_id".into(), text(draft.request_id.as_deref()));
    fields.insert("tool".into(), Value::String(draft.tool.clone()));
    fields.insert("adapter".into(), text(draft.adapter.as_deref()));
    fields.insert("target".into(), text(draft.target.as_deref()));
    fields.insert("host_type".into(), text(draft.host_type.as_deref()));
    fields.insert("tier".into(), text(draft.tier.map(Tier::as_str)));
    fields.insert(
        "rule_ids".into(),
        Value::Array(draft.rule_ids.iter().cloned().map(Value::String).collect()),
    );
    fields.insert("policy_hash".into(), digest(draft.policy_hash.as_ref()));
    fields.insert(
        "decision".into(),
        Value::String(draft.decision.as_str().into()),
    );
    fields.insert(
        "dry_run".into(),
        draft.dry_run.map_or(Value::Null, Value::Bool),
    );
    fields.insert("approval_id".into(), text(draft.approval_id.as_deref()));
    fields.insert("args".into(), draft.args.clone());
    fields.insert("output_sha256".into(), digest(draft.output_sha256.as_ref()));
    fields.insert(
        "output_len".into(),
        draft.output_len.map_or(Value::Null, Value::from),
    );
    fields.insert(
        "exit_code".into(),
        draft.exit_code.map_or(Value::Null, Value::from),
    );
    fields.insert(
        "duration_ms".into(),
        draft.duration_ms.map_or(Value::Null, Value::from),
    );
    fields.insert("error".into(), text(draft.error.as_deref()));
    // Only records of actions on a host carry it, so every other record is unchanged.
    if let Some(drift) = &draft.drift_sha256 {
        fields.insert("drift_sha256".into(), Value::String(drift.to_hex()));
    }
    fields
}

/// One row as the store holds it.
#[derive(Clone, Debug)]
pub struct StoredRow {
    pub seq: i64,
    pub entry_hash: String,
    pub body: String,
}

/// Why the chain is broken at a record.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BreakKind {
    /// The body no longer hashes to its recorded `entry_hash`: a byte was changed.
    Edited,
    /// A record is missing: the sequence skips this number.
    Removed,
    /// The record at this position belongs elsewhere in the sequence.
    Reordered,
    /// The record does not link to the hash of the record before it.
    BadLink,
    /// The body is not a record at all.
    Malformed,
}

impl BreakKind {
    /// The stable name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakKind::Edited => "edited",
            BreakKind::Removed => "removed",
            BreakKind::Reordered => "reordered",
            BreakKind::BadLink => "bad-link",
            BreakKind::Malformed => "malformed",
        }
    }
}

/// The first place where the chain does not verify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainBreak {
    /// The sequence number at which the break shows.
    pub seq: u64,
    pub kind: BreakKind,
    pub detail: String,
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "audit chain broken at seq {}: {} ({})",
            self.seq,
            self.kind.as_str(),
            self.detail
        )
    }
}

/// The state of a chain that verified so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainHead {
    /// How many records verified.
    pub count: u64,
    /// The last record's hash (zeros for an empty chain).
    pub entry_hash: Digest,
}

impl Default for ChainHead {
    fn default() -> ChainHead {
        ChainHead {
            count: 0,
            entry_hash: Digest::ZERO,
        }
    }
}

/// Verifies rows one at a time, in stored order.
#[derive(Default)]
pub struct Verifier {
    head: ChainHead,
}

#[derive(Deserialize)]
struct Link<'body> {
    seq: u64,
    #[serde(borrow)]
    prev_hash: &'body str,
}

impl Verifier {
    /// Checks the next stored row against everything before it.
    pub fn push(&mut self, row: &StoredRow) -> Result<(), ChainBreak> {
        let expected = self.head.count;
        let row_seq = u64::try_from(row.seq).map_err(|_| ChainBreak {
            seq: expected,
            kind: BreakKind::Malformed,
            detail: format!("negative row number {}", row.seq),
        })?;
        if row_seq > expected {
            return Err(ChainBreak {
                seq: expected,
                kind: BreakKind::Removed,
                detail: format!("the next stored record is seq {row_seq}"),
            });
        }
        if row_seq < expected {
            return Err(ChainBreak {
                seq: row_seq,
                kind: BreakKind::Reordered,
                detail: format!("seq {row_seq} appears again after seq {}", expected - 1),
            });
        }
        let computed = Digest::of(row.body.as_bytes());
        if Digest::parse_hex(&row.entry_hash) != Some(computed) {
            return Err(ChainBreak {
                seq: expected,
                kind: BreakKind::Edited,
                detail: "the record does not hash to its entry_hash".into(),
            });
        }
        let link: Link<'_> = serde_json::from_str(&row.body).map_err(|error| ChainBreak {
            seq: expected,
            kind: BreakKind::Malformed,
            detail: format!("the body is not an audit record: {error}"),
        })?;
        if link.seq != expected {
            return Err(ChainBreak {
                seq: expected,
                kind: BreakKind::Reordered,
                detail: format!("the record stored here says it is seq {}", link.seq),
            });
        }
        if Digest::parse_hex(link.prev_hash) != Some(self.head.entry_hash) {
            return Err(ChainBreak {
                seq: expected,
                kind: BreakKind::BadLink,
                detail: "prev_hash does not match the previous record's entry_hash".into(),
            });
        }
        self.head = ChainHead {
            count: expected + 1,
            entry_hash: computed,
        };
        Ok(())
    }

    /// The head after every row pushed so far.
    pub fn head(&self) -> ChainHead {
        self.head
    }
}

/// Verifies a whole sequence of rows.
pub fn verify<'rows>(
    rows: impl IntoIterator<Item = &'rows StoredRow>,
) -> Result<ChainHead, ChainBreak> {
    let mut verifier = Verifier::default();
    for row in rows {
        verifier.push(row)?;
    }
    Ok(verifier.head())
}

/// The exported form of a record: its body with `entry_hash` added, canonical again.
pub fn export_line(row: &StoredRow) -> Result<String, serde_json::Error> {
    let mut value: Value = serde_json::from_str(&row.body)?;
    if let Value::Object(map) = &mut value {
        map.insert("entry_hash".into(), Value::String(row.entry_hash.clone()));
    }
    Ok(canonical::to_canonical_string(&value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn draft(index: u64) -> RecordDraft {
        let mut draft = RecordDraft::new(
            Timestamp::from_unix_nanos(1_700_000_000_000_000_000 + i64::try_from(index).unwrap()),
            "session-1",
            "server_status",
            AuditDecision::Allowed,
        );
        draft.tier = Some(Tier::T0);
        draft.args = serde_json::json!({"index": index});
        draft
    }

    fn build_chain(length: u64) -> Vec<StoredRow> {
        let mut previous = Digest::ZERO;
        (0..length)
            .map(|seq| {
                let sealed = seal(&draft(seq), seq, &previous);
                previous = sealed.entry_hash;
                StoredRow {
                    seq: i64::try_from(sealed.seq).unwrap(),
                    entry_hash: sealed.entry_hash.to_hex(),
                    body: sealed.body,
                }
            })
            .collect()
    }

    #[test]
    fn a_built_chain_verifies_and_links_genesis_to_zeros() {
        let rows = build_chain(5);
        assert!(
            rows[0]
                .body
                .contains(&format!("\"prev_hash\":\"{}\"", "0".repeat(64)))
        );
        let head = verify(&rows).unwrap();
        assert_eq!(head.count, 5);
        assert_eq!(head.entry_hash.to_hex(), rows[4].entry_hash);
    }

    #[test]
    fn export_line_reverifies_from_its_own_fields() {
        let rows = build_chain(1);
        let line = export_line(&rows[0]).unwrap();
        let mut value: Value = serde_json::from_str(&line).unwrap();
        let entry_hash = value.as_object_mut().unwrap().remove("entry_hash").unwrap();
        let recomputed = Digest::of(canonical::to_canonical_string(&value).as_bytes());
        assert_eq!(entry_hash.as_str(), Some(recomputed.to_hex().as_str()));
    }

    proptest! {
        #[test]
        fn any_single_byte_edit_is_found_at_its_seq(length in 1u64..12, pick in any::<prop::sample::Index>(), byte in any::<prop::sample::Index>(), flip in 1u8..=255) {
            let mut rows = build_chain(length);
            let target = pick.index(rows.len());
            let mut bytes = rows[target].body.clone().into_bytes();
            let position = byte.index(bytes.len());
            bytes[position] ^= flip;
            // A flip that breaks UTF-8 cannot be stored as TEXT; keep the edit a valid string.
            if let Ok(edited) = String::from_utf8(bytes) {
                rows[target].body = edited;
                let failure = verify(&rows).unwrap_err();
                prop_assert_eq!(failure.seq, target as u64);
                prop_assert_eq!(failure.kind, BreakKind::Edited);
            }
        }

        #[test]
        fn removing_a_row_is_found_at_its_seq(length in 2u64..12, pick in any::<prop::sample::Index>()) {
            let mut rows = build_chain(length);
            let target = pick.index(rows.len() - 1);
            rows.remove(target);
            let failure = verify(&rows).unwrap_err();
            prop_assert_eq!(failure.seq, target as u64);
            prop_assert_eq!(failure.kind, BreakKind::Removed);
        }

        #[test]
        fn swapping_two_rows_is_found_at_the_first(length in 2u64..12, pick in any::<prop::sample::Index>()) {
            let mut rows = build_chain(length);
            let target = pick.index(rows.len() - 1);
            // Swap the contents and keep the row numbers, as an UPDATE of two rows would.
            let (first, second) = (rows[target].clone(), rows[target + 1].clone());
            rows[target].entry_hash = second.entry_hash;
            rows[target].body = second.body;
            rows[target + 1].entry_hash = first.entry_hash;
            rows[target + 1].body = first.body;
            let failure = verify(&rows).unwrap_err();
            prop_assert_eq!(failure.seq, target as u64);
            prop_assert_eq!(failure.kind, BreakKind::Reordered);
        }

        #[test]
        fn a_rehashed_edit_breaks_the_next_link(length in 2u64..12, pick in any::<prop::sample::Index>()) {
            let mut rows = build_chain(length);
            let target = pick.index(rows.len() - 1);
            rows[target].body = rows[target].body.replace("session-1", "session-X");
            rows[target].entry_hash = Digest::of(rows[target].body.as_bytes()).to_hex();
            let failure = verify(&rows).unwrap_err();
            prop_assert_eq!(failure.seq, target as u64 + 1);
            prop_assert_eq!(failure.kind, BreakKind::BadLink);
        }
    }
}
