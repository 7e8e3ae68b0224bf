//! fieldcase sync server.

pub mod audit;
pub mod supervision;
