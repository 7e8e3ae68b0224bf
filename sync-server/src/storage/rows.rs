//! Rows to types, written once for both backends. Each backend reads its driver's row through
//! [`Cells`]; the column lists and the checks on what comes back (a known kind, role and
//! status, a 32-byte hash, a size that is not negative) live here, so the two cannot drift.

use super::blobs::{BlobRecord, UploadSession};
use super::directory::{Device, DeviceAuth, RevokedActor, Role, Unit, User};
use super::documents::{FeedItem, StoredDoc};
use super::error::{StorageError, StorageResult};
use super::quarantine::{QuarantineItem, QuarantineStatus};
use crate::audit::{AuditEntry, AuditEvent, AuditHead};
use fieldcase_core::model::RecordKind;
use fieldcase_core::sync::wire::WipeScope;

/// One result row of either driver, read by column index.
pub(crate) trait Cells {
    /// A `TEXT NOT NULL` column.
    fn text(&self, i: usize) -> StorageResult<String>;
    /// A nullable `TEXT` column.
    fn opt_text(&self, i: usize) -> StorageResult<Option<String>>;
    /// A 64-bit integer column.
    fn int(&self, i: usize) -> StorageResult<i64>;
    /// A nullable 64-bit integer column.
    fn opt_int(&self, i: usize) -> StorageResult<Option<i64>>;
    /// A 32-bit integer column (PostgreSQL `INTEGER`).
    fn int32(&self, i: usize) -> StorageResult<i32>;
    /// A `BLOB` / `BYTEA` column.
    fn bytes(&self, i: usize) -> StorageResult<Vec<u8>>;
}

/// Columns of [`unit`].
pub(crate) const UNIT_COLS: &str = "path, name";
/// Columns of [`user`], unqualified.
pub(crate) const USER_COLS: &str = "id, name, role, unit, created_at_ms";
/// Columns of [`user`], from `users u`.
pub(crate) const USER_COLS_U: &str = "u.id, u.name, u.role, u.unit, u.created_at_ms";
/// Columns of [`device`], from `devices d`.
pub(crate) const DEVICE_COLS: &str =
    "d.id, d.user_id, d.label, d.public_key, d.enrolled_at_ms, d.revoked_at_ms, d.last_seen_ms,
     d.revoke_wipe";
/// Columns of [`device_auth`], from `devices d JOIN users u`.
pub(crate) const DEVICE_AUTH_COLS: &str =
    "d.id, d.user_id, d.label, d.public_key, d.enrolled_at_ms, d.revoked_at_ms, d.last_seen_ms,
     d.revoke_wipe, u.id, u.name, u.role, u.unit, u.created_at_ms, d.credential_hash";
/// Columns of [`revoked_actor`], from `device_actors a JOIN devices d`.
pub(crate) const REVOKED_ACTOR_COLS: &str = "a.actor, a.device_id, d.revoked_at_ms, d.revoke_wipe";
/// Columns of [`quarantine_item`].
pub(crate) const QUARANTINE_COLS: &str = "id, doc_id, kind, sender_device, sender_user,
     revoked_devices, received_at_ms, hashes, status, settled_at_ms, changes";
/// Columns of [`blob`].
pub(crate) const BLOB_COLS: &str = "sha256, size, stored_at_ms, device_id";
/// Columns of [`upload_session`].
pub(crate) const UPLOAD_COLS: &str = "sha256, device_id, received, total, updated_at_ms";
/// Columns of [`feed_item`], from `docs`.
pub(crate) const FEED_COLS: &str = "seq, id, kind, heads";
/// Columns of [`doc_header`], from `docs`.
pub(crate) const DOC_COLS: &str = "id, kind, unit, heads, chunk_count, seq";
/// Columns of [`audit_entry`].
pub(crate) const AUDIT_COLS: &str =
    "seq, at_ms, actor, action, case_id, detail, prev_hash, hash, signature";
/// Columns of [`audit_head`].
pub(crate) const AUDIT_HEAD_COLS: &str = "seq, hash, signature";

fn corrupt(what: &str) -> StorageError {
    StorageError::Corrupt(what.into())
}

/// A stored record kind.
pub(crate) fn kind(s: &str) -> StorageResult<RecordKind> {
    RecordKind::parse(s).ok_or_else(|| corrupt("kind"))
}

fn role(s: &str) -> StorageResult<Role> {
    Role::parse(s).ok_or_else(|| corrupt("role"))
}

fn hash32(v: Vec<u8>) -> StorageResult<[u8; 32]> {
    v.try_into().map_err(|_| corrupt("hash"))
}

/// A size or count as stored (a signed integer in both databases).
pub(crate) fn to_sql_int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn from_sql_int(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// [`UNIT_COLS`].
pub(crate) fn unit(r: &impl Cells) -> StorageResult<Unit> {
    Ok(Unit {
        path: r.text(0)?,
        name: r.text(1)?,
    })
}

/// [`USER_COLS`] from column `base`.
pub(crate) fn user(r: &impl Cells, base: usize) -> StorageResult<User> {
    Ok(User {
        id: r.text(base)?,
        name: r.text(base + 1)?,
        role: role(&r.text(base + 2)?)?,
        unit: r.text(base + 3)?,
        created_at_ms: r.int(base + 4)?,
    })
}

/// [`DEVICE_COLS`].
pub(crate) fn device(r: &impl Cells) -> StorageResult<Device> {
    Ok(Device {
        id: r.text(0)?,
        user_id: r.text(1)?,
        label: r.text(2)?,
        public_key: r.text(3)?,
        enrolled_at_ms: r.int(4)?,
        revoked_at_ms: r.opt_int(5)?,
        last_seen_ms: r.opt_int(6)?,
        revoke_wipe: r.opt_text(7)?.as_deref().and_then(WipeScope::parse),
    })
}

/// [`DEVICE_AUTH_COLS`].
pub(crate) fn device_auth(r: &impl Cells) -> StorageResult<DeviceAuth> {
    Ok(DeviceAuth {
        device: device(r)?,
        user: user(r, 8)?,
        credential_hash: hash32(r.bytes(13)?)?,
    })
}

/// [`REVOKED_ACTOR_COLS`].
pub(crate) fn revoked_actor(r: &impl Cells) -> StorageResult<RevokedActor> {
    Ok(RevokedActor {
        actor: r.text(0)?,
        device_id: r.text(1)?,
        revoked_at_ms: r.int(2)?,
        revoke_wipe: r.opt_text(3)?.as_deref().and_then(WipeScope::parse),
    })
}

/// [`QUARANTINE_COLS`].
pub(crate) fn quarantine_item(r: &impl Cells) -> StorageResult<QuarantineItem> {
    Ok(QuarantineItem {
        id: r.int(0)?,
        doc_id: r.text(1)?,
        kind: kind(&r.text(2)?)?,
        sender_device: r.text(3)?,
        sender_user: r.text(4)?,
        revoked_devices: r.text(5)?,
        received_at_ms: r.int(6)?,
        hashes: r.text(7)?,
        status: QuarantineStatus::parse(&r.text(8)?).ok_or_else(|| corrupt("quarantine status"))?,
        settled_at_ms: r.opt_int(9)?,
        changes: r.bytes(10)?,
    })
}

/// [`BLOB_COLS`].
pub(crate) fn blob(r: &impl Cells) -> StorageResult<BlobRecord> {
    Ok(BlobRecord {
        sha256: r.text(0)?,
        size: from_sql_int(r.int(1)?),
        stored_at_ms: r.int(2)?,
        device_id: r.text(3)?,
    })
}

/// [`UPLOAD_COLS`].
pub(crate) fn upload_session(r: &impl Cells) -> StorageResult<UploadSession> {
    Ok(UploadSession {
        sha256: r.text(0)?,
        device_id: r.text(1)?,
        received: from_sql_int(r.int(2)?),
        total: from_sql_int(r.int(3)?),
        updated_at_ms: r.int(4)?,
    })
}

/// [`FEED_COLS`].
pub(crate) fn feed_item(r: &impl Cells) -> StorageResult<FeedItem> {
    Ok(FeedItem {
        seq: r.int(0)?,
        doc_id: r.text(1)?,
        kind: kind(&r.text(2)?)?,
        heads: r.bytes(3)?,
    })
}

/// [`DOC_COLS`]: a document without its bytes, which the caller appends chunk by chunk.
pub(crate) fn doc_header(r: &impl Cells) -> StorageResult<StoredDoc> {
    Ok(StoredDoc {
        doc_id: r.text(0)?,
        kind: kind(&r.text(1)?)?,
        unit: r.text(2)?,
        heads: r.bytes(3)?,
        bytes: Vec::new(),
        chunk_count: r.int(4)?,
        seq: r.int(5)?,
    })
}

/// [`AUDIT_COLS`].
pub(crate) fn audit_entry(r: &impl Cells) -> StorageResult<AuditEntry> {
    Ok(AuditEntry {
        seq: r.int(0)?,
        event: AuditEvent {
            at_ms: r.int(1)?,
            actor: r.text(2)?,
            action: r.text(3)?,
            case_id: r.opt_text(4)?,
            detail: r.text(5)?,
        },
        prev_hash: r.text(6)?,
        hash: r.text(7)?,
        signature: r.text(8)?,
    })
}

/// [`AUDIT_HEAD_COLS`]; `None` while the chain is empty (the head row holds sequence 0).
pub(crate) fn audit_head(r: &impl Cells) -> StorageResult<Option<AuditHead>> {
    let head = AuditHead {
        seq: r.int(0)?,
        hash: r.text(1)?,
        signature: r.text(2)?,
    };
    Ok((head.seq > 0).then_some(head))
}
