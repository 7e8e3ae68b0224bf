//! What a sync reply carries for documents: the number blocks of an officer's device (topped
//! up when few numbers are left) and the roster of names and certificate numbers that
//! documents print; and the ledger of numbers that a push's documents are checked against.

use crate::app::AppState;
use crate::error::Result;
use crate::storage::User;
use fieldcase_core::documents::fields::number_year;
use fieldcase_core::documents::number::{BLOCK_SIZE, NumberBlock, REFILL_BELOW};
use fieldcase_core::rules::{DocumentLedger, Role};
use fieldcase_core::store::RosterEntry;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};

/// The blocks of `device_id` that still hold free numbers, after reserving a new block of
/// every series of the catalogue in force whose free numbers ran low. Officers only: no
/// other role issues documents. In December the next year's blocks are reserved too, so a
/// phone that is offline across New Year can still number its documents.
pub async fn blocks_for(
    state: &AppState,
    device_id: &str,
    user: &User,
) -> Result<Vec<NumberBlock>> {
    blocks_at(state, device_id, user, fieldcase_core::ids::now_ms()).await
}

/// [`blocks_for`] as of `now_ms`.
pub async fn blocks_at(
    state: &AppState,
    device_id: &str,
    user: &User,
    now_ms: i64,
) -> Result<Vec<NumberBlock>> {
    if user.role != Role::Officer {
        return Ok(vec![]);
    }
    let year = number_year(now_ms);
    let december = fieldcase_core::store::china_day(now_ms).get(5..7) == Some("12");
    let years = if december {
        vec![year, year + 1]
    } else {
        vec![year]
    };
    let catalogue = state.catalogues.set().current().clone();
    let series: Vec<String> = catalogue
        .documents()
        .map(|d| {
            d.templates
                .iter()
                .filter_map(|t| t.series.clone())
                .collect()
        })
        .unwrap_or_default();
    let mut held = state.storage.device_blocks(device_id).await?;
    for y in years {
        for s in &series {
            let free: i64 = held
                .iter()
                .filter(|(b, _)| &b.series == s && b.year == y)
                .map(|(b, used)| b.last - b.first + 1 - used)
                .sum();
            if free < REFILL_BELOW {
                let b = state
                    .storage
                    .reserve_block(device_id, s, y, BLOCK_SIZE, now_ms)
                    .await?;
                held.push((b, 0));
            }
        }
    }
    Ok(held
        .into_iter()
        .filter(|(b, used)| b.last - b.first + 1 > *used && b.year >= year)
        .map(|(b, _)| b)
        .collect())
}

/// The roster of the user's unit subtree and its digest; the roster itself only when the
/// phone's digest differs.
pub async fn roster_for(
    state: &AppState,
    user: &User,
    phone_digest: Option<&str>,
) -> Result<(Option<Vec<RosterEntry>>, String)> {
    let roster: Vec<RosterEntry> = state
        .storage
        .roster(&user.unit)
        .await?
        .into_iter()
        .map(|(u, cert_no)| RosterEntry {
            cert_no,
            user_id: u.id,
            name: u.name,
            role: u.role.as_str().to_string(),
            unit: u.unit,
        })
        .collect();
    let digest = hex::encode(Sha256::digest(
        serde_json::to_vec(&roster).unwrap_or_default(),
    ));
    if phone_digest == Some(digest.as_str()) {
        return Ok((None, digest));
    }
    Ok((Some(roster), digest))
}

/// The numbers the documents of a record name, looked up in storage: the server knows every
/// block, so the rules refuse a number no block holds.
#[derive(Debug, Default)]
pub struct Numbers {
    /// (series, year, seq) -> (holding device, document that took it).
    known: HashMap<NumberKey, (Option<String>, Option<String>)>,
    /// Party id -> the SHA-256 of its block, when the server could open its personal data.
    parties: HashMap<String, Option<String>>,
}

type NumberKey = (String, i32, i64);

impl Numbers {
    /// Looks up what checking the documents `json` adds to `old` needs: their numbers, and
    /// the party block when any document is new. Documents already stored are not checked
    /// again, so nothing is looked up for them.
    pub async fn learn(
        &mut self,
        state: &AppState,
        old: Option<&serde_json::Value>,
        json: &serde_json::Value,
    ) -> Result<()> {
        if !adds_documents(old, json) {
            return Ok(());
        }
        self.learn_numbers(state.storage.as_ref(), old, json)
            .await?;
        let party = json
            .get("party")
            .and_then(|p| p.get("party_id"))
            .and_then(|p| p.as_str());
        if let Some(pid) = party
            && !self.parties.contains_key(pid)
        {
            let sha = party_block_sha256(state, pid).await?;
            self.parties.insert(pid.to_string(), sha);
        }
        Ok(())
    }
}

impl Numbers {
    /// Whether [`Numbers::learn`] has looked up everything checking `json` over `old` needs.
    pub fn knows(&self, old: Option<&serde_json::Value>, json: &serde_json::Value) -> bool {
        if !adds_documents(old, json) {
            return true;
        }
        let numbers = new_numbers(old, json)
            .into_iter()
            .all(|n| self.known.contains_key(&(n.series, n.year, n.seq)));
        let party = json
            .get("party")
            .and_then(|p| p.get("party_id"))
            .and_then(|p| p.as_str())
            .is_none_or(|pid| self.parties.contains_key(pid));
        numbers && party
    }
}

impl DocumentLedger for Numbers {
    fn holder(&self, series: &str, year: i32, seq: i64) -> Option<String> {
        self.known
            .get(&(series.to_string(), year, seq))
            .and_then(|(h, _)| h.clone())
    }
    fn used_by(&self, series: &str, year: i32, seq: i64) -> Option<String> {
        self.known
            .get(&(series.to_string(), year, seq))
            .and_then(|(_, u)| u.clone())
    }
    fn complete(&self) -> bool {
        true
    }
    fn party_sha256(&self, party_id: &str) -> Option<String> {
        self.parties.get(party_id).cloned().flatten()
    }
}

impl Numbers {
    /// Looks up the numbers of the documents `json` adds to `old` (not the party blocks:
    /// those need the bureau's keys, see [`Numbers::learn`]).
    pub async fn learn_numbers(
        &mut self,
        storage: &dyn crate::storage::Storage,
        old: Option<&serde_json::Value>,
        json: &serde_json::Value,
    ) -> Result<()> {
        for n in new_numbers(old, json) {
            let key = (n.series, n.year, n.seq);
            if self.known.contains_key(&key) {
                continue;
            }
            let holder = storage.number_holder(&key.0, key.1, key.2).await?;
            let used = storage.number_used_by(&key.0, key.1, key.2).await?;
            self.known.insert(key, (holder, used));
        }
        Ok(())
    }

    /// Notes a party record accepted earlier in the same request (not yet stored), so a case
    /// pushed after it in the request is checked against it.
    pub fn note_party(&mut self, state: &AppState, party_id: &str, json: &serde_json::Value) {
        if let Ok(record) =
            serde_json::from_value::<fieldcase_core::model::PartyRecord>(json.clone())
        {
            self.parties.insert(
                party_id.to_string(),
                sealed_sha256(state, party_id, &record),
            );
        }
    }
}

/// The SHA-256 of a party's block as documents print it, opened with the bureau's PII keys;
/// `None` when the server does not hold the party or cannot open its seal (sealed under a
/// phone's own key before enrolment).
async fn party_block_sha256(state: &AppState, party_id: &str) -> Result<Option<String>> {
    let Some(stored) = state.storage.load_doc(party_id).await? else {
        return Ok(None);
    };
    if stored.kind != fieldcase_core::model::RecordKind::Party {
        return Ok(None);
    }
    let Ok(doc) = automerge::AutoCommit::load(&stored.bytes) else {
        return Ok(None);
    };
    let Ok(record) =
        fieldcase_core::doc::read::<fieldcase_core::model::PartyRecord>(&doc, party_id)
    else {
        return Ok(None);
    };
    Ok(sealed_sha256(state, party_id, &record))
}

fn sealed_sha256(
    state: &AppState,
    party_id: &str,
    record: &fieldcase_core::model::PartyRecord,
) -> Option<String> {
    let keys: Vec<fieldcase_core::pii::PiiKey> = state
        .pii_ring
        .iter()
        .map(|k| fieldcase_core::pii::PiiKey::from_bytes(*k))
        .collect();
    fieldcase_core::pii::open(&keys, party_id, &record.pii_sealed)
        .ok()
        .map(|pii| {
            fieldcase_core::documents::sheet::party_block_sha256(
                &fieldcase_core::documents::sheet::party_block(&pii),
            )
        })
}

/// Whether `new` holds a document entry `old` did not.
pub fn adds_documents(old: Option<&serde_json::Value>, new: &serde_json::Value) -> bool {
    !new_documents(old, new).is_empty()
}

/// The document entries of `new` that `old` did not hold, by id.
fn new_documents(
    old: Option<&serde_json::Value>,
    new: &serde_json::Value,
) -> Vec<(String, serde_json::Value)> {
    let docs = |v: &serde_json::Value| -> BTreeMap<String, serde_json::Value> {
        v.get("documents")
            .and_then(|d| d.as_array())
            .into_iter()
            .flatten()
            .filter_map(|d| Some((d.get("id")?.as_str()?.to_string(), d.clone())))
            .collect()
    };
    let before = old.map(docs).unwrap_or_default();
    docs(new)
        .into_iter()
        .filter(|(id, _)| !before.contains_key(id))
        .collect()
}

/// The numbers the documents of `new` took that `old` did not hold: what the write records.
pub fn new_numbers(
    old: Option<&serde_json::Value>,
    new: &serde_json::Value,
) -> Vec<crate::storage::numbers::UsedNumber> {
    new_documents(old, new)
        .into_iter()
        .filter_map(|(id, d)| {
            let n = d.get("number")?;
            Some(crate::storage::numbers::UsedNumber {
                series: n.get("series")?.as_str()?.to_string(),
                year: i32::try_from(n.get("year")?.as_i64()?).ok()?,
                seq: n.get("seq")?.as_i64()?,
                document_id: id,
                device_id: d.get("issued_on_device")?.as_str()?.to_string(),
            })
        })
        .collect()
}
