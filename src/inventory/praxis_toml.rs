//! praxis's own TOML inventory format.
//!
//! ```toml
//! [hosts.web-1]
//! host_type = "linux"
//! groups = ["web", "prod"]
//! ssh = { address = "127.0.10.1", port = 2222, user = "aiops", host_key = "ssh-ed25519 AAAA..." }
//! [hosts.cp-1]
//! host_type = "talos"
//! talos = { nodes = ["10.5.0.2"], endpoints = ["10.5.0.2"] }
//! [hosts.bmc-1]
//! host_type = "bmc"
//! redfish = { url = "https://127.0.0.1:8000/redfish/v1/Systems/1", credential = "lab-bmc" }
//! ```
//!
//! Each host is mapped onto the variables the Ansible formats use (`host_type` onto
//! `praxis_host_type`, `ssh.address` onto `ansible_host`, and so on), so the shared validation
//! applies unchanged.
//!
//! Invariants:
//! - Unknown fields are errors at every level; `host_type` is required.
//! - A host defined twice is an error (TOML itself refuses a table defined twice).
//! - A connection table that does not fit the host type (`ssh` on a talos host) is an error:
//!   here it is an explicit statement about one host, not an inherited group setting.
//! - Secret-looking fields are reported as secrets (by name, never by value) before the
//!   unknown-field check, and syntax errors are reported by position without quoting the text.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{
    HostType, InventoryError, MAX_HOSTS, RawHost, RawInventory, collect_secret_paths,
    quoted_for_message, too_many_hosts_error,
};

/// One host of a praxis TOML inventory.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlHost {
    /// One of the host type names.
    host_type: String,
    /// The host's groups.
    #[serde(default)]
    groups: Vec<String>,
    /// How to reach a linux or windows host.
    ssh: Option<TomlSsh>,
    /// How to reach a talos host.
    talos: Option<TomlTalos>,
    /// How to reach a bmc host.
    redfish: Option<TomlRedfish>,
}

/// The `ssh` table of a host.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlSsh {
    /// The address (default: the host name).
    address: Option<String>,
    /// The port (default: 22).
    port: Option<i64>,
    /// The login user.
    user: Option<String>,
    /// The pinned public host key line.
    host_key: Option<String>,
}

/// The `talos` table of a host.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlTalos {
    /// The nodes (default: the host name).
    nodes: Option<Vec<String>>,
    /// The API endpoints.
    endpoints: Option<Vec<String>>,
}

/// The `redfish` table of a host.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlRedfish {
    /// The Redfish URL.
    url: Option<String>,
    /// The name of a credential, never the credential itself.
    credential: Option<String>,
    /// The BMC's IP address, which a host name in the URL must resolve to.
    address: Option<String>,
}

/// Reads a praxis TOML inventory into a raw inventory.
pub(super) fn parse_praxis_toml(text: &str) -> Result<RawInventory, Vec<InventoryError>> {
    let document: toml::Table = toml::from_str(text).map_err(|error| {
        vec![InventoryError::without_host(describe_syntax_error(
            text, &error,
        ))]
    })?;
    let mut inventory = RawInventory::default();
    let mut errors = Vec::new();
    for (key, value) in document {
        if key != "hosts" {
            errors.push(InventoryError::without_host(format!(
                "TOML: unknown top-level key {key:?}; only [hosts.NAME] tables are expected"
            )));
            continue;
        }
        let toml::Value::Table(hosts) = value else {
            errors.push(InventoryError::without_host(
                "TOML: hosts must be a table of [hosts.NAME] tables",
            ));
            continue;
        };
        if hosts.len() > MAX_HOSTS {
            return Err(vec![too_many_hosts_error()]);
        }
        for (name, host_value) in hosts {
            match read_host(&name, host_value) {
                Ok(raw_host) => {
                    inventory.hosts.insert(name, raw_host);
                }
                Err(mut host_errors) => errors.append(&mut host_errors),
            }
        }
    }
    if errors.is_empty() {
        Ok(inventory)
    } else {
        Err(errors)
    }
}

/// Reads one host table into a raw host with Ansible-style variables.
fn read_host(name: &str, host_value: toml::Value) -> Result<RawHost, Vec<InventoryError>> {
    let as_json = serde_json::to_value(&host_value).unwrap_or(Value::Null);
    let mut secret_paths = Vec::new();
    if let Value::Object(fields) = &as_json {
        for (field, value) in fields {
            collect_secret_paths(field, field, value, &mut secret_paths);
        }
    }
    if !secret_paths.is_empty() {
        return Err(secret_paths
            .into_iter()
            .map(|path| {
                InventoryError::for_host(
                    name,
                    format!(
                        "variable {path} holds a secret; praxis inventories carry credential \
                         references only (praxis_redfish_credential = \"name\")"
                    ),
                )
            })
            .collect());
    }
    let host: TomlHost = host_value.try_into().map_err(|error: toml::de::Error| {
        vec![InventoryError::for_host(
            name,
            format!("TOML: {}", error.message()),
        )]
    })?;
    let mut errors = Vec::new();
    if let Some(host_type) = HostType::from_name(&host.host_type) {
        let misplaced = [
            (
                host.ssh.is_some(),
                "ssh",
                matches!(host_type, HostType::Linux | HostType::Windows),
                "linux and windows",
            ),
            (
                host.talos.is_some(),
                "talos",
                host_type == HostType::Talos,
                "talos",
            ),
            (
                host.redfish.is_some(),
                "redfish",
                host_type == HostType::Bmc,
                "bmc",
            ),
        ];
        for (is_present, table, fits, fitting_types) in misplaced {
            if is_present && !fits {
                errors.push(InventoryError::for_host(
                    name,
                    format!(
                        "has a {table} table but is a {} host; {table} applies only to {fitting_types} hosts",
                        host_type.as_str()
                    ),
                ));
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(RawHost {
        variables: variables_of(&host),
        groups: host.groups.into_iter().collect::<BTreeSet<String>>(),
    })
}

/// The Ansible-style variables a TOML host stands for.
fn variables_of(host: &TomlHost) -> Map<String, Value> {
    let mut variables = Map::new();
    variables.insert(
        "praxis_host_type".to_owned(),
        Value::from(host.host_type.clone()),
    );
    if let Some(ssh) = &host.ssh {
        insert_optional(
            &mut variables,
            "ansible_host",
            ssh.address.clone().map(Value::from),
        );
        insert_optional(&mut variables, "ansible_port", ssh.port.map(Value::from));
        insert_optional(
            &mut variables,
            "ansible_user",
            ssh.user.clone().map(Value::from),
        );
        insert_optional(
            &mut variables,
            "praxis_ssh_host_key",
            ssh.host_key.clone().map(Value::from),
        );
    }
    if let Some(talos) = &host.talos {
        insert_optional(
            &mut variables,
            "praxis_talos_nodes",
            talos.nodes.clone().map(Value::from),
        );
        insert_optional(
            &mut variables,
            "praxis_talos_endpoints",
            talos.endpoints.clone().map(Value::from),
        );
    }
    if let Some(redfish) = &host.redfish {
        insert_optional(
            &mut variables,
            "praxis_redfish_url",
            redfish.url.clone().map(Value::from),
        );
        insert_optional(
            &mut variables,
            "praxis_redfish_credential",
            redfish.credential.clone().map(Value::from),
        );
        insert_optional(
            &mut variables,
            "praxis_redfish_address",
            redfish.address.clone().map(Value::from),
        );
    }
    variables
}

/// Inserts a variable when it has a value.
fn insert_optional(variables: &mut Map<String, Value>, name: &str, value: Option<Value>) {
    if let Some(value) = value {
        variables.insert(name.to_owned(), value);
    }
}

/// A TOML syntax error as its message and position, without the snippet of text that the
/// `toml` crate would quote (it could hold a secret).
fn describe_syntax_error(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim_end();
    match error.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().unwrap_or(before).chars().count() + 1;
            // A duplicate key is named, since the span then covers only the key; other spans
            // may cover values, which are never quoted.
            let key = if message.starts_with("duplicate key") {
                text.get(span)
                    .map(|key| format!(" {}", quoted_for_message(key.trim())))
                    .unwrap_or_default()
            } else {
                String::new()
            };
            format!("TOML: line {line}, column {column}: {message}{key}")
        }
        None => format!("TOML: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Format, parse};

    #[test]
    fn a_host_defined_twice_is_an_error() {
        let text = "[hosts.web-1]\nhost_type = \"linux\"\n[hosts.web-1]\nhost_type = \"linux\"\n";
        let errors = parse(Format::PraxisToml, text).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].message.contains("line 3"), "{errors:?}");
        assert!(errors[0].message.contains("web-1"), "{errors:?}");
    }

    #[test]
    fn unknown_fields_are_errors_at_every_level() {
        for text in [
            "[hosts.web-1]\nhost_type = \"linux\"\nhostname = \"x\"\n",
            "[hosts.web-1]\nhost_type = \"linux\"\nssh = { adress = \"x\" }\n",
            "[hosts.cp-1]\nhost_type = \"talos\"\ntalos = { node = [\"x\"] }\n",
            "[hosts.bmc-1]\nhost_type = \"bmc\"\nredfish = { uri = \"https://x\" }\n",
            "[host.web-1]\nhost_type = \"linux\"\n",
            "hosts = 5\n",
        ] {
            let errors = parse(Format::PraxisToml, text).unwrap_err();
            assert_eq!(errors.len(), 1, "{text}: {errors:?}");
        }
        let errors = parse(
            Format::PraxisToml,
            "[hosts.web-1]\nhost_type = \"linux\"\nsshh = {}\n",
        )
        .unwrap_err();
        assert_eq!(errors[0].host.as_deref(), Some("web-1"));
        assert!(errors[0].message.contains("unknown field"), "{errors:?}");
    }

    #[test]
    fn host_type_is_required_and_tables_must_fit_it() {
        let errors =
            parse(Format::PraxisToml, "[hosts.web-1]\ngroups = [\"linux\"]\n").unwrap_err();
        assert!(errors[0].message.contains("host_type"), "{errors:?}");
        let text = "[hosts.cp-1]\nhost_type = \"talos\"\nssh = { address = \"10.0.0.1\" }\n\
                    [hosts.web-1]\nhost_type = \"linux\"\nredfish = { url = \"https://x\" }\n";
        let errors = parse(Format::PraxisToml, text).unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        let errors =
            parse(Format::PraxisToml, "[hosts.x]\nhost_type = \"mainframe\"\n").unwrap_err();
        assert!(errors[0].message.contains("mainframe"), "{errors:?}");
    }

    #[test]
    fn syntax_errors_do_not_quote_the_text() {
        let text = "[hosts.web-1]\nhost_type = \"linux\"\nssh = { user = \"hunter2-value\" \n";
        let errors = parse(Format::PraxisToml, text).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(!errors[0].message.contains("hunter2-value"), "{errors:?}");
        assert!(errors[0].message.contains("line 3"), "{errors:?}");
    }

    #[test]
    fn an_empty_document_is_an_empty_inventory() {
        assert!(parse(Format::PraxisToml, "").unwrap().hosts.is_empty());
        assert!(
            parse(Format::PraxisToml, "[hosts]\n")
                .unwrap()
                .hosts
                .is_empty()
        );
    }
}
