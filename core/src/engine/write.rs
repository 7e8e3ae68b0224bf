//! The one write builder: what a merged document adds to the store, and when the stored
//! chunks are folded into one snapshot. Also what a device lacks of a stored document.

use super::Stored;
use automerge::{AutoCommit, ChangeHash};

/// Chunks a stored document may grow to before it is rewritten as one snapshot: loading cost
/// grows with the chunks, and a snapshot is smaller than the chunks it replaces.
pub const COMPACT_AFTER: i64 = 16;
/// Largest push of a new document stored as sent; a larger one is re-encoded, so that
/// padding (changes repeated in one push) cannot grow what every other phone downloads.
pub const VERBATIM_MAX: usize = 16 * 1024;

/// The write a merge makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// Heads after the write, 32 bytes each.
    pub new_heads: Vec<u8>,
    /// The bytes to store: the whole document when `replace`, else the changes to append.
    pub chunk: Vec<u8>,
    /// Whether `chunk` replaces the stored bytes (a new document or a compaction).
    pub replace: bool,
}

/// Heads as stored: 32 bytes each, concatenated.
pub fn encode_heads(heads: &[ChangeHash]) -> Vec<u8> {
    heads.iter().flat_map(|h| h.0).collect()
}

/// Stored heads as their hex form (what the wire carries).
pub fn decode_heads(bytes: &[u8]) -> Vec<String> {
    bytes
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            ChangeHash(h).to_string()
        })
        .collect()
}

/// The write that takes a stored document (`stored_chunks` chunks; `None` when new) from
/// `before` to `doc`. `verbatim` is a new document's pushed bytes when they load to exactly
/// `doc` and are small enough to keep as sent (no re-encoding).
pub fn write_for(
    doc: &mut AutoCommit,
    before: &[ChangeHash],
    stored_chunks: Option<i64>,
    verbatim: Option<&[u8]>,
) -> Write {
    let new_heads = encode_heads(&doc.get_heads());
    let compact = stored_chunks.is_none_or(|c| c + 1 > COMPACT_AFTER);
    let chunk = match verbatim {
        Some(v) if stored_chunks.is_none() && v.len() <= VERBATIM_MAX => v.to_vec(),
        _ if compact => doc.save(),
        _ => doc.save_after(before),
    };
    Write {
        new_heads,
        chunk,
        replace: compact,
    }
}

/// What a device that holds `have` (hex heads) lacks of `doc`: everything after the heads it
/// named that `doc` knows.
pub fn missing_for(doc: &mut AutoCommit, have: &[String]) -> Vec<u8> {
    let ours = doc.get_heads();
    // The usual answer to a push: the device names our heads (looking a change up by hash
    // rebuilds it, so the plain comparison comes first).
    if !ours.is_empty() && ours.iter().all(|h| have.contains(&h.to_string())) {
        return vec![];
    }
    let known: Vec<ChangeHash> = have
        .iter()
        .filter_map(|h| h.parse::<ChangeHash>().ok())
        .filter(|h| doc.get_change_by_hash(h).is_some())
        .collect();
    let have_all = known.len() == have.len();
    if have_all && !ours.is_empty() && ours.iter().all(|h| known.contains(h)) {
        return vec![];
    }
    doc.save_after(&known)
}

/// [`missing_for`] on a stored document, without loading it when the answer is plain: a
/// device that has nothing gets the stored bytes as they are (snapshot and chunks, which
/// `load_incremental` accepts), and a device that names every stored head gets nothing. Only
/// a device part-way behind costs an Automerge load.
pub fn missing_for_stored(stored: Stored<'_>, have: &[String]) -> crate::Result<Vec<u8>> {
    if have.is_empty() {
        return Ok(stored.bytes.to_vec());
    }
    let ours = decode_heads(stored.heads);
    if !ours.is_empty() && ours.iter().all(|h| have.contains(h)) {
        return Ok(vec![]);
    }
    let mut doc = AutoCommit::load(stored.bytes)?;
    Ok(missing_for(&mut doc, have))
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::{ROOT, transaction::Transactable};

    fn doc_with(n: i64) -> AutoCommit {
        let mut doc = AutoCommit::new();
        for i in 0..n {
            doc.put(ROOT, "x", i).ok();
            doc.commit();
        }
        doc
    }

    #[test]
    fn a_new_document_is_stored_whole_and_small_pushes_as_sent() {
        let mut doc = doc_with(2);
        let sent = doc.save();
        let w = write_for(&mut doc, &[], None, Some(&sent));
        assert!(w.replace);
        assert_eq!(w.chunk, sent);
        assert_eq!(
            decode_heads(&w.new_heads),
            vec![doc.get_heads()[0].to_string()]
        );
        // Padding past the limit is re-encoded, not kept.
        let padded = [sent.clone(), vec![0; VERBATIM_MAX]].concat();
        let w = write_for(&mut doc, &[], None, Some(&padded));
        assert_eq!(w.chunk, doc.save());
    }

    #[test]
    fn an_edit_appends_until_the_chunks_pass_the_limit_then_compacts() {
        let mut doc = doc_with(1);
        let before = doc.get_heads();
        doc.put(ROOT, "y", 1).ok();
        doc.commit();
        let w = write_for(&mut doc, &before, Some(3), None);
        assert!(!w.replace);
        assert_eq!(w.chunk, doc.save_after(&before));
        let w = write_for(&mut doc, &before, Some(COMPACT_AFTER), None);
        assert!(w.replace);
        assert_eq!(w.chunk, doc.save());
    }

    #[test]
    fn a_device_gets_what_it_lacks_and_nothing_when_current() -> crate::Result<()> {
        let mut doc = doc_with(3);
        let bytes = doc.save();
        let heads = encode_heads(&doc.get_heads());
        let stored = Stored {
            bytes: &bytes,
            heads: &heads,
            chunk_count: 1,
        };
        assert_eq!(missing_for_stored(stored, &[])?, bytes);
        let current = decode_heads(&heads);
        assert!(missing_for_stored(stored, &current)?.is_empty());
        let first = doc.get_changes(&[])[0].clone();
        let behind = missing_for_stored(stored, &[first.hash().to_string()])?;
        let mut theirs = AutoCommit::new();
        theirs.apply_changes([first])?;
        theirs.load_incremental(&behind)?;
        assert_eq!(theirs.get_heads(), doc.get_heads());
        Ok(())
    }
}
