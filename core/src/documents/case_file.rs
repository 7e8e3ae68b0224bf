//! The case file (案卷) a reviewer reads and the bureau archives: a cover, the contents, every
//! document in order of issue, and the evidence with its hashes and signature status
//! (行政处罚法 第四十七条: the whole procedure recorded and filed).

use super::render::{Block, Sheet};
use super::sheet::{SheetSource, document_sheet, visible_evidence};
use crate::catalogue::CatalogueSet;
use crate::evidence::EvidenceKind;
use crate::model::CaseRecord;
use crate::{CoreError, Result};
use std::collections::BTreeMap;

/// The sheets of `case`'s file. `checks` gives, per evidence entry id, what verifying it
/// found (hash and signature), as the caller's own verification reported it.
pub fn case_file_sheets(
    case: &CaseRecord,
    catalogues: &CatalogueSet,
    source: &dyn SheetSource,
    checks: &BTreeMap<String, String>,
) -> Result<Vec<Sheet>> {
    let case_cat = catalogues
        .get(&case.violation.catalogue_version)
        .cloned()
        .unwrap_or_else(|| catalogues.current().clone());
    let item_name = case_cat
        .item(&case.violation.code)
        .map(|i| i.name.zh.clone())
        .unwrap_or_else(|_| case.violation.code.clone());
    let authority = case_cat.profile().bureau.zh.clone();
    let party_name = match &case.party {
        Some(p) => source
            .party_block(&p.party_id)?
            .and_then(|b| b.get("party_name").cloned())
            .unwrap_or_else(|| "（无权查看）".into()),
        None => "（未查明）".into(),
    };
    let evidence = visible_evidence(case);
    let dt = super::fields::datetime_zh;
    let title_of = |kind: crate::model::DocumentKind, version: &str| {
        catalogues
            .get(version)
            .and_then(|c| {
                c.documents()
                    .and_then(|t| t.get(kind))
                    .map(|t| t.title.clone())
            })
            .unwrap_or_else(|| kind.as_str().to_string())
    };

    let mut sheets = vec![Sheet {
        authority: authority.clone(),
        title: "行政执法案卷".into(),
        number: None,
        blocks: vec![
            Block::Field {
                label: "案件编号：".into(),
                value: case.id.clone(),
            },
            Block::Field {
                label: "案由：".into(),
                value: item_name,
            },
            Block::Field {
                label: "当事人：".into(),
                value: party_name,
            },
            Block::Field {
                label: "发生时间：".into(),
                value: dt(case.occurred_at_ms),
            },
            Block::Field {
                label: "地点：".into(),
                value: case.place.address.clone().unwrap_or_else(|| {
                    format!("北纬{:.5}度、东经{:.5}度", case.place.lat, case.place.lon)
                }),
            },
            Block::Field {
                label: "执法人员：".into(),
                value: case.officers.join("、"),
            },
            Block::Field {
                label: "状态：".into(),
                value: if case.is_closed() {
                    "已结案"
                } else {
                    "办理中"
                }
                .into(),
            },
            Block::Field {
                label: "材料：".into(),
                value: format!("文书{}份，证据{}件", case.documents.len(), evidence.len()),
            },
        ],
        qr: Some(format!("fieldcase:case?case={}", case.id)),
        footer: Some(format!("案件编号：{}", case.id)),
    }];

    let mut rows = Vec::new();
    let replaced = crate::model::superseded_ids(&case.documents);
    for (i, d) in case.documents.iter().enumerate() {
        let superseded = replaced.contains(d.id.as_str());
        rows.push(vec![
            (i + 1).to_string(),
            format!(
                "{}{}",
                title_of(d.kind, &d.catalogue_version),
                if superseded { "（已更正）" } else { "" }
            ),
            d.number
                .as_ref()
                .map(|n| n.text.clone())
                .unwrap_or_default(),
            super::fields::date_zh(d.issued_at_ms),
        ]);
    }
    for (j, e) in evidence.iter().enumerate() {
        rows.push(vec![
            (case.documents.len() + j + 1).to_string(),
            format!("证据：{}", kind_zh(e.kind)),
            e.original.sha256[..16.min(e.original.sha256.len())].to_string(),
            super::fields::date_zh(e.captured.device_time_ms),
        ]);
    }
    sheets.push(Sheet {
        authority: authority.clone(),
        title: "卷内目录".into(),
        number: None,
        blocks: vec![Block::Table {
            header: vec![
                "序号".into(),
                "材料".into(),
                "文号或摘要".into(),
                "日期".into(),
            ],
            rows,
            widths: vec![1.0, 4.0, 4.0, 2.5],
        }],
        qr: None,
        footer: Some(format!("案件编号：{}", case.id)),
    });

    for d in &case.documents {
        let cat = catalogues.get(&d.catalogue_version).ok_or_else(|| {
            CoreError::Render(format!("catalogue {} is not held", d.catalogue_version))
        })?;
        sheets.push(document_sheet(case, d, cat, source)?);
    }

    let mut blocks = Vec::new();
    for e in &evidence {
        let status = checks
            .get(&e.id)
            .cloned()
            .unwrap_or_else(|| "未核验".into());
        let caption = format!(
            "{}　{}　记录人：{}　SHA-256：{}　核验：{}",
            kind_zh(e.kind),
            dt(e.captured.device_time_ms),
            e.officer,
            e.original.sha256,
            status
        );
        let image = match e.kind {
            EvidenceKind::Photo => {
                let sha = e.display.as_ref().map_or(&e.original.sha256, |d| &d.sha256);
                source.blob(sha)?
            }
            EvidenceKind::Signature => source.blob(&e.original.sha256)?,
            EvidenceKind::Audio => None,
        };
        match image {
            Some(bytes) => blocks.push(Block::Image {
                caption,
                bytes,
                max_height_mm: 90.0,
            }),
            None => blocks.push(Block::Paragraph(caption)),
        }
    }
    if blocks.is_empty() {
        blocks.push(Block::Paragraph("本案无证据材料。".into()));
    }
    sheets.push(Sheet {
        authority,
        title: "证据材料".into(),
        number: None,
        blocks,
        qr: None,
        footer: Some(format!("案件编号：{}", case.id)),
    });
    Ok(sheets)
}

fn kind_zh(k: EvidenceKind) -> &'static str {
    match k {
        EvidenceKind::Photo => "照片",
        EvidenceKind::Audio => "录音",
        EvidenceKind::Signature => "签名",
    }
}
