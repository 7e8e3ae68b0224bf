//! [`Directory`] on SQLite: units, users, enrolment codes, devices and actor bindings.

use super::{SqliteStorage, all, first};
use crate::storage::directory::{
    Device, DeviceAuth, Directory, EnrolmentCode, NewDevice, RevokedActor, Unit, User,
};
use crate::storage::error::{StorageError, StorageResult};
use crate::storage::rows::{self, DEVICE_AUTH_COLS, DEVICE_COLS, REVOKED_ACTOR_COLS};
use crate::storage::rows::{UNIT_COLS, USER_COLS, USER_COLS_U};
use crate::storage::sessions::OneTime;
use async_trait::async_trait;
use fieldcase_core::sync::wire::WipeScope;
use rusqlite::{OptionalExtension, params};

#[async_trait]
impl Directory for SqliteStorage {
    async fn create_unit(&self, unit: Unit) -> StorageResult<()> {
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO units(path, name) VALUES (?1, ?2)",
                params![unit.path, unit.name],
            )
            .map_err(|e| {
                StorageError::from(e).conflict_as(|| format!("unit {} exists", unit.path))
            })?;
            Ok(())
        })
        .await
    }

    async fn units(&self) -> StorageResult<Vec<Unit>> {
        self.read(|c| {
            all(
                c,
                &format!("SELECT {UNIT_COLS} FROM units ORDER BY path"),
                [],
                |r| rows::unit(r),
            )
        })
        .await
    }

    async fn create_user(&self, user: User) -> StorageResult<()> {
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO users(id, name, role, unit, created_at_ms) VALUES (?1,?2,?3,?4,?5)",
                params![
                    user.id,
                    user.name,
                    user.role.as_str(),
                    user.unit,
                    user.created_at_ms
                ],
            )
            .map_err(|e| {
                StorageError::from(e).conflict_as(|| format!("user {} exists", user.id))
            })?;
            Ok(())
        })
        .await
    }

    async fn user(&self, id: &str) -> StorageResult<Option<User>> {
        let id = id.to_string();
        self.read(move |c| {
            first(
                c,
                &format!("SELECT {USER_COLS} FROM users WHERE id = ?1"),
                [id],
                |r| rows::user(r, 0),
            )
        })
        .await
    }

    async fn users(&self) -> StorageResult<Vec<User>> {
        self.read(|c| {
            all(
                c,
                &format!("SELECT {USER_COLS} FROM users ORDER BY id"),
                [],
                |r| rows::user(r, 0),
            )
        })
        .await
    }

    async fn roster(&self, scope: &str) -> StorageResult<Vec<(User, Option<String>)>> {
        let scope = scope.to_string();
        self.read(move |c| {
            all(
                c,
                &format!(
                    "SELECT {USER_COLS_U}, c.cert_no FROM users u
                     LEFT JOIN officer_certs c ON c.user_id = u.id
                     WHERE u.unit = ?1 OR substr(u.unit, 1, length(?1) + 1) = ?1 || '/'
                     ORDER BY u.id"
                ),
                [&scope],
                |r| Ok((rows::user(r, 0)?, r.get(5)?)),
            )
        })
        .await
    }

    async fn create_enrolment_code(&self, code: EnrolmentCode) -> StorageResult<()> {
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO enrolment_codes(code_hash, user_id, created_at_ms, expires_at_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    code.code_hash.to_vec(),
                    code.user_id,
                    code.created_at_ms,
                    code.expires_at_ms
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn redeem_enrolment_code(
        &self,
        code_hash: [u8; 32],
        now_ms: i64,
        device: NewDevice,
    ) -> StorageResult<Device> {
        self.write(move |tx| {
            let user_id =
                super::sessions::redeem_once(tx, OneTime::EnrolmentCode, &code_hash, now_ms)?;
            tx.execute(
                "INSERT INTO devices(id, user_id, label, public_key, credential_hash,
                                     enrolled_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    device.id,
                    user_id,
                    device.label,
                    device.public_key,
                    device.credential_hash.to_vec(),
                    device.enrolled_at_ms
                ],
            )?;
            Ok(device.enrolled_for(user_id))
        })
        .await
    }

    async fn device_by_credential(
        &self,
        credential_hash: [u8; 32],
    ) -> StorageResult<Option<DeviceAuth>> {
        self.read(move |c| {
            first(
                c,
                &format!(
                    "SELECT {DEVICE_AUTH_COLS} FROM devices d JOIN users u ON u.id = d.user_id
                     WHERE d.credential_hash = ?1"
                ),
                [credential_hash.to_vec()],
                |r| rows::device_auth(r),
            )
        })
        .await
    }

    async fn devices(&self) -> StorageResult<Vec<Device>> {
        self.read(|c| {
            all(
                c,
                &format!("SELECT {DEVICE_COLS} FROM devices d ORDER BY d.enrolled_at_ms, d.id"),
                [],
                |r| rows::device(r),
            )
        })
        .await
    }

    async fn revoke_device(&self, id: &str, at_ms: i64, wipe: WipeScope) -> StorageResult<bool> {
        let id = id.to_string();
        self.write(move |tx| {
            let user: Option<String> = tx
                .query_row(
                    "UPDATE devices SET revoked_at_ms = coalesce(revoked_at_ms, ?2),
                        revoke_wipe = ?3
                     WHERE id = ?1 RETURNING user_id",
                    params![id, at_ms, wipe.as_str()],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(user) = user else {
                return Ok(false);
            };
            super::sessions::end_user_sessions(tx, &user, at_ms)?;
            Ok(true)
        })
        .await
    }

    async fn touch_device(&self, id: &str, at_ms: i64) -> StorageResult<()> {
        let id = id.to_string();
        self.write(move |tx| {
            tx.execute(
                "UPDATE devices SET last_seen_ms = ?2 WHERE id = ?1",
                params![id, at_ms],
            )?;
            Ok(())
        })
        .await
    }

    async fn bind_actor(
        &self,
        actor: &str,
        device_id: &str,
        at_ms: i64,
        source: &str,
    ) -> StorageResult<String> {
        let (actor, device_id, source) =
            (actor.to_string(), device_id.to_string(), source.to_string());
        // Every sync declares its actor: answer from a reader once bound, so the common
        // case takes no write lock.
        let known = actor.clone();
        let bound: Option<String> = self
            .read(move |c| {
                Ok(c.query_row(
                    "SELECT device_id FROM device_actors WHERE actor = ?1",
                    [&known],
                    |r| r.get(0),
                )
                .optional()?)
            })
            .await?;
        if let Some(d) = bound {
            return Ok(d);
        }
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO device_actors(actor, device_id, bound_at_ms, source)
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT(actor) DO NOTHING",
                params![actor, device_id, at_ms, source],
            )?;
            Ok(tx.query_row(
                "SELECT device_id FROM device_actors WHERE actor = ?1",
                [&actor],
                |r| r.get(0),
            )?)
        })
        .await
    }

    async fn revoked_actors(&self) -> StorageResult<Vec<RevokedActor>> {
        self.read(|c| {
            all(
                c,
                &format!(
                    "SELECT {REVOKED_ACTOR_COLS} FROM device_actors a
                     JOIN devices d ON d.id = a.device_id
                     WHERE d.revoked_at_ms IS NOT NULL ORDER BY a.actor"
                ),
                [],
                |r| rows::revoked_actor(r),
            )
        })
        .await
    }

    async fn actor_device(&self, actor: &str) -> StorageResult<Option<String>> {
        let actor = actor.to_ascii_lowercase();
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT device_id FROM device_actors WHERE actor = ?1",
                [&actor],
                |r| r.get(0),
            )
            .optional()?)
        })
        .await
    }
}
