//! Parties: registration (one record per identity number), the keyed match hash that finds
//! the same person across phones, and access to sealed personal data.

use super::inputs::NewParty;
use super::{check_person, check_text, check_unit};
use crate::model::*;
use crate::store::FieldStore;
use crate::{CoreError, Result, ids};
use hmac::{Hmac, KeyInit, Mac};

impl FieldStore {
    /// The keyed match hash of an identity number (HMAC-SHA-256 with the bureau key);
    /// `PartyMatchKeyUnavailable` on a device not given the key.
    pub fn party_match_hash(&self, id_number: &str) -> Result<String> {
        Ok(match_hash(&self.party_key()?, id_number))
    }

    /// The plain personal data of a party, if this device holds the key that sealed it.
    pub fn party_pii(&self, party_id: &str) -> Result<PartyPii> {
        self.guard()?;
        let p = self.party(party_id)?;
        crate::pii::open(&self.pii_keys(), party_id, &p.pii_sealed)
    }

    /// Registers a party, or returns the existing one with the same identity number.
    pub fn register_party(&self, input: NewParty) -> Result<PartyRecord> {
        check_unit(&input.unit)?;
        check_person("by", &input.by)?;
        check_text("name", &input.name, 200)?;
        let id_number = normalise_id_number(&input.id_number);
        let valid_id = (6..=32).contains(&id_number.len())
            && id_number.chars().all(|c| c.is_ascii_alphanumeric());
        if !valid_id {
            return Err(CoreError::invalid("id_number", "6 to 32 letters or digits"));
        }
        if let Some(p) = &input.phone
            && (!(5..=20).contains(&p.len())
                || !p
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '+' || c == '-'))
        {
            return Err(CoreError::invalid("phone", "5 to 20 digits"));
        }
        let hash = self.party_match_hash(&id_number)?;
        if let Some(existing) = self.find_party(&hash)? {
            return Ok(existing);
        }
        let id = ids::new_id();
        let pii = PartyPii {
            name: input.name.trim().to_string(),
            id_number: id_number.clone(),
            phone: input.phone.clone(),
            address: input.address,
        };
        let record = PartyRecord {
            kind: "party".into(),
            schema_version: RECORD_SCHEMA_VERSION,
            id: id.clone(),
            party_type: input.party_type,
            unit: input.unit,
            created_at_ms: ids::now_ms(),
            created_by: input.by,
            match_hash: hash,
            masked: MaskedParty {
                name: mask_name(&input.name),
                id_number: mask_id_number(&id_number),
                phone: input.phone.as_deref().map(mask_phone),
            },
            pii_sealed: crate::pii::seal(&self.sealing_key(), &id, &pii)?,
        };
        self.create_doc(Record::Party(record.clone()), "register party")?;
        Ok(record)
    }

    fn find_party(&self, hash: &str) -> Result<Option<PartyRecord>> {
        let id: Option<String> = self.read(|c| {
            use rusqlite::OptionalExtension;
            Ok(c.query_row(
                "SELECT id FROM parties WHERE match_hash = ?1 ORDER BY id LIMIT 1",
                [hash],
                |r| r.get(0),
            )
            .optional()?)
        })?;
        match id {
            Some(id) => Ok(Some(self.party(&id)?)),
            None => Ok(None),
        }
    }

    /// The party whose identity number is `id_number`, if registered on this device.
    pub fn find_party_by_id_number(&self, id_number: &str) -> Result<Option<PartyRecord>> {
        self.guard()?;
        self.find_party(&self.party_match_hash(&normalise_id_number(id_number))?)
    }
}

/// HMAC-SHA-256 of the normalised identity number under `key`, hex.
pub fn match_hash(key: &[u8; 32], id_number: &str) -> String {
    let normalised = normalise_id_number(id_number);
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(b"fieldcase-party-v1\0");
    mac.update(normalised.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}
