//! The drift engine in the actuator: `drift_scan`, the findings an ingest opens and closes,
//! and the drift check every action on a host passes before any wrapper runs.
//!
//! Invariants:
//! - Drift facts are written in the same transaction as the audit record of the call that
//!   wrote them (`record_facts`), like every other fact.
//! - Before an action on a host is admitted, its open findings are evaluated afresh (against
//!   the baselines in force, not only the stored findings); their digest goes into the call's
//!   records, and the policy's `[drift]` rules may refuse a real run of T1 or above.

use std::time::Instant;

use serde_json::{Value, json};

use super::request::{ActionRequest, RefusalCode, Response};
use super::{Actuator, Outcome};
use crate::audit::{self, AuditDecision, RecordDraft};
use crate::clock::Timestamp;
use crate::digest::Digest;
use crate::drift::engine::{self, Changes, FactWrite};
use crate::fleet::{FactKey, Provenance};
use crate::policy::{Classification, DriftEnforcement, Tier};
use crate::store::Durability;
use crate::store::facts::{NewFact, PutOutcome};

/// The most findings one `drift_scan` lists (the counts cover all of them).
const MAX_LISTED_FINDINGS: usize = 500;

/// A host's drift as the actuator sees it before an action.
#[derive(Clone, Debug)]
pub(super) struct HostDrift {
    pub open: Vec<Value>,
    pub digest: Digest,
    pub last_observed: Option<Timestamp>,
    /// Whether praxis can collect from this host at all (`collect` works over ssh: linux and
    /// windows hosts); the stale-observation rule judges only those.
    pub collectable: bool,
}

impl HostDrift {
    fn json(&self, stale_after: Option<u64>, now: Timestamp) -> Value {
        json!({
            "open": self.open.len(),
            "findings": self.open,
            "digest": self.digest.to_hex(),
            "last_observed": self.last_observed.map(|at| at.to_string()),
            "stale": stale_after.filter(|_| self.collectable).map(|seconds| self.is_stale(seconds, now)),
        })
    }

    fn is_stale(&self, seconds: u64, now: Timestamp) -> bool {
        let limit = i64::try_from(seconds.saturating_mul(1_000_000_000)).unwrap_or(i64::MAX);
        self.last_observed
            .is_none_or(|at| now.unix_nanos().saturating_sub(at.unix_nanos()) > limit)
    }
}

impl Actuator {
    /// Writes `write` and the call's one record in one transaction; `result` makes the call's
    /// answer from the outcomes, how many facts were ended and the record time.
    pub(super) fn record_facts(
        &self,
        call: u64,
        classification: &Classification,
        mut draft: RecordDraft,
        started: Instant,
        write: &FactWrite<'_>,
        result: impl FnOnce(&[PutOutcome], usize, Timestamp) -> Value,
    ) -> Response {
        let mut returned: Option<(Value, String)> = None;
        draft.decision = AuditDecision::Allowed;
        let written = self.audit.store().change_facts_audited(
            write.puts,
            write.closings,
            &write.provenance,
            write.now,
            Durability::Normal,
            |outcomes, closed, recorded_at, seq, previous| {
                let value = result(outcomes, closed, recorded_at);
                let body = value.to_string();
                draft.ts = self.clock.now();
                draft.duration_ms =
                    Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
                draft.output_sha256 = Some(Digest::of(body.as_bytes()));
                draft.output_len = Some(u64::try_from(body.len()).unwrap_or(u64::MAX));
                returned = Some((value, body));
                audit::chain::seal(&draft, seq, previous)
            },
        );
        self.finish(call);
        match (written, returned) {
            (Ok((_, _, _, sealed)), Some((value, body))) => Response {
                outcome: Outcome::Completed { value, body },
                audit_seq: Some(sealed.seq),
            },
            (Err(error), _) => {
                tracing::error!(%error, "facts could not be stored");
                let message =
                    format!("the facts could not be stored, so nothing was written: {error}");
                self.conclude(
                    draft,
                    classification,
                    started,
                    RefusalCode::ToolFailed,
                    &message,
                    AuditDecision::Error,
                )
            }
            (Ok(_), None) => self.conclude(
                draft,
                classification,
                started,
                RefusalCode::ToolFailed,
                "internal: the write produced no result",
                AuditDecision::Error,
            ),
        }
    }

    /// `drift_scan`: compares desired with observed state for one subject or the whole fleet,
    /// opens and closes findings, and lists the open ones (most severe first).
    pub(super) fn run_drift_scan(
        &self,
        call: u64,
        classification: &Classification,
        mut draft: RecordDraft,
        started: Instant,
        subject: Option<&str>,
    ) -> Response {
        let now = self.clock.now();
        let states = match engine::load(self.audit.store(), subject) {
            Ok(states) => states,
            Err(error) => {
                self.finish(call);
                return self.conclude(
                    draft,
                    classification,
                    started,
                    RefusalCode::ToolFailed,
                    &format!("the fleet graph could not be read: {error}"),
                    AuditDecision::Error,
                );
            }
        };
        let (mut all, subjects) = engine::reconcile_all(&states, &self.baselines, now);
        let severity_rank = |finding: &Value| match finding["severity"].as_str() {
            Some("critical") => 0,
            Some("high") => 1,
            Some("medium") => 2,
            Some("low") => 3,
            _ => 4,
        };
        all.open.sort_by_key(|finding| {
            (
                severity_rank(finding),
                finding["subject"].as_str().unwrap_or_default().to_owned(),
                finding["predicate"].as_str().unwrap_or_default().to_owned(),
            )
        });
        if all
            .open
            .iter()
            .any(|finding| !finding["observed"].is_null())
        {
            self.mark_untrusted(
                "drift_scan",
                draft.request_id.as_deref(),
                "read observed values in drift findings",
            );
        }
        let total = all.open.len();
        let digest = engine::digest(&all.open);
        all.open.truncate(MAX_LISTED_FINDINGS);
        if let Some(subject) = subject {
            draft.target = Some(audit::cut(subject, super::MAX_NAME_BYTES));
        }
        draft.drift_sha256 = Some(digest);
        let write = FactWrite {
            puts: &all.puts,
            closings: &all.closings,
            provenance: Provenance {
                actor: "praxis:drift".to_owned(),
                reason: Some(format!(
                    "drift_scan in session {} (request {})",
                    self.session_id,
                    draft.request_id.as_deref().unwrap_or("-")
                )),
            },
            now,
        };
        // Counts cover everything; the lists are bounded like the findings.
        let counts = json!({"opened": all.opened.len(), "closed": all.closed.len(), "subjects": subjects.len()});
        let (mut opened, mut closed, mut subjects) = (all.opened, all.closed, subjects);
        opened.truncate(MAX_LISTED_FINDINGS);
        closed.truncate(MAX_LISTED_FINDINGS);
        subjects.truncate(MAX_LISTED_FINDINGS);
        let listed = all.open;
        self.record_facts(
            call,
            classification,
            draft,
            started,
            &write,
            |_, _, recorded_at| {
                json!({
                    "scanned": counts["subjects"],
                    "counts": counts,
                    "open_count": total,
                    "listed": listed.len(),
                    "truncated": total > listed.len()
                        || counts["opened"].as_u64() > Some(MAX_LISTED_FINDINGS as u64)
                        || counts["closed"].as_u64() > Some(MAX_LISTED_FINDINGS as u64),
                    "opened": opened,
                    "closed": closed,
                    "findings": listed,
                    "subjects": subjects,
                    "digest": digest.to_hex(),
                    "as_of": recorded_at.to_string(),
                    "untrusted": total > 0,
                })
            },
        )
    }

    /// The drift writes an ingest of `puts` and `closings` into `subject` brings: findings are
    /// judged on the state the ingest leaves, and written with it.
    pub(super) fn ingest_drift(
        &self,
        subject: &str,
        puts: &[NewFact],
        closings: &[FactKey],
        now: Timestamp,
    ) -> Changes {
        match engine::load(self.audit.store(), Some(subject)) {
            Ok(states) => states
                .iter()
                .find(|state| state.subject == subject)
                .map(|state| {
                    engine::reconcile_state(
                        &state.with_changes(puts, closings),
                        &self.baselines,
                        now,
                    )
                })
                .unwrap_or_default(),
            Err(error) => {
                // The ingest itself must not be lost to a failed read; the next drift_scan
                // reconciles.
                tracing::warn!(%error, "drift not evaluated for an ingest");
                Changes::default()
            }
        }
    }

    /// The open findings of `host` as of now (stored imports plus a fresh comparison).
    fn host_drift(&self, host: &str) -> Result<HostDrift, String> {
        let subject = crate::fleet::import::host_subject(host);
        let states =
            engine::load(self.audit.store(), Some(&subject)).map_err(|error| error.to_string())?;
        let state = states
            .iter()
            .find(|state| state.subject == subject)
            .cloned()
            .unwrap_or_default();
        let open = engine::reconcile_state(&state, &self.baselines, self.clock.now()).open;
        let collectable = state.inventory.as_ref().is_some_and(|record| {
            matches!(record["host_type"].as_str(), Some("linux" | "windows"))
        });
        Ok(HostDrift {
            digest: engine::digest(&open),
            open,
            last_observed: state.last_observed(),
            collectable,
        })
    }

    /// The drift section of a preview.
    pub(super) fn drift_preview(&self, host: &str) -> Value {
        match self.host_drift(host) {
            Ok(drift)
                if drift
                    .open
                    .iter()
                    .any(|finding| !finding["observed"].is_null()) =>
            {
                self.mark_untrusted("run_action", None, "read observed values in drift findings");
                drift.json(
                    self.policy.drift_rules().stale_after_seconds,
                    self.clock.now(),
                )
            }
            Ok(drift) => drift.json(
                self.policy.drift_rules().stale_after_seconds,
                self.clock.now(),
            ),
            Err(error) => json!({"error": format!("drift could not be evaluated: {error}")}),
        }
    }

    /// Evaluates the drift of the target of `request`, names it in `draft`, and applies the
    /// policy's `[drift]` rules: `Ok(true)` means the action needs an approval whatever its tier.
    pub(super) fn check_drift(
        &self,
        draft: &mut RecordDraft,
        request: &ActionRequest,
        tier: Tier,
    ) -> Result<bool, (RefusalCode, String)> {
        let target = self.host_drift(&request.host).map_err(|error| {
            (
                RefusalCode::ToolFailed,
                format!(
                    "the drift of {} could not be evaluated, so nothing runs: {error}",
                    request.host
                ),
            )
        })?;
        draft.drift_sha256 = Some(target.digest);
        self.drift_gate(request, tier, &target)
    }

    /// The policy's `[drift]` rules for an action on a host: `Err` refuses it, `Ok(true)` means
    /// it needs an approval whatever its tier. Only real runs of T1 or above (actuations) are
    /// judged; reads and previews never are (a read is how a stale host gets observed).
    fn drift_gate(
        &self,
        request: &ActionRequest,
        tier: Tier,
        drift: &HostDrift,
    ) -> Result<bool, (RefusalCode, String)> {
        if request.dry_run || tier == Tier::T0 {
            return Ok(false);
        }
        let rules = self.policy.drift_rules();
        let mut approval = false;
        if let Some(seconds) = rules.stale_after_seconds
            && drift.collectable
            && drift.is_stale(seconds, self.clock.now())
        {
            let when = drift.last_observed.map_or_else(
                || "never observed".to_owned(),
                |at| format!("last observed {at}"),
            );
            match rules.stale_observation {
                DriftEnforcement::Refuse => {
                    return Err((
                        RefusalCode::StaleObservation,
                        format!(
                            "{} is {when} by praxis itself, longer ago than the policy's {seconds} s, so it is not changed blind; collect from it first (collect {{host: \"{}\"}}) and try again",
                            request.host, request.host
                        ),
                    ));
                }
                DriftEnforcement::Approval => approval = true,
                DriftEnforcement::Allow => {}
            }
        }
        let unrelated: Vec<&Value> = drift
            .open
            .iter()
            .filter(|finding| finding["severity"] == json!("critical"))
            .filter(|finding| !addresses(request, finding, &self.baselines))
            .collect();
        if !unrelated.is_empty() {
            match rules.critical_drift_open {
                DriftEnforcement::Refuse => {
                    let named: Vec<&str> = unrelated
                        .iter()
                        .filter_map(|finding| finding["predicate"].as_str())
                        .take(5)
                        .collect();
                    return Err((
                        RefusalCode::CriticalDriftOpen,
                        format!(
                            "{} has {} open critical drift finding(s) this action does not address ({}); resolve or re-bless them (drift_scan shows them) before changing the host",
                            request.host,
                            unrelated.len(),
                            named.join(", ")
                        ),
                    ));
                }
                DriftEnforcement::Approval => approval = true,
                DriftEnforcement::Allow => {}
            }
        }
        Ok(approval)
    }
}

/// Whether an action addresses a finding: the remediation a baseline declares for it, an
/// ansible run of the playbook whose check found it, or a terraform/OpenTofu run on the host
/// of a plan finding. Anything else is unrelated.
fn addresses(
    request: &ActionRequest,
    finding: &Value,
    baselines: &[crate::drift::baseline::Expectation],
) -> bool {
    let predicate = finding["predicate"].as_str().unwrap_or_default();
    if let Some(rest) = finding["source"]
        .as_str()
        .and_then(|source| source.strip_prefix("baseline:"))
    {
        let (file, id) = rest.split_once('#').unwrap_or((rest, ""));
        return baselines.iter().any(|expectation| {
            expectation.file == file
                && expectation.id == id
                && expectation
                    .remediation
                    .as_ref()
                    .is_some_and(|(adapter, action)| {
                        *adapter == request.adapter && action.trim() == request.action.trim()
                    })
        });
    }
    match request.adapter.as_str() {
        "ansible" => crate::drift::imports::ansible_prefix(&request.action)
            .is_ok_and(|prefix| predicate.starts_with(&prefix)),
        "terraform" | "opentofu" => predicate.starts_with("terraform:"),
        _ => false,
    }
}

impl Actuator {
    /// Writes findings an adapter's dry run computed (a terraform plan, an ansible check) as
    /// drift facts of `subject`, replacing its earlier findings under `prefix`, with a record of
    /// their own (`drift.import`): the dry run's record describes the run, this one the facts.
    pub(super) fn record_imported(
        &self,
        request_id: Option<&str>,
        subject: &str,
        prefix: &str,
        findings: &[crate::drift::Finding],
        complete: bool,
    ) -> Result<Value, String> {
        let now = self.clock.now();
        let states =
            engine::load(self.audit.store(), Some(subject)).map_err(|error| error.to_string())?;
        let open = states
            .iter()
            .find(|state| state.subject == subject)
            .map(|state| state.drift.clone())
            .unwrap_or_default();
        let owned = |predicate: &str| predicate.starts_with(prefix);
        // A check that could not see everything it owns (unreachable, a failed task) opens and
        // updates findings but closes none.
        let changes = if complete {
            engine::reconcile(subject, findings, &open, owned, now)
        } else {
            engine::reconcile_partial(subject, findings, &open, owned, now)
        };
        let mut draft = self.draft("drift.import", AuditDecision::Allowed);
        draft.request_id = request_id.map(|id| audit::cut(id, super::MAX_NAME_BYTES));
        draft.tier = Some(Tier::T0);
        draft.target = Some(audit::cut(subject, super::MAX_NAME_BYTES));
        draft.args = audit::audit_args(
            &json!({"source": prefix, "opened": changes.opened, "closed": changes.closed}),
        );
        let listed: Vec<Value> = changes
            .open
            .iter()
            .filter(|finding| {
                finding["predicate"]
                    .as_str()
                    .is_some_and(|predicate| predicate.starts_with(prefix))
            })
            .cloned()
            .collect();
        draft.drift_sha256 = Some(engine::digest(&listed));
        let provenance = Provenance {
            actor: "praxis:drift".to_owned(),
            reason: Some(format!(
                "{prefix} dry run in session {} (request {})",
                self.session_id,
                request_id.unwrap_or("-")
            )),
        };
        let (_, _, _, sealed) = self
            .audit
            .store()
            .change_facts_audited(
                &changes.puts,
                &changes.closings,
                &provenance,
                now,
                Durability::Normal,
                |_, _, _, seq, previous| audit::chain::seal(&draft, seq, previous),
            )
            .map_err(|error| format!("the findings could not be stored: {error}"))?;
        Ok(json!({
            "opened": changes.opened,
            "closed": changes.closed,
            "open": listed.len(),
            "audit_seq": sealed.seq,
        }))
    }
}
