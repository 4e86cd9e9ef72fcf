//! Approvals in the actuator: a preview of an action that needs a human asks for one, a real
//! run checks and consumes one, `approval_status` reports one.
//!
//! Invariants:
//! - Who needs a human: T0 never; T1 in a clean session never, and after untrusted content
//!   always (`untrusted-content-approval-required`); T2 and T3 always.
//! - A real run that needs a human runs only after `approval::check` passed with the
//!   configured public key and the store consumed the approval in the same transaction as the
//!   run's intent record (`run_admitted`).
//! - Nothing here can approve: approving needs the operator's key, which only `praxis approve`
//!   unlocks, in a terminal, with the passphrase.

use serde_json::{Value, json};

use super::Actuator;
use super::action::{self, Assessment};
use super::request::{ActionRequest, RefusalCode};
use crate::approval::{self, Approval, Binding, Problem, State};
use crate::audit::{self, AuditDecision};
use crate::clock::Timestamp;
use crate::policy::{Classification, Tier};

/// The refusal code of an approval problem.
pub(super) fn refusal_for(problem: Problem) -> RefusalCode {
    match problem {
        Problem::Unknown => RefusalCode::ApprovalUnknown,
        Problem::Pending => RefusalCode::ApprovalPending,
        Problem::Denied => RefusalCode::ApprovalDenied,
        Problem::Used => RefusalCode::ApprovalUsed,
        Problem::Expired => RefusalCode::ApprovalExpired,
        Problem::InvalidSignature => RefusalCode::ApprovalInvalidSignature,
        Problem::Mismatch => RefusalCode::ApprovalMismatch,
        Problem::NoKey => RefusalCode::ApprovalNoKey,
    }
}

impl Actuator {
    /// Whether an action of `tier` needs a human in this session.
    pub(super) fn needs_human(&self, tier: Tier) -> bool {
        tier.requires_approval() || (tier == Tier::T1 && self.holds_untrusted_content())
    }

    /// The public key approvals must be signed with: the configured one, else the one
    /// `praxis init` wrote beside the database, read once when the actuator was made (a key
    /// swapped on disk later is not believed by this session).
    pub(super) fn approver_key(&self) -> Option<approval::key::PublicKey> {
        self.approver_key.clone()
    }

    /// What an approval of `request` binds to.
    pub(super) fn binding(
        &self,
        request: &ActionRequest,
        assessment: &Assessment,
        tier: Tier,
    ) -> Binding {
        let targets = if request.adapter == "talosctl" {
            let nodes = action::talos_target(&request.host, assessment.inventory.as_ref()).nodes;
            if nodes.is_empty() {
                vec![request.host.clone()]
            } else {
                nodes
            }
        } else {
            vec![request.host.clone()]
        };
        Binding {
            adapter: request.adapter.clone(),
            host: request.host.clone(),
            action: request.action.clone(),
            argv: assessment.argv.clone(),
            tier,
            rule_ids: assessment.classification.deciding_rule_ids(),
            host_type: assessment.host_type.clone(),
            targets,
            plan_sha256: matches!(request.adapter.as_str(), "terraform" | "opentofu")
                .then(|| {
                    crate::adapters::terraform::kept_plan_digest(
                        &action::terraform_options(&self.settings),
                        &request.host,
                        &request.action,
                    )
                })
                .flatten(),
            connection: assessment
                .inventory
                .as_ref()
                .map_or(Value::Null, |record| record["connection"].clone()),
            policy_hash: self.policy.hash(),
        }
    }

    /// Asks the operator for an approval of a previewed action (or returns the pending one
    /// this session already asked for, for the same binding). Audited as `approval.requested`.
    pub(super) fn request_approval(
        &self,
        request: &ActionRequest,
        assessment: &Assessment,
        tier: Tier,
        request_id: Option<&str>,
    ) -> Result<Approval, String> {
        let binding = self.binding(request, assessment, tier);
        let digest = binding.digest().to_hex();
        let now = self.clock.now();
        let store = self.audit.store();
        if let Some(existing) = store
            .approvals(Some(State::Pending))
            .map_err(|error| error.to_string())?
            .into_iter()
            .find(|row| {
                row.binding_sha256 == digest
                    && row.session_id == self.session_id
                    && row.expires_at > now
            })
        {
            return Ok(existing);
        }
        let ttl = i64::try_from(
            self.settings
                .approval_ttl_seconds
                .saturating_mul(1_000_000_000),
        )
        .unwrap_or(i64::MAX);
        let pending = Approval {
            id: format!("apr-{}", crate::entropy::random_id(now)),
            binding: binding.to_json(),
            binding_sha256: digest,
            tier,
            target: request.host.clone(),
            session_id: self.session_id.clone(),
            reason: format!(
                "run_action {} on {}: {}",
                request.adapter,
                request.host,
                audit::cut(&request.action, 200)
            ),
            created_at: now,
            expires_at: Timestamp::from_unix_nanos(now.unix_nanos().saturating_add(ttl)),
            state: State::Pending,
            approver: None,
            decided_at: None,
            signature: None,
            deny_reason: None,
            used_at: None,
        };
        let mut draft = self.draft("approval.requested", AuditDecision::Approval);
        draft.request_id = request_id.map(|id| audit::cut(id, super::MAX_NAME_BYTES));
        draft.adapter = Some(audit::cut(&request.adapter, super::MAX_NAME_BYTES));
        draft.target = Some(audit::cut(&request.host, super::MAX_NAME_BYTES));
        draft.host_type.clone_from(&assessment.host_type);
        draft.tier = Some(tier);
        draft.rule_ids = assessment.classification.deciding_rule_ids();
        draft.approval_id = Some(pending.id.clone());
        draft.args = audit::audit_args(&json!({
            "binding_sha256": pending.binding_sha256,
            "expires_at": pending.expires_at.to_string(),
        }));
        store
            .insert_approval(&pending, |seq, previous| {
                audit::chain::seal(&draft, seq, previous)
            })
            .map_err(|error| error.to_string())?;
        self.notify_operator(&format!(
            "praxis: approval {} waits: {} {} on {} ({}); run `praxis approve {}` in a terminal",
            pending.id,
            tier,
            request.adapter,
            request.host,
            audit::cut(&request.action, 120),
            pending.id
        ));
        tracing::warn!(
            approval_id = %pending.id,
            tier = tier.as_str(),
            host = %request.host,
            "an approval is requested: run `praxis approve {}` in a terminal to review it",
            pending.id
        );
        Ok(pending)
    }

    /// Runs the operator's `approval_notify_command` with `line`, in the background (it must
    /// not hold up the call), with a minimal environment: what a desktop notifier needs.
    fn notify_operator(&self, line: &str) {
        let Some(argv) = self.settings.approval_notify_command.clone() else {
            return;
        };
        let Some((program, arguments)) = argv.split_first() else {
            return;
        };
        let mut spec_argv = vec![program.clone()];
        spec_argv.extend(arguments.iter().cloned());
        spec_argv.push(line.to_owned());
        let extra_environment = [
            "DISPLAY",
            "WAYLAND_DISPLAY",
            "DBUS_SESSION_BUS_ADDRESS",
            "XDG_RUNTIME_DIR",
        ]
        .iter()
        .filter_map(|name| {
            std::env::var(name)
                .ok()
                .map(|value| ((*name).to_owned(), value))
        })
        .collect();
        let spec = crate::adapters::process::ChildSpec {
            argv: spec_argv,
            extra_environment,
            timeout: std::time::Duration::from_secs(10),
            capture_limit: 4_096,
        };
        // In the background: a notifier must not hold up the call; it is killed after 10 s.
        drop(std::thread::spawn(move || {
            if let Err(error) = crate::adapters::process::run(&spec, std::env::vars()) {
                tracing::warn!(%error, "approval_notify_command could not run");
            }
        }));
    }

    /// Whether approval `id` lets `request` (classified `classification`) run now.
    pub(super) fn check_approval(
        &self,
        id: &str,
        request: &ActionRequest,
        assessment: &Assessment,
        classification: &Classification,
    ) -> Result<(), (RefusalCode, String)> {
        let row = self
            .audit
            .store()
            .approval(id)
            .map_err(|error| (RefusalCode::ToolFailed, error.to_string()))?
            .ok_or_else(|| {
                (
                    RefusalCode::ApprovalUnknown,
                    format!("there is no approval {}; preview the action with dry_run=true to ask for one", audit::cut(id, 64)),
                )
            })?;
        let binding = self.binding(request, assessment, classification.tier);
        if classification.tier == Tier::T3 && binding.targets.len() != 1 {
            return Err((
                RefusalCode::ApprovalMismatch,
                format!(
                    "an irreversible action is approved for exactly one target; this one reaches {}",
                    binding.targets.len()
                ),
            ));
        }
        approval::check(&row, &binding, self.approver_key().as_ref(), self.clock.now()).map_err(
            |problem| {
                let message = match problem {
                    Problem::Pending => format!("approval {id} is still waiting for the operator (`praxis approve {id}`); call again once it is approved"),
                    Problem::Denied => format!(
                        "the operator denied approval {id}: {}",
                        row.deny_reason.as_deref().unwrap_or("no reason given")
                    ),
                    Problem::Used => format!("approval {id} was used already; an approval runs one action once"),
                    Problem::Expired => format!("approval {id} expired at {}; preview again to ask for a new one", row.expires_at),
                    Problem::InvalidSignature => format!("approval {id} does not carry a valid signature of the configured approver key; it was not approved by the operator"),
                    Problem::Mismatch => format!("approval {id} is for a different action (adapter, host, command, tier or policy); preview this action to ask for its own"),
                    Problem::NoKey => "no approver key is configured, so no approval can be verified; the operator runs `praxis init` in a terminal to create one".to_owned(),
                    Problem::Unknown => format!("there is no approval {id}"),
                };
                (refusal_for(problem), message)
            },
        )
    }

    /// Waits (up to the request's `wait_for_approval_s`) for the operator to decide a pending
    /// approval, reporting progress each second; then checks it like any other. Stops early if
    /// the kill switch is engaged or the server is stopping.
    pub(super) fn wait_for_decision(
        &self,
        id: &str,
        request: &ActionRequest,
        assessment: &Assessment,
        classification: &Classification,
        progress: Option<&super::request::Progress>,
    ) -> Result<(), (RefusalCode, String)> {
        let limit = std::time::Duration::from_secs(request.wait_for_approval_s);
        let total = f64::from(u32::try_from(request.wait_for_approval_s).unwrap_or(u32::MAX));
        let started = std::time::Instant::now();
        loop {
            if let Some(progress) = progress {
                let waited = u32::try_from(started.elapsed().as_secs()).unwrap_or(u32::MAX);
                progress.report(
                    f64::from(waited),
                    Some(total),
                    format!("waiting for the operator to run `praxis approve {id}` ({waited} of {total} s)"),
                );
            }
            std::thread::sleep(std::time::Duration::from_secs(1));
            if let crate::killswitch::KillState::Engaged { detail } = self.kill_switch.state() {
                return Err((
                    RefusalCode::KillSwitchEngaged,
                    format!(
                        "the kill switch was engaged while waiting for approval {id} ({detail})"
                    ),
                ));
            }
            if !self.accepting.load(std::sync::atomic::Ordering::SeqCst) {
                return Err((
                    RefusalCode::ShuttingDown,
                    "the server is shutting down; call again after it restarts".to_owned(),
                ));
            }
            match self.check_approval(id, request, assessment, classification) {
                Err((RefusalCode::ApprovalPending, _)) if started.elapsed() < limit => {}
                Err((RefusalCode::ApprovalPending, message)) => {
                    return Err((
                        RefusalCode::ApprovalPending,
                        format!("{message} (waited {} s)", request.wait_for_approval_s),
                    ));
                }
                other => return other,
            }
        }
    }

    /// `approval_status {approval_id}`.
    pub(super) fn approval_status(&self, id: &str) -> Result<Value, String> {
        let row = self
            .audit
            .store()
            .approval(id)
            .map_err(|error| error.to_string())?;
        let Some(row) = row else {
            return Ok(json!({"approval_id": id, "state": "unknown"}));
        };
        let now = self.clock.now();
        let state =
            if matches!(row.state, State::Pending | State::Approved) && now >= row.expires_at {
                "expired"
            } else {
                row.state.as_str()
            };
        Ok(json!({
            "approval_id": row.id,
            "state": state,
            "tier": row.tier.as_str(),
            "target": row.target,
            "binding": row.binding,
            "created_at": row.created_at.to_string(),
            "expires_at": row.expires_at.to_string(),
            "decided_at": row.decided_at.map(|at| at.to_string()),
            "approver": row.approver,
            "deny_reason": row.deny_reason,
            "used_at": row.used_at.map(|at| at.to_string()),
            "next": match state {
                "pending" => format!("the operator reviews it with `praxis approve {}` in a terminal", row.id),
                "approved" => "call run_action with the same arguments, dry_run=false and this approval_id".to_owned(),
                "denied" => "do not retry; tell the user the operator's reason".to_owned(),
                "used" => "it ran; preview again for another run".to_owned(),
                _ => "preview the action again to ask for a new approval".to_owned(),
            },
        }))
    }
}
