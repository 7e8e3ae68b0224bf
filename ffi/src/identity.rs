//! Checks an app's party form can run while the officer types, before it submits: the same
//! checks `register_party` makes (core's `identity` module), so what passes here registers.

use crate::enums::{IdDocument, IdentityProblem, PartyType};
use fieldcase_core::identity as core_identity;

/// A problem found in one field of a party form.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct IdentityIssue {
    /// `id_number` or `phone`.
    pub field: String,
    /// What is wrong.
    pub problem: IdentityProblem,
    /// Stable code naming the message to show (`id_number.check_character`,
    /// `credit_code.region`, `phone.area_code`, ...; `core/messages/identity.toml`).
    pub code: String,
}

impl From<core_identity::IdentityProblem> for IdentityIssue {
    fn from(p: core_identity::IdentityProblem) -> Self {
        IdentityIssue {
            field: p.field().into(),
            problem: p.into(),
            code: p.code().into(),
        }
    }
}

/// The problem with `number` as a number of `document`, or `None` when it would register.
/// Spaces, full-width digits and a lower-case x are accepted.
#[uniffi::export]
pub fn validate_id_number(number: String, document: IdDocument) -> Option<IdentityIssue> {
    core_identity::check_number(&number, document.into())
        .err()
        .map(Into::into)
}

/// The problem with `phone` for the holder of `document`, or `None` when it would register.
#[uniffi::export]
pub fn validate_phone(phone: String, document: IdDocument) -> Option<IdentityIssue> {
    core_identity::check_phone(&phone, document.into())
        .err()
        .map(Into::into)
}

/// The document a party of `party_type` is registered with when the form does not say.
#[uniffi::export]
pub fn default_id_document(party_type: PartyType) -> IdDocument {
    core_identity::IdDocument::default_for(party_type.into()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_learns_the_field_problem_and_code() {
        assert_eq!(
            validate_id_number("11010519491231002x".into(), IdDocument::MainlandId),
            None
        );
        let issue = validate_id_number("110105194912310021".into(), IdDocument::MainlandId);
        assert_eq!(
            issue,
            Some(IdentityIssue {
                field: "id_number".into(),
                problem: IdentityProblem::CheckCharacter,
                code: "id_number.check_character".into(),
            })
        );
        assert_eq!(
            validate_id_number("E12345678".into(), IdDocument::Passport),
            None
        );
        let phone = validate_phone("+44 20 7946 0958".into(), IdDocument::MainlandId);
        assert_eq!(
            phone.map(|i| (i.field, i.problem)),
            Some(("phone".into(), IdentityProblem::International))
        );
        assert_eq!(default_id_document(PartyType::Unit), IdDocument::CreditCode);
    }
}
