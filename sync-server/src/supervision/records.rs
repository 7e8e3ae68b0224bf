//! The merged records supervision works on, read from storage, and the scope (unit subtree and
//! period) a request asks for.

use crate::error::{Result, ServerError};
use crate::storage::{Storage, unit_in_scope};
use automerge::AutoCommit;
use fieldcase_core::model::{CaseRecord, DemonstrationRecord, PartyRecord, RecordKind};
use fieldcase_core::stats::StatsScope;
use std::collections::BTreeMap;

/// Documents read from storage in one round.
const LOAD_SLICE: usize = 100;

/// Every case and demonstration of a unit subtree, with the masked names of the parties.
#[derive(Debug, Clone, Default)]
pub struct Records {
    /// Cases, by id.
    pub cases: Vec<CaseRecord>,
    /// Demonstrations, by id.
    pub demonstrations: Vec<DemonstrationRecord>,
    /// Party id to masked name (张**), for parties of the cases.
    pub party_names: BTreeMap<String, String>,
    /// Documents that could not be read as records (left out, counted).
    pub unreadable: usize,
}

/// Reads every case and demonstration in `unit`'s subtree (the whole city when `None`), and,
/// when `parties` is set, the masked names of their parties. Unreadable documents are left
/// out and counted (logged by id, never by content).
pub async fn load(storage: &dyn Storage, unit: Option<&str>, parties: bool) -> Result<Records> {
    let mut out = Records::default();
    let ids = storage.doc_ids().await?;
    for slice in ids.chunks(LOAD_SLICE) {
        for stored in storage.load_docs(slice).await?.into_iter().flatten() {
            let id = &stored.doc_id;
            if unit.is_some_and(|u| !unit_in_scope(&stored.unit, u)) {
                continue;
            }
            if !matches!(stored.kind, RecordKind::Case | RecordKind::Demonstration) {
                continue;
            }
            let Ok(doc) = AutoCommit::load(&stored.bytes) else {
                tracing::warn!(doc = %id, "stored document does not load");
                out.unreadable += 1;
                continue;
            };
            match stored.kind {
                RecordKind::Case => match fieldcase_core::doc::read::<CaseRecord>(&doc, id) {
                    Ok(c) => out.cases.push(c),
                    Err(_) => out.unreadable += 1,
                },
                _ => match fieldcase_core::doc::read::<DemonstrationRecord>(&doc, id) {
                    Ok(d) => out.demonstrations.push(d),
                    Err(_) => out.unreadable += 1,
                },
            }
        }
    }
    if parties {
        // Parties may be registered by another unit than the case's: look up what the cases
        // name, wherever it lives.
        let wanted: Vec<String> = out
            .cases
            .iter()
            .filter_map(|c| c.party.as_ref().map(|p| p.party_id.clone()))
            .collect::<std::collections::BTreeSet<String>>()
            .into_iter()
            .collect();
        for slice in wanted.chunks(LOAD_SLICE) {
            for stored in storage.load_docs(slice).await?.into_iter().flatten() {
                if stored.kind != RecordKind::Party {
                    continue;
                }
                let Ok(doc) = AutoCommit::load(&stored.bytes) else {
                    continue;
                };
                if let Ok(p) = fieldcase_core::doc::read::<PartyRecord>(&doc, &stored.doc_id) {
                    out.party_names.insert(p.id, p.masked.name);
                }
            }
        }
    }
    Ok(out)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

const DAY_MS: i64 = 86_400_000;
const CST_MS: i64 = 8 * 3_600_000;

/// Parses a period bound: unix milliseconds, or a day `YYYY-MM-DD` in China time (its start;
/// with `end_of_day`, the start of the next day, so `to=2026-11-30` includes the 30th).
pub fn parse_bound(s: &str, end_of_day: bool) -> Result<i64> {
    let bad = || {
        ServerError::BadRequest(format!(
            "{s:?} is not a day (YYYY-MM-DD) or unix milliseconds"
        ))
    };
    let s = s.trim();
    if !s.is_empty() && s.len() <= 15 && s.chars().all(|c| c.is_ascii_digit()) {
        return s.parse::<i64>().map_err(|_| bad());
    }
    let parts: Vec<&str> = s.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad());
    }
    let (y, m, d): (i64, i64, i64) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    );
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days_in = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&m) || d < 1 || d > days_in[(m - 1) as usize] {
        return Err(bad());
    }
    let start = days_from_civil(y, m, d) * DAY_MS - CST_MS;
    Ok(if end_of_day { start + DAY_MS } else { start })
}

/// The statistics scope of a request: `unit` (the caller's own unit when absent; `None` for
/// the whole city) and optional bounds. A `from` after `to` is refused.
pub fn scope(unit: Option<String>, from: Option<&str>, to: Option<&str>) -> Result<StatsScope> {
    let from_ms = from
        .filter(|s| !s.is_empty())
        .map(|s| parse_bound(s, false))
        .transpose()?;
    let to_ms = to
        .filter(|s| !s.is_empty())
        .map(|s| parse_bound(s, true))
        .transpose()?;
    if let (Some(f), Some(t)) = (from_ms, to_ms)
        && f >= t
    {
        return Err(ServerError::BadRequest("from must be before to".into()));
    }
    Ok(StatsScope {
        unit,
        from_ms,
        to_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_parse_as_china_days_or_milliseconds() -> Result<()> {
        assert_eq!(
            fieldcase_core::store::china_day(parse_bound("2026-11-26", false)?),
            "2026-11-26"
        );
        let end = parse_bound("2026-11-26", true)?;
        assert_eq!(fieldcase_core::store::china_day(end - 1), "2026-11-26");
        assert_eq!(fieldcase_core::store::china_day(end), "2026-11-27");
        assert_eq!(parse_bound("1790000000000", false)?, 1_790_000_000_000);
        for bad in ["2026-02-30", "26-11-26", "x", "2026-13-01", "", "2026-1-1"] {
            assert!(parse_bound(bad, false).is_err(), "{bad}");
        }
        assert!(scope(None, Some("2026-11-27"), Some("2026-11-26")).is_err());
        Ok(())
    }
}
