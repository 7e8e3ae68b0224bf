//! The records fieldcase keeps, as serde types.
//!
//! Each record is one Automerge document whose root map is exactly the JSON of these types
//! (see [`crate::doc`]), so the same shapes serve the CRDT, the JSON Schemas in `schemas/`, the
//! sync wire and the case-file export. Status is derived from content rather than stored, so
//! concurrent edits on two phones can never leave a status that contradicts the record.

mod case;
mod demonstration;
mod document;
mod party;

pub use case::*;
pub use demonstration::*;
pub use document::*;
pub use party::*;

use serde::{Deserialize, Serialize};

/// Version of the record layout written by this build.
pub const RECORD_SCHEMA_VERSION: i64 = 1;

/// The kinds of record documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
