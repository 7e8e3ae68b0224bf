//! The soft-enforcement rules, driven by catalogue data: exemption eligibility (with the
//! conditions checked and the evidence for "first offence"), discretion ranges, major-decision
//! detection, action field checks and cross-phone exemption conflicts. No violation item is
//! named here; everything item-specific comes from the [`crate::catalogue::Catalogue`].

mod conflicts;
mod discretion;
mod exemption;
mod fields;

pub use conflicts::{ExemptionSummary, exemption_conflicts};
pub use discretion::{PenaltyAssessment, assess_penalty};
pub use exemption::{Condition, Eligibility, ExemptionFacts, assess_exemption};
pub use fields::check_fields;
