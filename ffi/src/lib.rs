//! UniFFI layer over fieldcase-core.
