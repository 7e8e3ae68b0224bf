//! The session machine against a fake server, no network.
