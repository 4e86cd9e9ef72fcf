//! Assessing an action on a host: what it would run, its classification, and whether the
//! trusted inventory lets that adapter touch that host at all.
//!
//! Invariants: the host type comes from the inventory only; a caller's claimed host type can
//! only be confirmed or cause a refusal, never change the answer; an adapter the host type does
//! not allow (ssh on a Talos node) is refused, dry runs included.

use std::path::Path;

use serde_json::{Value, json};

use super::request::{ActionRequest, RefusalCode};
use crate::adapters::talosctl::TalosTarget;
use crate::clock::Timestamp;
use crate::config::Settings;
use crate::fleet::{FactType, adapters_for};
use crate::policy::Policy;
use crate::policy::classify::{CommandClassification, Verdict};
use crate::store::Store;
use crate::store::facts::FactQuery;

/// What praxis makes of an action before any gate.
#[derive(Clone, Debug)]
pub struct Assessment {
    pub classification: CommandClassification,
    /// The inventory record of the host, if it is an inventory host.
    pub inventory: Option<Value>,
    pub host_type: Option<String>,
    /// Why the host or adapter rule refuses the action, if it does.
    pub host_refusal: Option<(RefusalCode, String)>,
    /// The argv the adapter would run.
    pub argv: Vec<String>,
}

/// The key under which the command rules know an adapter's actions.
fn rules_adapter(adapter: &str, host_type: Option<&str>) -> &'static str {
    match (adapter, host_type) {
        ("ssh", Some("windows")) => "powershell",
        ("talosctl", _) => "talosctl",
        ("redfish", _) => "redfish",
        ("runbook", _) => "runbook",
        ("opentofu" | "terraform", _) => "terraform",
        _ => "ssh",
    }
}

/// The command line the rules classify for an adapter's action.
fn classified_line(adapter: &str, action: &str) -> String {
    match adapter {
        "talosctl" => format!("talosctl {action}"),
        "opentofu" => format!("tofu {action}"),
        "terraform" => format!("terraform {action}"),
        "ansible" => format!("ansible-playbook {action}"),
        "redfish" => format!("redfish {action}"),
        "runbook" => format!("runbook {action}"),
        _ => action.to_owned(),
    }
}

/// Looks at an action: the inventory, the adapter rule, the classification, the argv.
pub fn assess(
    store: &Store,
    policy: &Policy,
    settings: &Settings,
    request: &ActionRequest,
) -> Assessment {
    let end_of_time = Timestamp::from_unix_nanos(i64::MAX);
    let subject = crate::fleet::import::host_subject(&request.host);
    let inventory = store
        .facts_as_of(&FactQuery {
            subject: Some(&subject),
            predicate: Some(super::INVENTORY_PREDICATE),
            fact_type: Some(FactType::Desired),
            valid_at: end_of_time,
            known_at: end_of_time,
        })
        .ok()
        .and_then(|versions| versions.into_iter().next())
        .map(|version| version.value);
    let host_type = inventory
        .as_ref()
        .and_then(|record| record["host_type"].as_str())
        .map(str::to_owned);
    let host_refusal = match (&inventory, &host_type) {
        (None, _) | (_, None) => Some((
            RefusalCode::UnknownHost,
            format!(
                "{} is not in the trusted inventory; praxis acts only on hosts an operator imported with `praxis fleet import`",
                crate::audit::cut(&request.host, 128)
            ),
        )),
        (Some(_), Some(actual)) => match &request.host_type {
            Some(claimed) if !same_host_type(claimed, actual) => Some((
                RefusalCode::HostTypeRefused,
                format!(
                    "the inventory says {} is a {actual} host, not {}; praxis takes the host type from the inventory, never from the caller",
                    request.host,
                    crate::audit::cut(claimed, 32)
                ),
            )),
            _ if !adapters_for(actual).contains(&request.adapter.as_str()) => Some((
                RefusalCode::HostTypeRefused,
                format!(
                    "{} is a {actual} host; the {} adapter is never used on it (allowed: {})",
                    request.host,
                    request.adapter,
                    adapters_for(actual).join(", ")
                ),
            )),
            _ => None,
        },
    };
    let host_refusal = host_refusal
        .or_else(|| {
            (request.adapter == "talosctl")
                .then(|| talosctl_injection(&request.action))
                .flatten()
                .map(|message| (RefusalCode::InvalidArguments, message))
        })
        .or_else(|| {
            (request.adapter == "ansible")
                .then(|| playbook_refusal(settings, request))
                .flatten()
        })
        .or_else(|| {
            (request.adapter == "redfish")
                .then(|| redfish_refusal(settings, inventory.as_ref(), request))
                .flatten()
        })
        .or_else(|| {
            matches!(request.adapter.as_str(), "terraform" | "opentofu")
                .then(|| workspace_refusal(settings, request))
                .flatten()
        })
        .or_else(|| {
            (request.adapter == "runbook")
                .then(|| runbook_refusal(settings, request))
                .flatten()
        });
    let classification = policy.classify_command(
        rules_adapter(&request.adapter, host_type.as_deref()),
        &classified_line(&request.adapter, &request.action),
        settings.unknown_default,
    );
    let tier = match classification.verdict {
        Verdict::Tier(tier) => tier,
        Verdict::Deny | Verdict::Unparseable => crate::policy::Tier::T3,
    };
    let argv = argv_preview(request, inventory.as_ref(), settings, tier);
    Assessment {
        classification,
        inventory,
        host_type,
        host_refusal,
        argv,
    }
}

/// Why an ansible action may not run: a playbook outside the root (or reached through a
/// symlink), an action that is not a plain playbook path, no root configured, or — for a dry
/// run — a `check_mode` override under the root that would make `--check` change hosts.
fn playbook_refusal(settings: &Settings, request: &ActionRequest) -> Option<(RefusalCode, String)> {
    use crate::adapters::ansible::{self, PlaybookRefusal};
    let root = settings.ansible_playbook_root.as_deref();
    let refusal = match ansible::confine_playbook(root, &request.action) {
        Ok(_) => {
            let overridden = request
                .dry_run
                .then(|| root.and_then(ansible::check_mode_override))
                .flatten()?;
            let shown = root
                .and_then(|root| overridden.strip_prefix(root).ok())
                .unwrap_or(&overridden)
                .display()
                .to_string();
            PlaybookRefusal::CheckModeOverride(shown)
        }
        Err(refusal) => refusal,
    };
    let code = match &refusal {
        PlaybookRefusal::NoRoot | PlaybookRefusal::BadRoot(..) => RefusalCode::AdapterUnavailable,
        PlaybookRefusal::OutsideRoot(_) | PlaybookRefusal::Symlink(..) => RefusalCode::OutsideRoot,
        PlaybookRefusal::NotAPath(_) | PlaybookRefusal::NotAPlaybook(_) => {
            RefusalCode::InvalidArguments
        }
        PlaybookRefusal::CheckModeOverride(_) => RefusalCode::UnsafeDryRun,
    };
    Some((code, refusal.to_string()))
}

/// The Redfish target of a host, from its inventory record only.
pub fn redfish_target(
    inventory: Option<&Value>,
    host: &str,
) -> Result<crate::adapters::redfish::RedfishTarget, String> {
    let redfish = inventory
        .map(|record| record["connection"]["redfish"].clone())
        .filter(Value::is_object)
        .ok_or_else(|| format!("{host} has no Redfish URL in the inventory"))?;
    Ok(crate::adapters::redfish::RedfishTarget {
        host: host.to_owned(),
        url: redfish["url"].as_str().unwrap_or_default().to_owned(),
        address: redfish["address"]
            .as_str()
            .and_then(|text| text.parse().ok()),
    })
}

/// The egress policy of the settings.
pub fn egress_policy(settings: &Settings) -> crate::adapters::egress::EgressPolicy {
    crate::adapters::egress::EgressPolicy::new(settings.egress_allowed_networks.clone())
}

/// Why a Redfish action may not run: not an operation praxis knows (a URL, another host), or
/// a BMC address the egress filter or the inventory refuses — checked here, dry runs included,
/// and again right before connecting.
fn redfish_refusal(
    settings: &Settings,
    inventory: Option<&Value>,
    request: &ActionRequest,
) -> Option<(RefusalCode, String)> {
    use crate::adapters::redfish;
    if let Err(message) = redfish::parse_operation(&request.action) {
        return Some((RefusalCode::InvalidArguments, message));
    }
    let target = match redfish_target(inventory, &request.host) {
        Ok(target) => target,
        Err(message) => return Some((RefusalCode::AdapterUnavailable, message)),
    };
    let checked = redfish::BmcUrl::parse(&target.url)
        .and_then(|url| redfish::checked_addresses(&target, &url, &egress_policy(settings)));
    checked
        .err()
        .map(|error| (RefusalCode::EgressRefused, error.to_string()))
}

/// The credential an action on `host` through `adapter` at `tier` may use (the inventory's
/// groups count for scope; a BMC's credential is the one its inventory record names).
pub fn credential_for(
    settings: &Settings,
    adapter: &str,
    host: &str,
    inventory: Option<&Value>,
    tier: crate::policy::Tier,
) -> Result<(String, crate::config::Credential), String> {
    let kind = crate::credentials::kind_for_adapter(adapter)
        .ok_or_else(|| format!("the {adapter} adapter takes no credential"))?;
    let groups: Vec<String> = inventory
        .and_then(|record| record["groups"].as_array())
        .map(|groups| {
            groups
                .iter()
                .filter_map(|group| group.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let named = (adapter == "redfish")
        .then(|| {
            inventory.and_then(|record| record["connection"]["redfish"]["credential"].as_str())
        })
        .flatten();
    if adapter == "redfish" && named.is_none() {
        return Err(format!(
            "{host} names no credential (praxis_redfish_credential) in the inventory"
        ));
    }
    crate::credentials::select(
        settings,
        &crate::credentials::Need {
            kind,
            host,
            groups: &groups,
            tier,
            named,
        },
    )
}

/// The file holding a credential's secret, for the adapters that take a path.
pub fn credential_path(credential: &crate::config::Credential) -> Option<&Path> {
    match &credential.secret {
        crate::config::CredentialSecret::Ssh { identity_file } => Some(identity_file),
        crate::config::CredentialSecret::Talos { talosconfig } => Some(talosconfig),
        crate::config::CredentialSecret::Redfish { .. } => None,
    }
}

/// Why a terraform action may not run: not `plan|apply|destroy WORKSPACE`, a workspace outside
/// the root or through a symlink, or no root configured.
fn workspace_refusal(
    settings: &Settings,
    request: &ActionRequest,
) -> Option<(RefusalCode, String)> {
    use crate::adapters::terraform::{WorkspaceRefusal, workspace};
    let refusal = workspace(settings.terraform_root.as_deref(), &request.action).err()?;
    let code = match &refusal {
        WorkspaceRefusal::NoRoot => RefusalCode::AdapterUnavailable,
        WorkspaceRefusal::OutsideRoot(_) | WorkspaceRefusal::Symlink(..) => {
            RefusalCode::OutsideRoot
        }
        WorkspaceRefusal::Invalid(_) | WorkspaceRefusal::NotAWorkspace(_) => {
            RefusalCode::InvalidArguments
        }
    };
    Some((code, refusal.to_string()))
}

/// Why a runbook may not run: not under the root (or through a symlink), writable by others,
/// not executable, odd arguments, or no root configured.
fn runbook_refusal(settings: &Settings, request: &ActionRequest) -> Option<(RefusalCode, String)> {
    use crate::adapters::runbook::{RunbookRefusal, resolve};
    let refusal = resolve(settings.runbook_root.as_deref(), &request.action).err()?;
    let code = match &refusal {
        RunbookRefusal::NoRoot => RefusalCode::AdapterUnavailable,
        RunbookRefusal::OutsideRoot(_) | RunbookRefusal::Symlink(..) => RefusalCode::OutsideRoot,
        RunbookRefusal::Unsafe(..) => RefusalCode::UnsafeRunbook,
        RunbookRefusal::Invalid(_) => RefusalCode::InvalidArguments,
    };
    Some((code, refusal.to_string()))
}

/// How the terraform adapter runs, from the settings.
pub fn terraform_options(settings: &Settings) -> crate::adapters::terraform::TerraformOptions<'_> {
    crate::adapters::terraform::TerraformOptions {
        binary: settings
            .terraform_binary
            .as_deref()
            .unwrap_or(Path::new("terraform")),
        root: settings.terraform_root.as_deref(),
        plugin_dir: settings.terraform_plugin_dir.as_deref(),
        state_dir: &settings.state_dir,
        timeout: std::time::Duration::from_secs(settings.terraform_timeout_seconds),
    }
}

/// How the ansible adapter runs, from the settings and the chosen ssh identity.
pub fn ansible_options<'a>(
    settings: &'a Settings,
    identity: Option<&'a Path>,
) -> crate::adapters::ansible::AnsibleOptions<'a> {
    crate::adapters::ansible::AnsibleOptions {
        binary: settings.ansible_playbook_binary.as_deref(),
        root: settings.ansible_playbook_root.as_deref(),
        state_dir: &settings.state_dir,
        identity,
        timeout: std::time::Duration::from_secs(settings.ansible_timeout_seconds),
    }
}

/// Long options that would change which node talosctl reaches or with what credentials; the
/// targets and the talosconfig come from the inventory and the configuration only.
const TALOSCTL_TARGET_OPTIONS: &[&str] = &[
    "--nodes",
    "--endpoints",
    "--talosconfig",
    "--context",
    "--cluster",
    "--insecure",
];

/// Short forms of those options (`-n`, `-e`, `-i`), alone or inside a cluster such as `-fn`.
const TALOSCTL_TARGET_SHORTHANDS: &[char] = &['n', 'e', 'i'];

/// Why a talosctl action may not be passed on as it is: quoting (the words talosctl would get
/// must be the words that were classified) or an option that overrides the inventory's target.
fn talosctl_injection(action: &str) -> Option<String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=,@+".contains(c);
    if let Some(bad) = action
        .chars()
        .find(|c| !plain(*c) && !c.is_ascii_whitespace())
    {
        return Some(format!(
            "talosctl actions are plain words (letters, digits and -_./:=,@+); {bad:?} is not allowed"
        ));
    }
    for word in action.split_whitespace() {
        let name = word.split_once('=').map_or(word, |(name, _)| name);
        let overrides = if word.starts_with("--") {
            TALOSCTL_TARGET_OPTIONS.contains(&name)
        } else if let Some(cluster) = word.strip_prefix('-') {
            cluster
                .chars()
                .take_while(char::is_ascii_alphabetic)
                .any(|c| TALOSCTL_TARGET_SHORTHANDS.contains(&c))
        } else {
            false
        };
        if overrides {
            return Some(format!(
                "{word} would override the node, endpoint or credentials; praxis takes them from the inventory and the configuration, never from the action"
            ));
        }
    }
    None
}

/// praxis-py called Linux hosts `ubuntu`; both names mean a Linux host.
fn same_host_type(claimed: &str, actual: &str) -> bool {
    claimed == actual || (claimed == "ubuntu" && actual == "linux")
}

fn argv_preview(
    request: &ActionRequest,
    inventory: Option<&Value>,
    settings: &Settings,
    tier: crate::policy::Tier,
) -> Vec<String> {
    // The credential a real run would use (a placeholder when none covers it: the run would be
    // refused before anything ran).
    let credential =
        credential_for(settings, &request.adapter, &request.host, inventory, tier).ok();
    let secret_path = credential
        .as_ref()
        .and_then(|(_, credential)| credential_path(credential));
    match request.adapter.as_str() {
        // Exactly what a real run would execute (`adapters::ssh::argv`), when the inventory
        // records an ssh connection; a host without one is refused before anything runs.
        "ssh" => match ssh_target(inventory, &request.host) {
            Ok(target) => crate::adapters::ssh::argv(
                &target,
                &ssh_options(settings, secret_path),
                &request.action,
            ),
            Err(_) => vec!["ssh".into(), request.host.clone(), request.action.clone()],
        },
        // Exactly what a real run would execute (`adapters::talosctl::argv`).
        "talosctl" => crate::adapters::talosctl::argv(
            settings
                .talosctl_binary
                .as_deref()
                .unwrap_or(Path::new("talosctl")),
            secret_path.unwrap_or(Path::new("<no talos credential covers this action>")),
            &talos_target(&request.host, inventory),
            &request.action,
        ),
        // What a real run would execute; a dry run adds `--check --diff` (and runs).
        "ansible" => {
            let playbook = crate::adapters::ansible::confine_playbook(
                settings.ansible_playbook_root.as_deref(),
                &request.action,
            )
            .unwrap_or_else(|_| request.action.clone().into());
            crate::adapters::ansible::argv(
                &ansible_options(settings, secret_path),
                &request.host,
                &playbook,
                false,
            )
        }
        // What an approved real run would execute; a dry run plans instead (and runs).
        "terraform" | "opentofu" => {
            match crate::adapters::terraform::workspace(
                settings.terraform_root.as_deref(),
                &request.action,
            ) {
                Ok((verb, workspace)) => crate::adapters::terraform::apply_argv(
                    &terraform_options(settings),
                    verb,
                    &workspace,
                ),
                Err(_) => vec![request.adapter.clone(), request.action.clone()],
            }
        }
        // Exactly what a real run executes.
        "runbook" => match crate::adapters::runbook::resolve(
            settings.runbook_root.as_deref(),
            &request.action,
        ) {
            Ok((script, arguments)) => crate::adapters::runbook::argv(&script, &arguments),
            Err(_) => vec!["runbook".into(), request.action.clone()],
        },
        // The HTTP request a real run would make.
        "redfish" => {
            let url = redfish_target(inventory, &request.host)
                .ok()
                .and_then(|target| crate::adapters::redfish::BmcUrl::parse(&target.url).ok());
            match (
                url,
                crate::adapters::redfish::parse_operation(&request.action),
            ) {
                (Some(url), Ok(operation)) => {
                    crate::adapters::redfish::request_preview(&url, &operation)
                }
                _ => vec!["redfish".into(), request.action.clone()],
            }
        }
        other => vec![other.to_owned(), request.action.clone()],
    }
}

/// How the ssh adapter connects, from the settings and the chosen identity.
pub fn ssh_options<'a>(
    settings: &'a Settings,
    identity: Option<&'a Path>,
) -> crate::adapters::ssh::SshOptions<'a> {
    crate::adapters::ssh::SshOptions {
        state_dir: &settings.state_dir,
        identity,
        timeout: std::time::Duration::from_secs(settings.ssh_command_timeout_seconds),
        control_persist_seconds: settings.ssh_control_persist_seconds,
        max_sessions_per_host: usize::try_from(settings.ssh_max_sessions_per_host)
            .unwrap_or(usize::MAX),
        accept_new_host_keys: settings.ssh_accept_new_host_keys,
    }
}

/// The ssh target of a host, from its inventory record only.
pub fn ssh_target(
    inventory: Option<&Value>,
    host: &str,
) -> Result<crate::adapters::ssh::SshTarget, String> {
    let ssh = inventory
        .map(|record| record["connection"]["ssh"].clone())
        .filter(Value::is_object)
        .ok_or_else(|| format!("{host} has no ssh connection in the inventory"))?;
    Ok(crate::adapters::ssh::SshTarget {
        host: host.to_owned(),
        address: ssh["address"].as_str().unwrap_or(host).to_owned(),
        port: ssh["port"]
            .as_u64()
            .and_then(|port| u16::try_from(port).ok())
            .unwrap_or(22),
        user: ssh["user"].as_str().map(str::to_owned),
        host_key: ssh["host_key"].as_str().map(str::to_owned),
        posix_shell: inventory.is_some_and(|record| record["host_type"] == "linux"),
    })
}

/// The Talos nodes and endpoints the inventory records for `host`.
pub fn talos_target(host: &str, inventory: Option<&Value>) -> TalosTarget {
    let talos = inventory.map(|record| &record["connection"]["talos"]);
    let list = |key: &str| -> Vec<String> {
        talos
            .and_then(|talos| talos[key].as_array())
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    TalosTarget {
        host: host.to_owned(),
        nodes: list("nodes"),
        endpoints: list("endpoints"),
    }
}

/// The JSON an `explain_action` returns, and a dry run's preview adds to.
pub fn assessment_json(assessment: &Assessment, mode_ceiling_ok: bool) -> Value {
    let verdict = assessment.classification.verdict;
    let findings: Vec<Value> = assessment
        .classification
        .findings
        .iter()
        .map(|finding| json!({"rule_id": finding.rule_id, "verdict": finding.verdict.to_string(), "part": finding.part}))
        .collect();
    let approval_required = match verdict {
        Verdict::Tier(tier) => tier.requires_approval(),
        Verdict::Deny | Verdict::Unparseable => false,
    };
    json!({
        "tier": verdict.to_string(),
        "rule_ids": assessment.classification.deciding_rule_ids(),
        "findings": findings,
        "host_type": assessment.host_type,
        "inventory_host": assessment.inventory.is_some(),
        "refusal": assessment.host_refusal.as_ref().map(|(code, message)| json!({"code": code.as_str(), "message": message})),
        "approval_required": approval_required,
        "allowed_by_mode": mode_ceiling_ok,
        "argv": assessment.argv,
    })
}

#[cfg(test)]
mod tests {
    use super::talosctl_injection;

    #[test]
    fn talosctl_actions_cannot_retarget_or_smuggle_words() {
        for clean in [
            "version",
            "get members",
            "logs kubelet -f",
            "get members -o json",
            "read /proc/meminfo",
            "service etcd",
        ] {
            assert_eq!(talosctl_injection(clean), None, "{clean}");
        }
        for hostile in [
            "get members --nodes 10.0.0.9",
            "get members --nodes=10.0.0.9",
            "version -n 10.0.0.9",
            "version -n10.0.0.9",
            "logs kubelet -fn 10.0.0.9",
            "version -e 10.0.0.9",
            "version --endpoints=evil",
            "version --talosconfig /tmp/other",
            "version --context prod",
            "version --insecure",
            "version -i",
            "get members '--nodes' x",
            "version; reboot",
            "version $(reboot)",
            "version\\ --nodes",
        ] {
            assert!(talosctl_injection(hostile).is_some(), "{hostile}");
        }
    }
}
