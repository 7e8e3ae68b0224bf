//! The demonstration record: a persuasion demonstration (劝导示范) by volunteers or officers.
//! It holds no personal data of the public, which is why volunteers may write and read it.

use super::Place;
use serde::{Deserialize, Serialize};

/// A demonstration document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemonstrationRecord {
    /// Always `demonstration`.
    pub kind: String,
    /// Layout version.
    pub schema_version: i64,
    /// UUIDv7.
    pub id: String,
    /// Unit path.
    pub unit: String,
    /// Team name.
    pub team: String,
    /// Volunteer or officer numbers taking part.
    pub participants: Vec<String>,
    /// Where.
    pub place: Place,
    /// Start.
    pub started_at_ms: i64,
    /// End.
    pub ended_at_ms: i64,
    /// Topic (e.g. 门前三包).
    pub topic: String,
    /// How many people were persuaded.
    pub people_persuaded: i64,
    /// Free text.
    #[serde(default)]
    pub note: Option<String>,
    /// Who recorded it.
    pub created_by: String,
    /// When.
    pub created_at_ms: i64,
    /// Photos (evidence entries, no faces of the public required).
    #[serde(default)]
    pub evidence: Vec<serde_json::Value>,
    /// Redactions of evidence (hidden, never removed).
    #[serde(default)]
    pub redactions: Vec<serde_json::Value>,
}
