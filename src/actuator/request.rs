//! What the actuator is asked to do, and what it answers.
//!
//! `Request` carries the raw arguments (for the audit record, after redaction) and the parsed
//! `Operation` or the reason parsing failed; the actuator refuses and audits a failed parse
//! exactly like any other refusal.

use serde_json::Value;

use crate::clock::Timestamp;
use crate::collectors::Collector;
use crate::policy::Tier;

/// One tool call.
#[derive(Clone, Debug)]
pub struct Request {
    /// The JSON-RPC id, as text.
    pub request_id: Option<String>,
    /// The tool name as the client sent it.
    pub tool: String,
    /// The arguments as the client sent them.
    pub arguments: Value,
    /// The typed operation, or why the arguments did not make one.
    pub operation: Result<Operation, ArgumentError>,
    /// Where a long call reports progress, when the client asked for it (`progressToken`).
    pub progress: Option<Progress>,
}

/// Reports a call's progress to its client: (progress, total, message).
#[derive(Clone)]
pub struct Progress(pub std::sync::Arc<dyn Fn(f64, Option<f64>, String) + Send + Sync>);

impl Progress {
    pub fn report(&self, progress: f64, total: Option<f64>, message: String) {
        (self.0)(progress, total, message);
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Progress")
    }
}

/// A typed, validated operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Report the server's mode, policy and kill-switch state.
    ServerStatus,
    /// Verify the audit chain.
    AuditVerify,
    /// Trip the kill switch.
    EmergencyStop { reason: String },
    /// Read facts, now or as of a valid time and/or a record time.
    QueryFacts {
        subject: Option<String>,
        /// Kept as text: an unknown fact type matches nothing (praxis-py's contract).
        fact_type: Option<String>,
        as_of_valid: Option<Timestamp>,
        as_of_recorded: Option<Timestamp>,
    },
    /// Every version of a subject's facts.
    FactHistory {
        subject: String,
        predicate: Option<String>,
    },
    /// The hosts that `praxis://hosts/{name}` resources exist for (`resources/list`).
    ListHostResources,
    /// One host's inventory record and current facts (`resources/read praxis://hosts/{name}`).
    ReadHost { name: String },
    /// The policy in force (`resources/read praxis://policy`).
    ReadPolicy,
    /// The trusted inventory, optionally one group or one host type.
    ListHosts {
        group: Option<String>,
        host_type: Option<String>,
    },
    /// Classify an action without running anything.
    ExplainAction(ActionRequest),
    /// The actuator's front door: a dry run previews, a real run executes (adapters: issue 5).
    RunAction(ActionRequest),
    /// Run a built-in read-only probe on a host and ingest what it prints.
    Collect { host: String, probe: String },
    /// The same operation (a `collect` or a `run_action`) on every inventory host of a group, a
    /// bounded number at once; each host's call passes every gate and is audited on its own.
    FanOut {
        group: String,
        /// The per-host operation, its host left empty (`for_host` fills it in).
        each: Box<Operation>,
    },
    /// Where an approval stands.
    ApprovalStatus { approval_id: String },
    /// Compare desired with observed state and bring the drift findings up to date: one
    /// subject, or every subject with an inventory entry, a blessed snapshot or an open finding.
    DriftScan { subject: Option<String> },
    /// Parse telemetry into observed facts.
    IngestObservation {
        collector: Collector,
        subject: String,
        raw: String,
        predicate: Option<String>,
    },
}

/// An action on a host, as `run_action` and `explain_action` take it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionRequest {
    /// ssh, ansible, talosctl, redfish, opentofu, terraform, runbook.
    pub adapter: String,
    /// The inventory host.
    pub host: String,
    /// The command line, playbook, verb or runbook.
    pub action: String,
    /// `run_action` only: preview (the default) or run.
    pub dry_run: bool,
    /// A host type the caller claims; it must agree with the inventory.
    pub host_type: Option<String>,
    /// An approval for a real run.
    pub approval_id: Option<String>,
    /// A real run whose approval is still pending waits this long for the operator (0: not
    /// at all), reporting progress.
    pub wait_for_approval_s: u64,
}

/// Whether an operation changes anything.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Effect {
    /// Reads only: one record, written after it ran, carrying the output hash.
    Read,
    /// Changes state outside the database: a durable intent record before it runs and an
    /// outcome record after.
    Write,
    /// Changes praxis's own database only: the change and its one record commit together.
    Record,
}

impl Operation {
    /// What the operation does to the world.
    pub fn effect(&self) -> Effect {
        match self {
            Operation::ServerStatus
            | Operation::AuditVerify
            | Operation::QueryFacts { .. }
            | Operation::FactHistory { .. }
            | Operation::ListHosts { .. }
            | Operation::ListHostResources
            | Operation::ReadHost { .. }
            | Operation::ReadPolicy
            | Operation::ExplainAction(_)
            | Operation::ApprovalStatus { .. }
            // The fan-out itself only reads the inventory; each host's call has its own effect.
            | Operation::FanOut { .. } => Effect::Read,
            Operation::RunAction(action) if action.dry_run => Effect::Read,
            Operation::EmergencyStop { .. } | Operation::RunAction(_) => Effect::Write,
            Operation::IngestObservation { .. }
            | Operation::Collect { .. }
            | Operation::DriftScan { .. } => Effect::Record,
        }
    }

    /// What the operation acts on, for its audit record: a host, or `group:<name>`.
    pub fn target(&self) -> Option<String> {
        match self {
            Operation::Collect { host, .. } => Some(host.clone()),
            Operation::RunAction(request) | Operation::ExplainAction(request) => {
                Some(request.host.clone())
            }
            Operation::FanOut { group, .. } => Some(format!("group:{group}")),
            Operation::ServerStatus
            | Operation::AuditVerify
            | Operation::EmergencyStop { .. }
            | Operation::QueryFacts { .. }
            | Operation::FactHistory { .. }
            | Operation::ListHostResources
            | Operation::ReadHost { .. }
            | Operation::ReadPolicy
            | Operation::ListHosts { .. }
            | Operation::DriftScan { .. }
            | Operation::ApprovalStatus { .. }
            | Operation::IngestObservation { .. } => None,
        }
    }

    /// This operation aimed at `host` (for a fan-out's per-host calls); an operation that
    /// names no host is returned unchanged.
    #[must_use]
    pub fn for_host(&self, host: &str) -> Operation {
        match self {
            Operation::Collect { probe, .. } => Operation::Collect {
                host: host.to_owned(),
                probe: probe.clone(),
            },
            Operation::RunAction(request) => Operation::RunAction(ActionRequest {
                host: host.to_owned(),
                ..request.clone()
            }),
            other @ (Operation::ServerStatus
            | Operation::AuditVerify
            | Operation::EmergencyStop { .. }
            | Operation::QueryFacts { .. }
            | Operation::FactHistory { .. }
            | Operation::ListHostResources
            | Operation::ReadHost { .. }
            | Operation::ReadPolicy
            | Operation::ListHosts { .. }
            | Operation::ExplainAction(_)
            | Operation::FanOut { .. }
            | Operation::DriftScan { .. }
            | Operation::ApprovalStatus { .. }
            | Operation::IngestObservation { .. }) => other.clone(),
        }
    }
}

/// Why a call's arguments did not become an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArgumentError {
    /// No tool has this name.
    UnknownTool,
    /// The arguments do not fit the tool's schema.
    Invalid(String),
}

/// The stable codes of refusals and failures; clients may match on them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RefusalCode {
    InvalidArguments,
    UnknownTool,
    KillSwitchEngaged,
    TierDenied,
    ApprovalRequired,
    AuditUnavailable,
    ResultTooLarge,
    ToolFailed,
    ShuttingDown,
    DeniedByPolicy,
    UnparseableCommand,
    UnknownHost,
    UnknownGroup,
    HostTypeRefused,
    AdapterUnavailable,
    OutsideRoot,
    UnsafeDryRun,
    EgressRefused,
    CredentialOutOfScope,
    UnsafeRunbook,
    StaleObservation,
    CriticalDriftOpen,
    UntrustedContentApprovalRequired,
    ApprovalUnknown,
    ApprovalPending,
    ApprovalDenied,
    ApprovalUsed,
    ApprovalExpired,
    ApprovalInvalidSignature,
    ApprovalMismatch,
    ApprovalNoKey,
    BudgetExhausted,
    PreconditionFailed,
}

impl RefusalCode {
    /// The kebab-case code.
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalCode::InvalidArguments => "invalid-arguments",
            RefusalCode::UnknownTool => "unknown-tool",
            RefusalCode::KillSwitchEngaged => "kill-switch-engaged",
            RefusalCode::TierDenied => "tier-denied",
            RefusalCode::ApprovalRequired => "approval-required",
            RefusalCode::AuditUnavailable => "audit-unavailable",
            RefusalCode::ResultTooLarge => "result-too-large",
            RefusalCode::ToolFailed => "tool-failed",
            RefusalCode::ShuttingDown => "shutting-down",
            RefusalCode::DeniedByPolicy => "denied-by-policy",
            RefusalCode::UnparseableCommand => "unparseable-command",
            RefusalCode::UnknownHost => "unknown-host",
            RefusalCode::UnknownGroup => "unknown-group",
            RefusalCode::HostTypeRefused => "host-type-refused",
            RefusalCode::AdapterUnavailable => "adapter-unavailable",
            RefusalCode::OutsideRoot => "outside-root",
            RefusalCode::UnsafeDryRun => "unsafe-dry-run",
            RefusalCode::EgressRefused => "egress-refused",
            RefusalCode::CredentialOutOfScope => "credential-out-of-scope",
            RefusalCode::UnsafeRunbook => "unsafe-runbook",
            RefusalCode::StaleObservation => "stale-observation",
            RefusalCode::CriticalDriftOpen => "critical-drift-open",
            RefusalCode::UntrustedContentApprovalRequired => "untrusted-content-approval-required",
            RefusalCode::ApprovalUnknown => "approval-unknown",
            RefusalCode::ApprovalPending => "approval-pending",
            RefusalCode::ApprovalDenied => "approval-denied",
            RefusalCode::ApprovalUsed => "approval-used",
            RefusalCode::ApprovalExpired => "approval-expired",
            RefusalCode::ApprovalInvalidSignature => "approval-invalid-signature",
            RefusalCode::ApprovalMismatch => "approval-mismatch",
            RefusalCode::ApprovalNoKey => "approval-no-key",
            RefusalCode::BudgetExhausted => "budget-exhausted",
            RefusalCode::PreconditionFailed => "precondition-failed",
        }
    }
}

/// A refusal or failure as the client sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub code: RefusalCode,
    /// What happened and what to do next; never contains a secret.
    pub message: String,
    pub tier: Tier,
    pub rule_ids: Vec<String>,
}

/// How a call ended.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// The tool ran; `body` is `value` serialised, exactly the bytes hashed into the audit.
    Completed { value: Value, body: String },
    /// Nothing ran (or the handler failed); see the code.
    Refused(Refusal),
}

/// The actuator's answer to one call.
#[derive(Clone, Debug)]
pub struct Response {
    pub outcome: Outcome,
    /// The sequence number of the call's final audit record, if it could be written.
    pub audit_seq: Option<u64>,
}
