//! `POST /v1/enrol`: a one-time code becomes a device with its own credential.

use crate::AppState;
use crate::auth;
use crate::error::{Result, ServerError};
use crate::storage::NewDevice;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use fieldcase_core::sync::wire::{EnrolRequest, EnrolResponse};

/// The route.
pub async fn enrol(
    State(state): State<AppState>,
    peer: axum::http::Extensions,
    body: Bytes,
) -> Result<Json<EnrolResponse>> {
    // Budget per client address, so codes cannot be guessed at speed. (Behind a proxy every
    // phone shares the proxy's address; the budget still bounds guessing.)
    let addr = peer
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into());
    state.enrol_rate.check(&addr)?;
    let req: EnrolRequest = serde_json::from_slice(&body)
        .map_err(|e| ServerError::BadRequest(format!("enrol request: {e}")))?;
    let key_ok = req.device_public_key.len() == 64
        && req.device_public_key.chars().all(|c| c.is_ascii_hexdigit());
    if !key_ok {
        return Err(ServerError::BadRequest(
            "device_public_key must be 64 hex characters".into(),
        ));
    }
    let label: String = req.device_label.chars().take(80).collect();
    let (credential, credential_hash) = auth::new_credential()?;
    let now = fieldcase_core::ids::now_ms();
    let device = state
        .storage
        .redeem_enrolment_code(
            auth::code_hash(&req.code),
            now,
            NewDevice {
                id: uuid::Uuid::now_v7().to_string(),
                label,
                public_key: req.device_public_key.to_ascii_lowercase(),
                credential_hash,
                enrolled_at_ms: now,
            },
        )
        .await?;
    let user = state
        .storage
        .user(&device.user_id)
        .await?
        .ok_or_else(|| ServerError::Database("enrolled user vanished".into()))?;
    state.metrics.inc(&state.metrics.enrolments);
    tracing::info!(device = %device.id, role = user.role.as_str(), "device enrolled");
    Ok(Json(EnrolResponse {
        device_id: device.id,
        credential,
        user_id: user.id,
        role: user.role.as_str().into(),
        unit: user.unit,
        party_match_key: hex::encode(state.party_key),
        server_time_ms: now,
    }))
}
