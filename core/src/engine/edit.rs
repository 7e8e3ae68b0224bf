//! An edit the server makes itself (a review, an approval, a conflict flag): applied to the
//! stored document as one change of the server's actor, read back for the rules, and written
//! by the same builder as a push.

use super::Stored;
use super::write::{Write, write_for};
use automerge::transaction::CommitOptions;
use automerge::{ActorId, AutoCommit, ChangeHash};
use serde_json::Value;

/// A stored document with one edit applied, not yet written.
#[derive(Debug)]
pub struct Edited<T> {
    doc: AutoCommit,
    before: Vec<ChangeHash>,
    chunk_count: i64,
    /// The record before the edit.
    pub old: Value,
    /// The record after it.
    pub new: Value,
    /// What the edit returned.
    pub out: T,
}

/// Applies `f` to the stored document as one change of `actor` with `message`; `f` returns
/// the change's time (unix ms) and what the caller wants back.
pub fn edit<T, E: From<crate::CoreError>>(
    stored: Stored<'_>,
    actor: ActorId,
    message: &str,
    f: impl FnOnce(&mut AutoCommit) -> Result<(i64, T), E>,
) -> Result<Edited<T>, E> {
    let mut doc = AutoCommit::load(stored.bytes)
        .map_err(crate::CoreError::from)?
        .with_actor(actor);
    let old = crate::doc::read_json(&doc)?;
    let before = doc.get_heads();
    let (at_ms, out) = f(&mut doc)?;
    doc.commit_with(
        CommitOptions::default()
            .with_message(message)
            .with_time(at_ms / 1000),
    );
    let new = crate::doc::read_json(&doc)?;
    Ok(Edited {
        doc,
        before,
        chunk_count: stored.chunk_count,
        old,
        new,
        out,
    })
}

impl<T> Edited<T> {
    /// The write that stores the edit, and what the edit returned.
    pub fn into_write(mut self) -> (Write, T) {
        let w = write_for(&mut self.doc, &self.before, Some(self.chunk_count), None);
        (w, self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::write::encode_heads;
    use automerge::{ROOT, ReadDoc, transaction::Transactable};

    #[test]
    fn an_edit_is_one_change_of_the_given_actor_appended() -> crate::Result<()> {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "status", "open")?;
        doc.commit();
        let bytes = doc.save();
        let heads = encode_heads(&doc.get_heads());
        let stored = Stored {
            bytes: &bytes,
            heads: &heads,
            chunk_count: 1,
        };
        let actor = ActorId::from(b"server".as_slice());
        let edited = edit(stored, actor.clone(), "server: close", |d| {
            d.put(ROOT, "status", "closed")?;
            Ok::<_, crate::CoreError>((1_790_000_000_000, 7))
        })?;
        assert_eq!(edited.old["status"], "open");
        assert_eq!(edited.new["status"], "closed");
        let (w, out) = edited.into_write();
        assert_eq!(out, 7);
        assert!(!w.replace);
        let mut merged = AutoCommit::load(&bytes)?;
        merged.load_incremental(&w.chunk)?;
        let change = merged.get_changes(&doc.get_heads());
        assert_eq!(change.len(), 1);
        assert_eq!(change[0].actor_id(), &actor);
        assert_eq!(change[0].timestamp(), 1_790_000_000);
        assert_eq!(
            merged.get(ROOT, "status")?.map(|(v, _)| v.to_string()),
            Some("\"closed\"".into())
        );
        Ok(())
    }
}
