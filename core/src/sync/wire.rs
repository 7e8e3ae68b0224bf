//! The wire format of sync protocol v1: the request and response bodies of `POST /v1/sync`,
//! `POST /v1/enrol` and the blob status route, shared by the phone client and the server.
//!
//! One definition serves both sides, and `schemas/wire/*.schema.json` describe the same JSON;
//! a test checks real messages against those schemas. Changes are additive only: a new field
//! gets `#[serde(default)]`, an incompatible change gets a new route version.
//!
//! The same types are also the binary (CBOR) body of `POST /v1/sync` ([`super::codec`]): the
//! field helpers below write base64 and hex text for a human-readable format (JSON) and raw
//! byte strings for a binary one, so Automerge bytes, change hashes and document ids cost
//! their own size on the binary wire instead of 4/3 or twice of it.

use crate::model::RecordKind;
use serde::{Deserialize, Serialize};

/// [`DocResult::code`] of a push whose changes written on a revoked phone are held.
pub const CODE_QUARANTINED: &str = "quarantined";
/// [`DocResult::code`] of an accepted push of which changes written under another device's
/// Automerge actor (relayed by phone-to-phone exchange) were left out: that device must push
/// them itself. The rest merged; the client keeps the document unacknowledged and sends it
/// again at its next sync, when the other device's changes may have arrived.
pub const CODE_DEFERRED: &str = "deferred";

/// [`DocResult::code`] of a push whose Automerge bytes would decode past a limit (see
/// `fieldcase_core::doc::bounded`): refused before anything was inflated or merged.
pub const CODE_TOO_LARGE: &str = "too_large";

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Upper bound of the Automerge bytes a client puts into one request.
pub const DEFAULT_BATCH_BYTES: usize = 512 * 1024;

/// Upper bound of feed entries a server puts into one response.
pub const FEED_PAGE: usize = 1000;

/// `POST /v1/sync`: the documents a device changed, and what it wants to hear about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SyncRequest {
    /// Always [`PROTOCOL_VERSION`].
    #[cfg_attr(feature = "schema", schemars(extend("const" = 1)))]
    pub protocol: u32,
    /// The device's id (from enrolment); must match the credential.
    pub device_id: String,
    /// A fresh id per request (UUID). Only for logs and tracing: requests are idempotent by
    /// construction, so a retried request is simply processed again.
    pub request_id: String,
    /// The last feed position whose documents the device has applied (0 at first).
    pub cursor: i64,
    /// Documents pushed (with changes) or asked for (empty changes).
    #[serde(default)]
    pub docs: Vec<DocPush>,
    /// The Automerge actor (hex) this device's store writes under. The server binds it to
    /// the device the first time it is declared, so that changes of a revoked device carried
    /// in by another phone are recognised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(regex(pattern = r"^[0-9a-f]{2,64}$")))]
    pub actor_id: Option<String>,
    /// The catalogue version the phone records new cases under. A server sends its current
    /// signed catalogue only to a phone that states this (an older phone would not use it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)*$")))]
    pub catalogue_version: Option<String>,
    /// Every catalogue version the phone holds; the server sends its current one only when it
    /// is not among them, so a phone downloads a catalogue once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(
        feature = "schema",
        schemars(inner(regex(pattern = r"^[0-9]+(\.[0-9]+)*$")))
    )]
    pub catalogue_versions: Vec<String>,
    /// A catalogue version whose bundle the phone refused earlier in this session (bad
    /// signature, invalid content): the server does not send it again in this session, so a
    /// refused bundle costs one download per sync, not one per round trip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)*$")))]
    pub catalogue_refused: Option<String>,
    /// The digest of the roster the phone holds; the server sends its roster when it differs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(regex(pattern = r"^[0-9a-f]{64}$")))]
    pub roster_digest: Option<String>,
}

/// One document in a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DocPush {
    /// Record id (UUID).
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "super::wire_schema::doc_id")
    )]
    #[serde(with = "id_field")]
    pub doc_id: String,
    /// Record kind.
    pub kind: RecordKind,
    /// The heads the device holds now (hex change hashes).
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "super::wire_schema::heads")
    )]
    #[serde(with = "heads_field")]
    pub have_heads: Vec<String>,
    /// The server heads the device last saw for this document (empty if none).
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "super::wire_schema::heads")
    )]
    #[serde(default, with = "heads_field")]
    pub server_heads: Vec<String>,
    /// Automerge bytes: `save_after(server_heads)` of the device's document, or empty when the
    /// device only asks for what it lacks.
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "super::wire_schema::base64")
    )]
    #[serde(default, with = "b64")]
    pub changes: Vec<u8>,
}

/// `POST /v1/sync` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SyncResponse {
    /// Always [`PROTOCOL_VERSION`].
    #[cfg_attr(feature = "schema", schemars(extend("const" = 1)))]
    pub protocol: u32,
    /// The feed position this reply brings the device to, once it has fetched every document
    /// the feed names.
    pub cursor: i64,
    /// One result per document of the request, in the same order.
    #[serde(default)]
    pub docs: Vec<DocResult>,
    /// Documents the device may read that changed after the request's cursor (heads only).
    #[serde(default)]
    pub feed: Vec<FeedEntry>,
    /// More feed entries follow: sync again from `cursor`.
    #[serde(default)]
    pub more: bool,
    /// The server clock, unix milliseconds.
    pub server_time_ms: i64,
    /// The catalogue version the server holds in force for new cases (absent from older
    /// servers). A phone that holds it already puts it in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)*$")))]
    pub catalogue_version: Option<String>,
    /// The current catalogue, signed, when the phone named a `catalogue_version` and its
    /// `catalogue_versions` lack the server's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalogue: Option<SignedCatalogue>,
    /// Every document-number block reserved for the device that still holds unused numbers
    /// (officers' devices only): the phone numbers documents from them offline.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub number_blocks: Vec<crate::documents::number::NumberBlock>,
    /// The roster of the device's unit (names and 执法证号 that documents print), when the
    /// request's `roster_digest` differs from `roster_digest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roster: Option<Vec<crate::store::RosterEntry>>,
    /// The digest of the server's roster for the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(regex(pattern = r"^[0-9a-f]{64}$")))]
    pub roster_digest: Option<String>,
    /// The server's restore epoch: a random id that changes whenever the server's database is
    /// restored from a backup (absent from older servers). A phone that synced under another
    /// epoch knows the server may have lost what it sent since the backup: it reads the feed
    /// from 0 and offers everything again (`docs/sync-protocol.md`, "Restore epoch").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_epoch: Option<String>,
}

/// A catalogue bundle as published on the server: its canonical bytes and the server's
/// ed25519 signature over `fieldcase catalogue bundle v1\0 || SHA-256(bytes) || version`
/// (see `fieldcase_core::sync::catalogue`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SignedCatalogue {
    /// The version the operator published (dotted numbers).
    pub version: String,
    /// SHA-256 of `bundle`, hex.
    pub digest: String,
    /// ed25519 signature, hex (128 characters).
    pub signature: String,
    /// When it was published (server clock, unix ms; 0 for the server's built-in one).
    pub published_at_ms: i64,
    /// The bundle's canonical JSON bytes (`CatalogueBundle::to_bytes`).
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "super::wire_schema::base64")
    )]
    #[serde(with = "b64")]
    pub bundle: Vec<u8>,
}

/// The bytes are left out: a bundle is hundreds of KB.
impl std::fmt::Debug for SignedCatalogue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedCatalogue")
            .field("version", &self.version)
            .field("digest", &self.digest)
            .field("published_at_ms", &self.published_at_ms)
            .field("bytes", &self.bundle.len())
            .finish_non_exhaustive()
    }
}

/// What the server did with one pushed document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum DocStatus {
    /// Merged and stored (or nothing to merge).
    Accepted,
    /// Refused by validation; nothing stored; `reason` says why.
    Rejected,
    /// The server lacks changes the pushed bytes depend on: send the whole document.
    NeedFull,
}

/// The server's answer for one document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DocResult {
    /// Record id.
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "super::wire_schema::doc_id")
    )]
    #[serde(with = "id_field")]
    pub doc_id: String,
    /// Record kind.
    pub kind: RecordKind,
    /// Outcome.
    pub status: DocStatus,
    /// Why it was rejected (no personal data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A stable code beside `reason`. A rejected push names the rule broken
    /// (`forged_author`, `decision_invalid`, ... : `fieldcase_core::rules::RefusalCode`).
    /// `deferred` (with `accepted`): see [`CODE_DEFERRED`]. `quarantined`: changes in the push written on a revoked
    /// phone are held for an operator's review; the rest merged, and `server_heads` and
    /// `changes` say what the server holds now. The document is not acknowledged; the
    /// client does not send it again until it is edited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The server's heads after the merge (empty if it has no such document).
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "super::wire_schema::heads")
    )]
    #[serde(default, with = "heads_field")]
    pub server_heads: Vec<String>,
    /// What the device lacks: `save_after(have_heads)` of the server's document.
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "super::wire_schema::base64")
    )]
    #[serde(default, with = "b64")]
    pub changes: Vec<u8>,
}

/// One document named by the change feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FeedEntry {
    /// Record id.
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "super::wire_schema::doc_id")
    )]
    #[serde(with = "id_field")]
    pub doc_id: String,
    /// Record kind.
    pub kind: RecordKind,
    /// The server's heads of the document.
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "super::wire_schema::heads")
    )]
    #[serde(with = "heads_field")]
    pub heads: Vec<String>,
}

/// `POST /v1/enrol`: trade a one-time code for a device credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct EnrolRequest {
    /// The code an operator printed.
    pub code: String,
    /// The device's ed25519 public key, hex (64 characters).
    #[cfg_attr(feature = "schema", schemars(regex(pattern = r"^[0-9a-fA-F]{64}$")))]
    pub device_public_key: String,
    /// A label for operators ("squad 3 phone 2").
    pub device_label: String,
    /// The Automerge actor (hex) the device's store writes under (see
    /// [`SyncRequest::actor_id`]); declared here it is bound before anything else can claim it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(regex(pattern = r"^[0-9a-f]{2,64}$")))]
    pub actor_id: Option<String>,
    /// The id the device's store already writes under (a lowercase hyphenated UUID, made on
    /// the phone at first launch): records made before enrolment name it, so the server gives
    /// it to the device unless another device holds it (then a new one, which the phone
    /// adopts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "schema",
        schemars(regex(
            pattern = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
        ))
    )]
    pub device_id: Option<String>,
}

/// `POST /v1/enrol` reply.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct EnrolResponse {
    /// The new device id.
    pub device_id: String,
    /// Bearer credential (base64url, 32 random bytes); shown once, kept on the device.
    pub credential: String,
    /// The user the device acts for.
    pub user_id: String,
    /// The user's role.
    pub role: String,
    /// The user's unit path.
    pub unit: String,
    /// The bureau key for matching parties across phones, hex (64 characters), for the roles
    /// that record or read parties (those given `pii_key`); absent for volunteers and
    /// operators, whose phones then refuse party calls (`PartyMatchKeyUnavailable`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub party_match_key: Option<String>,
    /// The bureau key for personal data of the public, hex, for roles entitled to it
    /// (officers, reviewers, supervisors); absent for volunteers and operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pii_key: Option<String>,
    /// The server clock, unix milliseconds.
    pub server_time_ms: i64,
    /// The server's ed25519 public key (hex), which signs catalogues and legal reviews. The
    /// phone pins it at enrolment and checks every catalogue it receives against it. Absent
    /// from older servers; the phone then learns it from `GET /v1/device-keys`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_signing_key: Option<String>,
}

impl std::fmt::Debug for EnrolResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrolResponse")
            .field("device_id", &self.device_id)
            .field("user_id", &self.user_id)
            .field("role", &self.role)
            .field("unit", &self.unit)
            .finish_non_exhaustive()
    }
}

/// `GET /v1/blobs/{sha256}/status` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BlobStatus {
    /// The blob's SHA-256, hex.
    #[cfg_attr(feature = "schema", schemars(regex(pattern = r"^[0-9a-f]{64}$")))]
    pub sha256: String,
    /// Bytes the server holds of an unfinished upload (the offset to resume at).
    pub offset: u64,
    /// The blob is stored and verified.
    pub complete: bool,
}

/// `GET /v1/device-keys` reply: the public keys of the devices whose signed evidence the
/// caller may read (devices of users in the caller's unit subtree or in a unit above it).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DeviceKeysResponse {
    /// One entry per device, ordered by device id.
    pub keys: Vec<DeviceKeyInfo>,
    /// Every bureau PII key, hex, oldest first and the one new parties are sealed with last,
    /// for the roles entitled to personal data (absent for others, and from older servers).
    /// A phone adds each to its key ring in order and keeps every key it ever held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pii_keys: Option<Vec<String>>,
    /// The server's ed25519 public key (hex), which signs catalogues: a phone that enrolled
    /// with a server too old to send it at enrolment pins it from here, once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_signing_key: Option<String>,
}

/// PII keys are left out: `Debug` output may reach logs.
impl std::fmt::Debug for DeviceKeysResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceKeysResponse")
            .field("keys", &self.keys)
            .field("pii_keys", &self.pii_keys.as_ref().map(Vec::len))
            .field("server_signing_key", &self.server_signing_key)
            .finish()
    }
}

/// One device's public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DeviceKeyInfo {
    /// Device id (UUID).
    pub device_id: String,
    /// ed25519 public key, 64 lowercase hex characters.
    pub public_key: String,
    /// When the device was revoked (server clock, unix ms). Evidence it signed before stays
    /// valid; a verifier may flag later signatures.
    #[serde(default)]
    pub revoked_at_ms: Option<i64>,
}

/// The body of every error reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ErrorBody {
    /// A stable code: `unauthorized`, `forbidden`, `bad_request`, `not_found`, `conflict`,
    /// `upload_in_progress`, `too_large`, `unavailable`, `internal`.
    pub error: String,
    /// Words for a person (never internals or personal data).
    pub message: String,
    /// Set on 401 for a revoked device: erase local data. Kept beside `wipe_mode` for clients
    /// that predate it, which treat it as [`WipeScope::All`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wipe: bool,
    /// With `wipe`: what the operator chose to erase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wipe_mode: Option<WipeScope>,
}

/// What a revoked device erases, as the operator chose at revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum WipeScope {
    /// The whole store and every evidence file (a lost or stolen phone).
    All,
    /// Only what the server already holds; records and evidence not yet synced stay for a
    /// handover (a phone the bureau has in hand).
    SyncedOnly,
}

impl WipeScope {
    /// The identifier stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            WipeScope::All => "all",
            WipeScope::SyncedOnly => "synced_only",
        }
    }

    /// Parses the identifier (also `synced-only`, as typed on a command line).
    pub fn parse(s: &str) -> Option<WipeScope> {
        match s {
            "all" => Some(WipeScope::All),
            "synced_only" | "synced-only" => Some(WipeScope::SyncedOnly),
            _ => None,
        }
    }
}

impl From<WipeScope> for crate::store::WipeMode {
    fn from(s: WipeScope) -> Self {
        match s {
            WipeScope::All => crate::store::WipeMode::All,
            WipeScope::SyncedOnly => crate::store::WipeMode::KeepUnsynced,
        }
    }
}

/// Byte fields: base64 (standard alphabet, padded) in a human-readable format (JSON), a byte
/// string in a binary one (CBOR). Either form is read back from either format.
pub mod b64 {
    use base64::Engine;
    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    /// Encodes.
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
        } else {
            s.serialize_bytes(v)
        }
    }

    struct BytesOrBase64;

    impl<'de> Visitor<'de> for BytesOrBase64 {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a byte string or base64 text")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
            base64::engine::general_purpose::STANDARD
                .decode(v)
                .map_err(E::custom)
        }

        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }

        fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }
    }

    /// Decodes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        if d.is_human_readable() {
            d.deserialize_str(BytesOrBase64)
        } else {
            d.deserialize_any(BytesOrBase64)
        }
    }
}

/// A text field that is often the text form of fixed-size bytes (a UUID, a change hash): in a
/// binary format it is written as those bytes when converting back gives the very same text,
/// and as text otherwise, so every value round-trips exactly.
mod compact {
    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serialize, Serializer};

    /// How the text maps to bytes and back.
    pub(super) trait Form {
        /// The bytes, when `text` is in canonical form.
        fn to_bytes(text: &str) -> Option<Vec<u8>>;
        /// The canonical text of `bytes`, or `None` when they are not of this form.
        fn to_text(bytes: &[u8]) -> Option<String>;
    }

    /// Lowercase hex (change hashes).
    pub(super) struct Hex;

    impl Form for Hex {
        fn to_bytes(text: &str) -> Option<Vec<u8>> {
            let lower = text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
            if lower && !text.is_empty() {
                hex::decode(text).ok()
            } else {
                None
            }
        }

        fn to_text(bytes: &[u8]) -> Option<String> {
            Some(hex::encode(bytes))
        }
    }

    /// A UUID in lowercase hyphenated form (document ids).
    pub(super) struct Uuid;

    impl Form for Uuid {
        fn to_bytes(text: &str) -> Option<Vec<u8>> {
            let id = uuid::Uuid::parse_str(text).ok()?;
            (id.hyphenated().to_string() == text).then(|| id.as_bytes().to_vec())
        }

        fn to_text(bytes: &[u8]) -> Option<String> {
            uuid::Uuid::from_slice(bytes)
                .ok()
                .map(|id| id.hyphenated().to_string())
        }
    }

    /// One value, serialized per [`Form`].
    pub(super) struct Item<'a, F>(pub &'a str, pub std::marker::PhantomData<F>);

    impl<F: Form> Serialize for Item<'_, F> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            if !s.is_human_readable()
                && let Some(b) = F::to_bytes(self.0)
            {
                return s.serialize_bytes(&b);
            }
            s.serialize_str(self.0)
        }
    }

    /// Reads text, or bytes of the form.
    pub(super) struct TextOrBytes<F>(pub std::marker::PhantomData<F>);

    impl<'de, F: Form> Visitor<'de> for TextOrBytes<F> {
        type Value = String;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("text, or its bytes")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_string())
        }

        fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
            Ok(v)
        }

        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<String, E> {
            F::to_text(v).ok_or_else(|| E::invalid_length(v.len(), &self))
        }
    }

    impl<'de, F: Form> de::DeserializeSeed<'de> for TextOrBytes<F> {
        type Value = String;

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
            d.deserialize_any(self)
        }
    }
}

/// A document id: text in JSON, its 16 bytes in CBOR when it is a canonical UUID.
pub mod id_field {
    use super::compact::{Item, TextOrBytes, Uuid};
    use serde::de::DeserializeSeed;
    use serde::{Deserializer, Serialize, Serializer};
    use std::marker::PhantomData;

    /// Encodes.
    pub fn serialize<S: Serializer>(v: &str, s: S) -> Result<S::Ok, S::Error> {
        Item::<Uuid>(v, PhantomData).serialize(s)
    }

    /// Decodes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        TextOrBytes::<Uuid>(PhantomData).deserialize(d)
    }
}

/// A list of change hashes: hex text in JSON, 32-byte strings in CBOR.
pub mod heads_field {
    use super::compact::{Hex, Item, TextOrBytes};
    use serde::de::{SeqAccess, Visitor};
    use serde::ser::SerializeSeq;
    use serde::{Deserializer, Serializer};
    use std::marker::PhantomData;

    /// Encodes.
    pub fn serialize<S: Serializer>(v: &[String], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for h in v {
            seq.serialize_element(&Item::<Hex>(h, PhantomData))?;
        }
        seq.end()
    }

    struct Heads;

    impl<'de> Visitor<'de> for Heads {
        type Value = Vec<String>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list of change hashes")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            // The hint comes from the sender: bounded so it cannot reserve memory by itself.
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
            while let Some(h) = seq.next_element_seed(TextOrBytes::<Hex>(PhantomData))? {
                out.push(h);
            }
            Ok(out)
        }
    }

    /// Decodes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        d.deserialize_seq(Heads)
    }
}
