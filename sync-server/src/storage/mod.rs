//! The server's storage: one trait, [`Storage`], that every backend implements, and the shared
//! conformance suite in [`conformance`] that every backend must pass.
//!
//! The embedded default is [`sqlite::SqliteStorage`] (one file under the data folder). A
//! PostgreSQL backend plugs in behind the same trait. Blob *contents* live in files (see
//! `blobs`); the trait holds their metadata, upload sessions and which documents refer to
//! which blobs.
//!
//! The change feed: every document write takes the next value of one counter **inside the write
//! transaction** and stores it as the document's `seq`. Because the counter row is locked until
//! commit, feed order equals commit order, so a device that has seen every `seq <= c` never
//! misses a later commit with a smaller number. `latest_seq` read before a feed query is
//! therefore a safe cursor to hand out when the page is not full.

pub mod catalogue;
pub mod conformance;
pub mod numbers;
pub mod pg_tls;
pub mod postgres;
pub mod sqlite;

use crate::audit::{AuditEntry, AuditEvent, AuditHead};
use crate::error::Result;
use async_trait::async_trait;
use ed25519_dalek::SigningKey;
use fieldcase_core::model::RecordKind;
use fieldcase_core::sync::wire::WipeScope;
use serde::{Deserialize, Serialize};

/// The roles of users (defined in core: the rules that run on phones and here need them).
pub use fieldcase_core::rules::Role;

/// An organisational unit; its path's prefixes are its parents (`luan/jinan/squad-1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    /// Path.
    pub path: String,
    /// Display name.
    pub name: String,
}

/// A user (officer, volunteer, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Id (officer or volunteer number, or a UUID).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Unit path; the user acts on this unit and its sub-units.
    pub unit: String,
    /// When created.
    pub created_at_ms: i64,
}

/// A one-time enrolment code, stored hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolmentCode {
    /// SHA-256 of the normalised code.
    pub code_hash: [u8; 32],
    /// The user the enrolled device will act for.
    pub user_id: String,
    /// When created.
    pub created_at_ms: i64,
    /// Unusable after this.
    pub expires_at_ms: i64,
}

/// An enrolled device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// Id (UUID).
    pub id: String,
    /// Its user.
    pub user_id: String,
    /// Label for operators.
    pub label: String,
    /// ed25519 public key, hex.
    pub public_key: String,
    /// When enrolled.
    pub enrolled_at_ms: i64,
    /// When revoked, if it was.
    pub revoked_at_ms: Option<i64>,
    /// What the operator told it to erase at revocation (`None` for a device revoked before
    /// the choice existed: everything).
    #[serde(default)]
    pub revoke_wipe: Option<WipeScope>,
    /// Last authenticated request.
    pub last_seen_ms: Option<i64>,
}

/// A device to create when a code is redeemed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDevice {
    /// Id (UUID).
    pub id: String,
    /// Label.
    pub label: String,
    /// Public key, hex.
    pub public_key: String,
    /// SHA-256 of the bearer credential.
    pub credential_hash: [u8; 32],
    /// Now.
    pub enrolled_at_ms: i64,
}

/// A device with its user and stored credential hash, for authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAuth {
    /// The device.
    pub device: Device,
    /// Its user.
    pub user: User,
    /// The stored SHA-256 of its credential.
    pub credential_hash: [u8; 32],
}

/// A stored document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDoc {
    /// Record id.
    pub doc_id: String,
    /// Kind.
    pub kind: RecordKind,
    /// Unit path of the record.
    pub unit: String,
    /// Heads, concatenated 32-byte hashes.
    pub heads: Vec<u8>,
    /// Automerge bytes: the chunks concatenated in order (loadable with `AutoCommit::load`).
    pub bytes: Vec<u8>,
    /// Number of chunks stored.
    pub chunk_count: i64,
    /// Feed position of the last write.
    pub seq: i64,
}

/// A document write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocWrite {
    /// Record id.
    pub doc_id: String,
    /// Kind.
    pub kind: RecordKind,
    /// Unit path after the write.
    pub unit: String,
    /// Party match hash (cases with a party), for the exemption-conflict rule.
    pub party_hash: Option<String>,
    /// Heads the writer read: `None` for a new document. The write fails with
    /// [`crate::error::ServerError::Conflict`] if the stored heads differ (a concurrent write).
    pub expected_heads: Option<Vec<u8>>,
    /// Heads after the write.
    pub new_heads: Vec<u8>,
    /// The new chunk (incremental changes), or with `replace` the whole document.
    pub chunk: Vec<u8>,
    /// Replace every stored chunk by `chunk` (compaction, or a new document).
    pub replace: bool,
    /// Blob SHA-256s (hex) the document refers to after the write.
    pub blob_refs: Vec<String>,
    /// Document numbers the write's new documents took.
    pub numbers: Vec<numbers::UsedNumber>,
}

/// What became of one document of [`Storage::write_docs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Committed at this feed position.
    Written(i64),
    /// The stored heads were not the `expected_heads` (a concurrent write, or the same document
    /// earlier in the batch): nothing of this document was written; the writer reloads and
    /// retries.
    Conflict,
}

/// A feed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedQuery {
    /// Entries with `seq > after`.
    pub after: i64,
    /// ...and `seq <= upto`.
    pub upto: i64,
    /// Unit subtrees the reader may read.
    pub scopes: Vec<String>,
    /// Kinds the reader may read.
    pub kinds: Vec<RecordKind>,
    /// Page size.
    pub limit: usize,
}

/// One feed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedItem {
    /// Feed position.
    pub seq: i64,
    /// Record id.
    pub doc_id: String,
    /// Kind.
    pub kind: RecordKind,
    /// Heads, concatenated.
    pub heads: Vec<u8>,
}

/// A stored, verified blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRecord {
    /// SHA-256, hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// When stored.
    pub stored_at_ms: i64,
    /// Device that uploaded it.
    pub device_id: String,
}

/// An unfinished upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadSession {
    /// SHA-256, hex.
    pub sha256: String,
    /// Uploading device.
    pub device_id: String,
    /// Bytes received and synced to disk.
    pub received: u64,
    /// Declared total size.
    pub total: u64,
    /// Last activity.
    pub updated_at_ms: i64,
}

/// A one-time dashboard login token, stored hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginToken {
    /// SHA-256 of the token.
    pub token_hash: [u8; 32],
    /// The user it logs in.
    pub user_id: String,
    /// When created.
    pub created_at_ms: i64,
    /// Unusable after this.
    pub expires_at_ms: i64,
}

/// A dashboard session (the cookie's value is stored only as its SHA-256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    /// SHA-256 of the cookie value.
    pub session_hash: [u8; 32],
    /// When created.
    pub created_at_ms: i64,
    /// Invalid after this.
    pub expires_at_ms: i64,
}

/// An Automerge actor bound to a revoked device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedActor {
    /// Actor id, hex.
    pub actor: String,
    /// The device that authors under it.
    pub device_id: String,
    /// When the device was revoked.
    pub revoked_at_ms: i64,
    /// What the operator told it to erase (`None`: revoked before the choice existed).
    pub revoke_wipe: Option<WipeScope>,
}

/// Changes held back from a document because a revoked device authored them (or they depend
/// on such changes), as the ingest found them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewQuarantine {
    /// Record id.
    pub doc_id: String,
    /// Kind.
    pub kind: RecordKind,
    /// The device that pushed them.
    pub sender_device: String,
    /// Its user.
    pub sender_user: String,
    /// The revoked devices whose actors authored them, comma-separated.
    pub revoked_devices: String,
    /// When they arrived.
    pub received_at_ms: i64,
    /// Their change hashes, hex, sorted, space-separated.
    pub hashes: String,
    /// The changes: Automerge change chunks, concatenated.
    pub changes: Vec<u8>,
}

/// What became of held changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuarantineStatus {
    /// Awaiting an operator.
    Pending,
    /// Merged into the document by an operator.
    Released,
    /// Refused by an operator (kept for the record, never merged).
    Rejected,
}

impl QuarantineStatus {
    /// The identifier stored.
    pub fn as_str(self) -> &'static str {
        match self {
            QuarantineStatus::Pending => "pending",
            QuarantineStatus::Released => "released",
            QuarantineStatus::Rejected => "rejected",
        }
    }

    /// Parses the identifier.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Released, Self::Rejected]
            .into_iter()
            .find(|q| q.as_str() == s)
    }
}

/// Held changes as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuarantineItem {
    /// Id for `admin quarantine release|reject`.
    pub id: i64,
    /// Record id.
    pub doc_id: String,
    /// Kind.
    pub kind: RecordKind,
    /// The device that pushed them.
    pub sender_device: String,
    /// Its user.
    pub sender_user: String,
    /// The revoked devices whose actors authored them, comma-separated.
    pub revoked_devices: String,
    /// When they arrived.
    pub received_at_ms: i64,
    /// Their change hashes, hex, sorted, space-separated.
    pub hashes: String,
    /// State.
    pub status: QuarantineStatus,
    /// When an operator released or rejected them.
    pub settled_at_ms: Option<i64>,
    /// The changes (not printed).
    #[serde(skip)]
    pub changes: Vec<u8>,
}

pub use fieldcase_core::rules::unit_in_scope;

/// The server's storage (see the module docs). All methods are safe to call concurrently.
#[async_trait]
pub trait Storage:
    catalogue::CatalogueStore + numbers::NumberStore + Send + Sync + std::fmt::Debug + 'static
{
    /// A setting (server actor id, bureau party key, ...).
    async fn setting(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Stores `value` under `key` unless a value exists; returns the value in force.
    async fn setting_or_insert(&self, key: &str, value: Vec<u8>) -> Result<Vec<u8>>;
    /// Deletes a setting and, as far as the backend can, every trace of its bytes in the
    /// database files (for keys moved out of the database); true if it existed. SQLite
    /// overwrites the deleted cell (`secure_delete`) and truncates the WAL; PostgreSQL
    /// rewrites the table (`VACUUM FULL settings`), while its WAL and older dumps keep the
    /// old row until they age out.
    async fn delete_setting(&self, key: &str) -> Result<bool>;

    /// Creates a unit (its parent need not exist). Conflict if the path exists.
    async fn create_unit(&self, unit: Unit) -> Result<()>;
    /// Every unit, by path.
    async fn units(&self) -> Result<Vec<Unit>>;

    /// Creates a user. Conflict if the id exists.
    async fn create_user(&self, user: User) -> Result<()>;
    /// A user by id.
    async fn user(&self, id: &str) -> Result<Option<User>>;
    /// Every user, by id.
    async fn users(&self) -> Result<Vec<User>>;

    /// Stores an enrolment code.
    async fn create_enrolment_code(&self, code: EnrolmentCode) -> Result<()>;
    /// Consumes the code and creates the device in one transaction. `InvalidCode` if the code
    /// is unknown, used or expired at `now_ms`.
    async fn redeem_enrolment_code(
        &self,
        code_hash: [u8; 32],
        now_ms: i64,
        device: NewDevice,
    ) -> Result<Device>;

    /// The device whose credential hashes to `credential_hash`, with its user.
    async fn device_by_credential(&self, credential_hash: [u8; 32]) -> Result<Option<DeviceAuth>>;
    /// Every device, by enrolment time.
    async fn devices(&self) -> Result<Vec<Device>>;
    /// Revokes a device, to erase `wipe` at its next request; false if no such device. A
    /// second revocation keeps the first time but takes the new wipe mode (an operator who
    /// chose wrongly can correct it before the phone calls in). In the same transaction every
    /// dashboard session of the device's user ends and their unredeemed login links are void
    /// (whoever holds the phone may hold those too).
    async fn revoke_device(&self, id: &str, at_ms: i64, wipe: WipeScope) -> Result<bool>;
    /// Binds an Automerge actor (hex) to the device that authors under it, unless it is bound
    /// already; returns the device it is bound to now (the first binding wins).
    async fn bind_actor(
        &self,
        actor: &str,
        device_id: &str,
        at_ms: i64,
        source: &str,
    ) -> Result<String>;
    /// Every actor bound to a revoked device.
    async fn revoked_actors(&self) -> Result<Vec<RevokedActor>>;
    /// The device an Automerge actor (hex) is bound to, if any: who authored a change.
    async fn actor_device(&self, actor: &str) -> Result<Option<String>>;
    /// Stores held changes; `None` if the same changes of the document already await review.
    async fn add_quarantine(&self, q: NewQuarantine) -> Result<Option<i64>>;
    /// Held changes, oldest first; only pending ones unless `all`.
    async fn quarantine(&self, all: bool) -> Result<Vec<QuarantineItem>>;
    /// One item of the quarantine.
    async fn quarantine_item(&self, id: i64) -> Result<Option<QuarantineItem>>;
    /// Moves a pending item to `status`; false if it is not pending.
    async fn settle_quarantine(
        &self,
        id: i64,
        status: QuarantineStatus,
        at_ms: i64,
    ) -> Result<bool>;
    /// Records the last authenticated request of a device.
    async fn touch_device(&self, id: &str, at_ms: i64) -> Result<()>;

    /// A document.
    async fn load_doc(&self, doc_id: &str) -> Result<Option<StoredDoc>>;
    /// Several documents in one storage round (one blocking task on SQLite, one snapshot and
    /// two queries on PostgreSQL), in the order of `doc_ids`.
    async fn load_docs(&self, doc_ids: &[String]) -> Result<Vec<Option<StoredDoc>>>;
    /// Writes documents in one transaction (one commit, one fsync, for a whole sync request).
    /// Each write is checked like [`Storage::write_doc`]; one whose heads changed is left out
    /// as [`WriteOutcome::Conflict`] while the others are written. The outcomes follow the
    /// order of `writes`, and so do the feed positions of the written ones. Any other error
    /// writes nothing at all.
    async fn write_docs(&self, writes: Vec<DocWrite>) -> Result<Vec<WriteOutcome>>;
    /// Writes a document and returns its new feed position (see [`DocWrite`]); `Conflict` if
    /// its heads changed concurrently.
    async fn write_doc(&self, write: DocWrite) -> Result<i64> {
        match self.write_docs(vec![write]).await?.pop() {
            Some(WriteOutcome::Written(seq)) => Ok(seq),
            Some(WriteOutcome::Conflict) => Err(crate::error::ServerError::Conflict(
                "document changed concurrently".into(),
            )),
            None => Err(crate::error::ServerError::Database(
                "document write wrote nothing".into(),
            )),
        }
    }
    /// Ids of case documents whose party has this match hash.
    async fn docs_by_party(&self, party_hash: &str) -> Result<Vec<String>>;
    /// The highest feed position committed.
    async fn latest_seq(&self) -> Result<i64>;
    /// A page of the feed, by position.
    async fn feed(&self, query: FeedQuery) -> Result<Vec<FeedItem>>;
    /// Number of documents.
    async fn doc_count(&self) -> Result<i64>;

    /// A stored blob.
    async fn blob(&self, sha256: &str) -> Result<Option<BlobRecord>>;
    /// Records a verified blob (idempotent) and ends its upload session.
    async fn insert_blob(&self, blob: BlobRecord) -> Result<()>;
    /// The unfinished upload of a blob.
    async fn upload_session(&self, sha256: &str) -> Result<Option<UploadSession>>;
    /// Creates or updates an upload session.
    async fn put_upload_session(&self, session: UploadSession) -> Result<()>;
    /// Claims the upload of `session.sha256` for `session.device_id` in one atomic step:
    /// writes `session` when the blob has no upload session, or when its session was last
    /// touched before `idle_before_ms`; otherwise changes nothing. Returns whether the claim
    /// took. Two servers (or requests) beginning the same upload at once cannot both own it,
    /// which a read followed by a write could not promise across server processes.
    async fn claim_upload_session(
        &self,
        session: UploadSession,
        idle_before_ms: i64,
    ) -> Result<bool>;
    /// Ends `device_id`'s upload session of a blob (a claim whose first chunk failed), so it
    /// neither blocks colleagues nor counts as unfinished; another device's is left alone.
    async fn release_upload_session(&self, sha256: &str, device_id: &str) -> Result<()>;
    /// Whether a document of one of `kinds` in one of `scopes` refers to the blob.
    async fn blob_referenced(
        &self,
        sha256: &str,
        scopes: &[String],
        kinds: &[RecordKind],
    ) -> Result<bool>;

    /// Binds a stored blob to the documents that refer to it now and that are of one of
    /// `kinds` in one of `scopes` (the uploader's write rights), recording `device_id` as the
    /// uploader; documents bound already stay as they are. Returns how many were bound. Called
    /// when an upload completes: only a device that sent the bytes binds a blob to records.
    async fn anchor_blob(
        &self,
        sha256: &str,
        device_id: &str,
        scopes: &[String],
        kinds: &[RecordKind],
        at_ms: i64,
    ) -> Result<u64>;
    /// Whether a document the blob is bound to ([`Storage::anchor_blob`]), and that still
    /// refers to it, is of one of `kinds` in one of `scopes`: the test for reading a blob. A
    /// document that merely names the hash grants nothing.
    async fn blob_readable(
        &self,
        sha256: &str,
        scopes: &[String],
        kinds: &[RecordKind],
    ) -> Result<bool>;

    /// Every document id, sorted (for `admin verify` and backups).
    async fn doc_ids(&self) -> Result<Vec<String>>;
    /// Every stored blob, by hash.
    async fn all_blobs(&self) -> Result<Vec<BlobRecord>>;
    /// Every unfinished upload, by hash.
    async fn upload_sessions(&self) -> Result<Vec<UploadSession>>;

    /// Stores a dashboard login token. The user must exist.
    async fn create_login_token(&self, token: LoginToken) -> Result<()>;
    /// Consumes the token and creates `session` for its user in one transaction; returns the
    /// user. `InvalidCode` if the token is unknown, used or expired at `now_ms`.
    async fn redeem_login_token(
        &self,
        token_hash: [u8; 32],
        now_ms: i64,
        session: WebSession,
    ) -> Result<User>;
    /// The user of a session still valid at `now_ms`.
    async fn session_user(&self, session_hash: [u8; 32], now_ms: i64) -> Result<Option<User>>;
    /// Ends a session (logout); unknown sessions are ignored.
    async fn end_session(&self, session_hash: [u8; 32]) -> Result<()>;
    /// Ends every dashboard session of a user and voids their unredeemed login links (at
    /// `at_ms`); returns the number of sessions ended.
    async fn end_user_sessions(&self, user_id: &str, at_ms: i64) -> Result<u64>;

    /// Appends events to the audit chain in order, in one transaction, signing each entry and
    /// the new head with `key`; concurrent appends (across processes, for PostgreSQL)
    /// serialise on the head row. One call per request keeps a large sync to one write.
    async fn append_audits(
        &self,
        events: Vec<AuditEvent>,
        key: &SigningKey,
    ) -> Result<Vec<AuditEntry>>;
    /// Appends one event (see [`Storage::append_audits`]).
    async fn append_audit(&self, event: AuditEvent, key: &SigningKey) -> Result<AuditEntry> {
        self.append_audits(vec![event], key)
            .await?
            .pop()
            .ok_or_else(|| crate::error::ServerError::Database("audit append wrote nothing".into()))
    }
    /// Every audit entry, by sequence number.
    async fn audit_entries(&self) -> Result<Vec<AuditEntry>>;
    /// The signed head of the audit chain (`None` while the chain is empty).
    async fn audit_head(&self) -> Result<Option<AuditHead>>;
}

/// The one-time secrets a user redeems: what `redeem_once` in each backend updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OneTime {
    /// A device enrolment code.
    EnrolmentCode,
    /// A dashboard login link's token.
    LoginToken,
}

/// Opens the storage an operator chose: PostgreSQL when `database_url` is given, else the
/// embedded SQLite file `DATA/server.db` (the folder is created).
pub async fn open_storage(
    data: &std::path::Path,
    database_url: Option<&str>,
) -> Result<std::sync::Arc<dyn Storage>> {
    match database_url {
        Some(url) => Ok(std::sync::Arc::new(
            postgres::PostgresStorage::connect(url).await?,
        )),
        None => {
            std::fs::create_dir_all(data)?;
            Ok(std::sync::Arc::new(sqlite::SqliteStorage::open(
                data.join("server.db"),
            )?))
        }
    }
}
