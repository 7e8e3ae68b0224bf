//! Integration tests of fieldcase-core, one binary so that the workspace links one test executable per crate.

mod bad_input;
mod change_observer;
mod common;
mod convergence;
#[cfg(feature = "bundled-font")]
mod documents_render;
mod encryption;
mod evidence_ingest;
mod evidence_sealed;
mod evidence_tamper;
mod fixtures;
mod follow_ups;
mod lease;
mod operations;
mod parser_fuzz;
mod parties;
mod schemas;
mod stats;
