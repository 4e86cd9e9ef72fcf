//! The JSON that `ansible-inventory --list` prints.
//!
//! `{"_meta": {"hostvars": {host: {vars}}}, "all": {"children": [...]}, group: {"hosts": [...],
//! "children": [...], "vars": {...}}}`. The host variables there are already merged with their
//! group variables; group `vars` (printed by `--export`) are merged again underneath them, which
//! changes nothing for `--list` output and gives Ansible's precedence for `--export` output.
//!
//! Invariants:
//! - The document is read with the strict reader (`strict_value`): a key given twice is an
//!   error, not a silent overwrite.
//! - A group takes only `hosts`, `children` and `vars`; `_meta` takes only `hostvars`.
//! - A host in `_meta.hostvars` that no group lists is an error (Ansible would drop it).
//! - Host names are taken literally: `--list` output has no ranges to expand.

use serde_json::{Map, Value};

use super::groups::GroupTree;
use super::strict_value::value_from_json;
use super::{InventoryError, RawInventory, is_valid_group_name, quoted_for_message};

/// Reads `ansible-inventory --list` JSON into a raw inventory.
pub(super) fn parse_ansible_json(text: &str) -> Result<RawInventory, Vec<InventoryError>> {
    let document = value_from_json(text)
        .map_err(|message| vec![InventoryError::without_host(format!("JSON: {message}"))])?;
    let Value::Object(entries) = document else {
        return Err(vec![InventoryError::without_host(
            "JSON: the document must be an object of groups and _meta",
        )]);
    };
    let mut tree = GroupTree::new();
    let mut errors = Vec::new();
    let mut host_variables = Map::new();
    for (key, value) in entries {
        if key == "_meta" {
            host_variables = read_meta(value, &mut errors);
        } else {
            read_group(&mut tree, &mut errors, &key, value);
        }
    }
    for (host, variables) in host_variables {
        let Value::Object(variables) = variables else {
            errors.push(InventoryError::for_host(
                &host,
                "JSON: _meta.hostvars entry must be an object",
            ));
            continue;
        };
        if !tree.has_host(&host) {
            errors.push(InventoryError::for_host(
                &host,
                "JSON: is in _meta.hostvars but no group lists it",
            ));
            continue;
        }
        for (name, value) in variables {
            if let Err(error) = tree.set_host_variable(&host, &name, value) {
                errors.push(error);
            }
        }
    }
    if errors.is_empty() {
        tree.resolve()
    } else {
        Err(errors)
    }
}

/// Reads `_meta`, returning its `hostvars` object.
fn read_meta(meta: Value, errors: &mut Vec<InventoryError>) -> Map<String, Value> {
    let Value::Object(meta) = meta else {
        errors.push(InventoryError::without_host(
            "JSON: _meta must be an object",
        ));
        return Map::new();
    };
    let mut host_variables = Map::new();
    for (key, value) in meta {
        match (key.as_str(), value) {
            ("hostvars", Value::Object(entries)) => host_variables = entries,
            ("hostvars", _) => errors.push(InventoryError::without_host(
                "JSON: _meta.hostvars must be an object",
            )),
            // ansible-core 2.19 adds `_meta.profile` (the output profile's name); metadata
            // other than hostvars says nothing about hosts, so it is read past.
            (_, _) => {}
        }
    }
    host_variables
}

/// Reads one group object into the tree.
fn read_group(tree: &mut GroupTree, errors: &mut Vec<InventoryError>, group: &str, body: Value) {
    if !is_valid_group_name(group) {
        errors.push(InventoryError::without_host(format!(
            "JSON: group name {} is invalid; group names use only letters, digits, '_' and '-'",
            quoted_for_message(group)
        )));
        return;
    }
    let Value::Object(entries) = body else {
        errors.push(InventoryError::without_host(format!(
            "JSON: group {group} must be an object with hosts, children or vars"
        )));
        return;
    };
    tree.declare_group(group);
    for (key, value) in entries {
        match key.as_str() {
            "hosts" => {
                for host in string_list(value, group, "hosts", errors) {
                    if let Err(error) = tree.add_host(group, &host) {
                        errors.push(error);
                        return;
                    }
                }
            }
            "children" => {
                for child in string_list(value, group, "children", errors) {
                    if !is_valid_group_name(&child) {
                        errors.push(InventoryError::without_host(format!(
                            "JSON: group {group} lists the invalid child group name {}",
                            quoted_for_message(&child)
                        )));
                    } else if let Err(error) = tree.add_child(group, &child) {
                        errors.push(error);
                    }
                }
            }
            "vars" => {
                let Value::Object(variables) = value else {
                    errors.push(InventoryError::without_host(format!(
                        "JSON: group {group} vars must be an object"
                    )));
                    continue;
                };
                for (name, value) in variables {
                    if let Err(error) = tree.set_group_variable(group, &name, value) {
                        errors.push(error);
                    }
                }
            }
            other => errors.push(InventoryError::without_host(format!(
                "JSON: group {group} has the unknown key {}; a group has only hosts, children \
                 and vars",
                quoted_for_message(other)
            ))),
        }
    }
}

/// A list of strings, or an error (and an empty list) for anything else.
fn string_list(
    value: Value,
    group: &str,
    key: &str,
    errors: &mut Vec<InventoryError>,
) -> Vec<String> {
    let mut strings = Vec::new();
    if let Value::Array(items) = value {
        for item in items {
            if let Value::String(text) = item {
                strings.push(text);
            } else {
                errors.push(InventoryError::without_host(format!(
                    "JSON: group {group} {key} must be a list of strings"
                )));
                return Vec::new();
            }
        }
    } else {
        errors.push(InventoryError::without_host(format!(
            "JSON: group {group} {key} must be a list of strings"
        )));
    }
    strings
}

#[cfg(test)]
mod tests {
    use super::super::{Format, parse};
    use super::*;

    #[test]
    fn shape_errors_are_reported() {
        for text in [
            "[]",
            "{\"_meta\": []}",
            "{\"_meta\": {\"hostvars\": [], \"extra\": 1}}",
            "{\"web\": []}",
            "{\"web\": {\"hosts\": \"web-1\"}}",
            "{\"web\": {\"hosts\": [1]}}",
            "{\"web\": {\"hostz\": []}}",
            "{\"web\": {\"children\": [\"bad name\"]}}",
            "{\"web\": {\"vars\": []}}",
            "{\"bad name\": {}}",
            "{\"web\": {\"hosts\": [\"a\"]}, \"web\": {}}",
            "{\"_meta\": {\"hostvars\": {\"orphan\": {}}}}",
            "{\"_meta\": {\"hostvars\": {\"a\": 1}}, \"web\": {\"hosts\": [\"a\"]}}",
            "{\"web\": {\"hosts\": [\"a\"]",
            "{} trailing",
        ] {
            assert!(parse_ansible_json(text).is_err(), "{text}");
        }
    }

    #[test]
    fn an_empty_listing_is_an_empty_inventory() {
        let text = r#"{"_meta": {"hostvars": {}}, "all": {"children": ["ungrouped"]}}"#;
        assert!(parse(Format::AnsibleJson, text).unwrap().hosts.is_empty());
        assert!(parse(Format::AnsibleJson, "{}").unwrap().hosts.is_empty());
    }

    #[test]
    fn export_group_vars_sit_under_host_vars() {
        let text = r#"{"_meta": {"hostvars": {"web-1": {"ansible_port": 2201}}},
            "all": {"children": ["linux"]},
            "linux": {"hosts": ["web-1"], "vars": {"ansible_port": 2200, "ansible_user": "aiops"}}}"#;
        let inventory = parse(Format::AnsibleJson, text).unwrap();
        let ssh = inventory.hosts["web-1"].connection.ssh.clone().unwrap();
        assert_eq!(ssh.port, 2201);
        assert_eq!(ssh.user.as_deref(), Some("aiops"));
    }
}
