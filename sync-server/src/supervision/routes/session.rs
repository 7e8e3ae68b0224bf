//! Dashboard sessions: the one-time login link, login and logout.

use super::{SESSION_COOKIE, SUPERVISORS, audit, cookie, html_page, require, same_origin};
use crate::AppState;
use crate::auth::sha256;
use crate::error::{Result, ServerError};
use crate::storage::{StorageError, WebSession};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;

/// `GET /login?token=`: redeems a one-time login link, sets the session cookie (HttpOnly,
/// SameSite=Strict) and redirects to the dashboard.
pub async fn login(
    State(state): State<AppState>,
    crate::ratelimit::ClientAddr(client): crate::ratelimit::ClientAddr,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<Response> {
    state.public_rate.check(&client)?;
    let Some(token) = q.get("token") else {
        return Ok(html_page(
            StatusCode::BAD_REQUEST,
            "登录链接无效",
            "链接缺少登录令牌。",
        ));
    };
    let now = fieldcase_core::ids::now_ms();
    let raw = crate::auth::random::<32>()?;
    let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let session = WebSession {
        session_hash: sha256(value.as_bytes()),
        created_at_ms: now,
        expires_at_ms: now + state.limits.session_ttl_ms(),
    };
    let user = match state
        .storage
        .redeem_login_token(sha256(token.trim().as_bytes()), now, session)
        .await
    {
        Ok(u) => u,
        Err(StorageError::Unredeemable) => {
            return Ok(html_page(
                StatusCode::FORBIDDEN,
                "登录链接无效",
                "登录链接未知、已使用或已过期，请向管理员重新申请。",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    audit(&state, &user, "login", "dashboard session".into()).await?;
    let cookie = format!(
        "{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
        state.limits.session_ttl_ms() / 1000,
        secure_attribute(&headers)
    );
    let mut resp = (StatusCode::SEE_OTHER, "").into_response();
    let headers = resp.headers_mut();
    headers.insert(header::LOCATION, HeaderValue::from_static("/dashboard"));
    headers.insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| ServerError::Config(e.to_string()))?,
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// `; Secure` unless the page was asked for on a loopback host (a local test or an
/// operator's tunnel, which browsers reach over plain http). Anywhere else the server is
/// reached over TLS (it refuses plain http off loopback unless a TLS proxy fronts it), and the
/// session must never travel without it.
fn secure_attribute(headers: &HeaderMap) -> &'static str {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let name = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    let loopback = name == "localhost"
        || name == "[::1]"
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback { "" } else { "; Secure" }
}

/// `POST /logout`: ends the session and clears the cookie.
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response> {
    if !same_origin(&headers, None) {
        return Ok(html_page(
            StatusCode::FORBIDDEN,
            "无权操作",
            "请从监督看板页面退出登录。",
        ));
    }
    if let Some(v) = cookie(&headers, SESSION_COOKIE) {
        state.storage.end_session(sha256(v.as_bytes())).await?;
    }
    let mut resp = (StatusCode::SEE_OTHER, "").into_response();
    let h = resp.headers_mut();
    h.insert(header::LOCATION, HeaderValue::from_static("/disclosure"));
    h.insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&format!(
            "{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
        ))
        .map_err(|e| ServerError::Config(e.to_string()))?,
    );
    Ok(resp)
}

/// A one-time dashboard login link for a reviewer or supervisor, valid `ttl_minutes`.
pub async fn issue_login_link(
    storage: &dyn crate::storage::Storage,
    user_id: &str,
    base_url: &str,
    ttl_minutes: i64,
) -> Result<LoginLink> {
    let user = storage
        .user(user_id)
        .await?
        .ok_or_else(|| ServerError::NotFound(format!("user {user_id}")))?;
    require(&user, SUPERVISORS)?;
    let token =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(crate::auth::random::<32>()?);
    let now = fieldcase_core::ids::now_ms();
    let expires = now + ttl_minutes.clamp(1, 24 * 60) * 60_000;
    storage
        .create_login_token(crate::storage::LoginToken {
            token_hash: sha256(token.as_bytes()),
            user_id: user_id.into(),
            created_at_ms: now,
            expires_at_ms: expires,
        })
        .await?;
    Ok(LoginLink {
        url: format!("{}/login?token={token}", base_url.trim_end_matches('/')),
        user_id: user_id.into(),
        expires_at_ms: expires,
    })
}

/// A login link, shown once.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoginLink {
    /// Open this in a browser.
    pub url: String,
    /// For whom.
    pub user_id: String,
    /// Unusable after this (unix ms).
    pub expires_at_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_host(host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(host) {
            h.insert(header::HOST, v);
        }
        h
    }

    #[test]
    fn the_session_cookie_is_secure_everywhere_but_on_loopback() {
        for host in [
            "dash.example.org",
            "dash.example.org:443",
            "10.0.0.5:8443",
            "",
        ] {
            assert_eq!(secure_attribute(&with_host(host)), "; Secure", "{host}");
        }
        for host in ["127.0.0.1:8080", "localhost", "localhost:3000", "[::1]:80"] {
            assert_eq!(secure_attribute(&with_host(host)), "", "{host}");
        }
    }
}
