//! The one error type across the FFI, and the one place core errors are converted into it.
//!
//! Each variant is something an app can act on: highlight a field, show the unmet conditions,
//! ask for a written reason, reopen a case, or report a fault. Messages carry record ids, field
//! names and our own words only, never personal data of the public (names, identity or phone
//! numbers), so an app may log them.

use fieldcase_core::CoreError;
use fieldcase_core::messages::Lang;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Every failure a binding call can report.
///
/// Kotlin sees `FieldcaseException.InvalidInput` and so on, Swift `FieldcaseError.InvalidInput`,
/// Python `FieldcaseError.InvalidInput`; each variant's fields are readable properties.
#[derive(Debug, Clone, PartialEq, thiserror::Error, uniffi::Error)]
pub enum FieldcaseError {
    /// An input failed validation: `field` names it (dotted for nested fields, e.g.
    /// `persuasion.outcome`, `violation_code`, `place`), `reason` says why in the language
    /// set with `set_language`, `code` is the catalogue code of that text (`invalid.place`,
    /// `invalid.field`, ...).
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The offending field.
        field: String,
        /// Why it was refused.
        reason: String,
        /// The stable code of `reason`.
        code: String,
    },
    /// No record of this kind with this id on the device.
    #[error("{kind} {id} not found")]
    NotFound {
        /// Record kind: case, party, demonstration, follow-up.
        kind: String,
        /// The id asked for.
        id: String,
    },
    /// The case is closed: reopen it (with a reason) before editing.
    #[error("case {case_id} is closed")]
    CaseClosed {
        /// The case.
        case_id: String,
    },
    /// The party may not be exempted; `reasons` lists every unmet condition in words a UI can
    /// show, `codes` their catalogue codes in the same order (`condition.pledge.unmet`, ...).
    #[error("not eligible: {}", reasons.join("; "))]
    NotEligible {
        /// One entry per unmet condition.
        reasons: Vec<String>,
        /// The stable code of each reason.
        codes: Vec<String>,
    },
    /// The operation is not allowed in the record's current state (e.g. a second exemption
    /// on a case).
    #[error("not allowed: {reason}")]
    NotAllowed {
        /// Why, in words a UI can show.
        reason: String,
        /// The stable code of `reason` (`not_allowed.already_exempted`, ...).
        code: String,
    },
    /// The change breaks a rule the server enforces (the phone applies the same rules before
    /// writing): `code` is stable (`forged_author`, `decision_invalid`, `review_invalid`,
    /// `exemption_invalid`, ...; `docs/procedure.md` lists them; its text is the catalogue's
    /// `refused.<code>`), `reason` says which.
    #[error("refused ({code}): {reason}")]
    Refused {
        /// The rule broken.
        code: String,
        /// Which, in words.
        reason: String,
    },
    /// A record's bytes are not a valid fieldcase record: a damaged bundle from another phone,
    /// or a damaged store. Nothing was written.
    #[error("malformed record {record_id}: {reason}")]
    Malformed {
        /// The record (may be truncated if the id itself was bad).
        record_id: String,
        /// What is wrong.
        reason: String,
    },
    /// The local database or file system failed (disk full, file locked, store from a newer
    /// app version). `reason` is a short category, never a path or a value.
    #[error("storage: {reason}")]
    Storage {
        /// Category of the failure.
        reason: String,
    },
    /// The store was closed with `close()`; open a new one.
    #[error("the store is closed")]
    StoreClosed,
    /// The store file does not open with the key given (wrong key, or not a store): ask the
    /// keystore again; never create a new store over it.
    #[error("the store cannot be opened with this key")]
    WrongKey,
    /// The store file is already open through another `FieldcaseStore` (in this process or
    /// another): open one store per file and share it (an application-scoped singleton);
    /// after `closeStore()` (or garbage collection of the old object) it can be opened again.
    #[error("the store is already open elsewhere")]
    StoreInUse,
    /// The phone has not reached the server within its lease and shows no data until it
    /// syncs.
    #[error("the store is locked since {since_ms}: connect to the server to unlock")]
    Locked {
        /// When the lease ran out (unix ms).
        since_ms: i64,
    },
    /// The phone is not enrolled yet: call `enrol` with a code from the operator.
    #[error("this phone is not enrolled")]
    NotEnrolled,
    /// The server could not be reached or the connection broke; nothing was lost, retry later.
    #[error("network: {reason}")]
    Network {
        /// What failed, for a log.
        reason: String,
    },
    /// The server's certificate is valid but is not one of the keys this phone was pinned
    /// to at enrolment: an interception proxy or a mis-issued certificate, or the bureau
    /// changed its key without pinning the new one first. Retrying does not help; report it
    /// to the operator.
    #[error("the server's certificate did not match the pinned key")]
    CertificatePinMismatch,
    /// The server does not accept this phone's credential. `wiped` tells whether this phone
    /// was revoked and its data erased. After a full wipe the store is closed (open a new
    /// one to enrol again). After the operator's synced-only wipe (`kept_unsynced`) the
    /// store stays open holding only the work the server never received (`records_kept`
    /// records and their unconfirmed evidence files): export it with `export_changes` for a
    /// colleague's phone, or `enrol` again and `sync` to send it up.
    #[error("not authorised by the server (wiped: {wiped}, kept unsynced: {kept_unsynced})")]
    Unauthorized {
        /// The store was wiped on the server's order.
        wiped: bool,
        /// Only what the server holds was erased; the store is open with the rest.
        kept_unsynced: bool,
        /// Records kept by a synced-only wipe (0 otherwise).
        records_kept: u32,
    },
    /// The server refused the request: `code` is stable (`forbidden`, `bad_request`,
    /// `too_large`, `rate_limited`, `invalid_code`, ...; its text is the catalogue's
    /// `server.<code>`), `explanation` is for a person. (Not `message`: Kotlin exceptions
    /// already have one.)
    #[error("server refused ({status} {code}): {explanation}")]
    ServerRefused {
        /// HTTP status.
        status: u16,
        /// Stable error code.
        code: String,
        /// Words for a person.
        explanation: String,
    },
    /// The device key refused or failed to sign (e.g. the keystore key was invalidated by a
    /// new screen lock); nothing was written.
    #[error("signing failed: {reason}")]
    SigningFailed {
        /// What the signer reported.
        reason: String,
    },
    /// The sync was cancelled; nothing was lost and the next sync continues.
    #[error("cancelled")]
    Cancelled,
    /// A bug: the library failed unexpectedly (a panic was caught). Nothing is known to have
    /// been written; report it.
    #[error("internal error: {reason}")]
    Internal {
        /// What failed, without data.
        reason: String,
    },
    /// A party's document number or phone is not well formed for its document: highlight
    /// `field` (`id_number` or `phone`) and show the message of `code`
    /// (`id_number.check_character`, `phone.area_code`, ...; `core/messages/identity.toml`).
    /// Nothing was written. Never holds the number.
    #[error("invalid {field}: {code}")]
    InvalidIdentity {
        /// `id_number` or `phone`.
        field: String,
        /// What is wrong.
        problem: crate::enums::IdentityProblem,
        /// Stable code of the message.
        code: String,
    },
}

impl From<CoreError> for FieldcaseError {
    fn from(e: CoreError) -> Self {
        use FieldcaseError as F;
        let lang = crate::messages::current();
        let msg = e.message();
        // English keeps the specific words core or the server wrote (an input check's
        // reason, a refusal's detail, a server's explanation), which the catalogue's one text
        // per code cannot match; every other text is the catalogue's, in `lang`.
        let keep_english = |english: String| match lang {
            Lang::En => english,
            Lang::ZhCn => msg.text(lang),
        };
        let invalid = |field: &str| F::InvalidInput {
            field: field.into(),
            reason: msg.text(lang),
            code: msg.code.clone(),
        };
        let not_allowed = || F::NotAllowed {
            reason: msg.text(lang),
            code: msg.code.clone(),
        };
        match e {
            CoreError::UnknownViolationCode { .. } => invalid("violation_code"),
            CoreError::UnknownTier { .. } => invalid("tier"),
            CoreError::InvalidCoordinates { .. } => invalid("place"),
            CoreError::InvalidInput { field, reason } => F::InvalidInput {
                reason: keep_english(reason),
                code: msg.code.clone(),
                field,
            },
            CoreError::CaseClosed { case_id } => F::CaseClosed { case_id },
            CoreError::NotAllowed { .. } => not_allowed(),
            CoreError::Refused { code, detail } => F::Refused {
                reason: keep_english(detail),
                code,
            },
            CoreError::NotEligible { unmet, .. } => F::NotEligible {
                reasons: unmet.iter().map(|m| m.text(lang)).collect(),
                codes: unmet.into_iter().map(|m| m.code).collect(),
            },
            CoreError::NotFound { kind, id } => F::NotFound { kind, id },
            CoreError::MalformedDocument { doc_id, reason } => F::Malformed {
                record_id: doc_id,
                reason,
            },
            CoreError::Catalogue { .. } => invalid("catalogue"),
            // Only the SQLite result code: its message may quote SQL.
            CoreError::Storage(e) => F::Storage {
                reason: match e.sqlite_error_code() {
                    Some(code) => format!("database: {code:?}"),
                    None => "database: unexpected result".into(),
                },
            },
            CoreError::Io { source, .. } => F::Storage {
                reason: format!("file system: {:?}", source.kind()),
            },
            CoreError::SchemaTooNew { .. } => F::Storage {
                reason: "the store was written by a newer app version".into(),
            },
            CoreError::DiskFull { .. } => F::Storage {
                reason: "no space left on the device".into(),
            },
            CoreError::UnsupportedMedia { ref kind, .. } => invalid(kind),
            CoreError::ImageTooLarge { .. } | CoreError::MediaDecode { .. } => invalid("file"),
            CoreError::TooLarge { .. } => invalid("changes"),
            CoreError::Locked { since_ms } => F::Locked { since_ms },
            CoreError::WrongKey => F::WrongKey,
            CoreError::StoreInUse => F::StoreInUse,
            CoreError::NotEnrolled => F::NotEnrolled,
            CoreError::CertificatePinMismatch => F::CertificatePinMismatch,
            CoreError::Network { reason } => F::Network { reason },
            CoreError::Unauthorized { .. } => F::Unauthorized {
                wiped: false,
                kept_unsynced: false,
                records_kept: 0,
            },
            // The catalogue's words for a code it knows; an unknown code keeps the server's.
            CoreError::Server {
                status,
                code,
                message,
            } => F::ServerRefused {
                explanation: if msg.code.starts_with("server.") {
                    keep_english(message)
                } else {
                    message
                },
                status,
                code,
            },
            CoreError::Cancelled => F::Cancelled,
            CoreError::Signing { reason } => F::SigningFailed { reason },
            CoreError::SegmentOutOfOrder { .. } => invalid("segment"),
            CoreError::Package { .. } => invalid("package"),
            CoreError::BlobHashMismatch { .. } => F::Network {
                reason: "a downloaded file did not match its hash; it was discarded".into(),
            },
            CoreError::Protocol { reason } => F::Network {
                reason: format!("unexpected reply: {reason}"),
            },
            CoreError::PiiUnavailable { .. }
            | CoreError::NoDocumentNumber { .. }
            | CoreError::PartyMatchKeyUnavailable => not_allowed(),
            CoreError::MissingGlyphs { .. } => invalid("text"),
            CoreError::Render(reason) => F::Internal {
                reason: format!("document could not be drawn: {reason}"),
            },
            CoreError::InvalidIdentity { problem } => F::InvalidIdentity {
                field: problem.field().into(),
                problem: problem.into(),
                code: problem.code().into(),
            },
            CoreError::Automerge(e) => F::Internal {
                reason: format!("document engine: {e}"),
            },
            // CoreError is non-exhaustive: a variant added later lands here until mapped.
            other => F::Internal {
                reason: format!("unmapped core error: {}", variant_name(&other)),
            },
        }
    }
}

impl FieldcaseError {
    /// An input refused by the bindings themselves, worded like core's input checks.
    pub(crate) fn invalid(field: &str, english: &str) -> Self {
        CoreError::invalid(field, english).into()
    }
}

/// The variant name of a core error, from its `Debug` form (which holds no personal data).
fn variant_name(e: &CoreError) -> String {
    format!("{e:?}")
        .split([' ', '(', '{'])
        .next()
        .unwrap_or("unknown")
        .to_string()
}

/// Runs one core call, converting its error and turning a panic into
/// [`FieldcaseError::Internal`] so that no panic unwinds into the app.
pub(crate) fn guard<T>(f: impl FnOnce() -> Result<T, FieldcaseError>) -> Result<T, FieldcaseError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => Err(FieldcaseError::Internal {
            reason: "the operation failed unexpectedly and was not completed".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_internal() {
        let r: Result<(), _> = guard(|| panic!("boom with data"));
        match r {
            Err(FieldcaseError::Internal { reason }) => assert!(!reason.contains("data")),
            other => panic!("expected Internal, got {other:?}"),
        }
    }

    #[test]
    fn core_errors_map_to_actionable_variants() {
        let e: FieldcaseError = CoreError::UnknownViolationCode { code: "X-1".into() }.into();
        assert!(
            matches!(e, FieldcaseError::InvalidInput { ref field, .. } if field == "violation_code")
        );
        let e: FieldcaseError = CoreError::not_found("case", "abc").into();
        assert_eq!(
            e,
            FieldcaseError::NotFound {
                kind: "case".into(),
                id: "abc".into()
            }
        );
        let e: FieldcaseError = CoreError::InvalidIdentity {
            problem: fieldcase_core::identity::IdentityProblem::Phone(
                fieldcase_core::identity::PhoneProblem::AreaCode,
            ),
        }
        .into();
        assert_eq!(
            e,
            FieldcaseError::InvalidIdentity {
                field: "phone".into(),
                problem: crate::enums::IdentityProblem::AreaCode,
                code: "phone.area_code".into(),
            }
        );
        let e: FieldcaseError =
            CoreError::io("/data/user/x.db", std::io::ErrorKind::StorageFull.into()).into();
        match e {
            FieldcaseError::Storage { reason } => assert!(!reason.contains("/data")),
            other => panic!("expected Storage, got {other:?}"),
        }
    }
}
