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

/// The document a party's number comes from. A person's default is `MainlandId`, a unit's
/// `CreditCode`; choosing another is the officer's deliberate override for a holder without a
/// mainland document (its number is checked loosely and its phone may be international).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum IdDocument {
    /// 居民身份证 (and the residence permits of Hong Kong, Macau and Taiwan residents, which
    /// carry numbers of the same form).
    MainlandId,
    /// 统一社会信用代码 of a unit.
    CreditCode,
    /// 护照.
    Passport,
    /// 港澳居民来往内地通行证.
    HkMacauPermit,
    /// 台湾居民来往大陆通行证.
    TaiwanPermit,
    /// 外国人永久居留身份证 (its own format: 18 digits from 9, or 3 letters and 12 digits).
    ForeignPermanentResidentId,
    /// Any other document.
    Other,
}
mirror!(
    IdDocument,
    fieldcase_core::identity::IdDocument,
    [
        MainlandId,
        CreditCode,
        Passport,
        HkMacauPermit,
        TaiwanPermit,
        ForeignPermanentResidentId,
        Other
    ]
);

/// What is wrong with a party's document number or phone (the `field` says which). The
/// `code` beside it (`id_number.check_character`, ...) names the message to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum IdentityProblem {
    /// Not the number of characters the document (or a phone) has.
    Length,
    /// A character the document or a phone does not use.
    Characters,
    /// The region code is not one in use.
    Region,
    /// The birth date is not a real date, in the future, or before 1900.
    BirthDate,
    /// The check character does not match: a mistyped character.
    CheckCharacter,
    /// A 15-digit first-generation identity number: ask for the 18-digit one.
    FirstGeneration,
    /// Eleven digits from 1 that no mobile network uses (second digit not 3 to 9).
    MobilePrefix,
    /// A landline without its area code, or with one that does not exist.
    AreaCode,
    /// A landline number (after the area code) starting with 0 or 1.
    Subscriber,
    /// An extension that is not 1 to 6 digits, or after a mobile.
    Extension,
    /// An international number for the holder of a mainland document.
    International,
    /// A 400 or 800 service number for a person.
    ServiceNumber,
}

impl From<fieldcase_core::identity::IdentityProblem> for IdentityProblem {
    fn from(p: fieldcase_core::identity::IdentityProblem) -> Self {
        use fieldcase_core::identity::{IdProblem as I, IdentityProblem as C, PhoneProblem as P};
        match p {
            C::Number { problem, .. } => match problem {
                I::Length => IdentityProblem::Length,
                I::Characters => IdentityProblem::Characters,
                I::Region => IdentityProblem::Region,
                I::BirthDate => IdentityProblem::BirthDate,
                I::CheckCharacter => IdentityProblem::CheckCharacter,
                I::FirstGeneration => IdentityProblem::FirstGeneration,
            },
            C::Phone(problem) => match problem {
                P::Characters => IdentityProblem::Characters,
                P::Length => IdentityProblem::Length,
                P::MobilePrefix => IdentityProblem::MobilePrefix,
                P::AreaCode => IdentityProblem::AreaCode,
                P::Subscriber => IdentityProblem::Subscriber,
                P::Extension => IdentityProblem::Extension,
                P::International => IdentityProblem::International,
                P::ServiceNumber => IdentityProblem::ServiceNumber,
            },
        }
    }
}

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
