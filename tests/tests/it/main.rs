//! End-to-end tests across phones and the server, one binary so that the workspace links one test executable per crate.

mod attacks;
mod authz_matrix;
mod blobs;
mod crash;
mod documents;
mod e2e;
mod evidence_entries;
mod evsync;
mod fleet;
mod forgery;
mod measure;
mod openapi;
mod party_identity;
mod pinning;
mod restore;
mod revoke;
mod s3_evidence;
mod scenarios;
mod transport;
mod wire_forms;
mod wire_schemas;
