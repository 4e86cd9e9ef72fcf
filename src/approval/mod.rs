//! Human approvals (issue 7): what an approval binds to, what the operator signs, and the
//! checks a real run makes before it consumes one. Pure; the rows live in the store and the
//! key on disk (`key`).
//!
//! Invariants:
//! - An approval binds the exact action: adapter, host, action text, the argv that would run,
//!   the tier and the policy hash. Any difference is `approval-mismatch`.
//! - The operator's signature covers the approval id, the binding digest, the decision, the
//!   approver, the decision time and the expiry. Every other column of a row is advisory: a
//!   row whose signed fields were edited, or that was inserted without the key, fails
//!   `approval-invalid-signature` before anything else is believed.
//! - Checks never lower a tier and never run anything; consuming is the store's atomic update.

pub mod key;

use serde_json::{Value, json};

use crate::audit::canonical;
use crate::clock::Timestamp;
use crate::digest::Digest;
use crate::policy::Tier;

/// How long a pending approval may wait for the operator, by default.
pub const DEFAULT_TTL_SECONDS: u64 = 600;

/// The action an approval is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    pub adapter: String,
    pub host: String,
    pub action: String,
    pub argv: Vec<String>,
    pub tier: Tier,
    pub rule_ids: Vec<String>,
    pub host_type: Option<String>,
    /// What the action reaches: the host, or a Talos host's nodes. An irreversible (T3)
    /// action is approved for exactly one.
    pub targets: Vec<String>,
    /// For a terraform/OpenTofu apply or destroy: the SHA-256 of the kept plan it applies.
    pub plan_sha256: Option<Digest>,
    /// The inventory's connection details of the host (address, port, user, host key, Talos
    /// nodes, BMC URL): an approval is void if they change.
    pub connection: Value,
    pub policy_hash: Digest,
}

impl Binding {
    pub fn to_json(&self) -> Value {
        json!({
            "adapter": self.adapter,
            "host": self.host,
            "action": self.action,
            "argv": self.argv,
            "tier": self.tier.as_str(),
            "rule_ids": self.rule_ids,
            "host_type": self.host_type,
            "targets": self.targets,
            "plan_sha256": self.plan_sha256.map(|digest| digest.to_hex()),
            "connection": self.connection,
            "policy_hash": self.policy_hash.to_hex(),
        })
    }

    /// The digest the signature names.
    pub fn digest(&self) -> Digest {
        Digest::of(canonical::to_canonical_string(&self.to_json()).as_bytes())
    }
}

/// Where an approval stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Pending,
    Approved,
    Denied,
    Used,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Approved => "approved",
            State::Denied => "denied",
            State::Used => "used",
        }
    }

    pub fn from_name(name: &str) -> Option<State> {
        [State::Pending, State::Approved, State::Denied, State::Used]
            .into_iter()
            .find(|state| state.as_str() == name)
    }
}

/// One approval as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Approval {
    pub id: String,
    pub binding: Value,
    pub binding_sha256: String,
    pub tier: Tier,
    pub target: String,
    pub session_id: String,
    pub reason: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub state: State,
    pub approver: Option<String>,
    pub decided_at: Option<Timestamp>,
    pub signature: Option<String>,
    pub deny_reason: Option<String>,
    pub used_at: Option<Timestamp>,
}

/// The bytes the operator signs to approve: a domain tag and the canonical signed fields.
pub fn signed_message(
    id: &str,
    binding_sha256: &str,
    approver: &str,
    decided_at: Timestamp,
    expires_at: Timestamp,
) -> Vec<u8> {
    let fields = json!({
        "id": id,
        "binding_sha256": binding_sha256,
        "decision": "approved",
        "approver": approver,
        "decided_at": decided_at.to_string(),
        "expires_at": expires_at.to_string(),
    });
    let mut message = b"praxis-approval-v1\n".to_vec();
    message.extend_from_slice(canonical::to_canonical_string(&fields).as_bytes());
    message
}

/// Why an approval does not let a run proceed. Each is its own refusal code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// No approval has this id.
    Unknown,
    /// The operator has not decided yet.
    Pending,
    /// The operator denied it.
    Denied,
    /// It was used already.
    Used,
    /// Its time ran out.
    Expired,
    /// The row's signature does not verify with the configured key.
    InvalidSignature,
    /// It approves a different action (adapter, host, argv, tier or policy).
    Mismatch,
    /// No approver key is configured, so nothing can be verified.
    NoKey,
}

impl Problem {
    pub fn code(self) -> &'static str {
        match self {
            Problem::Unknown => "approval-unknown",
            Problem::Pending => "approval-pending",
            Problem::Denied => "approval-denied",
            Problem::Used => "approval-used",
            Problem::Expired => "approval-expired",
            Problem::InvalidSignature => "approval-invalid-signature",
            Problem::Mismatch => "approval-mismatch",
            Problem::NoKey => "approval-no-key",
        }
    }
}

/// Whether `approval` lets the action with `binding` run at `now`, verified with `key`.
/// The signature is checked first: nothing else in a row is believed before it verifies.
pub fn check(
    approval: &Approval,
    binding: &Binding,
    key: Option<&key::PublicKey>,
    now: Timestamp,
) -> Result<(), Problem> {
    match approval.state {
        State::Pending => return Err(Problem::Pending),
        State::Denied => return Err(Problem::Denied),
        State::Approved | State::Used => {}
    }
    let key = key.ok_or(Problem::NoKey)?;
    let (Some(approver), Some(decided_at), Some(signature)) = (
        approval.approver.as_deref(),
        approval.decided_at,
        approval.signature.as_deref(),
    ) else {
        return Err(Problem::InvalidSignature);
    };
    let message = signed_message(
        &approval.id,
        &approval.binding_sha256,
        approver,
        decided_at,
        approval.expires_at,
    );
    if !key.verifies(&message, signature) {
        return Err(Problem::InvalidSignature);
    }
    if approval.state == State::Used {
        return Err(Problem::Used);
    }
    if approval.binding_sha256 != binding.digest().to_hex() {
        return Err(Problem::Mismatch);
    }
    if now >= approval.expires_at {
        return Err(Problem::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(host: &str) -> Binding {
        Binding {
            adapter: "ssh".into(),
            host: host.into(),
            action: "systemctl reload nginx".into(),
            argv: vec!["systemctl".into(), "reload".into(), "nginx".into()],
            tier: Tier::T2,
            rule_ids: vec!["t2.systemctl-change".into()],
            host_type: Some("linux".into()),
            targets: vec![host.into()],
            plan_sha256: None,
            connection: json!({"ssh": {"address": "10.0.0.1", "port": 22}}),
            policy_hash: Digest::of(b"policy"),
        }
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_unix_nanos(seconds * 1_000_000_000)
    }

    fn approved(signer: &key::SigningKey, binding: &Binding) -> Approval {
        let digest = binding.digest().to_hex();
        let signature = signer.sign(&signed_message("a1", &digest, "alice", at(10), at(100)));
        Approval {
            id: "a1".into(),
            binding: binding.to_json(),
            binding_sha256: digest,
            tier: binding.tier,
            target: binding.host.clone(),
            session_id: "s".into(),
            reason: "fix".into(),
            created_at: at(5),
            expires_at: at(100),
            state: State::Approved,
            approver: Some("alice".into()),
            decided_at: Some(at(10)),
            signature: Some(signature),
            deny_reason: None,
            used_at: None,
        }
    }

    #[test]
    fn only_a_signed_unused_unexpired_approval_of_this_exact_action_passes() {
        let (file, public) = key::generate_with("a long passphrase", 1_000).unwrap();
        let signer = key::unlock(&file, "a long passphrase").unwrap();
        let web = binding("web-1");
        let good = approved(&signer, &web);
        assert_eq!(check(&good, &web, Some(&public), at(50)), Ok(()));
        assert_eq!(
            check(&good, &binding("web-2"), Some(&public), at(50)),
            Err(Problem::Mismatch)
        );
        assert_eq!(
            check(&good, &web, Some(&public), at(100)),
            Err(Problem::Expired)
        );
        assert_eq!(check(&good, &web, None, at(50)), Err(Problem::NoKey));
        let mut used = good.clone();
        used.state = State::Used;
        assert_eq!(
            check(&used, &web, Some(&public), at(50)),
            Err(Problem::Used)
        );
        // Edited by hand: a later expiry, another binding, another approver.
        for edit in [
            |row: &mut Approval| row.expires_at = at(10_000),
            |row: &mut Approval| row.binding_sha256 = binding("db-1").digest().to_hex(),
            |row: &mut Approval| row.approver = Some("mallory".into()),
        ] {
            let mut forged = good.clone();
            edit(&mut forged);
            assert_eq!(
                check(&forged, &web, Some(&public), at(50)),
                Err(Problem::InvalidSignature)
            );
        }
        // Signed by another key.
        let (other_file, _) = key::generate_with("another passphrase", 1_000).unwrap();
        let other = key::unlock(&other_file, "another passphrase").unwrap();
        assert_eq!(
            check(&approved(&other, &web), &web, Some(&public), at(50)),
            Err(Problem::InvalidSignature)
        );
        let mut pending = good;
        pending.state = State::Pending;
        assert_eq!(
            check(&pending, &web, Some(&public), at(50)),
            Err(Problem::Pending)
        );
    }

    #[test]
    fn the_binding_digest_covers_every_field() {
        let base = binding("web-1");
        let mut variants = Vec::new();
        let mut changed = base.clone();
        changed.argv.push("--force".into());
        variants.push(changed);
        let mut changed = base.clone();
        changed.tier = Tier::T3;
        variants.push(changed);
        let mut changed = base.clone();
        changed.policy_hash = Digest::of(b"other policy");
        variants.push(changed);
        let mut changed = base.clone();
        changed.adapter = "ansible".into();
        variants.push(changed);
        let mut changed = base.clone();
        changed.plan_sha256 = Some(Digest::of(b"another plan"));
        variants.push(changed);
        let mut changed = base.clone();
        changed.connection = json!({"ssh": {"address": "10.0.0.2", "port": 22}});
        variants.push(changed);
        for variant in variants {
            assert_ne!(variant.digest(), base.digest(), "{variant:?}");
        }
    }
}
