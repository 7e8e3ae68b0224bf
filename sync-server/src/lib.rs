//! fieldcase sync server.

pub mod supervision;
