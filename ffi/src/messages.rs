//! Languages and texts across the FFI: the language every text of the library is produced in,
//! the catalogue's texts by code, and the labels of the enums' values. The texts and the
//! mapping of errors to codes live in `fieldcase_core::messages`; this file only holds the
//! process-wide choice of language.

use fieldcase_core::messages::{self as m, Lang};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};

/// A language the library speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum Language {
    /// Simplified Chinese, the default: officers read Chinese.
    ZhCn,
    /// English.
    En,
}

impl From<Language> for Lang {
    fn from(l: Language) -> Self {
        match l {
            Language::ZhCn => Lang::ZhCn,
            Language::En => Lang::En,
        }
    }
}

impl From<Lang> for Language {
    fn from(l: Lang) -> Self {
        match l {
            Lang::ZhCn => Language::ZhCn,
            Lang::En => Language::En,
        }
    }
}

/// 0: zh-CN, 1: en. An atomic rather than a lock: read on every error conversion, from any
/// thread, and a torn read is impossible.
static LANGUAGE: AtomicU8 = AtomicU8::new(0);

/// The language of the texts produced from now on.
pub(crate) fn current() -> Lang {
    match LANGUAGE.load(Ordering::Relaxed) {
        1 => Lang::En,
        _ => Lang::ZhCn,
    }
}

/// Chooses the language of every text the library produces after this call (error reasons,
/// exemption conditions, sync rejections, server explanations), for the whole process.
/// Chinese until set.
#[uniffi::export]
pub fn set_language(language: Language) {
    let v = match language {
        Language::ZhCn => 0,
        Language::En => 1,
    };
    LANGUAGE.store(v, Ordering::Relaxed);
}

/// The language texts are produced in.
#[uniffi::export]
pub fn language() -> Language {
    current().into()
}

/// The catalogue's text for `code` in `language` with `args` filled in (`{name}` placeholders);
/// `None` for a code this build does not know. A placeholder without an argument stays
/// visible.
#[uniffi::export]
pub fn message(code: String, args: HashMap<String, String>, language: Language) -> Option<String> {
    let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    m::text(&code, language.into(), &args)
}

/// The label of one value of a closed set: `enum_name` in snake case (`action_method`,
/// `case_status`, `verification_issue`, `tier`, `role`, ...) and `value` its wire name (the
/// Kotlin constant's name in lower case: `follow_up`). `None` when there is none.
#[uniffi::export]
pub fn enum_label(enum_name: String, value: String, language: Language) -> Option<String> {
    m::template(&format!("label.{enum_name}.{value}"), language.into()).map(str::to_string)
}

/// One value's label, as [`labels`] lists them (`Label` is the catalogue's pair of texts).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EnumLabel {
    /// The closed set, in snake case (`action_method`).
    pub enum_name: String,
    /// The value's wire name (`follow_up`).
    pub value: String,
    /// The label in the language asked for.
    pub text: String,
}

/// Every label of the catalogue in `language`, for an app that builds its lookup tables once.
#[uniffi::export]
pub fn labels(language: Language) -> Vec<EnumLabel> {
    let lang = language.into();
    m::codes()
        .filter_map(|code| {
            let (enum_name, value) = code.strip_prefix("label.")?.split_once('.')?;
            Some(EnumLabel {
                enum_name: enum_name.to_string(),
                value: value.to_string(),
                text: m::template(code, lang)?.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::*;

    /// The wire names of every value of an FFI enum; the `match` fails to compile when a
    /// value is added without its name here (and so without a label test).
    macro_rules! wire_names {
        ($ty:ident, [$($v:ident => $w:literal),+ $(,)?]) => {{
            let name = |x: $ty| match x { $($ty::$v => $w),+ };
            vec![$(name($ty::$v)),+]
        }};
    }

    #[test]
    fn every_value_of_every_exported_enum_has_a_label_in_both_languages() {
        let sets: Vec<(&str, Vec<&str>)> = vec![
            (
                "action_method",
                wire_names!(ActionMethod, [Guidance => "guidance", Mediation => "mediation", Persuasion => "persuasion", Demonstration => "demonstration", Warning => "warning", Interview => "interview", Reminder => "reminder", FollowUp => "follow_up", CorrectionOrder => "correction_order", Penalty => "penalty"]),
            ),
            (
                "measure_category",
                wire_names!(MeasureCategory, [Service => "service", Management => "management", Enforcement => "enforcement"]),
            ),
            (
                "party_type",
                wire_names!(PartyType, [Person => "person", Unit => "unit"]),
            ),
            (
                "exemption_kind",
                wire_names!(ExemptionKind, [FirstOffence => "first_offence", MinorNoPenalty => "minor_no_penalty"]),
            ),
            (
                "case_status",
                wire_names!(CaseStatus, [Open => "open", Pledged => "pledged", Ordered => "ordered", Corrected => "corrected", PendingReview => "pending_review", Returned => "returned", PendingApproval => "pending_approval", Decided => "decided", Closed => "closed"]),
            ),
            (
                "penalty_kind",
                wire_names!(PenaltyKind, [Warning => "warning", Fine => "fine", ConfiscateIllegalGains => "confiscate_illegal_gains", ConfiscateIllegalProperty => "confiscate_illegal_property", Suspend => "suspend", Revoke => "revoke"]),
            ),
            (
                "procedure",
                wire_names!(Procedure, [Simple => "simple", Ordinary => "ordinary"]),
            ),
            (
                "step_kind",
                wire_names!(StepKind, [Filing => "filing", Investigation => "investigation", PriorNotice => "prior_notice", Statement => "statement", HearingRequest => "hearing_request", HearingWaived => "hearing_waived", Hearing => "hearing", Approval => "approval", Service => "service", Execution => "execution"]),
            ),
            (
                "review_outcome",
                wire_names!(ReviewOutcome, [Approved => "approved", Returned => "returned"]),
            ),
            (
                "lifecycle_kind",
                wire_names!(LifecycleKind, [Closed => "closed", Reopened => "reopened"]),
            ),
            (
                "field_type",
                wire_names!(FieldType, [Text => "text", TextList => "text_list", DateTime => "date_time", Integer => "integer", Boolean => "boolean", Enum => "enum", EvidenceRef => "evidence_ref", EvidenceRefs => "evidence_refs"]),
            ),
            (
                "document_kind",
                wire_names!(DocumentKind, [InspectionRecord => "inspection_record", InquiryRecord => "inquiry_record", CorrectionOrder => "correction_order", PledgeNotice => "pledge_notice", NoPenaltyDecision => "no_penalty_decision", OnTheSpotDecision => "on_the_spot_decision", PriorNotice => "prior_notice", PenaltyDecision => "penalty_decision", ServiceReceipt => "service_receipt"]),
            ),
            (
                "paper",
                wire_names!(Paper, [A4 => "a4", Roll58 => "roll58", Roll80 => "roll80"]),
            ),
            (
                "evidence_kind",
                wire_names!(EvidenceKind, [Photo => "photo", Audio => "audio", Signature => "signature"]),
            ),
            (
                "sync_phase",
                wire_names!(SyncPhase, [Records => "records", DeviceKeys => "device_keys", Blobs => "blobs", Done => "done"]),
            ),
            (
                "language",
                wire_names!(Language, [ZhCn => "zh_cn", En => "en"]),
            ),
        ];
        let mut missing = Vec::new();
        for (set, values) in &sets {
            for v in values {
                for lang in [Language::ZhCn, Language::En] {
                    match enum_label(set.to_string(), v.to_string(), lang) {
                        Some(t) if !t.trim().is_empty() => {}
                        _ => missing.push(format!("label.{set}.{v} ({lang:?})")),
                    }
                }
            }
        }
        assert!(missing.is_empty(), "labels missing: {missing:?}");
        // `labels` lists them all, split into set and value.
        let all = labels(Language::ZhCn);
        let persuasion = all
            .iter()
            .find(|l| l.enum_name == "action_method" && l.value == "persuasion");
        assert_eq!(persuasion.map(|l| l.text.as_str()), Some("说服教育"));
    }

    #[test]
    fn message_fills_arguments_and_knows_its_codes() {
        let args = HashMap::from([("count".to_string(), "2".to_string())]);
        assert_eq!(
            message("error.not_eligible".into(), args.clone(), Language::En).as_deref(),
            Some("Not eligible for an exemption (2 condition(s) not met)")
        );
        let zh = message("error.not_eligible".into(), args, Language::ZhCn);
        assert!(zh.is_some_and(|t| t.contains('2') && t.contains("免予处罚")));
        assert_eq!(
            message("no.such.code".into(), HashMap::new(), Language::En),
            None
        );
    }
}
