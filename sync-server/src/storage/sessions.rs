//! Dashboard sessions: one-time login links (stored as the SHA-256 of their token) and the
//! sessions they open (stored as the SHA-256 of the cookie). Revoking a device ends its
//! user's sessions in the same transaction ([`super::Directory::revoke_device`]).

use super::directory::User;
use super::error::StorageResult;
use async_trait::async_trait;

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

/// Login links and dashboard sessions.
#[async_trait]
pub trait Sessions: Send + Sync {
    /// Stores a dashboard login token. [`StorageError::NotFound`](super::StorageError) if the
    /// user does not exist.
    async fn create_login_token(&self, token: LoginToken) -> StorageResult<()>;
    /// Consumes the token and creates `session` for its user in one transaction; returns the
    /// user. [`StorageError::Unredeemable`](super::StorageError::Unredeemable) if the token is
    /// unknown, used or expired at `now_ms`.
    async fn redeem_login_token(
        &self,
        token_hash: [u8; 32],
        now_ms: i64,
        session: WebSession,
    ) -> StorageResult<User>;
    /// The user of a session still valid at `now_ms`.
    async fn session_user(
        &self,
        session_hash: [u8; 32],
        now_ms: i64,
    ) -> StorageResult<Option<User>>;
    /// Ends a session (logout); unknown sessions are ignored.
    async fn end_session(&self, session_hash: [u8; 32]) -> StorageResult<()>;
    /// Ends every dashboard session of a user and voids their unredeemed login links (at
    /// `at_ms`); returns the number of sessions ended.
    async fn end_user_sessions(&self, user_id: &str, at_ms: i64) -> StorageResult<u64>;
}

/// The one-time secrets a user redeems: what `redeem_once` in each backend updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OneTime {
    /// A device enrolment code.
    EnrolmentCode,
    /// A dashboard login link's token.
    LoginToken,
}

impl OneTime {
    /// The table and its key column. Both backends mark the secret used in one
    /// `UPDATE ... WHERE unused AND unexpired RETURNING user_id`, so two redemptions racing
    /// (on any server instance) cannot both succeed.
    pub(crate) fn table_and_key(self) -> (&'static str, &'static str) {
        match self {
            OneTime::EnrolmentCode => ("enrolment_codes", "code_hash"),
            OneTime::LoginToken => ("login_tokens", "token_hash"),
        }
    }
}
