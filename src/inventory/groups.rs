//! Ansible's group model, shared by the INI, YAML and JSON parsers.
//!
//! A `GroupTree` collects what a file declares (groups with their variables and children,
//! hosts with their own variables and the groups that list them directly), then `resolve`
//! turns it into a raw inventory: each host with every ancestor group and its variables merged
//! with Ansible's precedence (host variables over child-group variables over parent-group
//! variables over `all` variables; groups of the same depth in name order).
//!
//! Invariants:
//! - The merge never depends on the order of the text: a variable set twice to different
//!   values for the same host, or for the same group, is an error instead of a silent winner.
//! - `all` is the root: every group without a parent is its child, and `all` is nobody's child.
//!   A cycle of `children` is an error.
//! - At most `MAX_HOSTS` distinct hosts are accepted; `add_host` refuses the next one.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::{Map, Value};

use super::{InventoryError, MAX_HOSTS, RawHost, RawInventory, too_many_hosts_error};

/// The root group of every inventory.
const ALL_GROUP: &str = "all";

/// The group of hosts that are in no other group.
const UNGROUPED_GROUP: &str = "ungrouped";

/// Every group of a host (ancestors included) and their merged variables.
type ResolvedGroups = (BTreeSet<String>, Map<String, Value>);

/// What the file said about one group.
#[derive(Debug, Default)]
struct GroupDeclaration {
    /// The group's own variables.
    variables: Map<String, Value>,
    /// The names of its child groups.
    children: BTreeSet<String>,
}

/// What the file said about one host.
#[derive(Debug, Default)]
struct HostDeclaration {
    /// The groups that list the host directly.
    direct_groups: BTreeSet<String>,
    /// The host's own variables.
    variables: Map<String, Value>,
}

/// The groups and hosts of an Ansible inventory, as declared.
#[derive(Debug)]
pub(super) struct GroupTree {
    /// Every group, by name; `all` and `ungrouped` always exist.
    groups: BTreeMap<String, GroupDeclaration>,
    /// Every host, by name.
    hosts: BTreeMap<String, HostDeclaration>,
}

impl GroupTree {
    /// An empty tree with only the groups `all` and `ungrouped`.
    pub(super) fn new() -> GroupTree {
        let mut groups = BTreeMap::new();
        groups.insert(ALL_GROUP.to_owned(), GroupDeclaration::default());
        groups.insert(UNGROUPED_GROUP.to_owned(), GroupDeclaration::default());
        GroupTree {
            groups,
            hosts: BTreeMap::new(),
        }
    }

    /// Makes sure a group exists.
    pub(super) fn declare_group(&mut self, group: &str) {
        if !self.groups.contains_key(group) {
            self.groups
                .insert(group.to_owned(), GroupDeclaration::default());
        }
    }

    /// Whether a host has been declared in any group.
    pub(super) fn has_host(&self, host: &str) -> bool {
        self.hosts.contains_key(host)
    }

    /// Lists a host directly in a group; refuses a host beyond `MAX_HOSTS`.
    pub(super) fn add_host(&mut self, group: &str, host: &str) -> Result<(), InventoryError> {
        self.declare_group(group);
        if let Some(declaration) = self.hosts.get_mut(host) {
            declaration.direct_groups.insert(group.to_owned());
            return Ok(());
        }
        if self.hosts.len() >= MAX_HOSTS {
            return Err(too_many_hosts_error());
        }
        let mut declaration = HostDeclaration::default();
        declaration.direct_groups.insert(group.to_owned());
        self.hosts.insert(host.to_owned(), declaration);
        Ok(())
    }

    /// Sets one of a host's own variables; the host must have been added first.
    pub(super) fn set_host_variable(
        &mut self,
        host: &str,
        name: &str,
        value: Value,
    ) -> Result<(), InventoryError> {
        let Some(declaration) = self.hosts.get_mut(host) else {
            return Err(InventoryError::for_host(
                host,
                "has variables but is in no group",
            ));
        };
        set_without_conflict(&mut declaration.variables, name, value).map_err(|()| {
            InventoryError::for_host(
                host,
                format!("variable {name} is set to two different values"),
            )
        })
    }

    /// Sets one of a group's variables.
    pub(super) fn set_group_variable(
        &mut self,
        group: &str,
        name: &str,
        value: Value,
    ) -> Result<(), InventoryError> {
        self.declare_group(group);
        let Some(declaration) = self.groups.get_mut(group) else {
            return Err(InventoryError::without_host(format!(
                "group {group} vanished while it was declared"
            )));
        };
        set_without_conflict(&mut declaration.variables, name, value).map_err(|()| {
            InventoryError::without_host(format!(
                "group {group}: variable {name} is set to two different values"
            ))
        })
    }

    /// Makes one group a child of another.
    pub(super) fn add_child(&mut self, parent: &str, child: &str) -> Result<(), InventoryError> {
        if child == ALL_GROUP {
            return Err(InventoryError::without_host(format!(
                "group {parent} lists all as a child; all is the root of every inventory"
            )));
        }
        if child == parent {
            return Err(InventoryError::without_host(format!(
                "group {parent} lists itself as a child"
            )));
        }
        self.declare_group(child);
        self.declare_group(parent);
        if let Some(declaration) = self.groups.get_mut(parent) {
            declaration.children.insert(child.to_owned());
        }
        Ok(())
    }

    /// Resolves every host's groups (ancestors included) and merged variables.
    pub(super) fn resolve(self) -> Result<RawInventory, Vec<InventoryError>> {
        let mut parents: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (parent, declaration) in &self.groups {
            for child in &declaration.children {
                parents
                    .entry(child.as_str())
                    .or_default()
                    .insert(parent.as_str());
            }
        }
        for group in self.groups.keys() {
            if group != ALL_GROUP {
                let group_parents = parents.entry(group.as_str()).or_default();
                if group_parents.is_empty() {
                    group_parents.insert(ALL_GROUP);
                }
            }
        }
        let depths = group_depths(&parents)?;
        let mut resolved_by_direct_groups: BTreeMap<&BTreeSet<String>, ResolvedGroups> =
            BTreeMap::new();
        let ungrouped_only: BTreeSet<String> = BTreeSet::from([UNGROUPED_GROUP.to_owned()]);
        let mut hosts = BTreeMap::new();
        for (name, declaration) in &self.hosts {
            let is_only_in_all = declaration
                .direct_groups
                .iter()
                .all(|group| group == ALL_GROUP);
            let direct_groups = if is_only_in_all {
                &ungrouped_only
            } else {
                &declaration.direct_groups
            };
            let (groups, group_variables) = resolved_by_direct_groups
                .entry(direct_groups)
                .or_insert_with(|| self.ancestors_and_variables(direct_groups, &parents, &depths))
                .clone();
            let mut variables = group_variables;
            for (variable, value) in &declaration.variables {
                variables.insert(variable.clone(), value.clone());
            }
            hosts.insert(name.clone(), RawHost { variables, groups });
        }
        Ok(RawInventory { hosts })
    }

    /// Every ancestor of a set of groups (the groups and `all` included) and their variables
    /// merged in Ansible's order: shallow before deep, then by name, later overriding earlier.
    fn ancestors_and_variables(
        &self,
        direct_groups: &BTreeSet<String>,
        parents: &BTreeMap<&str, BTreeSet<&str>>,
        depths: &BTreeMap<String, usize>,
    ) -> (BTreeSet<String>, Map<String, Value>) {
        let mut ancestors: BTreeSet<String> = BTreeSet::new();
        let mut pending: Vec<&str> = direct_groups.iter().map(String::as_str).collect();
        pending.push(ALL_GROUP);
        while let Some(group) = pending.pop() {
            if ancestors.insert(group.to_owned())
                && let Some(group_parents) = parents.get(group)
            {
                pending.extend(group_parents.iter().copied());
            }
        }
        let mut ordered: Vec<(usize, &str)> = ancestors
            .iter()
            .map(|group| {
                (
                    depths.get(group).copied().unwrap_or_default(),
                    group.as_str(),
                )
            })
            .collect();
        ordered.sort_unstable();
        let mut variables = Map::new();
        for (_, group) in ordered {
            if let Some(declaration) = self.groups.get(group) {
                for (name, value) in &declaration.variables {
                    variables.insert(name.clone(), value.clone());
                }
            }
        }
        (ancestors, variables)
    }
}

/// The depth of every group (`all` is 0; a group is one deeper than its deepest parent),
/// or an error naming the groups caught in a `children` cycle.
fn group_depths(
    parents: &BTreeMap<&str, BTreeSet<&str>>,
) -> Result<BTreeMap<String, usize>, Vec<InventoryError>> {
    let mut children: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut waiting_parents: BTreeMap<&str, usize> = BTreeMap::new();
    for (child, group_parents) in parents {
        waiting_parents.insert(child, group_parents.len());
        for parent in group_parents {
            children.entry(parent).or_default().push(child);
        }
    }
    let mut depths: BTreeMap<String, usize> = BTreeMap::new();
    depths.insert(ALL_GROUP.to_owned(), 0);
    let mut ready: VecDeque<&str> = VecDeque::from([ALL_GROUP]);
    while let Some(group) = ready.pop_front() {
        let depth = depths.get(group).copied().unwrap_or_default();
        for child in children.get(group).map(Vec::as_slice).unwrap_or_default() {
            let child_depth = depths.entry((*child).to_owned()).or_default();
            *child_depth = (*child_depth).max(depth + 1);
            if let Some(waiting) = waiting_parents.get_mut(child) {
                *waiting = waiting.saturating_sub(1);
                if *waiting == 0 {
                    ready.push_back(child);
                }
            }
        }
    }
    let stuck: Vec<&str> = waiting_parents
        .iter()
        .filter(|(_, waiting)| **waiting > 0)
        .map(|(group, _)| *group)
        .collect();
    if stuck.is_empty() {
        return Ok(depths);
    }
    let shown: Vec<&str> = stuck.iter().copied().take(10).collect();
    let more = if stuck.len() > shown.len() {
        ", ..."
    } else {
        ""
    };
    Err(vec![InventoryError::without_host(format!(
        "the children of groups form a cycle; these groups are in it or below it: {}{more}",
        shown.join(", ")
    ))])
}

/// Sets a variable unless it already holds a different value.
fn set_without_conflict(
    variables: &mut Map<String, Value>,
    name: &str,
    value: Value,
) -> Result<(), ()> {
    match variables.get(name) {
        Some(existing) if *existing != value => Err(()),
        Some(_) => Ok(()),
        None => {
            variables.insert(name.to_owned(), value);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deeper_groups_override_shallower_ones_and_hosts_override_groups() {
        let mut tree = GroupTree::new();
        tree.add_child("linux", "web").unwrap();
        tree.add_host("web", "web-1").unwrap();
        tree.set_group_variable("all", "level", json!("all"))
            .unwrap();
        tree.set_group_variable("linux", "level", json!("linux"))
            .unwrap();
        tree.set_group_variable("linux", "only_parent", json!(1))
            .unwrap();
        tree.set_group_variable("web", "level", json!("web"))
            .unwrap();
        tree.set_group_variable("web", "mine", json!("group"))
            .unwrap();
        tree.set_host_variable("web-1", "mine", json!("host"))
            .unwrap();
        let inventory = tree.resolve().unwrap();
        let host = &inventory.hosts["web-1"];
        assert_eq!(host.variables["level"], json!("web"));
        assert_eq!(host.variables["only_parent"], json!(1));
        assert_eq!(host.variables["mine"], json!("host"));
        let groups: Vec<&str> = host.groups.iter().map(String::as_str).collect();
        assert_eq!(groups, ["all", "linux", "web"]);
    }

    #[test]
    fn depth_is_the_longest_path_from_all() {
        // `deep` is a child of both `top` (depth 1) and `middle` (depth 2), so it is at depth 3
        // and its variables beat `middle`'s.
        let mut tree = GroupTree::new();
        tree.add_child("top", "middle").unwrap();
        tree.add_child("middle", "deep").unwrap();
        tree.add_child("top", "deep").unwrap();
        tree.add_host("deep", "host-1").unwrap();
        tree.add_host("middle", "host-1").unwrap();
        tree.set_group_variable("middle", "value", json!("middle"))
            .unwrap();
        tree.set_group_variable("deep", "value", json!("deep"))
            .unwrap();
        let inventory = tree.resolve().unwrap();
        assert_eq!(inventory.hosts["host-1"].variables["value"], json!("deep"));
    }

    #[test]
    fn conflicting_settings_are_errors_and_equal_ones_are_not() {
        let mut tree = GroupTree::new();
        tree.add_host("a", "host-1").unwrap();
        tree.set_host_variable("host-1", "x", json!(1)).unwrap();
        tree.set_host_variable("host-1", "x", json!(1)).unwrap();
        let error = tree.set_host_variable("host-1", "x", json!(2)).unwrap_err();
        assert_eq!(error.host.as_deref(), Some("host-1"));
        tree.set_group_variable("a", "y", json!("one")).unwrap();
        assert!(tree.set_group_variable("a", "y", json!("two")).is_err());
    }

    #[test]
    fn cycles_and_all_as_a_child_are_errors() {
        let mut tree = GroupTree::new();
        tree.add_child("a", "b").unwrap();
        tree.add_child("b", "c").unwrap();
        tree.add_child("c", "a").unwrap();
        let errors = tree.resolve().unwrap_err();
        assert!(errors[0].message.contains("cycle"), "{errors:?}");
        let mut tree = GroupTree::new();
        assert!(tree.add_child("a", "all").is_err());
        assert!(tree.add_child("a", "a").is_err());
    }

    #[test]
    fn hosts_only_in_all_land_in_ungrouped() {
        let mut tree = GroupTree::new();
        tree.add_host("all", "lonely").unwrap();
        tree.set_group_variable("ungrouped", "marker", json!(true))
            .unwrap();
        let inventory = tree.resolve().unwrap();
        let host = &inventory.hosts["lonely"];
        assert!(host.groups.contains("ungrouped"));
        assert_eq!(host.variables["marker"], json!(true));
    }
}
