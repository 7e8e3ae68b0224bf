//! One suite, both stores: the folder and S3 (a real S3 service, moto's server mode; see
//! `tests/it/moto.rs`). Each check runs on a fresh folder or a fresh prefix of one bucket.

use super::moto::Moto;
use super::{BlobStore, BlobStoreSettings};
use crate::blobs::UploadOutcome;
use crate::error::ServerError;
use axum::body::Bytes;
use futures::StreamExt;
use std::path::PathBuf;
use std::time::Duration;

type R<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Largest blob the suite's stores accept.
const MAX: u64 = 32 * 1024 * 1024;
const BUCKET: &str = "evidence";

/// Where one check's blobs live; every [`Place::open`] is another server instance over it.
enum Place {
    Folder(PathBuf),
    S3 { endpoint: String, prefix: String },
}

impl Place {
    async fn open(&self) -> R<BlobStore> {
        Ok(match self {
            Place::Folder(data) => BlobStoreSettings::default().open(data, MAX).await?,
            Place::S3 { endpoint, prefix } => {
                let settings = BlobStoreSettings {
                    url: Some(format!("s3://{BUCKET}/{prefix}")),
                    endpoint: Some(endpoint.clone()),
                    region: Some("us-east-1".into()),
                    allow_http: true,
                    access_key_id: Some("fieldcase-test".into()),
                    secret_access_key: Some("fieldcase-test".into()),
                };
                settings
                    .open(std::path::Path::new("/nonexistent"), MAX)
                    .await?
            }
        })
    }
}

fn sha_of(b: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(b))
}

fn content(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| {
            (i.wrapping_add(seed.wrapping_mul(0x9E37_79B9))
                .wrapping_mul(2_654_435_761)
                >> 13) as u8
        })
        .collect()
}

async fn range(s: &BlobStore, sha: &str, start: u64, count: u64) -> R<Vec<u8>> {
    let mut stream = s.read_range(sha, start, count).await?.ok_or("not stored")?;
    let mut out = Vec::new();
    while let Some(b) = stream.next().await {
        out.extend_from_slice(&b?);
    }
    Ok(out)
}

async fn chunked_upload_completes_and_reads_back(p: &Place) -> R {
    let s = p.open().await?;
    let data = content(700, 1);
    let sha = sha_of(&data);
    assert_eq!(s.received(&sha).await?, 0);
    let out = s
        .append(&sha, 0, 700, Bytes::from(data[..300].to_vec()))
        .await?;
    assert_eq!(
        out,
        UploadOutcome::Partial {
            received: 300,
            total: 700
        }
    );
    // Either case names the same upload.
    assert_eq!(s.received(&sha.to_ascii_uppercase()).await?, 300);
    assert!(!s.exists(&sha).await?);
    let up = sha.to_ascii_uppercase();
    s.append(&up, 300, 700, Bytes::from(data[300..600].to_vec()))
        .await?;
    let out = s
        .append(&sha, 600, 700, Bytes::from(data[600..].to_vec()))
        .await?;
    assert_eq!(out, UploadOutcome::Complete { size: 700 });
    assert_eq!(s.received(&sha).await?, 0);
    assert_eq!(s.size(&sha).await?, Some(700));
    assert_eq!(s.read_all(&sha).await?.as_deref(), Some(data.as_slice()));
    assert_eq!(range(&s, &sha, 0, 700).await?, data);
    assert_eq!(range(&s, &sha, 250, 100).await?, data[250..350]);
    assert_eq!(range(&s, &sha, 699, 1).await?, data[699..]);
    assert_eq!(s.hash_stored(&sha).await?, Some((sha.clone(), 700)));
    let absent = sha_of(b"never stored");
    assert_eq!(s.size(&absent).await?, None);
    assert!(s.read_range(&absent, 0, 1).await?.is_none());
    assert!(s.read_all(&absent).await?.is_none());
    assert!(s.read_all("not-a-hash").await?.is_none());

    // A blob past the single-request size goes through the multipart path on S3.
    let big = content(17 * 1024 * 1024 + 3, 2);
    let sha = sha_of(&big);
    let total = big.len() as u64;
    for (i, part) in big.chunks(6 * 1024 * 1024).enumerate() {
        let offset = (i * 6 * 1024 * 1024) as u64;
        s.append(&sha, offset, total, Bytes::from(part.to_vec()))
            .await?;
    }
    assert_eq!(s.size(&sha).await?, Some(total));
    assert_eq!(s.hash_stored(&sha).await?, Some((sha.clone(), total)));
    let tail = range(&s, &sha, total - 10, 10).await?;
    assert_eq!(tail, big[big.len() - 10..]);
    Ok(())
}

async fn refusals_change_nothing(p: &Place) -> R {
    let s = p.open().await?;
    let data = content(500, 3);
    let sha = sha_of(&data);
    s.append(&sha, 0, 500, Bytes::from(data[..100].to_vec()))
        .await?;
    let b = |r: std::ops::Range<usize>| Bytes::from(data[r].to_vec());
    let refused = [
        s.append("abc", 0, 500, Bytes::from_static(b"x")).await,
        s.append("../../etc/passwd", 0, 500, Bytes::from_static(b"x"))
            .await,
        s.append(&"z".repeat(64), 0, 500, Bytes::from_static(b"x"))
            .await,
        s.append(&sha, 0, MAX + 1, b(0..10)).await,
        s.append(&sha, 99, 500, b(99..200)).await,
        s.append(&sha, 101, 500, b(101..200)).await,
        s.append(&sha, u64::MAX, 500, Bytes::from_static(b"x"))
            .await,
        s.append(&sha, 100, 150, b(100..200)).await,
        s.append(&sha, 100, u64::MAX, b(100..200)).await,
    ];
    for r in &refused {
        assert!(
            matches!(
                r,
                Err(ServerError::BadRequest(_)
                    | ServerError::Conflict(_)
                    | ServerError::TooLarge(_))
            ),
            "{r:?}"
        );
    }
    assert!(
        matches!(&refused[3], Err(ServerError::TooLarge(_))),
        "{:?}",
        refused[3]
    );
    assert!(matches!(&refused[4], Err(ServerError::Conflict(m)) if m.contains("100")));
    assert!(matches!(&refused[7], Err(ServerError::BadRequest(_))));
    assert_eq!(s.received(&sha).await?, 100);
    assert!(s.list().await?.is_empty());
    // Nothing of the refused chunks is held: the upload completes as if they never came.
    s.append(&sha, 100, 500, b(100..500)).await?;
    assert_eq!(s.read_all(&sha).await?, Some(data));
    Ok(())
}

async fn a_hash_mismatch_discards_the_upload(p: &Place) -> R {
    let s = p.open().await?;
    let data = content(500, 4);
    let sha = sha_of(&data);
    s.append(&sha, 0, 500, Bytes::from(data[..100].to_vec()))
        .await?;
    let mut bad = data[100..].to_vec();
    bad[0] ^= 1;
    let r = s.append(&sha, 100, 500, Bytes::from(bad)).await;
    assert!(matches!(r, Err(ServerError::BadRequest(_))), "{r:?}");
    assert_eq!(s.received(&sha).await?, 0);
    assert!(!s.exists(&sha).await?);
    assert!(s.list().await?.is_empty());
    Ok(())
}

async fn another_instance_resumes_the_upload(p: &Place) -> R {
    let a = p.open().await?;
    let data = content(1000, 5);
    let sha = sha_of(&data);
    a.append(&sha, 0, 1000, Bytes::from(data[..400].to_vec()))
        .await?;
    let b = p.open().await?;
    assert_eq!(b.received(&sha).await?, 400);
    let r = b
        .append(&sha, 0, 1000, Bytes::from(data[..400].to_vec()))
        .await;
    assert!(
        matches!(&r, Err(ServerError::Conflict(m)) if m.contains("400")),
        "{r:?}"
    );
    b.append(&sha, 400, 1000, Bytes::from(data[400..700].to_vec()))
        .await?;
    assert_eq!(a.received(&sha).await?, 700);
    let out = a
        .append(&sha, 700, 1000, Bytes::from(data[700..].to_vec()))
        .await?;
    assert_eq!(out, UploadOutcome::Complete { size: 1000 });
    assert_eq!(b.read_all(&sha).await?, Some(data));
    assert_eq!(b.received(&sha).await?, 0);
    Ok(())
}

async fn the_empty_blob_is_stored(p: &Place) -> R {
    let s = p.open().await?;
    let sha = sha_of(b"");
    assert_eq!(
        s.append(&sha, 0, 0, Bytes::new()).await?,
        UploadOutcome::Complete { size: 0 }
    );
    assert_eq!(s.size(&sha).await?, Some(0));
    assert_eq!(s.read_all(&sha).await?, Some(Vec::new()));
    assert_eq!(range(&s, &sha, 0, 0).await?, Vec::<u8>::new());
    assert_eq!(s.hash_stored(&sha).await?, Some((sha.clone(), 0)));
    Ok(())
}

async fn list_names_stored_blobs_only(p: &Place) -> R {
    let s = p.open().await?;
    let (x, y, z) = (content(10, 6), content(2000, 7), content(300, 8));
    for d in [&x, &y] {
        let len = d.len() as u64;
        s.append(&sha_of(d), 0, len, Bytes::from(d.clone())).await?;
    }
    s.append(&sha_of(&z), 0, 300, Bytes::from(z[..10].to_vec()))
        .await?;
    let mut listed: Vec<(String, u64)> = s
        .list()
        .await?
        .into_iter()
        .map(|b| (b.sha256, b.size))
        .collect();
    listed.sort();
    let mut want = vec![(sha_of(&x), 10), (sha_of(&y), 2000)];
    want.sort();
    assert_eq!(listed, want);
    Ok(())
}

async fn prune_and_discard_drop_unfinished_uploads_only(p: &Place) -> R {
    let s = p.open().await?;
    let (kept, held, fresh) = (content(100, 9), content(100, 10), content(100, 11));
    s.append(&sha_of(&kept), 0, 100, Bytes::from(kept.clone()))
        .await?;
    s.append(&sha_of(&held), 0, 100, Bytes::from(held[..50].to_vec()))
        .await?;
    s.append(&sha_of(&fresh), 0, 100, Bytes::from(fresh[..20].to_vec()))
        .await?;
    // Young uploads stay.
    assert_eq!(s.prune_partials(Duration::from_secs(3600)).await?, 0);
    assert_eq!(s.received(&sha_of(&held)).await?, 50);
    // One being received in this process is skipped, whatever its age.
    let lock = s.lock_for(&sha_of(&fresh));
    let guard = lock.lock().await;
    assert_eq!(s.prune_partials(Duration::ZERO).await?, 1);
    drop(guard);
    assert_eq!(s.received(&sha_of(&held)).await?, 0);
    assert_eq!(s.received(&sha_of(&fresh)).await?, 20);
    s.discard_partial(&sha_of(&fresh)).await?;
    assert_eq!(s.received(&sha_of(&fresh)).await?, 0);
    // Discarding nothing is fine; stored blobs are untouched.
    s.discard_partial(&sha_of(&fresh)).await?;
    assert_eq!(s.read_all(&sha_of(&kept)).await?, Some(kept));
    Ok(())
}

/// Every check, each on a fresh place from `fresh`.
async fn suite(mut fresh: impl FnMut(&str) -> R<Place>) -> R {
    chunked_upload_completes_and_reads_back(&fresh("upload")?).await?;
    refusals_change_nothing(&fresh("refusals")?).await?;
    a_hash_mismatch_discards_the_upload(&fresh("mismatch")?).await?;
    another_instance_resumes_the_upload(&fresh("resume")?).await?;
    the_empty_blob_is_stored(&fresh("empty")?).await?;
    list_names_stored_blobs_only(&fresh("list")?).await?;
    prune_and_discard_drop_unfinished_uploads_only(&fresh("prune")?).await?;
    Ok(())
}

#[tokio::test]
async fn the_folder_store_conforms() -> R {
    let dir = tempfile::tempdir()?;
    suite(|name| Ok(Place::Folder(dir.path().join(name)))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_s3_store_conforms() -> R {
    let moto = Moto::start()?;
    moto.create_bucket(BUCKET)?;
    let endpoint = moto.endpoint();
    suite(|name| {
        Ok(Place::S3 {
            endpoint: endpoint.clone(),
            prefix: format!("t/{name}"),
        })
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_store_that_cannot_be_reached_refuses_to_open() -> R {
    let moto = Moto::start()?;
    let settings = BlobStoreSettings {
        url: Some("s3://no-such-bucket".into()),
        endpoint: Some(moto.endpoint()),
        allow_http: true,
        access_key_id: Some("k".into()),
        secret_access_key: Some("s".into()),
        ..Default::default()
    };
    let r = settings
        .open(std::path::Path::new("/nonexistent"), MAX)
        .await;
    assert!(
        matches!(&r, Err(ServerError::Config(m)) if m.contains("no-such-bucket")),
        "{r:?}"
    );
    Ok(())
}
