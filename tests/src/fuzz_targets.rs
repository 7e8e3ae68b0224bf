//! The bodies of the fuzz targets under `fuzz/`, kept here so that the committed corpus is
//! replayed on stable Rust by the battery's `fuzz_corpus` family (cargo-fuzz itself needs a
//! nightly compiler). Each target takes untrusted bytes the way the server or the phone does
//! and must return without panicking; what it returns only feeds the replay's counts.

use automerge::AutoCommit;
use fieldcase_core::catalogue::{Catalogue, CatalogueBundle, CatalogueSet};
use fieldcase_core::engine;
use fieldcase_core::model::RecordKind;
use fieldcase_core::rules::RuleContext;
use fieldcase_core::sync::wire::SyncRequest;
use fieldcase_server::blobs::{BlobDir, UploadOutcome};
use fieldcase_server::error::ServerError;
use fieldcase_server::storage::Role;
use fieldcase_server::validate;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A target: bytes in, whether the input was accepted (parsed, or passed the rules).
pub type Target = fn(&[u8]) -> bool;

/// Every target, by the name of its folder under `fuzz/corpus/` and its file under
/// `fuzz/fuzz_targets/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("sync_request", sync_request),
    ("change_ingest", change_ingest),
    ("catalogue", catalogue),
    ("blob_upload", blob_upload),
];

const KINDS: [RecordKind; 3] = [
    RecordKind::Case,
    RecordKind::Party,
    RecordKind::Demonstration,
];

fn builtin() -> Option<&'static CatalogueSet> {
    static CAT: OnceLock<Option<CatalogueSet>> = OnceLock::new();
    CAT.get_or_init(|| CatalogueSet::builtin().ok()).as_ref()
}

/// The author a fuzzed push is checked as: the fuzz user on its own device.
fn author(role: Role) -> fieldcase_core::rules::Author {
    fieldcase_core::rules::Author::device("OF-FUZZ", role, "luan/jinan", "fuzz-seed", None)
}

/// The policy a fuzzed push is merged under: every change is the pusher's, checked as the
/// fuzz user with the built-in catalogue and a directory that knows nobody.
struct FuzzPolicy {
    catalogues: &'static CatalogueSet,
    author: fieldcase_core::rules::Author,
    users: validate::Users,
}

impl engine::Policy for FuzzPolicy {
    fn route(&self, _actor: &str, _timestamp_s: i64) -> Result<engine::Route, engine::Need> {
        Ok(engine::Route::Merge(None))
    }
    fn author(&self, _by: Option<&str>) -> Result<fieldcase_core::rules::Author, engine::Need> {
        Ok(self.author.clone())
    }
    fn context(
        &self,
        _old: Option<&serde_json::Value>,
        _new: &serde_json::Value,
    ) -> Result<RuleContext<'_>, engine::Need> {
        Ok(RuleContext {
            catalogues: self.catalogues,
            directory: &self.users,
            now_ms: Some(fieldcase_core::ids::now_ms()),
            numbers: &fieldcase_core::rules::NoLedger,
        })
    }
}

fn policy(role: Role) -> Option<FuzzPolicy> {
    Some(FuzzPolicy {
        catalogues: builtin()?,
        author: author(role),
        users: validate::Users::default(),
    })
}

/// The server's ingest of one pushed document: the server's own merge step
/// ([`engine::ingest`]) on a new document. The id is the request's, or the record's own when
/// the push names none (so that valid records pass).
fn ingest(role: Role, kind: RecordKind, doc_id: Option<&str>, changes: &[u8]) -> bool {
    let Some(policy) = policy(role) else {
        return false;
    };
    let id = match doc_id {
        Some(id) => id.to_string(),
        None => {
            let mut doc = AutoCommit::new();
            if doc.load_incremental(changes).is_err() {
                return false;
            }
            match fieldcase_core::doc::read_json(&doc) {
                Ok(json) => record_id(&json).to_string(),
                Err(_) => return false,
            }
        }
    };
    let push = engine::Push {
        doc_id: &id,
        kind,
        changes,
        have_heads: &[],
    };
    matches!(
        engine::ingest(None, &push, &policy),
        Ok(engine::Step::Done(engine::Outcome::Merged(m))) if m.write.is_some()
    )
}

fn record_id(json: &serde_json::Value) -> &str {
    json.get("id")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("fuzz-doc")
}

/// A `POST /v1/sync` body, decoded as the server decodes it (JSON, else the binary CBOR
/// form), then every pushed document ingested as an officer's.
pub fn sync_request(data: &[u8]) -> bool {
    use fieldcase_core::sync::codec::BodyFormat;
    let decoded = BodyFormat::Json
        .decode::<SyncRequest>(data)
        .or_else(|_| BodyFormat::Cbor.decode::<SyncRequest>(data));
    let Ok(req) = decoded else {
        return false;
    };
    let mut any = false;
    for push in req.docs.iter().take(64) {
        any |= ingest(Role::Officer, push.kind, Some(&push.doc_id), &push.changes);
    }
    any
}

/// Change ingest with authorisation: the first byte picks the role, the second the kind; the
/// rest is Automerge bytes, and also (when it parses) a record as JSON checked directly against
/// the rules, as a new record and as an edit of itself.
pub fn change_ingest(data: &[u8]) -> bool {
    let (Some(&r), Some(&k)) = (data.first(), data.get(1)) else {
        return false;
    };
    let role = Role::ALL[usize::from(r) % Role::ALL.len()];
    let kind = KINDS[usize::from(k) % KINDS.len()];
    let rest = &data[2..];
    let mut accepted = ingest(role, kind, None, rest);
    if let (Some(p), Ok(json)) = (
        policy(role),
        serde_json::from_slice::<serde_json::Value>(rest),
    ) {
        let id = record_id(&json);
        let judge = |old: Option<&serde_json::Value>| {
            engine::Policy::context(&p, old, &json)
                .ok()
                .is_some_and(|ctx| engine::judge(&p.author, &ctx, id, kind, old, &json).is_ok())
        };
        accepted |= judge(None);
        accepted |= judge(Some(&json));
    }
    accepted
}

/// A catalogue bundle as a server sends it: parsed (bounded), then validated and merged.
pub fn catalogue(data: &[u8]) -> bool {
    match CatalogueBundle::from_bytes(data) {
        Ok(b) => Catalogue::from_bundle(&b).is_ok(),
        Err(_) => false,
    }
}

/// The size limit of the blob folder `blob_upload` drives (small, so that inputs reach it).
pub const BLOB_MAX: u64 = 1024;
/// Most upload operations run per input.
const BLOB_OPS: usize = 64;

/// The contents `blob_upload` can name by their real hash: empty, short, several chunks long,
/// and over [`BLOB_MAX`].
fn blob_contents() -> &'static [Vec<u8>; 4] {
    static C: OnceLock<[Vec<u8>; 4]> = OnceLock::new();
    C.get_or_init(|| {
        let pattern = |n: u32, m: u32| (0..n).map(|i| (i.wrapping_mul(m) + 3) as u8).collect();
        [
            Vec::new(),
            b"fieldcase evidence: photo of a shop front".to_vec(),
            pattern(700, 7),
            pattern(1500, 13),
        ]
    })
}

/// The ids `blob_upload` picks from (the low three bits of an operation's first byte), with
/// the content each one names, if any: the four real hashes, one of them in upper case, a
/// well-formed hash of no content, and two malformed ids.
fn blob_ids() -> &'static [(String, Option<usize>); 8] {
    static IDS: OnceLock<[(String, Option<usize>); 8]> = OnceLock::new();
    IDS.get_or_init(|| {
        let c = blob_contents();
        let sha = |i: usize| hex::encode(Sha256::digest(&c[i]));
        [
            (sha(0), Some(0)),
            (sha(1), Some(1)),
            (sha(2), Some(2)),
            (sha(3), Some(3)),
            (sha(2).to_ascii_uppercase(), Some(2)),
            ("0".repeat(64), None),
            (sha(1)[..63].to_string(), None),
            (format!("../{}", &sha(1)[3..]), None),
        ]
    })
}

/// Every file under `root`, by path, with its content.
fn blob_tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if let Ok(b) = std::fs::read(&p) {
                out.insert(p, b);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, &mut out);
    out
}

/// One upload operation read from the input, or `None` at its end.
struct BlobOp {
    id: usize,
    offset: u64,
    total: u64,
    chunk: Vec<u8>,
}

fn blob_op(data: &mut &[u8], held: impl Fn(&str) -> u64) -> Option<BlobOp> {
    let (&[sel, o, t, n], rest) = data.split_first_chunk::<4>()?;
    *data = rest;
    let id = usize::from(sel & 7);
    let (name, content) = &blob_ids()[id];
    let content = content.map(|i| blob_contents()[i].as_slice());
    let have = held(name);
    let offset = match (sel >> 3) & 3 {
        0 => have,
        1 => have.saturating_add_signed(i64::from(o as i8)),
        2 => u64::from(o) * 4,
        _ => u64::MAX - u64::from(o),
    };
    let real_len = content.map_or(u64::from(t) * 4, |c| c.len() as u64);
    let total = match (sel >> 5) & 3 {
        0 => real_len,
        1 => u64::from(t) * 4,
        2 => real_len.saturating_add_signed(i64::from(t as i8)),
        _ => u64::MAX - u64::from(t),
    };
    let n = usize::from(n);
    let chunk = match content {
        // The true bytes at `offset`, as a phone sends them.
        Some(c) if sel >> 7 == 0 => {
            let start = usize::try_from(offset).unwrap_or(usize::MAX).min(c.len());
            c[start..(start + n).min(c.len())].to_vec()
        }
        // Bytes from the input.
        _ => {
            let take = n.min(data.len());
            let (chunk, rest) = data.split_at(take);
            *data = rest;
            chunk.to_vec()
        }
    };
    Some(BlobOp {
        id,
        offset,
        total,
        chunk,
    })
}

/// Blob upload (`PUT /v1/blobs/{sha256}?offset=N&total=T` without HTTP): the input is a
/// sequence of operations of four bytes `[sel, o, t, n]` each, run through
/// [`BlobDir::append`] on a fresh blob folder limited to [`BLOB_MAX`] bytes. `sel & 7` picks
/// the id ([`blob_ids`]); bits 3-4 the offset (the bytes held, held + `o` as a signed byte,
/// `o * 4`, `u64::MAX - o`); bits 5-6 the total (the content's real length, `t * 4`, the real
/// length + `t` signed, `u64::MAX - t`); bit 7 the chunk (0: `n` bytes of the real content
/// from the offset, 1: the next `n` bytes of the input). After every operation: a refused
/// one is a typed error and changed no file (a last chunk that fails the hash check removes
/// that upload's partial file and nothing else); an accepted one grew its partial file by
/// exactly the chunk, or moved partial + chunk into the blob's final path; every stored blob
/// hashes to its name; no file exceeds the limit. Accepted if some blob was stored.
pub fn blob_upload(data: &[u8]) -> bool {
    let Ok(dir) = tempfile::tempdir() else {
        return false;
    };
    let root = dir.path().join("blobs");
    let Ok(blobs) = BlobDir::open(root.clone(), BLOB_MAX) else {
        return false;
    };
    let partial_dir = root.join("partial");
    let mut data = data;
    let mut stored = false;
    for _ in 0..BLOB_OPS {
        let Some(op) = blob_op(&mut data, |sha| blobs.received(sha)) else {
            break;
        };
        let name = &blob_ids()[op.id].0;
        let before = blob_tree(&root);
        let r = blobs.append(name, op.offset, op.total, &op.chunk);
        let after = blob_tree(&root);
        let canonical = name.to_ascii_lowercase();
        let partial = partial_dir.join(&canonical);
        let held_before = before.get(&partial).cloned().unwrap_or_default();
        let mut expected = before.clone();
        match &r {
            Ok(UploadOutcome::Partial { received, total }) => {
                let mut grown = held_before.clone();
                grown.extend_from_slice(&op.chunk);
                assert_eq!(*received, grown.len() as u64, "{r:?}");
                assert!(received < total && *total == op.total, "{r:?}");
                expected.insert(partial, grown);
            }
            Ok(UploadOutcome::Complete { size }) => {
                let mut whole = held_before.clone();
                whole.extend_from_slice(&op.chunk);
                assert_eq!(*size, whole.len() as u64, "{r:?}");
                assert_eq!(*size, op.total, "{r:?}");
                assert_eq!(hex::encode(Sha256::digest(&whole)), canonical, "{r:?}");
                expected.remove(&partial);
                expected.insert(blobs.final_path(&canonical), whole);
                stored = true;
            }
            Err(ServerError::BadRequest(m)) if m.contains("SHA-256") => {
                let mut whole = held_before.clone();
                whole.extend_from_slice(&op.chunk);
                assert_eq!(op.offset.saturating_add(op.chunk.len() as u64), op.total);
                assert_ne!(hex::encode(Sha256::digest(&whole)), canonical);
                expected.remove(&partial);
            }
            Err(
                ServerError::BadRequest(_) | ServerError::Conflict(_) | ServerError::TooLarge(_),
            ) => {}
            Err(e) => panic!("untyped refusal of a chunk: {e:?}"),
        }
        assert!(
            after == expected,
            "operation {:?} offset {} total {} chunk {} bytes: {r:?} left {:?}, expected {:?}",
            name,
            op.offset,
            op.total,
            op.chunk.len(),
            after.iter().map(|(p, b)| (p, b.len())).collect::<Vec<_>>(),
            expected
                .iter()
                .map(|(p, b)| (p, b.len()))
                .collect::<Vec<_>>()
        );
        for (path, bytes) in &after {
            assert!(
                bytes.len() as u64 <= BLOB_MAX,
                "{} over the limit",
                path.display()
            );
            if !path.starts_with(&partial_dir) {
                let hash = hex::encode(Sha256::digest(bytes));
                assert_eq!(path.file_name(), Some(std::ffi::OsStr::new(&hash)));
            }
        }
    }
    stored
}

/// What a replay did.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplayStats {
    /// Targets with a corpus folder.
    pub targets: usize,
    /// Files replayed.
    pub inputs: usize,
    /// Of them, accepted by their target.
    pub accepted: usize,
}

/// Replays every file of `corpus/<target>/` through its target. A panic is reported with the
/// file that caused it.
pub fn replay(corpus: &Path) -> Result<ReplayStats, String> {
    let mut st = ReplayStats::default();
    for (name, target) in TARGETS {
        let dir = corpus.join(name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(format!("{}: no corpus files", dir.display()));
        }
        st.targets += 1;
        for f in files {
            let bytes = std::fs::read(&f).map_err(|e| format!("{}: {e}", f.display()))?;
            let t = *target;
            let ok = std::panic::catch_unwind(move || t(&bytes))
                .map_err(|_| format!("{name} panicked on {}", f.display()))?;
            st.inputs += 1;
            st.accepted += usize::from(ok);
        }
    }
    Ok(st)
}

/// Seed inputs made from real records: a case, a party and a demonstration recorded on a
/// store, pushed the way the client pushes them. `battery --write-fuzz-corpus DIR` writes them
/// under `DIR/<target>/`; the committed corpus started from them.
pub fn seed_inputs(dir: &Path) -> crate::harness::TestResult<Vec<(&'static str, String, Vec<u8>)>> {
    use crate::harness::{T0, exemptable, persuasion, place};
    let store = fieldcase_core::FieldStore::open(
        dir.join("seed.db"),
        fieldcase_core::StoreConfig::insecure_plain_for_tests("fuzz-seed"),
    )?;
    let (code, tier) = exemptable(&store)?;
    let case = store.create_case(fieldcase_core::store::NewCase {
        unit: "luan/jinan".into(),
        occurred_at_ms: T0,
        place: place(),
        officers: vec!["OF-FUZZ".into()],
        recorded_by: "OF-FUZZ".into(),
        party_id: None,
        violation_code: code,
        tier,
        description: Some("店外摆放货架".into()),
        actions: vec![persuasion("OF-FUZZ", T0)],
        involves_minor: false,
        privacy_protected: false,
    })?;
    let bytes = store.changes_after(&case.id, &[])?;
    let mut out = Vec::new();
    // Built as JSON rather than a `SyncRequest` literal: optional fields the protocol gains
    // later (additive, defaulted) do not break the seed.
    let push = serde_json::to_value(fieldcase_core::sync::wire::DocPush {
        doc_id: case.id.clone(),
        kind: RecordKind::Case,
        have_heads: vec![],
        server_heads: vec![],
        changes: bytes.clone(),
    })?;
    let req = |docs: Vec<serde_json::Value>| {
        serde_json::json!({
            "protocol": fieldcase_core::sync::wire::PROTOCOL_VERSION,
            "device_id": "fuzz-seed",
            "request_id": "00000000-0000-0000-0000-000000000000",
            "cursor": 0,
            "docs": docs,
        })
    };
    out.push((
        "sync_request",
        "case.json".into(),
        serde_json::to_vec(&req(vec![push]))?,
    ));
    out.push((
        "sync_request",
        "empty.json".into(),
        serde_json::to_vec(&req(vec![]))?,
    ));
    for (i, role) in Role::ALL.iter().enumerate() {
        let mut v = vec![i as u8, 0];
        v.extend_from_slice(&bytes);
        out.push(("change_ingest", format!("case-{}.bin", role.as_str()), v));
    }
    let json = fieldcase_core::doc::read_json(&AutoCommit::load(&bytes)?)?;
    let mut v = vec![0u8, 0];
    v.extend_from_slice(&serde_json::to_vec(&json)?);
    out.push(("change_ingest", "case-officer.json".into(), v));
    out.extend(
        blob_upload_seeds()
            .into_iter()
            .map(|(file, v)| ("blob_upload", file.to_string(), v)),
    );
    Ok(out)
}

/// Seed inputs of `blob_upload` (operations as [`blob_upload`] reads them).
pub fn blob_upload_seeds() -> Vec<(&'static str, Vec<u8>)> {
    // Chunk from the real content at the bytes held, real total: `[id, 0, 0, n]`.
    let next = |id: u8, n: u8| [id, 0, 0, n];
    // Uploads that complete with the wrong content: 8 bytes for the all-zero id, 41 bytes
    // from the input for the 41-byte blob, then the bad ids.
    let mut bad = vec![0x85, 0, 2, 8];
    bad.extend_from_slice(b"zerozero");
    bad.extend_from_slice(&[0x81, 0, 0, 41]);
    bad.extend_from_slice(&[b'x'; 41]);
    bad.extend_from_slice(&[0x86, 0, 0, 4, 1, 2, 3, 4, 0x87, 0, 0, 4, 5, 6, 7, 8]);
    vec![
        // The 700-byte blob in three chunks, the 41-byte one in one, the empty one.
        (
            "upload-three-chunks.bin",
            [
                next(2, 255),
                next(2, 255),
                next(2, 190),
                next(1, 255),
                next(0, 0),
            ]
            .concat(),
        ),
        // The 700-byte blob resumed under its upper-case id, then sent again once stored.
        (
            "upload-upper-case-resume.bin",
            [
                next(2, 100),
                next(4, 255),
                next(2, 255),
                next(4, 255),
                next(2, 255),
            ]
            .concat(),
        ),
        // Offsets one before, one after, at 40, at u64::MAX, then the right one.
        (
            "upload-wrong-offsets.bin",
            [
                next(2, 100),
                [0x0a, 0xff, 0, 50],
                [0x0a, 1, 0, 50],
                [0x12, 10, 0, 10],
                [0x1a, 0, 0, 10],
                next(2, 255),
            ]
            .concat(),
        ),
        // Totals: 40 with a 100-byte chunk, real - 10 with the rest, u64::MAX, over the limit.
        (
            "upload-bad-totals.bin",
            [
                [0x22, 0, 10, 100],
                next(2, 255),
                [0x42, 0, 0xf6, 255],
                [0x62, 0, 0, 10],
                next(3, 255),
            ]
            .concat(),
        ),
        ("upload-bad-content-and-ids.bin", bad),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_upload_seeds_store_blobs_and_keep_the_invariants() {
        let stored: Vec<(&str, bool)> = blob_upload_seeds()
            .into_iter()
            .map(|(name, v)| (name, blob_upload(&v)))
            .collect();
        assert_eq!(
            stored,
            [
                ("upload-three-chunks.bin", true),
                ("upload-upper-case-resume.bin", true),
                ("upload-wrong-offsets.bin", false),
                ("upload-bad-totals.bin", false),
                ("upload-bad-content-and-ids.bin", false),
            ]
        );
    }

    #[test]
    fn the_committed_corpus_replays() -> Result<(), String> {
        let st = replay(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus"))?;
        assert_eq!(st.targets, TARGETS.len());
        Ok(())
    }
}
