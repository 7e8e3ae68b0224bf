//! The one error type of `fieldcase-core`.
//!
//! Every variant is something a caller can act on: show the user a message, fix an input, or
//! retry. Variants never carry personal data of the public (names, identity or phone numbers):
//! the ids they name are record ids, and free text in them comes from our own code.

use std::path::PathBuf;

/// Result alias used across the crate.
pub type Result<T, E = CoreError> = std::result::Result<T, E>;

/// Every failure of the core library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// The violation code is not in the catalogue the device holds.
    #[error("unknown violation code {code}")]
    UnknownViolationCode {
        /// The code as given.
        code: String,
    },
    /// The circumstance tier does not exist for this violation and party type.
    #[error("violation {code} has no tier {tier} for a {party_type}")]
    UnknownTier {
        /// Violation code.
        code: String,
        /// Tier as given.
        tier: String,
        /// `person` or `unit`.
        party_type: String,
    },
    /// Coordinates outside the valid range (or not finite).
    #[error("invalid coordinates: latitude {lat}, longitude {lon}")]
    InvalidCoordinates {
        /// Latitude as given.
        lat: f64,
        /// Longitude as given.
        lon: f64,
    },
    /// A field failed validation; `field` names it, `reason` says why.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The offending field.
        field: String,
        /// Why it was refused.
        reason: String,
    },
    /// The case is closed: reopen it (with a reason) before editing.
    #[error("case {case_id} is closed")]
    CaseClosed {
        /// The case.
        case_id: String,
    },
    /// The change breaks a rule the server would refuse it for (`code` is the stable
    /// [`crate::rules::RefusalCode`] identifier).
    #[error("refused ({code}): {detail}")]
    Refused {
        /// The rule broken, e.g. `forged_author`, `decision_invalid`.
        code: String,
        /// Which, in words (ids and field names only).
        detail: String,
    },
    /// The operation is not allowed in the record's current state.
    #[error("not allowed ({code}): {reason}")]
    NotAllowed {
        /// Which rule, stable: the message `not_allowed.<code>` of the catalogue says it in
        /// the user's language.
        code: &'static str,
        /// Why, in English, for logs (may name record ids).
        reason: String,
    },
    /// The party is not eligible for the exemption asked for; `reasons` lists every failed
    /// condition.
    #[error("not eligible for exemption: {}", reasons.join("; "))]
    NotEligible {
        /// Failed conditions, one per entry, in English.
        reasons: Vec<String>,
        /// The same conditions as messages (`condition.<code>.unmet`), to show in the
        /// user's language.
        unmet: Vec<crate::messages::Message>,
    },
    /// No record with this id (of this kind) in the store.
    #[error("{kind} {id} not found")]
    NotFound {
        /// Record kind.
        kind: String,
        /// Record id.
        id: String,
    },
    /// A document's bytes or content are not a valid fieldcase record.
    #[error("malformed document {doc_id}: {reason}")]
    MalformedDocument {
        /// The document.
        doc_id: String,
        /// What is wrong.
        reason: String,
    },
    /// The catalogue data is invalid.
    #[error("invalid catalogue: {reason}")]
    Catalogue {
        /// What is wrong.
        reason: String,
    },
    /// The local database failed.
    #[error("storage error: {0}")]
    Storage(#[from] rusqlite::Error),
    /// The store file could not be opened with the key given: a wrong key, a key for a
    /// plain (unencrypted) file, no key for an encrypted one, or a file that is not a store.
    #[error("the store cannot be opened with this key (wrong key, or not a fieldcase store)")]
    WrongKey,
    /// Another handle (in this process or another) has the store open: one store per file,
    /// shared, because two writers would each keep their own document cache and sync state.
    #[error("the store is already open elsewhere; share the one open store")]
    StoreInUse,
    /// The CRDT library refused an operation or bytes.
    #[error("document error: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    /// A file-system operation failed.
    #[error("i/o error on {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// This device holds no key for the party's personal data (a volunteer device, or a key
    /// not yet received): only masked forms are available.
    #[error("personal data of party {party_id} is not available on this device")]
    PiiUnavailable {
        /// The party.
        party_id: String,
    },
    /// This device holds no party-match key: its role neither records nor reads parties
    /// (volunteers), so the server did not give it one. Party registration and look-up by
    /// identity number are unavailable.
    #[error("this device holds no party-match key (its role does not handle parties)")]
    PartyMatchKeyUnavailable,
    /// The device holds no free document number of the series for the year: the server
    /// reserves blocks at sync.
    #[error("no free document number of series {series} for {year}: sync to receive a block")]
    NoDocumentNumber {
        /// The series (`罚`).
        series: String,
        /// The year.
        year: i32,
    },
    /// The phone has not reached the server within its lease: sync to unlock.
    #[error("store locked since {since_ms}: connect to the server to unlock")]
    Locked {
        /// When the lease ran out (unix ms).
        since_ms: i64,
    },
    /// The sync server could not be reached or the connection broke; retry later.
    #[error("network error: {reason}")]
    Network {
        /// What failed (no credentials, no personal data).
        reason: String,
    },
    /// The server refused the device's credential. With `wipe`, the device was revoked and
    /// must erase its local data in that mode.
    #[error("the server refused this device's credential")]
    Unauthorized {
        /// What the server asked the device to erase (`None`: nothing, the credential is
        /// merely unknown or missing).
        wipe: Option<crate::store::WipeMode>,
    },
    /// The server answered with an error.
    #[error("server error {status} ({code}): {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// Stable error code from the body.
        code: String,
        /// The server's words.
        message: String,
    },
    /// The server's reply broke the sync protocol.
    #[error("sync protocol error: {reason}")]
    Protocol {
        /// What was wrong.
        reason: String,
    },
    /// The sync was cancelled through its `CancelToken`; what was merged stays merged and the
    /// next sync resumes.
    #[error("sync cancelled")]
    Cancelled,
    /// The device is not enrolled with a sync server yet.
    #[error("this device is not enrolled")]
    NotEnrolled,
    /// The server's certificate chain is valid but holds none of the keys the phone was
    /// pinned to at enrolment: a mis-issued certificate, an interception proxy, or a server
    /// key changed without the pins being updated. Retrying does not help; nothing was sent.
    #[error("the server's certificate did not match the pinned key")]
    CertificatePinMismatch,
    /// The disk (or a file-size limit) is full: nothing was recorded; free space and retry.
    #[error("no space left to store {path}")]
    DiskFull {
        /// The file being written.
        path: PathBuf,
    },
    /// The file is not of a format accepted for this kind of evidence.
    #[error("unsupported {kind} format: {detail}")]
    UnsupportedMedia {
        /// `photo`, `audio` or `signature`.
        kind: String,
        /// What was found instead (a format name, never file content).
        detail: String,
    },
    /// An image declares more pixels than the decoder may allocate (a decompression bomb or
    /// a corrupt header); nothing was recorded.
    #[error("image of {width}x{height} pixels exceeds the decode limit")]
    ImageTooLarge {
        /// Declared width.
        width: u64,
        /// Declared height.
        height: u64,
    },
    /// Bytes from another replica (a sync push or reply, a phone-to-phone bundle) would
    /// decode past a limit: a compressed Automerge chunk or column inflating far beyond its
    /// size (a decompression bomb), or simply too much at once. Nothing was merged.
    #[error("{what} exceeds the limit of {limit} bytes")]
    TooLarge {
        /// What was too large (a chunk type, or one request's decoded changes).
        what: String,
        /// The limit, bytes.
        limit: u64,
    },
    /// A photo or audio file is corrupt or cannot be read by its decoder.
    #[error("cannot decode {kind}: {reason}")]
    MediaDecode {
        /// `image` or `audio`.
        kind: String,
        /// The decoder's complaint.
        reason: String,
    },
    /// The device key refused or failed to sign (e.g. a hardware keystore error).
    #[error("signing failed: {reason}")]
    Signing {
        /// What the signer reported.
        reason: String,
    },
    /// An audio segment does not continue its recording (a gap or a repeat).
    #[error("segment {index} of recording {recording_id} does not follow the stored segments")]
    SegmentOutOfOrder {
        /// The recording.
        recording_id: String,
        /// The index given.
        index: u32,
    },
    /// A case-file package is not a readable fieldcase package.
    #[error("malformed package: {reason}")]
    Package {
        /// What is wrong.
        reason: String,
    },
    /// A downloaded blob's content does not hash to the SHA-256 it was asked for: nothing was
    /// stored (the temporary file is removed); retry later.
    #[error("downloaded blob {expected} hashes to {actual}; discarded")]
    BlobHashMismatch {
        /// The hash asked for (hex).
        expected: String,
        /// The hash of what arrived (hex).
        actual: String,
    },
    /// The document font has no glyph for some characters of a document: nothing was
    /// rendered, because a legal document must not print a box or a wrong character in a
    /// name. `chars` holds only the distinct missing characters, never the text around them,
    /// so the officer can be told which to write differently.
    #[error("the document font has no glyph for {chars:?}")]
    MissingGlyphs {
        /// The missing characters, each once, in order of first appearance.
        chars: String,
    },
    /// A document could not be rendered: an image that is not a readable JPEG or PNG, a font
    /// that cannot be parsed, or the PDF writer's refusal.
    #[error("cannot render the document: {0}")]
    Render(String),
    /// The database was written by a newer version of fieldcase.
    #[error("store schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew {
        /// Version found in the file.
        found: i64,
        /// Highest version this build knows.
        supported: i64,
    },
    /// A party's identity number or phone is not well formed for its document: `problem`
    /// names the field and the stable code (`id_number.check_character`, `phone.area_code`,
    /// ...) an app shows the officer's message by. It never holds the number.
    #[error("invalid {}: {problem}", problem.field())]
    InvalidIdentity {
        /// What is wrong, and in which field.
        problem: crate::identity::IdentityProblem,
    },
}

impl CoreError {
    /// Shorthand for [`CoreError::InvalidInput`].
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        CoreError::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`CoreError::NotFound`].
    pub fn not_found(kind: impl Into<String>, id: impl Into<String>) -> Self {
        CoreError::NotFound {
            kind: kind.into(),
            id: id.into(),
        }
    }

    /// Shorthand for [`CoreError::NotAllowed`]: `code` names the catalogue's
    /// `not_allowed.<code>` text, `reason` says it in English for logs.
    pub fn not_allowed(code: &'static str, reason: impl Into<String>) -> Self {
        CoreError::NotAllowed {
            code,
            reason: reason.into(),
        }
    }

    /// Wraps an I/O error with the path it happened on; a full disk or an exceeded file-size
    /// limit becomes [`CoreError::DiskFull`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        use std::io::ErrorKind;
        match source.kind() {
            ErrorKind::StorageFull | ErrorKind::FileTooLarge | ErrorKind::QuotaExceeded => {
                CoreError::DiskFull { path: path.into() }
            }
            _ => CoreError::Io {
                path: path.into(),
                source,
            },
        }
    }
}

impl From<crate::identity::IdentityProblem> for CoreError {
    fn from(problem: crate::identity::IdentityProblem) -> Self {
        CoreError::InvalidIdentity { problem }
    }
}

impl From<crate::rules::Refusal> for CoreError {
    fn from(r: crate::rules::Refusal) -> Self {
        CoreError::Refused {
            code: r.code.as_str().to_string(),
            detail: r.detail,
        }
    }
}
