//! Records as Automerge documents: writing JSON values into a document and reading the document
//! back as JSON.
//!
//! We write plain JSON shapes (maps, lists, scalars) rather than using a derive layer so that
//! every edit is an explicit, minimal operation: appending an action inserts one list element,
//! recording a follow-up result puts one key. That keeps concurrent edits from different phones
//! independent, which is what makes merges lossless.

use crate::{CoreError, Result};
use automerge::{
    AutoCommit, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value, transaction::Transactable,
};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value as Json;

/// Converts a JSON scalar to an Automerge scalar; `None` for maps and lists.
fn scalar(v: &Json) -> Option<ScalarValue> {
    Some(match v {
        Json::Null => ScalarValue::Null,
        Json::Bool(b) => ScalarValue::Boolean(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => ScalarValue::Int(i),
            None => ScalarValue::F64(n.as_f64().unwrap_or(0.0)),
        },
        Json::String(s) => ScalarValue::Str(s.as_str().into()),
        Json::Array(_) | Json::Object(_) => return None,
    })
}

/// Fills an empty map or list object with the contents of `v`.
fn fill(doc: &mut AutoCommit, obj: &ObjId, v: &Json) -> Result<()> {
    match v {
        Json::Object(map) => {
            for (k, val) in map {
                put(doc, obj, k, val)?;
            }
        }
        Json::Array(items) => {
            for (i, val) in items.iter().enumerate() {
                insert(doc, obj, i, val)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Puts `v` at `key` of map `obj`, creating nested objects as needed.
pub fn put(doc: &mut AutoCommit, obj: &ObjId, key: &str, v: &Json) -> Result<()> {
    match scalar(v) {
        Some(s) => doc.put(obj, key, s)?,
        None => {
            let t = if v.is_array() {
                ObjType::List
            } else {
                ObjType::Map
            };
            let child = doc.put_object(obj, key, t)?;
            fill(doc, &child, v)?;
        }
    }
    Ok(())
}

/// Inserts `v` at `index` of list `obj`.
pub fn insert(doc: &mut AutoCommit, obj: &ObjId, index: usize, v: &Json) -> Result<()> {
    match scalar(v) {
        Some(s) => doc.insert(obj, index, s)?,
        None => {
            let t = if v.is_array() {
                ObjType::List
            } else {
                ObjType::Map
            };
            let child = doc.insert_object(obj, index, t)?;
            fill(doc, &child, v)?;
        }
    }
    Ok(())
}

/// Puts a serialisable value at `key` of the root map.
pub fn put_root<T: Serialize>(doc: &mut AutoCommit, key: &str, v: &T) -> Result<()> {
    let json = to_json(v)?;
    put(doc, &ROOT, key, &json)
}

/// Appends a serialisable value to the list at root key `list`, creating the list if needed.
pub fn append<T: Serialize>(doc: &mut AutoCommit, list: &str, v: &T) -> Result<()> {
    let obj = ensure_list(doc, list)?;
    let len = doc.length(&obj);
    insert(doc, &obj, len, &to_json(v)?)
}

/// The list object at a root key, created if missing.
pub fn ensure_list(doc: &mut AutoCommit, key: &str) -> Result<ObjId> {
    match doc.get(&ROOT, key)? {
        Some((Value::Object(ObjType::List), id)) => Ok(id),
        _ => Ok(doc.put_object(&ROOT, key, ObjType::List)?),
    }
}

/// The map element of root list `list` whose `id` field equals `id`.
pub fn find_in_list(doc: &AutoCommit, list: &str, id: &str) -> Result<Option<ObjId>> {
    let Some((Value::Object(ObjType::List), list_obj)) = doc.get(&ROOT, list)? else {
        return Ok(None);
    };
    for i in 0..doc.length(&list_obj) {
        if let Some((Value::Object(ObjType::Map), item)) = doc.get(&list_obj, i)?
            && let Some((Value::Scalar(s), _)) = doc.get(&item, "id")?
            && s.as_str() == Some(id)
        {
            return Ok(Some(item));
        }
    }
    Ok(None)
}

/// Serialises to a JSON value.
pub fn to_json<T: Serialize>(v: &T) -> Result<Json> {
    serde_json::to_value(v).map_err(|e| CoreError::invalid("record", e.to_string()))
}

/// The whole document as JSON (conflicts resolved to Automerge's deterministic winner).
pub fn read_json(doc: &AutoCommit) -> Result<Json> {
    serde_json::to_value(automerge::AutoSerde::from(doc))
        .map_err(|e| CoreError::invalid("document", e.to_string()))
}

/// The document as a typed record.
pub fn read<T: DeserializeOwned>(doc: &AutoCommit, doc_id: &str) -> Result<T> {
    let json = read_json(doc)?;
    serde_json::from_value(json).map_err(|e| CoreError::MalformedDocument {
        doc_id: doc_id.to_string(),
        reason: e.to_string(),
    })
}

/// A new document holding `record` at its root.
pub fn create<T: Serialize>(doc: &mut AutoCommit, record: &T) -> Result<()> {
    let json = to_json(record)?;
    let Json::Object(_) = json else {
        return Err(CoreError::invalid("record", "not an object"));
    };
    fill(doc, &ROOT, &json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_round_trips_through_a_document() -> Result<()> {
        let v = json!({"a": 1, "b": 2.5, "c": "x", "d": [1, {"e": null}], "f": {"g": true}});
        let mut doc = AutoCommit::new();
        fill(&mut doc, &ROOT, &v)?;
        assert_eq!(read_json(&doc)?, v);
        Ok(())
    }

    #[test]
    fn concurrent_appends_both_survive() -> Result<()> {
        let mut a = AutoCommit::new();
        append(&mut a, "notes", &json!({"id": "1"}))?;
        let mut b = a.fork();
        append(&mut a, "notes", &json!({"id": "2"}))?;
        append(&mut b, "notes", &json!({"id": "3"}))?;
        a.merge(&mut b)?;
        b.merge(&mut a)?;
        assert_eq!(read_json(&a)?, read_json(&b)?);
        assert_eq!(read_json(&a)?["notes"].as_array().map(Vec::len), Some(3));
        assert!(find_in_list(&a, "notes", "3")?.is_some());
        Ok(())
    }
}
