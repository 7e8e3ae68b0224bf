//! Serde types of the catalogue files, mirroring `schemas/catalogue.schema.json`.

use serde::{Deserialize, Serialize};

/// A text in both languages of the user interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    /// Simplified Chinese.
    pub zh: String,
    /// English.
    pub en: String,
}

/// One catalogue file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CataloguePart {
    /// Version shared by every part of one catalogue.
    pub catalogue_version: String,
    /// `methods` or `items`.
    pub part: String,
    /// Title of the file.
    pub title: Label,
    /// Method specs (methods part).
    #[serde(default)]
    pub methods: Vec<MethodSpec>,
    /// Violation items (items parts).
    #[serde(default)]
    pub items: Vec<Item>,
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

/// The 721 class of an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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

/// A legal provision an item rests on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LegalBasis {
    /// The law or regulation.
    pub law: Label,
    /// Article, as cited.
    pub article: String,
    /// What the provision does for this item: prohibition, penalty or exemption.
    pub role: String,
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

/// The exemption conditions of an item.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExemptionRule {
    /// Which exemptions the item allows; empty means none.
    pub kinds: Vec<ExemptionKind>,
    /// Look-back window of "first time discovered".
    pub first_offence_lookback_days: i64,
    /// Tiers that may be exempted.
    pub exempt_tiers: Vec<String>,
    /// The violation must be minor.
    pub requires_minor: bool,
    /// There must be no harmful consequence.
    pub requires_no_harm: bool,
    /// The party must correct by a deadline.
    pub requires_correction_by_deadline: bool,
    /// The party must sign a pledge (告知承诺).
    pub pledge_required: bool,
}

/// A discretion benchmark row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TierSpec {
    /// Tier id (none, trivial, minor, general, serious, severe).
    pub tier: String,
    /// Who the row applies to.
    pub party_type: PartyType,
    /// Lowest fine, whole yuan.
    pub min_yuan: i64,
    /// Highest fine, whole yuan.
    pub max_yuan: i64,
    /// When the tier applies.
    pub conditions: Label,
    /// Measure the conditions refer to, if any (e.g. area_m2).
    #[serde(default)]
    pub metric: Option<String>,
}

/// Fine amounts at or above which a decision is major and needs legal review.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ReviewThreshold {
    /// For a person.
    pub person_yuan: i64,
    /// For a unit.
    pub unit_yuan: i64,
}

impl ReviewThreshold {
    /// The threshold for a party type.
    pub fn for_party(&self, party_type: PartyType) -> i64 {
        match party_type {
            PartyType::Person => self.person_yuan,
            PartyType::Unit => self.unit_yuan,
        }
    }
}

/// A violation item.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Item {
    /// Stable code, e.g. CG-ST-001.
    pub code: String,
    /// Name.
    pub name: Label,
    /// Description.
    #[serde(default)]
    pub description: Option<Label>,
    /// Legal basis.
    pub legal_basis: Vec<LegalBasis>,
    /// Exemption conditions.
    pub exemption: ExemptionRule,
    /// Default correction deadline in hours (0: on the spot).
    pub default_correction_hours: i64,
    /// Discretion tiers.
    pub tiers: Vec<TierSpec>,
    /// Legal-review threshold.
    pub review_threshold: ReviewThreshold,
    /// Party types the item applies to.
    #[serde(default)]
    pub applies_to: Vec<PartyType>,
    /// Where the entry comes from.
    #[serde(default)]
    pub source_note: Option<String>,
}

impl Item {
    /// Checks the invariants a schema cannot express.
    pub(crate) fn check(&self) -> Result<(), String> {
        for t in &self.tiers {
            if t.min_yuan < 0 || t.min_yuan > t.max_yuan {
                return Err(format!("{}: tier {} has min > max", self.code, t.tier));
            }
        }
        for (i, t) in self.tiers.iter().enumerate() {
            if self.tiers[..i]
                .iter()
                .any(|u| u.tier == t.tier && u.party_type == t.party_type)
            {
                return Err(format!(
                    "{}: two rows for tier {} and {}",
                    self.code,
                    t.tier,
                    t.party_type.as_str()
                ));
            }
        }
        for p in &self.applies_to {
            if !self.tiers.iter().any(|t| t.party_type == *p) {
                return Err(format!("{}: no tier for a {}", self.code, p.as_str()));
            }
        }
        for t in &self.exemption.exempt_tiers {
            if !self.tiers.iter().any(|x| &x.tier == t) {
                return Err(format!("{}: exempt tier {t} has no tier row", self.code));
            }
        }
        Ok(())
    }
}
