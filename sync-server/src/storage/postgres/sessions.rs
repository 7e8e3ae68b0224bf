//! [`Sessions`] on PostgreSQL, and the one-time redemption both enrolment and login use.

use super::{PostgresStorage, col0};
use crate::storage::directory::User;
use crate::storage::error::{StorageError, StorageResult};
use crate::storage::rows::{self, USER_COLS, USER_COLS_U};
use crate::storage::sessions::{LoginToken, OneTime, Sessions, WebSession};
use async_trait::async_trait;

/// Marks an unused, unexpired one-time secret (by its hash) used and returns its user;
/// [`StorageError::Unredeemable`] for one that is unknown, used or expired.
pub(super) async fn redeem_once(
    tx: &tokio_postgres::Transaction<'_>,
    kind: OneTime,
    hash: &[u8; 32],
    now_ms: i64,
) -> StorageResult<String> {
    let (table, key) = kind.table_and_key();
    let row = tx
        .query_opt(
            &format!(
                "UPDATE {table} SET used_at_ms = $2
                 WHERE {key} = $1 AND used_at_ms IS NULL AND expires_at_ms > $2
                 RETURNING user_id"
            ),
            &[&hash.as_slice(), &now_ms],
        )
        .await?
        .ok_or(StorageError::Unredeemable)?;
    col0(row)
}

/// Ends a user's dashboard sessions and voids their unredeemed login links.
pub(super) async fn end_user_sessions(
    tx: &tokio_postgres::Transaction<'_>,
    user_id: &str,
    at_ms: i64,
) -> StorageResult<u64> {
    let n = tx
        .execute("DELETE FROM web_sessions WHERE user_id = $1", &[&user_id])
        .await?;
    tx.execute(
        "UPDATE login_tokens SET used_at_ms = $2 WHERE user_id = $1 AND used_at_ms IS NULL",
        &[&user_id, &at_ms],
    )
    .await?;
    Ok(n)
}

#[async_trait]
impl Sessions for PostgresStorage {
    async fn create_login_token(&self, t: LoginToken) -> StorageResult<()> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO login_tokens(token_hash, user_id, created_at_ms, expires_at_ms)
             VALUES ($1, $2, $3, $4)",
            &[
                &t.token_hash.as_slice(),
                &t.user_id,
                &t.created_at_ms,
                &t.expires_at_ms,
            ],
        )
        .await
        .map_err(|e| StorageError::from(e).missing_as(|| format!("user {}", t.user_id)))?;
        Ok(())
    }

    async fn redeem_login_token(
        &self,
        token_hash: [u8; 32],
        now_ms: i64,
        session: WebSession,
    ) -> StorageResult<User> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let user_id = redeem_once(&tx, OneTime::LoginToken, &token_hash, now_ms).await?;
        tx.execute(
            "INSERT INTO web_sessions(session_hash, user_id, created_at_ms, expires_at_ms)
             VALUES ($1, $2, $3, $4)",
            &[
                &session.session_hash.as_slice(),
                &user_id,
                &session.created_at_ms,
                &session.expires_at_ms,
            ],
        )
        .await?;
        let row = tx
            .query_one(
                &format!("SELECT {USER_COLS} FROM users WHERE id = $1"),
                &[&user_id],
            )
            .await?;
        let user = rows::user(&row, 0)?;
        tx.commit().await?;
        Ok(user)
    }

    async fn session_user(
        &self,
        session_hash: [u8; 32],
        now_ms: i64,
    ) -> StorageResult<Option<User>> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                &format!(
                    "SELECT {USER_COLS_U} FROM web_sessions s JOIN users u ON u.id = s.user_id
                     WHERE s.session_hash = $1 AND s.expires_at_ms > $2"
                ),
                &[&session_hash.as_slice(), &now_ms],
            )
            .await?;
        row.map(|r| rows::user(&r, 0)).transpose()
    }

    async fn end_session(&self, session_hash: [u8; 32]) -> StorageResult<()> {
        let c = self.client().await?;
        c.execute(
            "DELETE FROM web_sessions WHERE session_hash = $1",
            &[&session_hash.as_slice()],
        )
        .await?;
        Ok(())
    }

    async fn end_user_sessions(&self, user_id: &str, at_ms: i64) -> StorageResult<u64> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let n = end_user_sessions(&tx, user_id, at_ms).await?;
        tx.commit().await?;
        Ok(n)
    }
}
