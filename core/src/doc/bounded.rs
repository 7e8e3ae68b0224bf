//! Bounded decoding of Automerge bytes received from another replica, before Automerge sees them.
//!
//! Automerge inflates what it is given without limit: a compressed change chunk (type 2) is one
//! DEFLATE stream, and a document chunk (type 0) may hold DEFLATE-compressed columns. DEFLATE
//! reaches ratios near 1000:1, so a request of a few MiB can make a replica allocate gigabytes
//! inside `load` / `load_incremental`. Every byte string that came from elsewhere (a sync push
//! on the server, a sync reply or a phone-to-phone bundle on a phone) goes through [`check`]
//! first: it walks the chunk framing, inflates each compressed part into a counting sink (the
//! memory held is the decoder's window, never the output) and refuses, with
//! [`CoreError::TooLarge`], a chunk whose decoded size passes a per-chunk limit or a total that
//! passes the caller's [`InflateBudget`].
//!
//! The framing, as Automerge 0.12 writes it (`automerge/src/storage/chunk.rs`, `document.rs`,
//! `columns/raw_column.rs`):
//!
//! ```text
//! chunk    := magic(85 6f 4a 83) checksum(4) type(1) uleb128(len) data(len)
//! type 0   := document: actors, heads, change columns meta, op columns meta, column data, suffix
//! type 1   := change (columns are never compressed inside a change chunk)
//! type 2   := compressed change: data is one raw DEFLATE stream of a type-1 chunk's data
//! type 3   := bundle (written only by `bundle()`, which fieldcase never calls): refused
//! columns  := uleb128(count) (uleb128(spec) uleb128(len))*; spec bit 0x08 = DEFLATE-compressed
//! ```
//!
//! What this does not bound: run-length-encoded columns, whose decoded op count Automerge
//! checks against the column lengths it was given; those are limited by the uncompressed size
//! bounded here.

use crate::{CoreError, Result};
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};

/// Largest decoded size of one chunk (8 MiB). A fieldcase record's change is a few KiB and a
/// whole case document with its full history stays well under 1 MiB; 8 MiB leaves room for
/// long histories while keeping one chunk's inflation a bounded cost.
pub const MAX_CHUNK_INFLATED: u64 = 8 * 1024 * 1024;

/// Largest decoded size of all chunks of one request or import (64 MiB). The server's request
/// body is capped at 16 MiB compressed; this caps what those bytes may become.
pub const MAX_REQUEST_INFLATED: u64 = 64 * 1024 * 1024;

/// Automerge's chunk magic bytes.
const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// The column specification bit marking a DEFLATE-compressed column.
const COLUMN_DEFLATE: u64 = 0b0000_1000;
/// Size of a change hash.
const HASH_LEN: u64 = 32;

/// Decoded bytes one request (or import) may still use. Shared by reference: the server's
/// ingest of one request holds it behind `&`, so it counts with an atomic.
#[derive(Debug)]
pub struct InflateBudget {
    limit: u64,
    used: AtomicU64,
}

impl InflateBudget {
    /// A budget of `limit` decoded bytes.
    pub fn new(limit: u64) -> Self {
        InflateBudget {
            limit,
            used: AtomicU64::new(0),
        }
    }

    /// A budget of [`MAX_REQUEST_INFLATED`].
    pub fn per_request() -> Self {
        Self::new(MAX_REQUEST_INFLATED)
    }

    /// Decoded bytes counted so far.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Counts `n` decoded bytes; `TooLarge` once the total passes the limit.
    fn take(&self, n: u64) -> Result<()> {
        let before = self.used.fetch_add(n, Ordering::Relaxed);
        if before.saturating_add(n) > self.limit {
            return Err(CoreError::TooLarge {
                what: "decoded changes of one request".into(),
                limit: self.limit,
            });
        }
        Ok(())
    }

    /// Whether the budget was passed (a request to refuse as a whole).
    pub fn exhausted(&self) -> bool {
        self.used() > self.limit
    }

    /// Bytes left before the limit.
    fn remaining(&self) -> u64 {
        self.limit.saturating_sub(self.used())
    }
}

fn invalid(reason: &str) -> CoreError {
    CoreError::InvalidInput {
        field: "changes".into(),
        reason: format!("not Automerge chunk data: {reason}"),
    }
}

/// A cursor over a byte slice that never reads past its end.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: u64) -> Result<&'a [u8]> {
        let n = usize::try_from(n).map_err(|_| invalid("length out of range"))?;
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| invalid("truncated"))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    /// Unsigned LEB128, at most 10 bytes, refusing values past `u64`.
    fn uleb(&mut self) -> Result<u64> {
        let mut v: u64 = 0;
        for i in 0..10u32 {
            let b = self.byte()?;
            let part = u64::from(b & 0x7f);
            if i == 9 && part > 1 {
                return Err(invalid("LEB128 overflows"));
            }
            v |= part << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(invalid("LEB128 too long"))
    }

    fn rest(&self) -> usize {
        self.bytes.len() - self.pos
    }
}

/// Size of a raw DEFLATE stream once inflated, counting at most `limit + 1` bytes (so an
/// oversized stream stops at the limit). The output goes to a sink: memory stays the decoder's.
fn inflated_len(compressed: &[u8], limit: u64) -> Result<u64> {
    let decoder = flate2::read::DeflateDecoder::new(compressed);
    let mut limited = decoder.take(limit.saturating_add(1));
    std::io::copy(&mut limited, &mut std::io::sink())
        .map_err(|_| invalid("a compressed part does not inflate"))
}

/// The decoded size of a document chunk's data: its compressed columns inflated, the rest as
/// is. Stops counting past `limit`.
fn document_len(data: &[u8], limit: u64) -> Result<u64> {
    let mut c = Cursor {
        bytes: data,
        pos: 0,
    };
    let actors = c.uleb()?;
    for _ in 0..actors {
        let len = c.uleb()?;
        c.take(len)?;
    }
    let heads = c.uleb()?;
    c.take(
        heads
            .checked_mul(HASH_LEN)
            .ok_or_else(|| invalid("heads"))?,
    )?;
    // Change columns, then op columns; each entry takes at least two bytes of input, so the
    // list is bounded by the chunk's length.
    let mut columns: Vec<(u64, u64)> = Vec::new();
    for _ in 0..2 {
        let count = c.uleb()?;
        for _ in 0..count {
            let spec = c.uleb()?;
            let len = c.uleb()?;
            columns.push((spec, len));
        }
    }
    let mut total = c.pos as u64;
    for (spec, len) in columns {
        let raw = c.take(len)?;
        let size = if spec & COLUMN_DEFLATE != 0 {
            inflated_len(raw, limit.saturating_sub(total))?
        } else {
            len
        };
        total = total.saturating_add(size);
        if total > limit {
            return Ok(total);
        }
    }
    // The suffix (head indexes).
    Ok(total.saturating_add(c.rest() as u64))
}

/// Checks the Automerge bytes `bytes` (chunks concatenated) before they are loaded: every
/// chunk must be well framed, decode to at most `per_chunk` bytes, and all of them together
/// must fit what remains of `budget`. Returns the decoded size of `bytes`.
///
/// Refused: `TooLarge` for a chunk past `per_chunk` (`what` names the chunk type) or a
/// request past its budget; `InvalidInput` (field `changes`) for bytes that are not chunk
/// framing, a compressed part that does not inflate, or a bundle chunk. Empty input is
/// nothing to load and passes.
pub fn check(bytes: &[u8], per_chunk: u64, budget: &InflateBudget) -> Result<u64> {
    let mut c = Cursor { bytes, pos: 0 };
    let mut total: u64 = 0;
    while c.rest() > 0 {
        if c.take(4)? != MAGIC {
            return Err(invalid("bad magic bytes"));
        }
        c.take(4)?; // checksum: Automerge verifies it against the decoded data
        let kind = c.byte()?;
        let len = c.uleb()?;
        let data = c.take(len)?;
        let limit = per_chunk.min(budget.remaining());
        let (what, size) = match kind {
            0 => ("document chunk", document_len(data, limit)?),
            1 => ("change chunk", len),
            2 => ("compressed change chunk", inflated_len(data, limit)?),
            3 => return Err(invalid("bundle chunks are not accepted")),
            _ => return Err(invalid("unknown chunk type")),
        };
        if size > per_chunk {
            return Err(CoreError::TooLarge {
                what: what.into(),
                limit: per_chunk,
            });
        }
        budget.take(size)?;
        total = total.saturating_add(size);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::{AutoCommit, ROOT, transaction::Transactable};
    use std::io::Write;

    /// A change chunk of a document holding `text`, as Automerge saves it (compressed when
    /// longer than 256 bytes).
    fn change_with(text: &str) -> Result<Vec<u8>> {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "note", text)?;
        let Some(mut change) = doc.get_last_local_change() else {
            return Err(invalid("no change"));
        };
        Ok(change.bytes().to_vec())
    }

    /// Rewraps a change chunk as a compressed chunk (type 2) of `data` with the same checksum.
    fn compressed_chunk(inner_data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        let _ = enc.write_all(inner_data);
        let deflated = enc.finish().unwrap_or_default();
        let mut out = MAGIC.to_vec();
        out.extend([0, 0, 0, 0, 2]);
        let mut n = deflated.len() as u64;
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        }
        out.extend(deflated);
        out
    }

    #[test]
    fn ordinary_changes_and_documents_pass_with_their_decoded_size() -> Result<()> {
        let small = change_with("short")?;
        let budget = InflateBudget::per_request();
        assert!(check(&small, MAX_CHUNK_INFLATED, &budget)? < small.len() as u64);
        let long = change_with(&"x".repeat(100_000))?;
        assert!(long.len() < 10_000, "saved compressed: {}", long.len());
        assert!(check(&long, MAX_CHUNK_INFLATED, &budget)? > 100_000);
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "note", "y".repeat(50_000))?;
        doc.put(ROOT, "other", "z".repeat(50_000))?;
        let saved = doc.save();
        assert!(check(&saved, MAX_CHUNK_INFLATED, &budget)? > 100_000);
        assert!(check(&[], MAX_CHUNK_INFLATED, &budget)? == 0);
        Ok(())
    }

    #[test]
    fn a_compressed_bomb_is_refused_past_the_chunk_limit() -> Result<()> {
        let bomb = compressed_chunk(&vec![b'a'; 20 * 1024 * 1024]);
        assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
        let budget = InflateBudget::per_request();
        let r = check(&bomb, MAX_CHUNK_INFLATED, &budget);
        assert!(
            matches!(r, Err(CoreError::TooLarge { limit, .. }) if limit == MAX_CHUNK_INFLATED),
            "{r:?}"
        );
        Ok(())
    }

    #[test]
    fn a_document_with_an_inflating_column_is_refused() -> Result<()> {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "note", "q".repeat(3 * 1024 * 1024))?;
        let saved = doc.save();
        assert!(saved.len() < 256 * 1024, "{}", saved.len());
        let budget = InflateBudget::per_request();
        let r = check(&saved, 1024 * 1024, &budget);
        assert!(matches!(r, Err(CoreError::TooLarge { .. })), "{r:?}");
        assert!(check(&saved, MAX_CHUNK_INFLATED, &budget)? > 3 * 1024 * 1024);
        Ok(())
    }

    #[test]
    fn the_request_budget_adds_up_across_chunks() -> Result<()> {
        let one = compressed_chunk(&vec![b'b'; 3 * 1024 * 1024]);
        let budget = InflateBudget::new(8 * 1024 * 1024);
        check(&one, MAX_CHUNK_INFLATED, &budget)?;
        check(&one, MAX_CHUNK_INFLATED, &budget)?;
        let r = check(&one, MAX_CHUNK_INFLATED, &budget);
        assert!(matches!(r, Err(CoreError::TooLarge { .. })), "{r:?}");
        Ok(())
    }

    #[test]
    fn bad_framing_is_refused_not_guessed() {
        let budget = InflateBudget::per_request();
        let mut truncated = compressed_chunk(b"abc");
        truncated.pop();
        let mut bundle = compressed_chunk(b"abc");
        bundle[8] = 3;
        for bytes in [
            b"not automerge".to_vec(),
            truncated,
            bundle,
            vec![
                0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            ],
        ] {
            let r = check(&bytes, MAX_CHUNK_INFLATED, &budget);
            assert!(matches!(r, Err(CoreError::InvalidInput { .. })), "{r:?}");
        }
    }
}
