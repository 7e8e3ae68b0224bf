//! [`Directory`] on PostgreSQL: units, users, enrolment codes, devices and actor bindings.

use super::{PostgresStorage, col0, map_all};
use crate::storage::directory::{
    Device, DeviceAuth, Directory, EnrolmentCode, NewDevice, RevokedActor, Unit, User,
};
use crate::storage::error::{StorageError, StorageResult};
use crate::storage::rows::{self, DEVICE_AUTH_COLS, DEVICE_COLS, REVOKED_ACTOR_COLS};
use crate::storage::rows::{UNIT_COLS, USER_COLS, USER_COLS_U};
use crate::storage::sessions::OneTime;
use async_trait::async_trait;
use fieldcase_core::sync::wire::WipeScope;

#[async_trait]
impl Directory for PostgresStorage {
    async fn create_unit(&self, unit: Unit) -> StorageResult<()> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO units(path, name) VALUES ($1, $2)",
            &[&unit.path, &unit.name],
        )
        .await
        .map_err(|e| StorageError::from(e).conflict_as(|| format!("unit {} exists", unit.path)))?;
        Ok(())
    }

    async fn units(&self) -> StorageResult<Vec<Unit>> {
        let c = self.client().await?;
        let found = c
            .query(&format!("SELECT {UNIT_COLS} FROM units ORDER BY path"), &[])
            .await?;
        map_all(&found, rows::unit)
    }

    async fn create_user(&self, user: User) -> StorageResult<()> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO users(id, name, role, unit, created_at_ms) VALUES ($1,$2,$3,$4,$5)",
            &[
                &user.id,
                &user.name,
                &user.role.as_str(),
                &user.unit,
                &user.created_at_ms,
            ],
        )
        .await
        .map_err(|e| StorageError::from(e).conflict_as(|| format!("user {} exists", user.id)))?;
        Ok(())
    }

    async fn user(&self, id: &str) -> StorageResult<Option<User>> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                &format!("SELECT {USER_COLS} FROM users WHERE id = $1"),
                &[&id],
            )
            .await?;
        row.map(|r| rows::user(&r, 0)).transpose()
    }

    async fn users(&self) -> StorageResult<Vec<User>> {
        let c = self.client().await?;
        let found = c
            .query(&format!("SELECT {USER_COLS} FROM users ORDER BY id"), &[])
            .await?;
        map_all(&found, |r| rows::user(r, 0))
    }

    async fn roster(&self, scope: &str) -> StorageResult<Vec<(User, Option<String>)>> {
        let c = self.client().await?;
        let found = c
            .query(
                &format!(
                    "SELECT {USER_COLS_U}, c.cert_no FROM users u
                     LEFT JOIN officer_certs c ON c.user_id = u.id
                     WHERE u.unit = $1 OR left(u.unit, length($1) + 1) = $1 || '/'
                     ORDER BY u.id"
                ),
                &[&scope],
            )
            .await?;
        map_all(&found, |r| Ok((rows::user(r, 0)?, r.try_get(5)?)))
    }

    async fn create_enrolment_code(&self, code: EnrolmentCode) -> StorageResult<()> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO enrolment_codes(code_hash, user_id, created_at_ms, expires_at_ms)
             VALUES ($1, $2, $3, $4)",
            &[
                &code.code_hash.as_slice(),
                &code.user_id,
                &code.created_at_ms,
                &code.expires_at_ms,
            ],
        )
        .await?;
        Ok(())
    }

    async fn redeem_enrolment_code(
        &self,
        code_hash: [u8; 32],
        now_ms: i64,
        device: NewDevice,
    ) -> StorageResult<Device> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let user_id =
            super::sessions::redeem_once(&tx, OneTime::EnrolmentCode, &code_hash, now_ms).await?;
        tx.execute(
            "INSERT INTO devices(id, user_id, label, public_key, credential_hash, enrolled_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &device.id,
                &user_id,
                &device.label,
                &device.public_key,
                &device.credential_hash.as_slice(),
                &device.enrolled_at_ms,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(device.enrolled_for(user_id))
    }

    async fn device_by_credential(
        &self,
        credential_hash: [u8; 32],
    ) -> StorageResult<Option<DeviceAuth>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {DEVICE_AUTH_COLS} FROM devices d JOIN users u ON u.id = d.user_id
                 WHERE d.credential_hash = $1"
            ))
            .await?;
        let row = c.query_opt(&stmt, &[&credential_hash.as_slice()]).await?;
        row.as_ref().map(rows::device_auth).transpose()
    }

    async fn devices(&self) -> StorageResult<Vec<Device>> {
        let c = self.client().await?;
        let found = c
            .query(
                &format!("SELECT {DEVICE_COLS} FROM devices d ORDER BY d.enrolled_at_ms, d.id"),
                &[],
            )
            .await?;
        map_all(&found, rows::device)
    }

    async fn revoke_device(&self, id: &str, at_ms: i64, wipe: WipeScope) -> StorageResult<bool> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let row = tx
            .query_opt(
                "UPDATE devices SET revoked_at_ms = coalesce(revoked_at_ms, $2), revoke_wipe = $3
                 WHERE id = $1 RETURNING user_id",
                &[&id, &at_ms, &wipe.as_str()],
            )
            .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let user: String = col0(row)?;
        super::sessions::end_user_sessions(&tx, &user, at_ms).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn touch_device(&self, id: &str, at_ms: i64) -> StorageResult<()> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached("UPDATE devices SET last_seen_ms = $2 WHERE id = $1")
            .await?;
        c.execute(&stmt, &[&id, &at_ms]).await?;
        Ok(())
    }

    async fn bind_actor(
        &self,
        actor: &str,
        device_id: &str,
        at_ms: i64,
        source: &str,
    ) -> StorageResult<String> {
        let c = self.client().await?;
        // Every sync declares its actor: once bound, answer without writing.
        let bound = "SELECT device_id FROM device_actors WHERE actor = $1";
        if let Some(r) = c.query_opt(bound, &[&actor]).await? {
            return col0(r);
        }
        c.execute(
            "INSERT INTO device_actors(actor, device_id, bound_at_ms, source)
             VALUES ($1, $2, $3, $4) ON CONFLICT (actor) DO NOTHING",
            &[&actor, &device_id, &at_ms, &source],
        )
        .await?;
        col0(c.query_one(bound, &[&actor]).await?)
    }

    async fn revoked_actors(&self) -> StorageResult<Vec<RevokedActor>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {REVOKED_ACTOR_COLS} FROM device_actors a
                 JOIN devices d ON d.id = a.device_id
                 WHERE d.revoked_at_ms IS NOT NULL ORDER BY a.actor"
            ))
            .await?;
        let found = c.query(&stmt, &[]).await?;
        map_all(&found, rows::revoked_actor)
    }

    async fn actor_device(&self, actor: &str) -> StorageResult<Option<String>> {
        let c = self.client().await?;
        let actor = actor.to_ascii_lowercase();
        let row = c
            .query_opt(
                "SELECT device_id FROM device_actors WHERE actor = $1",
                &[&actor],
            )
            .await?;
        row.map(col0).transpose()
    }
}
