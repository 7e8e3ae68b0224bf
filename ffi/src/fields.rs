//! Action fields as typed values rather than a JSON string: a Kotlin `when` or a Swift `switch`
//! over [`FieldValue`] reads naturally, and a type mistake is caught by the compiler of the app
//! instead of at run time. Which fields a method takes is catalogue data
//! (`FieldcaseStore::method_specs`); core checks names, types and required fields.

use crate::FieldcaseError;
use serde_json::{Map, Value};

/// The value of one action field.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum FieldValue {
    /// Text, an enum value or an evidence id.
    Text {
        /// The text.
        value: String,
    },
    /// A list of texts or of evidence ids.
    TextList {
        /// The texts.
        values: Vec<String>,
    },
    /// A whole number or a time in unix milliseconds.
    Integer {
        /// The number.
        value: i64,
    },
    /// True or false.
    Boolean {
        /// The flag.
        value: bool,
    },
}

/// One named field of an action.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ActionField {
    /// The field's name in the method's catalogue spec, e.g. `explained`.
    pub name: String,
    /// Its value.
    pub value: FieldValue,
}

/// Builds the JSON map core stores; refuses a name given twice.
pub(crate) fn to_json(fields: Vec<ActionField>) -> Result<Map<String, Value>, FieldcaseError> {
    let mut map = Map::new();
    for f in fields {
        let v = match f.value {
            FieldValue::Text { value } => Value::from(value),
            FieldValue::TextList { values } => Value::from(values),
            FieldValue::Integer { value } => Value::from(value),
            FieldValue::Boolean { value } => Value::from(value),
        };
        if map.insert(f.name.clone(), v).is_some() {
            return Err(FieldcaseError::invalid(
                &format!("fields.{}", f.name),
                "given more than once",
            ));
        }
    }
    Ok(map)
}

/// The fields of a stored action. A value of a shape the catalogue does not use (possible only
/// in a record written by another version) is passed on as its JSON text.
pub(crate) fn from_json(map: &Map<String, Value>) -> Vec<ActionField> {
    map.iter()
        .map(|(name, v)| ActionField {
            name: name.clone(),
            value: value_of(v),
        })
        .collect()
}

fn value_of(v: &Value) -> FieldValue {
    match v {
        Value::String(s) => FieldValue::Text { value: s.clone() },
        Value::Bool(b) => FieldValue::Boolean { value: *b },
        Value::Number(n) => match n.as_i64() {
            Some(value) => FieldValue::Integer { value },
            None => FieldValue::Text {
                value: n.to_string(),
            },
        },
        Value::Array(a) if a.iter().all(Value::is_string) => FieldValue::TextList {
            values: a
                .iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect(),
        },
        other => FieldValue::Text {
            value: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_duplicates_are_refused() {
        let fields = vec![
            ActionField {
                name: "explained".into(),
                value: FieldValue::Text {
                    value: "占道".into(),
                },
            },
            ActionField {
                name: "deadline".into(),
                value: FieldValue::Integer { value: 5 },
            },
            ActionField {
                name: "items".into(),
                value: FieldValue::TextList {
                    values: vec!["a".into()],
                },
            },
            ActionField {
                name: "ok".into(),
                value: FieldValue::Boolean { value: true },
            },
        ];
        let map = to_json(fields.clone()).expect("map");
        let mut back = from_json(&map);
        back.sort_by(|a, b| a.name.cmp(&b.name));
        let mut want = fields.clone();
        want.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(back, want);
        let twice = vec![fields[0].clone(), fields[0].clone()];
        assert!(matches!(
            to_json(twice),
            Err(FieldcaseError::InvalidInput { .. })
        ));
    }
}
