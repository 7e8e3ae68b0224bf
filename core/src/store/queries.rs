//! Read-side queries, all answered from the SQL projections through the reader connection.

use super::FieldStore;
use crate::model::{CaseRecord, DemonstrationRecord, PartyRecord};
use crate::{CoreError, Result, doc};
use rusqlite::{Row, params};
use serde::{Deserialize, Serialize};

/// A case as lists show it (no personal data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseSummary {
    /// Case id.
    pub id: String,
    /// Unit path.
    pub unit: String,
    /// Derived status.
    pub status: String,
    /// Violation code.
    pub violation_code: String,
    /// Tier.
    pub tier: String,
    /// Party, if known.
    pub party_id: Option<String>,
    /// When it happened.
    pub occurred_at_ms: i64,
    /// Local day (UTC+8).
    pub day: String,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// Exemption kind, if exempted.
    pub exemption_kind: Option<String>,
    /// Running correction deadline.
    pub correction_deadline_ms: Option<i64>,
    /// Flagged as an exemption conflict.
    pub exemption_conflict: bool,
    /// Number of actions.
    pub action_count: i64,
    /// Number of evidence entries.
    pub evidence_count: i64,
}

const SUMMARY_COLS: &str = "id, unit, status, violation_code, tier, party_id, occurred_at_ms, day,
    lat, lon, exemption_kind, correction_deadline_ms, exemption_conflict, action_count,
    evidence_count";

fn summary(r: &Row<'_>) -> rusqlite::Result<CaseSummary> {
    Ok(CaseSummary {
        id: r.get(0)?,
        unit: r.get(1)?,
        status: r.get(2)?,
        violation_code: r.get(3)?,
        tier: r.get(4)?,
        party_id: r.get(5)?,
        occurred_at_ms: r.get(6)?,
        day: r.get(7)?,
        lat: r.get(8)?,
        lon: r.get(9)?,
        exemption_kind: r.get(10)?,
        correction_deadline_ms: r.get(11)?,
        exemption_conflict: r.get(12)?,
        action_count: r.get(13)?,
        evidence_count: r.get(14)?,
    })
}

/// A follow-up that is due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DueFollowUp {
    /// The case.
    pub case_id: String,
    /// The follow-up.
    pub follow_up_id: String,
    /// When due.
    pub due_ms: i64,
    /// Unit of the case.
    pub unit: String,
    /// Past due at the time asked.
    pub overdue: bool,
}

/// `unit = U or a sub-unit of U`; every unit when `None`.
fn unit_clause(col: &str) -> String {
    format!("(?1 IS NULL OR {col} = ?1 OR {col} LIKE ?1 || '/%')")
}

impl FieldStore {
    /// A case record.
    pub fn case(&self, id: &str) -> Result<CaseRecord> {
        self.guard()?;
        self.typed(id, "case")
    }

    /// A party record.
    pub fn party(&self, id: &str) -> Result<PartyRecord> {
        self.guard()?;
        self.typed(id, "party")
    }

    /// A demonstration record.
    pub fn demonstration(&self, id: &str) -> Result<DemonstrationRecord> {
        self.guard()?;
        self.typed(id, "demonstration")
    }

    fn typed<T: serde::de::DeserializeOwned>(&self, id: &str, kind: &str) -> Result<T> {
        let stored = self.read(|c| super::docs::doc_kind(c, id))?;
        if stored.map(|k| k.as_str()) != Some(kind) {
            return Err(CoreError::not_found(kind, id));
        }
        doc::read(&self.load(id)?, id)
    }

    /// Open cases (not closed) of a unit and its sub-units, newest first.
    pub fn open_cases(&self, unit: Option<&str>, limit: u32) -> Result<Vec<CaseSummary>> {
        self.guard()?;
        self.read(|c| {
            let sql = format!(
                "SELECT {SUMMARY_COLS} FROM cases WHERE closed = 0 AND {}
                 ORDER BY occurred_at_ms DESC LIMIT ?2",
                unit_clause("unit")
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![unit, limit], summary)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Follow-ups not yet made that are due before `now_ms + horizon_ms`, oldest first;
    /// `overdue` marks those already past due.
    pub fn due_follow_ups(
        &self,
        unit: Option<&str>,
        now_ms: i64,
        horizon_ms: i64,
    ) -> Result<Vec<DueFollowUp>> {
        self.guard()?;
        self.read(|c| {
            let sql = format!(
                "SELECT f.case_id, f.follow_up_id, f.due_ms, c.unit FROM follow_ups f
                 JOIN cases c ON c.id = f.case_id
                 WHERE f.done_at_ms IS NULL AND c.closed = 0 AND f.due_ms <= ?2 AND {}
                 ORDER BY f.due_ms",
                unit_clause("c.unit")
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![unit, now_ms.saturating_add(horizon_ms)], |r| {
                let due: i64 = r.get(2)?;
                Ok(DueFollowUp {
                    case_id: r.get(0)?,
                    follow_up_id: r.get(1)?,
                    due_ms: due,
                    unit: r.get(3)?,
                    overdue: due < now_ms,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Overdue follow-ups only.
    pub fn overdue_follow_ups(&self, unit: Option<&str>, now_ms: i64) -> Result<Vec<DueFollowUp>> {
        Ok(self
            .due_follow_ups(unit, now_ms, -1)?
            .into_iter()
            .filter(|f| f.overdue)
            .collect())
    }

    /// Every case of a party, matched by identity hash so cases recorded on other phones under
    /// another party record of the same person count too; oldest first.
    pub fn party_history(&self, party_id: &str) -> Result<Vec<CaseSummary>> {
        let p = self.party(party_id)?;
        self.read(|c| {
            let sql = format!(
                "SELECT {SUMMARY_COLS} FROM cases WHERE party_match_hash = ?1
                 ORDER BY occurred_at_ms"
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map([&p.match_hash], summary)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Cases of a unit (and sub-units) on a local day `YYYY-MM-DD`.
    pub fn cases_by_unit_day(&self, unit: &str, day: &str) -> Result<Vec<CaseSummary>> {
        self.guard()?;
        self.read(|c| {
            let sql = format!(
                "SELECT {SUMMARY_COLS} FROM cases WHERE day = ?2 AND {}
                 ORDER BY occurred_at_ms",
                unit_clause("unit")
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![unit, day], summary)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Cases flagged as exemption conflicts.
    pub fn flagged_cases(&self) -> Result<Vec<CaseSummary>> {
        self.guard()?;
        self.read(|c| {
            let sql = format!("SELECT {SUMMARY_COLS} FROM cases WHERE exemption_conflict = 1");
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map([], summary)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Number of record documents of each kind.
    pub fn record_counts(&self) -> Result<Vec<(String, i64)>> {
        self.read(|c| {
            let mut stmt =
                c.prepare("SELECT kind, count(*) FROM docs GROUP BY kind ORDER BY kind")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Every document id, ordered.
    pub fn doc_ids(&self) -> Result<Vec<String>> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT id FROM docs ORDER BY id")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }
}

impl FieldStore {
    /// A record document as JSON, exactly as stored (for export, validation and debugging;
    /// party documents include `pii`, so callers must not log the result).
    pub fn record_json(&self, id: &str) -> Result<serde_json::Value> {
        self.guard()?;
        doc::read_json(&self.load(id)?)
    }
}
