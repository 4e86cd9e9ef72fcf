//! The command line: clap definitions and the commands they run.
//!
//! Exit codes: 0 ok; 1 a check failed or the command could not do its job (a broken chain,
//! a problem found by `doctor`, an unreadable database); 2 usage or configuration errors.
//! Every failure is one line on stderr, `praxis: <what> ...`, never a panic or a backtrace.
//! Outside `serve`, stdout carries the command's report; in `serve` it carries only JSON-RPC.

use std::fs::{self, DirBuilder};
use std::io::{self, BufWriter, IsTerminal, Read, Write};
use std::ops::ControlFlow;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

mod approvals;
mod drift;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::{Value, json};

use crate::actuator::{Actuator, SessionFacts};
use crate::audit::chain::{self, StoredRow};
use crate::audit::{AuditDecision, AuditLog, RecordDraft};
use crate::clock::{Clock, SystemClock, Timestamp};
use crate::config::{Settings, Sources};
use crate::digest::{Digest, Hasher};
use crate::fleet::{FactType, FactVersion};
use crate::killswitch::{KillState, KillSwitch, TripOutcome};
use crate::policy::{Policy, Tier};
use crate::store::facts::FactQuery;
use crate::store::{Durability, OpenMode, Store};
use crate::transport;

/// praxis: let an AI assistant operate a fleet of servers through one tiered, audited actuator.
///
/// An MCP client spawns `praxis serve`; every tool call is classified, gated and recorded in a
/// hash-chained audit trail before anything touches a host. Operators use the other commands.
#[derive(Parser, Debug)]
#[command(name = "praxis", version, about, long_about, propagate_version = true)]
pub struct Cli {
    /// Config file (TOML). Default: `$PRAXIS_CONFIG`, else `$XDG_CONFIG_HOME/praxis/praxis.toml`.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// State directory. Default: `$PRAXIS_STATE_DIR`, else `state_dir` in the config, else
    /// `$XDG_STATE_HOME/praxis`.
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve MCP over stdio (what an MCP client spawns). stdout carries only JSON-RPC;
    /// diagnostics go to stderr (filter with `PRAXIS_LOG` or `RUST_LOG`). Exits 0 when stdin closes
    /// or on SIGTERM, after recording calls in flight as interrupted.
    Serve,
    /// Create the state directory (mode 0700) and the state database (mode 0600).
    Init,
    /// Check the configuration, permissions, database, audit chain, kill switch, adapters and
    /// credentials. Exits 1 if any problem is found.
    Doctor {
        /// Also try one TCP connection to every inventory host (ssh port, Talos apid 50000,
        /// the BMC's checked address); nothing is sent.
        #[arg(long)]
        reach: bool,
    },
    /// Trip the kill switch: every tool call is refused until `praxis resume`.
    Kill {
        /// Why the fleet must stop (recorded in the sentinel and the audit trail).
        #[arg(long)]
        reason: String,
    },
    /// Clear the kill switch. Refuses unless run from a terminal (an operator, not a script).
    Resume {
        /// Why it is safe to resume (recorded in the audit trail).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Verify, show or export the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The trusted inventory: import it, list hosts, show a host now or as of a time.
    #[command(subcommand)]
    Fleet(FleetCommand),
    /// The tier policy: explain how a command is classified, or check a policy directory.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// The named credentials adapters use: list them with their scope, or revoke one.
    #[command(subcommand)]
    Credentials(CredentialsCommand),
    /// Desired state for the drift engine: bless a subject's observed state as known-good, or
    /// show its baseline and history.
    #[command(subcommand)]
    Drift(DriftCommand),
    /// Approve a pending action (an operator, in a terminal, with the approver key's
    /// passphrase). Without ID: the only pending one. Shows everything it binds to first.
    Approve {
        /// The approval id (`praxis pending` lists them).
        id: Option<String>,
    },
    /// Deny a pending action; the reason is returned to the model.
    Deny {
        /// The approval id.
        id: String,
        /// Why (the model is told).
        #[arg(long)]
        reason: String,
    },
    /// The actions waiting for an approval.
    Pending {
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
        /// Keep watching: print each approval as it starts waiting, until interrupted.
        #[arg(long)]
        watch: bool,
    },
    /// The approver key's public half and fingerprint.
    #[command(subcommand)]
    Approver(ApproverCommand),
}

/// `praxis approver ...`.
#[derive(Subcommand, Debug)]
pub enum ApproverCommand {
    /// Print the approver public key's fingerprint and hex (for `approver_public_key`).
    Show,
}

/// `praxis drift ...`.
#[derive(Subcommand, Debug)]
pub enum DriftCommand {
    /// Turn the subject's current observed facts into its known-good baseline (an operator, in a
    /// terminal). Re-blessing supersedes: without --predicates the baseline becomes exactly the
    /// current observed state; with them, only those predicates change. Audited.
    Bless {
        /// The subject, e.g. `host:web-1`.
        subject: String,
        /// Only these predicates (comma-separated).
        #[arg(long, value_delimiter = ',')]
        predicates: Vec<String>,
        /// Why (recorded with the facts and in the audit trail).
        #[arg(long)]
        reason: Option<String>,
    },
    /// The subject's known-good baseline now, and every version of it.
    Show {
        /// The subject, e.g. `host:web-1`.
        subject: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Compare desired with observed state (one subject, or every subject with an inventory
    /// entry, a blessed snapshot or an open finding), open and close findings, and print the
    /// open ones. Audited. Exits 3 when findings are open.
    Scan {
        /// Only this subject, e.g. `host:web-1`.
        subject: Option<String>,
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Turn a terraform/OpenTofu plan (`terraform show -json PLANFILE`) into findings of
    /// SUBJECT; they replace that subject's earlier plan findings. Audited.
    ImportPlan {
        /// The plan JSON.
        file: PathBuf,
        /// The subject the plan's resources belong to, e.g. `host:cloud-1`.
        #[arg(long)]
        subject: String,
    },
    /// Turn an `ansible-playbook --check --diff` report (the `praxis_json` callback's output)
    /// into per-host findings; they replace the hosts' earlier findings of that playbook.
    /// Audited.
    ImportAnsible {
        /// The file holding ansible-playbook's output.
        file: PathBuf,
        /// The playbook the report is of: its path under `ansible_playbook_root`, as
        /// `run_action` names it (findings are keyed `ansible:<playbook>:<task>`).
        #[arg(long)]
        playbook: String,
    },
    /// Propose how to converge the subject's open findings, each proposal classified by the
    /// policy in force. Runs nothing.
    Plan {
        /// The subject, e.g. `host:web-1`.
        subject: String,
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
}

/// `praxis credentials ...`.
#[derive(Subcommand, Debug)]
pub enum CredentialsCommand {
    /// Every credential (the `[credentials.NAME]` tables, and `default-ssh`/`default-talos`
    /// from `ssh_identity_file`/`talosconfig_file`): kind, where its secret lives (never the
    /// secret), its hosts, groups and highest tier, and whether it is revoked.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a credential: every praxis server refuses to use it from its next call on
    /// (`credential-out-of-scope`). Recorded in the audit trail. Lasts until the name is
    /// removed from `<state_dir>/credentials.revoked` by hand.
    Revoke {
        /// The credential's name.
        name: String,
        /// Why (recorded in the audit trail).
        #[arg(long)]
        reason: Option<String>,
    },
}

/// `praxis policy ...`.
#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Classify a command line without running anything: the verdict, every rule that matched
    /// and the part of the line it matched. Exits 0 whatever the verdict.
    Explain {
        /// The command line, as one argument (quote it).
        command: String,
        /// The adapter that would run it: ssh (default), talosctl, terraform, opentofu,
        /// powershell.
        #[arg(long, default_value = "ssh")]
        adapter: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Validate a policy directory (default: the policy in force): unknown keys, duplicate
    /// ids, bad tiers and regexes, each with file and key. Exits 1 on any problem.
    Check {
        /// The directory of `*.toml` policy files.
        directory: Option<PathBuf>,
    },
    /// Run your own classification cases against the policy in force: every `*.toml` file in
    /// DIR holds `[[case]]` tables with `command`, `expect` (T0, T1, T2, T3, deny or
    /// unparseable) and optionally `id`, `adapter` and `why`. Exits 1 if any case differs.
    Test {
        /// The directory of case files.
        directory: PathBuf,
    },
}

/// `praxis fleet ...`.
#[derive(Subcommand, Debug)]
pub enum FleetCommand {
    /// Import an inventory: Ansible INI, YAML, `ansible-inventory --list` JSON, or praxis TOML.
    /// Every host needs a determinable `host_type` (`praxis_host_type`, or membership of a group
    /// named linux, talos, bmc, windows or cloud). Changed hosts are superseded and hosts no
    /// longer listed are retracted, with your OS user as actor and the import as reason.
    /// All or nothing: any problem imports nothing.
    Import {
        /// The inventory file.
        file: PathBuf,
        /// The format (default: from the extension, else from the contents).
        #[arg(long, value_parser = ["ini", "yaml", "json", "toml"])]
        format: Option<String>,
        /// Show what would change without writing anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// List the hosts of the current inventory.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one host's facts: now, or as of a time (valid and known at that time).
    Show {
        /// The host name as in the inventory.
        host: String,
        /// An RFC 3339 UTC time, e.g. 2026-11-21T10:00:00Z.
        #[arg(long, value_name = "TIME")]
        as_of: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Every version of one host's facts, with all four timestamps, actor and reason.
    History {
        /// The host name as in the inventory.
        host: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `praxis audit ...`.
#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Verify the hash chain. Exits 0 if intact, 1 naming the first broken seq and why
    /// (edited, removed, reordered, bad-link, malformed). Opens the database read-only.
    Verify {
        /// Print the verdict as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show recent records, oldest first.
    Show(ShowArgs),
    /// Export the trail for a SIEM or an outside verifier: one canonical record a line, each
    /// with its `entry_hash` (SHA-256 of the line's other fields in canonical JSON).
    Export {
        /// The output format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
        format: ExportFormat,
        /// Write to this file (mode 0600) instead of stdout.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// `praxis audit show` options.
#[derive(Args, Debug)]
pub struct ShowArgs {
    /// How many of the newest records to show.
    #[arg(long, default_value_t = 20)]
    pub tail: u64,
    /// Print each record as its canonical JSON line.
    #[arg(long)]
    pub json: bool,
}

/// Export formats.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum ExportFormat {
    /// One JSON object per line.
    Jsonl,
}

/// A command failure: an exit code and a one-line message.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: 2,
            message: message.into(),
        }
    }

    fn failed(message: impl Into<String>) -> Failure {
        Failure {
            code: 1,
            message: message.into(),
        }
    }
}

impl From<crate::store::StoreError> for Failure {
    fn from(error: crate::store::StoreError) -> Failure {
        Failure::failed(error.to_string())
    }
}

impl From<crate::audit::AuditError> for Failure {
    fn from(error: crate::audit::AuditError) -> Failure {
        Failure::failed(error.to_string())
    }
}

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Failure {
        Failure::failed(error.to_string())
    }
}

/// Sends tracing output to stderr; the filter comes from `PRAXIS_LOG`, else `RUST_LOG`.
pub fn init_tracing(cli: &Cli) {
    let default = match cli.command {
        Command::Serve => "info",
        Command::Init
        | Command::Doctor { .. }
        | Command::Kill { .. }
        | Command::Resume { .. }
        | Command::Audit(_)
        | Command::Fleet(_)
        | Command::Policy(_)
        | Command::Credentials(_)
        | Command::Drift(_)
        | Command::Approve { .. }
        | Command::Deny { .. }
        | Command::Pending { .. }
        | Command::Approver(_) => "warn",
    };
    let requested = std::env::var("PRAXIS_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| default.to_owned());
    let filter = tracing_subscriber::EnvFilter::try_new(&requested)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    drop(
        tracing_subscriber::fmt()
            .with_writer(io::stderr)
            .with_env_filter(filter)
            .with_ansi(io::stderr().is_terminal())
            .try_init(),
    );
}

/// Runs a parsed command line and picks the exit code.
pub fn run(cli: Cli) -> ExitCode {
    match dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            let message = failure.message.replace('\n', " ");
            drop(writeln!(io::stderr(), "praxis: {message}"));
            ExitCode::from(failure.code)
        }
    }
}

fn dispatch(cli: Cli) -> Result<u8, Failure> {
    let sources = Sources::from_process(cli.config, cli.state_dir);
    let settings =
        Settings::resolve(&sources).map_err(|error| Failure::usage(error.to_string()))?;
    match cli.command {
        Command::Serve => serve(settings),
        Command::Init => init(&settings),
        Command::Doctor { reach } => doctor(&settings, reach),
        Command::Kill { reason } => kill(&settings, &reason),
        Command::Resume { reason } => resume(&settings, reason.as_deref()),
        Command::Audit(AuditCommand::Verify { json }) => audit_verify(&settings, json),
        Command::Audit(AuditCommand::Show(arguments)) => audit_show(&settings, &arguments),
        Command::Audit(AuditCommand::Export { format, output }) => {
            audit_export(&settings, format, output.as_deref())
        }
        Command::Fleet(FleetCommand::Import {
            file,
            format,
            dry_run,
        }) => fleet_import(&settings, &file, format.as_deref(), dry_run),
        Command::Fleet(FleetCommand::List { json }) => fleet_list(&settings, json),
        Command::Fleet(FleetCommand::Show { host, as_of, json }) => {
            fleet_show(&settings, &host, as_of.as_deref(), json)
        }
        Command::Fleet(FleetCommand::History { host, json }) => {
            fleet_history(&settings, &host, json)
        }
        Command::Policy(PolicyCommand::Explain {
            command,
            adapter,
            json,
        }) => policy_explain(&settings, &command, &adapter, json),
        Command::Policy(PolicyCommand::Check { directory }) => policy_check(&settings, directory),
        Command::Policy(PolicyCommand::Test { directory }) => policy_test(&settings, &directory),
        Command::Credentials(CredentialsCommand::List { json }) => {
            credentials_list(&settings, json)
        }
        Command::Credentials(CredentialsCommand::Revoke { name, reason }) => {
            credentials_revoke(&settings, &name, reason.as_deref())
        }
        Command::Drift(DriftCommand::Bless {
            subject,
            predicates,
            reason,
        }) => drift::bless(&settings, &subject, &predicates, reason.as_deref()),
        Command::Drift(DriftCommand::Show { subject, json }) => {
            drift::show(&settings, &subject, json)
        }
        Command::Drift(DriftCommand::Scan { subject, json }) => {
            drift::scan(&settings, subject.as_deref(), json)
        }
        Command::Drift(DriftCommand::ImportPlan { file, subject }) => {
            drift::import_plan(&settings, &file, &subject)
        }
        Command::Drift(DriftCommand::ImportAnsible { file, playbook }) => {
            drift::import_ansible(&settings, &file, &playbook)
        }
        Command::Drift(DriftCommand::Plan { subject, json }) => {
            drift::plan(&settings, &subject, json)
        }
        Command::Approve { id } => approvals::approve(&settings, id.as_deref()),
        Command::Deny { id, reason } => approvals::deny(&settings, &id, &reason),
        Command::Pending { json, watch } => approvals::pending(&settings, json, watch),
        Command::Approver(ApproverCommand::Show) => approvals::show_key(&settings),
    }
}

fn credentials_list(settings: &Settings, as_json: bool) -> Result<u8, Failure> {
    let revoked = crate::credentials::revoked(&settings.state_dir).map_err(Failure::failed)?;
    let credentials = crate::credentials::all(settings);
    let mut out = io::stdout().lock();
    if as_json {
        let listed: serde_json::Map<String, Value> = credentials
            .iter()
            .map(|(name, credential)| {
                let mut value = credential.to_json();
                value["revoked"] = json!(revoked.contains(name));
                (name.clone(), value)
            })
            .collect();
        writeln!(out, "{}", Value::Object(listed))?;
        return Ok(0);
    }
    if credentials.is_empty() {
        writeln!(out, "no credentials configured")?;
    }
    for (name, credential) in &credentials {
        writeln!(
            out,
            "{name}\t{}\t{}\thosts {:?} groups {:?} up to {}",
            credential.secret.kind(),
            if revoked.contains(name) {
                "REVOKED"
            } else {
                "active"
            },
            credential.scope.hosts,
            credential.scope.groups,
            credential.scope.max_tier
        )?;
    }
    for name in revoked
        .iter()
        .filter(|name| !credentials.contains_key(*name))
    {
        writeln!(out, "{name}\t-\tREVOKED\t(not in the configuration)")?;
    }
    Ok(0)
}

fn credentials_revoke(
    settings: &Settings,
    name: &str,
    reason: Option<&str>,
) -> Result<u8, Failure> {
    let known = crate::credentials::all(settings).contains_key(name);
    if !known {
        return Err(Failure::usage(format!(
            "there is no credential named {name}; `praxis credentials list` shows them"
        )));
    }
    let policy = load_policy(settings)?;
    let outcome = crate::credentials::revoke(&settings.state_dir, name);
    let store = Store::open(&settings.database, OpenMode::MustExist)?;
    let seq = record_operator_action(
        store,
        settings,
        &policy,
        "cli.credentials-revoke",
        &json!({"operator": operator_name(), "name": name, "reason": reason}),
        outcome.as_ref().err().cloned(),
    )?;
    match outcome {
        Ok(true) => writeln!(
            io::stdout().lock(),
            "credential {name} revoked; every praxis server refuses it from its next call; audit seq {seq}"
        )?,
        Ok(false) => writeln!(
            io::stdout().lock(),
            "credential {name} was already revoked; audit seq {seq}"
        )?,
        Err(error) => return Err(Failure::failed(error)),
    }
    Ok(0)
}

fn load_policy(settings: &Settings) -> Result<Policy, Failure> {
    settings
        .load_policy()
        .map_err(|error| Failure::usage(error.to_string()))
}

fn serve(settings: Settings) -> Result<u8, Failure> {
    let policy = load_policy(&settings)?;
    let baselines = settings.load_baselines().map_err(|problems| {
        Failure::usage(format!(
            "the baseline files are not valid (praxis policy check shows every problem): {}",
            problems.join("; ")
        ))
    })?;
    let store = Store::open(&settings.database, OpenMode::MustExist)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::default());
    let actuator = Arc::new(
        Actuator::new(AuditLog::new(Arc::new(store)), policy, settings, clock)
            .with_baselines(baselines),
    );
    let facts = SessionFacts {
        binary_sha256: running_binary_digest(),
        pid: std::process::id(),
        command: "serve".into(),
    };
    let session_seq = actuator.start_session(&facts).map_err(|error| {
        Failure::failed(format!("refusing to serve without an audit trail: {error}"))
    })?;
    tracing::info!(
        session = actuator.session_id(),
        session_seq,
        mode = actuator.settings().mode.as_str(),
        "praxis serving MCP on stdio"
    );
    // Two workers for the protocol; tool calls run on the blocking pool, which is capped so
    // that a flood of calls cannot multiply threads (each thread costs memory).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(transport::MAX_CONCURRENT_CALLS + 2)
        .enable_all()
        .build()?;
    let counters = Arc::new(transport::GuardCounters::default());
    let stop = runtime.block_on(transport::serve(
        actuator,
        tokio::io::BufReader::with_capacity(64 * 1024, tokio::io::stdin()),
        tokio::io::stdout(),
        counters,
    ))?;
    tracing::info!(reason = stop.as_str(), "praxis stopped");
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    Ok(0)
}

/// SHA-256 of the running executable, for the session record.
fn running_binary_digest() -> Option<Digest> {
    let path = std::env::current_exe().ok()?;
    let mut file = fs::File::open(path).ok()?;
    let mut hasher = Hasher::default();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let read = file.read(&mut buffer).ok()?;
        if read == 0 {
            return Some(hasher.finish());
        }
        hasher.update(&buffer[..read]);
    }
}

fn current_uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn operator_name() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| {
            current_uid().map_or_else(|| "unknown".into(), |uid| format!("uid {uid}"))
        })
}

/// Appends an operator record for a command-line action.
fn record_operator_action(
    store: Store,
    settings: &Settings,
    policy: &Policy,
    tool: &str,
    arguments: &Value,
    error: Option<String>,
) -> Result<u64, Failure> {
    let clock = SystemClock::default();
    let session_id = crate::entropy::random_id(clock.now());
    let mut draft = RecordDraft::new(clock.now(), &session_id, tool, AuditDecision::Operator);
    draft.tier = Some(Tier::T0);
    draft.policy_hash = Some(policy.hash());
    draft.target = Some(settings.state_dir.display().to_string());
    draft.args = crate::audit::audit_args(arguments);
    draft.error = error;
    let log = AuditLog::new(Arc::new(store));
    Ok(log.append(&draft, Durability::Full)?.seq)
}

fn init(settings: &Settings) -> Result<u8, Failure> {
    let policy = load_policy(settings)?;
    let directory = &settings.state_dir;
    if directory.exists() {
        let metadata = fs::metadata(directory)?;
        if !metadata.is_dir() {
            return Err(Failure::failed(format!(
                "{} exists and is not a directory",
                directory.display()
            )));
        }
        if metadata.permissions().mode() & 0o077 != 0 {
            fs::set_permissions(directory, fs::Permissions::from_mode(0o700)).map_err(|error| {
                Failure::failed(format!(
                    "cannot set mode 0700 on {}: {error}",
                    directory.display()
                ))
            })?;
        }
    } else {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(directory)
            .map_err(|error| {
                Failure::failed(format!(
                    "cannot create the state directory {}: {error}",
                    directory.display()
                ))
            })?;
    }
    let created = !settings.database.exists();
    let store = Store::open(&settings.database, OpenMode::CreateIfMissing)?;
    let key_line = approvals::init_key(settings)?;
    let seq = record_operator_action(
        store,
        settings,
        &policy,
        "cli.init",
        &json!({"operator": operator_name(), "created_database": created}),
        None,
    )?;
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "praxis state directory: {} (mode 0700)",
        directory.display()
    )?;
    writeln!(
        out,
        "state database: {} (mode 0600, {})",
        settings.database.display(),
        if created {
            "created"
        } else {
            "already present"
        }
    )?;
    writeln!(
        out,
        "kill switch sentinel: {}",
        settings.kill_switch_path.display()
    )?;
    writeln!(out, "policy hash: {}", policy.hash())?;
    writeln!(out, "{key_line}")?;
    writeln!(out, "audit record: seq {seq}")?;
    writeln!(
        out,
        "next: point your MCP client at `praxis serve` (see README), then `praxis doctor`"
    )?;
    Ok(0)
}

fn kill(settings: &Settings, reason: &str) -> Result<u8, Failure> {
    if reason.trim().is_empty() {
        return Err(Failure::usage("--reason must not be empty"));
    }
    let policy = load_policy(settings)?;
    let switch = KillSwitch::new(settings.kill_switch_path.clone());
    let clock = SystemClock::default();
    let redacted = crate::audit::redact::redact_text(reason).into_owned();
    let outcome = switch.trip(clock.now(), &redacted);
    let error = match &outcome {
        TripOutcome::Durable => None,
        TripOutcome::InMemoryOnly { error } => Some(format!("sentinel-unwritable: {error}")),
    };
    let store = Store::open(&settings.database, OpenMode::MustExist)?;
    let seq = record_operator_action(
        store,
        settings,
        &policy,
        "cli.kill",
        &json!({"operator": operator_name(), "reason": reason}),
        error.clone(),
    )?;
    if let Some(error) = error {
        return Err(Failure::failed(format!(
            "the kill switch could not be written to {} ({error}); nothing was stopped",
            settings.kill_switch_path.display()
        )));
    }
    writeln!(
        io::stdout().lock(),
        "kill switch engaged ({}); every tool call is refused until `praxis resume`; audit seq {seq}",
        settings.kill_switch_path.display()
    )?;
    Ok(0)
}

fn resume(settings: &Settings, reason: Option<&str>) -> Result<u8, Failure> {
    if !io::stdin().is_terminal() {
        return Err(Failure::failed(
            "praxis resume must be run by an operator in a terminal (stdin is not a terminal); nothing was changed",
        ));
    }
    let policy = load_policy(settings)?;
    let switch = KillSwitch::new(settings.kill_switch_path.clone());
    let previous = switch.state();
    let KillState::Engaged { detail } = previous else {
        writeln!(
            io::stdout().lock(),
            "the kill switch is not engaged; nothing to do"
        )?;
        return Ok(0);
    };
    let store = Store::open(&settings.database, OpenMode::MustExist)?;
    switch.clear().map_err(|error| {
        Failure::failed(format!(
            "cannot remove the sentinel {}: {error}",
            settings.kill_switch_path.display()
        ))
    })?;
    let seq = record_operator_action(
        store,
        settings,
        &policy,
        "cli.resume",
        &json!({"operator": operator_name(), "reason": reason, "was": detail}),
        None,
    )?;
    writeln!(
        io::stdout().lock(),
        "kill switch cleared (was: {detail}); audit seq {seq}"
    )?;
    Ok(0)
}

fn audit_verify(settings: &Settings, as_json: bool) -> Result<u8, Failure> {
    let store = Store::open(&settings.database, OpenMode::ReadOnly)?;
    let verdict = AuditLog::new(Arc::new(store)).verify()?;
    let mut out = io::stdout().lock();
    match verdict {
        Ok(head) => {
            if as_json {
                writeln!(
                    out,
                    "{}",
                    json!({"ok": true, "count": head.count, "head_hash": head.entry_hash.to_hex(), "first_break": null})
                )?;
            } else {
                writeln!(
                    out,
                    "audit chain ok: {} records verified, head {}",
                    head.count, head.entry_hash
                )?;
            }
            Ok(0)
        }
        Err(chain_break) => {
            if as_json {
                writeln!(
                    out,
                    "{}",
                    json!({"ok": false, "count": chain_break.seq, "head_hash": null, "first_break": {"seq": chain_break.seq, "reason": chain_break.kind.as_str(), "detail": chain_break.detail}})
                )?;
            } else {
                writeln!(out, "{chain_break}")?;
            }
            Ok(1)
        }
    }
}

fn audit_show(settings: &Settings, arguments: &ShowArgs) -> Result<u8, Failure> {
    let store = Store::open(&settings.database, OpenMode::ReadOnly)?;
    let rows = store.audit_tail(arguments.tail)?;
    let mut out = BufWriter::new(io::stdout().lock());
    for row in &rows {
        if arguments.json {
            writeln!(out, "{}", export_or_raw(row))?;
            continue;
        }
        let body: Value = serde_json::from_str(&row.body).unwrap_or(Value::Null);
        let field = |name: &str| {
            body.get(name)
                .and_then(Value::as_str)
                .unwrap_or("-")
                .to_owned()
        };
        writeln!(
            out,
            "{:>6}  {}  {:<11}  {:<3}  {:<16}  {}",
            row.seq,
            field("ts"),
            field("decision"),
            field("tier"),
            field("tool"),
            body.get("error").and_then(Value::as_str).unwrap_or("")
        )?;
    }
    out.flush()?;
    Ok(0)
}

fn export_or_raw(row: &StoredRow) -> String {
    chain::export_line(row).unwrap_or_else(|_| {
        json!({"seq": row.seq, "entry_hash": row.entry_hash, "unparsable_body": row.body})
            .to_string()
    })
}

fn audit_export(
    settings: &Settings,
    format: ExportFormat,
    output: Option<&Path>,
) -> Result<u8, Failure> {
    let ExportFormat::Jsonl = format;
    let store = Store::open(&settings.database, OpenMode::ReadOnly)?;
    let sink: Box<dyn Write> = match output {
        Some(path) => {
            use std::os::unix::fs::OpenOptionsExt;
            Box::new(
                fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(|error| {
                        Failure::failed(format!("cannot write {}: {error}", path.display()))
                    })?,
            )
        }
        None => Box::new(io::stdout().lock()),
    };
    let mut out = BufWriter::new(sink);
    let mut failure = None;
    store.for_each_audit_row(0, |row| match writeln!(out, "{}", export_or_raw(&row)) {
        Ok(()) => ControlFlow::Continue(()),
        Err(error) => {
            failure = Some(error);
            ControlFlow::Break(())
        }
    })?;
    if let Some(error) = failure {
        return Err(error.into());
    }
    out.flush()?;
    Ok(0)
}

/// What `doctor` says about each adapter: a configured adapter whose binary or secret file is
/// missing or readable by others is a problem; an unconfigured one is reported as such.
#[expect(
    clippy::too_many_lines,
    reason = "one flat check per adapter, in the order doctor prints them"
)]
fn adapter_checks(settings: &Settings) -> Vec<(&'static str, bool, String)> {
    let secret = |path: &Path| -> Result<String, String> {
        match fs::metadata(path) {
            Ok(metadata) if metadata.is_file() => {
                let mode = metadata.permissions().mode() & 0o777;
                if is_private(mode) {
                    Ok(format!("{} mode {mode:04o}", path.display()))
                } else {
                    Err(format!(
                        "{} mode {mode:04o} is readable by others; chmod 600 it",
                        path.display()
                    ))
                }
            }
            Ok(_) => Err(format!("{} is not a file", path.display())),
            Err(error) => Err(format!("{}: {error}", path.display())),
        }
    };
    let program = |name: &Path| -> Result<String, String> {
        find_program(name)
            .map(|found| found.display().to_string())
            .ok_or_else(|| format!("{} not found or not executable", name.display()))
    };
    let mut checks = Vec::new();
    let mut adapter = |what: &'static str, key: &str, file: Option<&Path>, binary: &Path| {
        let Some(file) = file else {
            checks.push((what, true, format!("not configured ({key} unset)")));
            return;
        };
        match (secret(file), program(binary)) {
            (Ok(file), Ok(binary)) => checks.push((what, true, format!("{binary}, {file}"))),
            (Err(problem), _) | (_, Err(problem)) => checks.push((what, false, problem)),
        }
    };
    adapter(
        "ssh adapter",
        "ssh_identity_file",
        settings.ssh_identity_file.as_deref(),
        Path::new("ssh"),
    );
    adapter(
        "talosctl adapter",
        "talosconfig_file",
        settings.talosconfig_file.as_deref(),
        settings
            .talosctl_binary
            .as_deref()
            .unwrap_or(Path::new("talosctl")),
    );
    checks.push((
        "egress allowlist",
        true,
        settings
            .egress_allowed_networks
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    ));
    // The adapters that run from an operator's directory: the root must resolve and the
    // binary must run; `problem` may find more wrong under the root.
    let rooted = |what: &'static str,
                  key: &str,
                  root: Option<&Path>,
                  binary: &Path,
                  holds: &str,
                  problem: &dyn Fn(&Path) -> Option<String>| {
        let Some(root) = root else {
            return (what, true, format!("not configured ({key} unset)"));
        };
        match (root.canonicalize(), program(binary)) {
            (Ok(root), Ok(binary)) => match problem(&root) {
                None => (
                    what,
                    true,
                    format!("{binary}, {holds} in {}", root.display()),
                ),
                Some(problem) => (what, false, problem),
            },
            (Err(error), _) => (what, false, format!("{key} {}: {error}", root.display())),
            (_, Err(problem)) => (what, false, problem),
        }
    };
    checks.push(rooted(
        "ansible adapter",
        "ansible_playbook_root",
        settings.ansible_playbook_root.as_deref(),
        settings
            .ansible_playbook_binary
            .as_deref()
            .unwrap_or(Path::new("ansible-playbook")),
        "playbooks",
        &|root| {
            crate::adapters::ansible::check_mode_override(root).map(|file| {
                format!(
                    "{} sets check_mode to something other than true; dry runs are refused until it is removed",
                    file.display()
                )
            })
        },
    ));
    checks.push(rooted(
        "terraform adapter",
        "terraform_root",
        settings.terraform_root.as_deref(),
        settings
            .terraform_binary
            .as_deref()
            .unwrap_or(Path::new("terraform")),
        "workspaces",
        &|_| None,
    ));
    let revoked = crate::credentials::revoked(&settings.state_dir);
    for (name, credential) in crate::credentials::all(settings) {
        use crate::config::{CredentialSecret, SecretSource};
        let checked = match &credential.secret {
            CredentialSecret::Ssh { identity_file } => secret(identity_file),
            CredentialSecret::Talos { talosconfig } => secret(talosconfig),
            CredentialSecret::Redfish {
                password, ca_file, ..
            } => {
                let password = match password {
                    SecretSource::File(path) => secret(path),
                    SecretSource::Environment(variable) => std::env::var_os(variable)
                        .map(|_| format!("${variable} is set"))
                        .ok_or_else(|| format!("${variable} is not set in this environment")),
                };
                let ca = fs::read(ca_file)
                    .map_err(|error| format!("{}: {error}", ca_file.display()))
                    .map(|_| ca_file.display().to_string());
                password.and_then(|password| ca.map(|ca| format!("{password}, CA {ca}")))
            }
        };
        let scope = format!(
            "hosts {:?}, groups {:?}, up to {}",
            credential.scope.hosts, credential.scope.groups, credential.scope.max_tier
        );
        let state = match &revoked {
            Ok(revoked) if revoked.contains(&name) => "revoked, ",
            Ok(_) => "",
            Err(_) => "revocation list unreadable, ",
        };
        checks.push(match checked {
            Ok(detail) => (
                "credential",
                revoked.is_ok(),
                format!(
                    "{name} ({}): {state}{detail}; {scope}",
                    credential.secret.kind()
                ),
            ),
            Err(problem) => ("credential", false, format!("{name}: {problem}")),
        });
    }
    checks.push((
        "other adapters",
        true,
        format!(
            "runbooks from {}; state changes through every adapter run only as the gates allow (an operator's approval from T2, or T1 after untrusted content)",
            settings
                .runbook_root
                .as_ref()
                .map_or_else(|| "nowhere (runbook_root unset)".to_owned(), |root| root.display().to_string())
        ),
    ));
    checks
}

/// `name` itself when it has a slash, else the first executable `name` on PATH.
fn find_program(name: &Path) -> Option<PathBuf> {
    let executable = |path: &Path| {
        fs::metadata(path)
            .is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
    };
    if name.components().count() > 1 || name.is_absolute() {
        return executable(name).then(|| name.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|directory| directory.join(name))
        .find(|candidate| executable(candidate))
}

/// True when neither group nor others have any permission bit.
#[expect(
    clippy::verbose_bit_mask,
    reason = "a permission mask reads better than trailing_zeros"
)]
fn is_private(mode: u32) -> bool {
    mode & 0o077 == 0
}

#[expect(
    clippy::too_many_lines,
    reason = "a flat checklist reads best in one place"
)]
fn doctor(settings: &Settings, reach: bool) -> Result<u8, Failure> {
    let mut out = io::stdout().lock();
    let mut problems = 0u32;
    let mut report = |ok: bool, what: &str, detail: String| -> io::Result<()> {
        if !ok {
            problems += 1;
        }
        writeln!(
            out,
            "{} {what}: {detail}",
            if ok { "ok     " } else { "PROBLEM" }
        )
    };
    report(
        true,
        "config",
        settings.config_file.as_ref().map_or_else(
            || "no config file; defaults and PRAXIS_* variables".into(),
            |path| path.display().to_string(),
        ),
    )?;
    match settings.load_policy() {
        Ok(policy) => report(true, "policy", format!("hash {}", policy.hash()))?,
        Err(error) => report(false, "policy", error.to_string())?,
    }
    match (
        &settings.approver_public_key,
        crate::approval::key::read_public_key(&settings.state_dir),
    ) {
        (_, Err(error)) => report(false, "approver key", error)?,
        (Some(pinned), Ok(Some(on_disk))) if *pinned != on_disk => report(
            false,
            "approver key",
            format!(
                "approver.pub ({}) is not the pinned approver_public_key ({}); approvals verify with the pinned one",
                on_disk.fingerprint(),
                pinned.fingerprint()
            ),
        )?,
        (Some(pinned), _) => report(
            true,
            "approver key",
            format!("{} (pinned)", pinned.fingerprint()),
        )?,
        (None, Ok(Some(on_disk))) => report(
            true,
            "approver key",
            format!(
                "{} from approver.pub, not pinned: pin approver_public_key in a config file the agent cannot write",
                on_disk.fingerprint()
            ),
        )?,
        (None, Ok(None)) => report(
            true,
            "approver key",
            "none yet: nothing can be approved until `praxis init` runs in a terminal".into(),
        )?,
    }
    let uid = current_uid();
    match fs::metadata(&settings.state_dir) {
        Ok(metadata) if metadata.is_dir() => {
            let mode = metadata.permissions().mode() & 0o777;
            let owned = uid.is_none_or(|uid| metadata.uid() == uid);
            report(
                is_private(mode) && owned,
                "state directory",
                format!(
                    "{} mode {mode:04o}{}",
                    settings.state_dir.display(),
                    if owned { "" } else { ", owned by another user" }
                ),
            )?;
        }
        Ok(_) => report(
            false,
            "state directory",
            format!("{} is not a directory", settings.state_dir.display()),
        )?,
        Err(error) => report(
            false,
            "state directory",
            format!(
                "{}: {error}; run `praxis init`",
                settings.state_dir.display()
            ),
        )?,
    }
    match fs::metadata(&settings.database) {
        Ok(metadata) => {
            let mode = metadata.permissions().mode() & 0o777;
            report(
                is_private(mode),
                "database permissions",
                format!("{} mode {mode:04o}", settings.database.display()),
            )?;
            match Store::open(&settings.database, OpenMode::ReadOnly) {
                Ok(store) => {
                    match store.integrity_check() {
                        Ok(None) => report(true, "database integrity", "quick_check ok".into())?,
                        Ok(Some(problem)) => report(false, "database integrity", problem)?,
                        Err(error) => report(false, "database integrity", error.to_string())?,
                    }
                    match AuditLog::new(Arc::new(store)).verify() {
                        Ok(Ok(head)) => report(
                            true,
                            "audit chain",
                            format!("{} records verified", head.count),
                        )?,
                        Ok(Err(chain_break)) => {
                            report(false, "audit chain", chain_break.to_string())?;
                        }
                        Err(error) => report(false, "audit chain", error.to_string())?,
                    }
                }
                Err(error) => report(false, "database", error.to_string())?,
            }
        }
        Err(error) => report(
            false,
            "database",
            format!(
                "{}: {error}; run `praxis init`",
                settings.database.display()
            ),
        )?,
    }
    match KillSwitch::new(settings.kill_switch_path.clone()).state() {
        KillState::Clear => report(true, "kill switch", "clear".into())?,
        KillState::Engaged { detail } => report(
            true,
            "kill switch",
            format!("ENGAGED ({detail}); tool calls are refused until `praxis resume`"),
        )?,
    }
    report(true, "mode", settings.mode.as_str().into())?;
    for (what, ok, detail) in adapter_checks(settings) {
        report(ok, what, detail)?;
    }
    if reach {
        for (host, ok, detail) in reach_checks(settings)? {
            report(ok, &format!("reach {host}"), detail)?;
        }
    }
    if problems == 0 {
        writeln!(out, "doctor: no problems found")?;
        Ok(0)
    } else {
        writeln!(out, "doctor: {problems} problem(s) found")?;
        Ok(1)
    }
}

/// One TCP connection to every inventory host, where its type says it listens.
fn reach_checks(settings: &Settings) -> Result<Vec<(String, bool, String)>, Failure> {
    use crate::adapters::reach;
    let timeout = std::time::Duration::from_secs(3);
    let store = Store::open(&settings.database, OpenMode::ReadOnly)?;
    let end_of_time = Timestamp::from_unix_nanos(i64::MAX);
    let hosts = store.facts_as_of(&FactQuery {
        subject: None,
        predicate: Some(crate::actuator::INVENTORY_PREDICATE),
        fact_type: Some(FactType::Desired),
        valid_at: end_of_time,
        known_at: end_of_time,
    })?;
    let answered =
        |result: Result<(std::net::SocketAddr, std::time::Duration), String>| match result {
            Ok((address, took)) => (
                true,
                format!("{address} answers ({:.1} ms)", took.as_secs_f64() * 1_000.0),
            ),
            Err(problem) => (false, problem),
        };
    let mut checks = Vec::new();
    for host in &hosts {
        let name = host.value["name"].as_str().unwrap_or("?").to_owned();
        let connection = &host.value["connection"];
        let (ok, detail) = if let Ok(target) =
            crate::actuator::action::ssh_target(Some(&host.value), &name)
        {
            answered(reach::tcp(&target.address, target.port, timeout))
        } else if let Some(node) = connection["talos"]["nodes"][0].as_str() {
            answered(reach::tcp(node, 50_000, timeout))
        } else if let Ok(target) = crate::actuator::action::redfish_target(Some(&host.value), &name)
        {
            let egress = crate::actuator::action::egress_policy(settings);
            match crate::adapters::redfish::BmcUrl::parse(&target.url).and_then(|url| {
                crate::adapters::redfish::checked_addresses(&target, &url, &egress)
                    .map(|addresses| std::net::SocketAddr::new(addresses[0], url.port))
            }) {
                Ok(address) => {
                    answered(reach::tcp_to(address, timeout).map(|took| (address, took)))
                }
                Err(error) => (false, error.to_string()),
            }
        } else {
            (
                true,
                "nothing to reach (no ssh, Talos or Redfish connection)".to_owned(),
            )
        };
        checks.push((name, ok, detail));
    }
    Ok(checks)
}

fn fleet_list(settings: &Settings, as_json: bool) -> Result<u8, Failure> {
    let store = Store::open(&settings.database, OpenMode::ReadOnly)?;
    let end_of_time = Timestamp::from_unix_nanos(i64::MAX);
    let hosts = store.facts_as_of(&FactQuery {
        subject: None,
        predicate: Some(crate::actuator::INVENTORY_PREDICATE),
        fact_type: Some(FactType::Desired),
        valid_at: end_of_time,
        known_at: end_of_time,
    })?;
    let mut out = BufWriter::new(io::stdout().lock());
    if as_json {
        let values: Vec<&Value> = hosts.iter().map(|host| &host.value).collect();
        writeln!(
            out,
            "{}",
            Value::Array(values.into_iter().cloned().collect())
        )?;
    } else {
        for host in &hosts {
            let groups: Vec<&str> = host.value["groups"]
                .as_array()
                .map(|groups| groups.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            writeln!(
                out,
                "{:<24} {:<8} {}",
                host.value["name"].as_str().unwrap_or("?"),
                host.value["host_type"].as_str().unwrap_or("?"),
                groups.join(",")
            )?;
        }
        writeln!(out, "{} hosts", hosts.len())?;
    }
    out.flush()?;
    Ok(0)
}

fn print_versions(versions: &[FactVersion], as_json: bool) -> Result<(), Failure> {
    let mut out = BufWriter::new(io::stdout().lock());
    for version in versions {
        if as_json {
            writeln!(
                out,
                "{}",
                json!({
                    "subject": version.key.subject,
                    "predicate": version.key.predicate,
                    "fact_type": version.key.fact_type.as_str(),
                    "value": version.value,
                    "valid_from": version.valid_from.to_string(),
                    "valid_to": version.valid_to.map(|time| time.to_string()),
                    "recorded_at": version.recorded_at.to_string(),
                    "superseded_at": version.superseded_at.map(|time| time.to_string()),
                    "actor": version.created_by.actor,
                    "reason": version.created_by.reason,
                    "ended_by": version.ended_by.as_ref().map(|ended| ended.actor.clone()),
                    "ended_reason": version.ended_by.as_ref().and_then(|ended| ended.reason.clone()),
                })
            )?;
        } else {
            let ended = match (&version.valid_to, &version.superseded_at) {
                (_, Some(superseded)) => format!("superseded {superseded}"),
                (Some(valid_to), None) => format!("until {valid_to}"),
                (None, None) => "current".to_owned(),
            };
            writeln!(
                out,
                "{:<10} {:<28} {} (from {}, recorded {}, {ended}, by {})",
                version.key.fact_type.as_str(),
                version.key.predicate,
                crate::audit::cut(&version.value.to_string(), 200),
                version.valid_from,
                version.recorded_at,
                version.created_by.actor
            )?;
        }
    }
    out.flush()?;
    Ok(())
}

fn fleet_show(
    settings: &Settings,
    host: &str,
    as_of: Option<&str>,
    as_json: bool,
) -> Result<u8, Failure> {
    let at = match as_of {
        Some(text) => Timestamp::parse_rfc3339(text).ok_or_else(|| {
            Failure::usage(format!(
                "--as-of {text:?} is not an RFC 3339 UTC time such as 2026-11-21T10:00:00Z"
            ))
        })?,
        None => Timestamp::from_unix_nanos(i64::MAX),
    };
    let store = Store::open(&settings.database, OpenMode::ReadOnly)?;
    let subject = crate::fleet::import::host_subject(host);
    let versions = store.facts_as_of(&FactQuery {
        subject: Some(&subject),
        predicate: None,
        fact_type: None,
        valid_at: at,
        known_at: at,
    })?;
    if versions.is_empty() {
        return Err(Failure::failed(format!(
            "no facts about {host}{}",
            as_of.map_or(String::new(), |time| format!(" as of {time}"))
        )));
    }
    print_versions(&versions, as_json)?;
    Ok(0)
}

fn fleet_history(settings: &Settings, host: &str, as_json: bool) -> Result<u8, Failure> {
    let store = Store::open(&settings.database, OpenMode::ReadOnly)?;
    let versions = store.fact_history(&crate::fleet::import::host_subject(host), None)?;
    if versions.is_empty() {
        return Err(Failure::failed(format!("no facts about {host}")));
    }
    print_versions(&versions, as_json)?;
    Ok(0)
}

/// Reads and parses an inventory file; every problem goes to stderr, one line each.
fn read_inventory(
    file: &Path,
    format: Option<&str>,
) -> Result<(crate::inventory::Inventory, String), Failure> {
    use crate::inventory::{Format, parse};

    let size = fs::metadata(file)
        .map_err(|error| Failure::failed(format!("cannot read {}: {error}", file.display())))?
        .len();
    if size > MAX_INVENTORY_BYTES {
        return Err(Failure::failed(format!(
            "{} is {size} bytes; inventories over {MAX_INVENTORY_BYTES} bytes are refused",
            file.display()
        )));
    }
    let text = fs::read_to_string(file)
        .map_err(|error| Failure::failed(format!("cannot read {}: {error}", file.display())))?;
    let file_name = file
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let format = match format {
        Some(name) => Format::from_name(name)
            .ok_or_else(|| Failure::usage(format!("unknown --format {name}")))?,
        None => Format::detect(&file_name, &text).ok_or_else(|| {
            Failure::failed(format!(
                "cannot tell the format of {}; pass --format ini, yaml, json or toml",
                file.display()
            ))
        })?,
    };
    let inventory = match parse(format, &text) {
        Ok(inventory) => inventory,
        Err(problems) => {
            let mut stderr = io::stderr().lock();
            for problem in &problems {
                writeln!(stderr, "praxis: {}: {problem}", file.display())?;
            }
            return Err(Failure::failed(format!(
                "inventory {} refused ({} problem(s) above); nothing was imported",
                file.display(),
                problems.len()
            )));
        }
    };
    Ok((inventory, text))
}

/// The largest inventory file `praxis fleet import` reads.
const MAX_INVENTORY_BYTES: u64 = 10 * 1024 * 1024;

fn fleet_import(
    settings: &Settings,
    file: &Path,
    format: Option<&str>,
    dry_run: bool,
) -> Result<u8, Failure> {
    use crate::fleet::import::{is_inventory_fact, plan_import};
    use crate::store::facts::PutOutcome;

    let (inventory, text) = read_inventory(file, format)?;
    let policy = load_policy(settings)?;
    let store = Store::open(&settings.database, OpenMode::MustExist)?;
    let end_of_time = Timestamp::from_unix_nanos(i64::MAX);
    let current: Vec<FactVersion> = store
        .facts_as_of(&FactQuery {
            subject: None,
            predicate: None,
            fact_type: Some(FactType::Desired),
            valid_at: end_of_time,
            known_at: end_of_time,
        })?
        .into_iter()
        .filter(is_inventory_fact)
        .collect();
    let now = SystemClock::default().now();
    let plan = plan_import(&inventory, &current, now);
    let digest = Digest::of(text.as_bytes());
    let mut out = io::stdout().lock();
    if dry_run {
        writeln!(
            out,
            "would import {} hosts from {}; would retract {} facts",
            inventory.hosts.len(),
            file.display(),
            plan.retractions.len()
        )?;
        for key in &plan.retractions {
            writeln!(out, "  retract {} {}", key.subject, key.predicate)?;
        }
        return Ok(0);
    }
    let provenance = crate::fleet::Provenance {
        actor: operator_name(),
        reason: Some(format!(
            "praxis fleet import {} (sha256 {digest})",
            file.display()
        )),
    };
    let (outcomes, retracted, _) = store
        .apply_changes(&plan.puts, &plan.retractions, &provenance, now)
        .map_err(|error| Failure::failed(error.to_string()))?;
    let count = |wanted: PutOutcome| {
        outcomes
            .iter()
            .filter(|outcome| **outcome == wanted)
            .count()
    };
    let (created, changed, unchanged) = (
        count(PutOutcome::Created),
        count(PutOutcome::Changed),
        count(PutOutcome::Unchanged),
    );
    let seq = record_operator_action(
        store,
        settings,
        &policy,
        "cli.fleet-import",
        &json!({
            "operator": provenance.actor,
            "file": file.display().to_string(),
            "sha256": digest.to_hex(),
            "hosts": inventory.hosts.len(),
            "facts_created": created,
            "facts_changed": changed,
            "facts_unchanged": unchanged,
            "facts_retracted": retracted,
        }),
        None,
    )?;
    writeln!(
        out,
        "imported {} hosts from {}: {created} facts new, {changed} changed, {unchanged} unchanged, {retracted} retracted; audit seq {seq}",
        inventory.hosts.len(),
        file.display()
    )?;
    Ok(0)
}

fn policy_explain(
    settings: &Settings,
    command: &str,
    adapter: &str,
    as_json: bool,
) -> Result<u8, Failure> {
    let policy = load_policy(settings)?;
    let classification = policy.classify_command(adapter, command, settings.unknown_default);
    let mut out = io::stdout().lock();
    if as_json {
        let findings: Vec<Value> = classification
            .findings
            .iter()
            .map(|finding| {
                json!({"rule_id": finding.rule_id, "verdict": finding.verdict.to_string(), "part": finding.part})
            })
            .collect();
        writeln!(
            out,
            "{}",
            json!({
                "command": command,
                "adapter": adapter,
                "verdict": classification.verdict.to_string(),
                "deciding_rules": classification.deciding_rule_ids(),
                "findings": findings,
                "policy_hash": policy.hash().to_hex(),
            })
        )?;
        return Ok(0);
    }
    writeln!(out, "command:  {command}")?;
    writeln!(out, "adapter:  {adapter}")?;
    writeln!(
        out,
        "verdict:  {}  (decided by {})",
        classification.verdict,
        classification.deciding_rule_ids().join(", ")
    )?;
    writeln!(out, "matched:")?;
    for finding in &classification.findings {
        writeln!(
            out,
            "  {:<12} {:<36} {}",
            finding.verdict.to_string(),
            finding.rule_id,
            finding.part
        )?;
    }
    writeln!(
        out,
        "policy:   {} (mode {}, unknown commands: {})",
        policy.hash(),
        settings.mode.as_str(),
        settings.unknown_default.as_str()
    )?;
    Ok(0)
}

fn policy_check(settings: &Settings, directory: Option<PathBuf>) -> Result<u8, Failure> {
    let mut checked = settings.clone();
    if let Some(directory) = directory {
        checked.policy_dir = Some(directory);
    }
    let mut out = io::stdout().lock();
    let mut code = 0;
    match checked.load_policy() {
        Ok(policy) => {
            writeln!(
                out,
                "policy ok: {} command rules, hash {}",
                policy.command_rule_count(),
                policy.hash()
            )?;
        }
        Err(error) => {
            for problem in error.to_string().split("; ") {
                writeln!(out, "problem: {problem}")?;
            }
            code = 1;
        }
    }
    match checked.load_baselines() {
        Ok(expectations) => writeln!(out, "baselines ok: {} expectations", expectations.len())?,
        Err(problems) => {
            for problem in problems {
                writeln!(out, "problem: {problem}")?;
            }
            code = 1;
        }
    }
    Ok(code)
}

/// One operator test case.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyCase {
    #[serde(default)]
    id: Option<String>,
    command: String,
    #[serde(default)]
    adapter: Option<String>,
    expect: String,
    #[serde(default)]
    why: Option<String>,
}

/// A file of operator test cases.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyCases {
    case: Vec<PolicyCase>,
}

fn policy_test(settings: &Settings, directory: &Path) -> Result<u8, Failure> {
    let policy = load_policy(settings)?;
    let entries = fs::read_dir(directory).map_err(|error| {
        Failure::failed(format!("cannot read {}: {error}", directory.display()))
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "toml")
        })
        .collect();
    files.sort();
    let mut out = io::stdout().lock();
    let (mut passed, mut failed) = (0usize, 0usize);
    for file in &files {
        let text = fs::read_to_string(file)
            .map_err(|error| Failure::failed(format!("cannot read {}: {error}", file.display())))?;
        let cases: PolicyCases = toml::from_str(&text).map_err(|error| {
            Failure::failed(format!(
                "{}: {}",
                file.display(),
                error.message().replace('\n', " ")
            ))
        })?;
        for (index, case) in cases.case.iter().enumerate() {
            let adapter = case.adapter.as_deref().unwrap_or("ssh");
            let verdict = policy
                .classify_command(adapter, &case.command, settings.unknown_default)
                .verdict
                .to_string();
            if verdict == case.expect {
                passed += 1;
            } else {
                failed += 1;
                writeln!(
                    out,
                    "FAIL {}:{}: expected {}, got {verdict}: {:?}{}",
                    file.display(),
                    case.id.clone().unwrap_or_else(|| format!("case {index}")),
                    case.expect,
                    case.command,
                    case.why
                        .as_deref()
                        .map_or(String::new(), |why| format!(" ({why})"))
                )?;
            }
        }
    }
    writeln!(out, "{passed} passed, {failed} failed")?;
    Ok(u8::from(failed > 0))
}
