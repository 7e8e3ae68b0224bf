//! The records fieldcase keeps, as serde types.
//!
//! Each record is one Automerge document whose root map is exactly the JSON of these types
//! (see [`crate::doc`]), so the same shapes serve the CRDT, the JSON Schemas in `schemas/`, the
//! sync wire and the case-file export. Status is derived from content rather than stored, so
//! concurrent edits on two phones can never leave a status that contradicts the record.

mod case;
mod demonstration;
mod document;
mod follow_up;
mod party;

pub use case::*;
pub use demonstration::*;
pub use document::*;
pub use follow_up::*;
pub use party::*;

use serde::{Deserialize, Serialize};

/// Version of the record layout written by this build.
pub const RECORD_SCHEMA_VERSION: i64 = 1;

/// The kinds of record documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// A street encounter or matter.
    Case,
    /// A person or business.
    Party,
    /// A persuasion demonstration.
    Demonstration,
}

impl RecordKind {
    /// The identifier stored in documents and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Case => "case",
            RecordKind::Party => "party",
            RecordKind::Demonstration => "demonstration",
        }
    }

    /// Parses the identifier.
    pub fn parse(s: &str) -> Option<RecordKind> {
        match s {
            "case" => Some(RecordKind::Case),
            "party" => Some(RecordKind::Party),
            "demonstration" => Some(RecordKind::Demonstration),
            _ => None,
        }
    }
}

/// A record of any kind as typed values.
///
/// The phone's write path keeps one beside each document it holds in memory, so the rules
/// (which judge the record before and after a change) and the projection (which is built from
/// the record) do not read the document back for every write.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Record {
    /// A case (boxed: a case is many times the size of the other records).
    Case(Box<CaseRecord>),
    /// A party.
    Party(PartyRecord),
    /// A demonstration.
    Demonstration(DemonstrationRecord),
}

impl Record {
    /// Parses a document's JSON as a record of `kind`.
    pub fn parse(kind: RecordKind, json: &serde_json::Value) -> serde_json::Result<Record> {
        use serde::de::Deserialize as _;
        Ok(match kind {
            RecordKind::Case => Record::Case(Box::new(CaseRecord::deserialize(json)?)),
            RecordKind::Party => Record::Party(PartyRecord::deserialize(json)?),
            RecordKind::Demonstration => {
                Record::Demonstration(DemonstrationRecord::deserialize(json)?)
            }
        })
    }

    /// Which kind of record this is.
    pub fn kind(&self) -> RecordKind {
        match self {
            Record::Case(_) => RecordKind::Case,
            Record::Party(_) => RecordKind::Party,
            Record::Demonstration(_) => RecordKind::Demonstration,
        }
    }

    /// The record's own `kind` field (what the document says it is).
    pub fn kind_field(&self) -> &str {
        match self {
            Record::Case(r) => &r.kind,
            Record::Party(r) => &r.kind,
            Record::Demonstration(r) => &r.kind,
        }
    }

    /// The record's id.
    pub fn id(&self) -> &str {
        match self {
            Record::Case(r) => &r.id,
            Record::Party(r) => &r.id,
            Record::Demonstration(r) => &r.id,
        }
    }

    /// The unit the record belongs to.
    pub fn unit(&self) -> &str {
        match self {
            Record::Case(r) => &r.unit,
            Record::Party(r) => &r.unit,
            Record::Demonstration(r) => &r.unit,
        }
    }

    /// The record's evidence entries and redactions (a party has none).
    pub fn evidence_lists(&self) -> (&[serde_json::Value], &[serde_json::Value]) {
        match self {
            Record::Case(r) => (&r.evidence, &r.redactions),
            Record::Demonstration(r) => (&r.evidence, &r.redactions),
            Record::Party(_) => (&[], &[]),
        }
    }

    /// The case, when this record is one.
    pub fn as_case(&self) -> Option<&CaseRecord> {
        match self {
            Record::Case(c) => Some(c),
            _ => None,
        }
    }
}

/// Where something happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Place {
    /// WGS-84 latitude in degrees.
    pub lat: f64,
    /// WGS-84 longitude in degrees.
    pub lon: f64,
    /// Horizontal accuracy in metres, if the platform gave one.
    #[serde(default)]
    pub accuracy_m: Option<f64>,
    /// Street address as the officer wrote or the map gave it.
    #[serde(default)]
    pub address: Option<String>,
}

impl Place {
    /// Refuses coordinates that are not finite or out of range.
    pub fn check(&self) -> crate::Result<()> {
        let ok = self.lat.is_finite()
            && self.lon.is_finite()
            && (-90.0..=90.0).contains(&self.lat)
            && (-180.0..=180.0).contains(&self.lon);
        if !ok {
            return Err(crate::CoreError::InvalidCoordinates {
                lat: self.lat,
                lon: self.lon,
            });
        }
        if let Some(a) = self.accuracy_m
            && (!a.is_finite() || a < 0.0)
        {
            return Err(crate::CoreError::invalid(
                "place.accuracy_m",
                "must be >= 0",
            ));
        }
        Ok(())
    }
}
