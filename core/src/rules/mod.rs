//! The soft-enforcement rules, driven by catalogue data: exemption eligibility (with the
//! conditions checked and the evidence for "first offence"), discretion ranges, major-decision
//! detection, action field checks, cross-phone exemption conflicts, and [`check_record`], the
//! one check of a change to a record that the phone and the server both run. No violation item
//! is named here; everything item-specific comes from the [`crate::catalogue::Catalogue`].

mod author;
mod case;
mod change;
mod conflicts;
mod discretion;
mod documents;
mod exemption;
mod fields;
mod procedure;

pub use author::{Author, Directory, NoDirectory, Role, UserInfo, unit_in_scope};
pub use case::educates;
pub use change::{
    MAX_OPINION_CHARS, Refusal, RefusalCode, RuleContext, check_record, check_typed, writable_kinds,
};
pub use conflicts::{ExemptionSummary, exemption_conflicts};
pub use discretion::{PenaltyAssessment, PenaltyProposal, assess_penalty};
pub use documents::{DocumentLedger, MAX_INPUT_CHARS, NoLedger};
pub use exemption::{Condition, Eligibility, ExemptionFacts, assess_exemption};
pub use fields::check_fields;
pub use procedure::{Deadline, add_working_days, period_end, procedure_deadlines};

use crate::catalogue::Catalogue;
use crate::model::{CaseRecord, Decision};

/// The law's checks of a decision about to be made on `case` (which already holds its penalty
/// action): the penalty's lawfulness, its benchmark, review and hearing flags, and the
/// procedure before it. The phone runs it before signing, whoever is enrolled; the server
/// runs the same functions on every decision it merges.
pub fn check_decision_draft(
    case: &CaseRecord,
    d: &Decision,
    catalogue: &Catalogue,
) -> Result<PenaltyAssessment, Refusal> {
    let assessed = procedure::assess_decision(case, d, catalogue)?;
    let d = Decision {
        hearing_right: assessed.hearing_right,
        ..d.clone()
    };
    procedure::check_decision_procedure(case, &d, catalogue)?;
    Ok(assessed)
}

/// The penalty's own assessment (lawful kind and amount, benchmark, review and hearing
/// flags), without the procedure before it.
pub fn assess_decision_draft(
    case: &CaseRecord,
    d: &Decision,
    catalogue: &Catalogue,
) -> Result<PenaltyAssessment, Refusal> {
    procedure::assess_decision(case, d, catalogue)
}

/// The procedure's checks of step `step_id`, the last of `case.steps`.
pub fn check_step_draft(
    case: &CaseRecord,
    step_id: &str,
    catalogue: &Catalogue,
) -> Result<(), Refusal> {
    procedure::check_new_steps(&[step_id].into_iter().collect(), case, catalogue)
}
