//! The bodies of the fuzz targets under `fuzz/`, kept here so that the committed corpus is
//! replayed on stable Rust by the battery's `fuzz_corpus` family (cargo-fuzz itself needs a
//! nightly compiler). Each target takes untrusted bytes the way the server or the phone does
//! and must return without panicking; what it returns only feeds the replay's counts.

use automerge::AutoCommit;
use fieldcase_core::catalogue::Catalogue;
use fieldcase_core::model::RecordKind;
use fieldcase_core::sync::wire::SyncRequest;
use fieldcase_server::storage::{Role, User};
use fieldcase_server::validate;
use std::path::Path;
use std::sync::OnceLock;

/// A target: bytes in, whether the input was accepted (parsed, or passed the rules).
pub type Target = fn(&[u8]) -> bool;

/// Every target, by the name of its folder under `fuzz/corpus/` and its file under
/// `fuzz/fuzz_targets/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("sync_request", sync_request),
    ("change_ingest", change_ingest),
    ("catalogue", catalogue),
];

const KINDS: [RecordKind; 3] = [
    RecordKind::Case,
    RecordKind::Party,
    RecordKind::Demonstration,
];

fn builtin() -> Option<&'static Catalogue> {
    static CAT: OnceLock<Option<Catalogue>> = OnceLock::new();
    CAT.get_or_init(|| Catalogue::builtin().ok()).as_ref()
}

fn user(role: Role) -> User {
    User {
        id: "OF-FUZZ".into(),
        name: "fuzz".into(),
        role,
        unit: "luan/jinan".into(),
        created_at_ms: 0,
    }
}

/// The server's ingest of one pushed document, as `sync-server/src/sync.rs` runs it on a new
/// document: load the changes, refuse missing dependencies, read the record, check the rules.
fn ingest(role: Role, kind: RecordKind, doc_id: Option<&str>, changes: &[u8]) -> bool {
    let Some(cat) = builtin() else { return false };
    let mut doc = AutoCommit::new();
    if doc.load_incremental(changes).is_err() || !doc.get_missing_deps(&[]).is_empty() {
        return false;
    }
    let Ok(json) = fieldcase_core::doc::read_json(&doc) else {
        return false;
    };
    // The server takes the id from the request; here the record's own, so valid records pass.
    let id = doc_id.unwrap_or_else(|| record_id(&json));
    validate::check(&user(role), cat, id, kind, None, &json).is_ok()
}

fn record_id(json: &serde_json::Value) -> &str {
    json.get("id")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("fuzz-doc")
}

/// A `POST /v1/sync` body: decoded, then every pushed document ingested as an officer's.
pub fn sync_request(data: &[u8]) -> bool {
    let Ok(req) = serde_json::from_slice::<SyncRequest>(data) else {
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
    if let (Some(cat), Ok(json)) = (builtin(), serde_json::from_slice::<serde_json::Value>(rest)) {
        let u = user(role);
        let id = record_id(&json);
        accepted |= validate::check(&u, cat, id, kind, None, &json).is_ok();
        accepted |= validate::check(&u, cat, id, kind, Some(&json), &json).is_ok();
    }
    accepted
}

/// A catalogue part (a file of `schemas/catalogue/`), then the merge of it alone.
pub fn catalogue(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    match Catalogue::parse_part(text) {
        Ok(part) => Catalogue::from_parts(vec![part]).is_ok(),
        Err(_) => false,
    }
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
        fieldcase_core::StoreConfig::new("fuzz-seed"),
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
    Ok(out)
}
