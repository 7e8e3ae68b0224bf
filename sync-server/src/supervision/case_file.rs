//! Documents and the case file (案卷) as PDFs on the server: the reviewer's case page links
//! them, and `fieldcase-server admin case-file` writes the file for the archive. Drawn by the
//! same core functions as on the phone (`fieldcase_core::documents`), with the evidence read
//! from the server's blob store and the party's personal data opened with the bureau's PII
//! keys, for roles that may read it.

use crate::AppState;
use crate::error::{Result, ServerError};
use automerge::AutoCommit;
use fieldcase_core::documents::render::{DocumentFont, Paper, render_pdf};
use fieldcase_core::documents::sheet::{SheetSource, document_sheet, visible_evidence};
use fieldcase_core::evidence::EvidenceKind;
use fieldcase_core::model::{CaseRecord, PartyRecord, RecordKind};
use fieldcase_core::pii::PiiKey;
use std::collections::{BTreeMap, HashMap};

/// What the drawing reads, loaded before it runs (the core's source is synchronous).
struct Loaded {
    blobs: HashMap<String, Vec<u8>>,
    party: Option<(String, BTreeMap<String, String>)>,
}

impl SheetSource for Loaded {
    fn blob(&self, sha256: &str) -> fieldcase_core::Result<Option<Vec<u8>>> {
        Ok(self.blobs.get(sha256).cloned())
    }
    fn party_block(
        &self,
        party_id: &str,
    ) -> fieldcase_core::Result<Option<BTreeMap<String, String>>> {
        Ok(self
            .party
            .as_ref()
            .filter(|(id, _)| id == party_id)
            .map(|(_, b)| b.clone()))
    }
}

async fn load(state: &AppState, case: &CaseRecord, with_pii: bool) -> Result<Loaded> {
    let mut wanted = Vec::new();
    for e in visible_evidence(case) {
        match e.kind {
            EvidenceKind::Photo => wanted.push(
                e.display
                    .as_ref()
                    .map_or(e.original.sha256.clone(), |d| d.sha256.clone()),
            ),
            EvidenceKind::Signature => wanted.push(e.original.sha256.clone()),
            EvidenceKind::Audio => {}
        }
    }
    let mut blobs = HashMap::new();
    for sha in wanted {
        if blobs.contains_key(&sha) {
            continue;
        }
        // A picture that cannot be read is left out of the drawing, as a missing one is; the
        // checks page says which.
        match state.blobs.read_all(&sha).await {
            Ok(Some(bytes)) => {
                blobs.insert(sha, bytes);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(blob = %sha, error = %e, "evidence not readable for a document")
            }
        }
    }
    let mut party = None;
    if with_pii
        && let Some(p) = &case.party
        && let Some(stored) = state.storage.load_doc(&p.party_id).await?
        && stored.kind == RecordKind::Party
    {
        let doc = AutoCommit::load(&stored.bytes)
            .map_err(|_| ServerError::Database("stored document does not load".into()))?;
        let record: PartyRecord = fieldcase_core::doc::read(&doc, &p.party_id)?;
        let keys: Vec<PiiKey> = state
            .pii_ring
            .iter()
            .map(|k| PiiKey::from_bytes(*k))
            .collect();
        if let Ok(pii) = fieldcase_core::pii::open(&keys, &p.party_id, &record.pii_sealed) {
            let block = fieldcase_core::documents::sheet::party_block(&pii);
            party = Some((p.party_id.clone(), block));
        }
    }
    Ok(Loaded { blobs, party })
}

fn font() -> DocumentFont {
    DocumentFont::bundled()
}

/// The PDF of document `doc_id` of `case` (A4).
pub async fn document_pdf(
    state: &AppState,
    case: &CaseRecord,
    doc_id: &str,
    with_pii: bool,
) -> Result<Option<Vec<u8>>> {
    let Some(d) = case.documents.iter().find(|d| d.id == doc_id) else {
        return Ok(None);
    };
    let cats = state.catalogues.set();
    let cat = cats
        .get(&d.catalogue_version)
        .ok_or_else(|| ServerError::NotFound(format!("catalogue {}", d.catalogue_version)))?
        .clone();
    let loaded = load(state, case, with_pii).await?;
    let (case, d) = (case.clone(), d.clone());
    let pdf = tokio::task::spawn_blocking(move || {
        let sheet = document_sheet(&case, &d, &cat, &loaded)?;
        render_pdf(&[sheet], &font(), Paper::A4)
    })
    .await
    .map_err(|e| ServerError::Task(e.to_string()))??;
    Ok(Some(pdf))
}

/// The case file of `case` as one A4 PDF; `checks` is what the server's verification found
/// per evidence entry.
pub async fn case_file_pdf(
    state: &AppState,
    case: &CaseRecord,
    checks: BTreeMap<String, String>,
    with_pii: bool,
) -> Result<Vec<u8>> {
    let loaded = load(state, case, with_pii).await?;
    let cats = state.catalogues.set();
    let case = case.clone();
    tokio::task::spawn_blocking(move || {
        let sheets =
            fieldcase_core::documents::case_file::case_file_sheets(&case, &cats, &loaded, &checks)?;
        render_pdf(&sheets, &font(), Paper::A4)
    })
    .await
    .map_err(|e| ServerError::Task(e.to_string()))?
    .map_err(Into::into)
}

/// What the server's checks found per evidence entry, in words, for the case file.
pub fn checks_by_entry(checks: &[super::case_check::Check]) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in checks {
        let verdict = match c.ok {
            Some(true) => "通过",
            Some(false) => "未通过",
            None => "待核验",
        };
        out.entry(c.subject.clone())
            .or_default()
            .push(format!("{}{verdict}", c.what));
    }
    out.into_iter().map(|(k, v)| (k, v.join("、"))).collect()
}

/// The server's checks of `case` (evidence files, signatures, document hashes), as the case
/// page shows them.
pub async fn server_checks(
    state: &AppState,
    case: &CaseRecord,
    doc: &mut AutoCommit,
) -> Result<Vec<super::case_check::Check>> {
    let wanted = super::case_check::named_blobs(case);
    let found = super::case_check::blob_states(&state.blobs, &wanted).await;
    let device_keys: std::collections::HashSet<String> = state
        .storage
        .devices()
        .await?
        .into_iter()
        .map(|d| d.public_key.to_ascii_lowercase())
        .collect();
    Ok(super::case_check::verify(case, doc, &found, &device_keys))
}

/// `fieldcase-server admin case-file --case ID --out FILE`: the case file of one case, with
/// the party's personal data (the operator's command runs with the bureau's keys).
pub async fn write_case_file(
    state: &AppState,
    case_id: &str,
    out: &std::path::Path,
) -> Result<usize> {
    let stored = state
        .storage
        .load_doc(case_id)
        .await?
        .filter(|s| s.kind == RecordKind::Case)
        .ok_or_else(|| ServerError::NotFound(format!("case {case_id}")))?;
    let mut doc = AutoCommit::load(&stored.bytes)
        .map_err(|_| ServerError::Database("stored document does not load".into()))?;
    let case: CaseRecord = fieldcase_core::doc::read(&doc, case_id)?;
    let checks = server_checks(state, &case, &mut doc).await?;
    let pdf = case_file_pdf(state, &case, checks_by_entry(&checks), true).await?;
    std::fs::write(out, &pdf)?;
    Ok(pdf.len())
}
