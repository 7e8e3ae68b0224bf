//! The party record: a person or business an officer dealt with (行政相对人).
//!
//! Identity and phone numbers and names are personal data. The document holds them only
//! sealed (`pii_sealed`, see [`crate::pii`]); everything a list or a rule needs (the masked
//! forms and the keyed match hash) sits beside it, so projections, logs and exports never need
//! the plain values and a device without the key still works with the masked forms.

use crate::catalogue::PartyType;
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
    /// Keyed hash of the normalised identity number (or unified social credit code).
    pub match_hash: String,
    /// Masked forms, safe to show.
    pub masked: MaskedParty,
    /// Personal data, sealed under the bureau's PII key (see [`crate::pii`]).
    pub pii_sealed: crate::pii::SealedPii,
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

/// Masks a phone number: first 3 and last 4 digits kept.
pub fn mask_phone(phone: &str) -> String {
    mask_middle(phone, 3, 4)
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
/// check character (身份证 numbers may end in x or X).
pub fn normalise_id_number(id: &str) -> String {
    id.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_only_what_is_safe() {
        assert_eq!(mask_name("张三丰"), "张**");
        assert_eq!(mask_name("李四"), "李*");
        assert_eq!(mask_id_number("34010219900101123X"), "*".repeat(18));
        assert_eq!(mask_id_number(" 340102900101123 "), "*".repeat(15));
        for digit in "34010219900101123".chars() {
            assert!(!mask_id_number("34010219900101123X").contains(digit));
        }
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(
            normalise_id_number(" 340102 19900101123x "),
            "34010219900101123X"
        );
    }

    #[test]
    fn pii_debug_is_redacted() {
        let p = PartyPii {
            name: "张三丰".into(),
            id_number: "34010219900101123X".into(),
            phone: None,
            address: None,
        };
        assert!(!format!("{p:?}").contains("张三丰"));
    }
}
