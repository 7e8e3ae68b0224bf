//! The catalogue for pickers: violation items, their bases and tiers, and the methods' field specs.

use crate::enums::{
    ActionMethod, ExemptionKind, FieldType, MeasureCategory, PartyType, PenaltyKind,
};
use fieldcase_core::catalogue as cat;

/// A text in both languages of the user interface.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Label {
    /// Simplified Chinese.
    pub zh: String,
    /// English.
    pub en: String,
}

impl From<&cat::Label> for Label {
    fn from(l: &cat::Label) -> Self {
        Label {
            zh: l.zh.clone(),
            en: l.en.clone(),
        }
    }
}

/// A violation item of the catalogue, for pickers.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ViolationItem {
    /// Stable code, e.g. CG-ST-001.
    pub code: String,
    /// Name.
    pub name: Label,
    /// Exemptions the item allows (empty: none).
    pub exemption_kinds: Vec<ExemptionKind>,
    /// Tiers that may be exempted.
    pub exempt_tiers: Vec<String>,
    /// Default correction deadline in hours (0: on the spot).
    pub default_correction_hours: i64,
    /// Discretion tiers.
    pub tiers: Vec<TierView>,
    /// Party types it applies to.
    pub applies_to: Vec<PartyType>,
    /// The penalties its law prescribes (empty: service methods only).
    pub penalty_kinds: Vec<PenaltyKind>,
    /// The law fines only after an order to correct expired uncorrected.
    pub correction_order_first: bool,
    /// Not a violation: a service record (行政指导 where nothing unlawful was found); only
    /// service measures may be recorded on it.
    pub service_only: bool,
    /// Its legal basis as `law title + article`, with whether each was confirmed.
    pub legal_basis: Vec<BasisView>,
}

/// One article an item rests on.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BasisView {
    /// The law's id.
    pub law: String,
    /// The article, if known.
    pub article: Option<String>,
    /// prohibition, penalty, correction_order, exemption or procedure.
    pub role: String,
    /// Whether it was read in a public text; an unconfirmed basis must be shown as such.
    pub confirmed: bool,
}

/// A discretion benchmark row.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TierView {
    /// Tier id.
    pub tier: String,
    /// Who the row applies to.
    pub party_type: PartyType,
    /// warning or fine.
    pub penalty: PenaltyKind,
    /// Lowest fine, whole yuan (absent for a share of the construction cost).
    pub min_yuan: Option<i64>,
    /// Highest fine, whole yuan.
    pub max_yuan: Option<i64>,
    /// When the tier applies.
    pub conditions: Label,
}

impl From<&cat::Item> for ViolationItem {
    fn from(i: &cat::Item) -> Self {
        ViolationItem {
            code: i.code.clone(),
            name: (&i.name).into(),
            exemption_kinds: i.exemption.kinds.iter().map(|k| k.kind.into()).collect(),
            penalty_kinds: i.penalties.kinds.iter().map(|k| (*k).into()).collect(),
            correction_order_first: i.penalties.correction_order_first,
            service_only: i.service_only,
            legal_basis: i
                .legal_basis
                .iter()
                .map(|b| BasisView {
                    law: b.law.clone(),
                    article: b.article.clone(),
                    role: b.role.clone(),
                    confirmed: b.confirmed,
                })
                .collect(),
            exempt_tiers: i.exemption.exempt_tiers.clone(),
            default_correction_hours: i.default_correction_hours,
            tiers: i
                .tiers
                .iter()
                .map(|t| TierView {
                    tier: t.tier.clone(),
                    party_type: t.party_type.into(),
                    penalty: t.penalty.into(),
                    min_yuan: t.min_yuan,
                    max_yuan: t.max_yuan,
                    conditions: (&t.conditions).into(),
                })
                .collect(),
            applies_to: i.applies_to.iter().map(|p| (*p).into()).collect(),
        }
    }
}

/// A method's catalogue entry: its 721 class and the fields its actions take, so forms can be
/// built from data.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct MethodSpec {
    /// The method.
    pub method: ActionMethod,
    /// Its name.
    pub name: Label,
    /// Its 721 class.
    pub measure_category: MeasureCategory,
    /// Its fields.
    pub fields: Vec<FieldSpec>,
}

/// One field of a method.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FieldSpec {
    /// Name to use in [`ActionField::name`](crate::fields::ActionField::name).
    pub name: String,
    /// Type, telling which `FieldValue` to send.
    pub field_type: FieldType,
    /// Whether an action must carry it.
    pub required: bool,
    /// Label.
    pub label: Label,
    /// Allowed values of an enum field.
    pub values: Vec<String>,
}

impl From<&cat::MethodSpec> for MethodSpec {
    fn from(m: &cat::MethodSpec) -> Self {
        MethodSpec {
            method: m.method.into(),
            name: (&m.name).into(),
            measure_category: m.measure_category.into(),
            fields: m
                .fields
                .iter()
                .map(|f| FieldSpec {
                    name: f.name.clone(),
                    field_type: f.field_type.into(),
                    required: f.required,
                    label: (&f.label).into(),
                    values: f.values.clone(),
                })
                .collect(),
        }
    }
}
