//! SQL projections of record documents: the rows lists and rules query.
//!
//! A record's rows are rewritten whole from its merged document in the same transaction as the
//! chunk that changed it, so projections can never disagree with the documents.

use crate::model::{CaseRecord, DemonstrationRecord, PartyRecord, Record};
use crate::{CoreError, Result};
use rusqlite::{Transaction, params};
use serde_json::Value as Json;

/// Parses a document's JSON as a typed record of `kind`.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(id: &str, json: &Json) -> Result<T> {
    T::deserialize(json).map_err(|e| CoreError::MalformedDocument {
        doc_id: id.to_string(),
        reason: record_error(&e),
    })
}

/// Why a record did not parse, without the offending value: serde quotes it (`invalid type:
/// string "<a name>", expected ...`), and a record's text may be a person's name or number.
/// The reason is logged and shown, so only the value's type is kept.
pub(crate) fn record_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = text.strip_prefix(prefix) {
            let what = rest.split([' ', ',']).next().unwrap_or("value");
            let expected = rest.find(", expected ").map(|i| &rest[i..]).unwrap_or("");
            return format!("{prefix}{what}{expected}");
        }
    }
    text
}

/// Rewrites the projection rows of one record already parsed.
pub(crate) fn project_record(tx: &Transaction<'_>, record: &Record) -> Result<()> {
    match record {
        Record::Case(c) => project_case(tx, c),
        Record::Party(p) => project_party(tx, p),
        Record::Demonstration(d) => project_demonstration(tx, d),
    }
}

/// The calendar day of a unix-millisecond instant in China Standard Time (UTC+8), as
/// `YYYY-MM-DD`: bureaus count by local day.
pub fn china_day(ms: i64) -> String {
    let days = (ms.div_euclid(1000) + 8 * 3600).div_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A unix-millisecond instant in China Standard Time as (year, month, day, hour, minute).
pub fn china_time(ms: i64) -> (i64, u32, u32, u32, u32) {
    let secs = ms.div_euclid(1000) + 8 * 3600;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let in_day = secs.rem_euclid(86_400);
    (
        y,
        m,
        d,
        (in_day / 3600) as u32,
        ((in_day % 3600) / 60) as u32,
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn project_case(tx: &Transaction<'_>, c: &CaseRecord) -> Result<()> {
    super::documents::project_numbers(tx, c)?;
    let exemption_kind = c.exemption.as_ref().map(|e| e.kind.as_str());
    let exemption_at = c.exemption.as_ref().map(|e| e.decided_at_ms);
    let decision = c.decision.as_ref();
    tx.prepare_cached(
        "INSERT OR REPLACE INTO cases(id, unit, status, violation_code, tier, party_id,
            party_match_hash, occurred_at_ms, day, lat, lon, exemption_kind, exemption_at_ms,
            correction_deadline_ms, corrected, decision_amount_yuan, review_required,
            review_outcome, exemption_conflict, closed, action_count, evidence_count)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                 ?18, ?19, ?20, ?21, ?22)",
    )?
    .execute(params![
        c.id,
        c.unit,
        c.status().as_str(),
        c.violation.code,
        c.violation.tier,
        c.party.as_ref().map(|p| p.party_id.as_str()),
        c.party.as_ref().map(|p| p.match_hash.as_str()),
        c.occurred_at_ms,
        china_day(c.occurred_at_ms),
        c.place.lat,
        c.place.lon,
        exemption_kind,
        exemption_at,
        c.correction_deadline_ms(),
        c.is_corrected(),
        decision.map(|d| d.amount_yuan),
        decision.is_some_and(|d| d.review_required),
        decision
            .and_then(|d| d.review.as_ref())
            .map(|r| match r.outcome {
                crate::model::ReviewOutcome::Approved => "approved",
                crate::model::ReviewOutcome::Returned => "returned",
            }),
        c.flags.exemption_conflict,
        c.is_closed(),
        c.actions.len() as i64,
        c.evidence.len() as i64,
    ])?;
    tx.prepare_cached("DELETE FROM case_actions WHERE case_id = ?1")?
        .execute([&c.id])?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT OR REPLACE INTO case_actions(case_id, action_id, method, measure_category,
                at_ms, by_user) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for a in &c.actions {
            stmt.execute(params![
                c.id,
                a.id,
                a.method.as_str(),
                a.measure_category.as_str(),
                a.at_ms,
                a.by
            ])?;
        }
    }
    tx.prepare_cached("DELETE FROM follow_ups WHERE case_id = ?1")?
        .execute([&c.id])?;
    let mut stmt = tx.prepare_cached(
        "INSERT OR REPLACE INTO follow_ups(case_id, follow_up_id, due_ms, done_at_ms, corrected)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for f in &c.follow_ups {
        stmt.execute(params![
            c.id,
            f.id,
            f.due_ms,
            f.result.as_ref().map(|r| r.at_ms),
            f.result.as_ref().map(|r| r.corrected)
        ])?;
    }
    Ok(())
}

fn project_party(tx: &Transaction<'_>, p: &PartyRecord) -> Result<()> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO parties(id, party_type, unit, match_hash, masked_name,
            masked_id_number, masked_phone) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        p.id,
        p.party_type.as_str(),
        p.unit,
        p.match_hash,
        p.masked.name,
        p.masked.id_number,
        p.masked.phone
    ])?;
    Ok(())
}

fn project_demonstration(tx: &Transaction<'_>, d: &DemonstrationRecord) -> Result<()> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO demonstrations(id, unit, team, day, started_at_ms, ended_at_ms,
            people_persuaded) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        d.id,
        d.unit,
        d.team,
        china_day(d.started_at_ms),
        d.started_at_ms,
        d.ended_at_ms,
        d.people_persuaded
    ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn china_day_uses_utc_plus_8() {
        // 2025-11-25T16:30:00Z is 2025-11-26 00:30 in China.
        assert_eq!(china_day(1_764_088_200_000), "2025-11-26");
        assert_eq!(china_day(0), "1970-01-01");
        assert_eq!(china_day(-1), "1970-01-01");
        assert_eq!(china_day(951_782_400_000 - 8 * 3_600_000), "2000-02-29");
    }
}

#[cfg(test)]
mod reason_tests {
    use super::record_error;

    #[test]
    fn a_parse_error_names_the_type_but_not_the_value() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct R {
            n: u32,
        }
        let e = serde_json::from_value::<R>(serde_json::json!({"n": "张三丰 13812345678"}))
            .expect_err("a string is not a number");
        let reason = record_error(&e);
        assert!(
            !reason.contains("张三丰") && !reason.contains("138"),
            "{reason}"
        );
        assert!(reason.starts_with("invalid type: string"), "{reason}");
        assert!(reason.contains("expected u32"), "{reason}");
        let missing = serde_json::from_value::<R>(serde_json::json!({})).expect_err("missing");
        assert_eq!(record_error(&missing), "missing field `n`");
    }
}
