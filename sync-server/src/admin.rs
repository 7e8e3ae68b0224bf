//! Operator commands: units, users, enrolment codes, devices. Each returns a serialisable
//! value so the CLI can print it as text or `--json`.

use crate::audit::{AuditEntry, AuditEvent, AuditHead};
use crate::auth;
use crate::error::{Result, ServerError};
use crate::storage::{Device, EnrolmentCode, Role, Storage, Unit, User};
use ed25519_dalek::{SigningKey, VerifyingKey};
use fieldcase_core::sync::wire::WipeScope;
use fieldcase_core::sync::{EnrolLink, SpkiPin};
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
    /// The text of the QR code, if asked.
    pub qr_text: Option<String>,
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
    create_pinned_code(s, user_id, ttl_hours, server_url, &[], qr_png).await
}

/// Like [`create_code`], with certificate pins (`sha256/<base64>`) in the QR code
/// (`fieldcase-enrol:<server_url>#<code>#<pin>...`), so the phone enrols pinned to them. Pins
/// need a URL and a QR code; a malformed pin is refused before a code is made.
pub async fn create_pinned_code(
    s: &dyn Storage,
    user_id: &str,
    ttl_hours: i64,
    server_url: Option<&str>,
    pins: &[String],
    qr_png: Option<&Path>,
) -> Result<IssuedCode> {
    let pins = SpkiPin::parse_all(pins).map_err(|e| ServerError::BadRequest(e.to_string()))?;
    if !pins.is_empty() && (server_url.is_none() || qr_png.is_none()) {
        return Err(ServerError::BadRequest(
            "--pin goes into the QR code: give --server-url and --qr too".into(),
        ));
    }
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
    let (qr, qr_text) = match qr_png {
        Some(path) => {
            let payload = EnrolLink {
                server_url: server_url.map(str::to_string),
                code: code.clone(),
                pins,
            }
            .to_text()
            .map_err(|e| ServerError::BadRequest(e.to_string()))?;
            let qr = qrcode::QrCode::new(payload.as_bytes())
                .map_err(|e| ServerError::BadRequest(format!("QR code: {e}")))?;
            let img = qr
                .render::<image::Luma<u8>>()
                .min_dimensions(256, 256)
                .build();
            img.save(path)
                .map_err(|e| ServerError::Io(std::io::Error::other(e.to_string())))?;
            (Some(path.display().to_string()), Some(payload))
        }
        None => (None, None),
    };
    Ok(IssuedCode {
        code,
        user_id: user_id.into(),
        expires_at_ms: expires,
        qr_png: qr,
        qr_text,
    })
}

/// Every device.
pub async fn list_devices(s: &dyn Storage) -> Result<Vec<Device>> {
    Ok(s.devices().await?)
}

/// Revokes a device: its next request gets 401 with a wipe instruction of `wipe`. Audited
/// with the mode (signed with `key`, the audit key of the key folder).
pub async fn revoke_device(
    s: &dyn Storage,
    key: &SigningKey,
    id: &str,
    wipe: WipeScope,
) -> Result<Device> {
    let now = fieldcase_core::ids::now_ms();
    if !s.revoke_device(id, now, wipe).await? {
        return Err(ServerError::NotFound(format!("device {id}")));
    }
    let device = s
        .devices()
        .await?
        .into_iter()
        .find(|d| d.id == id)
        .ok_or_else(|| ServerError::NotFound(format!("device {id}")))?;
    audit(
        s,
        key,
        AuditEvent {
            at_ms: now,
            actor: "operator".into(),
            action: "revoke".into(),
            case_id: None,
            detail: format!(
                "device {id} of user {} wipe={}",
                device.user_id,
                wipe.as_str()
            ),
        },
    )
    .await?;
    Ok(device)
}

/// What `admin revoke-user` did.
#[derive(Debug, Clone, Serialize)]
pub struct RevokedUser {
    /// The user.
    pub user_id: String,
    /// Every device of the user, now revoked.
    pub devices: Vec<String>,
    /// Dashboard sessions ended.
    pub sessions_ended: u64,
}

/// Revokes a user: every device (to erase `wipe`), every dashboard session, every unredeemed
/// login link. Audited.
pub async fn revoke_user(
    s: &dyn Storage,
    key: &SigningKey,
    user_id: &str,
    wipe: WipeScope,
) -> Result<RevokedUser> {
    if s.user(user_id).await?.is_none() {
        return Err(ServerError::NotFound(format!("user {user_id}")));
    }
    let now = fieldcase_core::ids::now_ms();
    let mut devices = Vec::new();
    for d in s
        .devices()
        .await?
        .into_iter()
        .filter(|d| d.user_id == user_id)
    {
        s.revoke_device(&d.id, now, wipe).await?;
        devices.push(d.id);
    }
    let sessions_ended = s.end_user_sessions(user_id, now).await?;
    audit(
        s,
        key,
        AuditEvent {
            at_ms: now,
            actor: "operator".into(),
            action: "revoke".into(),
            case_id: None,
            detail: format!(
                "user {user_id}: {} device(s), dashboard sessions ended, wipe={}",
                devices.len(),
                wipe.as_str()
            ),
        },
    )
    .await?;
    Ok(RevokedUser {
        user_id: user_id.into(),
        devices,
        sessions_ended,
    })
}

/// Appends an event to the audit chain, signed with `key` (the audit key of the key folder).
pub async fn audit(s: &dyn Storage, key: &SigningKey, event: AuditEvent) -> Result<()> {
    s.append_audit(event, key).await?;
    Ok(())
}

/// The outcome of `admin audit verify`.
#[derive(Debug, Clone, Serialize)]
pub struct AuditCheck {
    /// Whether the chain, its signatures and the signed head(s) all verify.
    pub ok: bool,
    /// Entries checked.
    pub entries: usize,
    /// The public key the chain was checked against, hex.
    pub public_key: String,
    /// The sequence number of the externally kept head checked, if one was given.
    pub external_head_seq: Option<i64>,
    /// The first problem found, if any.
    pub problem: Option<String>,
}

/// A signed audit head exported for keeping outside the server (`admin audit export-head`):
/// whoever can write the database cannot produce a chain that both verifies under
/// `public_key` and contains this head, unless they also hold the signing key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ExportedHead {
    /// `fieldcase-audit-head-v1`.
    pub format: String,
    /// The head: last sequence number, its hash, the signature over both.
    #[serde(flatten)]
    pub head: AuditHead,
    /// The audit public key (ed25519, hex) that signed it.
    pub public_key: String,
    /// When it was exported (unix ms).
    pub exported_at_ms: i64,
}

/// The format tag of [`ExportedHead`].
pub const EXPORTED_HEAD_FORMAT: &str = "fieldcase-audit-head-v1";

/// Parses a hex ed25519 public key.
pub fn parse_public_key(hex_key: &str) -> Result<VerifyingKey> {
    let bad = || ServerError::BadRequest("public key must be 64 hex digits (ed25519)".into());
    let bytes = hex::decode(hex_key.trim()).map_err(|_| bad())?;
    let arr = <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| bad())?;
    VerifyingKey::from_bytes(&arr).map_err(|_| bad())
}

/// Verifies the whole audit chain and the database's signed head against `public_key`, and,
/// when given, against a head kept outside the database: its signature must verify under
/// `public_key` and the chain must still hold it (same hash at its sequence number). Only
/// the public key is needed, so an auditor can run this on a copy without the key folder.
pub async fn audit_verify(
    s: &dyn Storage,
    public_key: &VerifyingKey,
    external: Option<&ExportedHead>,
) -> Result<AuditCheck> {
    let entries = s.audit_entries().await?;
    let head = s.audit_head().await?;
    let mut checked = crate::audit::verify(&entries, head.as_ref(), public_key);
    if let (Ok(_), Some(ext)) = (&checked, external) {
        if ext.format != EXPORTED_HEAD_FORMAT {
            return Err(ServerError::BadRequest(format!(
                "head file format {:?} is not {EXPORTED_HEAD_FORMAT}",
                ext.format
            )));
        }
        checked = crate::audit::verify(&entries, Some(&ext.head), public_key);
    }
    Ok(AuditCheck {
        ok: checked.is_ok(),
        entries: entries.len(),
        public_key: hex::encode(public_key.to_bytes()),
        external_head_seq: external.map(|e| e.head.seq),
        problem: checked.err().map(|e| e.to_string()),
    })
}

/// Checks the chain with the key folder's key and returns its head, freshly signed with that
/// key, for keeping outside the server. Refuses a broken or empty chain.
pub async fn audit_export_head(s: &dyn Storage, key: &SigningKey) -> Result<ExportedHead> {
    let check = audit_verify(s, &key.verifying_key(), None).await?;
    if let Some(p) = check.problem {
        return Err(ServerError::Config(format!(
            "audit trail broken, not exporting its head: {p}"
        )));
    }
    let entries = s.audit_entries().await?;
    let last = entries
        .last()
        .ok_or_else(|| ServerError::Config("the audit trail is empty: no head to export".into()))?;
    Ok(ExportedHead {
        format: EXPORTED_HEAD_FORMAT.into(),
        head: crate::audit::head_for(last, key),
        public_key: hex::encode(key.verifying_key().to_bytes()),
        exported_at_ms: fieldcase_core::ids::now_ms(),
    })
}

/// Every audit entry about one case, in order.
pub async fn audit_for_case(s: &dyn Storage, case_id: &str) -> Result<Vec<AuditEntry>> {
    Ok(s.audit_entries()
        .await?
        .into_iter()
        .filter(|e| e.event.case_id.as_deref() == Some(case_id))
        .collect())
}

/// A report written by [`write_report`].
#[derive(Debug, Clone, Serialize)]
pub struct WrittenReport {
    /// The file.
    pub path: String,
    /// csv, xlsx or json.
    pub format: String,
    /// Unit rows (without the total).
    pub units: usize,
    /// Cases counted in the total.
    pub cases: i64,
    /// Size in bytes.
    pub bytes: usize,
}

fn check_unit_arg(unit: Option<&str>) -> Result<()> {
    match unit {
        Some(u) => check_unit_path(u),
        None => Ok(()),
    }
}

/// Writes the bureau report of `unit` (whole city when `None`) and period to `out`, and
/// records the export in the audit chain. Bad arguments fail before anything is written.
pub async fn write_report(
    s: &dyn Storage,
    key: &SigningKey,
    unit: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
    format: &str,
    out: &Path,
) -> Result<WrittenReport> {
    check_unit_arg(unit)?;
    let scope = crate::supervision::records::scope(unit.map(String::from), from, to)?;
    if !matches!(format, "csv" | "xlsx" | "json") {
        return Err(ServerError::BadRequest(format!(
            "format {format:?} is not csv, xlsx or json"
        )));
    }
    let recs = crate::supervision::records::load(s, unit, false).await?;
    let report =
        crate::supervision::report::Report::compute(&scope, &recs.cases, &recs.demonstrations);
    let (_, _, bytes) = crate::supervision::routes::render_report(&report, format)?;
    // Write next to the target and rename, so a failed run leaves no half-written report.
    let tmp = out.with_extension("partial");
    std::fs::write(&tmp, &bytes)?;
    std::fs::rename(&tmp, out)?;
    s.append_audit(
        crate::audit::AuditEvent {
            at_ms: fieldcase_core::ids::now_ms(),
            actor: "operator".into(),
            action: "export".into(),
            case_id: None,
            detail: format!(
                "report {format} unit={} from={:?} to={:?}",
                unit.unwrap_or("*"),
                scope.from_ms,
                scope.to_ms
            ),
        },
        key,
    )
    .await?;
    Ok(WrittenReport {
        path: out.display().to_string(),
        format: format.into(),
        units: report.by_unit.len(),
        cases: report.total.cases,
        bytes: bytes.len(),
    })
}

/// The statistics of `unit` (whole city when `None`) and period.
pub async fn stats(
    s: &dyn Storage,
    unit: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<fieldcase_core::stats::Stats> {
    check_unit_arg(unit)?;
    let scope = crate::supervision::records::scope(unit.map(String::from), from, to)?;
    let recs = crate::supervision::records::load(s, unit, false).await?;
    Ok(fieldcase_core::stats::compute(
        &scope,
        &recs.cases,
        &recs.demonstrations,
    ))
}

/// The statistics as short Chinese text for the terminal.
pub fn stats_text(st: &fieldcase_core::stats::Stats) -> String {
    use fieldcase_core::catalogue::MeasureCategory;
    let class = |c: MeasureCategory| {
        st.measures
            .iter()
            .find(|m| m.category == c)
            .map(|m| {
                format!(
                    "{} 项（{:.1}%，目标 {:.0}%）",
                    m.count,
                    m.share * 100.0,
                    m.target * 100.0
                )
            })
            .unwrap_or_default()
    };
    let rate =
        |r: &fieldcase_core::stats::Rate| format!("{}/{}（{:.1}%）", r.count, r.of, r.rate * 100.0);
    [
        format!("范围：{}", st.scope.unit.as_deref().unwrap_or("全市")),
        format!("案件数：{}", st.cases),
        format!("服务类：{}", class(MeasureCategory::Service)),
        format!("管理类：{}", class(MeasureCategory::Management)),
        format!("执法类：{}", class(MeasureCategory::Enforcement)),
        format!("免罚数：{}", st.exemptions_granted),
        format!("承诺履行：{}", rate(&st.pledges_fulfilled)),
        format!("按期整改：{}", rate(&st.correction_within_deadline)),
        format!("回访完成：{}", rate(&st.follow_up_completion)),
        format!("重复违法当事人：{}", rate(&st.repeat_by_party)),
        format!("重复违法地点：{}", rate(&st.repeat_by_place)),
        format!(
            "劝导示范：{} 次，劝导 {} 人",
            st.demonstrations, st.people_persuaded
        ),
        format!("免罚冲突：{}", st.exemption_conflicts),
        format!(
            "处罚决定：生效 {}（罚款 {} 元），待法制审核 {}，退回 {}",
            st.decisions_effective,
            st.fines_effective_yuan,
            st.decisions_pending_review,
            st.decisions_returned
        ),
    ]
    .join("\n")
}

/// Sets (or clears) an officer's enforcement certificate number (执法证号): documents print
/// it, and phones refuse to issue a document naming an officer without one.
pub async fn set_cert_no(s: &dyn Storage, id: &str, cert_no: Option<&str>) -> Result<()> {
    if s.user(id).await?.is_none() {
        return Err(ServerError::NotFound(format!("user {id}")));
    }
    if let Some(c) = cert_no
        && (c.trim().is_empty() || c.chars().count() > 32 || c.chars().any(char::is_control))
    {
        return Err(ServerError::BadRequest(
            "a certificate number is 1 to 32 printable characters".into(),
        ));
    }
    Ok(s.set_cert_no(id, cert_no.map(str::trim)).await?)
}

/// The ledger of document numbers (see [`crate::storage::numbers::ledger`]).
pub async fn number_ledger(s: &dyn Storage) -> Result<Vec<crate::storage::numbers::SeriesLedger>> {
    let revoked: std::collections::BTreeSet<String> = s
        .devices()
        .await?
        .into_iter()
        .filter(|d| d.revoked_at_ms.is_some())
        .map(|d| d.id)
        .collect();
    let year = fieldcase_core::documents::fields::number_year(fieldcase_core::ids::now_ms());
    Ok(crate::storage::numbers::ledger(
        &s.all_blocks().await?,
        &s.taken_numbers().await?,
        year,
        &|d| revoked.contains(d),
    ))
}
