//! The enforcement documents (执法文书) issued on a case.
//!
//! In Chinese administrative enforcement the document is the legal act: a decision that was
//! never written as a numbered 决定书 and served does not exist. A case therefore keeps every
//! document it issued as an append-only list of [`IssuedDocument`] entries. An entry holds what
//! was printed (its fields, its number, the hash of the party block) so that any replica
//! renders the same pages again from the catalogue version it names; an entry never changes
//! once written, and a correction is a new document naming the one it replaces.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The kinds of enforcement documents (执法文书).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// 现场检查（勘验）笔录: what the officers found at the scene.
    InspectionRecord,
    /// 询问笔录: the questions put to the party and the answers, as recorded.
    InquiryRecord,
    /// 责令（限期）改正通知书: the order to correct by a deadline.
    CorrectionOrder,
    /// 告知承诺书: the party's pledge to correct, on which a first offence is not punished.
    PledgeNotice,
    /// 不予行政处罚决定书: the decision not to punish (first offence, minor, corrected).
    NoPenaltyDecision,
    /// 当场行政处罚决定书: the decision under the simple procedure (第五十二条).
    OnTheSpotDecision,
    /// 行政处罚事先告知书: the prior notice of the facts, basis, proposed penalty and rights.
    PriorNotice,
    /// 行政处罚决定书: the decision under the ordinary procedure (第五十九条).
    PenaltyDecision,
    /// 送达回证: the receipt proving another document was served.
    ServiceReceipt,
}

impl DocumentKind {
    /// Every kind, in the order a case file lists them.
    pub const ALL: [DocumentKind; 9] = [
        DocumentKind::InspectionRecord,
        DocumentKind::InquiryRecord,
        DocumentKind::CorrectionOrder,
        DocumentKind::PledgeNotice,
        DocumentKind::NoPenaltyDecision,
        DocumentKind::PriorNotice,
        DocumentKind::OnTheSpotDecision,
        DocumentKind::PenaltyDecision,
        DocumentKind::ServiceReceipt,
    ];

    /// The identifier used in records, templates and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::InspectionRecord => "inspection_record",
            DocumentKind::InquiryRecord => "inquiry_record",
            DocumentKind::CorrectionOrder => "correction_order",
            DocumentKind::PledgeNotice => "pledge_notice",
            DocumentKind::NoPenaltyDecision => "no_penalty_decision",
            DocumentKind::OnTheSpotDecision => "on_the_spot_decision",
            DocumentKind::PriorNotice => "prior_notice",
            DocumentKind::PenaltyDecision => "penalty_decision",
            DocumentKind::ServiceReceipt => "service_receipt",
        }
    }

    /// Parses the identifier.
    pub fn parse(s: &str) -> Option<DocumentKind> {
        DocumentKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Decisions: once served they bind the party, and the disclosure names them.
    pub fn is_decision(self) -> bool {
        matches!(
            self,
            DocumentKind::NoPenaltyDecision
                | DocumentKind::OnTheSpotDecision
                | DocumentKind::PenaltyDecision
        )
    }
}

/// A document number (文号), e.g. 六城管罚〔2026〕123号: the series, the year and the sequence
/// number within both, taken from a block the server reserved for the issuing device.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DocumentNumber {
    /// The series (`罚`, `不罚`, ...), as the catalogue's template names it.
    pub series: String,
    /// The year (China Standard Time) the number belongs to.
    pub year: i32,
    /// The sequence number, from 1.
    pub seq: i64,
    /// The number as printed.
    pub text: String,
}

/// One document issued on a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedDocument {
    /// UUIDv7.
    pub id: String,
    /// Which document.
    pub kind: DocumentKind,
    /// Its number, for the kinds the catalogue numbers.
    #[serde(default)]
    pub number: Option<DocumentNumber>,
    /// When it was issued (device clock).
    pub issued_at_ms: i64,
    /// The officer who issued it.
    pub issued_by: String,
    /// The device it was issued on (the holder of the number's block).
    pub issued_on_device: String,
    /// The catalogue version whose template it was drawn with.
    pub catalogue_version: String,
    /// The decision it carries or notifies (decisions, prior notices).
    #[serde(default)]
    pub decision_id: Option<String>,
    /// The document it corrects; that one stays in the case file, superseded.
    #[serde(default)]
    pub replaces: Option<String>,
    /// The document a service receipt proves served.
    #[serde(default)]
    pub serves: Option<String>,
    /// The variable fields the template was filled with, as printed (no personal data of
    /// the party: that is printed from the party record and bound by `party_sha256`).
    pub fields: BTreeMap<String, String>,
    /// SHA-256 (hex) of the party block as printed, when the document names the party.
    #[serde(default)]
    pub party_sha256: Option<String>,
    /// SHA-256 (hex) over the document's canonical form (see
    /// [`IssuedDocument::canonical_bytes`]): what the QR code on the page carries.
    pub sha256: String,
}

impl IssuedDocument {
    /// The bytes the document hash covers: every field but the hash itself, as compact JSON
    /// with keys in a fixed order. Two replicas holding the same entry compute the same hash.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut v = match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        v.remove("sha256");
        // serde_json's map is ordered by key (no `preserve_order`), so this is canonical.
        serde_json::to_vec(&v).unwrap_or_default()
    }

    /// The hash of [`IssuedDocument::canonical_bytes`], hex.
    pub fn compute_sha256(&self) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(self.canonical_bytes()))
    }

    /// What the QR code on each page of the document says: enough to find the case and the
    /// entry, and the hash to compare with.
    pub fn qr_payload(&self, case_id: &str) -> String {
        format!(
            "fieldcase:doc?case={case_id}&doc={}&sha256={}",
            self.id, self.sha256
        )
    }
}

/// The ids of the documents a later correction replaced: they stay in the case file, marked
/// superseded, and are no longer the act in force.
pub fn superseded_ids(docs: &[IssuedDocument]) -> std::collections::HashSet<&str> {
    docs.iter().filter_map(|d| d.replaces.as_deref()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for k in DocumentKind::ALL {
            assert_eq!(DocumentKind::parse(k.as_str()), Some(k));
            let json = serde_json::to_string(&k).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
        }
        assert_eq!(DocumentKind::parse("nope"), None);
    }

    #[test]
    fn hash_covers_every_field_but_itself() {
        let mut d = IssuedDocument {
            id: "0190a000-0000-7000-8000-000000000001".into(),
            kind: DocumentKind::PenaltyDecision,
            number: Some(DocumentNumber {
                series: "罚".into(),
                year: 2026,
                seq: 7,
                text: "六城管罚〔2026〕7号".into(),
            }),
            issued_at_ms: 1,
            issued_by: "o1".into(),
            issued_on_device: "d1".into(),
            catalogue_version: "2026.12.1".into(),
            decision_id: None,
            replaces: None,
            serves: None,
            fields: BTreeMap::from([("amount".to_string(), "200".to_string())]),
            party_sha256: None,
            sha256: String::new(),
        };
        d.sha256 = d.compute_sha256();
        let first = d.sha256.clone();
        d.sha256 = "x".into();
        assert_eq!(d.compute_sha256(), first, "the hash ignores itself");
        d.fields.insert("amount".into(), "2000".into());
        assert_ne!(
            d.compute_sha256(),
            first,
            "a raised amount changes the hash"
        );
    }
}
