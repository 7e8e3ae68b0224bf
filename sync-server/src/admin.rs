//! Operator commands: units, users, enrolment codes, devices. Each returns a serialisable
//! value so the CLI can print it as text or `--json`.

use crate::auth;
use crate::error::{Result, ServerError};
use crate::storage::{Device, EnrolmentCode, Role, Storage, Unit, User};
use serde::Serialize;
use std::path::Path;

fn check_unit_path(path: &str) -> Result<()> {
    let ok = !path.is_empty()
        && path.split('/').all(|seg| {
            !seg.is_empty()
                && seg
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        });
    if ok {
        Ok(())
    } else {
        Err(ServerError::BadRequest(
            "unit path must look like city/county/squad-1 (lowercase, digits, '-')".into(),
        ))
    }
}

/// Creates a unit.
pub async fn create_unit(s: &dyn Storage, path: &str, name: &str) -> Result<Unit> {
    check_unit_path(path)?;
    let unit = Unit {
        path: path.into(),
        name: name.into(),
    };
    s.create_unit(unit.clone()).await?;
    Ok(unit)
}

/// Creates a user in an existing unit.
pub async fn create_user(
    s: &dyn Storage,
    id: &str,
    name: &str,
    role: Role,
    unit: &str,
) -> Result<User> {
    if id.trim().is_empty() || id.len() > 64 {
        return Err(ServerError::BadRequest(
            "user id must be 1 to 64 characters".into(),
        ));
    }
    if !s.units().await?.iter().any(|u| u.path == unit) {
        return Err(ServerError::NotFound(format!("unit {unit}")));
    }
    let user = User {
        id: id.into(),
        name: name.into(),
        role,
        unit: unit.into(),
        created_at_ms: fieldcase_core::ids::now_ms(),
    };
    s.create_user(user.clone()).await?;
    Ok(user)
}

/// A new enrolment code, shown once.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedCode {
    /// The code to type or scan.
    pub code: String,
    /// For whom.
    pub user_id: String,
    /// Unusable after this (unix ms).
    pub expires_at_ms: i64,
    /// Where the QR image was written, if asked.
    pub qr_png: Option<String>,
}

/// Creates a one-time enrolment code for a user, valid `ttl_hours`; optionally writes a QR
/// PNG of `fieldcase-enrol:<server_url>#<code>` (or just the code without a URL).
pub async fn create_code(
    s: &dyn Storage,
    user_id: &str,
    ttl_hours: i64,
    server_url: Option<&str>,
    qr_png: Option<&Path>,
) -> Result<IssuedCode> {
    if s.user(user_id).await?.is_none() {
        return Err(ServerError::NotFound(format!("user {user_id}")));
    }
    let (code, hash) = auth::new_enrolment_code()?;
    let now = fieldcase_core::ids::now_ms();
    let expires = now.saturating_add(ttl_hours.clamp(1, 24 * 30) * 3_600_000);
    s.create_enrolment_code(EnrolmentCode {
        code_hash: hash,
        user_id: user_id.into(),
        created_at_ms: now,
        expires_at_ms: expires,
    })
    .await?;
    let qr = match qr_png {
        Some(path) => {
            let payload = match server_url {
                Some(u) => format!("fieldcase-enrol:{u}#{code}"),
                None => code.clone(),
            };
            let qr = qrcode::QrCode::new(payload.as_bytes())
                .map_err(|e| ServerError::BadRequest(format!("QR code: {e}")))?;
            let img = qr
                .render::<image::Luma<u8>>()
                .min_dimensions(256, 256)
                .build();
            img.save(path)
                .map_err(|e| ServerError::Io(std::io::Error::other(e.to_string())))?;
            Some(path.display().to_string())
        }
        None => None,
    };
    Ok(IssuedCode {
        code,
        user_id: user_id.into(),
        expires_at_ms: expires,
        qr_png: qr,
    })
}

/// Every device.
pub async fn list_devices(s: &dyn Storage) -> Result<Vec<Device>> {
    s.devices().await
}

/// Revokes a device: its next request gets 401 with a wipe instruction.
pub async fn revoke_device(s: &dyn Storage, id: &str) -> Result<Device> {
    if !s.revoke_device(id, fieldcase_core::ids::now_ms()).await? {
        return Err(ServerError::NotFound(format!("device {id}")));
    }
    s.devices()
        .await?
        .into_iter()
        .find(|d| d.id == id)
        .ok_or_else(|| ServerError::NotFound(format!("device {id}")))
}
