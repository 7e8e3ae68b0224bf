//! Each [`CoreError`] as a [`Message`]: the code a screen shows it by and the values it names.
//!
//! Arguments are record ids, numbers, field names and codes only, never a party's personal
//! data, as in the error itself.

use super::{Message, has};
use crate::CoreError;

impl CoreError {
    /// The catalogue code and arguments that say this error to a user.
    ///
    /// `InvalidInput` gets `invalid.<field>` when the catalogue words that field's refusal,
    /// else the generic `invalid.field` naming the field by its label (`field.<name>`): the
    /// hundred-odd English reasons of the input checks are for logs and English screens.
    pub fn message(&self) -> Message {
        use CoreError as E;
        match self {
            E::UnknownViolationCode { code } => {
                Message::new("invalid.violation_code").arg("code", code)
            }
            E::UnknownTier {
                tier, party_type, ..
            } => Message::new("invalid.tier")
                .label("tier", format!("label.tier.{tier}"))
                .label("party_type", format!("label.party_type.{party_type}")),
            E::InvalidCoordinates { .. } => Message::new("invalid.place"),
            E::InvalidInput { field, .. } => invalid_field(field),
            E::CaseClosed { .. } => Message::new("error.case_closed"),
            E::Refused { code, .. } => Message::new(format!("refused.{code}")),
            E::NotAllowed { code, .. } => Message::new(format!("not_allowed.{code}")),
            E::NotEligible { unmet, .. } => {
                Message::new("error.not_eligible").arg("count", unmet.len())
            }
            E::NotFound { kind, .. } => Message::new("error.not_found").label(
                "kind",
                format!("label.record_kind.{}", kind.replace([' ', '-'], "_")),
            ),
            E::MalformedDocument { .. } => Message::new("error.malformed_document"),
            E::Catalogue { .. } => Message::new("error.catalogue"),
            E::Storage(_) => Message::new("error.storage"),
            E::WrongKey => Message::new("error.wrong_key"),
            E::StoreInUse => Message::new("error.store_in_use"),
            E::Automerge(_) => Message::new("error.document_engine"),
            E::Io { .. } => Message::new("error.io"),
            E::PiiUnavailable { .. } => Message::new("error.pii_unavailable"),
            E::PartyMatchKeyUnavailable => Message::new("error.party_match_key_unavailable"),
            E::NoDocumentNumber { series, year } => Message::new("error.no_document_number")
                .arg("series", series)
                .arg("year", year),
            E::Locked { .. } => Message::new("error.locked"),
            E::Network { .. } => Message::new("error.network"),
            E::Unauthorized { .. } => Message::new("error.unauthorized"),
            E::Server { status, code, .. } => {
                let specific = format!("server.{code}");
                if has(&specific) {
                    Message::new(specific)
                } else {
                    Message::new("error.server").arg("status", status)
                }
            }
            E::Protocol { .. } => Message::new("error.protocol"),
            E::Cancelled => Message::new("error.cancelled"),
            E::NotEnrolled => Message::new("error.not_enrolled"),
            E::CertificatePinMismatch => Message::new("error.certificate_pin_mismatch"),
            E::DiskFull { .. } => Message::new("error.disk_full"),
            E::UnsupportedMedia { kind, .. } => Message::new("error.unsupported_media")
                .label("kind", format!("label.evidence_kind.{kind}")),
            E::ImageTooLarge { .. } => Message::new("error.image_too_large"),
            E::TooLarge { limit, .. } => Message::new("error.too_large").arg("limit", limit),
            E::MediaDecode { .. } => Message::new("error.media_decode"),
            E::Signing { .. } => Message::new("error.signing"),
            E::SegmentOutOfOrder { index, .. } => {
                Message::new("error.segment_out_of_order").arg("index", index)
            }
            E::Package { .. } => Message::new("error.package"),
            E::BlobHashMismatch { .. } => Message::new("error.blob_hash_mismatch"),
            E::MissingGlyphs { chars } => Message::new("error.missing_glyphs").arg("chars", chars),
            E::Render(_) => Message::new("error.render"),
            E::SchemaTooNew { .. } => Message::new("error.schema_too_new"),
            E::InvalidIdentity { problem } => Message::new(problem.code()),
        }
    }
}

/// `invalid.<field>` when the catalogue has it, else `invalid.field` naming the field.
pub fn invalid_field(field: &str) -> Message {
    let specific = format!("invalid.{field}");
    let code = if has(&specific) {
        specific
    } else {
        "invalid.field".to_string()
    };
    Message::new(code).label("field", super::field_label(field))
}
