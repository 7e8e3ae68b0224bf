//! Parties: registration (one record per identity number), the keyed match hash that finds
//! the same person across phones, and access to sealed personal data.

use super::inputs::NewParty;
use super::{check_person, check_text, check_unit};
use crate::identity::{self, IdDocument};
use crate::model::*;
use crate::store::FieldStore;
use crate::{Result, ids};

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

    /// The keyed match hash of a number of `document` (see [`crate::identity`]: numbers of
    /// non-mainland documents are hashed after the document's name).
    pub fn party_match_hash_for(&self, number: &str, document: IdDocument) -> Result<String> {
        Ok(identity::match_hash(
            &self.party_key()?,
            &identity::normalise_number(number),
            document,
        ))
    }

    /// Registers a party, or returns the existing one with the same document number.
    ///
    /// The number is checked as its document requires and the phone as the document allows
    /// ([`crate::identity`]); either failing is [`crate::CoreError::InvalidIdentity`] and nothing is
    /// written. Both are kept in their normalised forms.
    pub fn register_party(&self, input: NewParty) -> Result<PartyRecord> {
        check_unit(&input.unit)?;
        check_person("by", &input.by)?;
        check_text("name", &input.name, 200)?;
        let document = input
            .id_document
            .unwrap_or_else(|| IdDocument::default_for(input.party_type));
        let id_number = identity::check_number(&input.id_number, document)?;
        let phone = input
            .phone
            .as_deref()
            .filter(|p| !p.trim().is_empty())
            .map(|p| identity::check_phone(p, document))
            .transpose()?;
        let hash = self.party_match_hash_for(&id_number, document)?;
        if let Some(existing) = self.find_party(&hash)? {
            return Ok(existing);
        }
        let id = ids::new_id();
        let pii = PartyPii {
            name: input.name.trim().to_string(),
            id_number: id_number.clone(),
            phone: phone.clone(),
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
            id_document: Some(document),
            masked: MaskedParty {
                name: mask_name(&input.name),
                id_number: mask_id_number(&id_number),
                phone: phone.as_deref().map(mask_phone),
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

    /// The party whose identity number (or credit code) is `id_number`, if registered on
    /// this device.
    pub fn find_party_by_id_number(&self, id_number: &str) -> Result<Option<PartyRecord>> {
        self.guard()?;
        self.find_party(&self.party_match_hash(id_number)?)
    }

    /// The party registered with `number` of `document`, if registered on this device.
    pub fn find_party_by_document(
        &self,
        number: &str,
        document: IdDocument,
    ) -> Result<Option<PartyRecord>> {
        self.guard()?;
        self.find_party(&self.party_match_hash_for(number, document)?)
    }
}

/// HMAC-SHA-256 of the normalised identity number (or credit code) under `key`, hex: the
/// match hash of a mainland document ([`identity::match_hash`]).
pub fn match_hash(key: &[u8; 32], id_number: &str) -> String {
    identity::match_hash(
        key,
        &identity::normalise_number(id_number),
        IdDocument::MainlandId,
    )
}
