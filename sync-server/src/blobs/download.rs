//! The download side of the blob API: `GET` with ranges, and its audit entries.

use super::{AUDIT_SHA_PREFIX, check_sha, may_read};
use crate::AppState;
use crate::auth::Authed;
use crate::error::{Result, ServerError};
use crate::storage::DeviceAuth;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;

/// One audit entry of a blob read: the device, a prefix of the hash and what was asked; no
/// record content, no personal data.
async fn audit_read(
    state: &AppState,
    auth: &DeviceAuth,
    sha: &str,
    action: &str,
    what: &str,
) -> Result<()> {
    let event = crate::audit::AuditEvent {
        at_ms: fieldcase_core::ids::now_ms(),
        actor: auth.device.id.clone(),
        action: action.into(),
        case_id: None,
        detail: format!(
            "device={} user={} sha={} {what}",
            auth.device.id,
            auth.user.id,
            &sha[..AUDIT_SHA_PREFIX.min(sha.len())]
        )
        .trim_end()
        .to_string(),
    };
    state.audit(event).await.map(drop)
}

/// Bytes read from a file per streamed body frame.
const DOWNLOAD_FRAME: usize = 256 * 1024;

/// A parsed `Range` header: the first byte and the last byte (inclusive), both within `len`.
/// `None` for an absent or unsupported header (the whole blob is sent); `Err` for a range
/// that starts past the end.
pub(crate) fn parse_range(
    h: Option<&HeaderValue>,
    len: u64,
) -> std::result::Result<Option<(u64, u64)>, ()> {
    let Some(v) = h.and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    // One range only; anything fancier gets the whole blob.
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        // Suffix: the last N bytes.
        let Ok(n) = b.parse::<u64>() else {
            return Ok(None);
        };
        if n == 0 {
            return Err(());
        }
        (len.saturating_sub(n), len.saturating_sub(1))
    } else {
        let Ok(start) = a.parse::<u64>() else {
            return Ok(None);
        };
        let end = if b.is_empty() {
            len.saturating_sub(1)
        } else {
            match b.parse::<u64>() {
                Ok(e) if e >= start => e.min(len.saturating_sub(1)),
                _ => return Ok(None),
            }
        };
        (start, end)
    };
    if len == 0 || start >= len {
        return Err(());
    }
    Ok(Some((start, end)))
}

/// `GET /v1/blobs/{sha256}`: the content of a stored blob that a document the caller may
/// read refers to; `404` otherwise (unknown and not permitted look the same). Streamed from
/// the blob store; honours a single `Range` (`206` with `Content-Range`, `416` past the end).
pub async fn download(
    State(state): State<AppState>,
    Authed(auth): Authed,
    Path(sha): Path<String>,
    headers: HeaderMap,
) -> Result<axum::response::Response> {
    use axum::http::header;
    let sha = check_sha(&sha)?;
    let not_found = || ServerError::NotFound("no such blob".into());
    let record = match state.storage.blob(&sha).await? {
        Some(r) if may_read(&state, &auth, &sha).await? => r,
        _ => {
            // Absent and not permitted are one answer, and one audit entry.
            if let Err(e) = audit_read(&state, &auth, &sha, "blob_read_refused", "").await {
                tracing::error!(error = %e, "refused blob read not audited");
            }
            return Err(not_found());
        }
    };
    let Some(len) = state.blobs.size(&sha).await? else {
        tracing::error!(blob = %sha, "a recorded blob is missing from the blob store");
        return Err(not_found());
    };
    if len != record.size {
        tracing::error!(blob = %sha, len, size = record.size, "a stored blob's size changed");
    }
    let range = match parse_range(headers.get(header::RANGE), len) {
        Ok(r) => r,
        Err(()) => {
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                h.insert(header::CONTENT_RANGE, v);
            }
            return Ok((StatusCode::RANGE_NOT_SATISFIABLE, h).into_response());
        }
    };
    let (start, end) = range.unwrap_or((0, len.saturating_sub(1)));
    let count = if len == 0 { 0 } else { end - start + 1 };
    // Audited before the first byte leaves; a read that cannot be audited is not served.
    audit_read(
        &state,
        &auth,
        &sha,
        "blob_read",
        &format!("bytes={start}-{end}/{len}"),
    )
    .await?;
    let Some(stream) = state.blobs.read_range(&sha, start, count).await? else {
        tracing::error!(blob = %sha, "a recorded blob is missing from the blob store");
        return Err(not_found());
    };
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&format!("\"{sha}\"")) {
        h.insert(header::ETAG, v);
    }
    let status = if range.is_some() {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
            h.insert(header::CONTENT_RANGE, v);
        }
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    Ok((status, h, axum::body::Body::from_stream(stream)).into_response())
}

/// The bytes `start..start + count` of `file` as a response body, read in frames of
/// [`DOWNLOAD_FRAME`] (bounded: each step reads at most what remains and stops at end of file):
/// the folder store's ranged read.
pub(crate) async fn ranged_body(
    mut file: tokio::fs::File,
    start: u64,
    count: u64,
) -> std::io::Result<impl futures::Stream<Item = std::io::Result<Bytes>> + Send + 'static> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    if start > 0 {
        file.seek(std::io::SeekFrom::Start(start)).await?;
    }
    Ok(futures::stream::unfold(
        (file, count),
        |(mut file, remaining)| async move {
            if remaining == 0 {
                return None;
            }
            let want =
                usize::try_from(remaining.min(DOWNLOAD_FRAME as u64)).unwrap_or(DOWNLOAD_FRAME);
            let mut buf = vec![0u8; want];
            match file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(Bytes::from(buf)), (file, remaining - n as u64)))
                }
                Err(e) => Some((Err(e), (file, 0))),
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_within_the_blob() {
        let r = |s: &str, len| {
            parse_range(
                Some(&HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static(""))),
                len,
            )
        };
        assert_eq!(parse_range(None, 10), Ok(None));
        assert_eq!(r("bytes=0-", 10), Ok(Some((0, 9))));
        assert_eq!(r("bytes=4-", 10), Ok(Some((4, 9))));
        assert_eq!(r("bytes=2-5", 10), Ok(Some((2, 5))));
        assert_eq!(r("bytes=2-50", 10), Ok(Some((2, 9))));
        assert_eq!(r("bytes=-3", 10), Ok(Some((7, 9))));
        assert_eq!(r("bytes=10-", 10), Err(()));
        assert_eq!(r("bytes=5-2", 10), Ok(None));
        assert_eq!(r("bytes=0-1,4-5", 10), Ok(None));
        assert_eq!(r("items=0-1", 10), Ok(None));
    }
}
