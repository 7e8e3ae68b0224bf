//! The closed sets of the domain as native enums, each converted to and from its core twin.

use fieldcase_core::catalogue as cat;
use fieldcase_core::model;

/// Writes `From` both ways between an FFI enum and its core twin with the same variants.
macro_rules! mirror {
    ($ffi:ident, $core:path, [$($v:ident),+ $(,)?]) => {
        impl From<$core> for $ffi {
            fn from(v: $core) -> Self {
                match v { $(<$core>::$v => $ffi::$v,)+ }
            }
        }
        impl From<$ffi> for $core {
            fn from(v: $ffi) -> Self {
                match v { $($ffi::$v => <$core>::$v,)+ }
            }
        }
    };
}

/// The soft-enforcement methods of the notice (五、方式方法). Named `ActionMethod` rather than
/// `Method`, which Swift apps already see from the Objective-C runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum ActionMethod {
    /// 行政指导 administrative guidance.
    Guidance,
    /// 行政调解 administrative mediation.
    Mediation,
    /// 说服教育 persuasion and education.
    Persuasion,
    /// 劝导示范 persuasion demonstration.
    Demonstration,
    /// 告诫警示 warning.
    Warning,
    /// 指导约谈 guidance interview.
    Interview,
    /// 行政提示 administrative reminder.
    Reminder,
    /// 跟踪回访 follow-up visit (recorded with `record_follow_up`).
    FollowUp,
    /// 责令改正 order to correct.
    CorrectionOrder,
    /// 行政处罚 penalty (recorded with `decide_penalty`).
    Penalty,
}
mirror!(
    ActionMethod,
    cat::Method,
    [
        Guidance,
        Mediation,
        Persuasion,
        Demonstration,
        Warning,
        Interview,
        Reminder,
        FollowUp,
        CorrectionOrder,
        Penalty
    ]
);

/// The 721 class of an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum MeasureCategory {
    /// Service (70% target).
    Service,
    /// Management (20% target).
    Management,
    /// Enforcement (10% target).
    Enforcement,
}
mirror!(
    MeasureCategory,
    cat::MeasureCategory,
    [Service, Management, Enforcement]
);

/// A natural person or an organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum PartyType {
    /// 个人.
    Person,
    /// 单位.
    Unit,
}
mirror!(PartyType, cat::PartyType, [Person, Unit]);

/// Kinds of exemption from penalty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum ExemptionKind {
    /// 首违不罚.
    FirstOffence,
    /// 轻微不罚.
    MinorNoPenalty,
}
mirror!(
    ExemptionKind,
    cat::ExemptionKind,
    [FirstOffence, MinorNoPenalty]
);

/// Where a case stands, derived from its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum CaseStatus {
    /// Recorded, being handled.
    Open,
    /// Exempted on a pledge; correction pending.
    Pledged,
    /// Ordered to correct; correction pending.
    Ordered,
    /// A follow-up found it corrected.
    Corrected,
    /// A penalty decision awaits legal review.
    PendingReview,
    /// A penalty decision was returned by legal review.
    Returned,
    /// An ordinary-procedure decision awaits the head's approval.
    PendingApproval,
    /// A penalty decision is in effect.
    Decided,
    /// Closed.
    Closed,
}
mirror!(
    CaseStatus,
    model::CaseStatus,
    [
        Open,
        Pledged,
        Ordered,
        Corrected,
        PendingReview,
        Returned,
        PendingApproval,
        Decided,
        Closed
    ]
);

impl CaseStatus {
    const ALL: [CaseStatus; 9] = [
        CaseStatus::Open,
        CaseStatus::Pledged,
        CaseStatus::Ordered,
        CaseStatus::Corrected,
        CaseStatus::PendingReview,
        CaseStatus::Returned,
        CaseStatus::PendingApproval,
        CaseStatus::Decided,
        CaseStatus::Closed,
    ];

    /// Parses the identifier the projections store.
    pub(crate) fn parse(s: &str) -> Option<CaseStatus> {
        Self::ALL
            .into_iter()
            .find(|c| model::CaseStatus::from(*c).as_str() == s)
    }
}

/// Which penalty (行政处罚法 第九条).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum PenaltyKind {
    /// 警告
    Warning,
    /// 罚款
    Fine,
    /// 没收违法所得
    ConfiscateIllegalGains,
    /// 没收非法财物
    ConfiscateIllegalProperty,
    /// 责令停产停业
    Suspend,
    /// 吊销许可证件
    Revoke,
}
mirror!(
    PenaltyKind,
    cat::PenaltyKind,
    [
        Warning,
        Fine,
        ConfiscateIllegalGains,
        ConfiscateIllegalProperty,
        Suspend,
        Revoke
    ]
);

/// The procedure of a penalty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum Procedure {
    /// 简易程序: on the spot, a warning or a small fine.
    Simple,
    /// 普通程序: 立案, investigation, prior notice, hearing, review, approval.
    Ordinary,
}
mirror!(Procedure, model::Procedure, [Simple, Ordinary]);

/// A step of the penalty procedure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum StepKind {
    /// 立案
    Filing,
    /// 调查取证
    Investigation,
    /// 事先告知
    PriorNotice,
    /// 陈述申辩
    Statement,
    /// The party asks for a hearing.
    HearingRequest,
    /// The party waives the hearing.
    HearingWaived,
    /// 听证
    Hearing,
    /// 负责人批准
    Approval,
    /// 送达
    Service,
    /// 执行
    Execution,
}
mirror!(
    StepKind,
    model::StepKind,
    [
        Filing,
        Investigation,
        PriorNotice,
        Statement,
        HearingRequest,
        HearingWaived,
        Hearing,
        Approval,
        Service,
        Execution
    ]
);

/// Outcome of a legal review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum ReviewOutcome {
    /// The decision may take effect.
    Approved,
    /// Sent back to its officer.
    Returned,
}
mirror!(ReviewOutcome, model::ReviewOutcome, [Approved, Returned]);

/// Close or reopen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum LifecycleKind {
    /// Closed (结案).
    Closed,
    /// Reopened.
    Reopened,
}
mirror!(LifecycleKind, model::LifecycleKind, [Closed, Reopened]);

/// The type of an action field in the catalogue, telling a form which control to show and
/// which [`crate::FieldValue`] to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum FieldType {
    /// Text: send `FieldValue::Text`.
    Text,
    /// A list of texts: `FieldValue::TextList`.
    TextList,
    /// Unix milliseconds: `FieldValue::Integer`.
    DateTime,
    /// A whole number: `FieldValue::Integer`.
    Integer,
    /// True or false: `FieldValue::Boolean`.
    Boolean,
    /// One of the spec's `values`: `FieldValue::Text`.
    Enum,
    /// The id of an evidence entry: `FieldValue::Text`.
    EvidenceRef,
    /// Ids of evidence entries: `FieldValue::TextList`.
    EvidenceRefs,
}
mirror!(
    FieldType,
    cat::FieldType,
    [
        Text,
        TextList,
        DateTime,
        Integer,
        Boolean,
        Enum,
        EvidenceRef,
        EvidenceRefs
    ]
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_identifier_parses_back() {
        for s in CaseStatus::ALL {
            assert_eq!(
                CaseStatus::parse(model::CaseStatus::from(s).as_str()),
                Some(s)
            );
        }
        assert_eq!(CaseStatus::parse("nonsense"), None);
    }
}
