//! Integration tests of fieldcase-server, one binary so that the workspace links one test executable per crate.

mod actor_binding;
mod admin_cli;
mod api;
mod backup_restore;
mod blob_store;
mod case_page;
mod catalogue;
mod disclosure;
mod keys;
#[path = "../../../core/tests/it/common/lawful.rs"]
mod lawful;
mod moto;
mod pg_tls;
mod ratelimit;
#[path = "../../examples/seed_demo.rs"]
mod seed_demo;
mod sessions;
mod signals;
mod storage_postgres;
mod storage_sqlite;
mod supervision;
mod tls_pin;
mod validation;
