//! `POST /v1/enrol`: a one-time code becomes a device with its own credential;
//! `GET /v1/device-keys`: the device keys a phone needs to verify the evidence it reads, and
//! for entitled roles every PII key (so a rotated key reaches phones at their next sync).

use crate::AppState;
use crate::auth;
use crate::auth::Authed;
use crate::error::{Result, ServerError};
use crate::storage::{NewDevice, unit_in_scope};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use fieldcase_core::sync::wire::{DeviceKeyInfo, DeviceKeysResponse, EnrolRequest, EnrolResponse};
use std::collections::HashMap;

/// The route.
pub async fn enrol(
    State(state): State<AppState>,
    crate::ratelimit::ClientAddr(client): crate::ratelimit::ClientAddr,
    body: Bytes,
) -> Result<Json<EnrolResponse>> {
    // Budget per client address, so codes cannot be guessed at speed (behind a proxy listed
    // in --trusted-proxy, the address it forwards).
    state.enrol_rate.check(&client)?;
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
    let device_id = device_id_for(&state, req.device_id.as_deref()).await?;
    let (credential, credential_hash) = auth::new_credential()?;
    let now = fieldcase_core::ids::now_ms();
    let device = state
        .storage
        .redeem_enrolment_code(
            auth::code_hash(&req.code),
            now,
            NewDevice {
                id: device_id,
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
    crate::quarantine::bind_declared(
        state.storage.as_ref(),
        &device.id,
        req.actor_id.as_deref(),
        "enrol",
    )
    .await?;
    state.metrics.inc(&state.metrics.enrolments);
    state
        .audit(crate::audit::AuditEvent {
            at_ms: now,
            actor: user.id.clone(),
            action: "enrol".into(),
            case_id: None,
            detail: format!("device {} ({})", device.id, user.role.as_str()),
        })
        .await?;
    tracing::info!(device = %device.id, role = user.role.as_str(), "device enrolled");
    Ok(Json(EnrolResponse {
        device_id: device.id,
        credential,
        user_id: user.id,
        role: user.role.as_str().into(),
        unit: user.unit,
        party_match_key: crate::access::may_match_parties(user.role)
            .then(|| hex::encode(state.party_key)),
        pii_key: crate::access::may_read_pii(user.role).then(|| hex::encode(state.pii_key)),
        server_time_ms: now,
        // Phones pin it: every catalogue they receive must be signed by it.
        server_signing_key: Some(crate::supervision::review::service_key_hex(&state)),
    }))
}

/// The id the enrolling device gets: the one its store already writes under, when that is a
/// canonical UUID no device holds (records made before enrolment name it, so they are the
/// device's own), else a new one. A taken id is never shared: its records and keys are
/// another device's.
async fn device_id_for(state: &AppState, proposed: Option<&str>) -> Result<String> {
    if let Some(p) = proposed
        && fieldcase_core::ids::is_valid_id(p)
        && !p.bytes().any(|b| b.is_ascii_uppercase())
        && !state.storage.devices().await?.iter().any(|d| d.id == p)
    {
        return Ok(p.to_string());
    }
    Ok(uuid::Uuid::now_v7().to_string())
}

/// `GET /v1/device-keys`: the public keys of the devices whose signed evidence the caller
/// may read, so a phone can verify a colleague's evidence offline. That is every device of a
/// user whose unit lies in the caller's unit subtree (they write records the caller reads)
/// or above it (their users may write records in it). Operators read no records and get an
/// empty list. Only ids, keys and revocation times leave: no labels, no user names.
pub async fn device_keys(
    State(state): State<AppState>,
    Authed(auth): Authed,
) -> Result<Json<DeviceKeysResponse>> {
    let me = &auth.user;
    if crate::access::readable_kinds(me.role).is_empty() {
        return Ok(Json(DeviceKeysResponse {
            keys: vec![],
            pii_keys: None,
            server_signing_key: Some(crate::supervision::review::service_key_hex(&state)),
        }));
    }
    let units: HashMap<String, String> = state
        .storage
        .users()
        .await?
        .into_iter()
        .map(|u| (u.id, u.unit))
        .collect();
    let mut keys: Vec<DeviceKeyInfo> = state
        .storage
        .devices()
        .await?
        .into_iter()
        .filter(|d| {
            units
                .get(&d.user_id)
                .is_some_and(|unit| unit_in_scope(unit, &me.unit) || unit_in_scope(&me.unit, unit))
        })
        .map(|d| DeviceKeyInfo {
            device_id: d.id,
            public_key: d.public_key,
            revoked_at_ms: d.revoked_at_ms,
        })
        .collect();
    // The review service signs reviews written on the dashboard: phones verify them with it.
    keys.push(DeviceKeyInfo {
        device_id: crate::supervision::review::VIA_REVIEW_SERVICE.into(),
        public_key: crate::supervision::review::service_key_hex(&state),
        revoked_at_ms: None,
    });
    keys.sort_by(|a, b| a.device_id.cmp(&b.device_id));
    // The PII key ring (after a rotation, the new key and those it replaced), to the roles
    // entitled to personal data: how a phone learns a new key without enrolling again.
    let pii_keys = crate::access::may_read_pii(me.role)
        .then(|| state.pii_ring.iter().map(hex::encode).collect());
    Ok(Json(DeviceKeysResponse {
        keys,
        pii_keys,
        server_signing_key: Some(crate::supervision::review::service_key_hex(&state)),
    }))
}
