//! The party record: a person or business an officer dealt with (行政相对人).
//!
//! Identity and phone numbers and names are personal data. The document holds them only
//! sealed (`pii_sealed`, see [`crate::pii`]); everything a list or a rule needs (the masked
//! forms and the keyed match hash) sits beside it, so projections, logs and exports never need
//! the plain values and a device without the key still works with the masked forms.

use crate::catalogue::PartyType;
use crate::identity::IdDocument;
use serde::{Deserialize, Serialize};

/// A party document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartyRecord {
    /// Always `party`.
    pub kind: String,
    /// Layout version.
    pub schema_version: i64,
    /// UUIDv7.
    pub id: String,
    /// Person or unit.
    pub party_type: PartyType,
    /// Unit that registered the party.
    pub unit: String,
    /// When registered.
    pub created_at_ms: i64,
    /// By whom.
    pub created_by: String,
    /// Keyed hash of the normalised document number (see [`crate::identity`] for how the
    /// document enters it).
    pub match_hash: String,
    /// The document the number comes from; absent in records made before documents were
    /// recorded, which read as the party type's default ([`PartyRecord::document`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_document: Option<IdDocument>,
    /// Masked forms, safe to show.
    pub masked: MaskedParty,
    /// Personal data, sealed under the bureau's PII key (see [`crate::pii`]).
    pub pii_sealed: crate::pii::SealedPii,
}

impl PartyRecord {
    /// The document of the party's number: the recorded one, or the party type's default for
    /// a record made before documents were recorded.
    pub fn document(&self) -> IdDocument {
        self.id_document
            .unwrap_or_else(|| IdDocument::default_for(self.party_type))
    }
}

/// The masked forms of a party's personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskedParty {
    /// e.g. 张**
    pub name: String,
    /// Stars only, one per character (nothing of the number is kept)
    pub id_number: String,
    /// e.g. 138****5678
    #[serde(default)]
    pub phone: Option<String>,
}

/// Personal data of a party.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartyPii {
    /// Full name or business name.
    pub name: String,
    /// Identity number or unified social credit code.
    pub id_number: String,
    /// Phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// Address.
    #[serde(default)]
    pub address: Option<String>,
}

impl std::fmt::Debug for PartyPii {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PartyPii { <redacted> }")
    }
}

/// Masks a name: keeps the first character (the family name), stars the rest (张三丰 → 张**).
pub fn mask_name(name: &str) -> String {
    let mut chars = name.trim().chars();
    match chars.next() {
        None => String::new(),
        Some(first) => {
            let rest = chars.count().max(1);
            format!("{first}{}", "*".repeat(rest))
        }
    }
}

/// Masks an identity number: no character is kept, only the length (18, or 15 for a
/// first-generation card). Every kept digit narrows a search of the small identity number
/// space (region, birth date, sequence, check digit: about 2^37 numbers, far fewer for one
/// city and age group) that anyone holding the party-match key can run against the match
/// hash beside it; `docs/security.md` has the arithmetic.
pub fn mask_id_number(id: &str) -> String {
    "*".repeat(id.trim().chars().count())
}

/// Masks a phone number: first 3 and last 4 digits of the number kept, separators and any
/// extension (after `转`) left out (0564-3331234转12 → 056****1234).
pub fn mask_phone(phone: &str) -> String {
    let number = phone.split('转').next().unwrap_or_default();
    let digits: String = number.chars().filter(|c| !matches!(c, '-' | ' ')).collect();
    mask_middle(&digits, 3, 4)
}

fn mask_middle(s: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = s.trim().chars().collect();
    if chars.len() <= head + tail {
        return "*".repeat(chars.len());
    }
    let mut out: String = chars[..head].iter().collect();
    out.push_str(&"*".repeat(chars.len() - head - tail));
    out.extend(&chars[chars.len() - tail..]);
    out
}

/// Normalises an identity number before hashing: trims, drops inner spaces, upper-cases the
/// check character (身份证 numbers may end in x or X); see
/// [`crate::identity::normalise_number`].
pub fn normalise_id_number(id: &str) -> String {
    crate::identity::normalise_number(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_only_what_is_safe() {
        assert_eq!(mask_name("张三丰"), "张**");
        assert_eq!(mask_name("李四"), "李*");
        assert_eq!(mask_id_number("34150219900101128X"), "*".repeat(18));
        assert_eq!(mask_id_number(" 341502900101128 "), "*".repeat(15));
        for digit in "34150219900101128".chars() {
            assert!(!mask_id_number("34150219900101128X").contains(digit));
        }
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("0564-3331234转12"), "056****1234");
        assert_eq!(mask_phone("+442079460958"), "+44******0958");
        assert_eq!(
            normalise_id_number(" 341502 19900101128x "),
            "34150219900101128X"
        );
    }

    #[test]
    fn a_record_made_before_documents_reads_as_its_type_default() -> serde_json::Result<()> {
        let old = serde_json::json!({
            "kind": "party", "schema_version": 1, "id": "p", "party_type": "unit",
            "unit": "luan", "created_at_ms": 0, "created_by": "OF-1", "match_hash": "ab",
            "masked": {"name": "某*", "id_number": "******************", "phone": null},
            "pii_sealed": {"alg": "xchacha20poly1305", "key_id": "k", "nonce": "n", "ciphertext": "c"}
        });
        let r: PartyRecord = serde_json::from_value(old.clone())?;
        assert_eq!(r.id_document, None);
        assert_eq!(r.document(), IdDocument::CreditCode);
        assert_eq!(serde_json::to_value(&r)?, old, "written back unchanged");
        let with = PartyRecord {
            id_document: Some(IdDocument::Passport),
            ..r
        };
        assert_eq!(serde_json::to_value(&with)?["id_document"], "passport");
        Ok(())
    }

    #[test]
    fn pii_debug_is_redacted() {
        let p = PartyPii {
            name: "张三丰".into(),
            id_number: "34150219900101128X".into(),
            phone: None,
            address: None,
        };
        assert!(!format!("{p:?}").contains("张三丰"));
    }
}
