//! One pushed document: merged into the stored one, screened by author, checked by the rules,
//! and turned into the write to make.

use super::judge::{Accepted, judge};
use super::route::{Held, Route, split};
use super::write::{Write, decode_heads, missing_for, write_for};
use super::{Need, Policy, Stored};
use crate::model::RecordKind;
use crate::rules::Refusal;
use automerge::{AutoCommit, ChangeHash};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

/// A document a device pushed.
#[derive(Debug, Clone, Copy)]
pub struct Push<'a> {
    /// Its id, as the request names it.
    pub doc_id: &'a str,
    /// Its kind, as the request names it.
    pub kind: RecordKind,
    /// The Automerge bytes pushed (changes or a whole document).
    pub changes: &'a [u8],
    /// The heads the device holds (hex), to answer with what it lacks.
    pub have_heads: &'a [String],
}

/// Where the step stands: it needs a lookup, or it is done.
#[derive(Debug)]
pub enum Step {
    /// Look this up and call again.
    Need(Need),
    /// The answer.
    Done(Outcome),
}

/// What the step decided about a push.
#[derive(Debug)]
pub enum Outcome {
    /// The bytes are not Automerge data (or a run of them does not merge).
    Malformed,
    /// The changes depend on changes the store lacks: the device should send everything.
    NeedFull {
        /// The stored heads (hex), so the device knows what the store holds.
        server_heads: Vec<String>,
    },
    /// A rule refused the record; nothing is written.
    Refused(Refusal),
    /// Merged, or nothing new to merge.
    Merged(Box<Merged>),
}

/// A push that merged (or brought nothing new).
#[derive(Debug)]
pub struct Merged {
    /// What to write, and what the server keeps of the record; `None` when nothing new
    /// merged (everything was known, held or left out).
    pub write: Option<(Accepted, Write)>,
    /// Heads after the merge (hex).
    pub server_heads: Vec<String>,
    /// What the device lacks of the merged document.
    pub reply: Vec<u8>,
    /// Changes of revoked devices held back.
    pub held: Option<Held>,
    /// Changes left out for their own device to push.
    pub deferred: usize,
    /// The record before, if stored.
    pub old: Option<Value>,
    /// The record after, when anything merged.
    pub new: Option<Value>,
}

/// Merges `push` into `stored` (`None`: a new document) under `policy`. Nothing is written:
/// the caller writes [`Merged::write`] with the stored heads as the expected ones, and calls
/// again with the new stored state when a concurrent writer won the race.
///
/// A new document is loaded strictly (every byte must parse), because its bytes may be stored
/// as sent; into an existing one what merged is re-encoded, so a lenient merge is enough.
pub fn ingest(
    stored: Option<Stored<'_>>,
    push: &Push<'_>,
    policy: &dyn Policy,
) -> crate::Result<Step> {
    let load = || -> crate::Result<AutoCommit> {
        Ok(match stored {
            Some(s) => AutoCommit::load(s.bytes)?,
            None => AutoCommit::new(),
        })
    };
    let mut doc = load()?;
    let old = match stored {
        Some(_) => Some(crate::doc::read_json(&doc)?),
        None => None,
    };
    let before = doc.get_heads();
    if merge_into(&mut doc, stored.is_none(), push.changes).is_err() {
        return Ok(Step::Done(Outcome::Malformed));
    }
    if !doc.get_missing_deps(&[]).is_empty() {
        return Ok(Step::Done(Outcome::NeedFull {
            server_heads: stored.map(|s| decode_heads(s.heads)).unwrap_or_default(),
        }));
    }
    // Who wrote the new changes: every one must be the pushing device's own, or the policy
    // says where it goes instead.
    let mut routes: HashMap<ChangeHash, Route> = HashMap::new();
    let mut unknown = BTreeSet::new();
    for m in doc.get_changes_meta(&before) {
        match policy.route(&m.actor.to_hex_string(), m.timestamp) {
            Ok(r) => {
                routes.insert(m.hash, r);
            }
            Err(Need::Actors(a)) => unknown.extend(a),
            Err(other) => return Ok(Step::Need(other)),
        }
    }
    if !unknown.is_empty() {
        return Ok(Step::Need(Need::Actors(unknown)));
    }
    let mut held = None;
    let mut deferred = 0;
    let mut stages = Vec::new();
    if routes.values().any(|r| *r != Route::Merge(None)) {
        let s = split(&doc.get_changes(&before), &routes);
        doc = load()?;
        held = s.held;
        deferred = s.deferred;
        stages = s.stages;
    }
    // Each run is checked as its own author: handover work of a revoked device as that
    // device's user, the rest as the pusher.
    let staged = !stages.is_empty();
    let runs: Vec<(Option<String>, Option<Vec<u8>>)> = if staged {
        stages.into_iter().map(|(by, b)| (by, Some(b))).collect()
    } else {
        vec![(None, None)]
    };
    let mut prev = old.clone();
    let mut accepted = None;
    let mut new = None;
    for (by, bytes) in runs {
        if let Some(bytes) = bytes {
            let fresh = prev.is_none() && doc.get_heads().is_empty();
            if merge_into(&mut doc, fresh, &bytes).is_err() || !doc.get_missing_deps(&[]).is_empty()
            {
                return Ok(Step::Done(Outcome::Malformed));
            }
        }
        if doc.get_heads() == before {
            continue;
        }
        let json = crate::doc::read_json(&doc)?;
        let author = match policy.author(by.as_deref()) {
            Ok(a) => a,
            Err(n) => return Ok(Step::Need(n)),
        };
        let ctx = match policy.context(prev.as_ref(), &json) {
            Ok(c) => c,
            Err(n) => return Ok(Step::Need(n)),
        };
        match judge(&author, &ctx, push.doc_id, push.kind, prev.as_ref(), &json) {
            Ok(a) => accepted = Some(a),
            Err(r) => return Ok(Step::Done(Outcome::Refused(r))),
        }
        prev = Some(json.clone());
        new = Some(json);
    }
    let server_heads = doc.get_heads().iter().map(|h| h.to_string()).collect();
    let reply = missing_for(&mut doc, push.have_heads);
    let write = accepted.map(|a| {
        let verbatim = (stored.is_none() && !staged && held.is_none() && deferred == 0)
            .then_some(push.changes);
        let w = write_for(&mut doc, &before, stored.map(|s| s.chunk_count), verbatim);
        (a, w)
    });
    Ok(Step::Done(Outcome::Merged(Box::new(Merged {
        write,
        server_heads,
        reply,
        held,
        deferred,
        old,
        new,
    }))))
}

/// Merges pushed bytes into `doc`: strictly when the document is new (its bytes may be stored
/// as sent), leniently into an existing one (what merged is re-encoded).
fn merge_into(doc: &mut AutoCommit, new: bool, bytes: &[u8]) -> Result<(), ()> {
    if new {
        *doc = crate::doc::load_strict(bytes).map_err(drop)?;
        Ok(())
    } else {
        doc.load_incremental(bytes).map(drop).map_err(drop)
    }
}
