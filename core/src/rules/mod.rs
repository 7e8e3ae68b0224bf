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
mod exemption;
mod fields;

pub use author::{Author, Directory, NoDirectory, Role, UserInfo, unit_in_scope};
pub use case::educates;
pub use change::{
    MAX_OPINION_CHARS, Refusal, RefusalCode, RuleContext, check_record, writable_kinds,
};
pub use conflicts::{ExemptionSummary, exemption_conflicts};
pub use discretion::{PenaltyAssessment, assess_penalty};
pub use exemption::{Condition, Eligibility, ExemptionFacts, assess_exemption};
pub use fields::check_fields;
