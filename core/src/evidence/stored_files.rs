//! The store's evidence files: where they are, reading them back checked against their hash,
//! installing downloads, server confirmation, and sweeping leftovers of interrupted ingests.

use super::FaultInjector;
use super::blobs::{BlobInfo, DownloadSink, SweepReport};
use super::sealed::BlobReader;
use crate::store::lock;
use crate::{CoreError, FieldStore, Result, ids};
use rusqlite::{OptionalExtension, params};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

impl FieldStore {
    /// The blob folder.
    pub fn blob_dir(&self) -> &Path {
        self.evidence.blobs.root()
    }

    /// The file of a stored blob, if this store holds it.
    pub fn blob_path(&self, sha256: &str) -> Result<Option<PathBuf>> {
        let rel: Option<String> = self.read(|c| {
            Ok(
                c.query_row("SELECT path FROM blobs WHERE sha256 = ?1", [sha256], |r| {
                    r.get(0)
                })
                .optional()?,
            )
        })?;
        Ok(rel.map(|r| self.blob_dir().join(r)))
    }

    /// Whether this store holds the file of blob `sha256` (a row and the file on disk).
    pub fn holds_blob(&self, sha256: &str) -> Result<bool> {
        Ok(self.blob_path(sha256)?.is_some_and(|p| p.is_file()))
    }

    /// Where a download of blob `sha256` is written until it is verified.
    pub(crate) fn blob_download_temp(&self, sha256: &str) -> PathBuf {
        self.evidence.blobs.download_temp(sha256)
    }

    /// The sink a download of blob `sha256` writes to (sealed in an encrypted store),
    /// continuing an earlier partial download when `resume` is set.
    pub(crate) fn blob_download_sink(&self, sha256: &str, resume: bool) -> Result<DownloadSink> {
        self.evidence.blobs.download_sink(sha256, resume)
    }

    /// Opens the content of this store's blob `sha256` (unsealed), or `None` when the file
    /// is not here. Readers must check the hash when it matters: see [`Self::read_blob`].
    pub fn open_blob(&self, sha256: &str) -> Result<Option<BlobReader>> {
        if crate::evidence::blobs::parse_sha256(sha256).is_none() {
            return Err(CoreError::invalid(
                "sha256",
                "expected 64 lowercase hex digits",
            ));
        }
        self.evidence.blobs.open(sha256)
    }

    /// Opens a file of this store's blob folder (or any plain file) as content.
    pub fn open_blob_file(&self, path: &Path) -> Result<BlobReader> {
        self.evidence.blobs.open_path(path)
    }

    /// Writes the content of blob `sha256` to the file `out` (temp file, fsync, rename), so
    /// `out` is complete and checked, or absent. Returns false when this store does not hold
    /// the blob.
    pub fn export_blob(&self, sha256: &str, out: &Path) -> Result<bool> {
        let mut tmp_name = out
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        tmp_name.push(".part");
        let tmp = out.with_file_name(tmp_name);
        let written = (|| {
            let mut f = File::create(&tmp).map_err(|e| CoreError::io(&tmp, e))?;
            let held = self.read_blob(sha256, &mut f)?;
            f.sync_all().map_err(|e| CoreError::io(&tmp, e))?;
            Ok::<_, CoreError>(held)
        })();
        match written {
            Ok(Some(_)) => {
                std::fs::rename(&tmp, out).map_err(|e| CoreError::io(out, e))?;
                Ok(true)
            }
            Ok(None) => {
                let _ = std::fs::remove_file(&tmp);
                Ok(false)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// Copies the content of blob `sha256` to `out`, checking it against its hash: an
    /// evidence file that was altered on disk is an error, never shown as evidence. Returns
    /// the size. `None` when this store does not hold the file.
    pub fn read_blob(&self, sha256: &str, out: &mut dyn std::io::Write) -> Result<Option<u64>> {
        let Some(mut r) = self.open_blob(sha256)? else {
            return Ok(None);
        };
        let (hash, size) = match super::blobs::copy_hashed(&mut r, out) {
            Ok(x) => x,
            // A sealed chunk that fails authentication: altered content, not a disk error.
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Err(CoreError::BlobHashMismatch {
                    expected: sha256.into(),
                    actual: "a file that fails authentication".into(),
                });
            }
            Err(e) => return Err(CoreError::io(format!("evidence file {sha256}"), e)),
        };
        let actual = hex::encode(hash);
        if actual != sha256 {
            return Err(CoreError::BlobHashMismatch {
                expected: sha256.into(),
                actual,
            });
        }
        Ok(Some(size))
    }

    /// Installs a downloaded file: `tmp` (complete and fsynced, its content hashing to
    /// `sha`) is renamed into the blob folder and recorded as a blob the server already
    /// holds (never uploaded back). Returns the stored file's path.
    pub(crate) fn install_downloaded_blob(
        &self,
        tmp: &Path,
        sha: [u8; 32],
        size: u64,
        mime: &str,
        role: &str,
    ) -> Result<PathBuf> {
        let _one_at_a_time = lock(&self.evidence.ingest_lock);
        let stored = self.evidence.blobs.install(tmp, sha, size)?;
        let now = ids::now_ms();
        let recorded = self.with_writer_conn(|c| {
            c.execute(
                "INSERT OR IGNORE INTO blobs(sha256, size, mime, role, path, created_at_ms,
                    server_confirmed_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                params![
                    stored.sha256_hex(),
                    i64::try_from(stored.size).unwrap_or(i64::MAX),
                    mime,
                    role,
                    stored.rel_path,
                    now
                ],
            )?;
            Ok(())
        });
        if let Err(e) = recorded {
            self.evidence.blobs.remove_uncommitted(&stored);
            return Err(e);
        }
        Ok(self.blob_dir().join(&stored.rel_path))
    }

    /// Records that the server verified its copy of a blob. Returns false for an unknown hash.
    /// The file is kept either way: the phone never deletes evidence.
    pub fn mark_blob_confirmed(&self, sha256: &str) -> Result<bool> {
        let now = ids::now_ms();
        self.with_writer_conn(|c| {
            let n = c.execute(
                "UPDATE blobs SET server_confirmed_at_ms = ?2
                 WHERE sha256 = ?1 AND server_confirmed_at_ms IS NULL",
                params![sha256, now],
            )?;
            Ok(n > 0 || blob_row_exists(c, sha256)?)
        })
    }

    /// Blobs the server has not confirmed yet, originals first, oldest first.
    pub fn unconfirmed_blobs(&self) -> Result<Vec<BlobInfo>> {
        let root = self.blob_dir().to_path_buf();
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT sha256, size, mime, role, path, created_at_ms, server_confirmed_at_ms
                 FROM blobs WHERE server_confirmed_at_ms IS NULL
                 ORDER BY role <> 'original', created_at_ms, sha256",
            )?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(BlobInfo {
                        sha256: r.get(0)?,
                        size: r.get::<_, i64>(1)?.max(0) as u64,
                        mime: r.get(2)?,
                        role: r.get(3)?,
                        path: root.join(r.get::<_, String>(4)?),
                        created_at_ms: r.get(5)?,
                        server_confirmed_at_ms: r.get(6)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    /// Removes leftovers of interrupted ingests (temp files; files no row references). Call
    /// at start-up, before any ingest.
    pub fn sweep_blob_dir(&self) -> Result<SweepReport> {
        let _one_at_a_time = lock(&self.evidence.ingest_lock);
        let referenced = self.referenced_blobs()?;
        self.evidence
            .blobs
            .sweep(|sha| Ok(referenced.contains(sha)))
    }

    /// Every hash a blob row names, in one query: a sweep checks every file of the folder,
    /// and a lookup per file would make opening a store with thousands of photos slow.
    /// Read under the ingest lock, so no row is added while the folder is walked.
    fn referenced_blobs(&self) -> Result<std::collections::HashSet<String>> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT sha256 FROM blobs")?;
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
    }

    /// What [`FieldStore::open`] sweeps by itself: temp files and unreferenced files older
    /// than an hour (a crash's leftovers, never a write in progress), and partial downloads
    /// untouched for a week (younger ones are kept to resume). An app that never calls
    /// [`FieldStore::sweep_blob_dir`] still gets its space back.
    pub(crate) fn sweep_stale_blobs(&self) -> Result<SweepReport> {
        const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);
        let _one_at_a_time = lock(&self.evidence.ingest_lock);
        let referenced = self.referenced_blobs()?;
        self.evidence
            .blobs
            .sweep_aged(|sha| Ok(referenced.contains(sha)), HOUR, HOUR * 24 * 7)
    }

    /// Installs a fault injector on the blob path (fault drills and tests only).
    #[doc(hidden)]
    pub fn set_blob_fault_injector(&self, f: Option<Arc<dyn FaultInjector>>) {
        self.evidence.blobs.set_fault_injector(f);
    }
}

pub(super) fn blob_row_exists(c: &rusqlite::Connection, sha: &str) -> Result<bool> {
    Ok(
        c.query_row("SELECT 1 FROM blobs WHERE sha256 = ?1", [sha], |_| Ok(()))
            .optional()?
            .is_some(),
    )
}
