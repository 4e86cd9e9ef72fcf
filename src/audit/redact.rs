//! Redaction of secrets (temporary minimal version; replaced by the full pattern set).

use std::borrow::Cow;

use serde_json::Value;

pub(crate) const REDACTED: &str = "[REDACTED]";

pub(crate) fn is_secret_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    lower.contains("password") || lower.contains("secret") || lower.contains("token")
}

pub(crate) fn redact_text(text: &str) -> Cow<'_, str> {
    Cow::Borrowed(text)
}

pub(crate) fn redact_value(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, item)| {
                    if is_secret_key(key) {
                        (key.clone(), Value::String(REDACTED.into()))
                    } else {
                        (key.clone(), redact_value(item))
                    }
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact_value).collect()),
        Value::String(text) => Value::String(redact_text(text).into_owned()),
        Value::Null | Value::Bool(_) | Value::Number(_) => value.clone(),
    }
}
