//! A strict reader of JSON and YAML documents into `serde_json::Value`.
//!
//! The ordinary readers accept things an inventory must not: JSON objects with a key given
//! twice (the last silently wins) and YAML aliases that expand a small text into a huge tree.
//! This reader is one serde visitor used for both formats.
//!
//! Invariants:
//! - A mapping key given twice is an error, and every mapping key must be a string.
//! - A document expands to at most `MAX_VALUES` values and `MAX_STRING_BYTES` bytes of strings,
//!   aliases counted every time they are used, so an alias bomb fails instead of eating memory.
//! - YAML tags: `!vault` becomes `YAML_VAULT_MARKER` (the vaulted text is dropped, and the
//!   shared secret check refuses it), `!unsafe` is read as its plain value, any other tag is an
//!   error. YAML merge keys (`<<`) are applied; explicit keys win over merged ones.
//! - Floats must be finite (JSON cannot hold the others).

use std::cell::Cell;
use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};
use serde_json::{Map, Number, Value};

use super::YAML_VAULT_MARKER;

/// The most values (scalars, lists, mappings and keys) one document may expand to.
const MAX_VALUES: usize = 5_000_000;

/// The most bytes of strings one document may expand to.
const MAX_STRING_BYTES: usize = 64 * 1024 * 1024;

/// Reads a JSON document strictly.
pub(super) fn value_from_json(text: &str) -> Result<Value, String> {
    let budget = Budget::new();
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = StrictValueSeed {
        budget: &budget,
        applies_merge_keys: false,
    }
    .deserialize(&mut deserializer)
    .map_err(|error| error.to_string())?;
    deserializer.end().map_err(|error| error.to_string())?;
    Ok(value)
}

/// Reads a YAML document strictly; an empty document is `null`.
pub(super) fn value_from_yaml(text: &str) -> Result<Value, String> {
    value_from_yaml_within(text, &Budget::new())
}

/// Reads a YAML document strictly within a budget.
fn value_from_yaml_within(text: &str, budget: &Budget) -> Result<Value, String> {
    if text
        .lines()
        .all(|line| line.trim().is_empty() || line.trim_start().starts_with('#'))
    {
        return Ok(Value::Null);
    }
    let deserializer = serde_yaml_ng::Deserializer::from_str(text);
    StrictValueSeed {
        budget,
        applies_merge_keys: true,
    }
    .deserialize(deserializer)
    .map_err(|error| error.to_string())
}

/// What a document may still expand to.
struct Budget {
    /// Values left.
    values_left: Cell<usize>,
    /// String bytes left.
    string_bytes_left: Cell<usize>,
}

impl Budget {
    /// The full budget of one document.
    fn new() -> Budget {
        Budget::with_limits(MAX_VALUES, MAX_STRING_BYTES)
    }

    /// A budget of `values` values and `string_bytes` bytes of strings.
    fn with_limits(values: usize, string_bytes: usize) -> Budget {
        Budget {
            values_left: Cell::new(values),
            string_bytes_left: Cell::new(string_bytes),
        }
    }

    /// Spends one value and `string_bytes` bytes of string.
    fn spend<E: de::Error>(&self, string_bytes: usize) -> Result<(), E> {
        let values_left = self.values_left.get().checked_sub(1);
        let string_bytes_left = self.string_bytes_left.get().checked_sub(string_bytes);
        match (values_left, string_bytes_left) {
            (Some(values_left), Some(string_bytes_left)) => {
                self.values_left.set(values_left);
                self.string_bytes_left.set(string_bytes_left);
                Ok(())
            }
            (None, _) | (_, None) => Err(E::custom(format!(
                "the document expands to more than {MAX_VALUES} values or {MAX_STRING_BYTES} \
                 bytes of text (are YAML aliases repeating a large part?)"
            ))),
        }
    }
}

/// Reads one value of a document, spending from the shared budget.
#[derive(Clone, Copy)]
struct StrictValueSeed<'budget> {
    /// The budget of the whole document.
    budget: &'budget Budget,
    /// Whether `<<` keys are YAML merge keys (in JSON they are ordinary keys).
    applies_merge_keys: bool,
}

impl<'de> DeserializeSeed<'de> for StrictValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON-compatible value")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Value, E> {
        self.budget.spend(0)?;
        Ok(Value::Bool(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Value, E> {
        self.budget.spend(0)?;
        Ok(Value::from(value))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Value, E> {
        self.budget.spend(0)?;
        Ok(Value::from(value))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Value, E> {
        self.budget.spend(0)?;
        Number::from_f64(value)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number is not finite (.nan or .inf)"))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Value, E> {
        self.budget.spend(value.len())?;
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Value, E> {
        self.budget.spend(value.len())?;
        Ok(Value::String(value))
    }

    fn visit_bytes<E: de::Error>(self, _value: &[u8]) -> Result<Value, E> {
        Err(E::custom("binary values are not accepted"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.budget.spend(0)?;
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut sequence: A) -> Result<Value, A::Error> {
        self.budget.spend(0)?;
        let mut items = Vec::with_capacity(sequence.size_hint().unwrap_or_default().min(1024));
        while let Some(item) = sequence.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut mapping: A) -> Result<Value, A::Error> {
        self.budget.spend(0)?;
        let mut entries = Map::new();
        let mut merged_sources = Vec::new();
        while let Some(key) = mapping.next_key_seed(self)? {
            let Value::String(key) = key else {
                return Err(de::Error::custom("a mapping key is not a string; quote it"));
            };
            let value = mapping.next_value_seed(self)?;
            if self.applies_merge_keys && key == "<<" {
                merged_sources.push(value);
                continue;
            }
            if entries.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "the key {} is given twice in one mapping",
                    quoted_key(&key)
                )));
            }
            entries.insert(key, value);
        }
        for source in merged_sources {
            merge_into(&mut entries, source).map_err(de::Error::custom)?;
        }
        Ok(Value::Object(entries))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        let (tag, contents): (String, A::Variant) = data.variant()?;
        let bare_tag = tag.trim_start_matches('!');
        match bare_tag {
            "vault" => contents
                .newtype_variant_seed(self)
                .map(|_vaulted_text| Value::String(YAML_VAULT_MARKER.to_owned())),
            "unsafe" => contents.newtype_variant_seed(self),
            _ => Err(de::Error::custom(format!(
                "the YAML tag !{} is not supported (only !vault and !unsafe are)",
                quoted_key(bare_tag)
            ))),
        }
    }
}

/// Applies one YAML merge source (a mapping or a list of mappings) under explicit keys.
fn merge_into(entries: &mut Map<String, Value>, source: Value) -> Result<(), &'static str> {
    let mappings = match source {
        Value::Object(mapping) => vec![mapping],
        Value::Array(items) => {
            let mut mappings = Vec::with_capacity(items.len());
            for item in items {
                let Value::Object(mapping) = item else {
                    return Err("a YAML merge key (<<) takes a mapping or a list of mappings");
                };
                mappings.push(mapping);
            }
            mappings
        }
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {
            return Err("a YAML merge key (<<) takes a mapping or a list of mappings");
        }
    };
    for mapping in mappings {
        for (key, value) in mapping {
            entries.entry(key).or_insert(value);
        }
    }
    Ok(())
}

/// A key shown in an error message: escaped and cut to 64 characters.
fn quoted_key(key: &str) -> String {
    let shown: String = key.chars().take(64).collect();
    format!("{shown:?}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::fmt::Write as _;

    #[test]
    fn duplicate_json_keys_are_refused() {
        let error = value_from_json(r#"{"a": 1, "a": 2}"#).unwrap_err();
        assert!(error.contains("twice"), "{error}");
        assert_eq!(
            value_from_json(r#"{"a": {"b": [1, 2.5, null]}}"#).unwrap(),
            json!({"a": {"b": [1, 2.5, null]}})
        );
        assert!(value_from_json("{} {}").is_err());
    }

    #[test]
    fn yaml_tags_and_merge_keys_are_handled() {
        let value = value_from_yaml(
            "a: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  3031\nb: !unsafe '{{x}}'\n",
        )
        .unwrap();
        assert_eq!(value, json!({"a": YAML_VAULT_MARKER, "b": "{{x}}"}));
        assert!(value_from_yaml("a: !custom 1\n").is_err());
        let merged =
            value_from_yaml("base: &base {x: 1, y: 2}\nuse:\n  <<: *base\n  y: 3\n").unwrap();
        assert_eq!(merged["use"], json!({"x": 1, "y": 3}));
        assert!(value_from_yaml("a: 1\na: 2\n").is_err());
        assert!(value_from_yaml("? [1, 2]\n: x\n").is_err());
        assert!(value_from_yaml("a: .nan\n").is_err());
        assert_eq!(value_from_yaml("# only a comment\n").unwrap(), Value::Null);
    }

    #[test]
    fn alias_bombs_run_out_of_budget() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..12 {
            let previous = level - 1;
            let items = vec![format!("*a{previous}"); 10].join(", ");
            writeln!(text, "a{level}: &a{level} [{items}]").unwrap();
        }
        assert!(value_from_yaml(&text).is_err());
        // Few aliases of one large anchor stay under the YAML reader's own alias limit, so
        // this one is stopped by the budget, which counts every use of an alias.
        let items = vec!["x"; 100].join(", ");
        let aliases = vec!["*big"; 20].join(", ");
        let text = format!("big: &big [{items}]\ncopies: [{aliases}]\n");
        assert!(value_from_yaml_within(&text, &Budget::with_limits(3_000, 1 << 20)).is_ok());
        let error =
            value_from_yaml_within(&text, &Budget::with_limits(1_000, 1 << 20)).unwrap_err();
        assert!(error.contains("expands to more than"), "{error}");
        let long_string = "y".repeat(1_000);
        let text = format!("big: &big {long_string}\ncopies: [*big, *big, *big]\n");
        assert!(value_from_yaml_within(&text, &Budget::with_limits(100, 3_000)).is_err());
    }
}
