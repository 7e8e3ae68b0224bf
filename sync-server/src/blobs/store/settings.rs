//! Choosing and opening the blob store.

use super::{BlobStore, ObjectBlobs};
use crate::blobs::BlobDir;
use crate::error::{Result, ServerError};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Where evidence is kept. Self-contained so a configuration file can hold it as one section;
/// the command line fills it from `serve --blob-store/--s3-*`.
///
/// Credentials are never part of it when read from a file: the object store takes them from
/// the standard AWS variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, optionally
/// `AWS_SESSION_TOKEN`), like every other S3 tool, so they stay out of configuration files
/// and backups. Code (tests) may set them.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct BlobStoreSettings {
    /// `s3://bucket` or `s3://bucket/prefix`; absent: the folder `<data>/blobs`.
    pub url: Option<String>,
    /// The S3 endpoint of a service other than AWS (MinIO, Ceph, a cloud's S3 gateway), e.g.
    /// `https://s3.example.net:9000`; absent: AWS (or `AWS_ENDPOINT`).
    pub endpoint: Option<String>,
    /// The region (absent: `AWS_REGION`/`AWS_DEFAULT_REGION`, else `us-east-1`).
    pub region: Option<String>,
    /// Allow a plain `http://` endpoint (a store on the same host or private network only).
    pub allow_http: bool,
    /// Access key id; absent: `AWS_ACCESS_KEY_ID`.
    #[serde(skip)]
    pub access_key_id: Option<String>,
    /// Secret access key; absent: `AWS_SECRET_ACCESS_KEY`.
    #[serde(skip)]
    pub secret_access_key: Option<String>,
}

/// The secret is left out: `Debug` output may reach logs.
impl std::fmt::Debug for BlobStoreSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStoreSettings")
            .field("url", &self.url)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("allow_http", &self.allow_http)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Bucket and prefix (no leading or trailing `/`) of an `s3://` URL.
pub(crate) fn parse_s3_url(url: &str) -> Result<(String, String)> {
    let rest = url.strip_prefix("s3://").ok_or_else(|| {
        ServerError::Config(format!(
            "blob store {url:?}: only s3://bucket[/prefix] URLs are supported"
        ))
    })?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(ServerError::Config(format!(
            "blob store {url:?}: the URL names no bucket"
        )));
    }
    Ok((bucket.to_string(), prefix.trim_matches('/').to_string()))
}

impl BlobStoreSettings {
    /// Opens the store these settings name, for blobs of at most `max_bytes`: the folder
    /// `<data>/blobs` when no URL is given. Sweeps abandoned uploads, which for an object
    /// store is also the check that the bucket answers with these credentials: a store that
    /// cannot be listed refuses the start instead of failing the first upload.
    pub async fn open(&self, data: &Path, max_bytes: u64) -> Result<BlobStore> {
        let Some(url) = &self.url else {
            return Ok(BlobStore::folder(BlobDir::open(
                data.join("blobs"),
                max_bytes,
            )?));
        };
        let (bucket, prefix) = parse_s3_url(url)?;
        let blobs = ObjectBlobs::s3(self, &bucket, &prefix, max_bytes)?;
        let store = BlobStore::object(blobs);
        let removed = store
            .prune_partials(std::time::Duration::from_millis(
                crate::blobs::PARTIAL_MAX_AGE_MS,
            ))
            .await
            .map_err(|e| match e {
                ServerError::BlobStore(m) => ServerError::Config(format!("blob store {url}: {m}")),
                e => ServerError::Config(format!("blob store {url}: {e}")),
            })?;
        if removed > 0 {
            tracing::info!(removed, "removed abandoned partial uploads");
        }
        Ok(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_name_a_bucket_and_a_prefix() {
        let p = |u: &str| parse_s3_url(u).ok();
        assert_eq!(p("s3://ev"), Some(("ev".into(), String::new())));
        assert_eq!(p("s3://ev/"), Some(("ev".into(), String::new())));
        assert_eq!(
            p("s3://ev/city/blobs/"),
            Some(("ev".into(), "city/blobs".into()))
        );
        assert_eq!(p("s3:///x"), None);
        assert_eq!(p("file:///srv/blobs"), None);
        let s: BlobStoreSettings = serde_json::from_str(
            r#"{"url": "s3://ev/p", "endpoint": "http://127.0.0.1:9000", "allow_http": true}"#,
        )
        .expect("settings parse");
        assert_eq!(s.url.as_deref(), Some("s3://ev/p"));
        assert!(s.allow_http && s.region.is_none() && s.access_key_id.is_none());
        assert!(
            serde_json::from_str::<BlobStoreSettings>(r#"{"secret_access_key": "x"}"#).is_err()
        );
    }
}
