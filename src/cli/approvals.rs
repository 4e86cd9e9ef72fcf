//! `praxis approve|deny|pending|approver`: the operator's side of approvals. Approving needs
//! a terminal and the approver key's passphrase, typed there with echo off; nothing a model
//! can send over MCP or write into the database stands in for it.

use std::io::{self, BufWriter, IsTerminal, Write};

use serde_json::{Value, json};

use super::{Failure, load_policy, operator_name};
use crate::approval::key::{self, MIN_PASSPHRASE_CHARS, PublicKey};
use crate::approval::{self, Approval, State};
use crate::audit::{self, AuditDecision, RecordDraft};
use crate::clock::{Clock, SystemClock, Timestamp};
use crate::config::Settings;
use crate::drift::engine;
use crate::policy::{Policy, Tier};
use crate::store::{OpenMode, Store};

fn terminal_only(what: &str) -> Result<(), Failure> {
    if io::stdin().is_terminal() {
        Ok(())
    } else {
        Err(Failure::failed(format!(
            "praxis {what} must be run by an operator in a terminal (stdin is not a terminal); nothing was decided"
        )))
    }
}

/// The configured approver public key.
fn public_key(settings: &Settings) -> Result<PublicKey, Failure> {
    settings
        .approver_key()
        .map_err(Failure::failed)?
        .ok_or_else(|| {
            Failure::failed("no approver key: run `praxis init` in a terminal to create one")
        })
}

/// Creates the approver key during `praxis init`, when there is none and a terminal to ask
/// for its passphrase. Returns a line for init to print.
pub(super) fn init_key(settings: &Settings) -> Result<String, Failure> {
    if let Some(existing) = key::read_public_key(&settings.state_dir).map_err(Failure::failed)? {
        return Ok(format!(
            "approver key: {} (already present)",
            existing.fingerprint()
        ));
    }
    if !io::stdin().is_terminal() {
        return Ok("approver key: none yet; run `praxis init` in a terminal to create one (approvals need it)".into());
    }
    let passphrase = loop {
        let first = key::read_passphrase(&format!(
            "New passphrase for the approver key (at least {MIN_PASSPHRASE_CHARS} characters): "
        ))
        .map_err(|error| Failure::failed(error.to_string()))?;
        if first.chars().count() < MIN_PASSPHRASE_CHARS {
            writeln!(io::stderr(), "too short; try again")?;
            continue;
        }
        let again = key::read_passphrase("The same passphrase again: ")
            .map_err(|error| Failure::failed(error.to_string()))?;
        if again == first {
            break first;
        }
        writeln!(io::stderr(), "the two did not match; try again")?;
    };
    let (file, public) =
        key::generate(&passphrase).map_err(|error| Failure::failed(error.to_string()))?;
    key::write_key_files(&settings.state_dir, &file, &public).map_err(Failure::failed)?;
    Ok(format!(
        "approver key: created {} (public key {}; pin it with approver_public_key in the config)",
        public.fingerprint(),
        public.to_hex()
    ))
}

/// `praxis approver show`.
pub(super) fn show_key(settings: &Settings) -> Result<u8, Failure> {
    let public = public_key(settings)?;
    writeln!(
        io::stdout().lock(),
        "{}\n{}",
        public.fingerprint(),
        public.to_hex()
    )?;
    Ok(0)
}

/// Writes an operator record about approval `approval` (with `error` if it failed).
fn record(
    store: &Store,
    policy: &Policy,
    tool: &str,
    approval: &Approval,
    arguments: &Value,
) -> Result<u64, Failure> {
    let now = SystemClock::default().now();
    let draft = draft(policy, tool, approval, arguments, now);
    Ok(store
        .append_audit(crate::store::Durability::Full, |seq, previous| {
            audit::chain::seal(&draft, seq, previous)
        })?
        .seq)
}

fn draft(
    policy: &Policy,
    tool: &str,
    approval: &Approval,
    arguments: &Value,
    now: Timestamp,
) -> RecordDraft {
    let session_id = crate::entropy::random_id(now);
    let mut draft = RecordDraft::new(now, &session_id, tool, AuditDecision::Approval);
    draft.tier = Some(approval.tier);
    draft.policy_hash = Some(policy.hash());
    draft.target = Some(approval.target.clone());
    draft.approval_id = Some(approval.id.clone());
    draft.args = audit::audit_args(arguments);
    draft
}

/// The approval named, or the only pending one.
fn pick(store: &Store, id: Option<&str>, now: Timestamp) -> Result<Approval, Failure> {
    if let Some(id) = id {
        return store.approval(id)?.ok_or_else(|| {
            Failure::failed(format!(
                "there is no approval {id}; `praxis pending` lists them"
            ))
        });
    }
    let mut waiting: Vec<Approval> = store
        .approvals(Some(State::Pending))?
        .into_iter()
        .filter(|row| row.expires_at > now)
        .collect();
    match waiting.len() {
        1 => Ok(waiting.remove(0)),
        0 => Err(Failure::failed("nothing is waiting for an approval")),
        count => Err(Failure::failed(format!(
            "{count} approvals are waiting; name one (`praxis pending` lists them)"
        ))),
    }
}

/// `text` with control characters shown as escapes, so nothing in an approval can move the
/// cursor or rewrite what the operator reads.
fn shown(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Prints everything an approval binds to, and the target's open drift.
fn describe(settings: &Settings, store: &Store, row: &Approval) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    let binding = &row.binding;
    let field = |name: &str| shown(binding[name].as_str().unwrap_or("?"));
    let targets: Vec<&str> = binding["targets"]
        .as_array()
        .map(|targets| targets.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    writeln!(out, "approval {}", shown(&row.id))?;
    writeln!(out, "  tier        {}", row.tier)?;
    writeln!(out, "  adapter     {}", field("adapter"))?;
    writeln!(
        out,
        "  target      {} ({})",
        shown(&row.target),
        field("host_type")
    )?;
    writeln!(out, "  reaches     {}", shown(&targets.join(", ")))?;
    writeln!(out, "  action      {}", field("action"))?;
    writeln!(out, "  runs        {}", shown(&binding["argv"].to_string()))?;
    writeln!(
        out,
        "  rules       {}",
        shown(&binding["rule_ids"].to_string())
    )?;
    if let Some(plan) = binding["plan_sha256"].as_str() {
        writeln!(out, "  plan        sha256 {}", shown(plan))?;
    }
    writeln!(
        out,
        "  asked by    session {}: {}",
        shown(&row.session_id),
        shown(&row.reason)
    )?;
    writeln!(
        out,
        "  asked at    {}; expires {}",
        row.created_at, row.expires_at
    )?;
    let baselines = settings.load_baselines().unwrap_or_default();
    let subject = crate::fleet::import::host_subject(&row.target);
    let open = engine::load(store, Some(&subject))?
        .into_iter()
        .find(|state| state.subject == subject)
        .map(|state| engine::reconcile_state(&state, &baselines, SystemClock::default().now()).open)
        .unwrap_or_default();
    if open.is_empty() {
        writeln!(out, "  drift       none open")?;
    } else {
        writeln!(out, "  drift       {} open finding(s):", open.len())?;
        for finding in open.iter().take(10) {
            writeln!(
                out,
                "                {} {} {}",
                finding["severity"].as_str().unwrap_or("?"),
                finding["kind"].as_str().unwrap_or("?"),
                shown(finding["predicate"].as_str().unwrap_or("?"))
            )?;
        }
    }
    out.flush()?;
    Ok(())
}

/// `praxis approve [ID]`.
#[expect(
    clippy::too_many_lines,
    reason = "every check an approval passes, in order"
)]
pub(super) fn approve(settings: &Settings, id: Option<&str>) -> Result<u8, Failure> {
    terminal_only("approve")?;
    let policy = load_policy(settings)?;
    let store = Store::open(&settings.database, OpenMode::MustExist)?;
    let clock = SystemClock::default();
    let row = pick(&store, id, clock.now())?;
    if row.state != State::Pending {
        return Err(Failure::failed(format!(
            "approval {} is {}, not pending; nothing was decided",
            row.id,
            row.state.as_str()
        )));
    }
    if row.expires_at <= clock.now() {
        return Err(Failure::failed(format!(
            "approval {} expired at {}; the model must preview again",
            row.id, row.expires_at
        )));
    }
    if row.binding["policy_hash"] != json!(policy.hash().to_hex()) {
        return Err(Failure::failed(format!(
            "the policy changed since approval {} was asked for, so it is void; the model must preview the action again",
            row.id
        )));
    }
    // Only the binding's digest is signed: what is shown must be what hashes to it, and the
    // tier and target come from the binding, not from the row's other columns.
    let shown =
        crate::digest::Digest::of(audit::canonical::to_canonical_string(&row.binding).as_bytes());
    let binding_tier = row.binding["tier"].as_str().and_then(Tier::from_name);
    let binding_host = row.binding["host"].as_str();
    if shown.to_hex() != row.binding_sha256
        || binding_tier != Some(row.tier)
        || binding_host != Some(row.target.as_str())
    {
        record(
            &store,
            &policy,
            "cli.approve",
            &row,
            &json!({"operator": operator_name(), "error": "binding does not match its digest"}),
        )?;
        return Err(Failure::failed(format!(
            "approval {} is not what it claims to be (its binding does not hash to the digest it would sign, or its tier or target differ); it was not created by praxis, and nothing was approved",
            row.id
        )));
    }
    let ttl = i64::try_from(settings.approval_ttl_seconds.saturating_mul(1_000_000_000))
        .unwrap_or(i64::MAX);
    if row.expires_at.unix_nanos() > row.created_at.unix_nanos().saturating_add(ttl)
        || row.created_at > clock.now()
    {
        record(
            &store,
            &policy,
            "cli.approve",
            &row,
            &json!({"operator": operator_name(), "error": "expiry beyond approval_ttl_seconds"}),
        )?;
        return Err(Failure::failed(format!(
            "approval {} would live longer than approval_ttl_seconds allows; it was not created by praxis, and nothing was approved",
            row.id
        )));
    }
    let targets = row.binding["targets"].as_array().map_or(0, Vec::len);
    if row.tier == Tier::T3 && targets != 1 {
        return Err(Failure::failed(format!(
            "approval {} is for an irreversible action that reaches {targets} targets; an irreversible action is approved for exactly one",
            row.id
        )));
    }
    describe(settings, &store, &row)?;
    let public = public_key(settings)?;
    let file = key::read_key_file(&settings.state_dir).map_err(Failure::failed)?;
    let passphrase = key::read_passphrase("Passphrase for the approver key: ")
        .map_err(|error| Failure::failed(error.to_string()))?;
    let signer = match key::unlock(&file, &passphrase) {
        Ok(signer) => signer,
        Err(error) => {
            record(
                &store,
                &policy,
                "cli.approve",
                &row,
                &json!({"operator": operator_name(), "error": "wrong passphrase"}),
            )?;
            return Err(Failure::failed(format!(
                "{error}; approval {} stays pending",
                row.id
            )));
        }
    };
    drop(passphrase);
    if signer.public_key() != public {
        record(
            &store,
            &policy,
            "cli.approve",
            &row,
            &json!({"operator": operator_name(), "error": "key on disk is not the configured key"}),
        )?;
        return Err(Failure::failed(
            "the approver key on disk is not the configured approver_public_key; nothing was approved",
        ));
    }
    if row.tier == Tier::T3 {
        let typed = key::read_confirmation(&format!(
            "This is irreversible. Type the target's name ({}) to approve: ",
            row.target
        ))
        .map_err(|error| Failure::failed(error.to_string()))?;
        if typed != row.target {
            record(
                &store,
                &policy,
                "cli.approve",
                &row,
                &json!({"operator": operator_name(), "error": "target name not confirmed"}),
            )?;
            return Err(Failure::failed(format!(
                "that is not {}; approval {} stays pending",
                row.target, row.id
            )));
        }
    }
    let now = clock.now();
    let approver = operator_name();
    let signature = signer.sign(&approval::signed_message(
        &row.id,
        &row.binding_sha256,
        &approver,
        now,
        row.expires_at,
    ));
    let decided = Approval {
        state: State::Approved,
        approver: Some(approver.clone()),
        decided_at: Some(now),
        signature: Some(signature),
        ..row.clone()
    };
    let draft = draft(
        &policy,
        "cli.approve",
        &row,
        &json!({"operator": approver, "decision": "approved",
        "binding_sha256": row.binding_sha256, "key": public.fingerprint(), "expires_at": row.expires_at.to_string()}),
        now,
    );
    let seq = decide(
        &store,
        &decided,
        &draft,
        format!("approval {} was decided meanwhile; nothing changed", row.id),
    )?;
    writeln!(
        io::stdout().lock(),
        "approved {}: it can run once, until {}; audit seq {}",
        row.id,
        row.expires_at,
        seq
    )?;
    Ok(0)
}

/// Writes the operator's decision with its record; `conflict` if the approval was no longer
/// pending. Returns the record's sequence number.
fn decide(
    store: &Store,
    decided: &Approval,
    draft: &RecordDraft,
    conflict: String,
) -> Result<u64, Failure> {
    let sealed = store
        .decide_approval(decided, |seq, previous| {
            audit::chain::seal(draft, seq, previous)
        })?
        .ok_or_else(|| Failure::failed(conflict))?;
    Ok(sealed.seq)
}

/// `praxis deny ID --reason R`.
pub(super) fn deny(settings: &Settings, id: &str, reason: &str) -> Result<u8, Failure> {
    terminal_only("deny")?;
    if reason.trim().is_empty() {
        return Err(Failure::usage(
            "--reason must not be empty: the model is told why",
        ));
    }
    let policy = load_policy(settings)?;
    let store = Store::open(&settings.database, OpenMode::MustExist)?;
    let clock = SystemClock::default();
    let row = pick(&store, Some(id), clock.now())?;
    let now = clock.now();
    let decided = Approval {
        state: State::Denied,
        approver: Some(operator_name()),
        decided_at: Some(now),
        deny_reason: Some(audit::cut(reason, 500)),
        ..row.clone()
    };
    let draft = draft(
        &policy,
        "cli.deny",
        &row,
        &json!({"operator": operator_name(), "decision": "denied", "reason": reason}),
        now,
    );
    let seq = decide(
        &store,
        &decided,
        &draft,
        format!(
            "approval {id} is {}, not pending; nothing changed",
            row.state.as_str()
        ),
    )?;
    writeln!(io::stdout().lock(), "denied {id}; audit seq {seq}")?;
    Ok(0)
}

/// `praxis pending [--json] [--watch]`.
pub(super) fn pending(settings: &Settings, as_json: bool, watch: bool) -> Result<u8, Failure> {
    let store = Store::open(&settings.database, OpenMode::ReadOnly)?;
    let waiting = |store: &Store| -> Result<Vec<Approval>, Failure> {
        let now = SystemClock::default().now();
        Ok(store
            .approvals(Some(State::Pending))?
            .into_iter()
            .filter(|row| row.expires_at > now)
            .collect())
    };
    if watch {
        // Prints each approval as it starts waiting, until interrupted.
        let mut seen = std::collections::BTreeSet::new();
        writeln!(io::stderr(), "watching for approvals (Ctrl-C stops)")?;
        loop {
            let fresh: Vec<Approval> = waiting(&store)?
                .into_iter()
                .filter(|row| seen.insert(row.id.clone()))
                .collect();
            print_pending(&fresh, as_json)?;
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }
    let rows = waiting(&store)?;
    if rows.is_empty() && !as_json {
        writeln!(io::stdout().lock(), "nothing is waiting for an approval")?;
    }
    print_pending(&rows, as_json)?;
    Ok(0)
}

fn print_pending(waiting: &[Approval], as_json: bool) -> Result<(), Failure> {
    let mut out = BufWriter::new(io::stdout().lock());
    for row in waiting {
        if as_json {
            writeln!(
                out,
                "{}",
                json!({"approval_id": row.id, "tier": row.tier.as_str(), "target": row.target,
                "binding": row.binding, "reason": row.reason, "created_at": row.created_at.to_string(),
                "expires_at": row.expires_at.to_string()})
            )?;
        } else {
            writeln!(
                out,
                "{}\t{}\t{}\t{}\texpires {}",
                shown(&row.id),
                row.tier,
                shown(&row.target),
                shown(row.binding["action"].as_str().unwrap_or("?")),
                row.expires_at
            )?;
        }
    }
    out.flush()?;
    Ok(())
}
