//! fieldcase sync server.
