//! Tool DTOs and their conversion to and from the actuator's types.
//!
//! Invariants:
//! - Input DTOs deny unknown fields and never coerce types (`"dry_run": "false"` is an error).
//! - Conversion is by hand: no module but `transport` sees these types or their schemas.
//! - A refusal is `isError: true`, with `structuredContent.error.code` a stable kebab-case code;
//!   the audit sequence number travels in `_meta` so the hashed output is exactly `content`.

use std::sync::Arc;

use rmcp::model::{CallToolResult, ContentBlock, JsonObject, MetaObject, Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::actuator::{ActionRequest, ArgumentError, Operation, Outcome, Response};
use crate::clock::Timestamp;
use crate::collectors::Collector;

/// `server_status {}`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ServerStatusArgs {}

/// `audit_verify {}`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct AuditVerifyArgs {}

/// `emergency_stop {reason}`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct EmergencyStopArgs {
    /// Why the fleet must stop, for the operator (1 to 500 characters).
    #[schemars(length(min = 1, max = 500))]
    reason: String,
}

/// `query_facts {subject?, fact_type?, as_of_valid?, as_of_recorded?}` (praxis-py's contract
/// plus the two as-of axes).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct QueryFactsArgs {
    /// Only this subject, e.g. `host:web-1`.
    #[serde(default)]
    subject: Option<String>,
    /// `observed`, `desired`, `known_good` or `drift` (another value matches nothing).
    #[serde(default)]
    fact_type: Option<String>,
    /// The fleet as it was at this valid time (RFC 3339 UTC, e.g. 2026-11-21T10:00:00Z).
    #[serde(default)]
    as_of_valid: Option<String>,
    /// The fleet as praxis knew it at this record time (RFC 3339 UTC).
    #[serde(default)]
    as_of_recorded: Option<String>,
}

/// The longest a `run_action` may wait for an operator's decision.
const MAX_APPROVAL_WAIT_SECONDS: u64 = 600;

/// `approval_status {approval_id}`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ApprovalStatusArgs {
    /// The id a `run_action` preview returned.
    #[schemars(length(min = 1, max = 128))]
    approval_id: String,
}

/// `drift_scan {subject?}`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct DriftScanArgs {
    /// Only this subject, e.g. `host:web-1` (default: every subject with an inventory entry, a
    /// blessed snapshot or an open finding).
    #[serde(default)]
    #[schemars(length(min = 1, max = 256))]
    subject: Option<String>,
}

/// `fact_history {subject, predicate?}`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct FactHistoryArgs {
    /// The subject, e.g. `host:web-1`.
    #[schemars(length(min = 1))]
    subject: String,
    /// Only this predicate.
    #[serde(default)]
    predicate: Option<String>,
}

/// The host types of the trusted inventory.
#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum HostTypeArg {
    Linux,
    Talos,
    Bmc,
    Windows,
    Cloud,
}

impl HostTypeArg {
    fn as_str(self) -> &'static str {
        match self {
            HostTypeArg::Linux => "linux",
            HostTypeArg::Talos => "talos",
            HostTypeArg::Bmc => "bmc",
            HostTypeArg::Windows => "windows",
            HostTypeArg::Cloud => "cloud",
        }
    }
}

/// `list_hosts {group?, host_type?}`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ListHostsArgs {
    /// Only hosts in this inventory group.
    #[serde(default)]
    group: Option<String>,
    /// Only hosts of this type.
    #[serde(default)]
    host_type: Option<HostTypeArg>,
}

/// The adapters of `run_action` (praxis-py's five plus redfish and terraform).
#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum AdapterArg {
    Ansible,
    Opentofu,
    Terraform,
    Runbook,
    Ssh,
    Talosctl,
    Redfish,
}

impl AdapterArg {
    fn as_str(self) -> &'static str {
        match self {
            AdapterArg::Ansible => "ansible",
            AdapterArg::Opentofu => "opentofu",
            AdapterArg::Terraform => "terraform",
            AdapterArg::Runbook => "runbook",
            AdapterArg::Ssh => "ssh",
            AdapterArg::Talosctl => "talosctl",
            AdapterArg::Redfish => "redfish",
        }
    }
}

/// Host types a caller may claim (praxis-py's `ubuntu` means linux); checked, never trusted.
#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum ClaimedHostType {
    Linux,
    Ubuntu,
    Talos,
    Bmc,
    Windows,
    Cloud,
}

impl ClaimedHostType {
    fn as_str(self) -> &'static str {
        match self {
            ClaimedHostType::Linux => "linux",
            ClaimedHostType::Ubuntu => "ubuntu",
            ClaimedHostType::Talos => "talos",
            ClaimedHostType::Bmc => "bmc",
            ClaimedHostType::Windows => "windows",
            ClaimedHostType::Cloud => "cloud",
        }
    }
}

/// `explain_action {adapter, host, action}`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ExplainActionArgs {
    /// The adapter that would run the action.
    adapter: AdapterArg,
    /// The inventory host.
    #[schemars(length(min = 1))]
    host: String,
    /// The command line (ssh), verb (talosctl, terraform), playbook (ansible) or runbook.
    #[schemars(length(min = 1))]
    action: String,
}

/// `run_action {adapter, host, action, dry_run=true, approval_id?, ...}`: praxis-py's contract
/// plus `approval_id` and `group`; `host_type` is optional and only checked against the
/// inventory.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RunActionArgs {
    /// The adapter that runs the action; the host's type decides which are allowed.
    adapter: AdapterArg,
    /// With `dry_run: false` and an `approval_id` the operator has not decided yet: wait up to
    /// this many seconds for the decision (at most 600), with progress notifications when the
    /// request carries a `progressToken`.
    #[serde(default)]
    #[schemars(range(max = 600))]
    wait_for_approval_s: Option<u64>,
    /// The inventory host. Give `host` or `group`.
    #[serde(default)]
    #[schemars(length(min = 1))]
    host: Option<String>,
    /// Every inventory host of this group, concurrently (`fanout_concurrency` at once); each
    /// host is classified, gated and audited on its own.
    #[serde(default)]
    #[schemars(length(min = 1))]
    group: Option<String>,
    /// The command line (ssh), verb (talosctl, terraform), playbook (ansible) or runbook.
    #[schemars(length(min = 1))]
    action: String,
    /// Preview only (the default). A real run needs `dry_run: false` and, from T2, an approval.
    #[serde(default = "default_true")]
    dry_run: bool,
    /// The approval an operator granted for exactly this action.
    #[serde(default)]
    approval_id: Option<String>,
    /// praxis-py's name for the approval.
    #[serde(default)]
    approval_token: Option<String>,
    /// A host type the caller believes; refused if the inventory disagrees.
    #[serde(default)]
    host_type: Option<ClaimedHostType>,
    /// praxis-py compatibility; the inventory's connection details are used.
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "accepted for praxis-py clients; the inventory decides"
    )]
    ssh_alias: Option<String>,
    /// praxis-py compatibility (talosctl); the inventory's nodes are used.
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "accepted for praxis-py clients; the inventory decides"
    )]
    nodes: Vec<String>,
    /// praxis-py compatibility (talosctl); the inventory's endpoints are used.
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "accepted for praxis-py clients; the inventory decides"
    )]
    endpoints: Vec<String>,
    /// praxis-py compatibility (talosctl reset).
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "accepted for praxis-py clients; the inventory decides"
    )]
    wipe_mode: Option<String>,
    /// praxis-py compatibility (talosctl health).
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "accepted for praxis-py clients; the inventory decides"
    )]
    health_client_side_only: bool,
    /// praxis-py compatibility (opentofu).
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "accepted for praxis-py clients; the inventory decides"
    )]
    tofu_chdir: Option<String>,
}

fn default_true() -> bool {
    true
}

/// The built-in probes of `collect`.
#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum ProbeArg {
    OsRelease,
    Packages,
    Users,
    ListeningPorts,
    Services,
    Disks,
}

impl ProbeArg {
    fn as_str(self) -> &'static str {
        match self {
            ProbeArg::OsRelease => "os_release",
            ProbeArg::Packages => "packages",
            ProbeArg::Users => "users",
            ProbeArg::ListeningPorts => "listening_ports",
            ProbeArg::Services => "services",
            ProbeArg::Disks => "disks",
        }
    }
}

/// `collect {host | group, probe}`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CollectArgs {
    /// The inventory host (its type must allow ssh: linux or windows). Give `host` or `group`.
    #[serde(default)]
    #[schemars(length(min = 1))]
    host: Option<String>,
    /// Every inventory host of this group, concurrently (`fanout_concurrency` at once); each
    /// host's result and audit record stand alone.
    #[serde(default)]
    #[schemars(length(min = 1))]
    group: Option<String>,
    /// Which built-in read-only probe to run.
    probe: ProbeArg,
}

/// The collectors `ingest_observation` accepts.
#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum CollectorArg {
    Osquery,
    Aide,
    Probe,
    Talos,
    Cis,
}

/// `ingest_observation {collector, subject, raw, predicate?}`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct IngestObservationArgs {
    /// Which parser reads `raw`.
    collector: CollectorArg,
    /// The subject the telemetry is about, e.g. `host:web-1`.
    #[schemars(length(min = 1))]
    subject: String,
    /// The collector's output, as text (at most 4,194,304 characters).
    #[schemars(length(max = 4_194_304))]
    raw: String,
    /// The predicate to file it under (default: the collector's name; aide and cis choose
    /// their own).
    #[serde(default)]
    predicate: Option<String>,
}

/// The most characters `raw` may have (praxis-py's limit).
const MAX_RAW_CHARS: usize = 4_194_304;

fn timestamp_argument(
    name: &str,
    text: Option<String>,
) -> Result<Option<Timestamp>, ArgumentError> {
    text.map(|text| {
        Timestamp::parse_rfc3339(&text).ok_or_else(|| {
            ArgumentError::Invalid(format!(
                "{name} must be an RFC 3339 UTC time such as 2026-11-21T10:00:00Z, not {:?}",
                crate::audit::cut(&text, 64)
            ))
        })
    })
    .transpose()
}

fn non_empty(name: &str, text: &str) -> Result<(), ArgumentError> {
    if text.is_empty() {
        Err(ArgumentError::Invalid(format!("{name} must not be empty")))
    } else {
        Ok(())
    }
}

/// Parses `explain_action` and `run_action` arguments.
fn parse_action(tool: &str, arguments: Value) -> Result<Operation, ArgumentError> {
    let invalid = |error: serde_json::Error| ArgumentError::Invalid(error.to_string());
    if tool == "explain_action" {
        let parsed = serde_json::from_value::<ExplainActionArgs>(arguments).map_err(invalid)?;
        non_empty("host", &parsed.host)?;
        non_empty("action", &parsed.action)?;
        return Ok(Operation::ExplainAction(ActionRequest {
            adapter: parsed.adapter.as_str().to_owned(),
            host: parsed.host,
            action: parsed.action,
            dry_run: true,
            host_type: None,
            approval_id: None,
            wait_for_approval_s: 0,
        }));
    }
    let parsed = serde_json::from_value::<RunActionArgs>(arguments).map_err(invalid)?;
    non_empty("action", &parsed.action)?;
    let target = host_or_group(parsed.host, parsed.group)?;
    let request = ActionRequest {
        adapter: parsed.adapter.as_str().to_owned(),
        host: String::new(),
        action: parsed.action,
        dry_run: parsed.dry_run,
        host_type: parsed.host_type.map(|claimed| claimed.as_str().to_owned()),
        approval_id: parsed.approval_id.or(parsed.approval_token),
        wait_for_approval_s: parsed.wait_for_approval_s.unwrap_or(0),
    };
    if request.wait_for_approval_s > MAX_APPROVAL_WAIT_SECONDS {
        return Err(ArgumentError::Invalid(format!(
            "wait_for_approval_s must be at most {MAX_APPROVAL_WAIT_SECONDS}"
        )));
    }
    Ok(target.aim(Operation::RunAction(request)))
}

/// Where a call is aimed: one host, or every host of a group.
enum Aim {
    Host(String),
    Group(String),
}

impl Aim {
    /// `each` (its host left empty) aimed here.
    fn aim(self, each: Operation) -> Operation {
        match self {
            Aim::Host(host) => each.for_host(&host),
            Aim::Group(group) => Operation::FanOut {
                group,
                each: Box::new(each),
            },
        }
    }
}

/// Exactly one of `host` and `group`, not blank.
fn host_or_group(host: Option<String>, group: Option<String>) -> Result<Aim, ArgumentError> {
    match (host, group) {
        (Some(host), None) => {
            non_empty("host", &host)?;
            Ok(Aim::Host(host))
        }
        (None, Some(group)) => {
            non_empty("group", &group)?;
            Ok(Aim::Group(group))
        }
        (Some(_), Some(_)) => Err(ArgumentError::Invalid(
            "give either host or group, not both".into(),
        )),
        (None, None) => Err(ArgumentError::Invalid(
            "missing field `host` (or `group` for every host of a group)".into(),
        )),
    }
}

/// Parses a call's arguments into an operation.
#[expect(clippy::too_many_lines, reason = "one arm per tool")]
pub(crate) fn parse_call(
    tool: &str,
    arguments: Option<&JsonObject>,
) -> Result<Operation, ArgumentError> {
    let arguments = Value::Object(arguments.cloned().unwrap_or_default());
    let invalid = |error: serde_json::Error| ArgumentError::Invalid(error.to_string());
    match tool {
        "server_status" => {
            serde_json::from_value::<ServerStatusArgs>(arguments).map_err(invalid)?;
            Ok(Operation::ServerStatus)
        }
        "audit_verify" => {
            serde_json::from_value::<AuditVerifyArgs>(arguments).map_err(invalid)?;
            Ok(Operation::AuditVerify)
        }
        "emergency_stop" => {
            let parsed = serde_json::from_value::<EmergencyStopArgs>(arguments).map_err(invalid)?;
            let length = parsed.reason.chars().count();
            if parsed.reason.trim().is_empty() || length > 500 {
                return Err(ArgumentError::Invalid(format!(
                    "reason must be 1 to 500 characters and not blank (got {length})"
                )));
            }
            Ok(Operation::EmergencyStop {
                reason: parsed.reason,
            })
        }
        "query_facts" => {
            let parsed = serde_json::from_value::<QueryFactsArgs>(arguments).map_err(invalid)?;
            Ok(Operation::QueryFacts {
                subject: parsed.subject,
                fact_type: parsed.fact_type,
                as_of_valid: timestamp_argument("as_of_valid", parsed.as_of_valid)?,
                as_of_recorded: timestamp_argument("as_of_recorded", parsed.as_of_recorded)?,
            })
        }
        "approval_status" => {
            let parsed =
                serde_json::from_value::<ApprovalStatusArgs>(arguments).map_err(invalid)?;
            non_empty("approval_id", &parsed.approval_id)?;
            if parsed.approval_id.len() > 128 {
                return Err(ArgumentError::Invalid(
                    "approval_id must be at most 128 characters".into(),
                ));
            }
            Ok(Operation::ApprovalStatus {
                approval_id: parsed.approval_id,
            })
        }
        "drift_scan" => {
            let parsed = serde_json::from_value::<DriftScanArgs>(arguments).map_err(invalid)?;
            if let Some(subject) = &parsed.subject {
                non_empty("subject", subject)?;
            }
            Ok(Operation::DriftScan {
                subject: parsed.subject,
            })
        }
        "fact_history" => {
            let parsed = serde_json::from_value::<FactHistoryArgs>(arguments).map_err(invalid)?;
            non_empty("subject", &parsed.subject)?;
            Ok(Operation::FactHistory {
                subject: parsed.subject,
                predicate: parsed.predicate,
            })
        }
        "explain_action" | "run_action" => parse_action(tool, arguments),
        "collect" => {
            let parsed = serde_json::from_value::<CollectArgs>(arguments).map_err(invalid)?;
            let target = host_or_group(parsed.host, parsed.group)?;
            Ok(target.aim(Operation::Collect {
                host: String::new(),
                probe: parsed.probe.as_str().to_owned(),
            }))
        }
        "list_hosts" => {
            let parsed = serde_json::from_value::<ListHostsArgs>(arguments).map_err(invalid)?;
            Ok(Operation::ListHosts {
                group: parsed.group,
                host_type: parsed
                    .host_type
                    .map(|host_type| host_type.as_str().to_owned()),
            })
        }
        "ingest_observation" => {
            let parsed =
                serde_json::from_value::<IngestObservationArgs>(arguments).map_err(invalid)?;
            non_empty("subject", &parsed.subject)?;
            let characters = parsed.raw.chars().count();
            if characters > MAX_RAW_CHARS {
                return Err(ArgumentError::Invalid(format!(
                    "raw is {characters} characters, over the {MAX_RAW_CHARS}-character limit; send less"
                )));
            }
            let collector = match parsed.collector {
                CollectorArg::Osquery => Collector::Osquery,
                CollectorArg::Aide => Collector::Aide,
                CollectorArg::Probe => Collector::Probe,
                CollectorArg::Talos => Collector::Talos,
                CollectorArg::Cis => Collector::Cis,
            };
            Ok(Operation::IngestObservation {
                collector,
                subject: parsed.subject,
                raw: parsed.raw,
                predicate: parsed.predicate,
            })
        }
        _ => Err(ArgumentError::UnknownTool),
    }
}

/// Every tool praxis offers, in name order.
#[expect(
    clippy::too_many_lines,
    reason = "one table of tools and their schemas, read top to bottom"
)]
pub(crate) fn tool_list() -> Vec<Tool> {
    let mut tools = vec![
        Tool::new(
            "server_status",
            "Report praxis's own state: version, mode (which tiers run), policy hash, whether the kill switch is engaged, and the audit head. T0, read-only.",
            rmcp::handler::server::tool::schema_for_type::<ServerStatusArgs>(),
        )
        .with_title("Server status")
        .with_raw_output_schema(object_schema(&json!({
            "type": "object",
            "required": ["version", "session_id", "mode", "policy_hash", "kill_switch", "audit_head_seq"],
            "properties": {
                "version": {"type": "string"},
                "session_id": {"type": "string"},
                "mode": {"type": "string", "enum": ["readonly", "guarded", "open"]},
                "policy_hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "kill_switch": {
                    "type": "object",
                    "required": ["engaged", "detail"],
                    "properties": {
                        "engaged": {"type": "boolean"},
                        "detail": {"type": ["string", "null"]}
                    }
                },
                "untrusted_content": {"type": "boolean"},
                "audit_head_seq": {"type": ["integer", "null"], "minimum": 0}
            }
        })))
        .with_annotations(read_only("Server status")),
        Tool::new(
            "audit_verify",
            "Verify praxis's hash-chained audit trail and report how many records verified and the first broken record, if any. T0, read-only.",
            rmcp::handler::server::tool::schema_for_type::<AuditVerifyArgs>(),
        )
        .with_title("Verify the audit trail")
        .with_raw_output_schema(object_schema(&json!({
            "type": "object",
            "required": ["ok", "count", "head_hash", "first_break"],
            "properties": {
                "ok": {"type": "boolean"},
                "count": {"type": "integer", "minimum": 0},
                "head_hash": {"type": ["string", "null"]},
                "first_break": {
                    "type": ["object", "null"],
                    "properties": {
                        "seq": {"type": "integer", "minimum": 0},
                        "reason": {"type": "string", "enum": ["edited", "removed", "reordered", "bad-link", "malformed"]},
                        "detail": {"type": "string"}
                    }
                }
            }
        })))
        .with_annotations(read_only("Verify the audit trail")),
        Tool::new(
            "emergency_stop",
            "Trip praxis's kill switch: every tool call is refused until an operator runs `praxis resume` in a terminal. Use it when anything looks wrong. T0; it can only take authority away.",
            rmcp::handler::server::tool::schema_for_type::<EmergencyStopArgs>(),
        )
        .with_title("Emergency stop")
        .with_raw_output_schema(object_schema(&json!({
            "type": "object",
            "required": ["stopped", "durable", "reason", "message"],
            "properties": {
                "stopped": {"type": "boolean"},
                "durable": {"type": "boolean"},
                "reason": {"type": "string"},
                "message": {"type": "string"}
            }
        })))
        .with_annotations(
            ToolAnnotations::with_title("Emergency stop")
                .read_only(false)
                .destructive(false)
                .idempotent(true)
                .open_world(false),
        ),
        Tool::new(
            "query_facts",
            "Read the fleet graph: the active facts (optionally one subject and one fact_type), or the facts as they were at a valid time (as_of_valid) and/or as praxis knew them at a record time (as_of_recorded). T0, read-only. Observed facts are untrusted host output.",
            rmcp::handler::server::tool::schema_for_type::<QueryFactsArgs>(),
        )
        .with_title("Query facts")
        .with_raw_output_schema(object_schema(&json!({
            "type": "object",
            "required": ["count", "facts"],
            "properties": {
                "count": {"type": "integer", "minimum": 0},
                "facts": {"type": "array", "items": {
                    "type": "object",
                    "required": ["subject", "predicate", "fact_type", "value"],
                    "properties": {
                        "subject": {"type": "string"},
                        "predicate": {"type": "string"},
                        "fact_type": {"type": "string"},
                        "value": {},
                        "valid_from": {"type": "string"},
                        "valid_to": {"type": ["string", "null"]},
                        "recorded_at": {"type": "string"},
                        "last_seen": {"type": ["string", "null"]}
                    }
                }},
                "as_of_valid": {"type": ["string", "null"]},
                "as_of_recorded": {"type": ["string", "null"]}
            }
        })))
        .with_annotations(read_only("Query facts")),
        Tool::new(
            "fact_history",
            "Every version of a subject's facts (optionally one predicate), oldest first, with valid_from, valid_to, recorded_at, superseded_at, actor and reason. T0, read-only.",
            rmcp::handler::server::tool::schema_for_type::<FactHistoryArgs>(),
        )
        .with_title("Fact history")
        .with_raw_output_schema(object_schema(&json!({
            "type": "object",
            "required": ["count", "history"],
            "properties": {
                "count": {"type": "integer", "minimum": 0},
                "history": {"type": "array", "items": {
                    "type": "object",
                    "required": ["active", "predicate", "t_recorded", "value"],
                    "properties": {
                        "active": {"type": "boolean"},
                        "predicate": {"type": "string"},
                        "t_recorded": {"type": "string"},
                        "value": {},
                        "fact_type": {"type": "string"},
                        "valid_from": {"type": "string"},
                        "valid_to": {"type": ["string", "null"]},
                        "recorded_at": {"type": "string"},
                        "superseded_at": {"type": ["string", "null"]},
                        "closed_at": {"type": ["string", "null"]},
                        "actor": {"type": "string"},
                        "reason": {"type": ["string", "null"]},
                        "ended_by": {"type": ["string", "null"]},
                        "ended_reason": {"type": ["string", "null"]},
                        "last_seen": {"type": ["string", "null"]}
                    }
                }}
            }
        })))
        .with_annotations(read_only("Fact history")),
        Tool::new(
            "approval_status",
            "Where an approval stands: pending (the operator has not decided), approved (call run_action with the same arguments, dry_run=false and this approval_id), denied (with the operator's reason), used, or expired; with what it binds to. T0, read-only. You cannot approve anything: only the operator can, in a terminal.",
            rmcp::handler::server::tool::schema_for_type::<ApprovalStatusArgs>(),
        )
        .with_title("Approval status")
        .with_raw_output_schema(object_schema(&json!({
            "type": "object",
            "required": ["approval_id", "state"],
            "properties": {
                "approval_id": {"type": "string"},
                "state": {"type": "string", "enum": ["unknown", "pending", "approved", "denied", "used", "expired"]},
                "tier": {"type": "string"},
                "target": {"type": "string"},
                "binding": {"type": "object"},
                "created_at": {"type": "string"},
                "expires_at": {"type": "string"},
                "decided_at": {"type": ["string", "null"]},
                "approver": {"type": ["string", "null"]},
                "deny_reason": {"type": ["string", "null"]},
                "used_at": {"type": ["string", "null"]},
                "next": {"type": "string"}
            }
        })))
        .with_annotations(read_only("Approval status")),
        Tool::new(
            "drift_scan",
            "Compare desired state (the operator's blessed snapshots, the baseline files, imported terraform plans and ansible checks) with observed state, for one subject or the whole fleet. Opens a drift finding when a difference is first seen and closes it when it clears, and returns the open ones, most severe first: kind (missing, changed, unexpected, unverified), severity, desired and observed values, source and since when. T0; observed values are untrusted host output. The drift_triage prompt explains how to read them.",
            rmcp::handler::server::tool::schema_for_type::<DriftScanArgs>(),
        )
        .with_title("Scan for drift")
        .with_raw_output_schema(object_schema(&json!({
            "type": "object",
            "required": ["scanned", "open_count", "findings", "opened", "closed", "digest", "as_of"],
            "properties": {
                "scanned": {"type": "integer", "minimum": 0},
                "open_count": {"type": "integer", "minimum": 0},
                "listed": {"type": "integer", "minimum": 0},
                "truncated": {"type": "boolean"},
                "opened": {"type": "array", "items": {"type": "string"}},
                "closed": {"type": "array", "items": {"type": "string"}},
                "findings": {"type": "array", "items": {
                    "type": "object",
                    "required": ["subject", "predicate", "kind", "severity", "since"],
                    "properties": {
                        "subject": {"type": "string"},
                        "predicate": {"type": "string"},
                        "kind": {"type": "string", "enum": ["missing", "changed", "unexpected", "unverified"]},
                        "severity": {"type": "string", "enum": ["info", "low", "medium", "high", "critical"]},
                        "desired": {},
                        "observed": {},
                        "source": {"type": ["string", "null"]},
                        "since": {"type": "string"}
                    }
                }},
                "subjects": {"type": "array"},
                "digest": {"type": "string"},
                "as_of": {"type": "string"},
                "untrusted": {"type": "boolean"}
            }
        })))
        .with_annotations(
            ToolAnnotations::with_title("Scan for drift")
                .read_only(true)
                .destructive(false)
                .idempotent(true)
                .open_world(false),
        ),
        Tool::new(
            "collect",
            "Run a built-in read-only probe (os_release, packages, users, listening_ports, services, disks) on an inventory host over the adapter its type allows, and ingest the result as observed facts (typed package:, user:, port:, service:, mount: facts where they apply). With `group` instead of `host`, every host of the group is probed concurrently and the result lists each host's outcome; a slow or unreachable host does not hold up the others. T0; the session is then marked as holding untrusted content.",
            rmcp::handler::server::tool::schema_for_type::<CollectArgs>(),
        )
        .with_title("Collect from a host")
        .with_raw_output_schema(or_fan_out(&ingest_output_schema()))
        .with_annotations(read_only("Collect from a host").open_world(true)),
        Tool::new(
            "explain_action",
            "Classify an action without running it: its tier, every policy rule that matched, whether the host's type allows the adapter, whether an approval would be needed, and the argv that would run. T0, read-only. Use it to plan within the policy.",
            rmcp::handler::server::tool::schema_for_type::<ExplainActionArgs>(),
        )
        .with_title("Explain an action")
        .with_raw_output_schema(object_schema(&json!({
            "type": "object",
            "required": ["tier", "rule_ids", "approval_required", "argv"],
            "properties": {
                "tier": {"type": "string"},
                "rule_ids": {"type": "array", "items": {"type": "string"}},
                "findings": {"type": "array"},
                "host_type": {"type": ["string", "null"]},
                "inventory_host": {"type": "boolean"},
                "refusal": {"type": ["object", "null"]},
                "approval_required": {"type": "boolean"},
                "allowed_by_mode": {"type": "boolean"},
                "argv": {"type": "array", "items": {"type": "string"}},
                "adapter": {"type": "string"},
                "host": {"type": "string"},
                "action": {"type": "string"},
                "policy_hash": {"type": "string"}
            }
        })))
        .with_annotations(read_only("Explain an action")),
        Tool::new(
            "run_action",
            "The actuator's front door. With dry_run=true (the default) it previews: tier, matched rules, the argv that would run, and whether a human approval is needed. A real run (dry_run=false) of T2 or T3 needs an operator's approval; denied and unparseable commands are refused in every mode. The host must be in the trusted inventory and its type must allow the adapter. With `group` instead of `host`, the action is classified, gated, run and audited on every host of the group on its own, concurrently, and the result lists each host's outcome.",
            rmcp::handler::server::tool::schema_for_type::<RunActionArgs>(),
        )
        .with_title("Run an action")
        .with_raw_output_schema(or_fan_out(&object_schema(&json!({
            "type": "object",
            "required": ["ok", "tier", "output_sha256", "output_len", "output"],
            "properties": {
                "ok": {"type": "boolean"},
                "dry_run": {"type": "boolean"},
                "tier": {"type": "string"},
                "error": {"type": ["string", "null"]},
                "output_sha256": {"type": "string"},
                "output_len": {"type": "integer"},
                "output": {"type": "string"},
                "action_id": {"type": "string"},
                "approval": {"type": "string"},
                "approval_required": {"type": "boolean"},
                "rule_ids": {"type": "array", "items": {"type": "string"}},
                "argv": {"type": "array", "items": {"type": "string"}},
                "host_type": {"type": ["string", "null"]}
            }
        }))))
        .with_annotations(
            ToolAnnotations::with_title("Run an action")
                .read_only(false)
                .destructive(true)
                .idempotent(false)
                .open_world(true),
        ),
        Tool::new(
            "list_hosts",
            "The trusted inventory the operator imported: every host with its host_type, groups, the adapters its type allows, and its connection details (never secrets). Optionally only one group or one host_type. T0, read-only.",
            rmcp::handler::server::tool::schema_for_type::<ListHostsArgs>(),
        )
        .with_title("List hosts")
        .with_raw_output_schema(object_schema(&json!({
            "type": "object",
            "required": ["count", "hosts"],
            "properties": {
                "count": {"type": "integer", "minimum": 0},
                "hosts": {"type": "array", "items": {
                    "type": "object",
                    "required": ["name", "host_type", "groups", "adapters"],
                    "properties": {
                        "name": {"type": "string"},
                        "subject": {"type": "string"},
                        "host_type": {"type": "string"},
                        "groups": {"type": "array", "items": {"type": "string"}},
                        "adapters": {"type": "array", "items": {"type": "string"}},
                        "connection": {"type": "object"},
                        "since": {"type": "string"}
                    }
                }}
            }
        })))
        .with_annotations(read_only("List hosts")),
        Tool::new(
            "ingest_observation",
            "Parse telemetry you collected (osquery --json, aide --check, KEY=VALUE probe output, talosctl get -o json, CIS results) into observed facts for a subject. Touches no host. T0, but the session is then marked as holding untrusted content. An identical value adds no new version.",
            rmcp::handler::server::tool::schema_for_type::<IngestObservationArgs>(),
        )
        .with_title("Ingest an observation")
        .with_raw_output_schema(ingest_output_schema())
        .with_annotations(
            ToolAnnotations::with_title("Ingest an observation")
                .read_only(false)
                .destructive(false)
                .idempotent(true)
                .open_world(false),
        ),
    ];
    tools.sort_by(|left, right| left.name.cmp(&right.name));
    tools
}

fn read_only(title: &str) -> ToolAnnotations {
    ToolAnnotations::with_title(title)
        .read_only(true)
        .destructive(false)
        .idempotent(true)
        .open_world(false)
}

fn object_schema(value: &Value) -> Arc<JsonObject> {
    Arc::new(value.as_object().cloned().unwrap_or_default())
}

/// `single` (a one-host result), or a group call's result: one entry per host, each with the
/// host's own result or refusal and its audit record.
fn or_fan_out(single: &Arc<JsonObject>) -> Arc<JsonObject> {
    let mut single = Value::Object((**single).clone());
    let required = single["required"].take();
    let mut properties = single["properties"].take();
    let fan_out = json!({
        "group": {"type": "string"},
        "count": {"type": "integer", "minimum": 1},
        "succeeded": {"type": "integer", "minimum": 0},
        "failed": {"type": "integer", "minimum": 0},
        "concurrency": {"type": "integer", "minimum": 1},
        "results": {"type": "array", "items": {
            "type": "object",
            "required": ["host", "ok", "audit_seq"],
            "properties": {
                "host": {"type": "string"},
                "ok": {"type": "boolean"},
                "audit_seq": {"type": ["integer", "null"]},
                "result": {"type": "object"},
                "error": {"type": "object", "required": ["code", "message"]}
            }
        }}
    });
    if let (Some(properties), Some(extra)) = (properties.as_object_mut(), fan_out.as_object()) {
        properties.extend(extra.clone());
    }
    object_schema(&json!({
        "type": "object",
        "properties": properties,
        "anyOf": [
            {"required": required},
            {"required": ["group", "count", "succeeded", "failed", "results"]}
        ]
    }))
}

/// The output of `ingest_observation` and `collect`: both end in the same ingest.
fn ingest_output_schema() -> Arc<JsonObject> {
    object_schema(&json!({
        "type": "object",
        "required": ["ingested", "subject", "collector"],
        "properties": {
            "ingested": {"type": "integer", "minimum": 0},
            "closed": {"type": "integer", "minimum": 0},
            "closed_predicates": {"type": "array", "items": {"type": "string"}},
            "subject": {"type": "string"},
            "collector": {"type": "string"},
            "predicates": {"type": "array", "items": {"type": "string"}},
            "new_versions": {"type": "integer", "minimum": 0},
            "unchanged": {"type": "integer", "minimum": 0},
            "recorded_at": {"type": "string"},
            "inventory_host": {"type": "boolean"},
            "untrusted": {"type": "boolean"},
            "notes": {"type": "array", "items": {"type": "string"}}
        }
    }))
}

/// The MCP result for an actuator response.
pub(crate) fn to_call_tool_result(response: Response) -> CallToolResult {
    let mut meta = JsonObject::new();
    meta.insert("praxis/audit_seq".into(), json!(response.audit_seq));
    let mut result = match response.outcome {
        Outcome::Completed { value, body } => {
            let mut result = CallToolResult::structured(value);
            result.content = vec![ContentBlock::text(body)];
            result
        }
        Outcome::Refused(refusal) => {
            let text = format!("{}: {}", refusal.code.as_str(), refusal.message);
            let mut result = CallToolResult::structured_error(json!({
                "error": {
                    "code": refusal.code.as_str(),
                    "message": refusal.message,
                    "tier": refusal.tier.as_str(),
                    "rule_ids": refusal.rule_ids,
                }
            }));
            result.content = vec![ContentBlock::text(text)];
            result
        }
    };
    result.meta = Some(MetaObject(meta));
    result
}
