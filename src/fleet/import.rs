//! Planning an inventory import, pure: which facts to write and which to retract so the fleet
//! graph says exactly what the new inventory says.
//!
//! A host is the subject `host:<name>` with one `desired` fact `inventory` (its host type,
//! groups and connection details) and one `desired` fact `member_of:<group>` = true per group
//! (group membership as edges). Facts of those predicates that the new inventory no longer
//! implies are retracted; everything else is written, and the store adds no version for an
//! unchanged value.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::actuator::INVENTORY_PREDICATE;
use crate::clock::Timestamp;
use crate::fleet::{FactKey, FactType, FactVersion};
use crate::inventory::{Inventory, host_json};
use crate::store::facts::NewFact;

/// The prefix of group-membership predicates.
pub const MEMBER_OF_PREFIX: &str = "member_of:";

/// What an import will write and retract.
#[derive(Clone, Debug, Default)]
pub struct ImportPlan {
    pub puts: Vec<NewFact>,
    pub retractions: Vec<FactKey>,
}

/// The subject a host's facts are filed under.
pub fn host_subject(host: &str) -> String {
    format!("host:{host}")
}

/// Whether a stored fact is one an import manages.
pub fn is_inventory_fact(version: &FactVersion) -> bool {
    version.key.fact_type == FactType::Desired
        && (version.key.predicate == INVENTORY_PREDICATE
            || version.key.predicate.starts_with(MEMBER_OF_PREFIX))
}

/// Plans the import of `inventory` over the `current` active facts, effective at `at`.
pub fn plan_import(inventory: &Inventory, current: &[FactVersion], at: Timestamp) -> ImportPlan {
    let mut plan = ImportPlan::default();
    let mut wanted: BTreeSet<FactKey> = BTreeSet::new();
    for host in inventory.hosts.values() {
        let subject = host_subject(&host.name);
        let mut put = |predicate: String, value: Value| {
            let key = FactKey {
                subject: subject.clone(),
                predicate,
                fact_type: FactType::Desired,
            };
            wanted.insert(key.clone());
            plan.puts.push(NewFact {
                key,
                value,
                valid_from: at,
            });
        };
        put(INVENTORY_PREDICATE.to_owned(), host_json(host));
        for group in &host.groups {
            put(format!("{MEMBER_OF_PREFIX}{group}"), Value::Bool(true));
        }
    }
    plan.retractions = current
        .iter()
        .filter(|version| is_inventory_fact(version) && !wanted.contains(&version.key))
        .map(|version| version.key.clone())
        .collect();
    plan
}
