//! Scoped, revocable credentials (invariant 9).
//!
//! A credential is named in the configuration (`[credentials.NAME]`), scoped to host-name
//! patterns and groups and to a highest tier; `ssh_identity_file` and `talosconfig_file` are
//! the credentials `default-ssh` and `default-talos`, scoped to every host and tier.
//!
//! Invariants:
//! - An action runs only with a credential of its adapter's kind that is not revoked, whose
//!   scope names the host (or one of its inventory groups) and whose highest tier is at least
//!   the action's; otherwise it is refused (`credential-out-of-scope`) before anything runs.
//! - Revocation is durable (`<state>/credentials.revoked`, one name per line, written whole and
//!   renamed into place) and read on every call, so `praxis credentials revoke NAME` takes effect
//!   on the next call of every running server. An unreadable revocation file refuses every
//!   credential rather than none.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::config::{Credential, CredentialSecret, Scope, Settings};
use crate::policy::Tier;

/// The name `ssh_identity_file` goes by.
pub const DEFAULT_SSH: &str = "default-ssh";
/// The name `talosconfig_file` goes by.
pub const DEFAULT_TALOS: &str = "default-talos";

/// Where revocations are kept.
pub fn revocation_path(state_dir: &Path) -> PathBuf {
    state_dir.join("credentials.revoked")
}

/// The revoked names. A missing file means none; a file that cannot be read is an error.
pub fn revoked(state_dir: &Path) -> Result<BTreeSet<String>, String> {
    match std::fs::read_to_string(revocation_path(state_dir)) {
        Ok(text) => Ok(text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(BTreeSet::new()),
        Err(error) => Err(format!(
            "the revocation list {} cannot be read ({error}), so no credential is used",
            revocation_path(state_dir).display()
        )),
    }
}

/// Adds `name` to the revocation list; false if it was revoked already.
pub fn revoke(state_dir: &Path, name: &str) -> Result<bool, String> {
    let mut names = revoked(state_dir)?;
    if !names.insert(name.to_owned()) {
        return Ok(false);
    }
    let mut text = names
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join("\n");
    text.push('\n');
    crate::adapters::write_private_file(&revocation_path(state_dir), &text).map_err(|error| {
        format!(
            "cannot write {}: {error}",
            revocation_path(state_dir).display()
        )
    })?;
    Ok(true)
}

/// Every credential: the configured ones and the defaults the flat keys make.
pub fn all(settings: &Settings) -> BTreeMap<String, Credential> {
    let mut credentials = settings.credentials.clone();
    if let Some(identity_file) = &settings.ssh_identity_file {
        credentials
            .entry(DEFAULT_SSH.to_owned())
            .or_insert_with(|| Credential {
                secret: CredentialSecret::Ssh {
                    identity_file: identity_file.clone(),
                },
                scope: Scope::everywhere(),
            });
    }
    if let Some(talosconfig) = &settings.talosconfig_file {
        credentials
            .entry(DEFAULT_TALOS.to_owned())
            .or_insert_with(|| Credential {
                secret: CredentialSecret::Talos {
                    talosconfig: talosconfig.clone(),
                },
                scope: Scope::everywhere(),
            });
    }
    credentials
}

/// The credential kind an adapter uses.
pub fn kind_for_adapter(adapter: &str) -> Option<&'static str> {
    match adapter {
        "ssh" | "ansible" => Some("ssh"),
        "talosctl" => Some("talos"),
        "redfish" => Some("redfish"),
        _ => None,
    }
}

/// What an action needs a credential for.
pub struct Need<'a> {
    pub kind: &'static str,
    pub host: &'a str,
    pub groups: &'a [String],
    pub tier: Tier,
    /// The credential the inventory names for the host (Redfish), if any.
    pub named: Option<&'a str>,
}

/// The first credential (by name) that may be used for `need`, or why there is none.
pub fn select(settings: &Settings, need: &Need<'_>) -> Result<(String, Credential), String> {
    let revoked = revoked(&settings.state_dir)?;
    let mut reasons = Vec::new();
    for (name, credential) in all(settings) {
        if credential.secret.kind() != need.kind || need.named.is_some_and(|named| named != name) {
            continue;
        }
        if revoked.contains(&name) {
            reasons.push(format!("{name} is revoked"));
        } else if !credential.scope.covers_host(need.host, need.groups) {
            reasons.push(format!(
                "{name} covers hosts {:?} and groups {:?}",
                credential.scope.hosts, credential.scope.groups
            ));
        } else if need.tier > credential.scope.max_tier {
            reasons.push(format!(
                "{name} goes up to {} only",
                credential.scope.max_tier
            ));
        } else {
            return Ok((name, credential));
        }
    }
    let wanted = need.named.map_or_else(
        || format!("no {} credential", need.kind),
        |named| format!("the credential {named} the inventory names"),
    );
    let why = if reasons.is_empty() {
        "none is configured".to_owned()
    } else {
        reasons.join("; ")
    };
    Err(format!(
        "{wanted} covers {} at {}: {why}; an operator can widen a credential's hosts, groups or max_tier in the configuration",
        need.host, need.tier
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Sources;

    fn settings(name: &str, config: &str) -> Settings {
        let root =
            std::env::temp_dir().join(format!("praxis-credentials-{name}-{}", std::process::id()));
        drop(std::fs::remove_dir_all(&root));
        std::fs::create_dir_all(root.join("state")).unwrap();
        let file = root.join("praxis.toml");
        std::fs::write(&file, config).unwrap();
        Settings::resolve(&Sources {
            config_flag: Some(file),
            environment: [(
                "PRAXIS_STATE_DIR".to_owned(),
                root.join("state").display().to_string(),
            )]
            .into(),
            ..Sources::default()
        })
        .unwrap()
    }

    const CONFIG: &str = "ssh_identity_file = \"/keys/default\"\n\n\
        [credentials.web-read]\nkind = \"ssh\"\nidentity_file = \"/keys/web-read\"\nhosts = [\"web-*\"]\n\n\
        [credentials.web-ops]\nkind = \"ssh\"\nidentity_file = \"/keys/web-ops\"\ngroups = [\"web\"]\nmax_tier = \"T2\"\n";

    fn need<'a>(host: &'a str, groups: &'a [String], tier: Tier) -> Need<'a> {
        Need {
            kind: "ssh",
            host,
            groups,
            tier,
            named: None,
        }
    }

    #[test]
    fn the_first_credential_whose_scope_and_tier_cover_the_action_is_used() {
        let settings = settings("select", CONFIG);
        let web = vec!["web".to_owned()];
        // default-ssh sorts first and covers everything, so it wins until it is revoked.
        assert_eq!(
            select(&settings, &need("web-1", &web, Tier::T0)).unwrap().0,
            DEFAULT_SSH
        );
        assert!(revoke(&settings.state_dir, DEFAULT_SSH).unwrap());
        assert!(!revoke(&settings.state_dir, DEFAULT_SSH).unwrap());
        assert_eq!(
            select(&settings, &need("web-1", &web, Tier::T0)).unwrap().0,
            "web-ops"
        );
        assert_eq!(
            select(&settings, &need("web-1", &[], Tier::T0)).unwrap().0,
            "web-read"
        );
        let error = select(&settings, &need("web-1", &[], Tier::T1)).unwrap_err();
        assert!(
            error.contains("default-ssh is revoked")
                && error.contains("web-read goes up to T0 only"),
            "{error}"
        );
        let error = select(&settings, &need("db-1", &[], Tier::T0)).unwrap_err();
        assert!(
            error.contains("web-read covers hosts [\"web-*\"]"),
            "{error}"
        );
        assert!(select(&settings, &need("web-1", &web, Tier::T3)).is_err());
        let talos = Need {
            kind: "talos",
            ..need("cp-1", &[], Tier::T0)
        };
        assert!(
            select(&settings, &talos)
                .unwrap_err()
                .contains("none is configured")
        );
    }

    #[test]
    fn an_unreadable_revocation_list_refuses_every_credential() {
        let settings = settings("unreadable", CONFIG);
        std::fs::create_dir_all(revocation_path(&settings.state_dir)).unwrap();
        let error = select(&settings, &need("web-1", &[], Tier::T0)).unwrap_err();
        assert!(error.contains("cannot be read"), "{error}");
    }

    #[test]
    fn globs_match_whole_names() {
        for (pattern, text, matches) in [
            ("*", "anything", true),
            ("web-*", "web-1", true),
            ("web-*", "db-web-1", false),
            ("web-?", "web-12", false),
            ("*-1", "web-1", true),
            ("a*b*c", "a-x-b-y-c", true),
            ("a*b*c", "a-x-c", false),
            ("", "", true),
            ("", "x", false),
        ] {
            assert_eq!(
                crate::config::glob_matches(pattern, text),
                matches,
                "{pattern} {text}"
            );
        }
    }
}
