//! Identity documents and phone numbers of parties: which numbers are well formed, the form
//! they are kept in, and the stable code of each problem.
//!
//! A mistyped identity number registers a second party, and the first-offence rule then
//! misses the person it exists for; so a number is checked as its standard allows before it
//! is sealed and hashed. The document decides the check:
//!
//! | document | number | phone |
//! |---|---|---|
//! | `MainlandId` (a person's default) | GB 11643: 18 characters, region, birth date, MOD 11-2 check; also Hong Kong, Macau and Taiwan residents' residence permits (81, 82, 83) | mainland mobile or landline |
//! | `CreditCode` (a unit's default) | GB 32100: 18 characters of its set, region, MOD 31 check | mainland, or a 400/800 service number |
//! | `ForeignPermanentResidentId` | 18 digits from 9 with the MOD 11-2 check (2023 card), or 3 letters and 12 digits (earlier cards) | also international |
//! | `Passport`, `HkMacauPermit`, `TaiwanPermit`, `Other` | 6 to 32 letters or digits | also international |
//!
//! The last row is the officer's deliberate override for a document no rule here knows.
//! Problems carry no part of the number: they are logged and shown, and the number is
//! personal data.

mod credit_code;
mod party;
mod phone;
mod resident;

pub use credit_code::credit_code_check_character;
pub use party::{check_sealed_party, match_hash};
pub use resident::check_character;

use crate::catalogue::PartyType;
use serde::{Deserialize, Serialize};

/// The document a party's number comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdDocument {
    /// Resident identity card (居民身份证) or a residence permit of GB 11643 form.
    MainlandId,
    /// Unified social credit code (统一社会信用代码) of a unit.
    CreditCode,
    /// A passport.
    Passport,
    /// Mainland travel permit for Hong Kong and Macau residents (港澳居民来往内地通行证).
    HkMacauPermit,
    /// Mainland travel permit for Taiwan residents (台湾居民来往大陆通行证).
    TaiwanPermit,
    /// Foreign permanent resident ID card (外国人永久居留身份证).
    ForeignPermanentResidentId,
    /// Any other document, checked loosely.
    Other,
}

impl IdDocument {
    /// Every document, in the order an app may list them.
    pub const ALL: [IdDocument; 7] = [
        IdDocument::MainlandId,
        IdDocument::CreditCode,
        IdDocument::Passport,
        IdDocument::HkMacauPermit,
        IdDocument::TaiwanPermit,
        IdDocument::ForeignPermanentResidentId,
        IdDocument::Other,
    ];

    /// The document assumed when none is given: records made before documents were recorded,
    /// and registrations that do not say.
    pub fn default_for(party_type: PartyType) -> IdDocument {
        match party_type {
            PartyType::Person => IdDocument::MainlandId,
            PartyType::Unit => IdDocument::CreditCode,
        }
    }

    /// The identifier stored in records.
    pub fn as_str(self) -> &'static str {
        match self {
            IdDocument::MainlandId => "mainland_id",
            IdDocument::CreditCode => "credit_code",
            IdDocument::Passport => "passport",
            IdDocument::HkMacauPermit => "hk_macau_permit",
            IdDocument::TaiwanPermit => "taiwan_permit",
            IdDocument::ForeignPermanentResidentId => "foreign_permanent_resident_id",
            IdDocument::Other => "other",
        }
    }

    /// A mainland document: its holder's phone is a mainland one.
    pub fn is_mainland(self) -> bool {
        matches!(self, IdDocument::MainlandId | IdDocument::CreditCode)
    }

    /// The number's rules, which name the problem codes.
    fn family(self) -> Family {
        match self {
            IdDocument::MainlandId => Family::IdNumber,
            IdDocument::CreditCode => Family::CreditCode,
            IdDocument::ForeignPermanentResidentId => Family::PermanentResident,
            IdDocument::Passport
            | IdDocument::HkMacauPermit
            | IdDocument::TaiwanPermit
            | IdDocument::Other => Family::Loose,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Family {
    IdNumber,
    CreditCode,
    PermanentResident,
    Loose,
}

/// What is wrong with a document number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdProblem {
    /// Not the number of characters the document has.
    Length,
    /// A character the document does not use (or in a place it does not use it).
    Characters,
    /// The region code is not one in use.
    Region,
    /// The birth date is not a real date, lies in the future, or before 1900.
    BirthDate,
    /// The check character does not match the rest: a mistyped character.
    CheckCharacter,
    /// A 15-digit first-generation number, invalid since 2013: ask for the 18-digit one.
    FirstGeneration,
}

/// What is wrong with a phone number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PhoneProblem {
    /// A character that is not a digit, space, hyphen, parenthesis or a leading `+`.
    Characters,
    /// Too few or too many digits for any form of number.
    Length,
    /// Eleven digits from 1 whose second digit is not 3 to 9: no mobile network uses it.
    MobilePrefix,
    /// A landline without its area code, or with one that does not exist.
    AreaCode,
    /// A landline subscriber number starting with 0 or 1.
    Subscriber,
    /// An extension that is empty, not digits, longer than 6 digits, or after a mobile.
    Extension,
    /// An international number for a holder of a mainland document.
    International,
    /// A 400 or 800 service number for a person.
    ServiceNumber,
}

/// A problem with a party's identity number or phone, with the stable code an app looks up
/// its message by (`core/messages/identity.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentityProblem {
    /// The document number (`field` `id_number`).
    Number {
        /// The document it was checked as.
        document: IdDocument,
        /// What is wrong.
        problem: IdProblem,
    },
    /// The phone (`field` `phone`).
    Phone(PhoneProblem),
}

/// Every code an [`IdentityProblem`] can have.
pub const PROBLEM_CODES: [&str; 23] = [
    "id_number.length",
    "id_number.characters",
    "id_number.region",
    "id_number.birth_date",
    "id_number.check_character",
    "id_number.first_generation",
    "credit_code.length",
    "credit_code.characters",
    "credit_code.region",
    "credit_code.check_character",
    "permanent_resident_id.length",
    "permanent_resident_id.characters",
    "permanent_resident_id.check_character",
    "document_number.length",
    "document_number.characters",
    "phone.characters",
    "phone.length",
    "phone.mobile_prefix",
    "phone.area_code",
    "phone.subscriber",
    "phone.extension",
    "phone.international",
    "phone.service_number",
];

impl IdentityProblem {
    /// The input field: `id_number` or `phone`.
    pub fn field(&self) -> &'static str {
        match self {
            IdentityProblem::Number { .. } => "id_number",
            IdentityProblem::Phone(_) => "phone",
        }
    }

    /// The stable code, e.g. `id_number.check_character`, `credit_code.region`,
    /// `phone.mobile_prefix`: one of [`PROBLEM_CODES`].
    pub fn code(&self) -> &'static str {
        use IdProblem as I;
        use PhoneProblem as P;
        match *self {
            IdentityProblem::Number { document, problem } => match (document.family(), problem) {
                (Family::IdNumber, I::Length) => "id_number.length",
                (Family::IdNumber, I::Characters) => "id_number.characters",
                (Family::IdNumber, I::Region) => "id_number.region",
                (Family::IdNumber, I::BirthDate) => "id_number.birth_date",
                (Family::IdNumber, I::CheckCharacter) => "id_number.check_character",
                (Family::IdNumber, I::FirstGeneration) => "id_number.first_generation",
                (Family::CreditCode, I::Region) => "credit_code.region",
                (Family::CreditCode, I::CheckCharacter) => "credit_code.check_character",
                (Family::CreditCode, I::Characters) => "credit_code.characters",
                (Family::CreditCode, _) => "credit_code.length",
                (Family::PermanentResident, I::CheckCharacter) => {
                    "permanent_resident_id.check_character"
                }
                (Family::PermanentResident, I::Characters) => "permanent_resident_id.characters",
                (Family::PermanentResident, _) => "permanent_resident_id.length",
                (Family::Loose, I::Characters) => "document_number.characters",
                (Family::Loose, _) => "document_number.length",
            },
            IdentityProblem::Phone(p) => match p {
                P::Characters => "phone.characters",
                P::Length => "phone.length",
                P::MobilePrefix => "phone.mobile_prefix",
                P::AreaCode => "phone.area_code",
                P::Subscriber => "phone.subscriber",
                P::Extension => "phone.extension",
                P::International => "phone.international",
                P::ServiceNumber => "phone.service_number",
            },
        }
    }
}

impl std::fmt::Display for IdentityProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// The form a document number is kept, hashed and compared in: no spaces, full-width
/// characters as ASCII, letters upper-cased (身份证 numbers may end in x or X).
pub fn normalise_number(raw: &str) -> String {
    raw.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '０'..='９' | 'Ａ'..='Ｚ' | 'ａ'..='ｚ' => {
                char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c)
            }
            _ => c,
        })
        .flat_map(char::to_uppercase)
        .collect()
}

/// Checks a document number as `document` requires, on the clock's date; returns the
/// normalised number.
pub fn check_number(raw: &str, document: IdDocument) -> Result<String, IdentityProblem> {
    check_number_at(raw, document, crate::ids::now_ms())
}

/// [`check_number`] on the date of `now_ms` (a birth date may not lie after it).
pub fn check_number_at(
    raw: &str,
    document: IdDocument,
    now_ms: i64,
) -> Result<String, IdentityProblem> {
    let n = normalise_number(raw);
    let checked = match document.family() {
        Family::IdNumber => resident::check_id_number(&n, resident::china_date(now_ms)),
        Family::CreditCode => credit_code::check_credit_code(&n),
        Family::PermanentResident => resident::check_permanent_resident(&n),
        Family::Loose => check_loose(&n),
    };
    checked
        .map(|()| n)
        .map_err(|problem| IdentityProblem::Number { document, problem })
}

/// The check every number had before documents were told apart, kept for documents whose
/// numbers follow no rule known here.
fn check_loose(n: &str) -> Result<(), IdProblem> {
    if !n.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(IdProblem::Characters);
    }
    if !(6..=32).contains(&n.len()) {
        return Err(IdProblem::Length);
    }
    Ok(())
}

/// Checks a phone number for the holder of `document`; returns the kept form (see
/// `phone.rs`: mobiles as 11 digits, landlines as `0564-3331234`, extensions after `转`,
/// international numbers as `+` and digits).
pub fn check_phone(raw: &str, document: IdDocument) -> Result<String, IdentityProblem> {
    let rules = phone::PhoneRules {
        international: !document.is_mainland(),
        service: document != IdDocument::MainlandId,
    };
    phone::normalise_phone(raw, rules).map_err(IdentityProblem::Phone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_each_has_a_message_in_both_languages() {
        let mut seen = std::collections::HashSet::new();
        let messages = include_str!("../../messages/identity.toml");
        for code in PROBLEM_CODES {
            assert!(seen.insert(code), "{code} twice");
            let header = format!("[\"{code}\"]");
            let at = messages
                .find(&header)
                .unwrap_or_else(|| panic!("no message for {code}"));
            let entry = &messages[at + header.len()..];
            let entry = &entry[..entry.find("\n[").unwrap_or(entry.len())];
            assert!(entry.contains("\nzh-CN = \""), "{code} has no zh-CN text");
            assert!(entry.contains("\nen = \""), "{code} has no en text");
        }
        assert_eq!(
            messages.matches("\n[\"").count() + usize::from(messages.starts_with("[\"")),
            PROBLEM_CODES.len(),
            "a message for a code that does not exist"
        );
    }

    #[test]
    fn every_problem_a_check_can_give_has_a_listed_code() {
        let problems = [
            IdProblem::Length,
            IdProblem::Characters,
            IdProblem::Region,
            IdProblem::BirthDate,
            IdProblem::CheckCharacter,
            IdProblem::FirstGeneration,
        ];
        for document in IdDocument::ALL {
            for problem in problems {
                let code = IdentityProblem::Number { document, problem }.code();
                assert!(PROBLEM_CODES.contains(&code), "{code}");
            }
        }
    }

    #[test]
    fn documents_pick_their_check() {
        let id = format!(
            "34150219900307001{}",
            check_character("34150219900307001").unwrap_or('?')
        );
        assert_eq!(
            check_number(&id, IdDocument::MainlandId).as_deref(),
            Ok(id.as_str())
        );
        // Spaces, a lower-case x and full-width digits are normalised.
        assert_eq!(
            check_number(" 11010519491231002x ", IdDocument::MainlandId).as_deref(),
            Ok("11010519491231002X")
        );
        assert_eq!(
            check_number(
                "１１０１０５１９４９１２３１００２Ｘ",
                IdDocument::MainlandId
            )
            .as_deref(),
            Ok("11010519491231002X")
        );
        let typo = IdentityProblem::Number {
            document: IdDocument::MainlandId,
            problem: IdProblem::CheckCharacter,
        };
        assert_eq!(
            check_number("110105194912310021", IdDocument::MainlandId),
            Err(typo)
        );
        assert_eq!(typo.code(), "id_number.check_character");
        assert_eq!(typo.field(), "id_number");
        // A passport number is not a mainland number, and needs only the loose check.
        assert_eq!(
            check_number("E12345678", IdDocument::MainlandId).map_err(|p| p.code()),
            Err("id_number.characters")
        );
        assert_eq!(
            check_number("e1234567 8", IdDocument::Passport).as_deref(),
            Ok("E12345678")
        );
        assert_eq!(
            check_number("H1234", IdDocument::HkMacauPermit).map_err(|p| p.code()),
            Err("document_number.length")
        );
        assert_eq!(
            check_number("T-1234567", IdDocument::TaiwanPermit).map_err(|p| p.code()),
            Err("document_number.characters")
        );
        assert_eq!(
            check_number("91341502MA2N000170", IdDocument::CreditCode).map_err(|p| p.code()),
            Err("credit_code.check_character")
        );
        assert_eq!(
            check_number("USA1100850101", IdDocument::ForeignPermanentResidentId)
                .map_err(|p| p.code()),
            Err("permanent_resident_id.length")
        );
    }

    #[test]
    fn phones_follow_the_document() {
        assert_eq!(
            check_phone("+86 138-1234-5678", IdDocument::MainlandId).as_deref(),
            Ok("13812345678")
        );
        assert_eq!(
            check_phone("+44 20 7946 0958", IdDocument::MainlandId).map_err(|p| p.code()),
            Err("phone.international")
        );
        assert_eq!(
            check_phone("+44 20 7946 0958", IdDocument::Passport).as_deref(),
            Ok("+442079460958")
        );
        assert_eq!(
            check_phone("400-812-3123", IdDocument::MainlandId).map_err(|p| p.code()),
            Err("phone.service_number")
        );
        assert_eq!(
            check_phone("400-812-3123", IdDocument::CreditCode).as_deref(),
            Ok("4008123123")
        );
        assert_eq!(
            check_phone("+44 20 7946 0958", IdDocument::CreditCode).map_err(|p| p.code()),
            Err("phone.international")
        );
    }
}
