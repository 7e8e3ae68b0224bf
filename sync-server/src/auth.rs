//! Credentials and enrolment codes: random secrets, stored only as SHA-256, compared in
//! constant time; the bearer extractor every authenticated route uses.

use crate::AppState;
use crate::error::{Result, ServerError};
use crate::storage::DeviceAuth;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine;
use fieldcase_core::sync::wire::WipeScope;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Alphabet of enrolment codes: no 0/O, 1/I/L, so a code read aloud is typed right.
const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// SHA-256.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Random bytes from the operating system.
pub fn random<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| ServerError::Config(format!("no randomness: {e}")))?;
    Ok(b)
}

/// A new bearer credential: the string given to the device and the hash stored.
pub fn new_credential() -> Result<(String, [u8; 32])> {
    let raw = random::<32>()?;
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    Ok((text.clone(), sha256(text.as_bytes())))
}

/// A new enrolment code (`XXXX-XXXX-XXXX`, about 59 bits) and its stored hash.
pub fn new_enrolment_code() -> Result<(String, [u8; 32])> {
    let raw = random::<12>()?;
    let chars: String = raw
        .iter()
        .map(|b| CODE_ALPHABET[usize::from(*b) % CODE_ALPHABET.len()] as char)
        .collect();
    let code = format!("{}-{}-{}", &chars[0..4], &chars[4..8], &chars[8..12]);
    let hash = code_hash(&code);
    Ok((code, hash))
}

/// Hash of a code as typed: case and separators do not matter.
pub fn code_hash(code: &str) -> [u8; 32] {
    let norm: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    sha256(norm.as_bytes())
}

/// An authenticated, non-revoked device and its user.
#[derive(Debug, Clone)]
pub struct Authed(pub DeviceAuth);

impl FromRequestParts<AppState> for Authed {
    type Rejection = ServerError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        // Bad credentials count against the client address; once its budget is spent, even
        // a good one from there waits (so the budget bounds guessing and lookups alike).
        let addr = crate::ratelimit::client_addr(
            &parts.extensions,
            &parts.headers,
            &state.trusted_proxies,
        );
        state.bad_credential_rate.refuse_if_exhausted(&addr)?;
        let bad = |state: &AppState| -> ServerError {
            match state.bad_credential_rate.check(&addr) {
                Err(limited) => limited,
                Ok(()) => ServerError::Unauthorized { wipe: None },
            }
        };
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim);
        let Some(token) = token else {
            return Err(bad(state));
        };
        let hash = sha256(token.as_bytes());
        let Some(auth) = state.storage.device_by_credential(hash).await? else {
            return Err(bad(state));
        };
        if !bool::from(auth.credential_hash.ct_eq(&hash)) {
            return Err(ServerError::Unauthorized { wipe: None });
        }
        if auth.device.revoked_at_ms.is_some() {
            state.metrics.inc(&state.metrics.revoked_requests);
            return Err(ServerError::Unauthorized {
                wipe: Some(auth.device.revoke_wipe.unwrap_or(WipeScope::All)),
            });
        }
        state.device_rate.check(&auth.device.id)?;
        Ok(Authed(auth))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_normalise_and_differ() -> Result<()> {
        let (code, hash) = new_enrolment_code()?;
        assert_eq!(code.len(), 14);
        assert_eq!(code_hash(&code.to_lowercase().replace('-', " ")), hash);
        let (other, _) = new_enrolment_code()?;
        assert_ne!(code, other);
        let (c1, h1) = new_credential()?;
        assert_eq!(sha256(c1.as_bytes()), h1);
        Ok(())
    }
}
