//! The actuator: the single choke point every tool call passes.
//!
//! `Actuator::execute` runs, in this order: argument validation → kill switch → classification
//! → mode gate → approval gate → audit → handler → audit. Every branch, including invalid
//! arguments and unknown tools, leaves at least one audit record.
//! Invariants:
//! - Handlers (and, in later issues, adapters) are reachable only from `execute`.
//! - An effect (`Effect::Write`) runs only after its intent record is committed with
//!   `Durability::Full`; if that fails, the effect does not run (fail closed).
//! - A read's output is returned only after its record is committed; if that fails, the
//!   caller gets `audit-unavailable` instead of the data.
//! - Output bodies never reach the audit: only their SHA-256 and length.
#![deny(clippy::wildcard_enum_match_arm)]

pub mod action;
mod approvals;
mod drift;
pub mod request;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::audit::{self, AuditDecision, AuditLog, RecordDraft};
use crate::clock::{Clock, Timestamp};
use crate::config::Settings;
use crate::digest::Digest;
use crate::fleet::{FactKey, FactType, FactVersion, Provenance};
use crate::killswitch::{KillState, KillSwitch, TripOutcome};
use crate::policy::{self, Classification, Policy, Tier};
use crate::store::Durability;
use crate::store::facts::{FactQuery, NewFact, PutOutcome};

/// How much of an action's output is kept for the caller (the whole is hashed).
/// How much output a probe may print (what `ingest_observation` accepts).
const PROBE_CAPTURE_BYTES: usize = 4 * 1024 * 1024;
/// How long one Redfish request may take, connecting included.
const REDFISH_TIMEOUT_SECONDS: u64 = 20;

/// The predicate of a host's inventory record (a `desired` fact written by `praxis fleet import`).
pub const INVENTORY_PREDICATE: &str = "inventory";

/// An ingest's inputs, borrowed from its operation.
struct Ingest<'call> {
    collector: crate::collectors::Collector,
    subject: &'call str,
    raw: &'call str,
    predicate: Option<&'call str>,
    /// Set when praxis itself collected the telemetry (`collect`), not a caller: the ingest
    /// then also records the sighting `praxis:collected:<probe>`, which is what "when was this
    /// host last observed" counts.
    collected_by_praxis: bool,
}

/// The prefix of the predicates only praxis writes (a caller's telemetry cannot).
pub const RESERVED_PREDICATE_PREFIX: &str = "praxis:";

/// What of a call's arguments may enter the audit: ingested telemetry is untrusted host
/// output and is never stored, only its hash and length (as praxis-py does).
fn audit_view(tool: &str, arguments: &Value) -> Value {
    let mut view = arguments.clone();
    if tool == "ingest_observation"
        && let Value::Object(map) = &mut view
        && let Some(raw) = map.remove("raw")
    {
        let bytes = match &raw {
            Value::String(text) => text.clone().into_bytes(),
            other @ (Value::Null
            | Value::Bool(_)
            | Value::Number(_)
            | Value::Array(_)
            | Value::Object(_)) => other.to_string().into_bytes(),
        };
        map.insert(
            "raw_sha256".into(),
            Value::String(Digest::of(&bytes).to_hex()),
        );
        map.insert("raw_len".into(), Value::from(bytes.len()));
    }
    view
}

fn optional_time(timestamp: Option<Timestamp>) -> Value {
    timestamp.map_or(Value::Null, |timestamp| {
        Value::String(timestamp.to_string())
    })
}

/// `query_facts` output: praxis-py's keys plus the timestamps.
fn facts_json(
    versions: &[FactVersion],
    as_of_valid: Option<Timestamp>,
    as_of_recorded: Option<Timestamp>,
) -> Value {
    let facts: Vec<Value> = versions
        .iter()
        .map(|version| {
            json!({
                "subject": version.key.subject,
                "predicate": version.key.predicate,
                "fact_type": version.key.fact_type.as_str(),
                "value": version.value,
                "valid_from": version.valid_from.to_string(),
                "valid_to": optional_time(version.valid_to),
                "recorded_at": version.recorded_at.to_string(),
                "last_seen": optional_time(version.last_seen),
            })
        })
        .collect();
    json!({
        "count": facts.len(),
        "facts": facts,
        "as_of_valid": optional_time(as_of_valid),
        "as_of_recorded": optional_time(as_of_recorded),
    })
}

/// One `fact_history` entry: praxis-py's keys plus all four timestamps, actor and reason.
fn history_json(version: &FactVersion) -> Value {
    json!({
        "active": version.superseded_at.is_none() && version.valid_to.is_none(),
        "predicate": version.key.predicate,
        "t_recorded": version.recorded_at.to_string(),
        "value": version.value,
        "fact_type": version.key.fact_type.as_str(),
        "valid_from": version.valid_from.to_string(),
        "valid_to": optional_time(version.valid_to),
        "recorded_at": version.recorded_at.to_string(),
        "superseded_at": optional_time(version.superseded_at),
        "closed_at": optional_time(version.closed_at),
        "actor": version.created_by.actor,
        "reason": version.created_by.reason,
        "ended_by": version.ended_by.as_ref().map(|ended| ended.actor.clone()),
        "ended_reason": version.ended_by.as_ref().and_then(|ended| ended.reason.clone()),
        "last_seen": optional_time(version.last_seen),
    })
}

pub use request::{
    ActionRequest, ArgumentError, Effect, Operation, Outcome, Refusal, RefusalCode, Request,
    Response,
};

/// The version recorded in session records and reported to clients.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A read result larger than this is refused whole rather than cut.
pub const MAX_RESULT_BYTES: usize = 8 * 1024 * 1024;

/// Tool names and request ids are cut to this many bytes in records.
const MAX_NAME_BYTES: usize = 128;

/// Facts about the running process that go into its session record.
#[derive(Clone, Debug)]
pub struct SessionFacts {
    pub binary_sha256: Option<Digest>,
    pub pid: u32,
    pub command: String,
}

/// The actuator.
pub struct Actuator {
    audit: AuditLog,
    policy: Policy,
    settings: Settings,
    kill_switch: KillSwitch,
    clock: Arc<dyn Clock>,
    session_id: String,
    accepting: AtomicBool,
    /// Set once this session has taken in untrusted content (ingested telemetry or read
    /// observed facts back); the approval issue makes it gate actuation.
    untrusted: AtomicBool,
    next_call: AtomicU64,
    in_flight: Mutex<BTreeMap<u64, InFlight>>,
    /// The expectations of the baseline files in force (`<policy_dir>/baselines`).
    baselines: Vec<crate::drift::baseline::Expectation>,
    /// When this session started, for `max_wall_seconds`.
    started: Instant,
    /// State-changing runs admitted so far, for `max_actions`.
    actions_run: AtomicU64,
    /// The approver public key, fixed for the session (see `approver_key`).
    approver_key: Option<crate::approval::key::PublicKey>,
}

/// A call that was admitted and has not finished.
#[derive(Clone, Debug)]
struct InFlight {
    tool: String,
    request_id: Option<String>,
    classification: Classification,
    intent_seq: Option<u64>,
}

/// What `begin` decided for an admitted call.
struct Admitted {
    call: u64,
    classification: Classification,
    draft: RecordDraft,
    started: Instant,
    /// The approval a real run consumes with its intent record.
    approval: Option<String>,
}

impl Actuator {
    /// An actuator over `audit`, deciding with `policy` and `settings`.
    pub fn new(
        audit: AuditLog,
        policy: Policy,
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> Actuator {
        let session_id = crate::entropy::random_id(clock.now());
        let approver_key = settings.approver_key().ok().flatten();
        Actuator {
            approver_key,
            kill_switch: KillSwitch::new(settings.kill_switch_path.clone()),
            audit,
            policy,
            settings,
            clock,
            session_id,
            accepting: AtomicBool::new(true),
            untrusted: AtomicBool::new(false),
            next_call: AtomicU64::new(0),
            in_flight: Mutex::new(BTreeMap::new()),
            baselines: Vec::new(),
            started: Instant::now(),
            actions_run: AtomicU64::new(0),
        }
    }

    /// Takes one action from the session's budget (`max_actions`, `max_wall_seconds`), or says
    /// why there is none left. Only a run that passed every gate, its approval included,
    /// spends budget.
    fn spend_budget(&self) -> Result<(), String> {
        if let Some(seconds) = self.settings.max_wall_seconds
            && self.started.elapsed() > Duration::from_secs(seconds)
        {
            return Err(format!(
                "this session's time for state changes ({seconds} s, max_wall_seconds) is over; the operator starts a new session to continue"
            ));
        }
        if let Some(limit) = self.settings.max_actions {
            let spent = self.actions_run.fetch_add(1, Ordering::SeqCst);
            if spent >= limit {
                self.actions_run.fetch_sub(1, Ordering::SeqCst);
                return Err(format!(
                    "this session has made its {limit} state-changing runs (max_actions); the operator starts a new session to continue"
                ));
            }
        }
        Ok(())
    }

    /// This actuator judging drift with `baselines` (from `Settings::load_baselines`).
    #[must_use]
    pub fn with_baselines(
        mut self,
        baselines: Vec<crate::drift::baseline::Expectation>,
    ) -> Actuator {
        self.baselines = baselines;
        self
    }

    /// This process's session id (in every record it writes).
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The audit log.
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// Writes this process's session record (durably). Serving must not start if it fails.
    pub fn start_session(&self, facts: &SessionFacts) -> Result<u64, audit::AuditError> {
        let mut draft = self.draft("praxis", AuditDecision::Session);
        draft.tier = Some(Tier::T0);
        draft.args = json!({
            "praxis_version": VERSION,
            "binary_sha256": facts.binary_sha256.map(|digest| digest.to_hex()),
            "config_digest": self.settings.digest().to_hex(),
            "policy_hash": self.policy.hash().to_hex(),
            "mode": self.settings.mode.as_str(),
            "pid": facts.pid,
            "command": facts.command,
            "approver_key": self.approver_key().map(|key| json!({
                "fingerprint": key.fingerprint(),
                "public_key": key.to_hex(),
                "pinned": self.settings.approver_public_key.is_some(),
            })),
        });
        self.audit
            .append(&draft, Durability::Full)
            .map(|sealed| sealed.seq)
    }

    /// Records the end of this process's session.
    pub fn end_session(&self, reason: &str) -> Result<u64, audit::AuditError> {
        let mut draft = self.draft("praxis", AuditDecision::SessionEnd);
        draft.tier = Some(Tier::T0);
        draft.args = json!({
            "reason": reason,
            "calls": self.next_call.load(Ordering::SeqCst),
        });
        self.audit
            .append(&draft, Durability::Full)
            .map(|sealed| sealed.seq)
    }

    /// Stops admitting calls, then records every call still in flight as interrupted.
    /// Returns how many were interrupted.
    pub fn interrupt_in_flight(&self, reason: &str) -> usize {
        self.accepting.store(false, Ordering::SeqCst);
        let interrupted: Vec<InFlight> = {
            let mut in_flight = self
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            std::mem::take(&mut *in_flight).into_values().collect()
        };
        for call in &interrupted {
            let mut draft = self.draft(&call.tool, AuditDecision::Interrupted);
            draft.request_id.clone_from(&call.request_id);
            draft.tier = Some(call.classification.tier);
            draft.rule_ids.clone_from(&call.classification.rule_ids);
            draft.error = Some(audit::audit_error(
                RefusalCode::ShuttingDown.as_str(),
                &format!(
                    "{reason}; intent record {}",
                    call.intent_seq
                        .map_or_else(|| "none (a read)".to_owned(), |seq| format!("seq {seq}"))
                ),
            ));
            if let Err(error) = self.audit.append(&draft, Durability::Full) {
                tracing::error!(%error, tool = %call.tool, "cannot record an interrupted call");
            }
        }
        interrupted.len()
    }

    /// Stops admitting calls and waits up to `grace` for calls in flight to finish.
    /// Returns whether none were left.
    pub fn drain(&self, grace: Duration) -> bool {
        self.accepting.store(false, Ordering::SeqCst);
        let deadline = Instant::now() + grace;
        loop {
            let empty = self
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty();
            if empty {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Runs one tool call through every gate. Never panics on hostile input; always answers.
    pub fn execute(&self, request: Request) -> Response {
        let started = Instant::now();
        let classification = self.policy.classify(&request.tool);
        let mut draft = self.draft(
            &audit::cut(&request.tool, MAX_NAME_BYTES),
            AuditDecision::Denied,
        );
        draft.request_id = request
            .request_id
            .as_deref()
            .map(|id| audit::cut(id, MAX_NAME_BYTES));
        draft.tier = Some(classification.tier);
        draft.rule_ids.clone_from(&classification.rule_ids);
        draft.args = audit::audit_args(&audit_view(&request.tool, &request.arguments));

        // 1. Validation: the arguments must have become a typed operation.
        let operation = match request.operation {
            Ok(operation) => operation,
            Err(ArgumentError::UnknownTool) => {
                return self.refuse(
                    draft,
                    &classification,
                    started,
                    RefusalCode::UnknownTool,
                    &format!(
                        "there is no tool named `{}`; call tools/list for the tools praxis offers",
                        audit::cut(&request.tool, MAX_NAME_BYTES)
                    ),
                );
            }
            Err(ArgumentError::Invalid(problem)) => {
                return self.refuse(draft, &classification, started, RefusalCode::InvalidArguments,
                    &format!("invalid arguments for `{}`: {problem}; fix the arguments to match the tool's inputSchema and call again", request.tool));
            }
        };

        if let Some(target) = operation.target() {
            draft.target = Some(audit::cut(&target, MAX_NAME_BYTES));
        }

        // 2. Kill switch.
        if let KillState::Engaged { detail } = self.kill_switch.state() {
            return self.refuse(draft, &classification, started, RefusalCode::KillSwitchEngaged,
                &format!("the kill switch is engaged ({detail}); every tool call is refused until an operator runs `praxis resume` in a terminal"));
        }

        // 3. Shutdown: no new work once the server is stopping.
        if !self.accepting.load(Ordering::SeqCst) {
            return self.refuse(
                draft,
                &classification,
                started,
                RefusalCode::ShuttingDown,
                "the server is shutting down; call again after it restarts",
            );
        }

        // A group call is one call per host, each through every gate below.
        if let Operation::FanOut { group, each } = &operation {
            let caller = Caller {
                tool: &request.tool,
                request_id: request.request_id.as_deref(),
                arguments: &request.arguments,
            };
            return self.fan_out(draft, &classification, started, &caller, group, each);
        }

        // An action on a host is classified by what it would run, not by the tool's name.
        if let Operation::RunAction(action) = &operation {
            return self.gate_action(
                draft,
                started,
                action,
                &operation,
                request.progress.as_ref(),
            );
        }

        // 4. Mode gate.
        if let Err(refusal) = policy::admit_by_mode(self.settings.mode, classification.tier) {
            return self.refuse(
                draft,
                &classification,
                started,
                RefusalCode::TierDenied,
                &format!(
                    "mode {} refuses {} actions; an operator must change the mode to allow this",
                    refusal.mode.as_str(),
                    refusal.tier
                ),
            );
        }

        // Ingesting telemetry marks the session as holding untrusted content, before the
        // approval gate (praxis-py's order), whatever the ingest then yields.
        if let Operation::IngestObservation { .. } = &operation {
            self.mark_untrusted(
                &request.tool,
                draft.request_id.as_deref(),
                "ingested telemetry",
            );
        }

        // 5. Approval gate. Approvals bind actions (`run_action`); a tool that is not one and
        //    needs a human (an unlisted tool is T2) cannot be approved, so it never runs.
        if classification.tier.requires_approval() {
            return self.refuse(draft, &classification, started, RefusalCode::ApprovalRequired,
                &format!("{} tools need a human approval, and only run_action actions can be approved; ask the operator to do this by hand", classification.tier));
        }

        // 6–9. Admitted: audit, run, audit.
        let admitted = self.begin(&request.tool, draft, classification, started);
        self.run_admitted(admitted, &operation)
    }

    #[expect(
        clippy::too_many_lines,
        reason = "the gates of run_action in their order, read top to bottom"
    )]
    /// The gates of `run_action`: deny and parse refusals, the inventory and host-type rule, the
    /// mode, then a dry run is previewed and a real run needs an approval (and an adapter).
    fn gate_action(
        &self,
        mut draft: RecordDraft,
        started: Instant,
        request: &ActionRequest,
        operation: &Operation,
        progress: Option<&request::Progress>,
    ) -> Response {
        let assessment = action::assess(self.audit.store(), &self.policy, &self.settings, request);
        let classification = Classification {
            tier: match assessment.classification.verdict {
                policy::classify::Verdict::Tier(tier) => tier,
                policy::classify::Verdict::Deny | policy::classify::Verdict::Unparseable => {
                    Tier::T3
                }
            },
            rule_ids: assessment.classification.deciding_rule_ids(),
        };
        draft.adapter = Some(audit::cut(&request.adapter, MAX_NAME_BYTES));
        draft.target = Some(audit::cut(&request.host, MAX_NAME_BYTES));
        draft.host_type.clone_from(&assessment.host_type);
        draft.dry_run = Some(request.dry_run);
        draft.approval_id = request
            .approval_id
            .as_deref()
            .map(|id| audit::cut(id, MAX_NAME_BYTES));
        draft.tier = Some(classification.tier);
        draft.rule_ids.clone_from(&classification.rule_ids);
        match assessment.classification.verdict {
            policy::classify::Verdict::Deny => {
                return self.refuse(draft, &classification, started, RefusalCode::DeniedByPolicy, &format!(
                    "the policy denies this action in every mode (rules {}); it cannot be approved — do something else",
                    classification.rule_ids.join(", ")
                ));
            }
            policy::classify::Verdict::Unparseable => {
                return self.refuse(draft, &classification, started, RefusalCode::UnparseableCommand,
                    "praxis cannot parse this command with certainty, so it is refused; simplify it (no unbalanced quotes, no deep nesting)");
            }
            policy::classify::Verdict::Tier(_) => {}
        }
        if let Some((code, message)) = &assessment.host_refusal {
            return self.refuse(draft, &classification, started, *code, message);
        }
        if let Err(refusal) = policy::admit_by_mode(self.settings.mode, classification.tier) {
            return self.refuse(draft, &classification, started, RefusalCode::TierDenied, &format!(
                "mode {} refuses {} actions, previews included; an operator must change the mode to allow this",
                refusal.mode.as_str(),
                refusal.tier
            ));
        }
        // Drift: evaluated for the target before anything runs; its digest goes into the
        // call's records, and the policy's [drift] rules may refuse an actuation.
        let drift_approval = match self.check_drift(&mut draft, request, classification.tier) {
            Ok(approval) => approval,
            Err((code, message)) => {
                return self.refuse(draft, &classification, started, code, &message);
            }
        };
        // Whatever will touch a host (a real run, or ansible's executed dry run) needs a
        // credential whose scope and tier cover it (invariant 9), checked before approvals.
        let executes = !request.dry_run || executes_dry_run(request);
        if executes && crate::credentials::kind_for_adapter(&request.adapter).is_some() {
            let tier = if request.dry_run {
                Tier::T0
            } else {
                classification.tier
            };
            if let Err(message) = action::credential_for(
                &self.settings,
                &request.adapter,
                &request.host,
                assessment.inventory.as_ref(),
                tier,
            ) {
                return self.refuse(
                    draft,
                    &classification,
                    started,
                    RefusalCode::CredentialOutOfScope,
                    &message,
                );
            }
        }
        let mut approval = None;
        if !request.dry_run {
            // Who needs a human: T2 and T3 always, T1 after untrusted content (the trifecta
            // latch) or when the policy's [drift] rules say so; T0 never.
            let latch = classification.tier == Tier::T1 && self.holds_untrusted_content();
            if self.needs_human(classification.tier) || drift_approval {
                let Some(id) = request.approval_id.as_deref() else {
                    let (code, message) = if drift_approval {
                        (
                            RefusalCode::ApprovalRequired,
                            format!(
                                "{} has stale observations or open critical drift, and the policy's [drift] rules make this {} action need a human approval: call run_action with dry_run=true to see the drift and get an approval_id, then ask the operator to run `praxis approve` in a terminal",
                                request.host, classification.tier
                            ),
                        )
                    } else if latch {
                        (RefusalCode::UntrustedContentApprovalRequired, "this session has read untrusted host output, so even reversible (T1) actions need a human approval now: call run_action with dry_run=true to get an approval_id, then ask the operator to run `praxis approve` in a terminal".to_owned())
                    } else {
                        (
                            RefusalCode::ApprovalRequired,
                            format!(
                                "{} actions need a human approval: call run_action with dry_run=true to get an approval_id, then ask the operator to run `praxis approve` in a terminal, then call again with dry_run=false and the approval_id",
                                classification.tier
                            ),
                        )
                    };
                    return self.refuse(draft, &classification, started, code, &message);
                };
                let checked = match self.check_approval(id, request, &assessment, &classification) {
                    Err((RefusalCode::ApprovalPending, _)) if request.wait_for_approval_s > 0 => {
                        self.wait_for_decision(id, request, &assessment, &classification, progress)
                    }
                    other => other,
                };
                if let Err((code, message)) = checked {
                    return self.refuse(draft, &classification, started, code, &message);
                }
                approval = Some(id.to_owned());
            }
            // Executing state changes is built for ssh, ansible, talosctl, redfish and runbooks;
            // terraform/OpenTofu stop at the plan.
            let executes_changes = matches!(
                request.adapter.as_str(),
                "ssh" | "ansible" | "talosctl" | "redfish" | "runbook" | "terraform" | "opentofu"
            );
            if classification.tier > Tier::T0 && !executes_changes {
                return self.refuse(draft, &classification, started, RefusalCode::AdapterUnavailable, &format!(
                    "this build does not execute {} actions through the {} adapter; it runs its plans and reads (LIMITATIONS.md)",
                    classification.tier, request.adapter
                ));
            }
            if !matches!(
                request.adapter.as_str(),
                "ssh" | "ansible" | "talosctl" | "redfish" | "terraform" | "opentofu" | "runbook"
            ) {
                return self.refuse(draft, &classification, started, RefusalCode::AdapterUnavailable, &format!(
                    "the {} adapter cannot execute in this build yet; use dry_run=true to see what would run",
                    request.adapter
                ));
            }
        }
        // Preconditions, before an approval is consumed: an irreversible Talos verb runs only
        // on a cluster whose health pre-flight passes now.
        if !request.dry_run
            && request.adapter == "talosctl"
            && crate::adapters::talosctl::is_irreversible(&request.action)
        {
            let verdict = self.talos_preflight(request, &assessment);
            if !verdict
                .as_ref()
                .is_ok_and(|preflight| preflight["healthy"] == json!(true))
            {
                let why = match &verdict {
                    Ok(preflight) => audit::cut(preflight["stderr"].as_str().unwrap_or(""), 300),
                    Err(error) => error.clone(),
                };
                return self.refuse(draft, &classification, started, RefusalCode::PreconditionFailed, &format!(
                    "the health pre-flight of {} failed ({why}), so the {} did not run; the approval is kept until it expires — try again once the cluster is healthy",
                    request.host, request.action
                ));
            }
        }
        // Budget last: a refusal above (an approval refused, say) never spends it.
        if !request.dry_run
            && classification.tier > Tier::T0
            && let Err(message) = self.spend_budget()
        {
            return self.refuse(
                draft,
                &classification,
                started,
                RefusalCode::BudgetExhausted,
                &message,
            );
        }
        let mut admitted = self.begin("run_action", draft, classification, started);
        admitted.approval = approval;
        self.run_admitted(admitted, operation)
    }

    /// Runs `each` on every inventory host of `group`, `fanout_concurrency` hosts at once.
    /// Every host's call is a whole call of its own (gates, records, result); the fan-out adds
    /// one record that lists them, written last.
    fn fan_out(
        &self,
        draft: RecordDraft,
        classification: &Classification,
        started: Instant,
        request: &Caller<'_>,
        group: &str,
        each: &Operation,
    ) -> Response {
        let hosts = match self.list_hosts(Some(group), None) {
            Ok(listing) => listing["hosts"]
                .as_array()
                .map(|hosts| {
                    hosts
                        .iter()
                        .filter_map(|host| host["name"].as_str().map(str::to_owned))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default(),
            Err(message) => {
                return self.conclude(
                    draft,
                    classification,
                    started,
                    RefusalCode::ToolFailed,
                    &message,
                    AuditDecision::Error,
                );
            }
        };
        if hosts.is_empty() {
            return self.refuse(
                draft,
                classification,
                started,
                RefusalCode::UnknownGroup,
                &format!(
                    "no inventory host is in group {}; list_hosts shows the hosts and their groups",
                    audit::cut(group, MAX_NAME_BYTES)
                ),
            );
        }
        let workers = usize::try_from(self.settings.fanout_concurrency)
            .unwrap_or(usize::MAX)
            .clamp(1, hosts.len());
        let next = AtomicUsize::new(0);
        let answers: Mutex<Vec<Option<Response>>> = Mutex::new(vec![None; hosts.len()]);
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    loop {
                        let index = next.fetch_add(1, Ordering::SeqCst);
                        let Some(host) = hosts.get(index) else { break };
                        let response = self.execute(Self::per_host_request(request, host, each));
                        answers.lock().unwrap_or_else(PoisonError::into_inner)[index] =
                            Some(response);
                    }
                });
            }
        });
        let answers = answers.into_inner().unwrap_or_else(PoisonError::into_inner);
        let (mut value, tier) =
            fan_out_result(group, &hosts, answers, workers, classification.tier);
        fit_fan_out(&mut value, MAX_RESULT_BYTES);
        let call = self.begin(
            request.tool,
            draft,
            Classification {
                tier,
                rule_ids: classification.rule_ids.clone(),
            },
            started,
        );
        let Admitted {
            call,
            classification,
            mut draft,
            started,
            ..
        } = call;
        draft.tier = Some(classification.tier);
        draft.ts = self.clock.now();
        draft.duration_ms = Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
        draft.decision = AuditDecision::Allowed;
        let outcome = Self::outcome_of(Ok(value), Effect::Read, &classification, &mut draft);
        let written = self.audit.append(&draft, Durability::Normal);
        self.finish(call);
        match written {
            Ok(sealed) => Response {
                outcome,
                audit_seq: Some(sealed.seq),
            },
            Err(error) => {
                tracing::error!(%error, "a fan-out's summary record could not be written; its result is withheld");
                Response {
                    outcome: Outcome::Refused(Refusal {
                        code: RefusalCode::AuditUnavailable,
                        message: "the summary record of this group call could not be written, so its result is withheld (each host's own record may exist); ask the operator to check `praxis doctor`".into(),
                        tier: classification.tier,
                        rule_ids: classification.rule_ids,
                    }),
                    audit_seq: None,
                }
            }
        }
    }

    /// The call a fan-out makes for one host: the caller's arguments with the host instead of
    /// the group, and a request id that names the host.
    fn per_host_request(request: &Caller<'_>, host: &str, each: &Operation) -> Request {
        let mut arguments = request.arguments.clone();
        if let Some(object) = arguments.as_object_mut() {
            object.remove("group");
            object.insert("host".into(), json!(host));
        }
        Request {
            request_id: Some(format!("{}/{host}", request.request_id.unwrap_or(""))),
            tool: request.tool.to_owned(),
            arguments,
            operation: Ok(each.for_host(host)),
            progress: None,
        }
    }

    fn begin(
        &self,
        tool: &str,
        draft: RecordDraft,
        classification: Classification,
        started: Instant,
    ) -> Admitted {
        let call = self.next_call.fetch_add(1, Ordering::SeqCst);
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                call,
                InFlight {
                    tool: audit::cut(tool, MAX_NAME_BYTES),
                    request_id: draft.request_id.clone(),
                    classification: classification.clone(),
                    intent_seq: None,
                },
            );
        Admitted {
            call,
            classification,
            draft,
            started,
            approval: None,
        }
    }

    fn finish(&self, call: u64) {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&call);
    }

    #[expect(
        clippy::too_many_lines,
        reason = "intent, handler, outcome: the admitted path in one place"
    )]
    fn run_admitted(&self, admitted: Admitted, operation: &Operation) -> Response {
        let Admitted {
            call,
            classification,
            mut draft,
            started,
            approval,
        } = admitted;
        let effect = operation.effect();
        if let Operation::Collect { host, probe } = operation {
            return self.run_collect(call, &classification, draft, started, host, probe);
        }
        if let Operation::IngestObservation {
            collector,
            subject,
            raw,
            predicate,
        } = operation
        {
            let ingest = Ingest {
                collector: *collector,
                subject,
                raw,
                predicate: predicate.as_deref(),
                collected_by_praxis: false,
            };
            return self.run_ingest(call, &classification, draft, started, &ingest);
        }
        if let Operation::DriftScan { subject } = operation {
            return self.run_drift_scan(call, &classification, draft, started, subject.as_deref());
        }
        if effect == Effect::Write {
            draft.decision = AuditDecision::Intent;
            draft.ts = self.clock.now();
            // An approved run consumes its approval in the intent's transaction: of two calls
            // racing for one approval, exactly one writes its intent and runs.
            let intent = match &approval {
                Some(id) => self
                    .audit
                    .store()
                    .consume_approval(id, &self.session_id, draft.ts, |seq, previous| {
                        audit::chain::seal(&draft, seq, previous)
                    })
                    .map_err(audit::AuditError::Write),
                None => self.audit.append(&draft, Durability::Full).map(Some),
            };
            let intent = match intent {
                Ok(Some(sealed)) => Ok(sealed),
                Ok(None) => {
                    self.finish(call);
                    // The race for the approval was lost: nothing ran, so nothing is spent.
                    if classification.tier > Tier::T0 && self.settings.max_actions.is_some() {
                        self.actions_run.fetch_sub(1, Ordering::SeqCst);
                    }
                    return self.refuse(
                        draft,
                        &classification,
                        started,
                        RefusalCode::ApprovalUsed,
                        "another call used this approval first; an approval runs one action once",
                    );
                }
                Err(error) => {
                    // Nothing ran: a spent budget unit comes back.
                    if classification.tier > Tier::T0 && self.settings.max_actions.is_some() {
                        self.actions_run.fetch_sub(1, Ordering::SeqCst);
                    }
                    Err(error)
                }
            };
            match intent {
                Ok(sealed) => {
                    if let Some(entry) = self
                        .in_flight
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .get_mut(&call)
                    {
                        entry.intent_seq = Some(sealed.seq);
                    }
                }
                Err(error) => {
                    self.finish(call);
                    tracing::error!(%error, "intent record not durable; the action does not run");
                    return Response {
                        outcome: Outcome::Refused(Refusal {
                            code: RefusalCode::AuditUnavailable,
                            message: "the audit record for this action could not be made durable, so the action did not run; ask the operator to check `praxis doctor`".into(),
                            tier: classification.tier,
                            rule_ids: classification.rule_ids,
                        }),
                        audit_seq: None,
                    };
                }
            }
        }

        let result = self.handle(operation, draft.request_id.as_deref());
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        draft.ts = self.clock.now();
        draft.duration_ms = Some(duration_ms);
        draft.decision = match effect {
            Effect::Read | Effect::Record => AuditDecision::Allowed,
            Effect::Write => AuditDecision::Outcome,
        };
        let outcome = Self::outcome_of(result, effect, &classification, &mut draft);
        let durability = match effect {
            Effect::Read | Effect::Record => Durability::Normal,
            Effect::Write => Durability::Full,
        };
        let written = self.audit.append(&draft, durability);
        self.finish(call);
        match (written, effect) {
            (Ok(sealed), _) => Response {
                outcome,
                audit_seq: Some(sealed.seq),
            },
            (Err(error), Effect::Read | Effect::Record) => {
                tracing::error!(%error, "read not recorded; its output is withheld");
                Response {
                    outcome: Outcome::Refused(Refusal {
                        code: RefusalCode::AuditUnavailable,
                        message: "the audit record for this read could not be written, so its output is withheld; ask the operator to check `praxis doctor`".into(),
                        tier: classification.tier,
                        rule_ids: classification.rule_ids,
                    }),
                    audit_seq: None,
                }
            }
            (Err(error), Effect::Write) => {
                // The effect already happened; say so rather than pretend it did not.
                tracing::error!(%error, "an action ran but its outcome record could not be written");
                Response {
                    outcome,
                    audit_seq: None,
                }
            }
        }
    }

    /// Turns a handler's result into the caller's outcome and completes the final record.
    fn outcome_of(
        result: Result<Value, String>,
        effect: Effect,
        classification: &Classification,
        draft: &mut RecordDraft,
    ) -> Outcome {
        match result {
            Ok(value) => {
                let body = value.to_string();
                draft.output_sha256 = Some(Digest::of(body.as_bytes()));
                draft.output_len = Some(u64::try_from(body.len()).unwrap_or(u64::MAX));
                // An action on a host reports the hash and length of its own full output.
                if let (Some(hash), Some(length)) = (
                    value["output_sha256"].as_str().and_then(Digest::parse_hex),
                    value["output_len"].as_u64(),
                ) {
                    draft.output_sha256 = Some(hash);
                    draft.output_len = Some(length);
                }
                draft.exit_code = value["exit_code"].as_i64();
                if body.len() > MAX_RESULT_BYTES {
                    let message = format!(
                        "the result is {} bytes, over the {MAX_RESULT_BYTES}-byte limit; narrow the query (the call was audited; nothing was returned truncated)",
                        body.len()
                    );
                    draft.error = Some(audit::audit_error(
                        RefusalCode::ResultTooLarge.as_str(),
                        &message,
                    ));
                    Outcome::Refused(Refusal {
                        code: RefusalCode::ResultTooLarge,
                        message,
                        tier: classification.tier,
                        rule_ids: classification.rule_ids.clone(),
                    })
                } else {
                    Outcome::Completed { value, body }
                }
            }
            Err(message) => {
                if effect == Effect::Read {
                    draft.decision = AuditDecision::Error;
                }
                draft.output_sha256 = Some(Digest::of(b""));
                draft.output_len = Some(0);
                draft.error = Some(audit::audit_error(
                    RefusalCode::ToolFailed.as_str(),
                    &message,
                ));
                Outcome::Refused(Refusal {
                    code: RefusalCode::ToolFailed,
                    message: audit::redact::redact_text(&message).into_owned(),
                    tier: classification.tier,
                    rule_ids: classification.rule_ids.clone(),
                })
            }
        }
    }

    /// The handlers. Reachable only from `run_admitted`.
    fn handle(&self, operation: &Operation, request_id: Option<&str>) -> Result<Value, String> {
        match operation {
            Operation::ServerStatus => self.server_status(),
            Operation::AuditVerify => self.audit_verify(),
            Operation::EmergencyStop { reason } => Ok(self.emergency_stop(reason)),
            Operation::QueryFacts {
                subject,
                fact_type,
                as_of_valid,
                as_of_recorded,
            } => self.query_facts(
                subject.as_deref(),
                fact_type.as_deref(),
                *as_of_valid,
                *as_of_recorded,
                request_id,
            ),
            Operation::FactHistory { subject, predicate } => {
                self.fact_history(subject, predicate.as_deref(), request_id)
            }
            Operation::ListHosts { group, host_type } => {
                self.list_hosts(group.as_deref(), host_type.as_deref())
            }
            Operation::ListHostResources => self.list_hosts(None, None).map(|listing| {
                let names: Vec<Value> = listing["hosts"]
                    .as_array()
                    .map(|hosts| hosts.iter().map(|host| host["name"].clone()).collect())
                    .unwrap_or_default();
                json!({ "hosts": names })
            }),
            Operation::ReadHost { name } => self.read_host(name, request_id),
            Operation::ReadPolicy => Ok(self.policy_json()),
            Operation::ApprovalStatus { approval_id } => self.approval_status(approval_id),
            Operation::ExplainAction(request) => Ok(self.explain(request)),
            // A terraform dry run is executed (init, plan, show -json); so is a real `plan`,
            // the only verb that gets here for real until approvals exist.
            Operation::RunAction(request)
                if matches!(request.adapter.as_str(), "terraform" | "opentofu")
                    && !request.dry_run
                    && !request.action.trim_start().starts_with("plan") =>
            {
                self.run_terraform_apply(request, request_id)
            }
            Operation::RunAction(request)
                if matches!(request.adapter.as_str(), "terraform" | "opentofu") =>
            {
                self.run_terraform_plan(request, request_id)
            }
            Operation::RunAction(request) if !request.dry_run && request.adapter == "talosctl" => {
                self.run_talosctl(request, request_id)
            }
            Operation::RunAction(request) if !request.dry_run && request.adapter == "runbook" => {
                self.run_runbook_script(request, request_id)
            }
            Operation::RunAction(request) if !request.dry_run && request.adapter == "redfish" => {
                self.run_redfish(request, request_id)
            }
            Operation::RunAction(request) if !request.dry_run && request.adapter == "ansible" => {
                self.run_ansible(request, request_id, false)
            }
            Operation::RunAction(request) if !request.dry_run => self.run_ssh(request, request_id),
            // ansible's dry run is executed: `--check --diff` reports what a run would change.
            Operation::RunAction(request) if request.adapter == "ansible" => {
                self.run_ansible(request, request_id, true)
            }
            // A Talos reset or upgrade is previewed with the health pre-flight it would need to
            // pass: nothing irreversible runs on an unhealthy cluster.
            Operation::RunAction(request)
                if request.adapter == "talosctl"
                    && crate::adapters::talosctl::is_irreversible(&request.action) =>
            {
                let assessment =
                    action::assess(self.audit.store(), &self.policy, &self.settings, request);
                let mut value = self.preview(request, &assessment, request_id);
                value["preflight"] = self.talos_preflight(request, &assessment)?;
                self.mark_untrusted("run_action", request_id, "read host output");
                Ok(value)
            }
            Operation::RunAction(request) => {
                let assessment =
                    action::assess(self.audit.store(), &self.policy, &self.settings, request);
                Ok(self.preview(request, &assessment, request_id))
            }
            Operation::IngestObservation { .. }
            | Operation::Collect { .. }
            | Operation::DriftScan { .. }
            | Operation::FanOut { .. } => Err(
                "internal: ingests, drift scans and fan-outs run with their records, not here"
                    .into(),
            ),
        }
    }

    /// `explain_action`: how an action is classified, without running or asking for anything.
    fn explain(&self, request: &ActionRequest) -> Value {
        let assessment = action::assess(self.audit.store(), &self.policy, &self.settings, request);
        let mut value = action::assessment_json(
            &assessment,
            policy::admit_by_mode(self.settings.mode, assessed_tier(&assessment)).is_ok(),
        );
        value["adapter"] = json!(request.adapter);
        value["host"] = json!(request.host);
        value["action"] = json!(request.action);
        value["policy_hash"] = json!(self.policy.hash().to_hex());
        value
    }

    /// A dry run's answer: the classification, the argv a real run would execute, and a
    /// digest that binds them (what an approval will name).
    fn preview(
        &self,
        request: &ActionRequest,
        assessment: &action::Assessment,
        request_id: Option<&str>,
    ) -> Value {
        let preview = format!(
            "DRY_RUN preview (not executed): {}",
            assessment.argv.join(" ")
        );
        let binding = json!({"adapter": request.adapter, "host": request.host, "action": request.action,
            "argv": assessment.argv, "policy_hash": self.policy.hash().to_hex()});
        let action_id =
            Digest::of(audit::canonical::to_canonical_string(&binding).as_bytes()).to_hex();
        let mut value = action::assessment_json(assessment, true);
        value["ok"] = json!(true);
        value["dry_run"] = json!(true);
        value["error"] = Value::Null;
        value["output_sha256"] = json!(Digest::of(preview.as_bytes()).to_hex());
        value["output_len"] = json!(preview.len());
        value["output"] = json!(preview);
        value["action_id"] = json!(action_id[..16]);
        self.ask_approval_if_needed(&mut value, request, assessment, request_id);
        value["drift"] = self.drift_preview(&request.host);
        value
    }

    /// Marks a dry run's answer with whether its real run needs a human and, if so, asks the
    /// operator for an approval and says what to do with it.
    fn ask_approval_if_needed(
        &self,
        value: &mut Value,
        request: &ActionRequest,
        assessment: &action::Assessment,
        request_id: Option<&str>,
    ) {
        let tier = match assessment.classification.verdict {
            policy::classify::Verdict::Tier(tier) => Some(tier),
            policy::classify::Verdict::Deny | policy::classify::Verdict::Unparseable => None,
        };
        // The real run would need a human by tier, or by the policy's [drift] rules.
        let needs_human = tier.is_some_and(|tier| {
            let real = ActionRequest {
                dry_run: false,
                ..request.clone()
            };
            self.needs_human(tier)
                || self.policy.drift_rules().may_ask_for_approval()
                    && self
                        .check_drift(
                            &mut self.draft("run_action", AuditDecision::Denied),
                            &real,
                            tier,
                        )
                        .unwrap_or(false)
        });
        value["approval_required"] = json!(needs_human);
        value["approval"] = match tier {
            Some(tier) if needs_human => {
                match self.request_approval(request, assessment, tier, request_id) {
                    Ok(pending) => {
                        value["approval_id"] = json!(pending.id);
                        value["approval_expires_at"] = json!(pending.expires_at.to_string());
                        json!(format!(
                            "a human must approve this: ask the operator to run `praxis approve {}` in a terminal (it expires at {}); then call run_action with the same arguments, dry_run=false and approval_id {}; approval_status tells you where it stands",
                            pending.id, pending.expires_at, pending.id
                        ))
                    }
                    Err(error) => json!(format!("an approval could not be requested: {error}")),
                }
            }
            _ => json!("no approval is needed: call again with dry_run=false to run it"),
        };
    }

    /// Runs `talosctl health` for the target of an irreversible Talos action (a T0 read) and
    /// says whether the action could proceed.
    fn talos_preflight(
        &self,
        request: &ActionRequest,
        assessment: &action::Assessment,
    ) -> Result<Value, String> {
        let target = action::talos_target(&request.host, assessment.inventory.as_ref());
        let (name, credential) = self.credential(request, assessment, Tier::T0)?;
        let binary = self.settings.talosctl_binary.as_deref();
        let outcome = crate::adapters::talosctl::health_preflight(
            binary,
            action::credential_path(&credential),
            &target,
            Duration::from_secs(self.settings.talosctl_timeout_seconds),
            self.preview_bytes(),
        )
        .map_err(|error| error.to_string())?;
        let healthy = outcome.exit_code == Some(0) && !outcome.timed_out;
        Ok(json!({
            "check": crate::adapters::talosctl::health_argv(
                binary.unwrap_or(std::path::Path::new("talosctl")),
                action::credential_path(&credential).unwrap_or(std::path::Path::new("")),
                &target,
            ),
            "credential": name,
            "healthy": healthy,
            "exit_code": outcome.exit_code,
            "stderr": audit::redact::redact_text(&outcome.stderr_preview),
            "verdict": if healthy {
                "the cluster is healthy: the action may proceed once approved"
            } else {
                "the cluster is not healthy: praxis will not run this irreversible action until it is"
            },
        }))
    }

    /// How much of an action's output a result shows (head and tail); the full output is always
    /// hashed.
    fn preview_bytes(&self) -> usize {
        usize::try_from(self.settings.output_preview_bytes).unwrap_or(usize::MAX)
    }

    /// The credential `request` runs with at `tier` (the gate checked it; this reads it again
    /// so a revocation in between still counts).
    fn credential(
        &self,
        request: &ActionRequest,
        assessment: &action::Assessment,
        tier: Tier,
    ) -> Result<(String, crate::config::Credential), String> {
        action::credential_for(
            &self.settings,
            &request.adapter,
            &request.host,
            assessment.inventory.as_ref(),
            tier,
        )
    }

    /// Runs a T0 action over ssh (the gates have passed) and reports its output.
    fn run_ssh(&self, request: &ActionRequest, request_id: Option<&str>) -> Result<Value, String> {
        let assessment = action::assess(self.audit.store(), &self.policy, &self.settings, request);
        let target = action::ssh_target(assessment.inventory.as_ref(), &request.host)?;
        let (name, credential) =
            self.credential(request, &assessment, assessed_tier(&assessment))?;
        let outcome = crate::adapters::ssh::run(
            &target,
            &request.action,
            &action::ssh_options(&self.settings, action::credential_path(&credential)),
            self.preview_bytes(),
        )
        .map_err(|error| error.to_string())?;
        // What a host prints is untrusted content, like ingested telemetry.
        self.mark_untrusted("run_action", request_id, "read host output");
        let mut value = ran_json(
            &assessment,
            &outcome,
            &format!(
                "the command did not finish within {} s and was killed",
                self.settings.ssh_command_timeout_seconds
            ),
        );
        value["argv_target"] = json!(format!("{}:{}", target.address, target.port));
        value["credential"] = json!(name);
        Ok(value)
    }

    /// Reads a BMC over Redfish, or sends a power action (the gates, and the approval where one
    /// is needed, have passed).
    fn run_redfish(
        &self,
        request: &ActionRequest,
        request_id: Option<&str>,
    ) -> Result<Value, String> {
        use crate::adapters::redfish::{self, RedfishOperation};
        let assessment = action::assess(self.audit.store(), &self.policy, &self.settings, request);
        let target = action::redfish_target(assessment.inventory.as_ref(), &request.host)?;
        let path = match redfish::parse_operation(&request.action)? {
            RedfishOperation::Status => None,
            RedfishOperation::Get(path) => Some(path),
            RedfishOperation::Reset(reset) => {
                // The gates (and the approval, where one is needed) have passed.
                let (name, credential) =
                    self.redfish_credential(request, &assessment, assessed_tier(&assessment))?;
                let response = redfish::reset(
                    &target,
                    reset,
                    &credential,
                    &action::egress_policy(&self.settings),
                    Duration::from_secs(REDFISH_TIMEOUT_SECONDS),
                )
                .map_err(|error| error.to_string())?;
                drop(credential);
                self.mark_untrusted("run_action", request_id, "read BMC output");
                let (digest, length) = redfish::body_digest(&response.body);
                let ok = (200..300).contains(&response.status);
                return Ok(json!({
                    "ok": ok,
                    "dry_run": false,
                    "tier": assessed_tier(&assessment).as_str(),
                    "rule_ids": assessment.classification.deciding_rule_ids(),
                    "reset_type": reset,
                    "http_status": response.status,
                    "error": if ok { Value::Null } else { json!(format!("the BMC answered HTTP {}", response.status)) },
                    "output": audit::cut(&audit::redact::redact_text(&String::from_utf8_lossy(&response.body)), self.preview_bytes()),
                    "output_sha256": digest.to_hex(),
                    "output_len": length,
                    "argv": assessment.argv,
                    "host_type": assessment.host_type,
                    "credential": name,
                    "untrusted": true,
                }));
            }
        };
        let (name, credential) = self.redfish_credential(request, &assessment, Tier::T0)?;
        let response = redfish::get(
            &target,
            path.as_deref(),
            &credential,
            &action::egress_policy(&self.settings),
            Duration::from_secs(REDFISH_TIMEOUT_SECONDS),
        )
        .map_err(|error| error.to_string())?;
        drop(credential);
        self.mark_untrusted("run_action", request_id, "read BMC output");
        let (digest, length) = redfish::body_digest(&response.body);
        let text = String::from_utf8_lossy(&response.body);
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let shown = audit::cut(&audit::redact::redact_text(&text), self.preview_bytes());
        Ok(json!({
            "ok": response.status == 200,
            "dry_run": false,
            "tier": "T0",
            "rule_ids": assessment.classification.deciding_rule_ids(),
            "http_status": response.status,
            "error": if response.status == 200 { Value::Null } else { json!(format!("the BMC answered HTTP {}", response.status)) },
            "system": if path.is_none() && response.status == 200 { redfish::system_summary(&body) } else { Value::Null },
            "output": shown,
            "output_sha256": digest.to_hex(),
            "output_len": length,
            "argv": assessment.argv,
            "host_type": assessment.host_type,
            "credential": name,
            "untrusted": true,
        }))
    }

    /// The secret side of the credential a BMC host refers to, read now (scope and revocation
    /// checked again).
    fn redfish_credential(
        &self,
        request: &ActionRequest,
        assessment: &action::Assessment,
        tier: Tier,
    ) -> Result<(String, crate::adapters::redfish::RedfishCredential), String> {
        let (name, credential) = self.credential(request, assessment, tier)?;
        let crate::config::CredentialSecret::Redfish {
            user,
            password,
            ca_file,
        } = credential.secret
        else {
            return Err(format!("internal: {name} is not a Redfish credential"));
        };
        let password = password.read()?;
        let ca_pem =
            std::fs::read(&ca_file).map_err(|error| format!("{}: {error}", ca_file.display()))?;
        Ok((
            name,
            crate::adapters::redfish::RedfishCredential {
                user,
                password,
                ca_pem,
            },
        ))
    }

    /// Runs an operator's runbook script for a host (the gates have passed: the policy made
    /// this runbook T0, since unknown runbooks are T2).
    fn run_runbook_script(
        &self,
        request: &ActionRequest,
        request_id: Option<&str>,
    ) -> Result<Value, String> {
        let assessment = action::assess(self.audit.store(), &self.policy, &self.settings, request);
        let inventory = assessment.inventory.as_ref();
        let host = crate::adapters::runbook::RunbookHost {
            name: request.host.clone(),
            host_type: assessment.host_type.clone().unwrap_or_default(),
            address: inventory.and_then(|record| {
                record["connection"]["ssh"]["address"]
                    .as_str()
                    .map(str::to_owned)
            }),
        };
        let outcome = crate::adapters::runbook::run(
            self.settings.runbook_root.as_deref(),
            &host,
            &request.action,
            Duration::from_secs(self.settings.runbook_timeout_seconds),
            self.preview_bytes(),
        )
        .map_err(|error| error.to_string())?;
        // A runbook may well print what it read from hosts: untrusted content.
        self.mark_untrusted("run_action", request_id, "runbook output");
        Ok(ran_json(
            &assessment,
            &outcome,
            &format!(
                "the runbook did not finish within {} s and was killed with its process group",
                self.settings.runbook_timeout_seconds
            ),
        ))
    }

    /// Plans a terraform workspace (init, plan into the state directory, `show -json`, kept for
    /// the drift engine) and reports what an apply or destroy would change. Touches no host
    /// and no cloud resource beyond the provider's reads.
    /// Applies the plan an approved dry run kept (apply or destroy), and nothing else.
    fn run_terraform_apply(
        &self,
        request: &ActionRequest,
        request_id: Option<&str>,
    ) -> Result<Value, String> {
        let assessment = action::assess(self.audit.store(), &self.policy, &self.settings, request);
        let options = action::terraform_options(&self.settings);
        let (argv, outcome) = crate::adapters::terraform::apply_kept_plan(
            &options,
            &request.host,
            &request.action,
            PROBE_CAPTURE_BYTES,
        )
        .map_err(|error| audit::redact::redact_text(&error.to_string()).into_owned())?;
        self.mark_untrusted("run_action", request_id, "read provider output");
        let mut value = ran_json(
            &assessment,
            &outcome,
            &format!(
                "terraform did not finish within {} s and was killed",
                self.settings.terraform_timeout_seconds
            ),
        );
        value["dry_run"] = json!(false);
        value["apply_argv"] = json!(argv);
        Ok(value)
    }

    fn run_terraform_plan(
        &self,
        request: &ActionRequest,
        request_id: Option<&str>,
    ) -> Result<Value, String> {
        let assessment = action::assess(self.audit.store(), &self.policy, &self.settings, request);
        let options = action::terraform_options(&self.settings);
        let planned = crate::adapters::terraform::plan(
            &options,
            &request.host,
            &request.action,
            PROBE_CAPTURE_BYTES,
        )
        .map_err(|error| audit::redact::redact_text(&error.to_string()).into_owned())?;
        let summary = crate::adapters::terraform::summary(&planned.plan);
        let plan_text = serde_json::to_string(&planned.plan).unwrap_or_default();
        // The plan's differences become the host's terraform findings.
        let subject = crate::fleet::import::host_subject(&request.host);
        // The workspace goes into each finding's source, so a proposal can name it.
        let workspace_name = request
            .action
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        let findings = crate::drift::imports::terraform_plan(&subject, &planned.plan)
            .map(|mut findings| {
                for finding in &mut findings {
                    if let Some(source) = &mut finding.source {
                        source.push_str(" in ");
                        source.push_str(&audit::cut(&workspace_name, 200));
                    }
                }
                findings
            })
            .and_then(|findings| {
                self.record_imported(request_id, &subject, "terraform:", &findings, true)
            })
            .unwrap_or_else(|error| json!({"error": error}));
        let mut value = json!({
            "ok": true,
            "dry_run": true,
            "tier": assessment.classification.verdict.to_string(),
            "rule_ids": assessment.classification.deciding_rule_ids(),
            "verb": planned.verb.as_str(),
            "workspace": planned.workspace.display().to_string(),
            "plan": summary,
            "plan_json": planned.plan_json.display().to_string(),
            "argv": assessment.argv,
            "plan_argvs": planned.argvs,
            "exit_code": planned.outcome.exit_code,
            "output": audit::redact::redact_text(&planned.outcome.preview),
            "output_sha256": Digest::of(plan_text.as_bytes()).to_hex(),
            "output_len": plan_text.len(),
            "approval_required": assessment.classification.verdict.to_string() != "T0",
            "host_type": assessment.host_type,
            "drift": self.drift_preview(&request.host),
            "findings_recorded": findings,
        });
        // The kept plan is what an approval of the apply binds to.
        if request.dry_run {
            self.ask_approval_if_needed(&mut value, request, &assessment, request_id);
        }
        Ok(value)
    }

    /// Runs `ansible-playbook --check --diff` (the gates have passed) and reports, per host and
    /// task, what a real run would change.
    fn run_ansible(
        &self,
        request: &ActionRequest,
        request_id: Option<&str>,
        check: bool,
    ) -> Result<Value, String> {
        let assessment = action::assess(self.audit.store(), &self.policy, &self.settings, request);
        let target = action::ssh_target(assessment.inventory.as_ref(), &request.host)?;
        let tier = if check {
            Tier::T0
        } else {
            assessed_tier(&assessment)
        };
        let (name, credential) = self.credential(request, &assessment, tier)?;
        let options = action::ansible_options(&self.settings, action::credential_path(&credential));
        let (outcome, report) = crate::adapters::ansible::run_playbook(
            &options,
            &target,
            &request.action,
            PROBE_CAPTURE_BYTES,
            check,
        )
        .map_err(|error| error.to_string())?;
        self.mark_untrusted("run_action", request_id, "read host output");
        let mut value = ran_json(
            &assessment,
            &outcome,
            &format!(
                "ansible-playbook did not finish within {} s and was killed",
                self.settings.ansible_timeout_seconds
            ),
        );
        value["dry_run"] = json!(check);
        value["tier"] = json!(assessment.classification.verdict.to_string());
        value["credential"] = json!(name);
        value["check_argv"] = json!(crate::adapters::ansible::argv(
            &options,
            &request.host,
            &crate::adapters::ansible::confine_playbook(options.root, &request.action)
                .map_err(|error| error.to_string())?,
            true
        ));
        value["argv"] = json!(assessment.argv);
        if check {
            self.ask_approval_if_needed(&mut value, request, &assessment, request_id);
        }
        if let Some(report) = report {
            let host = &report["hosts"][&request.host];
            value["ok"] = json!(
                !outcome.timed_out
                    && host["failures"].as_u64() == Some(0)
                    && host["unreachable"].as_u64() == Some(0)
            );
            value["changed"] = host["changed"].clone();
            // What a check found becomes the host's findings of this playbook; a real run
            // changes the host, and the next check says what is left.
            let subject = crate::fleet::import::host_subject(&request.host);
            value["findings_recorded"] = if check {
                let complete =
                    crate::drift::imports::ansible_complete_hosts(&report).contains(&request.host);
                crate::drift::imports::ansible_prefix(&request.action)
                    .and_then(|prefix| {
                        let mut by_host =
                            crate::drift::imports::ansible_check(&request.action, &report)?;
                        // A host the report does not cover saw nothing: nothing closes.
                        let covered = by_host.contains_key(&request.host);
                        let findings = by_host.remove(&request.host).unwrap_or_default();
                        self.record_imported(
                            request_id,
                            &subject,
                            &prefix,
                            &findings,
                            complete && covered,
                        )
                    })
                    .unwrap_or_else(|error| json!({"error": error}))
            } else {
                json!(null)
            };
            value["ansible"] = report;
        } else {
            value["ok"] = json!(false);
            value["error"] = json!(
                "ansible-playbook printed no report (a syntax error or a failure before the play); see stderr"
            );
        }
        value["drift"] = self.drift_preview(&request.host);
        Ok(value)
    }

    /// Runs a T0 action through talosctl (the gates have passed) and reports its output.
    fn run_talosctl(
        &self,
        request: &ActionRequest,
        request_id: Option<&str>,
    ) -> Result<Value, String> {
        let assessment = action::assess(self.audit.store(), &self.policy, &self.settings, request);
        let target = action::talos_target(&request.host, assessment.inventory.as_ref());
        let (name, credential) =
            self.credential(request, &assessment, assessed_tier(&assessment))?;
        let outcome = crate::adapters::talosctl::run(
            self.settings.talosctl_binary.as_deref(),
            action::credential_path(&credential),
            &target,
            &request.action,
            Duration::from_secs(self.settings.talosctl_timeout_seconds),
            self.preview_bytes(),
        )
        .map_err(|error| error.to_string())?;
        self.mark_untrusted("run_action", request_id, "read host output");
        let mut value = ran_json(
            &assessment,
            &outcome,
            &format!(
                "talosctl did not finish within {} s and was killed",
                self.settings.talosctl_timeout_seconds
            ),
        );
        value["nodes"] = json!(target.nodes);
        value["credential"] = json!(name);
        Ok(value)
    }

    /// The policy in force, for `praxis://policy`.
    fn policy_json(&self) -> Value {
        let tools: Vec<Value> = self
            .policy
            .tool_rules()
            .map(|(tool, id, tier)| json!({"tool": tool, "id": id, "tier": tier.as_str()}))
            .collect();
        json!({
                    "policy_hash": self.policy.hash().to_hex(),
                    "mode": self.settings.mode.as_str(),
                    "mode_ceiling": self.settings.mode.ceiling().as_str(),
                    "unknown_default": self.settings.unknown_default.as_str(),
                    "tools": tools,
                    "command_rules": self.policy.command_rules(),
                    "notes": "T0 runs freely; T2 and T3 need a human approval; deny rules are refused in every mode; a command no rule describes is treated as unknown_default; explain_action shows how an action is classified",
        })
    }

    /// One host: its inventory record (if it is an inventory host) and its current facts.
    fn read_host(&self, name: &str, request_id: Option<&str>) -> Result<Value, String> {
        let subject = crate::fleet::import::host_subject(name);
        let end_of_time = Timestamp::from_unix_nanos(i64::MAX);
        let versions = self
            .audit
            .store()
            .facts_as_of(&FactQuery {
                subject: Some(&subject),
                predicate: None,
                fact_type: None,
                valid_at: end_of_time,
                known_at: end_of_time,
            })
            .map_err(|error| error.to_string())?;
        if versions.is_empty() {
            return Err(format!("no host named {name} and no facts about it"));
        }
        if versions
            .iter()
            .any(|version| version.key.fact_type == FactType::Observed)
        {
            self.mark_untrusted("resources/read", request_id, "read observed facts");
        }
        let inventory = versions
            .iter()
            .find(|version| {
                version.key.predicate == INVENTORY_PREDICATE
                    && version.key.fact_type == FactType::Desired
            })
            .map(|version| version.value.clone());
        let facts = facts_json(&versions, None, None);
        Ok(json!({
            "host": name,
            "subject": subject,
            "inventory": inventory,
            "facts": facts["facts"],
            "drift": [],
            "note": "open drift findings arrive with the drift engine; observed facts are untrusted host output",
        }))
    }

    /// The inventory hosts, from their `inventory` facts (written only by `praxis fleet import`).
    fn list_hosts(&self, group: Option<&str>, host_type: Option<&str>) -> Result<Value, String> {
        let end_of_time = Timestamp::from_unix_nanos(i64::MAX);
        let versions = self
            .audit
            .store()
            .facts_as_of(&FactQuery {
                subject: None,
                predicate: Some(INVENTORY_PREDICATE),
                fact_type: Some(FactType::Desired),
                valid_at: end_of_time,
                known_at: end_of_time,
            })
            .map_err(|error| error.to_string())?;
        let hosts: Vec<Value> = versions
            .iter()
            .filter(|version| {
                let in_group = group.is_none_or(|group| {
                    version.value["groups"]
                        .as_array()
                        .is_some_and(|groups| groups.iter().any(|member| member == group))
                });
                let of_type = host_type.is_none_or(|wanted| version.value["host_type"] == wanted);
                in_group && of_type
            })
            .map(|version| {
                let kind = version.value["host_type"].as_str().unwrap_or_default();
                json!({
                    "name": version.value["name"],
                    "subject": version.key.subject,
                    "host_type": kind,
                    "groups": version.value["groups"],
                    "adapters": crate::fleet::adapters_for(kind),
                    "connection": version.value["connection"],
                    "since": version.valid_from.to_string(),
                })
            })
            .collect();
        Ok(json!({ "count": hosts.len(), "hosts": hosts }))
    }

    /// Records, once per session, that the session now holds untrusted content.
    fn mark_untrusted(&self, tool: &str, request_id: Option<&str>, why: &str) {
        if self.untrusted.swap(true, Ordering::SeqCst) {
            return;
        }
        let mut draft = self.draft(&audit::cut(tool, MAX_NAME_BYTES), AuditDecision::Untrusted);
        draft.request_id = request_id.map(str::to_owned);
        draft.tier = Some(Tier::T0);
        draft.args = json!({ "why": why });
        if let Err(error) = self.audit.append(&draft, Durability::Full) {
            tracing::error!(%error, "the untrusted-content mark could not be recorded");
        }
    }

    /// Whether this session holds untrusted content.
    pub fn holds_untrusted_content(&self) -> bool {
        self.untrusted.load(Ordering::SeqCst)
    }

    fn query_facts(
        &self,
        subject: Option<&str>,
        fact_type: Option<&str>,
        as_of_valid: Option<Timestamp>,
        as_of_recorded: Option<Timestamp>,
        request_id: Option<&str>,
    ) -> Result<Value, String> {
        let fact_type = match fact_type.map(str::parse::<FactType>) {
            None => None,
            Some(Ok(fact_type)) => Some(fact_type),
            // praxis-py's contract: an unknown fact type matches nothing.
            Some(Err(_)) => return Ok(facts_json(&[], as_of_valid, as_of_recorded)),
        };
        let end_of_time = Timestamp::from_unix_nanos(i64::MAX);
        let versions = self
            .audit
            .store()
            .facts_as_of(&FactQuery {
                subject,
                predicate: None,
                fact_type,
                valid_at: as_of_valid.unwrap_or(end_of_time),
                known_at: as_of_recorded.unwrap_or(end_of_time),
            })
            .map_err(|error| error.to_string())?;
        if versions
            .iter()
            .any(|version| version.key.fact_type == FactType::Observed)
        {
            self.mark_untrusted("query_facts", request_id, "read observed facts");
        }
        Ok(facts_json(&versions, as_of_valid, as_of_recorded))
    }

    fn fact_history(
        &self,
        subject: &str,
        predicate: Option<&str>,
        request_id: Option<&str>,
    ) -> Result<Value, String> {
        let versions = self
            .audit
            .store()
            .fact_history(subject, predicate)
            .map_err(|error| error.to_string())?;
        if versions
            .iter()
            .any(|version| version.key.fact_type == FactType::Observed)
        {
            self.mark_untrusted("fact_history", request_id, "read observed facts");
        }
        let history: Vec<Value> = versions.iter().map(history_json).collect();
        Ok(json!({ "count": history.len(), "history": history }))
    }

    /// Runs a built-in probe over ssh and ingests its output (facts and one record together).
    #[expect(
        clippy::too_many_lines,
        reason = "each early end records why, in order"
    )]
    fn run_collect(
        &self,
        call: u64,
        classification: &Classification,
        mut draft: RecordDraft,
        started: Instant,
        host: &str,
        probe_name: &str,
    ) -> Response {
        let failed = |actuator: &Actuator,
                      draft: RecordDraft,
                      code: RefusalCode,
                      message: &str,
                      decision: AuditDecision| {
            actuator.finish(call);
            actuator.conclude(draft, classification, started, code, message, decision)
        };
        let Some(probe) = crate::collectors::probes::probe(probe_name) else {
            return failed(
                self,
                draft,
                RefusalCode::InvalidArguments,
                &format!("no probe named {probe_name}"),
                AuditDecision::Denied,
            );
        };
        let request = ActionRequest {
            adapter: "ssh".into(),
            host: host.to_owned(),
            action: probe.command.to_owned(),
            dry_run: false,
            host_type: None,
            approval_id: None,
            wait_for_approval_s: 0,
        };
        let assessment = action::assess(self.audit.store(), &self.policy, &self.settings, &request);
        draft.adapter = Some("ssh".into());
        draft.target = Some(audit::cut(host, MAX_NAME_BYTES));
        draft.host_type.clone_from(&assessment.host_type);
        draft.dry_run = Some(false);
        if let Some((code, message)) = &assessment.host_refusal {
            return failed(self, draft, *code, message, AuditDecision::Denied);
        }
        let target = match action::ssh_target(assessment.inventory.as_ref(), host) {
            Ok(target) => target,
            Err(message) => {
                return failed(
                    self,
                    draft,
                    RefusalCode::ToolFailed,
                    &message,
                    AuditDecision::Error,
                );
            }
        };
        let credential = match self.credential(&request, &assessment, Tier::T0) {
            Ok((_, credential)) => credential,
            Err(message) => {
                return failed(
                    self,
                    draft,
                    RefusalCode::CredentialOutOfScope,
                    &message,
                    AuditDecision::Denied,
                );
            }
        };
        self.mark_untrusted("collect", draft.request_id.as_deref(), "read host output");
        let outcome = match crate::adapters::ssh::run(
            &target,
            probe.command,
            &action::ssh_options(&self.settings, action::credential_path(&credential)),
            PROBE_CAPTURE_BYTES,
        ) {
            Ok(outcome) => outcome,
            Err(error) => {
                return failed(
                    self,
                    draft,
                    RefusalCode::ToolFailed,
                    &error.to_string(),
                    AuditDecision::Error,
                );
            }
        };
        if outcome.timed_out || outcome.exit_code != Some(0) {
            let message = format!(
                "the {} probe failed on {host} (exit {:?}{}): {}",
                probe.name,
                outcome.exit_code,
                if outcome.timed_out { ", timed out" } else { "" },
                audit::cut(outcome.stderr_preview.trim(), 300)
            );
            return failed(
                self,
                draft,
                RefusalCode::ToolFailed,
                &message,
                AuditDecision::Error,
            );
        }
        if usize::try_from(outcome.output_len).unwrap_or(usize::MAX) > PROBE_CAPTURE_BYTES {
            return failed(
                self,
                draft,
                RefusalCode::ResultTooLarge,
                &format!(
                    "the {} probe printed {} bytes, over the {PROBE_CAPTURE_BYTES}-byte limit",
                    probe.name, outcome.output_len
                ),
                AuditDecision::Error,
            );
        }
        let raw = probe.convert(&outcome.preview);
        let subject = crate::fleet::import::host_subject(host);
        let ingest = Ingest {
            collector: probe.collector,
            subject: &subject,
            raw: &raw,
            predicate: Some(probe.predicate),
            collected_by_praxis: true,
        };
        self.run_ingest(call, classification, draft, started, &ingest)
    }

    /// The observed facts a complete snapshot ends: a listening-ports, users, packages,
    /// services or mounts snapshot reports its whole family, so a fact of that family it no
    /// longer reports has stopped being true (a port that closed). Nothing ends when the
    /// input gave no facts (malformed) or was cut at the fact cap (incomplete).
    fn snapshot_closings(
        &self,
        ingest: &Ingest<'_>,
        parsed: &crate::collectors::Parsed,
        facts: &[NewFact],
    ) -> Vec<FactKey> {
        let Some(family) = ingest.predicate.and_then(snapshot_family) else {
            return Vec::new();
        };
        let incomplete = parsed.facts.is_empty()
            || parsed
                .facts
                .iter()
                .any(|fact| fact.value.get("omitted").is_some());
        if incomplete {
            return Vec::new();
        }
        let reported: std::collections::BTreeSet<&str> = facts
            .iter()
            .map(|fact| fact.key.predicate.as_str())
            .collect();
        let end_of_time = Timestamp::from_unix_nanos(i64::MAX);
        self.audit
            .store()
            .facts_as_of(&FactQuery {
                subject: Some(ingest.subject),
                predicate: None,
                fact_type: Some(FactType::Observed),
                valid_at: end_of_time,
                known_at: end_of_time,
            })
            .unwrap_or_default()
            .into_iter()
            .filter(|version| {
                version.key.predicate.starts_with(family)
                    && !reported.contains(version.key.predicate.as_str())
            })
            .map(|version| version.key)
            .collect()
    }

    /// Parses telemetry and writes the facts together with the call's one audit record.
    fn run_ingest(
        &self,
        call: u64,
        classification: &Classification,
        mut draft: RecordDraft,
        started: Instant,
        ingest: &Ingest<'_>,
    ) -> Response {
        let parsed = crate::collectors::parse(ingest.collector, ingest.raw, ingest.predicate);
        let now = self.clock.now();
        let mut facts: Vec<NewFact> = parsed
            .facts
            .iter()
            // Telemetry cannot write praxis's own predicates (its collection sightings).
            .filter(|fact| !fact.predicate.starts_with(RESERVED_PREDICATE_PREFIX))
            .map(|fact| NewFact {
                key: FactKey {
                    subject: ingest.subject.to_owned(),
                    predicate: fact.predicate.clone(),
                    fact_type: FactType::Observed,
                },
                // Telemetry can carry secrets (a probe of an env file, say); they are redacted
                // before they enter the fleet graph, as they would be before the audit.
                value: audit::redact::redact_value(&fact.value),
                valid_from: now,
            })
            .collect();
        if ingest.collected_by_praxis {
            facts.push(NewFact {
                key: FactKey {
                    subject: ingest.subject.to_owned(),
                    predicate: format!(
                        "{RESERVED_PREDICATE_PREFIX}collected:{}",
                        ingest.predicate.unwrap_or(ingest.collector.as_str())
                    ),
                    fact_type: FactType::Observed,
                },
                // One value: a re-collect adds no version, only a sighting.
                value: json!(true),
                valid_from: now,
            });
        }
        let provenance = Provenance {
            actor: format!("collector:{}", ingest.collector.as_str()),
            reason: Some(format!(
                "ingest_observation in session {} (request {})",
                self.session_id,
                draft.request_id.as_deref().unwrap_or("-")
            )),
        };
        let inventory_host = self.is_inventory_host(ingest.subject);
        let closing = self.snapshot_closings(ingest, &parsed, &facts);
        // The findings this observation opens and closes are written with it.
        let findings = self.ingest_drift(ingest.subject, &facts, &closing, now);
        let mut puts = facts;
        let observed_count = puts.len();
        puts.extend(findings.puts.iter().cloned());
        let mut closings = closing.clone();
        closings.extend(findings.closings.iter().cloned());
        // A collect's record names its host, like every other action on a host.
        if draft.target.is_none() {
            draft.target = Some(audit::cut(ingest.subject, MAX_NAME_BYTES));
        }
        let write = crate::drift::engine::FactWrite {
            puts: &puts,
            closings: &closings,
            provenance,
            now,
        };
        self.record_facts(call, classification, draft, started, &write, |outcomes, _, recorded_at| {
            let observed = &outcomes[..observed_count.min(outcomes.len())];
            let changed = observed.iter().filter(|outcome| **outcome != PutOutcome::Unchanged).count();
            json!({
                "ingested": observed.len(),
                "closed": closing.len(),
                "closed_predicates": closing.iter().map(|key| key.predicate.as_str()).collect::<Vec<_>>(),
                "subject": ingest.subject,
                "collector": ingest.collector.as_str(),
                "predicates": parsed.facts.iter().map(|fact| fact.predicate.as_str()).collect::<Vec<_>>(),
                "new_versions": changed,
                "unchanged": observed.len() - changed,
                "recorded_at": recorded_at.to_string(),
                "inventory_host": inventory_host,
                "untrusted": true,
                "notes": parsed.notes,
                "drift": {
                    "opened": findings.opened,
                    "closed": findings.closed,
                    "open": findings.open.len(),
                },
            })
        })
    }

    fn is_inventory_host(&self, subject: &str) -> bool {
        let end_of_time = Timestamp::from_unix_nanos(i64::MAX);
        self.audit
            .store()
            .facts_as_of(&FactQuery {
                subject: Some(subject),
                predicate: Some(INVENTORY_PREDICATE),
                fact_type: Some(FactType::Desired),
                valid_at: end_of_time,
                known_at: end_of_time,
            })
            .is_ok_and(|versions| !versions.is_empty())
    }

    fn server_status(&self) -> Result<Value, String> {
        let head = self
            .audit
            .store()
            .audit_head_seq()
            .map_err(|error| error.to_string())?;
        let (engaged, detail) = match self.kill_switch.state() {
            KillState::Clear => (false, None),
            KillState::Engaged { detail } => (true, Some(detail)),
        };
        Ok(json!({
            "version": VERSION,
            "session_id": self.session_id,
            "mode": self.settings.mode.as_str(),
            "policy_hash": self.policy.hash().to_hex(),
            "kill_switch": {"engaged": engaged, "detail": detail},
            "untrusted_content": self.holds_untrusted_content(),
            "audit_head_seq": head,
        }))
    }

    fn audit_verify(&self) -> Result<Value, String> {
        let verdict = self.audit.verify().map_err(|error| error.to_string())?;
        Ok(match verdict {
            Ok(head) => json!({
                "ok": true,
                "count": head.count,
                "head_hash": head.entry_hash.to_hex(),
                "first_break": null,
            }),
            Err(chain_break) => json!({
                "ok": false,
                "count": chain_break.seq,
                "head_hash": null,
                "first_break": {
                    "seq": chain_break.seq,
                    "reason": chain_break.kind.as_str(),
                    "detail": chain_break.detail,
                },
            }),
        })
    }

    fn emergency_stop(&self, reason: &str) -> Value {
        let reason = audit::redact::redact_text(reason);
        match self.kill_switch.trip(self.clock.now(), &reason) {
            TripOutcome::Durable => json!({
                "stopped": true,
                "durable": true,
                "reason": reason,
                "message": "the kill switch is engaged; every tool call is now refused until an operator runs `praxis resume`",
            }),
            TripOutcome::InMemoryOnly { error } => json!({
                "stopped": true,
                "durable": false,
                "reason": reason,
                "message": format!("the kill switch holds in this process only: the sentinel could not be written ({error}); tell the operator"),
            }),
        }
    }

    fn refuse(
        &self,
        draft: RecordDraft,
        classification: &Classification,
        started: Instant,
        code: RefusalCode,
        message: &str,
    ) -> Response {
        self.conclude(
            draft,
            classification,
            started,
            code,
            message,
            AuditDecision::Denied,
        )
    }

    /// Ends a call that returns no output: records `decision` with the code and message.
    fn conclude(
        &self,
        mut draft: RecordDraft,
        classification: &Classification,
        started: Instant,
        code: RefusalCode,
        message: &str,
        decision: AuditDecision,
    ) -> Response {
        let message = audit::redact::redact_text(message).into_owned();
        draft.decision = decision;
        draft.ts = self.clock.now();
        draft.duration_ms = Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
        draft.output_sha256 = Some(Digest::of(b""));
        draft.output_len = Some(0);
        draft.error = Some(audit::audit_error(code.as_str(), &message));
        let audit_seq = match self.audit.append(&draft, Durability::Normal) {
            Ok(sealed) => Some(sealed.seq),
            Err(error) => {
                tracing::error!(%error, code = code.as_str(), "a refusal could not be recorded");
                None
            }
        };
        Response {
            outcome: Outcome::Refused(Refusal {
                code,
                message,
                tier: classification.tier,
                rule_ids: classification.rule_ids.clone(),
            }),
            audit_seq,
        }
    }

    fn draft(&self, tool: &str, decision: AuditDecision) -> RecordDraft {
        let mut draft = RecordDraft::new(self.clock.now(), &self.session_id, tool, decision);
        draft.policy_hash = Some(self.policy.hash());
        draft
    }
}

/// The tier an assessment classified an action at (deny and unparseable: the highest).
fn assessed_tier(assessment: &action::Assessment) -> Tier {
    match assessment.classification.verdict {
        policy::classify::Verdict::Tier(tier) => tier,
        policy::classify::Verdict::Deny | policy::classify::Verdict::Unparseable => Tier::T3,
    }
}

/// The result of a T0 action that ran: its exit, its bounded output (redacted), and the hash
/// and length of all of it. What a host prints is untrusted content.
/// A fan-out's result: each host's answer in the order of `hosts`, and the highest tier any
/// host's call was classified at (at least `tier`).
fn fan_out_result(
    group: &str,
    hosts: &[String],
    answers: Vec<Option<Response>>,
    workers: usize,
    mut tier: Tier,
) -> (Value, Tier) {
    let mut results = Vec::with_capacity(hosts.len());
    let mut succeeded = 0_usize;
    for (host, answer) in hosts.iter().zip(answers) {
        // Every worker answers every index it takes; `None` would be a bug, said plainly.
        let Some(answer) = answer else {
            results.push(json!({"host": host, "ok": false, "audit_seq": null,
                "error": {"code": RefusalCode::ToolFailed.as_str(), "message": "internal: no answer"}}));
            continue;
        };
        match answer.outcome {
            Outcome::Completed { value, .. } => {
                succeeded += 1;
                if let Some(host_tier) = value["tier"].as_str().and_then(Tier::from_name) {
                    tier = tier.max(host_tier);
                }
                results.push(json!({"host": host, "ok": true, "audit_seq": answer.audit_seq, "result": value}));
            }
            Outcome::Refused(refusal) => {
                tier = tier.max(refusal.tier);
                results.push(
                    json!({"host": host, "ok": false, "audit_seq": answer.audit_seq,
                    "error": {"code": refusal.code.as_str(), "message": refusal.message,
                              "tier": refusal.tier.as_str(), "rule_ids": refusal.rule_ids}}),
                );
            }
        }
    }
    let value = json!({
        "group": group,
        "count": hosts.len(),
        "succeeded": succeeded,
        "failed": hosts.len() - succeeded,
        "concurrency": workers,
        "results": results,
    });
    (value, tier)
}

/// The family of typed facts a snapshot under `predicate` reports in full.
fn snapshot_family(predicate: &str) -> Option<&'static str> {
    match predicate {
        "listening_ports" => Some("port:"),
        "users" => Some("user:"),
        "deb_packages" | "rpm_packages" | "packages" => Some("package:"),
        "systemd_units" | "services" => Some("service:"),
        "mounts" => Some("mount:"),
        _ => None,
    }
}

/// Whether a dry run executes something (ansible's `--check --diff`, terraform's plan, the
/// health pre-flight of an irreversible Talos action) rather than only previewing.
fn executes_dry_run(request: &ActionRequest) -> bool {
    matches!(
        request.adapter.as_str(),
        "ansible" | "terraform" | "opentofu"
    ) || (request.adapter == "talosctl"
        && crate::adapters::talosctl::is_irreversible(&request.action))
}

/// Who called, for a fan-out's per-host calls.
struct Caller<'a> {
    tool: &'a str,
    request_id: Option<&'a str>,
    arguments: &'a Value,
}

/// Shrinks each host's `output` in a fan-out result until the whole fits in `limit` bytes
/// (each host's full output stays identified by its `output_sha256` and `output_len`).
fn fit_fan_out(value: &mut Value, limit: usize) {
    let mut budget = 64 * 1024;
    while value.to_string().len() > limit && budget >= 256 {
        budget /= 2;
        if let Some(results) = value["results"].as_array_mut() {
            for result in results {
                if let Some(output) = result["result"]["output"].as_str()
                    && output.len() > budget
                {
                    let shortened = format!(
                        "{} [... {} bytes left out of this group result; run_action on this host alone shows them ...]",
                        audit::cut(output, budget),
                        output.len() - budget
                    );
                    result["result"]["output"] = json!(shortened);
                }
            }
        }
    }
}

fn ran_json(
    assessment: &action::Assessment,
    outcome: &crate::adapters::process::ChildOutcome,
    timeout_message: &str,
) -> Value {
    json!({
        "ok": outcome.exit_code == Some(0) && !outcome.timed_out,
        "dry_run": false,
        "tier": "T0",
        "rule_ids": assessment.classification.deciding_rule_ids(),
        "exit_code": outcome.exit_code,
        "timed_out": outcome.timed_out,
        "error": if outcome.timed_out { Value::String(timeout_message.to_owned()) } else { Value::Null },
        "output": audit::redact::redact_text(&outcome.preview),
        "output_sha256": outcome.output_sha256.to_hex(),
        "output_len": outcome.output_len,
        "stderr": audit::redact::redact_text(&outcome.stderr_preview),
        "duration_ms": u64::try_from(outcome.duration.as_millis()).unwrap_or(u64::MAX),
        "host_type": assessment.host_type,
        "untrusted": true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{FixedClock, Timestamp};
    use crate::config::Sources;
    use crate::store::{OpenMode, Store};

    fn actuator(name: &str) -> (Actuator, std::path::PathBuf) {
        let directory =
            std::env::temp_dir().join(format!("praxis-actuator-{name}-{}", std::process::id()));
        drop(std::fs::remove_dir_all(&directory));
        std::fs::create_dir_all(&directory).unwrap();
        let sources = Sources {
            environment: [(
                "PRAXIS_STATE_DIR".to_owned(),
                directory.display().to_string(),
            )]
            .into(),
            ..Sources::default()
        };
        let settings = Settings::resolve(&sources).unwrap();
        let store = Store::open(&settings.database, OpenMode::CreateIfMissing).unwrap();
        let clock = Arc::new(FixedClock::starting_at(Timestamp::from_unix_nanos(
            1_700_000_000_000_000_000,
        )));
        let actuator = Actuator::new(
            AuditLog::new(Arc::new(store)),
            Policy::default_policy().unwrap(),
            settings,
            clock,
        );
        (actuator, directory)
    }

    fn request(tool: &str, operation: Result<Operation, ArgumentError>) -> Request {
        Request {
            request_id: Some("7".into()),
            tool: tool.into(),
            arguments: json!({}),
            operation,
            progress: None,
        }
    }

    fn decisions(actuator: &Actuator) -> Vec<String> {
        let mut decisions = Vec::new();
        actuator
            .audit()
            .store()
            .for_each_audit_row(0, |row| {
                let body: Value = serde_json::from_str(&row.body).unwrap();
                decisions.push(body["decision"].as_str().unwrap().to_owned());
                std::ops::ControlFlow::Continue(())
            })
            .unwrap();
        decisions
    }

    #[test]
    fn validation_comes_before_the_kill_switch_and_both_are_audited() {
        let (actuator, directory) = actuator("order");
        std::fs::write(directory.join("KILL"), "test\n").unwrap();
        let invalid = actuator.execute(request(
            "emergency_stop",
            Err(ArgumentError::Invalid("reason missing".into())),
        ));
        let Outcome::Refused(refusal) = invalid.outcome else {
            panic!("must refuse")
        };
        assert_eq!(refusal.code, RefusalCode::InvalidArguments);
        let valid = actuator.execute(request("server_status", Ok(Operation::ServerStatus)));
        let Outcome::Refused(refusal) = valid.outcome else {
            panic!("must refuse")
        };
        assert_eq!(refusal.code, RefusalCode::KillSwitchEngaged);
        assert_eq!(decisions(&actuator), vec!["denied", "denied"]);
    }

    #[test]
    fn an_unlisted_tool_needs_an_approval_no_one_can_give() {
        let (actuator, _directory) = actuator("unlisted");
        // A tool the transport knows but the policy does not list rounds up to T2.
        let response = actuator.execute(request("not_in_policy", Ok(Operation::ServerStatus)));
        let Outcome::Refused(refusal) = response.outcome else {
            panic!("must refuse")
        };
        assert_eq!(refusal.code, RefusalCode::ApprovalRequired);
        assert_eq!(refusal.tier, Tier::T2);
        assert_eq!(decisions(&actuator), vec!["denied"]);
    }

    #[test]
    fn an_effect_writes_intent_then_outcome_and_a_read_one_record() {
        let (actuator, directory) = actuator("effect");
        let read = actuator.execute(request("server_status", Ok(Operation::ServerStatus)));
        assert!(matches!(read.outcome, Outcome::Completed { .. }));
        let stop = actuator.execute(request(
            "emergency_stop",
            Ok(Operation::EmergencyStop {
                reason: "unit test".into(),
            }),
        ));
        assert!(matches!(stop.outcome, Outcome::Completed { .. }));
        assert!(directory.join("KILL").exists());
        assert_eq!(decisions(&actuator), vec!["allowed", "intent", "outcome"]);
    }

    #[test]
    fn calls_in_flight_are_recorded_as_interrupted_and_new_calls_refused() {
        let (actuator, _directory) = actuator("interrupt");
        let classification = actuator.policy().classify("emergency_stop");
        let draft = actuator.draft("emergency_stop", AuditDecision::Intent);
        let admitted = actuator.begin("emergency_stop", draft, classification, Instant::now());
        assert_eq!(actuator.interrupt_in_flight("SIGTERM"), 1);
        assert!(actuator.drain(Duration::ZERO), "nothing is left in flight");
        let after = actuator.execute(request("server_status", Ok(Operation::ServerStatus)));
        let Outcome::Refused(refusal) = after.outcome else {
            panic!("must refuse")
        };
        assert_eq!(refusal.code, RefusalCode::ShuttingDown);
        assert_eq!(decisions(&actuator), vec!["interrupted", "denied"]);
        actuator.finish(admitted.call);
    }
}
