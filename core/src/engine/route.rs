//! Where each new change of a push goes: merged (as the pusher's, or as handover work of a
//! revoked device), held for an operator, or left for its own device to push.

use automerge::{Change, ChangeHash};
use std::collections::{BTreeSet, HashMap, HashSet};

/// Where one new change goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Merged; checked as the pusher (`None`) or as the revoked device it names.
    Merge(Option<String>),
    /// Held for an operator: written on this revoked device (empty when inherited from a
    /// held dependency).
    Hold(String),
    /// Left out: another device's change, for that device to push.
    Defer,
}

/// Changes held back from one push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// Revoked devices whose actors authored them.
    pub devices: BTreeSet<String>,
    /// Their hashes.
    pub hashes: Vec<ChangeHash>,
    /// Change chunks, concatenated, in causal order.
    pub bytes: Vec<u8>,
}

/// A push's new changes, split by route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Runs of merged changes by author, in causal order: the bytes of each run and the
    /// revoked device it is checked as (`None`: the pusher).
    pub stages: Vec<(Option<String>, Vec<u8>)>,
    /// What was held, if anything.
    pub held: Option<Held>,
    /// How many changes were left out for their own device to push.
    pub deferred: usize,
}

/// Splits new changes (in causal order) by the route each was given; a change depending on a
/// held change is held, one depending on a deferred change is deferred.
pub fn split(changes: &[Change], routes: &HashMap<ChangeHash, Route>) -> Split {
    let mut held_hashes: HashSet<ChangeHash> = HashSet::new();
    let mut deferred_hashes: HashSet<ChangeHash> = HashSet::new();
    let mut held = Held {
        devices: BTreeSet::new(),
        hashes: vec![],
        bytes: vec![],
    };
    let mut stages: Vec<(Option<String>, Vec<u8>)> = Vec::new();
    for c in changes {
        // A change without a route is nobody's the policy knows: left for its device.
        let mut r = routes.get(&c.hash()).cloned().unwrap_or(Route::Defer);
        if c.deps().iter().any(|d| held_hashes.contains(d)) {
            r = match r {
                Route::Hold(d) => Route::Hold(d),
                _ => Route::Hold(String::new()),
            };
        } else if matches!(r, Route::Merge(_))
            && c.deps().iter().any(|d| deferred_hashes.contains(d))
        {
            r = Route::Defer;
        }
        match r {
            Route::Merge(by) => match stages.last_mut() {
                Some((last, bytes)) if *last == by => bytes.extend_from_slice(c.raw_bytes()),
                _ => stages.push((by, c.raw_bytes().to_vec())),
            },
            Route::Defer => {
                deferred_hashes.insert(c.hash());
            }
            Route::Hold(device) => {
                if !device.is_empty() {
                    held.devices.insert(device);
                }
                held_hashes.insert(c.hash());
                held.hashes.push(c.hash());
                held.bytes.extend_from_slice(c.raw_bytes());
            }
        }
    }
    Split {
        stages,
        held: (!held.hashes.is_empty()).then_some(held),
        deferred: deferred_hashes.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::{ActorId, AutoCommit, ROOT, transaction::Transactable};

    /// Three changes in a chain: by `a`, then `b`, then `a` again.
    fn chain() -> Vec<Change> {
        let mut doc = AutoCommit::new().with_actor(ActorId::from(b"aaaa".as_slice()));
        doc.put(ROOT, "x", 1).ok();
        doc.commit();
        let mut doc = doc.with_actor(ActorId::from(b"bbbb".as_slice()));
        doc.put(ROOT, "x", 2).ok();
        doc.commit();
        let mut doc = doc.with_actor(ActorId::from(b"aaaa".as_slice()));
        doc.put(ROOT, "x", 3).ok();
        doc.commit();
        doc.get_changes(&[])
    }

    fn routes(changes: &[Change], of: impl Fn(&str) -> Route) -> HashMap<ChangeHash, Route> {
        changes
            .iter()
            .map(|c| (c.hash(), of(&c.actor_id().to_hex_string())))
            .collect()
    }

    #[test]
    fn a_change_on_a_held_one_is_held_and_on_a_deferred_one_deferred() {
        let changes = chain();
        let b = ActorId::from(b"bbbb".as_slice()).to_hex_string();
        let held = split(
            &changes,
            &routes(&changes, |a| {
                if a == b {
                    Route::Hold("DEV-R".into())
                } else {
                    Route::Merge(None)
                }
            }),
        );
        assert_eq!(held.stages.len(), 1, "only the first change merges");
        let h = held.held.expect("held");
        assert_eq!(h.hashes.len(), 2);
        assert_eq!(h.devices.into_iter().collect::<Vec<_>>(), vec!["DEV-R"]);

        let deferred = split(
            &changes,
            &routes(&changes, |a| {
                if a == b {
                    Route::Defer
                } else {
                    Route::Merge(None)
                }
            }),
        );
        assert_eq!(deferred.deferred, 2);
        assert!(deferred.held.is_none());
    }

    #[test]
    fn runs_are_grouped_by_author() {
        let changes = chain();
        let b = ActorId::from(b"bbbb".as_slice()).to_hex_string();
        let s = split(
            &changes,
            &routes(&changes, |a| {
                Route::Merge((a == b).then(|| "DEV-R".to_string()))
            }),
        );
        let by: Vec<Option<&str>> = s.stages.iter().map(|(b, _)| b.as_deref()).collect();
        assert_eq!(by, vec![None, Some("DEV-R"), None]);
    }
}
