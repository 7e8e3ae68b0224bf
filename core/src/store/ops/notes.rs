//! Notes: free text an officer adds to a case.

use super::{check_person, check_text, open_case};
use crate::doc::append;
use crate::model::*;
use crate::store::FieldStore;
use crate::{Result, ids};

impl FieldStore {
    /// Adds a note; returns its id.
    pub fn add_note(&self, case_id: &str, by: &str, at_ms: i64, text: &str) -> Result<String> {
        check_person("by", by)?;
        check_text("text", text, 4000)?;
        let note = Note {
            id: ids::new_id(),
            at_ms,
            by: by.into(),
            text: text.into(),
        };
        let id = note.id.clone();
        self.write_doc(case_id, "add note", |doc, current| {
            open_case(current, case_id)?;
            append(doc, "notes", &note)
        })?;
        Ok(id)
    }
}
