//! The offline operations an officer or volunteer performs, each one durable write.
//!
//! Every operation checks its input and the record's current state first (typed errors, nothing
//! written), then makes the smallest edit to the document that expresses it, so concurrent
//! edits from other phones merge without overwriting each other. One file per kind of work:
//! cases and their lifecycle, notes, exemptions, follow-ups, the penalty procedure, parties and
//! demonstrations; the inputs they take are in [`inputs`].

mod cases;
mod demonstrations;
mod exemption;
mod follow_ups;
mod inputs;
mod notes;
mod parties;
mod penalty;

pub use cases::set_conflict_flag;
pub use inputs::*;
pub use parties::match_hash;

use super::FieldStore;
use crate::catalogue::Catalogue;
use crate::model::*;
use crate::rules;
use crate::{CoreError, Result, ids};

pub(super) fn check_unit(unit: &str) -> Result<()> {
    let ok = !unit.is_empty()
        && unit.split('/').all(|seg| {
            !seg.is_empty()
                && seg
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        });
    if ok {
        Ok(())
    } else {
        Err(CoreError::invalid(
            "unit",
            "expected a path like city/county/squad",
        ))
    }
}

pub(crate) fn check_person(field: &str, v: &str) -> Result<()> {
    if v.trim().is_empty() || v.len() > 64 {
        return Err(CoreError::invalid(field, "must be 1 to 64 characters"));
    }
    Ok(())
}

pub(crate) fn check_text(field: &str, v: &str, max: usize) -> Result<()> {
    if v.trim().is_empty() {
        return Err(CoreError::invalid(field, "must not be empty"));
    }
    if v.chars().count() > max {
        return Err(CoreError::invalid(
            field,
            format!("longer than {max} characters"),
        ));
    }
    Ok(())
}

pub(super) fn check_time(field: &str, ms: i64) -> Result<()> {
    // 2000-01-01 .. 2200-01-01: anything else is a clock or input fault.
    if !(946_684_800_000..7_258_118_400_000).contains(&ms) {
        return Err(CoreError::invalid(field, "time out of range"));
    }
    Ok(())
}

/// The case a write edits, as it stands; a closed case takes no edits but a reopening.
pub(super) fn open_case<'a>(current: &'a Record, id: &str) -> Result<&'a CaseRecord> {
    let case = as_case(current, id)?;
    if case.is_closed() {
        return Err(CoreError::CaseClosed {
            case_id: id.to_string(),
        });
    }
    Ok(case)
}

/// The case of a write to document `id`; any other record is malformed as a case.
pub(super) fn as_case<'a>(current: &'a Record, id: &str) -> Result<&'a CaseRecord> {
    current
        .as_case()
        .ok_or_else(|| CoreError::MalformedDocument {
            doc_id: id.to_string(),
            reason: format!("a {} record, not a case", current.kind().as_str()),
        })
}

impl FieldStore {
    /// An action checked against `catalogue` (the version of the case it goes on).
    pub(super) fn build_action(&self, a: &NewAction, catalogue: &Catalogue) -> Result<Action> {
        check_person("action.by", &a.by)?;
        check_time("action.at_ms", a.at_ms)?;
        if let Some(n) = &a.note {
            check_text("action.note", n, 4000)?;
        }
        let spec = catalogue
            .method(a.method)
            .ok_or_else(|| CoreError::invalid("method", "not in the catalogue"))?;
        rules::check_fields(spec, &a.fields)?;
        Ok(Action {
            id: ids::new_id(),
            method: a.method,
            measure_category: spec.measure_category,
            at_ms: a.at_ms,
            by: a.by.clone(),
            note: a.note.clone(),
            fields: a.fields.clone(),
        })
    }

    /// The catalogue a case is judged under: the version it recorded.
    pub(super) fn case_catalogue(
        &self,
        case: &CaseRecord,
    ) -> Result<std::sync::Arc<crate::catalogue::Catalogue>> {
        self.catalogues()
            .get(&case.violation.catalogue_version)
            .cloned()
            .ok_or_else(|| CoreError::Catalogue {
                reason: format!(
                    "catalogue version {} of this case is not on this device",
                    case.violation.catalogue_version
                ),
            })
    }

    /// On an enrolled phone, `by` must be the enrolled user: refused as the server would
    /// (`forged_author`) before the law's checks look at anything else.
    pub(super) fn check_enrolled_author(&self, field: &str, by: &str) -> Result<()> {
        if let Some(a) = self.enrolled_author()?
            && a.user_id != by
        {
            return Err(CoreError::Refused {
                code: rules::RefusalCode::ForgedAuthor.as_str().to_string(),
                detail: format!("{field} must name the author of the change"),
            });
        }
        Ok(())
    }
}
