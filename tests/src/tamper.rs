//! The tamper battery: hundreds of seeded mutations of a store and of an exported package,
//! each of which must be detected, and untouched copies that must verify clean.
//!
//! Mutations: flipped, truncated, deleted and swapped blob files; raw Automerge edits of any
//! signed field of an entry, a decision, a close or a redaction (written back the way an
//! attacker with the database file would, heads updated or not); deleted entries, segments
//! and redactions; reordered segments; forged, swapped and re-keyed signatures; corrupted
//! history chunks; and in packages: flipped, swapped and missing members, edited and re-signed
//! manifests, and a rewritten history.
//!
//! One definition, two runners: the core integration test `core/tests/it/evidence_tamper.rs`
//! includes this file by path (as it does the convergence schedules) and the battery's `tamper`
//! family calls [`run`] by seed. The store and media helpers are the core tests' own, included
//! by path below, so this file depends only on crates both have.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

// The core test crate loads these files too (as its own `common` and `fixtures`).
#[allow(clippy::duplicate_mod)]
#[path = "../../core/tests/it/common/mod.rs"]
mod common;
#[allow(clippy::duplicate_mod)]
#[path = "../../core/tests/it/fixtures/mod.rs"]
mod fixtures;

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use common::*;
use fieldcase_core::evidence::{
    EvidenceEntry, IssueKind, SegmentInfo, Signer, SoftwareSigner, VerificationReport,
    verify_package,
};
use fixtures::*;
use rusqlite::{Connection, params};
use serde_json::Value as Json;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The seed the core integration test uses.
pub const SEED: u64 = 0x00F1_E1DC_A5E0;
/// Mutations the core integration test makes.
pub const MUTATIONS: usize = 252;

struct Base {
    dir: tempfile::TempDir,
    case_id: String,
}

/// A case with photos, a signature, a 3-segment recording, an AMR clip, a redaction, a signed
/// decision and a signed close; exported as `case.zip`. The store is closed afterwards so
/// its files can be copied.
fn build_base() -> Base {
    let dir = tempfile::tempdir().expect("tmp");
    let case_id;
    {
        let store = open(dir.path(), "phone-a");
        let party_id = party(&store, "341502199001011239");
        let mut nc = new_case(&store, Some(party_id), T0);
        nc.actions.clear();
        let case = store.create_case(nc).expect("case");
        case_id = case.id.clone();
        let media = dir.path().join("media");
        std::fs::create_dir_all(&media).unwrap();
        let mut photos = Vec::new();
        for i in 0..3u64 {
            let p = write(
                &media,
                &format!("p{i}.jpg"),
                &jpeg(96, 72, 100 + i, Some(1)),
            );
            photos.push(
                store
                    .add_photo(&case_id, &p, capture(T0 + i as i64, 10 + i as i64))
                    .expect("photo"),
            );
        }
        let s = write(&media, "sig.png", &signature_png(120, 40));
        store
            .add_signature_image(&case_id, &s, capture(T0 + 5, 20))
            .expect("sig");
        let rec = fieldcase_core::ids::new_id();
        for i in 0..3u32 {
            let w = write(
                &media,
                &format!("s{i}.wav"),
                &wav(60, 8000, 200 + u64::from(i)),
            );
            store
                .add_audio(
                    &case_id,
                    &w,
                    capture(T0 + 10, 30 + i64::from(i)),
                    Some(SegmentInfo {
                        recording_id: rec.clone(),
                        index: i,
                        last: i == 2,
                    }),
                )
                .expect("segment");
        }
        let a = write(&media, "a.amr", &amr_nb(20, 3));
        store
            .add_audio(&case_id, &a, capture(T0 + 20, 40), None)
            .expect("amr");
        store
            .redact_evidence(&case_id, &photos[1].id, "OF-2001", "bystander", T0 + 30)
            .expect("redact");
        common::lawful::simple(&store, &case_id, "OF-1001", T0 + 39).expect("decide");
        common::lawful::serve_and_execute(&store, &case_id, "OF-1001", T0 + 45).expect("serve");
        store
            .close_case(&case_id, "OF-1001", T0 + 50, "penalty paid")
            .expect("close");
        store
            .export_case_package(&case_id, dir.path().join("case.zip"))
            .expect("export");
        let r = store.verify_case(&case_id).expect("verify");
        assert!(r.is_clean(), "{:?}", r.issues);
        assert_eq!(r.unsigned_records, 0);
    }
    Base { dir, case_id }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        let t = to.join(e.file_name());
        if p.is_dir() {
            copy_dir(&p, &t);
        } else {
            std::fs::copy(&p, &t).unwrap();
            make_writable(&t);
        }
    }
}

fn make_writable(p: &Path) {
    let mut perm = std::fs::metadata(p).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(p, perm).unwrap();
}

fn blob_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for sub in std::fs::read_dir(dir.join("phone-a.db.blobs/sha256"))
        .unwrap()
        .flatten()
    {
        for f in std::fs::read_dir(sub.path()).unwrap().flatten() {
            out.push(f.path());
        }
    }
    out.sort();
    out
}

fn verify_store(dir: &Path, case_id: &str) -> VerificationReport {
    let store = open(dir, "phone-a");
    store.verify_case(case_id).expect("verify runs")
}

// ---- raw document edits, as someone holding the database file could make them ----

fn load_raw(conn: &Connection, id: &str) -> AutoCommit {
    let mut stmt = conn
        .prepare("SELECT bytes FROM chunks WHERE doc_id = ?1 ORDER BY seq")
        .unwrap();
    let mut bytes = Vec::new();
    for b in stmt.query_map([id], |r| r.get::<_, Vec<u8>>(0)).unwrap() {
        bytes.extend(b.unwrap());
    }
    AutoCommit::load(&bytes)
        .unwrap()
        .with_actor(ActorId::random())
}

fn store_raw(conn: &Connection, id: &str, doc: &mut AutoCommit, update_heads: bool) {
    let snapshot = doc.save();
    let next: i64 = conn
        .query_row("SELECT next_seq FROM docs WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap();
    conn.execute("DELETE FROM chunks WHERE doc_id = ?1", [id])
        .unwrap();
    conn.execute(
        "INSERT INTO chunks(doc_id, seq, kind, bytes) VALUES (?1, ?2, 0, ?3)",
        params![id, next, snapshot],
    )
    .unwrap();
    let heads: Vec<u8> = doc.get_heads().iter().flat_map(|h| h.0).collect();
    if update_heads {
        conn.execute(
            "UPDATE docs SET heads = ?2, chunk_count = 1, next_seq = ?3 WHERE id = ?1",
            params![id, heads, next + 1],
        )
        .unwrap();
    } else {
        conn.execute(
            "UPDATE docs SET chunk_count = 1, next_seq = ?2 WHERE id = ?1",
            params![id, next + 1],
        )
        .unwrap();
    }
}

fn raw_edit(dir: &Path, id: &str, update_heads: bool, f: impl FnOnce(&mut AutoCommit)) {
    let conn = Connection::open(dir.join("phone-a.db")).unwrap();
    let mut doc = load_raw(&conn, id);
    f(&mut doc);
    doc.commit();
    store_raw(&conn, id, &mut doc, update_heads);
}

fn list_obj(doc: &AutoCommit, key: &str) -> automerge::ObjId {
    match doc.get(&ROOT, key).unwrap() {
        Some((Value::Object(ObjType::List), o)) => o,
        _ => panic!("no list {key}"),
    }
}

fn item(doc: &AutoCommit, list: &str, i: usize) -> automerge::ObjId {
    let l = list_obj(doc, list);
    match doc.get(&l, i).unwrap() {
        Some((Value::Object(_), o)) => o,
        _ => panic!("no item {i}"),
    }
}

/// Leaf paths of a JSON object that the signature covers.
fn leaf_paths(v: &Json, prefix: Vec<String>, out: &mut Vec<(Vec<String>, Json)>) {
    match v {
        Json::Object(m) => {
            for (k, x) in m {
                if prefix.is_empty() && (k == "signature" || k == "server_received_at_ms") {
                    continue;
                }
                let mut p = prefix.clone();
                p.push(k.clone());
                leaf_paths(x, p, out);
            }
        }
        _ => out.push((prefix, v.clone())),
    }
}

/// Sets `path` under map `obj` to a value different from `old`.
fn put_changed(
    doc: &mut AutoCommit,
    obj: automerge::ObjId,
    path: &[String],
    old: &Json,
    rng: &mut Rng,
) {
    let mut o = obj;
    for k in &path[..path.len() - 1] {
        o = match doc.get(&o, k.as_str()).unwrap() {
            Some((Value::Object(_), x)) => x,
            _ => panic!("path {path:?}"),
        };
    }
    let key = path[path.len() - 1].as_str();
    let new: ScalarValue = match old {
        Json::Bool(b) => ScalarValue::Boolean(!b),
        Json::Number(n) if n.is_i64() || n.is_u64() => {
            ScalarValue::Int(n.as_i64().unwrap_or(0) + 1 + rng.below(1000) as i64)
        }
        Json::Number(n) => ScalarValue::F64(n.as_f64().unwrap() + 1e-6 * (1 + rng.below(9)) as f64),
        Json::String(s) if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) => {
            // Another well-formed hash: the hardest kind of edit to notice.
            let mut b = s.clone().into_bytes();
            let i = rng.below(64);
            b[i] = if b[i] == b'0' { b'1' } else { b'0' };
            ScalarValue::Str(String::from_utf8(b).unwrap().into())
        }
        Json::String(s) => ScalarValue::Str(format!("{s}x").into()),
        Json::Null => ScalarValue::Str("x".into()),
        _ => unreachable!(),
    };
    doc.put(&o, key, new).unwrap();
}

fn entries(doc: &AutoCommit) -> Vec<Json> {
    fieldcase_core::doc::read_json(doc).unwrap()["evidence"]
        .as_array()
        .unwrap()
        .clone()
}

// ---- package rewriting ----

fn read_zip(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).unwrap();
            let mut b = Vec::new();
            f.read_to_end(&mut b).unwrap();
            (f.name().unwrap().to_string(), b)
        })
        .collect()
}

fn write_zip(path: &Path, members: &[(String, Vec<u8>)]) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (n, b) in members {
        z.start_file(n.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(b).unwrap();
    }
    z.finish().unwrap();
}

fn member<'a>(m: &'a mut [(String, Vec<u8>)], name: &str) -> &'a mut Vec<u8> {
    &mut m.iter_mut().find(|(n, _)| n == name).unwrap().1
}

fn resign_manifest(m: &mut [(String, Vec<u8>)], manifest: &Json, attacker: &SoftwareSigner) {
    let mut manifest = manifest.clone();
    let key = hex::encode(attacker.public_key());
    manifest["exported_by"]["public_key"] = Json::String(key.clone());
    let bytes = serde_json::to_vec_pretty(&manifest).unwrap();
    let sig = attacker
        .sign(&fieldcase_core::evidence::package::manifest_signed_bytes(
            &bytes,
        ))
        .unwrap();
    *member(m, "manifest.sig") = serde_json::to_vec(&serde_json::json!({
        "algorithm": "ed25519", "public_key": key, "signature": hex::encode(sig)
    }))
    .unwrap();
    *member(m, "manifest.json") = bytes;
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    FlipBlobByte,
    SwapBlobs,
    TruncateBlob,
    DeleteBlob,
    EditEntryField,
    DeleteEntry,
    DeleteSegment,
    ForgeSignature,
    ResignWithOtherKey,
    ReorderSegments,
    CorruptChunk,
    EditDecision,
    EditLifecycle,
    RemoveRedaction,
    EditRedaction,
    PkgFlipMember,
    PkgSwapMembers,
    PkgRemoveMember,
    PkgEditManifest,
    PkgEditAndResign,
    PkgRewriteHistory,
}

const KINDS: [Kind; 21] = [
    Kind::FlipBlobByte,
    Kind::SwapBlobs,
    Kind::TruncateBlob,
    Kind::DeleteBlob,
    Kind::EditEntryField,
    Kind::DeleteEntry,
    Kind::DeleteSegment,
    Kind::ForgeSignature,
    Kind::ResignWithOtherKey,
    Kind::ReorderSegments,
    Kind::CorruptChunk,
    Kind::EditDecision,
    Kind::EditLifecycle,
    Kind::RemoveRedaction,
    Kind::EditRedaction,
    Kind::PkgFlipMember,
    Kind::PkgSwapMembers,
    Kind::PkgRemoveMember,
    Kind::PkgEditManifest,
    Kind::PkgEditAndResign,
    Kind::PkgRewriteHistory,
];

/// Applies one mutation to the copy in `dir`; returns the verdict of the right verifier
/// (`None` when the package no longer opens as a package at all: also a detection).
fn mutate_and_verify(
    kind: Kind,
    dir: &Path,
    case_id: &str,
    rng: &mut Rng,
) -> Option<VerificationReport> {
    let attacker = SoftwareSigner::from_secret(&{
        let mut k = [0u8; 32];
        k.copy_from_slice(&rng.bytes(32));
        k
    });
    let heads = rng.below(2) == 0;
    match kind {
        Kind::FlipBlobByte => {
            let files = blob_files(dir);
            let f = &files[rng.below(files.len())];
            let mut b = std::fs::read(f).unwrap();
            let i = rng.below(b.len());
            b[i] ^= 1 << rng.below(8);
            std::fs::write(f, b).unwrap();
        }
        Kind::SwapBlobs => {
            let files = blob_files(dir);
            let a = rng.below(files.len());
            let b = (a + 1 + rng.below(files.len() - 1)) % files.len();
            let (x, y) = (
                std::fs::read(&files[a]).unwrap(),
                std::fs::read(&files[b]).unwrap(),
            );
            std::fs::write(&files[a], y).unwrap();
            std::fs::write(&files[b], x).unwrap();
        }
        Kind::TruncateBlob => {
            let files = blob_files(dir);
            let f = &files[rng.below(files.len())];
            let b = std::fs::read(f).unwrap();
            std::fs::write(f, &b[..rng.below(b.len())]).unwrap();
        }
        Kind::DeleteBlob => {
            let files = blob_files(dir);
            std::fs::remove_file(&files[rng.below(files.len())]).unwrap();
        }
        Kind::EditEntryField => raw_edit(dir, case_id, heads, |doc| {
            let es = entries(doc);
            let i = rng.below(es.len());
            let mut paths = Vec::new();
            leaf_paths(&es[i], vec![], &mut paths);
            let (path, old) = &paths[rng.below(paths.len())];
            let obj = item(doc, "evidence", i);
            put_changed(doc, obj, path, old, rng);
        }),
        Kind::DeleteEntry => raw_edit(dir, case_id, heads, |doc| {
            let n = entries(doc).len();
            let l = list_obj(doc, "evidence");
            doc.delete(&l, rng.below(n)).unwrap();
        }),
        Kind::DeleteSegment => raw_edit(dir, case_id, heads, |doc| {
            let es = entries(doc);
            let segs: Vec<usize> = (0..es.len())
                .filter(|&i| !es[i]["segment"].is_null())
                .collect();
            let l = list_obj(doc, "evidence");
            doc.delete(&l, segs[rng.below(segs.len())]).unwrap();
        }),
        Kind::ForgeSignature => raw_edit(dir, case_id, heads, |doc| {
            let es = entries(doc);
            let i = rng.below(es.len());
            let sig = match rng.below(3) {
                0 => hex::encode(rng.bytes(64)),
                1 => {
                    let e: EvidenceEntry = serde_json::from_value(es[i].clone()).unwrap();
                    hex::encode(attacker.sign(&e.signed_payload().unwrap()).unwrap())
                }
                _ => es[(i + 1) % es.len()]["signature"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            };
            let obj = item(doc, "evidence", i);
            doc.put(&obj, "signature", sig).unwrap();
        }),
        Kind::ResignWithOtherKey => raw_edit(dir, case_id, heads, |doc| {
            // Change a field, then sign the result properly with a key the store never
            // trusted: the signature holds, the key does not.
            let es = entries(doc);
            let i = rng.below(es.len());
            let mut e: EvidenceEntry = serde_json::from_value(es[i].clone()).unwrap();
            e.officer = "OF-9999".into();
            e.device_key = hex::encode(attacker.public_key());
            let sig = hex::encode(attacker.sign(&e.signed_payload().unwrap()).unwrap());
            let obj = item(doc, "evidence", i);
            doc.put(&obj, "officer", "OF-9999").unwrap();
            doc.put(&obj, "device_key", e.device_key.as_str()).unwrap();
            doc.put(&obj, "signature", sig).unwrap();
        }),
        Kind::ReorderSegments => raw_edit(dir, case_id, heads, |doc| {
            let es = entries(doc);
            let segs: Vec<usize> = (0..es.len())
                .filter(|&i| !es[i]["segment"].is_null())
                .collect();
            let a = rng.below(segs.len());
            let b = (a + 1 + rng.below(segs.len() - 1)) % segs.len();
            for (x, y) in [(segs[a], segs[b]), (segs[b], segs[a])] {
                let idx = es[y]["segment"]["index"].as_i64().unwrap();
                let obj = item(doc, "evidence", x);
                let seg = match doc.get(&obj, "segment").unwrap() {
                    Some((Value::Object(_), s)) => s,
                    _ => unreachable!(),
                };
                doc.put(&seg, "index", idx).unwrap();
            }
        }),
        Kind::CorruptChunk => {
            let conn = Connection::open(dir.join("phone-a.db")).unwrap();
            let rows: Vec<(i64, Vec<u8>)> = conn
                .prepare("SELECT seq, bytes FROM chunks WHERE doc_id = ?1")
                .unwrap()
                .query_map([case_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let (seq, mut b) = rows[rng.below(rows.len())].clone();
            let i = rng.below(b.len());
            b[i] ^= 1 << rng.below(8);
            conn.execute(
                "UPDATE chunks SET bytes = ?3 WHERE doc_id = ?1 AND seq = ?2",
                params![case_id, seq, b],
            )
            .unwrap();
        }
        Kind::EditDecision => raw_edit(dir, case_id, heads, |doc| {
            let d = match doc.get(&ROOT, "decision").unwrap() {
                Some((Value::Object(_), d)) => d,
                _ => unreachable!(),
            };
            let json = fieldcase_core::doc::read_json(doc).unwrap();
            let field = [
                "amount_yuan",
                "decided_by",
                "tier",
                "decided_at_ms",
                "within_range",
            ][rng.below(5)];
            put_changed(doc, d, &[field.to_string()], &json["decision"][field], rng);
        }),
        Kind::EditLifecycle => raw_edit(dir, case_id, heads, |doc| {
            let json = fieldcase_core::doc::read_json(doc).unwrap();
            let field = ["reason", "by", "at_ms"][rng.below(3)];
            let obj = item(doc, "lifecycle", 0);
            put_changed(
                doc,
                obj,
                &[field.to_string()],
                &json["lifecycle"][0][field],
                rng,
            );
        }),
        Kind::RemoveRedaction => raw_edit(dir, case_id, heads, |doc| {
            let l = list_obj(doc, "redactions");
            doc.delete(&l, 0).unwrap();
        }),
        Kind::EditRedaction => raw_edit(dir, case_id, heads, |doc| {
            let json = fieldcase_core::doc::read_json(doc).unwrap();
            let field = ["reason", "by", "evidence_id", "at_ms"][rng.below(4)];
            let obj = item(doc, "redactions", 0);
            put_changed(
                doc,
                obj,
                &[field.to_string()],
                &json["redactions"][0][field],
                rng,
            );
        }),
        Kind::PkgFlipMember
        | Kind::PkgSwapMembers
        | Kind::PkgRemoveMember
        | Kind::PkgEditManifest
        | Kind::PkgEditAndResign
        | Kind::PkgRewriteHistory => {
            let zpath = dir.join("case.zip");
            let mut m = read_zip(&zpath);
            let media: Vec<usize> = (0..m.len())
                .filter(|&i| m[i].0.starts_with("originals/") || m[i].0.starts_with("derived/"))
                .collect();
            let manifest: Json = serde_json::from_slice(member(&mut m, "manifest.json")).unwrap();
            match kind {
                Kind::PkgFlipMember => {
                    let b = &mut m[media[rng.below(media.len())]].1;
                    let i = rng.below(b.len());
                    b[i] ^= 1 << rng.below(8);
                }
                Kind::PkgSwapMembers => {
                    let a = media[rng.below(media.len())];
                    let b = media[(media.iter().position(|&x| x == a).unwrap() + 1) % media.len()];
                    let t = m[a].1.clone();
                    m[a].1 = m[b].1.clone();
                    m[b].1 = t;
                }
                Kind::PkgRemoveMember => {
                    m.remove(media[rng.below(media.len())]);
                }
                Kind::PkgEditManifest | Kind::PkgEditAndResign => {
                    let mut edited = manifest.clone();
                    let n = edited["evidence"].as_array().unwrap().len();
                    let i = rng.below(n);
                    match rng.below(3) {
                        0 => edited["evidence"][i]["officer"] = Json::String("OF-9999".into()),
                        1 => {
                            edited["evidence"][i]["captured"]["device_time_ms"] = Json::from(T0 - 1)
                        }
                        _ => {
                            edited["evidence"].as_array_mut().unwrap().remove(i);
                        }
                    }
                    if matches!(kind, Kind::PkgEditAndResign) {
                        resign_manifest(&mut m, &edited, &attacker);
                    } else {
                        *member(&mut m, "manifest.json") =
                            serde_json::to_vec_pretty(&edited).unwrap();
                    }
                }
                Kind::PkgRewriteHistory => {
                    // Rewrite the history with an edited entry and make the manifest agree,
                    // re-signed by the forger: entry signatures still give it away.
                    let mut doc = AutoCommit::load(member(&mut m, "history.automerge"))
                        .unwrap()
                        .with_actor(ActorId::random());
                    let es = entries(&doc);
                    let i = rng.below(es.len());
                    let mut paths = Vec::new();
                    leaf_paths(&es[i], vec![], &mut paths);
                    let (path, old) = &paths[rng.below(paths.len())];
                    let obj = item(&doc, "evidence", i);
                    put_changed(&mut doc, obj, path, old, rng);
                    doc.commit();
                    let hist = doc.save();
                    let json = fieldcase_core::doc::read_json(&doc).unwrap();
                    let mut edited = manifest.clone();
                    edited["history"]["sha256"] = Json::String(sha256_hex(&hist));
                    let mut hs: Vec<String> =
                        doc.get_heads().iter().map(|h| h.to_string()).collect();
                    hs.sort();
                    edited["history"]["heads"] = serde_json::to_value(hs).unwrap();
                    edited["record"] = json.clone();
                    edited["evidence"] = json["evidence"].clone();
                    *member(&mut m, "history.automerge") = hist;
                    resign_manifest(&mut m, &edited, &attacker);
                }
                _ => unreachable!(),
            }
            write_zip(&zpath, &m);
            return verify_package(&zpath).ok();
        }
    }
    Some(verify_store(dir, case_id))
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct TamperStats {
    /// Untouched copies (store and package) that verified clean.
    pub clean_copies: usize,
    /// Mutations made, every one detected.
    pub mutations: usize,
    /// Mutation kinds exercised.
    pub kinds: usize,
}

/// Builds the base case, verifies untouched copies, then makes `mutations` seeded mutations
/// (cycling through every kind) and verifies each. Panics on a false alarm or a harness
/// failure (test code: the battery catches the panic); returns the undetected mutations as an
/// error.
pub fn run(seed: u64, mutations: usize) -> Result<TamperStats, String> {
    let base = build_base();
    let root = tempfile::tempdir().expect("tmp");
    let mut rng = Rng(seed);

    // No false alarms: untouched copies, store and package.
    for i in 0..10 {
        let dir = root.path().join(format!("clean-{i}"));
        copy_dir(base.dir.path(), &dir);
        let r = verify_store(&dir, &base.case_id);
        assert!(r.is_clean(), "false alarm: {:?}", r.issues);
        let p = verify_package(dir.join("case.zip")).expect("package");
        assert!(p.is_clean(), "false alarm: {:?}", p.issues);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    let mut by_kind: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    let mut missed = Vec::new();
    for i in 0..mutations {
        let kind = KINDS[i % KINDS.len()];
        let dir = root.path().join(format!("m-{i}"));
        copy_dir(base.dir.path(), &dir);
        let verdict = mutate_and_verify(kind, &dir, &base.case_id, &mut rng);
        let detected = verdict.as_ref().is_none_or(|r| !r.is_clean());
        let slot = by_kind.entry(format!("{kind:?}")).or_default();
        slot.0 += 1;
        if detected {
            slot.1 += 1;
        } else {
            missed.push(format!("#{i} {kind:?}"));
        }
        if let (Kind::ResignWithOtherKey, Some(r)) = (kind, &verdict) {
            assert!(r.has(IssueKind::UnknownDeviceKey), "{:?}", r.issues);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
    if !missed.is_empty() {
        return Err(format!("undetected mutations: {missed:?}"));
    }
    Ok(TamperStats {
        clean_copies: 10,
        mutations,
        kinds: by_kind.len(),
    })
}
