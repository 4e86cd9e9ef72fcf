//! Ansible's YAML inventory format.
//!
//! The document is a mapping of groups, usually the single group `all`:
//! `all: {hosts: {name: {vars} or null}, vars: {...}, children: {group: {hosts, vars, children}}}`.
//! Other top-level groups are accepted too and become children of `all`. Host keys may carry
//! ranges and a `:port` suffix, as in INI. The document is read with the strict reader
//! (`strict_value`), so duplicate keys, alias bombs and unknown tags are errors, and a
//! `!vault` value reaches the shared secret check.
//!
//! Invariants:
//! - A group takes only the keys `hosts`, `vars` and `children`; any other key is an error
//!   (Ansible merely warns, which would let a typo drop hosts silently).
//! - An empty document is an empty inventory.

use serde_json::{Map, Value};

use super::groups::GroupTree;
use super::host_pattern::{expand_host_pattern, split_port};
use super::strict_value::value_from_yaml;
use super::{InventoryError, RawInventory, is_valid_group_name, quoted_for_message};

/// Reads a YAML inventory into a raw inventory.
pub(super) fn parse_yaml(text: &str) -> Result<RawInventory, Vec<InventoryError>> {
    let document = value_from_yaml(text)
        .map_err(|message| vec![InventoryError::without_host(format!("YAML: {message}"))])?;
    let mut tree = GroupTree::new();
    let mut errors = Vec::new();
    match document {
        Value::Null => {}
        Value::Object(groups) => {
            for (group, body) in groups {
                read_group(&mut tree, &mut errors, None, &group, body);
            }
        }
        Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Array(_) => {
            errors.push(InventoryError::without_host(
                "YAML: the document must be a mapping of groups, such as all: {hosts: ...}",
            ));
        }
    }
    if errors.is_empty() {
        tree.resolve()
    } else {
        Err(errors)
    }
}

/// Reads one group (its hosts, variables and children, recursively) into the tree.
fn read_group(
    tree: &mut GroupTree,
    errors: &mut Vec<InventoryError>,
    parent: Option<&str>,
    group: &str,
    body: Value,
) {
    if !is_valid_group_name(group) {
        errors.push(InventoryError::without_host(format!(
            "YAML: group name {} is invalid; group names use only letters, digits, '_' and '-'",
            quoted_for_message(group)
        )));
        return;
    }
    tree.declare_group(group);
    if let Some(parent) = parent
        && let Err(error) = tree.add_child(parent, group)
    {
        errors.push(error);
        return;
    }
    let Some(entries) = mapping_or_empty(body, &format!("group {group}"), errors) else {
        return;
    };
    for (key, value) in entries {
        match key.as_str() {
            "hosts" => read_hosts(tree, errors, group, value),
            "vars" => {
                let Some(variables) =
                    mapping_or_empty(value, &format!("group {group} vars"), errors)
                else {
                    continue;
                };
                for (name, value) in variables {
                    if let Err(error) = tree.set_group_variable(group, &name, value) {
                        errors.push(error);
                    }
                }
            }
            "children" => {
                let Some(children) =
                    mapping_or_empty(value, &format!("group {group} children"), errors)
                else {
                    continue;
                };
                for (child, child_body) in children {
                    read_group(tree, errors, Some(group), &child, child_body);
                }
            }
            other => errors.push(InventoryError::without_host(format!(
                "YAML: group {group} has the unknown key {}; a group has only hosts, vars and \
                 children",
                quoted_for_message(other)
            ))),
        }
    }
}

/// Reads a group's `hosts` mapping: host patterns to their variables (or null).
fn read_hosts(tree: &mut GroupTree, errors: &mut Vec<InventoryError>, group: &str, hosts: Value) {
    let Some(hosts) = mapping_or_empty(hosts, &format!("group {group} hosts"), errors) else {
        return;
    };
    for (pattern_text, variables) in hosts {
        let pattern = split_port(&pattern_text);
        let names = match expand_host_pattern(pattern.name) {
            Ok(names) => names,
            Err(message) => {
                errors.push(InventoryError::without_host(format!("YAML: {message}")));
                continue;
            }
        };
        let Some(variables) = mapping_or_empty(
            variables,
            &format!(
                "host {} in group {group}",
                quoted_for_message(&pattern_text)
            ),
            errors,
        ) else {
            continue;
        };
        for name in names {
            if let Err(error) = tree.add_host(group, &name) {
                errors.push(error);
                return;
            }
            if let Some(port) = pattern.port {
                let port_value = port
                    .parse::<u64>()
                    .map_or_else(|_| Value::String(port.to_owned()), Value::from);
                if let Err(error) = tree.set_host_variable(&name, "ansible_port", port_value) {
                    errors.push(error);
                }
            }
            for (variable, value) in &variables {
                if let Err(error) = tree.set_host_variable(&name, variable, value.clone()) {
                    errors.push(error);
                }
            }
        }
    }
}

/// The entries of a mapping, or none for null; anything else is reported as an error.
fn mapping_or_empty(
    value: Value,
    what: &str,
    errors: &mut Vec<InventoryError>,
) -> Option<Map<String, Value>> {
    match value {
        Value::Object(entries) => Some(entries),
        Value::Null => Some(Map::new()),
        Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Array(_) => {
            errors.push(InventoryError::without_host(format!(
                "YAML: {what} must be a mapping (or empty)"
            )));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Format, HostType, parse};
    use super::*;
    use serde_json::json;

    #[test]
    fn top_level_groups_without_all_are_accepted() {
        let text = "linux:\n  hosts:\n    web-1:\n    web-[a:b]:2200:\n      ansible_user: aiops\n";
        let inventory = parse(Format::Yaml, text).unwrap();
        let names: Vec<&str> = inventory.hosts.keys().map(String::as_str).collect();
        assert_eq!(names, ["web-1", "web-a", "web-b"]);
        let ssh = inventory.hosts["web-a"].connection.ssh.clone().unwrap();
        assert_eq!(ssh.port, 2200);
        assert_eq!(ssh.user.as_deref(), Some("aiops"));
        assert_eq!(inventory.hosts["web-1"].host_type, HostType::Linux);
    }

    #[test]
    fn nested_children_inherit_and_override() {
        let text = "all:\n  vars: {level: all, a: 1}\n  children:\n    linux:\n      vars: {level: linux}\n      children:\n        web:\n          vars: {level: web}\n          hosts:\n            web-1: {own: yes}\n";
        let raw_inventory = parse_yaml(text).unwrap();
        let variables = &raw_inventory.hosts["web-1"].variables;
        assert_eq!(variables["level"], json!("web"));
        assert_eq!(variables["a"], json!(1));
        assert_eq!(variables["own"], json!("yes"));
    }

    #[test]
    fn shape_errors_are_reported() {
        for text in [
            "- a\n- b\n",
            "all:\n  hostz: {}\n",
            "all:\n  hosts: [a, b]\n",
            "all:\n  hosts:\n    web-1: [1]\n",
            "all:\n  children:\n    bad group: {}\n",
            "all:\n  children:\n    x:\n      children:\n        all: {}\n",
            "all: {hosts: {a: 1, a: 2}}\n",
            "all: [\n",
            "all:\n  hosts:\n    web[3:1]:\n",
            "a: 1\n---\nb: 2\n",
        ] {
            assert!(parse_yaml(text).is_err(), "{text}");
        }
    }

    #[test]
    fn an_empty_document_is_an_empty_inventory() {
        assert_eq!(parse(Format::Yaml, "").unwrap().hosts.len(), 0);
        assert_eq!(parse(Format::Yaml, "# nothing\n").unwrap().hosts.len(), 0);
        assert_eq!(parse(Format::Yaml, "all:\n").unwrap().hosts.len(), 0);
        assert_eq!(
            parse(Format::Yaml, "all: {hosts: {}, children: {}}\n")
                .unwrap()
                .hosts
                .len(),
            0
        );
    }
}
