//! [`Sessions`] on SQLite, and the one-time redemption both enrolment and login use.

use super::{SqliteStorage, first};
use crate::storage::directory::User;
use crate::storage::error::{StorageError, StorageResult};
use crate::storage::rows::{self, USER_COLS, USER_COLS_U};
use crate::storage::sessions::{LoginToken, OneTime, Sessions, WebSession};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

/// Marks an unused, unexpired one-time secret (by its hash) used and returns its user;
/// [`StorageError::Unredeemable`] for one that is unknown, used or expired.
pub(super) fn redeem_once(
    tx: &rusqlite::Transaction<'_>,
    kind: OneTime,
    hash: &[u8; 32],
    now_ms: i64,
) -> StorageResult<String> {
    let (table, key) = kind.table_and_key();
    tx.query_row(
        &format!(
            "UPDATE {table} SET used_at_ms = ?2
             WHERE {key} = ?1 AND used_at_ms IS NULL AND expires_at_ms > ?2
             RETURNING user_id"
        ),
        params![hash.to_vec(), now_ms],
        |r| r.get(0),
    )
    .optional()?
    .ok_or(StorageError::Unredeemable)
}

/// Ends a user's dashboard sessions and voids their unredeemed login links.
pub(super) fn end_user_sessions(
    tx: &rusqlite::Transaction<'_>,
    user_id: &str,
    at_ms: i64,
) -> StorageResult<u64> {
    let n = tx.execute("DELETE FROM web_sessions WHERE user_id = ?1", [user_id])?;
    tx.execute(
        "UPDATE login_tokens SET used_at_ms = ?2 WHERE user_id = ?1 AND used_at_ms IS NULL",
        params![user_id, at_ms],
    )?;
    Ok(n as u64)
}

#[async_trait]
impl Sessions for SqliteStorage {
    async fn create_login_token(&self, t: LoginToken) -> StorageResult<()> {
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO login_tokens(token_hash, user_id, created_at_ms, expires_at_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    t.token_hash.to_vec(),
                    t.user_id,
                    t.created_at_ms,
                    t.expires_at_ms
                ],
            )
            .map_err(|e| StorageError::from(e).missing_as(|| format!("user {}", t.user_id)))?;
            Ok(())
        })
        .await
    }

    async fn redeem_login_token(
        &self,
        token_hash: [u8; 32],
        now_ms: i64,
        session: WebSession,
    ) -> StorageResult<User> {
        self.write(move |tx| {
            let user_id = redeem_once(tx, OneTime::LoginToken, &token_hash, now_ms)?;
            tx.execute(
                "INSERT INTO web_sessions(session_hash, user_id, created_at_ms, expires_at_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    session.session_hash.to_vec(),
                    user_id,
                    session.created_at_ms,
                    session.expires_at_ms
                ],
            )?;
            first(
                tx,
                &format!("SELECT {USER_COLS} FROM users WHERE id = ?1"),
                [&user_id],
                |r| rows::user(r, 0),
            )?
            .ok_or_else(|| StorageError::NotFound(format!("user {user_id}")))
        })
        .await
    }

    async fn session_user(
        &self,
        session_hash: [u8; 32],
        now_ms: i64,
    ) -> StorageResult<Option<User>> {
        self.read(move |c| {
            first(
                c,
                &format!(
                    "SELECT {USER_COLS_U} FROM web_sessions s JOIN users u ON u.id = s.user_id
                     WHERE s.session_hash = ?1 AND s.expires_at_ms > ?2"
                ),
                params![session_hash.to_vec(), now_ms],
                |r| rows::user(r, 0),
            )
        })
        .await
    }

    async fn end_session(&self, session_hash: [u8; 32]) -> StorageResult<()> {
        self.write(move |tx| {
            tx.execute(
                "DELETE FROM web_sessions WHERE session_hash = ?1",
                [session_hash.to_vec()],
            )?;
            Ok(())
        })
        .await
    }

    async fn end_user_sessions(&self, user_id: &str, at_ms: i64) -> StorageResult<u64> {
        let user_id = user_id.to_string();
        self.write(move |tx| end_user_sessions(tx, &user_id, at_ms))
            .await
    }
}
