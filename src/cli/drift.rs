//! `praxis drift ...`: the operator's side of the drift engine. Every command that changes the
//! fleet graph writes its facts and its audit record in one transaction.

use std::collections::BTreeMap;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::Path;

use serde_json::{Value, json};

use super::{Failure, load_policy, operator_name, print_versions};
use crate::actuator::action;
use crate::actuator::request::ActionRequest;
use crate::audit::{self, AuditDecision, RecordDraft};
use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::drift::baseline::Expectation;
use crate::drift::engine::{self, Changes, FactWrite, SubjectState};
use crate::drift::imports;
use crate::fleet::{FactKey, FactType, FactVersion, Provenance};
use crate::policy::{Policy, Tier};
use crate::store::facts::{NewFact, PutOutcome};
use crate::store::{Durability, OpenMode, Store};

/// The largest plan or report file an import reads.
const MAX_IMPORT_BYTES: u64 = 64 * 1024 * 1024;

fn load_baselines(settings: &Settings) -> Result<Vec<Expectation>, Failure> {
    settings.load_baselines().map_err(|problems| {
        Failure::usage(format!(
            "the baseline files are not valid (praxis policy check shows every problem): {}",
            problems.join("; ")
        ))
    })
}

/// Writes `puts` and `closings` with one operator record of `tool`, in one transaction.
fn write_audited(
    store: &Store,
    policy: &Policy,
    settings: &Settings,
    (tool, arguments): (&str, &Value),
    write: &FactWrite<'_>,
) -> Result<(Vec<PutOutcome>, usize, u64), Failure> {
    let now = write.now;
    let session_id = crate::entropy::random_id(now);
    let mut draft = RecordDraft::new(now, &session_id, tool, AuditDecision::Operator);
    draft.tier = Some(Tier::T0);
    draft.policy_hash = Some(policy.hash());
    draft.target = Some(settings.state_dir.display().to_string());
    draft.args = audit::audit_args(arguments);
    let (outcomes, closed, _, sealed) = store
        .change_facts_audited(
            write.puts,
            write.closings,
            &write.provenance,
            now,
            Durability::Full,
            |_, _, _, seq, previous| audit::chain::seal(&draft, seq, previous),
        )
        .map_err(|error| Failure::failed(format!("nothing was written: {error}")))?;
    Ok((outcomes, closed, sealed.seq))
}

fn state_of(store: &Store, subject: &str) -> Result<SubjectState, Failure> {
    Ok(engine::load(store, Some(subject))?
        .into_iter()
        .find(|state| state.subject == subject)
        .unwrap_or_default())
}

/// `praxis drift bless SUBJECT [--predicates] [--reason]`.
#[expect(
    clippy::too_many_lines,
    reason = "one transaction's worth of steps, in order"
)]
pub(super) fn bless(
    settings: &Settings,
    subject: &str,
    predicates: &[String],
    reason: Option<&str>,
) -> Result<u8, Failure> {
    if !io::stdin().is_terminal() {
        return Err(Failure::failed(
            "praxis drift bless must be run by an operator in a terminal (stdin is not a terminal); nothing was blessed",
        ));
    }
    let policy = load_policy(settings)?;
    let baselines = load_baselines(settings)?;
    let store = Store::open(&settings.database, OpenMode::MustExist)?;
    let state = state_of(&store, subject)?;
    // praxis's own sightings and imported findings' namespaces are never desired state.
    let wanted = |predicate: &str| {
        !predicate.starts_with("praxis:")
            && !engine::is_imported(predicate)
            && (predicates.is_empty() || predicates.iter().any(|name| name == predicate))
    };
    let observed: Vec<&engine::Held> = state
        .observed
        .iter()
        .filter(|version| wanted(&version.predicate))
        .collect();
    if observed.is_empty() {
        return Err(Failure::failed(format!(
            "{subject} has no observed facts{} to bless; collect them first",
            if predicates.is_empty() {
                ""
            } else {
                " with those predicates"
            }
        )));
    }
    let now = SystemClock::default().now();
    let mut puts: Vec<NewFact> = observed
        .iter()
        .map(|version| NewFact {
            key: FactKey {
                subject: subject.to_owned(),
                predicate: version.predicate.clone(),
                fact_type: FactType::KnownGood,
            },
            value: version.value.clone(),
            valid_from: now,
        })
        .collect();
    let blessed: std::collections::BTreeSet<&str> = observed
        .iter()
        .map(|version| version.predicate.as_str())
        .collect();
    // Without --predicates the baseline becomes exactly what is observed now.
    let mut closings: Vec<FactKey> = if predicates.is_empty() {
        state
            .known_good
            .iter()
            .filter(|version| !blessed.contains(version.predicate.as_str()))
            .map(|version| FactKey {
                subject: subject.to_owned(),
                predicate: version.predicate.clone(),
                fact_type: FactType::KnownGood,
            })
            .collect()
    } else {
        Vec::new()
    };
    // The findings the new baseline opens and closes are written with it.
    let mut next = state.clone();
    next.known_good.retain(|version| {
        !blessed.contains(version.predicate.as_str())
            && !closings
                .iter()
                .any(|key| key.predicate == version.predicate)
    });
    next.known_good
        .extend(observed.iter().map(|version| (*version).clone()));
    let drift = engine::reconcile_state(&next, &baselines, now);
    let (known_good_count, retracting) = (puts.len(), closings.len());
    puts.extend(drift.puts.iter().cloned());
    closings.extend(drift.closings.iter().cloned());
    let provenance = Provenance {
        actor: operator_name(),
        reason: Some(format!(
            "praxis drift bless{}",
            reason
                .map(|reason| format!(": {reason}"))
                .unwrap_or_default()
        )),
    };
    let arguments = json!({"operator": provenance.actor, "subject": subject, "predicates": blessed,
        "retracted": retracting, "reason": reason,
        "drift": {"opened": drift.opened, "closed": drift.closed, "open": drift.open.len()}});
    let (outcomes, _, seq) = write_audited(
        &store,
        &policy,
        settings,
        ("cli.drift-bless", &arguments),
        &FactWrite {
            puts: &puts,
            closings: &closings,
            provenance: provenance.clone(),
            now,
        },
    )?;
    let changed = outcomes[..known_good_count]
        .iter()
        .filter(|outcome| **outcome != PutOutcome::Unchanged)
        .count();
    writeln!(
        io::stdout().lock(),
        "blessed {known_good_count} facts of {subject} as known-good ({changed} new or changed, {retracting} no longer in the baseline); {} drift finding(s) open; audit seq {seq}",
        drift.open.len()
    )?;
    Ok(0)
}

/// `praxis drift show SUBJECT`: the known-good baseline and its history, then the open findings.
pub(super) fn show(settings: &Settings, subject: &str, as_json: bool) -> Result<u8, Failure> {
    let store = Store::open(&settings.database, OpenMode::ReadOnly)?;
    let history: Vec<FactVersion> = store
        .fact_history(subject, None)?
        .into_iter()
        .filter(|version| version.key.fact_type == FactType::KnownGood)
        .collect();
    if history.is_empty() {
        writeln!(
            io::stdout().lock(),
            "{subject} has no known-good baseline; `praxis drift bless {subject}` makes one"
        )?;
        return Ok(0);
    }
    print_versions(&history, as_json)?;
    Ok(0)
}

/// Prints findings as a table or JSON lines.
fn print_findings(findings: &[Value], as_json: bool) -> Result<(), Failure> {
    let mut out = BufWriter::new(io::stdout().lock());
    for finding in findings {
        if as_json {
            writeln!(out, "{finding}")?;
        } else {
            writeln!(
                out,
                "{}\t{}\t{}\t{}\tsince {}\tdesired {}\tobserved {}",
                finding["severity"].as_str().unwrap_or("?"),
                finding["kind"].as_str().unwrap_or("?"),
                finding["subject"].as_str().unwrap_or("?"),
                finding["predicate"].as_str().unwrap_or("?"),
                finding["since"].as_str().unwrap_or("?"),
                audit::cut(&finding["desired"].to_string(), 120),
                audit::cut(&finding["observed"].to_string(), 120),
            )?;
        }
    }
    out.flush()?;
    Ok(())
}

/// `praxis drift scan [SUBJECT]`: what `drift_scan` does, from a terminal.
pub(super) fn scan(
    settings: &Settings,
    subject: Option<&str>,
    as_json: bool,
) -> Result<u8, Failure> {
    let policy = load_policy(settings)?;
    let baselines = load_baselines(settings)?;
    let store = Store::open(&settings.database, OpenMode::MustExist)?;
    let now = SystemClock::default().now();
    let (all, _) = engine::reconcile_all(&engine::load(&store, subject)?, &baselines, now);
    let provenance = Provenance {
        actor: operator_name(),
        reason: Some("praxis drift scan".to_owned()),
    };
    let arguments = json!({"operator": provenance.actor, "subject": subject, "opened": all.opened,
        "closed": all.closed, "open": all.open.len(), "digest": engine::digest(&all.open).to_hex()});
    let (_, _, seq) = write_audited(
        &store,
        &policy,
        settings,
        ("cli.drift-scan", &arguments),
        &FactWrite {
            puts: &all.puts,
            closings: &all.closings,
            provenance: provenance.clone(),
            now,
        },
    )?;
    print_findings(&all.open, as_json)?;
    if !as_json {
        writeln!(
            io::stdout().lock(),
            "{} open, {} opened, {} closed; audit seq {seq}",
            all.open.len(),
            all.opened.len(),
            all.closed.len()
        )?;
    }
    Ok(if all.open.is_empty() { 0 } else { 3 })
}

fn read_bounded(file: &Path) -> Result<String, Failure> {
    let metadata = std::fs::metadata(file)
        .map_err(|error| Failure::failed(format!("cannot read {}: {error}", file.display())))?;
    if metadata.len() > MAX_IMPORT_BYTES {
        return Err(Failure::failed(format!(
            "{} is {} bytes, over the {MAX_IMPORT_BYTES}-byte limit; nothing was imported",
            file.display(),
            metadata.len()
        )));
    }
    std::fs::read_to_string(file)
        .map_err(|error| Failure::failed(format!("cannot read {}: {error}", file.display())))
}

/// Reconciles imported findings per subject (only predicates under `prefix`) and writes them
/// with one record.
fn import_findings(
    settings: &Settings,
    tool: &str,
    (source, digest): (&Path, crate::digest::Digest),
    prefix: &str,
    by_subject: &BTreeMap<String, (Vec<crate::drift::Finding>, bool)>,
) -> Result<u8, Failure> {
    let policy = load_policy(settings)?;
    let store = Store::open(&settings.database, OpenMode::MustExist)?;
    let now = SystemClock::default().now();
    let mut all = Changes::default();
    let owned = |predicate: &str| predicate.starts_with(prefix);
    for (subject, (findings, complete)) in by_subject {
        let state = state_of(&store, subject)?;
        // A subject the source could not see completely opens and updates, and closes nothing.
        let mut changes = if *complete {
            engine::reconcile(subject, findings, &state.drift, owned, now)
        } else {
            engine::reconcile_partial(subject, findings, &state.drift, owned, now)
        };
        changes
            .open
            .retain(|finding| finding["predicate"].as_str().is_some_and(owned));
        all.merge(subject, changes);
    }
    let provenance = Provenance {
        actor: operator_name(),
        reason: Some(format!(
            "{tool} {} (sha256 {})",
            source.display(),
            digest.to_hex()
        )),
    };
    let arguments = json!({"operator": provenance.actor, "file": source.display().to_string(),
        "sha256": digest.to_hex(), "subjects": by_subject.keys().collect::<Vec<_>>(),
        "opened": all.opened, "closed": all.closed, "open": all.open.len()});
    let (_, _, seq) = write_audited(
        &store,
        &policy,
        settings,
        (tool, &arguments),
        &FactWrite {
            puts: &all.puts,
            closings: &all.closings,
            provenance: provenance.clone(),
            now,
        },
    )?;
    print_findings(&all.open, false)?;
    writeln!(
        io::stdout().lock(),
        "imported {} finding(s) for {} subject(s): {} opened, {} closed; audit seq {seq}",
        all.open.len(),
        by_subject.len(),
        all.opened.len(),
        all.closed.len()
    )?;
    Ok(0)
}

/// `praxis drift import-plan FILE --subject SUBJECT`.
pub(super) fn import_plan(settings: &Settings, file: &Path, subject: &str) -> Result<u8, Failure> {
    let text = read_bounded(file)?;
    let plan: Value = serde_json::from_str(&text).map_err(|error| {
        Failure::failed(format!(
            "{} is not JSON ({error}); nothing was imported",
            file.display()
        ))
    })?;
    let findings = imports::terraform_plan(subject, &plan).map_err(|error| {
        Failure::failed(format!("{}: {error}; nothing was imported", file.display()))
    })?;
    let by_subject = BTreeMap::from([(subject.to_owned(), (findings, true))]);
    let digest = crate::digest::Digest::of(text.as_bytes());
    import_findings(
        settings,
        "cli.drift-import-plan",
        (file, digest),
        "terraform:",
        &by_subject,
    )
}

/// `praxis drift import-ansible FILE --playbook PATH`.
pub(super) fn import_ansible(
    settings: &Settings,
    file: &Path,
    playbook: &str,
) -> Result<u8, Failure> {
    let text = read_bounded(file)?;
    let report = crate::adapters::ansible::parse_report(&text).ok_or_else(|| {
        Failure::failed(format!(
            "{} holds no praxis ansible report (the praxis_json callback's line with \"praxis_ansible\": 1); nothing was imported",
            file.display()
        ))
    })?;
    let prefix = imports::ansible_prefix(playbook).map_err(Failure::usage)?;
    let by_host = imports::ansible_check(playbook, &report).map_err(|error| {
        Failure::failed(format!("{}: {error}; nothing was imported", file.display()))
    })?;
    let complete = imports::ansible_complete_hosts(&report);
    let by_subject: BTreeMap<String, (Vec<crate::drift::Finding>, bool)> = by_host
        .into_iter()
        .map(|(host, findings)| {
            let whole = complete.contains(&host);
            (crate::fleet::import::host_subject(&host), (findings, whole))
        })
        .collect();
    let digest = crate::digest::Digest::of(text.as_bytes());
    import_findings(
        settings,
        "cli.drift-import-ansible",
        (file, digest),
        &prefix,
        &by_subject,
    )
}

/// `praxis drift plan SUBJECT`: proposals that would converge the open findings, each
/// classified by the policy in force. Nothing runs: every proposal goes through `run_action`,
/// its tier and its approval like any other action.
pub(super) fn plan(settings: &Settings, subject: &str, as_json: bool) -> Result<u8, Failure> {
    let policy = load_policy(settings)?;
    let baselines = load_baselines(settings)?;
    let store = Store::open(&settings.database, OpenMode::ReadOnly)?;
    let state = state_of(&store, subject)?;
    let open = engine::reconcile_state(&state, &baselines, SystemClock::default().now()).open;
    let host = subject.strip_prefix("host:").unwrap_or(subject);
    let proposals = engine::proposals(host, &open, &baselines);
    let mut out = BufWriter::new(io::stdout().lock());
    if open.is_empty() {
        writeln!(
            out,
            "{subject} has no open drift findings; nothing to converge"
        )?;
        return Ok(0);
    }
    for proposal in &proposals {
        let classified = proposal.action.as_ref().map(|(adapter, action)| {
            let request = ActionRequest {
                adapter: adapter.clone(),
                host: host.to_owned(),
                action: action.clone(),
                dry_run: true,
                host_type: None,
                approval_id: None,
                wait_for_approval_s: 0,
            };
            let assessment = action::assess(&store, &policy, settings, &request);
            action::assessment_json(&assessment, true)
        });
        if as_json {
            writeln!(
                out,
                "{}",
                json!({"findings": proposal.findings, "proposal": proposal.describe(), "action": proposal.action.as_ref().map(|(adapter, action)| json!({"adapter": adapter, "host": host, "action": action})), "classification": classified})
            )?;
        } else {
            writeln!(out, "{}", proposal.describe())?;
            writeln!(out, "  findings: {}", proposal.findings.join(", "))?;
            if let (Some((adapter, action)), Some(classified)) = (&proposal.action, &classified) {
                writeln!(
                    out,
                    "  run_action {{adapter: {adapter}, host: {host}, action: {action:?}}} → {} ({}); preview it with dry_run=true",
                    classified["tier"].as_str().unwrap_or("?"),
                    if classified["approval_required"] == json!(true) {
                        "needs an operator's approval"
                    } else {
                        "no approval needed"
                    }
                )?;
            }
        }
    }
    out.flush()?;
    Ok(0)
}
