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

use crate::actuator::{ArgumentError, Operation, Outcome, Response};

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

/// Parses a call's arguments into an operation.
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
        _ => Err(ArgumentError::UnknownTool),
    }
}

/// Every tool praxis offers, in name order.
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
