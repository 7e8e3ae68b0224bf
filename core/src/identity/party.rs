//! A party's identity as the rest of the system sees it: the keyed match hash of its number,
//! and the check a replica holding the keys makes of a party record someone else sealed.
//!
//! The match hash of a mainland identity number or credit code is what it always was
//! (`fieldcase-party-v1`, then the normalised number), so parties registered before documents
//! were recorded still match. Any other document's number is hashed after its document's
//! name and a colon (`passport:E12345678`): a colon never occurs in a normalised number, so a
//! passport number can never match an identity number or another document's number that
//! happens to have the same characters. The same passport shown twice still matches.

use super::{IdDocument, check_number_at, check_phone};
use crate::model::{PartyPii, PartyRecord};
use crate::rules::{Refusal, RefusalCode};
use hmac::{Hmac, KeyInit, Mac};

/// HMAC-SHA-256 under `key` of a number already normalised, hex.
pub fn match_hash(key: &[u8; 32], normalised: &str, document: IdDocument) -> String {
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(b"fieldcase-party-v1\0");
    if !document.is_mainland() {
        mac.update(document.as_str().as_bytes());
        mac.update(b":");
    }
    mac.update(normalised.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Checks a party record against its opened personal data, as the server does with every
/// party a phone pushes: the number passes its document's check, the phone its rules, and
/// the match hash is the keyed hash of that number (a forged hash would hide the party from
/// the first-offence rule). The phone may be in any form the check accepts. `now_ms` is the checking replica's clock, for birth dates.
///
/// The refusal names the problem code only, never the number.
pub fn check_sealed_party(
    record: &PartyRecord,
    pii: &PartyPii,
    match_key: &[u8; 32],
    now_ms: i64,
) -> Result<(), Refusal> {
    let document = record.document();
    let refuse = |what: &str| Refusal {
        code: RefusalCode::Malformed,
        detail: format!("party {}: {what}", record.id),
    };
    let number = check_number_at(&pii.id_number, document, now_ms).map_err(|p| {
        refuse(&format!(
            "the sealed number fails the {} check ({})",
            document.as_str(),
            p.code()
        ))
    })?;
    if number != pii.id_number {
        return Err(refuse("the sealed number is not in its normalised form"));
    }
    // Any accepted form of the phone will do: apps before this check kept it as typed.
    if let Some(phone) = &pii.phone
        && let Err(p) = check_phone(phone, document)
    {
        return Err(refuse(&format!(
            "the sealed phone fails its check ({})",
            p.code()
        )));
    }
    if match_hash(match_key, &number, document) != record.match_hash {
        return Err(refuse("the match hash is not that of the sealed number"));
    }
    Ok(())
}
