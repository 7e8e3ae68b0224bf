//! Checks an action's fields against its method's spec in the catalogue.

use crate::catalogue::{FieldType, MethodSpec};
use crate::{CoreError, Result};
use serde_json::{Map, Value};

/// Refuses unknown fields, missing required ones and values of the wrong type.
pub fn check_fields(spec: &MethodSpec, fields: &Map<String, Value>) -> Result<()> {
    let method = spec.method.as_str();
    for (name, value) in fields {
        let Some(f) = spec.fields.iter().find(|f| &f.name == name) else {
            return Err(CoreError::invalid(
                format!("{method}.{name}"),
                "not a field of this method",
            ));
        };
        let ok = match f.field_type {
            FieldType::Text => value.as_str().is_some_and(|s| !s.trim().is_empty()),
            FieldType::TextList => value
                .as_array()
                .is_some_and(|a| a.iter().all(|v| v.is_string())),
            FieldType::DateTime | FieldType::Integer => value.as_i64().is_some(),
            FieldType::Boolean => value.is_boolean(),
            FieldType::Enum => value
                .as_str()
                .is_some_and(|s| f.values.iter().any(|v| v == s)),
            FieldType::EvidenceRef => value.as_str().is_some_and(crate::ids::is_valid_id),
            FieldType::EvidenceRefs => value.as_array().is_some_and(|a| {
                a.iter()
                    .all(|v| v.as_str().is_some_and(crate::ids::is_valid_id))
            }),
        };
        if !ok {
            let expected = match f.field_type {
                FieldType::Enum => format!("one of {}", f.values.join(", ")),
                t => format!("{t:?}").to_lowercase(),
            };
            return Err(CoreError::invalid(
                format!("{method}.{name}"),
                format!("expected {expected}"),
            ));
        }
        if f.field_type == FieldType::Integer && value.as_i64().is_some_and(|v| v < 0) {
            return Err(CoreError::invalid(
                format!("{method}.{name}"),
                "must not be negative",
            ));
        }
    }
    for f in spec.fields.iter().filter(|f| f.required) {
        if !fields.contains_key(&f.name) {
            return Err(CoreError::invalid(
                format!("{method}.{}", f.name),
                "required",
            ));
        }
    }
    Ok(())
}
