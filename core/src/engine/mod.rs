//! The sync engine's one merge step, with no I/O: what the server does with a document a
//! device pushed (merge, screen by author, check the rules, build the write), and with an edit
//! the server makes itself (a review, an approval, a conflict flag).
//!
//! Everything here is a pure function of the stored document, the pushed bytes and a
//! [`Policy`] that answers who wrote what and what the rules may look up. A policy that lacks
//! an answer says so with a [`Need`]; the caller looks it up (a database query on the server)
//! and calls again. The step is deterministic, so calling again costs a merge and nothing
//! else: the server's sync handler, its review and quarantine services, the conflict flags and
//! the fuzz targets all run this one code, and its tests need no database and no network.
//!
//! The write it returns ([`Write`]) is built in one place ([`write::write_for`]), which owns
//! when a stored document is compacted into one snapshot.

mod edit;
mod ingest;
mod judge;
mod route;
mod write;

pub use edit::{Edited, edit};
pub use ingest::{Merged, Outcome, Push, Step, ingest};
pub use judge::{Accepted, blob_refs, judge};
pub use route::{Held, Route, Split, split};
pub use write::{
    COMPACT_AFTER, VERBATIM_MAX, Write, decode_heads, encode_heads, missing_for,
    missing_for_stored, write_for,
};

use crate::rules::{Author, RuleContext};
use serde_json::Value;
use std::collections::BTreeSet;

/// A document as the store holds it: its bytes (a snapshot and the chunks appended since),
/// its heads (32 bytes each, concatenated) and how many chunks it is stored in.
#[derive(Debug, Clone, Copy)]
pub struct Stored<'a> {
    /// Snapshot and chunks, as `AutoCommit::load` takes them.
    pub bytes: &'a [u8],
    /// Heads, 32 bytes each.
    pub heads: &'a [u8],
    /// Chunks the document is stored in (1 after a compaction).
    pub chunk_count: i64,
}

/// What a [`Policy`] must look up before the step can go on.
#[derive(Debug, Clone, PartialEq)]
pub enum Need {
    /// Which devices these actors (hex) are bound to.
    Actors(BTreeSet<String>),
    /// The author that handover work of this revoked device is checked as.
    Author(String),
    /// What the rules need to judge `new` written over `old`: the officers it names, the
    /// numbers and party block of the documents it adds.
    Lookups {
        /// The record before the change, if stored.
        old: Option<Value>,
        /// The record after it.
        new: Value,
    },
}

/// Who wrote what, and what the rules may look up: the part of a merge that needs the
/// server's (or a test's) knowledge. Every method answers from what the policy already holds
/// or asks for a lookup with a [`Need`].
pub trait Policy {
    /// Where a new change of `actor` (hex), stamped `timestamp_s` by its author's clock, goes.
    fn route(&self, actor: &str, timestamp_s: i64) -> Result<Route, Need>;
    /// The author a run of changes is checked as: the pusher (`None`), or the user of the
    /// revoked device whose handover work it is.
    fn author(&self, by: Option<&str>) -> Result<Author, Need>;
    /// The context the rules check `new` (written over `old`) in.
    fn context(&self, old: Option<&Value>, new: &Value) -> Result<RuleContext<'_>, Need>;
}

#[cfg(test)]
mod tests;
