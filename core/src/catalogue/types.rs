//! Serde types of the catalogue files: the national base (`schemas/catalogue/base/`) and a
//! jurisdiction profile (`schemas/catalogue/profiles/<id>/`). What each field means in law is
//! in `docs/law-sources.md`.

use serde::{Deserialize, Serialize};

/// A text in both languages of the user interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    /// Simplified Chinese.
    pub zh: String,
    /// English.
    pub en: String,
}

/// The soft-enforcement methods of the notice (五、方式方法).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// 行政指导
    Guidance,
    /// 行政调解
    Mediation,
    /// 说服教育
    Persuasion,
    /// 劝导示范
    Demonstration,
    /// 告诫警示
    Warning,
    /// 指导约谈
    Interview,
    /// 行政提示
    Reminder,
    /// 跟踪回访
    FollowUp,
    /// 责令改正
    CorrectionOrder,
    /// 行政处罚
    Penalty,
}

impl Method {
    /// Every method, in the order of the notice.
    pub const ALL: [Method; 10] = [
        Method::Guidance,
        Method::Mediation,
        Method::Persuasion,
        Method::Demonstration,
        Method::Warning,
        Method::Interview,
        Method::Reminder,
        Method::FollowUp,
        Method::CorrectionOrder,
        Method::Penalty,
    ];

    /// The identifier used in documents and the catalogue.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Guidance => "guidance",
            Method::Mediation => "mediation",
            Method::Persuasion => "persuasion",
            Method::Demonstration => "demonstration",
            Method::Warning => "warning",
            Method::Interview => "interview",
            Method::Reminder => "reminder",
            Method::FollowUp => "follow_up",
            Method::CorrectionOrder => "correction_order",
            Method::Penalty => "penalty",
        }
    }

    /// Parses the identifier; `None` for anything else.
    pub fn parse(s: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Fallback class if a catalogue lacked the method (it cannot: checked at load).
    pub(crate) fn default_category(self) -> MeasureCategory {
        match self {
            Method::Penalty => MeasureCategory::Enforcement,
            Method::Warning | Method::Interview | Method::CorrectionOrder => {
                MeasureCategory::Management
            }
            _ => MeasureCategory::Service,
        }
    }
}

/// The 721 class of an action, and of a case (its highest action class).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum MeasureCategory {
    /// Service (70% target).
    Service,
    /// Management (20% target).
    Management,
    /// Enforcement (10% target).
    Enforcement,
}

impl MeasureCategory {
    /// The identifier used in documents and projections.
    pub fn as_str(self) -> &'static str {
        match self {
            MeasureCategory::Service => "service",
            MeasureCategory::Management => "management",
            MeasureCategory::Enforcement => "enforcement",
        }
    }
}

/// A method's catalogue entry: its class and the fields an action of it records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MethodSpec {
    /// The method.
    pub method: Method,
    /// Its name.
    pub name: Label,
    /// Its 721 class.
    pub measure_category: MeasureCategory,
    /// The fields of an action of this method.
    pub fields: Vec<FieldSpec>,
}

/// The type of an action field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// A string.
    Text,
    /// A list of strings.
    TextList,
    /// Unix milliseconds.
    DateTime,
    /// A whole number.
    Integer,
    /// True or false.
    Boolean,
    /// One of `values`.
    Enum,
    /// The id of an evidence entry.
    EvidenceRef,
    /// Ids of evidence entries.
    EvidenceRefs,
}

/// One field of a method.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FieldSpec {
    /// snake_case name.
    pub name: String,
    /// Type.
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// Whether an action must carry it.
    #[serde(default)]
    pub required: bool,
    /// Label.
    pub label: Label,
    /// Allowed values of an enum field.
    #[serde(default)]
    pub values: Vec<String>,
}

/// Whether a party is a natural person or an organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartyType {
    /// A natural person (个人).
    Person,
    /// A business or organisation (单位).
    Unit,
}

impl PartyType {
    /// The identifier used in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            PartyType::Person => "person",
            PartyType::Unit => "unit",
        }
    }
}

/// A law, regulation or rule the catalogue cites.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Law {
    /// Stable id, e.g. `cn-apl-2021`.
    pub id: String,
    /// Title.
    pub title: Label,
    /// national_law, state_council_regulation, provincial_regulation, municipal_regulation,
    /// provincial_rule, municipal_rule, normative_document.
    pub level: String,
    /// `CN`, `CN-AH`, `CN-AH-LA`.
    pub jurisdiction: String,
    /// Who issued it.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Which text (revision).
    #[serde(default)]
    pub version: Option<String>,
    /// In force from.
    #[serde(default)]
    pub effective: Option<String>,
    /// Where the text was read.
    #[serde(default)]
    pub source: Option<String>,
    /// Whether its text was read and checked.
    pub confirmed: bool,
    /// Remarks.
    #[serde(default)]
    pub note: Option<String>,
}

/// A legal provision an item rests on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LegalBasis {
    /// The law's id in the catalogue's law table.
    pub law: String,
    /// Article, as cited; `None` when not known.
    #[serde(default)]
    pub article: Option<String>,
    /// prohibition, penalty, correction_order, exemption or procedure.
    pub role: String,
    /// The article's text, as read.
    #[serde(default)]
    pub text: Option<String>,
    /// Whether the article was read in a public text. An unconfirmed basis is shown as such
    /// and is never the basis of a penalty.
    pub confirmed: bool,
    /// Remarks.
    #[serde(default)]
    pub note: Option<String>,
}

/// What an article allows as a penalty (行政处罚法 第九条).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
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

impl PenaltyKind {
    /// The identifier used in documents and the catalogue.
    pub fn as_str(self) -> &'static str {
        match self {
            PenaltyKind::Warning => "warning",
            PenaltyKind::Fine => "fine",
            PenaltyKind::ConfiscateIllegalGains => "confiscate_illegal_gains",
            PenaltyKind::ConfiscateIllegalProperty => "confiscate_illegal_property",
            PenaltyKind::Suspend => "suspend",
            PenaltyKind::Revoke => "revoke",
        }
    }
}

/// A statutory fine range. `max_yuan: None` means the law allows a fine but sets no amount
/// (left to provincial law not confirmed): no fine may then be imposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FineRange {
    /// Lowest fine, whole yuan.
    pub min_yuan: i64,
    /// Highest fine, whole yuan, if the law sets one.
    #[serde(default)]
    pub max_yuan: Option<i64>,
}

/// Statutory fine ranges per party type; `None` where the law fines no such party.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FineRanges {
    /// For a person.
    #[serde(default)]
    pub person: Option<FineRange>,
    /// For a unit.
    #[serde(default)]
    pub unit: Option<FineRange>,
}

impl FineRanges {
    /// The range for a party type.
    pub fn for_party(&self, party_type: PartyType) -> Option<FineRange> {
        match party_type {
            PartyType::Person => self.person,
            PartyType::Unit => self.unit,
        }
    }
}

/// A range of percentages.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PercentRange {
    /// Lowest percent.
    pub min: f64,
    /// Highest percent.
    pub max: f64,
}

/// Fines set as a share of the construction cost (城乡规划法 第六十四条).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PercentOfCost {
    /// Where the work can still be corrected.
    #[serde(default)]
    pub correctable: Option<PercentRange>,
    /// Where it cannot be corrected or removed.
    #[serde(default)]
    pub not_correctable: Option<PercentRange>,
}

/// The penalties an item's law prescribes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Penalties {
    /// Kinds the article allows; empty: no penalty (service methods only).
    pub kinds: Vec<PenaltyKind>,
    /// Statutory fine; `None` when the law sets no fine.
    #[serde(default)]
    pub fine: Option<FineRanges>,
    /// The article fines only after an order to correct expired or was refused
    /// ("责令限期改正；逾期不改正的，处……罚款").
    #[serde(default)]
    pub correction_order_first: bool,
    /// Ranges that apply only after refusal to correct (噪声法 第八十一条).
    #[serde(default)]
    pub fine_on_refusal: Option<FineRanges>,
    /// A condition the article sets on the fine (e.g. 情节严重).
    #[serde(default)]
    pub fine_only_if: Option<Label>,
    /// A remark on the fine.
    #[serde(default)]
    pub fine_note: Option<Label>,
    /// Fines as a share of the construction cost.
    #[serde(default)]
    pub fine_percent_of_construction_cost: Option<PercentOfCost>,
}

/// A discretion benchmark row (裁量基准) of the jurisdiction.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TierSpec {
    /// Tier id: trivial, minor, general, serious, severe.
    pub tier: String,
    /// Who the row applies to.
    pub party_type: PartyType,
    /// warning or fine.
    pub penalty: PenaltyKind,
    /// Lowest fine, whole yuan (0 for a warning; `None` for percent tiers).
    #[serde(default)]
    pub min_yuan: Option<i64>,
    /// Highest fine, whole yuan (0 for a warning; `None` for percent tiers).
    #[serde(default)]
    pub max_yuan: Option<i64>,
    /// When the tier applies.
    pub conditions: Label,
    /// Measure the conditions refer to (area_m2, percent_of_construction_cost).
    #[serde(default)]
    pub metric: Option<String>,
    /// The row applies after a refusal to correct, under `fine_on_refusal`.
    #[serde(default)]
    pub on_refusal: bool,
    /// Lowest percent of the construction cost (percent tiers).
    #[serde(default)]
    pub min_percent: Option<f64>,
    /// Highest percent of the construction cost (percent tiers).
    #[serde(default)]
    pub max_percent: Option<f64>,
}

impl TierSpec {
    /// Whether the row is set as a share of the construction cost.
    pub fn is_percent(&self) -> bool {
        self.metric.as_deref() == Some("percent_of_construction_cost")
    }
}

/// Kinds of exemption from penalty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExemptionKind {
    /// 首违不罚: first offence, minor harm, corrected.
    FirstOffence,
    /// 轻微不罚: minor, corrected promptly, no harm.
    MinorNoPenalty,
}

impl ExemptionKind {
    /// The identifier used in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            ExemptionKind::FirstOffence => "first_offence",
            ExemptionKind::MinorNoPenalty => "minor_no_penalty",
        }
    }
}

/// One kind of exemption an item allows, and whether it needs a first offence.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExemptionKindRule {
    /// The kind.
    pub kind: ExemptionKind,
    /// The party must have no prior penalised or exempted case of the item in the look-back
    /// window (published 免罚清单 require 首次被发现 for either kind).
    pub first_offence_required: bool,
    /// The conditions in words.
    pub conditions: Label,
    /// A remark on the statute.
    #[serde(default)]
    pub statutory_note: Option<Label>,
}

/// The exemption conditions of an item (the jurisdiction's 免罚清单 entry).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExemptionRule {
    /// Which exemptions the item allows; empty means none.
    #[serde(default)]
    pub kinds: Vec<ExemptionKindRule>,
    /// Look-back window of "first time discovered"; `None` when not exemptable.
    #[serde(default)]
    pub first_offence_lookback_days: Option<i64>,
    /// Tiers that may be exempted; empty with kinds: the kind conditions apply directly.
    #[serde(default)]
    pub exempt_tiers: Vec<String>,
    /// The violation must be minor.
    #[serde(default)]
    pub requires_minor: bool,
    /// There must be no harmful consequence.
    #[serde(default)]
    pub requires_no_harm: bool,
    /// The party must correct by a deadline.
    #[serde(default)]
    pub requires_correction_by_deadline: bool,
    /// The party must sign a pledge (告知承诺).
    #[serde(default)]
    pub pledge_required: bool,
    /// The legal basis of the exemption.
    #[serde(default)]
    pub basis: Vec<LegalBasis>,
    /// Whether the entry was read in the jurisdiction's published list.
    #[serde(default)]
    pub confirmed: bool,
}

impl ExemptionRule {
    /// The rule of one kind, if the item allows it.
    pub fn kind(&self, kind: ExemptionKind) -> Option<&ExemptionKindRule> {
        self.kinds.iter().find(|k| k.kind == kind)
    }

    /// Whether the item allows `kind`.
    pub fn allows(&self, kind: ExemptionKind) -> bool {
        self.kind(kind).is_some()
    }

    /// The look-back window, 0 when the item is not exemptable.
    pub fn lookback_days(&self) -> i64 {
        self.first_offence_lookback_days.unwrap_or(0)
    }
}

/// A violation item, merged from the base, the profile's local basis, benchmarks and
/// exemption list.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Item {
    /// Stable code, e.g. CG-ST-001.
    pub code: String,
    /// Name.
    pub name: Label,
    /// Description.
    #[serde(default)]
    pub description: Option<Label>,
    /// Legal basis (the base's articles, then the jurisdiction's).
    pub legal_basis: Vec<LegalBasis>,
    /// What the law allows as a penalty.
    pub penalties: Penalties,
    /// Party types the item applies to.
    #[serde(default)]
    pub applies_to: Vec<PartyType>,
    /// Default correction deadline in hours (0: on the spot).
    pub default_correction_hours: i64,
    /// The enforcing body the article names.
    #[serde(default)]
    pub authority: Option<Label>,
    /// Whether the bureau's power over the item was confirmed in a public text.
    #[serde(default)]
    pub bureau_power_confirmed: bool,
    /// Not a violation: a service record (行政指导, 提示) where nothing unlawful was found.
    /// Only service measures may be recorded on it; it is never a prior offence.
    #[serde(default)]
    pub service_only: bool,
    /// Where the entry comes from.
    #[serde(default)]
    pub source_note: Option<String>,
    /// Exemption conditions (from the jurisdiction's exemption list).
    #[serde(default)]
    pub exemption: ExemptionRule,
    /// Discretion tiers (from the jurisdiction's benchmarks).
    #[serde(default)]
    pub tiers: Vec<TierSpec>,
}

impl Item {
    /// Whether the law prescribes `kind` for this item.
    pub fn allows(&self, kind: PenaltyKind) -> bool {
        self.penalties.kinds.contains(&kind)
    }

    /// The statutory fine range for a party type, if the law sets one with a known maximum;
    /// `on_refusal` picks the range after a refusal to correct.
    pub fn statutory_fine(&self, party_type: PartyType, on_refusal: bool) -> Option<(i64, i64)> {
        let ranges = if on_refusal {
            self.penalties.fine_on_refusal.as_ref()
        } else {
            self.penalties.fine.as_ref()
        }?;
        let r = ranges.for_party(party_type)?;
        Some((r.min_yuan, r.max_yuan?))
    }

    /// Whether any penalty may rest on a confirmed penalty article.
    pub fn has_confirmed_penalty_basis(&self) -> bool {
        self.legal_basis
            .iter()
            .any(|b| b.role == "penalty" && b.confirmed)
    }
}

/// Review or hearing thresholds; `None` amounts: not confirmed, the `fallback` applies.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Threshold {
    /// For a person.
    #[serde(default)]
    pub person_yuan: Option<i64>,
    /// For a unit.
    #[serde(default)]
    pub unit_yuan: Option<i64>,
    /// Whether the figures were read in a public text.
    #[serde(default)]
    pub confirmed: bool,
    /// What applies while the figures are unknown.
    #[serde(default)]
    pub fallback: Option<String>,
}

impl Threshold {
    /// The amount for a party type.
    pub fn for_party(&self, party_type: PartyType) -> Option<i64> {
        match party_type {
            PartyType::Person => self.person_yuan,
            PartyType::Unit => self.unit_yuan,
        }
    }
}

/// The simple procedure's caps (行政处罚法 第五十一条).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimpleProcedureCap {
    /// Highest fine on a person.
    pub person_yuan: i64,
    /// Highest fine on a unit.
    pub unit_yuan: i64,
    /// A warning may be given on the spot.
    pub warning_allowed: bool,
}

impl SimpleProcedureCap {
    /// The cap for a party type.
    pub fn for_party(&self, party_type: PartyType) -> i64 {
        match party_type {
            PartyType::Person => self.person_yuan,
            PartyType::Unit => self.unit_yuan,
        }
    }
}

/// A period the law sets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Period {
    /// Length in days.
    #[serde(default)]
    pub days: Option<i64>,
    /// Counted in working days (行政处罚法 第八十五条).
    #[serde(default)]
    pub working_days: bool,
    /// Its basis.
    #[serde(default)]
    pub basis: Option<String>,
    /// Whether the period was read in a public text.
    #[serde(default)]
    pub confirmed: bool,
}

/// A rule of procedure with its value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcedureRule<T> {
    /// The value.
    pub value: T,
    /// Its basis.
    #[serde(default)]
    pub basis: Option<String>,
    /// Whether it was read in a public text.
    #[serde(default)]
    pub confirmed: bool,
}

/// The procedure rules a profile sets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcedureRules {
    /// Officers who must take part in a penalty (第四十二条).
    pub officers_min: ProcedureRule<i64>,
    /// Every penalty comes with an order to correct (第二十八条).
    pub correction_order_with_every_penalty: ProcedureRule<bool>,
}

/// The parties' rights and their periods.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rights {
    /// Period to state a case and defend (陈述申辩) after the prior notice.
    pub statement_days: Period,
    /// Period to ask for a hearing after the prior notice (第六十四条).
    pub hearing_request_days: Period,
    /// 行政复议: body and period.
    #[serde(default)]
    pub reconsideration: serde_json::Value,
    /// 行政诉讼: court and period.
    #[serde(default)]
    pub litigation: serde_json::Value,
}

/// Time limits of the procedure.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TimeLimits {
    /// From 立案 to decision (第六十条).
    pub decision_days: Period,
    /// From decision to service (第六十一条).
    pub service_days: Period,
    /// Hearing notice before the hearing (第六十四条).
    pub hearing_notice_days: Period,
    /// From service to payment (第六十七条).
    pub fine_payment_days: Period,
}

/// A value with whether it was confirmed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Confirmable<T> {
    /// The value.
    pub value: T,
    /// Whether it was read in a public text.
    #[serde(default)]
    pub confirmed: bool,
}

/// The jurisdiction profile: who the bureau is and the procedure's figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Profile {
    /// Jurisdiction id, e.g. `CN-AH-LA`.
    pub jurisdiction: String,
    /// Place name.
    pub name: Label,
    /// The bureau.
    pub bureau: Label,
    /// Prefix of penalty document numbers.
    pub document_number_prefix: Confirmable<String>,
    /// Legal review (重大执法决定法制审核).
    pub review_threshold: Threshold,
    /// Hearing right (较大数额罚款).
    pub hearing_threshold: Threshold,
    /// Simple procedure caps.
    pub simple_procedure_cap: SimpleProcedureCap,
    /// Rights and periods.
    pub rights: Rights,
    /// Time limits.
    pub time_limits: TimeLimits,
    /// Procedure rules.
    pub procedure_rules: ProcedureRules,
}
