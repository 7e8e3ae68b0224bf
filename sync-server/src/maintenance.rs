//! Operator maintenance: the device report, online backup and restore of the embedded
//! database, and `verify` (every document and blob checked end to end).
//!
//! A backup folder holds `server.db` (a consistent copy taken with `VACUUM INTO` while the
//! server runs) or, on PostgreSQL, `server.dump` (`pg_dump`, see [`crate::pg_backup`]),
//! `blobs/<aa>/<sha256>` and `manifest.json`. The database is copied first and the blobs
//! after: blob files are written and renamed before their rows commit, so every blob the
//! copied database names is already on disk when the copy is taken; files stored afterwards
//! are harmless extras. A restore renews the restore epoch ([`crate::restore_epoch`]).

use crate::blobs::BlobStore;
use crate::error::{Result, ServerError};
use crate::storage::Device;
use crate::storage::prelude::*;
use automerge::AutoCommit;
use fieldcase_core::model::{CaseRecord, DemonstrationRecord, PartyRecord, RecordKind};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Progress of a long command: a bar on a terminal, nothing otherwise.
#[derive(Debug)]
pub struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    /// A bar of `len` steps when `show` and stderr is a terminal.
    pub fn new(show: bool, len: u64, what: &str) -> Progress {
        use std::io::IsTerminal;
        if show && std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(len);
            if let Ok(style) =
                indicatif::ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len}")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(what.to_string());
            Progress(Some(bar))
        } else {
            Progress(None)
        }
    }

    /// One step done.
    pub fn inc(&self) {
        if let Some(b) = &self.0 {
            b.inc(1);
        }
    }

    /// Done.
    pub fn finish(self) {
        if let Some(b) = self.0 {
            b.finish_and_clear();
        }
    }
}

/// A device as operators see it.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceReport {
    /// The device.
    #[serde(flatten)]
    pub device: Device,
    /// Last authenticated request (the last sync), unix ms.
    pub last_sync_ms: Option<i64>,
    /// Blob uploads the device started and has not finished.
    pub pending_uploads: usize,
    /// Bytes those uploads still lack.
    pub pending_upload_bytes: u64,
}

/// Every device with its last sync and unfinished uploads.
pub async fn devices(s: &dyn Storage) -> Result<Vec<DeviceReport>> {
    let mut pending: BTreeMap<String, (usize, u64)> = BTreeMap::new();
    for u in s.upload_sessions().await? {
        let e = pending.entry(u.device_id.clone()).or_default();
        e.0 += 1;
        e.1 += u.total.saturating_sub(u.received);
    }
    Ok(s.devices()
        .await?
        .into_iter()
        .map(|d| {
            let (n, bytes) = pending.get(&d.id).copied().unwrap_or_default();
            DeviceReport {
                last_sync_ms: d.last_seen_ms,
                device: d,
                pending_uploads: n,
                pending_upload_bytes: bytes,
            }
        })
        .collect())
}

/// One thing `verify` found wrong.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// `document` or `blob`.
    pub what: &'static str,
    /// Its id or hash.
    pub id: String,
    /// What is wrong.
    pub reason: String,
}

/// What `verify` checked.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// Documents checked.
    pub documents: usize,
    /// Blobs checked.
    pub blobs: usize,
    /// Bytes of blobs hashed.
    pub blob_bytes: u64,
    /// Everything wrong; empty when all is well.
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// True when nothing is wrong.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

fn check_doc(doc: &crate::storage::StoredDoc) -> std::result::Result<(), String> {
    // `load` recomputes every change hash and checks the chunk checksums and heads.
    let mut am = AutoCommit::load(&doc.bytes).map_err(|e| format!("does not load: {e}"))?;
    let heads: Vec<u8> = am.get_heads().iter().flat_map(|h| h.0).collect();
    let mut sorted_stored: Vec<&[u8]> = doc.heads.chunks(32).collect();
    let mut sorted_loaded: Vec<&[u8]> = heads.chunks(32).collect();
    sorted_stored.sort_unstable();
    sorted_loaded.sort_unstable();
    if sorted_stored != sorted_loaded {
        return Err("heads differ from the stored heads".into());
    }
    let json = fieldcase_core::doc::read_json(&am).map_err(|e| format!("unreadable: {e}"))?;
    if json.get("id").and_then(|v| v.as_str()) != Some(doc.doc_id.as_str()) {
        return Err("record id differs from the document id".into());
    }
    if json.get("kind").and_then(|v| v.as_str()) != Some(doc.kind.as_str()) {
        return Err("record kind differs from the stored kind".into());
    }
    let typed = match doc.kind {
        RecordKind::Case => serde_json::from_value::<CaseRecord>(json).map(|_| ()),
        RecordKind::Party => serde_json::from_value::<PartyRecord>(json).map(|_| ()),
        RecordKind::Demonstration => {
            serde_json::from_value::<DemonstrationRecord>(json).map(|_| ())
        }
    };
    typed.map_err(|e| format!("not a valid {} record: {e}", doc.kind.as_str()))
}

/// SHA-256 and length of a file, streamed.
pub fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((hex::encode(h.finalize()), n))
}

/// Checks every document (loads with valid hashes, heads match, validates as its record type)
/// and every blob (file present, right size, right SHA-256).
pub async fn verify(s: &dyn Storage, blobs: &BlobStore, progress: bool) -> Result<VerifyReport> {
    let mut report = VerifyReport::default();
    let ids = s.doc_ids().await?;
    let bar = Progress::new(progress, ids.len() as u64, "documents");
    for id in ids {
        report.documents += 1;
        match s.load_doc(&id).await? {
            None => report.problems.push(Problem {
                what: "document",
                id,
                reason: "listed but not loadable".into(),
            }),
            Some(doc) => {
                if let Err(reason) = check_doc(&doc) {
                    report.problems.push(Problem {
                        what: "document",
                        id,
                        reason,
                    });
                }
            }
        }
        bar.inc();
    }
    bar.finish();
    let records = s.all_blobs().await?;
    let bar = Progress::new(progress, records.len() as u64, "blobs");
    for b in records {
        report.blobs += 1;
        let sha = b.sha256.clone();
        match blobs.hash_stored(&sha).await {
            Ok(None) => report.problems.push(Problem {
                what: "blob",
                id: sha,
                reason: "file missing".into(),
            }),
            Err(e) => report.problems.push(Problem {
                what: "blob",
                id: sha,
                reason: format!("unreadable: {e}"),
            }),
            Ok(Some((hash, len))) => {
                report.blob_bytes += len;
                if hash != sha {
                    report.problems.push(Problem {
                        what: "blob",
                        id: sha,
                        reason: "content does not match its SHA-256".into(),
                    });
                } else if len != b.size {
                    report.problems.push(Problem {
                        what: "blob",
                        id: sha,
                        reason: format!("size {len}, recorded {}", b.size),
                    });
                }
            }
        }
        bar.inc();
    }
    bar.finish();
    Ok(report)
}

/// What a backup or restore wrote.
#[derive(Debug, Clone, Serialize)]
pub struct BackupManifest {
    /// Format of the backup folder.
    pub format: u32,
    /// When taken, unix ms.
    pub created_at_ms: i64,
    /// The database file, if one was copied.
    pub database: Option<String>,
    /// SHA-256 of the database file.
    pub database_sha256: Option<String>,
    /// Documents in the copied database.
    pub documents: i64,
    /// Blob files copied.
    pub blobs: usize,
    /// Bytes of blob files copied.
    pub blob_bytes: u64,
}

pub(crate) fn stored_blob_files(root: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    if !root.exists() {
        return Ok(out);
    }
    for dir in std::fs::read_dir(root)? {
        let dir = dir?;
        let name = dir.file_name().to_string_lossy().to_string();
        if name.len() != 2 || !dir.file_type()?.is_dir() {
            continue; // `partial/` and anything else is not a stored blob
        }
        for f in std::fs::read_dir(dir.path())? {
            let f = f?;
            let sha = f.file_name().to_string_lossy().to_string();
            if sha.len() == 64 && sha.starts_with(&name) {
                out.push((sha, f.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Copies every stored blob from `from` to `to`, checking each hash; returns (count, bytes).
fn copy_blobs(from: &Path, to: &Path, progress: bool) -> Result<(usize, u64)> {
    let files = stored_blob_files(from)?;
    let bar = Progress::new(progress, files.len() as u64, "blobs");
    let mut bytes = 0u64;
    for (sha, path) in &files {
        let dest_dir = to.join(&sha[..2]);
        std::fs::create_dir_all(&dest_dir)?;
        let dest = dest_dir.join(sha);
        let tmp = dest_dir.join(format!("{sha}.tmp"));
        std::fs::copy(path, &tmp)?;
        let (hash, len) = hash_file(&tmp)?;
        if &hash != sha {
            let _ = std::fs::remove_file(&tmp);
            return Err(ServerError::Config(format!(
                "blob {sha} is damaged in the source folder; run `admin verify`"
            )));
        }
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &dest)?;
        bytes += len;
        bar.inc();
    }
    bar.finish();
    Ok((files.len(), bytes))
}

/// Writes a consistent copy of the SQLite database `src` (which may be in use) to `dest` with
/// `VACUUM INTO`, checks the copy's integrity and returns its document count.
pub(crate) fn vacuum_into(src: &Path, dest: &Path) -> Result<i64> {
    let conn =
        rusqlite::Connection::open_with_flags(src, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    let target = dest.to_string_lossy().to_string();
    conn.execute("VACUUM INTO ?1", [target])?;
    let copy = rusqlite::Connection::open(dest)?;
    let ok: String = copy.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if ok != "ok" {
        return Err(ServerError::Config(format!(
            "backup copy fails its check: {ok}"
        )));
    }
    Ok(copy.query_row("SELECT count(*) FROM docs", [], |r| r.get(0))?)
}

pub(crate) fn ensure_empty(dir: &Path) -> Result<()> {
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        return Err(ServerError::Config(format!(
            "{} is not empty; choose a new folder",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir)?;
    Ok(())
}

/// Backs up the database (the embedded one, or PostgreSQL at `database_url`) and the blobs
/// of data folder `data` into the new folder `out`, while servers may keep running. With
/// `blobs_only`, only the blob folder is copied.
pub async fn backup(
    data: &Path,
    out: &Path,
    blobs_only: bool,
    database_url: Option<&str>,
    progress: bool,
) -> Result<BackupManifest> {
    ensure_empty(out)?;
    let (database, database_sha256, documents) = if blobs_only {
        (None, None, 0)
    } else if let Some(url) = database_url {
        let documents = crate::pg_backup::doc_count(url).await?;
        let dest = out.join(crate::pg_backup::DUMP_FILE);
        let (u, d) = (url.to_string(), dest.clone());
        tokio::task::spawn_blocking(move || crate::pg_backup::dump(&u, &d))
            .await
            .map_err(|e| ServerError::Task(e.to_string()))??;
        let (sha, _) = hash_file(&dest)?;
        (
            Some(crate::pg_backup::DUMP_FILE.to_string()),
            Some(sha),
            documents,
        )
    } else {
        let src = data.join("server.db");
        if !src.exists() {
            return Err(ServerError::Config(format!(
                "no database at {}; is this a data folder?",
                src.display()
            )));
        }
        let dest = out.join("server.db");
        let (s2, d2) = (src.clone(), dest.clone());
        let documents = tokio::task::spawn_blocking(move || vacuum_into(&s2, &d2))
            .await
            .map_err(|e| ServerError::Task(e.to_string()))??;
        let (sha, _) = hash_file(&dest)?;
        (Some("server.db".to_string()), Some(sha), documents)
    };
    let (d, o) = (data.join("blobs"), out.join("blobs"));
    let (blobs, blob_bytes) = tokio::task::spawn_blocking(move || copy_blobs(&d, &o, progress))
        .await
        .map_err(|e| ServerError::Task(e.to_string()))??;
    let manifest = BackupManifest {
        format: 1,
        created_at_ms: fieldcase_core::ids::now_ms(),
        database,
        database_sha256,
        documents,
        blobs,
        blob_bytes,
    };
    let json =
        serde_json::to_vec_pretty(&manifest).map_err(|e| ServerError::Config(e.to_string()))?;
    std::fs::write(out.join("manifest.json"), json)?;
    Ok(manifest)
}

/// Restores backup folder `from` into the empty (or new) data folder `data` (and, for a
/// PostgreSQL dump, the empty database at `database_url`), checking the database file's hash
/// and every blob's hash on the way, and renews the restore epoch.
pub async fn restore(
    from: &Path,
    data: &Path,
    database_url: Option<&str>,
    progress: bool,
) -> Result<BackupManifest> {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(from.join("manifest.json"))?)
            .map_err(|e| ServerError::Config(format!("manifest.json: {e}")))?;
    let want = manifest
        .get("database_sha256")
        .and_then(|v| v.as_str())
        .map(String::from);
    let is_dump =
        manifest.get("database").and_then(|v| v.as_str()) == Some(crate::pg_backup::DUMP_FILE);
    let url = restore_target(want.is_some() && is_dump, database_url)?;
    if let Some(url) = url {
        crate::pg_backup::ensure_empty_database(url).await?;
    }
    ensure_empty(data)?;
    let mut documents = 0;
    let mut database_sha256 = None;
    if let (Some(want), Some(url)) = (&want, url) {
        let src = from.join(crate::pg_backup::DUMP_FILE);
        let (sha, _) = hash_file(&src)?;
        if &sha != want {
            return Err(ServerError::Config(
                "server.dump in the backup does not match its manifest".into(),
            ));
        }
        documents = crate::pg_backup::restore_dump(url, &src).await?.0;
        database_sha256 = Some(sha);
    } else if let Some(want) = want {
        let src = from.join("server.db");
        let (sha, _) = hash_file(&src)?;
        if sha != want {
            return Err(ServerError::Config(
                "server.db in the backup does not match its manifest".into(),
            ));
        }
        let dest = data.join("server.db");
        let tmp = data.join("server.db.tmp");
        std::fs::copy(&src, &tmp)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &dest)?;
        let storage = crate::storage::sqlite::SqliteStorage::open(&dest)?;
        crate::restore_epoch::renew(&storage).await?;
        documents = storage.doc_count().await?;
        database_sha256 = Some(sha);
    }
    let (b, d) = (from.join("blobs"), data.join("blobs"));
    let (blobs, blob_bytes) = tokio::task::spawn_blocking(move || copy_blobs(&b, &d, progress))
        .await
        .map_err(|e| ServerError::Task(e.to_string()))??;
    let name = if is_dump {
        crate::pg_backup::DUMP_FILE
    } else {
        "server.db"
    };
    Ok(BackupManifest {
        format: 1,
        created_at_ms: fieldcase_core::ids::now_ms(),
        database: database_sha256.as_ref().map(|_| name.to_string()),
        database_sha256,
        documents,
        blobs,
        blob_bytes,
    })
}

/// The database a restore writes into: the URL for a backup holding a PostgreSQL dump (which
/// needs one), none for a SQLite one (which refuses one: it would be ignored).
pub(crate) fn restore_target(is_dump: bool, database_url: Option<&str>) -> Result<Option<&str>> {
    match (is_dump, database_url) {
        (true, Some(url)) => Ok(Some(url)),
        (true, None) => Err(ServerError::Config(
            "this backup holds a PostgreSQL dump: give --database-url of a new, empty database"
                .into(),
        )),
        (false, Some(_)) => Err(ServerError::Config(
            "this backup holds no PostgreSQL dump (a SQLite database, or blobs only): restore \
             it without --database-url"
                .into(),
        )),
        (false, None) => Ok(None),
    }
}
