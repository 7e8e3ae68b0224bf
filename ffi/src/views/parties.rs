//! Views of parties and demonstrations, and a party's personal data for screens that must show it.

use crate::enums::PartyType;
use crate::inputs::Place;
use fieldcase_core::model;

/// A party as the app may show it: masked forms only.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PartyView {
    /// Party id.
    pub id: String,
    /// Person or unit.
    pub party_type: PartyType,
    /// Unit that registered the party.
    pub unit: String,
    /// When registered.
    pub created_at_ms: i64,
    /// By whom.
    pub created_by: String,
    /// e.g. 张**
    pub masked_name: String,
    /// Stars only, one per character (nothing of the number is kept)
    pub masked_id_number: String,
    /// e.g. 138****5678
    pub masked_phone: Option<String>,
}

impl From<model::PartyRecord> for PartyView {
    fn from(p: model::PartyRecord) -> Self {
        PartyView {
            id: p.id,
            party_type: p.party_type.into(),
            unit: p.unit,
            created_at_ms: p.created_at_ms,
            created_by: p.created_by,
            masked_name: p.masked.name,
            masked_id_number: p.masked.id_number,
            masked_phone: p.masked.phone,
        }
    }
}

/// A persuasion demonstration.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct DemonstrationView {
    /// Demonstration id.
    pub id: String,
    /// Unit path.
    pub unit: String,
    /// Team.
    pub team: String,
    /// Participants.
    pub participants: Vec<String>,
    /// Where.
    pub place: Place,
    /// Start.
    pub started_at_ms: i64,
    /// End.
    pub ended_at_ms: i64,
    /// Topic.
    pub topic: String,
    /// People persuaded.
    pub people_persuaded: i64,
    /// Free text.
    pub note: Option<String>,
    /// Who recorded it.
    pub created_by: String,
    /// When.
    pub created_at_ms: i64,
    /// Number of photos.
    pub evidence_count: u32,
}

impl From<model::DemonstrationRecord> for DemonstrationView {
    fn from(d: model::DemonstrationRecord) -> Self {
        DemonstrationView {
            evidence_count: u32::try_from(d.evidence.len()).unwrap_or(u32::MAX),
            id: d.id,
            unit: d.unit,
            team: d.team,
            participants: d.participants,
            place: d.place.into(),
            started_at_ms: d.started_at_ms,
            ended_at_ms: d.ended_at_ms,
            topic: d.topic,
            people_persuaded: d.people_persuaded,
            note: d.note,
            created_by: d.created_by,
            created_at_ms: d.created_at_ms,
        }
    }
}

/// A party's personal data, for a screen that must show it (a decision to print, a pledge to
/// sign). Only on phones entitled to the bureau's personal-data key; never log it (`Debug`
/// hides it, but the generated Kotlin and Swift types print their fields).
#[derive(Clone, PartialEq, uniffi::Record)]
pub struct PartyDetails {
    /// Full name or business name.
    pub name: String,
    /// Identity number or unified social credit code.
    pub id_number: String,
    /// Phone number.
    pub phone: Option<String>,
    /// Address.
    pub address: Option<String>,
}

impl std::fmt::Debug for PartyDetails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PartyDetails { <personal data> }")
    }
}

impl From<model::PartyPii> for PartyDetails {
    fn from(p: model::PartyPii) -> Self {
        PartyDetails {
            name: p.name,
            id_number: p.id_number,
            phone: p.phone,
            address: p.address,
        }
    }
}
