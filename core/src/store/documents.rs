//! Issuing enforcement documents on the phone, with no network: the number from the device's
//! blocks, the fields from the case and the roster, the party block bound by its hash, the
//! entry appended to the case through the one write path (so the rules the server applies
//! run here first).

use super::FieldStore;
use crate::catalogue::{Catalogue, PartyUse};
use crate::doc::append;
use crate::documents::fields::{DocumentFrame, derived_fields, number_year};
use crate::documents::number::{NumberBlock, next_free};
use crate::model::{CaseRecord, DocumentKind, DocumentNumber, IssuedDocument, PartyPii};
use crate::rules::{self, DocumentLedger, Role, UserInfo};
use crate::{CoreError, Result, ids};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// One officer or user of the roster the server sends at sync: what documents print.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RosterEntry {
    /// User id (officer number).
    pub user_id: String,
    /// Full name.
    pub name: String,
    /// Role.
    pub role: String,
    /// Unit path.
    pub unit: String,
    /// 执法证号, when entered.
    #[serde(default)]
    pub cert_no: Option<String>,
}

/// What the officer asks for when issuing a document.
#[derive(Debug, Clone, Default)]
pub struct DocumentRequest {
    /// Which document.
    pub kind: Option<DocumentKind>,
    /// The officer issuing (must be the enrolled user).
    pub by: String,
    /// The document it corrects.
    pub replaces: Option<String>,
    /// The document a service receipt proves served.
    pub serves: Option<String>,
    /// The fields the template asks the officer for (`qa`, `service_method`, ...).
    pub inputs: BTreeMap<String, String>,
}

/// The party block as printed, and its hash.
pub(crate) fn party_block(pii: &PartyPii) -> (BTreeMap<String, String>, String) {
    let block = crate::documents::sheet::party_block(pii);
    let sha = crate::documents::sheet::party_block_sha256(&block);
    (block, sha)
}

/// The phone's view of document numbers: the blocks it received (its own) and the numbers
/// its replica has seen used.
pub(crate) struct PhoneLedger<'c> {
    pub(crate) conn: &'c Connection,
    pub(crate) device_id: &'c str,
}

impl DocumentLedger for PhoneLedger<'_> {
    fn holder(&self, series: &str, year: i32, seq: i64) -> Option<String> {
        self.conn
            .query_row(
                "SELECT 1 FROM number_blocks WHERE series = ?1 AND year = ?2
                 AND first <= ?3 AND last >= ?3",
                params![series, year, seq],
                |_| Ok(()),
            )
            .optional()
            .ok()
            .flatten()
            .map(|_| self.device_id.to_string())
    }

    fn used_by(&self, series: &str, year: i32, seq: i64) -> Option<String> {
        self.conn
            .query_row(
                "SELECT document_id FROM issued_numbers WHERE series = ?1 AND year = ?2
                 AND seq = ?3",
                params![series, year, seq],
                |r| r.get(0),
            )
            .optional()
            .ok()
            .flatten()
    }

    fn complete(&self) -> bool {
        false
    }
}

/// The roster as the rules look it up: one row per look-up, read on the writer's connection
/// (the write path checks every edit, and most edits name no one it needs to look up).
/// Partial: an officer not on it is let through for the server to decide.
pub(crate) struct PhoneRoster<'c> {
    pub(crate) conn: &'c Connection,
}

impl crate::rules::Directory for PhoneRoster<'_> {
    fn user(&self, id: &str) -> Option<UserInfo> {
        self.conn
            .query_row(
                "SELECT name, role, unit, cert_no FROM roster WHERE user_id = ?1",
                [id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<String>>(3)?,
                    ))
                },
            )
            .optional()
            .ok()
            .flatten()
            .and_then(|(name, role, unit, cert_no)| {
                Some(UserInfo {
                    role: Role::parse(&role)?,
                    unit,
                    name,
                    cert_no,
                })
            })
    }

    fn complete(&self) -> bool {
        false
    }
}

/// The projection of a case's document numbers (what the phone's ledger calls used).
pub(crate) fn project_numbers(tx: &Connection, c: &CaseRecord) -> Result<()> {
    for d in &c.documents {
        if let Some(n) = &d.number {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO issued_numbers(series, year, seq, document_id, case_id)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![n.series, n.year, n.seq, d.id, c.id])?;
        }
    }
    Ok(())
}

impl FieldStore {
    /// Stores the number blocks the server reserved for this device (idempotent: the server
    /// sends every block still holding numbers at each sync).
    pub fn add_number_blocks(&self, blocks: &[NumberBlock]) -> Result<()> {
        let now = ids::now_ms();
        self.write_tx(|tx| {
            for b in blocks {
                if b.first < 1 || b.last < b.first {
                    return Err(CoreError::invalid(
                        "number_blocks",
                        "an empty or negative block",
                    ));
                }
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO number_blocks(series, year, first, last, received_at_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![b.series, b.year, b.first, b.last, now])?;
            }
            Ok(())
        })
    }

    /// The blocks this device holds, with how many numbers of each are still free.
    pub fn number_blocks(&self) -> Result<Vec<(NumberBlock, i64)>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT b.series, b.year, b.first, b.last,
                    (SELECT COUNT(*) FROM issued_numbers u WHERE u.series = b.series
                     AND u.year = b.year AND u.seq BETWEEN b.first AND b.last)
                 FROM number_blocks b ORDER BY b.series, b.year, b.first",
            )?;
            let rows = stmt.query_map([], |r| {
                let b = NumberBlock {
                    series: r.get(0)?,
                    year: r.get(1)?,
                    first: r.get(2)?,
                    last: r.get(3)?,
                };
                let used: i64 = r.get(4)?;
                Ok((b.clone(), b.last - b.first + 1 - used))
            })?;
            Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
        })
    }

    /// Replaces the roster with what the server sent.
    pub fn set_roster(&self, roster: &[RosterEntry], digest: &str) -> Result<()> {
        self.write_tx(|tx| {
            tx.execute("DELETE FROM roster", [])?;
            for e in roster {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO roster(user_id, name, role, unit, cert_no)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![e.user_id, e.name, e.role, e.unit, e.cert_no])?;
            }
            super::set_meta(tx, META_ROSTER_DIGEST, digest.as_bytes())
        })
    }

    /// The digest of the roster held, which the phone sends so the server resends only a
    /// changed roster.
    pub fn roster_digest(&self) -> Result<Option<String>> {
        Ok(self
            .meta(META_ROSTER_DIGEST)?
            .and_then(|v| String::from_utf8(v).ok()))
    }

    /// The documents issued on a case, in order of issue.
    pub fn documents(&self, case_id: &str) -> Result<Vec<IssuedDocument>> {
        let case = self.current_case(case_id)?;
        Ok(case.documents)
    }

    /// The catalogue whose templates draw a new document on `case`: the case's own version
    /// when it has templates, else the one in force.
    pub(crate) fn template_catalogue(&self, case: &CaseRecord) -> Result<Arc<Catalogue>> {
        let set = self.catalogues();
        if let Some(c) = set.get(&case.violation.catalogue_version)
            && c.documents().is_some()
        {
            return Ok(c.clone());
        }
        let current = set.current().clone();
        if current.documents().is_none() {
            return Err(CoreError::not_allowed(
                "no_document_catalogue",
                "no catalogue on this phone has document templates",
            ));
        }
        Ok(current)
    }

    /// Issues a document on a case: numbers it from this device's blocks, fills it from the
    /// case, the roster and the typed inputs, binds the party block by hash, and appends it
    /// to the case. Refused (`document_invalid`) when the case does not support the
    /// document; `NoDocumentNumber` when the device holds no free number of its series (sync
    /// to receive a block).
    pub fn issue_document(&self, case_id: &str, req: DocumentRequest) -> Result<IssuedDocument> {
        let kind = req
            .kind
            .ok_or_else(|| CoreError::invalid("kind", "which document to issue"))?;
        super::ops::check_person("by", &req.by)?;
        let author = self.enrolled_identity()?.ok_or_else(|| {
            CoreError::not_allowed(
                "documents_need_enrolment",
                "documents are issued once the phone is enrolled",
            )
        })?;
        if author.user_id != req.by {
            return Err(CoreError::not_allowed(
                "documents_by_enrolled_officer",
                "documents are issued by the enrolled officer",
            ));
        }
        let case = self.current_case(case_id)?;
        if case.is_closed() {
            return Err(CoreError::CaseClosed {
                case_id: case_id.into(),
            });
        }
        let doc_cat = self.template_catalogue(&case)?;
        let templates = doc_cat.documents().ok_or_else(|| {
            CoreError::not_allowed("no_document_templates", "no document templates")
        })?;
        let template = templates.get(kind).ok_or_else(|| {
            CoreError::not_allowed("no_template", "no template for this document")
        })?;
        for (k, v) in &req.inputs {
            if !template.inputs.iter().any(|i| &i.name == k) {
                return Err(CoreError::invalid(
                    "inputs",
                    format!("{} takes no input {k}", kind.as_str()),
                ));
            }
            super::ops::check_text("inputs", v, rules::MAX_INPUT_CHARS)?;
        }
        let party_sha256 = match (&case.party, template.party) {
            (Some(p), _) => Some(party_block(&self.party_pii(&p.party_id)?).1),
            (None, PartyUse::Required) => {
                return Err(CoreError::not_allowed(
                    "document_needs_party",
                    format!("a {} needs the party of the case", kind.as_str()),
                ));
            }
            (None, PartyUse::Optional) => None,
        };
        let issued_at_ms = ids::now_ms();
        let number = match &template.series {
            None => None,
            Some(series) => {
                let year = number_year(issued_at_ms);
                let seq = self.read(|c| {
                    let blocks = self.held_blocks(c)?;
                    let used = used_numbers(c, series, year)?;
                    Ok(next_free(&blocks, &used, series, year))
                })?;
                let seq = seq.ok_or_else(|| CoreError::NoDocumentNumber {
                    series: series.clone(),
                    year,
                })?;
                Some(DocumentNumber {
                    series: series.clone(),
                    year,
                    seq,
                    text: templates.format_number(series, year, seq),
                })
            }
        };
        let case_cat = self
            .catalogues()
            .get(&case.violation.catalogue_version)
            .cloned()
            .ok_or_else(|| {
                CoreError::not_allowed(
                    "case_catalogue_missing",
                    "the case's catalogue version is not on this phone",
                )
            })?;
        let mut entry = IssuedDocument {
            id: ids::new_id(),
            kind,
            number,
            issued_at_ms,
            issued_by: req.by,
            issued_on_device: author.device_id.clone(),
            catalogue_version: doc_cat.version().to_string(),
            decision_id: match kind {
                DocumentKind::OnTheSpotDecision | DocumentKind::PenaltyDecision => {
                    case.decision.as_ref().map(|d| d.id.clone())
                }
                _ => None,
            },
            replaces: req.replaces,
            serves: req.serves,
            fields: BTreeMap::new(),
            party_sha256,
            sha256: String::new(),
        };
        let mut fields = self.read(|conn| {
            Ok(derived_fields(
                DocumentFrame::of(&entry),
                &case,
                &case.documents,
                &case_cat,
                &doc_cat,
                &PhoneRoster { conn },
            )?)
        })?;
        fields.extend(req.inputs);
        entry.fields = fields;
        entry.sha256 = entry.compute_sha256();
        self.write_doc(case_id, "issue document", |d, _| {
            append(d, "documents", &entry)
        })?;
        Ok(entry)
    }

    fn held_blocks(&self, c: &Connection) -> Result<Vec<NumberBlock>> {
        let mut stmt = c.prepare_cached("SELECT series, year, first, last FROM number_blocks")?;
        let rows = stmt.query_map([], |r| {
            Ok(NumberBlock {
                series: r.get(0)?,
                year: r.get(1)?,
                first: r.get(2)?,
                last: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
    }
}

impl crate::documents::sheet::SheetSource for FieldStore {
    fn blob(&self, sha256: &str) -> Result<Option<Vec<u8>>> {
        let mut out = Vec::new();
        Ok(self.read_blob(sha256, &mut out)?.map(|_| out))
    }

    fn party_block(&self, party_id: &str) -> Result<Option<BTreeMap<String, String>>> {
        match self.party_pii(party_id) {
            Ok(pii) => Ok(Some(party_block(&pii).0)),
            Err(CoreError::PiiUnavailable { .. } | CoreError::PartyMatchKeyUnavailable) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl FieldStore {
    /// The PDF of document `doc_id` of a case, on `paper`, drawn with the font compiled into
    /// the library. Refused when the party record changed since the document was issued
    /// (its hash no longer matches: issue a correction).
    pub fn render_document(
        &self,
        case_id: &str,
        doc_id: &str,
        paper: crate::documents::render::Paper,
    ) -> Result<Vec<u8>> {
        let case = self.current_case(case_id)?;
        let d = case
            .documents
            .iter()
            .find(|d| d.id == doc_id)
            .ok_or_else(|| CoreError::not_found("document", doc_id))?;
        let cats = self.catalogues();
        let cat = cats.get(&d.catalogue_version).ok_or_else(|| {
            CoreError::not_allowed(
                "document_catalogue_missing",
                "the document's catalogue version is not on this phone",
            )
        })?;
        let sheet = crate::documents::sheet::document_sheet(&case, d, cat, self)?;
        crate::documents::render::render_pdf(&[sheet], &self.document_font()?, paper)
    }

    /// The case file (案卷) as one A4 PDF: cover, contents, every document, the evidence with
    /// its hashes and what verifying each entry found.
    pub fn render_case_file(&self, case_id: &str) -> Result<Vec<u8>> {
        let case = self.current_case(case_id)?;
        let report = self.verify_case(case_id)?;
        let mut checks = BTreeMap::new();
        for e in crate::documents::sheet::visible_evidence(&case) {
            let issues: Vec<String> = report
                .issues
                .iter()
                .filter(|i| i.evidence_id.as_deref() == Some(e.id.as_str()))
                .map(|i| format!("{:?}", i.kind))
                .collect();
            checks.insert(
                e.id.clone(),
                if issues.is_empty() {
                    "文件完整、签名有效".to_string()
                } else {
                    format!("有问题：{}", issues.join("、"))
                },
            );
        }
        let sheets = crate::documents::case_file::case_file_sheets(
            &case,
            &self.catalogues(),
            self,
            &checks,
        )?;
        crate::documents::render::render_pdf(
            &sheets,
            &self.document_font()?,
            crate::documents::render::Paper::A4,
        )
    }

    /// The font documents are drawn with: the one compiled into the library.
    fn document_font(&self) -> Result<crate::documents::render::DocumentFont> {
        #[cfg(feature = "bundled-font")]
        {
            Ok(crate::documents::render::DocumentFont::bundled())
        }
        #[cfg(not(feature = "bundled-font"))]
        {
            Err(CoreError::not_allowed(
                "no_document_font",
                "this build has no document font (built without bundled-font)",
            ))
        }
    }
}

fn used_numbers(c: &Connection, series: &str, year: i32) -> Result<HashSet<(String, i32, i64)>> {
    let mut stmt =
        c.prepare_cached("SELECT seq FROM issued_numbers WHERE series = ?1 AND year = ?2")?;
    let rows = stmt.query_map(params![series, year], |r| r.get::<_, i64>(0))?;
    let mut out = HashSet::new();
    for r in rows {
        out.insert((series.to_string(), year, r?));
    }
    Ok(out)
}

/// Meta key of the roster's digest.
pub const META_ROSTER_DIGEST: &str = "roster_digest";
