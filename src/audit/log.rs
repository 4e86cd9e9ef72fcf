//! Appending to and verifying the audit chain in the state database.
//!
//! Invariant: an append either commits a sealed record at the head of the one chain, with the
//! requested durability, or returns an error; callers decide what an error means (an effect
//! whose intent cannot be made durable does not run).

use std::ops::ControlFlow;
use std::sync::Arc;

use crate::audit::chain::{self, ChainBreak, ChainHead, RecordDraft, SealedRecord, Verifier};
use crate::store::{Durability, Store, StoreError};

/// An audit failure.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the audit record could not be written: {0}")]
    Write(#[source] StoreError),
    #[error("the audit chain could not be read: {0}")]
    Read(#[source] StoreError),
}

/// The audit chain, through the store.
#[derive(Clone)]
pub struct AuditLog {
    store: Arc<Store>,
}

impl AuditLog {
    /// An audit log over `store`.
    pub fn new(store: Arc<Store>) -> AuditLog {
        AuditLog { store }
    }

    /// The store this log writes to.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Seals `draft` at the head of the chain and commits it.
    pub fn append(
        &self,
        draft: &RecordDraft,
        durability: Durability,
    ) -> Result<SealedRecord, AuditError> {
        self.store
            .append_audit(durability, |seq, previous| {
                chain::seal(draft, seq, previous)
            })
            .map_err(AuditError::Write)
    }

    /// Verifies the whole chain: `Ok(Ok(head))` when intact, `Ok(Err(break))` at the first break.
    pub fn verify(&self) -> Result<Result<ChainHead, ChainBreak>, AuditError> {
        let mut verifier = Verifier::default();
        let mut failure = None;
        self.store
            .for_each_audit_row(0, |row| match verifier.push(&row) {
                Ok(()) => ControlFlow::Continue(()),
                Err(chain_break) => {
                    failure = Some(chain_break);
                    ControlFlow::Break(())
                }
            })
            .map_err(AuditError::Read)?;
        Ok(match failure {
            Some(chain_break) => Err(chain_break),
            None => Ok(verifier.head()),
        })
    }
}
