//! Records as Automerge documents: writing JSON values into a document and reading the document
//! back as JSON.
//!
//! We write plain JSON shapes (maps, lists, scalars) rather than using a derive layer so that
//! every edit is an explicit, minimal operation: appending an action inserts one list element,
//! recording a follow-up result puts one key. That keeps concurrent edits from different phones
//! independent, which is what makes merges lossless.

pub mod bounded;

use crate::{CoreError, Result};
use automerge::{
    AutoCommit, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value, hydrate,
    transaction::Transactable,
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
///
/// Built from one `hydrate` walk of the document. `AutoSerde` gives the same JSON but looks
/// every map key and list index up again from the root of its object, which made reading a
/// record the largest cost of merging one on the sync server.
pub fn read_json(doc: &AutoCommit) -> Result<Json> {
    let v = doc
        .hydrate(&ROOT, None)
        .map_err(|e| CoreError::invalid("document", e.to_string()))?;
    hydrated_json(&v)
}

fn hydrated_json(v: &hydrate::Value) -> Result<Json> {
    Ok(match v {
        hydrate::Value::Scalar(s) => scalar_json(s)?,
        hydrate::Value::Text(t) => Json::String(String::from(t)),
        hydrate::Value::List(l) => Json::Array(
            l.iter()
                .map(|item| hydrated_json(&item.value))
                .collect::<Result<_>>()?,
        ),
        hydrate::Value::Map(m) => {
            // Key order as `AutoSerde` gives it (sorted), whatever the map type behind `Json`.
            let mut entries: Vec<(&String, &hydrate::MapValue)> = m.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            let mut out = serde_json::Map::with_capacity(entries.len());
            for (k, item) in entries {
                out.insert(k.clone(), hydrated_json(&item.value)?);
            }
            Json::Object(out)
        }
    })
}

/// A scalar as `AutoSerde` writes it (its serde form is untagged).
fn scalar_json(s: &ScalarValue) -> Result<Json> {
    Ok(match s {
        ScalarValue::Str(s) => Json::String(s.to_string()),
        ScalarValue::Int(i) => Json::from(*i),
        ScalarValue::Uint(u) => Json::from(*u),
        ScalarValue::Boolean(b) => Json::Bool(*b),
        ScalarValue::Null => Json::Null,
        other => serde_json::to_value(other)
            .map_err(|e| CoreError::invalid("document", e.to_string()))?,
    })
}

/// Loads a document from bytes another replica sent, refusing any part that does not parse
/// (`load_incremental` into an empty document drops an unparseable tail silently). A
/// document loaded this way holds exactly what `bytes` hold, so they may be stored as they
/// are once their dependencies are complete.
pub fn load_strict(bytes: &[u8]) -> std::result::Result<AutoCommit, automerge::AutomergeError> {
    AutoCommit::load_with_options(
        bytes,
        automerge::LoadOptions::new()
            .on_partial_load(automerge::OnPartialLoad::Error)
            .verification_mode(automerge::VerificationMode::Check),
    )
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
    create_from_json(doc, &to_json(record)?)
}

/// A new document holding the JSON object `json` at its root.
///
/// Written in one batch (`init_root_from_hydrate`): the same values as a put per field, with
/// the same scalar for every JSON value, but two splices into Automerge's op set instead of
/// one per field, which made writing a new record the largest cost of recording a case.
pub fn create_from_json(doc: &mut AutoCommit, json: &Json) -> Result<()> {
    let Json::Object(map) = json else {
        return Err(CoreError::invalid("record", "not an object"));
    };
    doc.init_root_from_hydrate(&hydrate_map(map))?;
    Ok(())
}

fn hydrate_map(map: &serde_json::Map<String, Json>) -> hydrate::Map {
    map.iter()
        .map(|(k, v)| (k.clone(), hydrate_value(v)))
        .collect::<std::collections::HashMap<String, hydrate::Value>>()
        .into()
}

/// `v` as the value [`put`] would write: scalars as [`scalar`] maps them.
fn hydrate_value(v: &Json) -> hydrate::Value {
    match (scalar(v), v) {
        (Some(s), _) => hydrate::Value::Scalar(s),
        (None, Json::Array(items)) => {
            hydrate::Value::List(items.iter().map(hydrate_value).collect::<Vec<_>>().into())
        }
        (None, Json::Object(map)) => hydrate::Value::Map(hydrate_map(map)),
        // `scalar` is `None` only for arrays and objects.
        (None, _) => hydrate::Value::Scalar(ScalarValue::Null),
    }
}

/// Whether a document written from `v` reads back as exactly `v`: true unless some number is
/// an integer beyond `i64`, which the document keeps as a float. Strings, booleans, null,
/// `i64` and `f64` values map one to one onto Automerge scalars, and maps read back with
/// their keys sorted, as `serde_json` keeps them.
pub fn stored_exactly(v: &Json) -> bool {
    match v {
        Json::Number(n) => n.is_i64() || n.is_f64(),
        Json::Array(items) => items.iter().all(stored_exactly),
        Json::Object(map) => map.values().all(stored_exactly),
        Json::Null | Json::Bool(_) | Json::String(_) => true,
    }
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

    /// The reference reading: what `AutoSerde` makes of the document.
    fn autoserde_json(doc: &AutoCommit) -> Json {
        serde_json::to_value(automerge::AutoSerde::from(doc)).unwrap_or(Json::Null)
    }

    #[test]
    fn a_record_written_in_one_batch_reads_and_merges_like_one_written_field_by_field() -> Result<()>
    {
        let v = json!({
            "id": "c1", "n": -7, "f": 2.0, "s": "占道经营", "t": true, "z": null,
            "actions": [{"id": "a1", "fields": {"deadline": 1_790_000_000_000_i64, "x": []}}],
            "flags": {}, "notes": []
        });
        let mut batch = AutoCommit::new();
        create_from_json(&mut batch, &v)?;
        batch.commit();
        let mut by_field = AutoCommit::new();
        fill(&mut by_field, &ROOT, &v)?;
        by_field.commit();
        assert_eq!(read_json(&batch)?, v);
        assert_eq!(read_json(&batch)?, read_json(&by_field)?);
        assert!(stored_exactly(&v));
        // Edits on two replicas of the batch-written document merge.
        let mut other = AutoCommit::load(&batch.save())?;
        append(&mut batch, "notes", &json!({"id": "n1"}))?;
        append(&mut other, "actions", &json!({"id": "a2"}))?;
        batch.merge(&mut other)?;
        let merged = read_json(&batch)?;
        assert_eq!(merged["notes"][0]["id"], "n1");
        assert_eq!(merged["actions"][1]["id"], "a2");
        // An integer beyond i64 is the one value a document does not keep exactly.
        let big = json!({"id": "c2", "n": u64::MAX});
        assert!(!stored_exactly(&big));
        let mut doc = AutoCommit::new();
        create_from_json(&mut doc, &big)?;
        assert_ne!(read_json(&doc)?, big);
        Ok(())
    }

    #[test]
    fn read_json_matches_autoserde_with_conflicts_text_and_nesting() -> Result<()> {
        let v = json!({
            "z": "last", "a": [1, -2, 3.5, null, true, {"k": [], "j": {}}],
            "m": {"b": "x", "a": {"deep": [[1], [2, {"x": "y"}]]}}, "n": u64::MAX
        });
        let mut a = AutoCommit::new();
        fill(&mut a, &ROOT, &v)?;
        let text = a
            .put_object(&ROOT, "t", ObjType::Text)
            .map_err(|e| CoreError::invalid("t", e.to_string()))?;
        a.splice_text(&text, 0, 0, "柔性执法")
            .map_err(|e| CoreError::invalid("t", e.to_string()))?;
        let mut b = a.fork();
        // Concurrent writes of the same key: one wins, the same on every replica.
        put(&mut a, &ROOT, "z", &json!("from a"))?;
        put(&mut b, &ROOT, "z", &json!({"from": "b"}))?;
        append(&mut a, "a", &json!("a1"))?;
        append(&mut b, "a", &json!("b1"))?;
        a.merge(&mut b)?;
        assert_eq!(read_json(&a)?, autoserde_json(&a));
        assert_eq!(read_json(&a)?["t"], json!("柔性执法"));
        Ok(())
    }

    #[test]
    fn a_strict_load_refuses_a_tail_that_does_not_parse() -> Result<()> {
        let mut doc = AutoCommit::new();
        fill(&mut doc, &ROOT, &json!({"id": "x"}))?;
        let mut bytes = doc.save();
        assert!(load_strict(&bytes).is_ok());
        bytes.extend_from_slice(b"not automerge");
        assert!(load_strict(&bytes).is_err());
        // What a lenient load would have done: keep the good part, drop the rest unseen.
        let mut lenient = AutoCommit::new();
        assert!(lenient.load_incremental(&bytes).is_ok());
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
