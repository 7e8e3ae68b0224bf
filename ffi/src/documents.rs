//! Enforcement documents through the bindings: issue one on a case (numbered offline from the
//! device's blocks), list a case's documents, see the blocks held.

use crate::error::FieldcaseError;
use crate::store::FieldcaseStore;
use fieldcase_core::model;
use std::collections::HashMap;

/// The kinds of enforcement documents (执法文书); see `docs/documents.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DocumentKind {
    /// 现场检查（勘验）笔录
    InspectionRecord,
    /// 询问笔录
    InquiryRecord,
    /// 责令（限期）改正通知书
    CorrectionOrder,
    /// 告知承诺书
    PledgeNotice,
    /// 不予行政处罚决定书
    NoPenaltyDecision,
    /// 当场行政处罚决定书
    OnTheSpotDecision,
    /// 行政处罚事先告知书
    PriorNotice,
    /// 行政处罚决定书
    PenaltyDecision,
    /// 送达回证
    ServiceReceipt,
}

impl From<DocumentKind> for model::DocumentKind {
    fn from(k: DocumentKind) -> Self {
        use model::DocumentKind as M;
        match k {
            DocumentKind::InspectionRecord => M::InspectionRecord,
            DocumentKind::InquiryRecord => M::InquiryRecord,
            DocumentKind::CorrectionOrder => M::CorrectionOrder,
            DocumentKind::PledgeNotice => M::PledgeNotice,
            DocumentKind::NoPenaltyDecision => M::NoPenaltyDecision,
            DocumentKind::OnTheSpotDecision => M::OnTheSpotDecision,
            DocumentKind::PriorNotice => M::PriorNotice,
            DocumentKind::PenaltyDecision => M::PenaltyDecision,
            DocumentKind::ServiceReceipt => M::ServiceReceipt,
        }
    }
}

impl From<model::DocumentKind> for DocumentKind {
    fn from(k: model::DocumentKind) -> Self {
        use model::DocumentKind as M;
        match k {
            M::InspectionRecord => DocumentKind::InspectionRecord,
            M::InquiryRecord => DocumentKind::InquiryRecord,
            M::CorrectionOrder => DocumentKind::CorrectionOrder,
            M::PledgeNotice => DocumentKind::PledgeNotice,
            M::NoPenaltyDecision => DocumentKind::NoPenaltyDecision,
            M::OnTheSpotDecision => DocumentKind::OnTheSpotDecision,
            M::PriorNotice => DocumentKind::PriorNotice,
            M::PenaltyDecision => DocumentKind::PenaltyDecision,
            M::ServiceReceipt => DocumentKind::ServiceReceipt,
        }
    }
}

/// The paper a document is printed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Paper {
    /// A4 portrait: the copy for the file and for the party.
    A4,
    /// A 58 mm roll (48 mm printable), as on most handheld printers.
    Roll58,
    /// An 80 mm roll (72 mm printable).
    Roll80,
}

impl From<Paper> for fieldcase_core::documents::render::Paper {
    fn from(p: Paper) -> Self {
        use fieldcase_core::documents::render::Paper as P;
        match p {
            Paper::A4 => P::A4,
            Paper::Roll58 => P::Roll58,
            Paper::Roll80 => P::Roll80,
        }
    }
}

/// What the officer asks for when issuing a document.
#[derive(Debug, Clone, uniffi::Record)]
pub struct DocumentInput {
    /// Which document.
    pub kind: DocumentKind,
    /// The enrolled officer issuing it.
    pub by: String,
    /// The document it corrects, if any.
    #[uniffi(default = None)]
    pub replaces: Option<String>,
    /// For a service receipt: the document served.
    #[uniffi(default = None)]
    pub serves: Option<String>,
    /// What the template asks the officer to type (`qa`, `inquiry_place`,
    /// `service_method`, `recipient`).
    pub inputs: HashMap<String, String>,
}

/// An issued document.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct DocumentView {
    /// Entry id.
    pub id: String,
    /// Which document.
    pub kind: DocumentKind,
    /// The 文号 as printed, for numbered kinds.
    pub number: Option<String>,
    /// When issued.
    pub issued_at_ms: i64,
    /// By whom.
    pub issued_by: String,
    /// The document it corrects.
    pub replaces: Option<String>,
    /// The document a receipt serves.
    pub serves: Option<String>,
    /// The fields as printed (no personal data of the party).
    pub fields: HashMap<String, String>,
    /// The document hash the QR code carries.
    pub sha256: String,
    /// What the QR code says.
    pub qr_payload: String,
}

impl DocumentView {
    fn of(case_id: &str, d: model::IssuedDocument) -> Self {
        DocumentView {
            qr_payload: d.qr_payload(case_id),
            id: d.id,
            kind: d.kind.into(),
            number: d.number.map(|n| n.text),
            issued_at_ms: d.issued_at_ms,
            issued_by: d.issued_by,
            replaces: d.replaces,
            serves: d.serves,
            fields: d.fields.into_iter().collect(),
            sha256: d.sha256,
        }
    }
}

/// A block of document numbers this device holds.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NumberBlockView {
    /// Series (`罚`).
    pub series: String,
    /// Year.
    pub year: i32,
    /// First number.
    pub first: i64,
    /// Last number.
    pub last: i64,
    /// Numbers still free.
    pub free: i64,
}

#[uniffi::export]
impl FieldcaseStore {
    /// Issues an enforcement document on a case, offline: numbered from this device's blocks
    /// (`NotAllowed` naming the series when none is free: sync first), filled from the case,
    /// the roster and `input.inputs`; `Refused(document_invalid)` when the case does not
    /// support it (no decision in effect, no pledge, no party).
    pub fn issue_document(
        &self,
        case_id: String,
        input: DocumentInput,
    ) -> Result<DocumentView, FieldcaseError> {
        self.with(|s| {
            let d = s.issue_document(
                &case_id,
                fieldcase_core::store::DocumentRequest {
                    kind: Some(input.kind.into()),
                    by: input.by,
                    replaces: input.replaces,
                    serves: input.serves,
                    inputs: input.inputs.into_iter().collect(),
                },
            )?;
            Ok(DocumentView::of(&case_id, d))
        })
    }

    /// The documents issued on a case, in order of issue.
    pub fn documents(&self, case_id: String) -> Result<Vec<DocumentView>, FieldcaseError> {
        self.with(|s| {
            Ok(s.documents(&case_id)?
                .into_iter()
                .map(|d| DocumentView::of(&case_id, d))
                .collect())
        })
    }

    /// The PDF of a document on `paper` (the same pages whichever phone draws them: the
    /// fields are stored with the document, the party block is checked against its hash).
    /// Takes a fraction of a second: call it off the UI thread, or await
    /// `render_document_async`.
    pub fn render_document(
        &self,
        case_id: String,
        document_id: String,
        paper: Paper,
    ) -> Result<Vec<u8>, FieldcaseError> {
        self.with(|s| render_document(s, &case_id, &document_id, paper))
    }

    /// `render_document`, awaited (Kotlin `suspend`, Swift `async`, a Python coroutine)
    /// while it runs on the library's own threads.
    pub async fn render_document_async(
        &self,
        case_id: String,
        document_id: String,
        paper: Paper,
    ) -> Result<Vec<u8>, FieldcaseError> {
        self.in_background(move |s| render_document(s, &case_id, &document_id, paper))
            .await
    }

    /// The case file (案卷: cover, contents, documents, evidence with its checks) as one A4
    /// PDF. Reads and hashes every evidence file: call it off the UI thread, or await
    /// `render_case_file_async`.
    pub fn render_case_file(&self, case_id: String) -> Result<Vec<u8>, FieldcaseError> {
        self.with(|s| render_case_file(s, &case_id))
    }

    /// `render_case_file`, awaited while it runs on the library's own threads.
    pub async fn render_case_file_async(&self, case_id: String) -> Result<Vec<u8>, FieldcaseError> {
        self.in_background(move |s| render_case_file(s, &case_id))
            .await
    }

    /// The document-number blocks this device holds and how many numbers each has free.
    pub fn number_blocks(&self) -> Result<Vec<NumberBlockView>, FieldcaseError> {
        self.with(|s| {
            Ok(s.number_blocks()?
                .into_iter()
                .map(|(b, free)| NumberBlockView {
                    series: b.series,
                    year: b.year,
                    first: b.first,
                    last: b.last,
                    free,
                })
                .collect())
        })
    }
}

/// The rendering each method shares with its `*_async` form.
fn render_document(
    s: &fieldcase_core::FieldStore,
    case_id: &str,
    document_id: &str,
    paper: Paper,
) -> Result<Vec<u8>, FieldcaseError> {
    Ok(s.render_document(case_id, document_id, paper.into())?)
}

fn render_case_file(
    s: &fieldcase_core::FieldStore,
    case_id: &str,
) -> Result<Vec<u8>, FieldcaseError> {
    Ok(s.render_case_file(case_id)?)
}
