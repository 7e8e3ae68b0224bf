//! Chinese labels of the identifiers the supervision pages show (steps, documents, penalties,
//! tiers, statuses), and the China-time formats they use. Method and violation names come from
//! the catalogue; these are the fixed vocabularies of the law and the record layout.

use fieldcase_core::catalogue::{ExemptionKind, MeasureCategory, PenaltyKind};
use fieldcase_core::evidence::EvidenceKind;
use fieldcase_core::model::{CaseStatus, DocumentKind, Procedure, StepKind};

/// A procedure step (docs/procedure.md).
pub fn step(s: StepKind) -> &'static str {
    match s {
        StepKind::Filing => "立案",
        StepKind::Investigation => "调查取证",
        StepKind::PriorNotice => "事先告知",
        StepKind::Statement => "陈述申辩",
        StepKind::HearingRequest => "申请听证",
        StepKind::HearingWaived => "放弃听证",
        StepKind::Hearing => "听证",
        StepKind::Approval => "负责人批准",
        StepKind::Service => "送达",
        StepKind::Execution => "执行",
    }
}

/// An enforcement document (执法文书).
pub fn document(k: DocumentKind) -> &'static str {
    match k {
        DocumentKind::InspectionRecord => "现场检查（勘验）笔录",
        DocumentKind::InquiryRecord => "询问笔录",
        DocumentKind::CorrectionOrder => "责令（限期）改正通知书",
        DocumentKind::PledgeNotice => "告知承诺书",
        DocumentKind::NoPenaltyDecision => "不予行政处罚决定书",
        DocumentKind::OnTheSpotDecision => "当场行政处罚决定书",
        DocumentKind::PriorNotice => "行政处罚事先告知书",
        DocumentKind::PenaltyDecision => "行政处罚决定书",
        DocumentKind::ServiceReceipt => "送达回证",
    }
}

/// A penalty kind.
pub fn penalty(p: PenaltyKind) -> &'static str {
    match p {
        PenaltyKind::Warning => "警告",
        PenaltyKind::Fine => "罚款",
        PenaltyKind::ConfiscateIllegalGains => "没收违法所得",
        PenaltyKind::ConfiscateIllegalProperty => "没收非法财物",
        PenaltyKind::Suspend => "责令停产停业",
        PenaltyKind::Revoke => "吊销许可证件",
    }
}

/// A procedure.
pub fn procedure(p: Procedure) -> &'static str {
    match p {
        Procedure::Simple => "简易程序",
        Procedure::Ordinary => "普通程序",
    }
}

/// A circumstance tier of the discretion benchmarks.
pub fn tier(t: &str) -> &str {
    match t {
        "trivial" => "轻微",
        "minor" => "较轻",
        "general" => "一般",
        "serious" => "较重",
        "severe" => "严重",
        other => other,
    }
}

/// An exemption kind.
pub fn exemption(k: ExemptionKind) -> &'static str {
    match k {
        ExemptionKind::FirstOffence => "首违不罚",
        ExemptionKind::MinorNoPenalty => "轻微不罚",
    }
}

/// A 721 class.
pub fn measure(c: MeasureCategory) -> &'static str {
    match c {
        MeasureCategory::Service => "服务",
        MeasureCategory::Management => "管理",
        MeasureCategory::Enforcement => "执法",
    }
}

/// An evidence kind.
pub fn evidence(k: EvidenceKind) -> &'static str {
    match k {
        EvidenceKind::Photo => "照片",
        EvidenceKind::Audio => "录音",
        EvidenceKind::Signature => "签名",
    }
}

/// Where a case stands.
pub fn status(s: CaseStatus) -> &'static str {
    match s {
        CaseStatus::Open => "办理中",
        CaseStatus::Pledged => "承诺整改中",
        CaseStatus::Ordered => "责令改正中",
        CaseStatus::Corrected => "已整改",
        CaseStatus::PendingReview => "待法制审核",
        CaseStatus::Returned => "法制审核退回",
        CaseStatus::PendingApproval => "待负责人批准",
        CaseStatus::Decided => "决定已生效",
        CaseStatus::Closed => "已结案",
    }
}

/// Why a decision needs legal review.
pub fn review_reason(r: &str) -> &'static str {
    match r {
        "major_amount" => "重大罚款",
        "ordinary_procedure" => "普通程序",
        "hearing_held" => "经听证",
        "outside_discretion_range" => "超出裁量幅度",
        _ => "其他",
    }
}

/// The legal review checklist (重大执法决定法制审核): form field suffix and label, in order.
pub const CHECKLIST_POINTS: [(&str, &str); 6] = [
    ("subject", "主体"),
    ("facts", "事实"),
    ("evidence", "证据"),
    ("basis", "依据"),
    ("discretion", "裁量"),
    ("procedure", "程序"),
];

/// The label of a checklist point by its identifier.
pub fn checklist_point(name: &str) -> &str {
    CHECKLIST_POINTS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(name, |(_, l)| l)
}

const CST_MS: i64 = 8 * 3_600_000;

/// A day and minute in China Standard Time: `2026-11-26 14:03`.
pub fn china_time(ms: i64) -> String {
    let minutes = (ms + CST_MS).div_euclid(60_000).rem_euclid(24 * 60);
    format!(
        "{} {:02}:{:02}",
        fieldcase_core::store::china_day(ms),
        minutes / 60,
        minutes % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn china_time_is_utc_plus_eight() {
        // 2026-01-01T00:00:00Z is 08:00 in Beijing; a minute before midnight UTC is 07:59.
        let t = 1_767_225_600_000;
        assert_eq!(china_time(t), "2026-01-01 08:00");
        assert_eq!(china_time(t - 60_000), "2026-01-01 07:59");
        assert_eq!(china_time(t - 8 * 3_600_000 - 60_000), "2025-12-31 23:59");
        assert_eq!(checklist_point("basis"), "依据");
        assert_eq!(tier("general"), "一般");
    }
}
