//! From an issued document to the sheet the renderer draws: its template's blocks filled with
//! the entry's fields and the party block, the photos and signatures, the QR code. The phone,
//! the dashboard and the case file draw documents through this one function, so a document
//! looks the same wherever it is printed.

use super::render::{Block, Sheet, SignatureSlot};
use crate::catalogue::{Catalogue, Template, TemplateBlock, fill};
use crate::evidence::{EvidenceEntry, EvidenceKind};
use crate::model::{CaseRecord, IssuedDocument};
use crate::{CoreError, Result};
use std::collections::BTreeMap;

/// What drawing a case's documents reads besides the case: evidence files and the party's
/// personal data, which the phone and the server each hold in their own way.
pub trait SheetSource {
    /// The bytes of a blob (a display copy or a signature image), if held.
    fn blob(&self, sha256: &str) -> Result<Option<Vec<u8>>>;
    /// The party block as printed (`party_name`, `party_id_number`, `party_address`,
    /// `party_phone`), if this holder may read the party's personal data.
    fn party_block(&self, party_id: &str) -> Result<Option<BTreeMap<String, String>>>;
}

/// The party block as printed: the fields [`crate::catalogue::PARTY_FIELDS`] name.
pub fn party_block(pii: &crate::model::PartyPii) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("party_name".to_string(), pii.name.clone()),
        ("party_id_number".to_string(), pii.id_number.clone()),
        (
            "party_address".to_string(),
            pii.address.clone().unwrap_or_default(),
        ),
        (
            "party_phone".to_string(),
            pii.phone.clone().unwrap_or_default(),
        ),
    ])
}

/// The SHA-256 of a party block, as documents bind it.
pub fn party_block_sha256(block: &BTreeMap<String, String>) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(
        serde_json::to_vec(block).unwrap_or_default(),
    ))
}

/// The evidence entries of a case that are not redacted, in order of recording.
pub fn visible_evidence(case: &CaseRecord) -> Vec<EvidenceEntry> {
    let hidden: Vec<String> = case
        .redactions
        .iter()
        .filter_map(|r| {
            r.get("evidence_id")
                .and_then(|v| v.as_str())
                .map(str::to_string)
        })
        .collect();
    case.evidence
        .iter()
        .filter_map(|v| serde_json::from_value::<EvidenceEntry>(v.clone()).ok())
        .filter(|e| !hidden.contains(&e.id))
        .collect()
}

fn photo_caption(i: usize, e: &EvidenceEntry) -> String {
    format!(
        "照片{}　拍摄：{}　SHA-256：{}",
        i + 1,
        super::fields::datetime_zh(e.captured.device_time_ms),
        e.original.sha256
    )
}

/// The sheet of document `doc` of `case`, drawn with its template from `doc_cat`.
pub fn document_sheet(
    case: &CaseRecord,
    doc: &IssuedDocument,
    doc_cat: &Catalogue,
    source: &dyn SheetSource,
) -> Result<Sheet> {
    let template: &Template = doc_cat
        .documents()
        .and_then(|t| t.get(doc.kind))
        .ok_or_else(|| CoreError::Render(format!("no template for {}", doc.kind.as_str())))?;
    let party = match &case.party {
        Some(p) => {
            let block = source.party_block(&p.party_id)?.ok_or_else(|| {
                CoreError::not_allowed(
                    "party_data_unavailable",
                    "the party's personal data is not available here",
                )
            })?;
            if doc.party_sha256.as_deref() != Some(party_block_sha256(&block).as_str()) {
                return Err(CoreError::not_allowed(
                    "party_changed_since_issue",
                    "the party record changed since the document was issued: issue a correction",
                ));
            }
            block
        }
        None => [
            "party_name",
            "party_id_number",
            "party_address",
            "party_phone",
        ]
        .into_iter()
        .map(|k| (k.to_string(), "（未查明）".to_string()))
        .collect(),
    };
    let value = |name: &str| -> Option<String> {
        doc.fields.get(name).or_else(|| party.get(name)).cloned()
    };
    let filled = |text: &str| -> Result<String> {
        fill(text, &value).map_err(|missing| {
            CoreError::Render(format!("{} lacks field {missing}", doc.kind.as_str()))
        })
    };
    let present = |when: &Option<String>| {
        when.as_deref()
            .is_none_or(|w| value(w).is_some_and(|v| !v.trim().is_empty()))
    };
    let evidence = visible_evidence(case);
    let mut blocks = Vec::new();
    for b in &template.blocks {
        match b {
            TemplateBlock::Heading { text } => blocks.push(Block::Heading(filled(text)?)),
            TemplateBlock::Paragraph { text, when } => {
                if present(when) {
                    blocks.push(Block::Paragraph(filled(text)?));
                }
            }
            TemplateBlock::Field { label, text, when } => {
                if present(when) {
                    blocks.push(Block::Field {
                        label: format!("{}：", filled(label)?),
                        value: filled(text)?,
                    });
                }
            }
            TemplateBlock::Photos { max } => {
                let photos = evidence.iter().filter(|e| {
                    e.kind == EvidenceKind::Photo && e.captured.device_time_ms <= doc.issued_at_ms
                });
                for (i, e) in photos.take(*max).enumerate() {
                    let sha = e.display.as_ref().map_or(&e.original.sha256, |d| &d.sha256);
                    if let Some(bytes) = source.blob(sha)? {
                        blocks.push(Block::Image {
                            caption: photo_caption(i, e),
                            bytes,
                            max_height_mm: 80.0,
                        });
                    }
                }
            }
            TemplateBlock::Qa => {
                for line in value("qa").unwrap_or_default().lines() {
                    if !line.trim().is_empty() {
                        blocks.push(Block::Paragraph(line.trim().to_string()));
                    }
                }
            }
            TemplateBlock::Seal => blocks.push(Block::Paragraph(format!(
                "{}（印章）\n{}",
                value("authority").unwrap_or_default(),
                value("issued_date").unwrap_or_default()
            ))),
            TemplateBlock::Signatures { slots } => {
                let signature = case
                    .exemption
                    .as_ref()
                    .and_then(|e| e.pledge.as_ref())
                    .and_then(|p| p.signature_evidence_id.as_deref())
                    .and_then(|id| evidence.iter().find(|e| e.id == id));
                let mut out = Vec::new();
                for s in slots {
                    let (name, image) = if s.who == "party" {
                        let image = match signature {
                            Some(e) => source.blob(&e.original.sha256)?,
                            None => None,
                        };
                        (value("party_name").unwrap_or_default(), image)
                    } else {
                        (String::new(), None)
                    };
                    out.push(SignatureSlot {
                        label: s.label.clone(),
                        name,
                        image,
                        date: Some(value("issued_date").unwrap_or_default()),
                    });
                }
                blocks.push(Block::Signatures(out));
            }
        }
    }
    let basis: Vec<String> = template
        .basis
        .iter()
        .map(|b| {
            let title = doc_cat
                .law(&b.law)
                .map(|l| l.title.zh.clone())
                .unwrap_or_else(|| b.law.clone());
            format!("{title}{}", b.article.as_deref().unwrap_or(""))
        })
        .collect();
    Ok(Sheet {
        authority: value("authority").unwrap_or_default(),
        title: template.title.clone(),
        number: doc.number.as_ref().map(|n| n.text.clone()),
        blocks,
        qr: Some(doc.qr_payload(&case.id)),
        footer: Some(format!(
            "文书依据：{}　案件编号：{}",
            basis.join("、"),
            case.id
        )),
    })
}
