//! The directory: who may talk to the server and as whom. Units, users, one-time enrolment
//! codes, enrolled devices with their credentials and revocations, and the Automerge actors
//! each device authors under (the binding the quarantine of a revoked device's changes relies
//! on).

use super::error::StorageResult;
use async_trait::async_trait;
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

impl NewDevice {
    /// The device as stored once created for `user_id`: never seen, not revoked.
    pub(crate) fn enrolled_for(self, user_id: String) -> Device {
        Device {
            id: self.id,
            user_id,
            label: self.label,
            public_key: self.public_key,
            enrolled_at_ms: self.enrolled_at_ms,
            revoked_at_ms: None,
            last_seen_ms: None,
            revoke_wipe: None,
        }
    }
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

/// Units, users, devices and the actors they author under.
#[async_trait]
pub trait Directory: Send + Sync {
    /// Creates a unit (its parent need not exist). Conflict if the path exists.
    async fn create_unit(&self, unit: Unit) -> StorageResult<()>;
    /// Every unit, by path.
    async fn units(&self) -> StorageResult<Vec<Unit>>;

    /// Creates a user. Conflict if the id exists.
    async fn create_user(&self, user: User) -> StorageResult<()>;
    /// A user by id.
    async fn user(&self, id: &str) -> StorageResult<Option<User>>;
    /// Every user, by id.
    async fn users(&self) -> StorageResult<Vec<User>>;
    /// The users of the unit subtree rooted at `scope`, by id, each with its certificate
    /// number: the roster officers' phones hold, read in one query however many users other
    /// units have.
    async fn roster(&self, scope: &str) -> StorageResult<Vec<(User, Option<String>)>>;

    /// Stores an enrolment code.
    async fn create_enrolment_code(&self, code: EnrolmentCode) -> StorageResult<()>;
    /// Consumes the code and creates the device in one transaction.
    /// [`StorageError::Unredeemable`](super::StorageError::Unredeemable) if the code is
    /// unknown, used or expired at `now_ms`.
    async fn redeem_enrolment_code(
        &self,
        code_hash: [u8; 32],
        now_ms: i64,
        device: NewDevice,
    ) -> StorageResult<Device>;

    /// The device whose credential hashes to `credential_hash`, with its user.
    async fn device_by_credential(
        &self,
        credential_hash: [u8; 32],
    ) -> StorageResult<Option<DeviceAuth>>;
    /// Every device, by enrolment time.
    async fn devices(&self) -> StorageResult<Vec<Device>>;
    /// Revokes a device, to erase `wipe` at its next request; false if no such device. A
    /// second revocation keeps the first time but takes the new wipe mode (an operator who
    /// chose wrongly can correct it before the phone calls in). In the same transaction every
    /// dashboard session of the device's user ends and their unredeemed login links are void
    /// (whoever holds the phone may hold those too).
    async fn revoke_device(&self, id: &str, at_ms: i64, wipe: WipeScope) -> StorageResult<bool>;
    /// Records the last authenticated request of a device.
    async fn touch_device(&self, id: &str, at_ms: i64) -> StorageResult<()>;

    /// Binds an Automerge actor (hex) to the device that authors under it, unless it is bound
    /// already; returns the device it is bound to now (the first binding wins).
    async fn bind_actor(
        &self,
        actor: &str,
        device_id: &str,
        at_ms: i64,
        source: &str,
    ) -> StorageResult<String>;
    /// Every actor bound to a revoked device.
    async fn revoked_actors(&self) -> StorageResult<Vec<RevokedActor>>;
    /// The device an Automerge actor (hex) is bound to, if any: who authored a change.
    async fn actor_device(&self, actor: &str) -> StorageResult<Option<String>>;
}
