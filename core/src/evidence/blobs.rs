//! The content-addressed blob folder.
//!
//! A file is stored under `sha256/<first two hex digits>/<64 hex digits>` of the folder. It is
//! written to `tmp/<random>.part` while its SHA-256 is computed over the same bytes, fsynced,
//! renamed into place and the folder fsynced, so a crash leaves either no file or a complete
//! one; a leftover `.part` is removed by [`BlobStore::sweep`]. Identical content is stored
//! once. Stored files are made read-only; nothing here rewrites or deletes a referenced file.
//!
//! Every file-system step goes through [`FaultInjector`] when one is installed, so tests can
//! fail the Nth step (ENOSPC, EIO, a failed rename) and check that nothing is left behind.
//!
//! In a store opened with a key every file (and every temp file) is sealed ([`super::sealed`]):
//! the name is still the SHA-256 of the plaintext, which is what every reader checks.

use super::sealed::{BlobKey, BlobReader, SealedWriter};
use crate::{CoreError, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Copy buffer size: large enough for disk throughput, small enough for a phone.
const COPY_BUF: usize = 256 * 1024;

/// A file-system step of a blob write, for fault injection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoStep {
    /// Creating the temp file.
    Create,
    /// Writing one buffer of data.
    Write,
    /// fsync of the temp file.
    Sync,
    /// Renaming the temp file into place.
    Rename,
    /// fsync of the folder after the rename.
    SyncDir,
    /// Committing the database rows of an ingest (checked by the ingest, not the blob store).
    Commit,
}

/// Decides whether a step fails; installed only by tests and fault drills.
pub trait FaultInjector: Send + Sync {
    /// Returns an error to make `step` fail.
    fn check(&self, step: IoStep) -> io::Result<()>;
}

/// A file written to the blob folder's temp folder and hashed, not yet synced or in place
/// ([`BlobStore::write_pending`]).
pub(crate) struct Pending {
    tmp: PathBuf,
    file: File,
    sha256: [u8; 32],
    size: u64,
}

impl Pending {
    /// The temp file, to read the content back from.
    pub(crate) fn path(&self) -> &Path {
        &self.tmp
    }
}

/// One stored file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    /// SHA-256 of the content.
    pub sha256: [u8; 32],
    /// Size in bytes.
    pub size: u64,
    /// Path relative to the blob folder.
    pub rel_path: String,
    /// Whether this call created the file (false: the content was already stored).
    pub newly_created: bool,
}

impl StoredBlob {
    /// The hash as lowercase hex.
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }
}

/// A blob row as the sync client sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobInfo {
    /// SHA-256, hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// MIME type.
    pub mime: String,
    /// `original`, `thumbnail` or `display`.
    pub role: String,
    /// Absolute path of the file.
    pub path: PathBuf,
    /// When stored (device clock).
    pub created_at_ms: i64,
    /// When the server confirmed its copy, if it has.
    pub server_confirmed_at_ms: Option<i64>,
}

/// What [`BlobStore::sweep`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Leftover temp files of interrupted writes.
    pub temp_files: usize,
    /// Complete files no database row references (a crash between rename and commit).
    pub unreferenced: usize,
}

/// The blob folder.
pub struct BlobStore {
    root: PathBuf,
    key: Option<BlobKey>,
    faults: RwLock<Option<Arc<dyn FaultInjector>>>,
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStore")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

/// SHA-256 and size of everything `r` yields.
pub fn hash_reader(r: &mut dyn Read) -> io::Result<([u8; 32], u64)> {
    copy_hashed(r, &mut io::sink())
}

/// Copies everything `r` yields to `out`, returning its SHA-256 and size: one pass for
/// reading evidence back and checking it at the same time.
pub fn copy_hashed(r: &mut dyn Read, out: &mut dyn Write) -> io::Result<([u8; 32], u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; COPY_BUF];
    let mut size = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        size += n as u64;
    }
    Ok((hasher.finalize().into(), size))
}

/// Parses a 64-digit lowercase hex SHA-256.
pub fn parse_sha256(hex_str: &str) -> Option<[u8; 32]> {
    if hex_str.len() != 64
        || !hex_str
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_str, &mut out).ok()?;
    Some(out)
}

impl BlobStore {
    /// A blob store rooted at `root` (created on first write) that keeps files plain.
    pub fn new(root: PathBuf) -> Self {
        Self::with_key(root, None)
    }

    /// A blob store that seals every file it writes with `key` (plain when `None`).
    pub fn with_key(root: PathBuf, key: Option<BlobKey>) -> Self {
        BlobStore {
            root,
            key,
            faults: RwLock::new(None),
        }
    }

    /// Whether files written here are sealed.
    pub fn seals(&self) -> bool {
        self.key.is_some()
    }

    /// Opens a stored or temp file for reading its content (unsealed when sealed).
    pub fn open_path(&self, path: &Path) -> Result<BlobReader> {
        BlobReader::open(path, self.key.as_ref())
    }

    /// A file of this folder, to be read as content with this store's key.
    pub fn file<'a>(&'a self, path: &'a Path) -> super::sealed::EvidenceFile<'a> {
        super::sealed::EvidenceFile {
            path,
            key: self.key.as_ref(),
        }
    }

    /// Opens the stored file of `sha_hex`, or `None` when it is missing.
    pub fn open(&self, sha_hex: &str) -> Result<Option<BlobReader>> {
        let p = self.path_of(sha_hex);
        match self.open_path(&p) {
            Ok(r) => Ok(Some(r)),
            Err(CoreError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Installs (or removes) a fault injector.
    pub fn set_fault_injector(&self, f: Option<Arc<dyn FaultInjector>>) {
        match self.faults.write() {
            Ok(mut g) => *g = f,
            Err(p) => *p.into_inner() = f,
        }
    }

    pub(crate) fn fault(&self, step: IoStep) -> io::Result<()> {
        let f = match self.faults.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        match f {
            Some(f) => f.check(step),
            None => Ok(()),
        }
    }

    /// Relative path of the blob with this hash.
    pub fn rel_path(sha_hex: &str) -> String {
        format!("sha256/{}/{}", &sha_hex[..2.min(sha_hex.len())], sha_hex)
    }

    /// Absolute path of the blob with this hash (whether or not it exists).
    pub fn path_of(&self, sha_hex: &str) -> PathBuf {
        self.root.join(Self::rel_path(sha_hex))
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Streams `src` into the store, hashing while copying. Never holds the whole content in
    /// memory. On error no temp file is left.
    pub fn put_reader(&self, src: &mut dyn Read) -> Result<StoredBlob> {
        let pending = self.write_pending(src)?;
        if let Err(e) = self.sync_pending(&pending) {
            self.discard_pending(pending);
            return Err(e);
        }
        self.install_pending(pending)
    }

    /// Stores a small in-memory blob (a thumbnail or display copy).
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<StoredBlob> {
        let mut r = bytes;
        self.put_reader(&mut r)
    }

    /// The first step of [`BlobStore::put_reader`]: `src` copied into a temp file and hashed,
    /// not yet synced or in place, so an ingest can read it (through the seal) while it is
    /// synced. On error no temp file is left.
    pub(crate) fn write_pending(&self, src: &mut dyn Read) -> Result<Pending> {
        let tmp_dir = self.tmp_dir();
        fs::create_dir_all(&tmp_dir).map_err(|e| CoreError::io(&tmp_dir, e))?;
        let mut name = [0u8; 16];
        crate::ids::random_bytes(&mut name)?;
        let tmp = tmp_dir.join(format!("{}.part", hex::encode(name)));
        match self.write_temp(src, &tmp) {
            Ok((file, sha256, size)) => Ok(Pending {
                tmp,
                file,
                sha256,
                size,
            }),
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// Makes a pending file durable (fsync). Takes `&Pending` so it may run on another
    /// thread while the content is read.
    pub(crate) fn sync_pending(&self, p: &Pending) -> Result<()> {
        let io_err = |e| CoreError::io(&p.tmp, e);
        self.fault(IoStep::Sync).map_err(io_err)?;
        p.file.sync_all().map_err(io_err)
    }

    /// Moves a synced pending file into place ([`BlobStore::install`]); on error its temp file
    /// is removed.
    pub(crate) fn install_pending(&self, p: Pending) -> Result<StoredBlob> {
        let Pending {
            tmp,
            file,
            sha256,
            size,
        } = p;
        drop(file);
        self.install(&tmp, sha256, size).inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })
    }

    /// Removes a pending file that will not be stored.
    pub(crate) fn discard_pending(&self, p: Pending) {
        drop(p.file);
        let _ = fs::remove_file(&p.tmp);
    }

    fn write_temp(&self, src: &mut dyn Read, tmp: &Path) -> Result<(File, [u8; 32], u64)> {
        let io_err = |e| CoreError::io(tmp, e);
        self.fault(IoStep::Create).map_err(io_err)?;
        let f = File::create(tmp).map_err(io_err)?;
        let mut out = match &self.key {
            Some(k) => Sink::Sealed(SealedWriter::new(f, k).map_err(io_err)?),
            None => Sink::Plain(f),
        };
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; COPY_BUF];
        let mut size = 0u64;
        loop {
            let n = match src.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // A read error is about the source, not the blob folder.
                Err(e) => return Err(CoreError::io("evidence source", e)),
            };
            hasher.update(&buf[..n]);
            self.fault(IoStep::Write).map_err(io_err)?;
            out.write_all(&buf[..n]).map_err(io_err)?;
            size += n as u64;
        }
        self.fault(IoStep::Write).map_err(io_err)?;
        let f = out.finish().map_err(io_err)?;
        Ok((f, hasher.finalize().into(), size))
    }

    /// The sink a download of `sha_hex` writes to, continuing a sealed or plain temp file
    /// left by an earlier attempt when `resume` is set (see [`DownloadSink::have`]).
    pub(crate) fn download_sink(&self, sha_hex: &str, resume: bool) -> Result<DownloadSink> {
        let path = self.download_temp(sha_hex);
        let io_err = |e| CoreError::io(&path, e);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| CoreError::io(dir, e))?;
        }
        let existing = resume && path.is_file();
        let f = fs::OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(!existing)
            .open(&path)
            .map_err(io_err)?;
        let sink = match &self.key {
            None => {
                let mut f = f;
                let have = f.seek(io::SeekFrom::End(0)).map_err(io_err)?;
                DownloadSink {
                    path: path.clone(),
                    sink: Sink::Plain(f),
                    have,
                }
            }
            Some(k) => {
                let resumed = if existing {
                    SealedWriter::resume(f, k).map_err(io_err)?
                } else {
                    None
                };
                let w = match resumed {
                    Some(w) => w,
                    None => {
                        let f = File::create(&path).map_err(io_err)?;
                        SealedWriter::new(f, k).map_err(io_err)?
                    }
                };
                let have = w.sealed_len();
                DownloadSink {
                    path: path.clone(),
                    sink: Sink::Sealed(w),
                    have,
                }
            }
        };
        Ok(sink)
    }

    /// The temp file a download of `sha_hex` is written to (kept between attempts so a
    /// broken download resumes; removed by [`BlobStore::sweep`] at start-up).
    pub(crate) fn download_temp(&self, sha_hex: &str) -> PathBuf {
        self.tmp_dir().join(format!("dl-{sha_hex}.part"))
    }

    /// Moves a complete, fsynced temp file whose hash is `sha` into place (rename, folder
    /// fsync, read-only).
    pub(crate) fn install(&self, tmp: &Path, sha: [u8; 32], size: u64) -> Result<StoredBlob> {
        let sha_hex = hex::encode(sha);
        let rel = Self::rel_path(&sha_hex);
        let dest = self.root.join(&rel);
        if dest.exists() {
            // Same content already stored: keep it if it is intact, replace it if it was
            // damaged (the name is the hash, so the right bytes are known).
            let intact = self
                .open_path(&dest)
                .and_then(|mut r| hash_reader(&mut r).map_err(|e| CoreError::io(&dest, e)))
                .map(|(h, _)| h == sha)
                .unwrap_or(false);
            if intact {
                let _ = fs::remove_file(tmp);
                return Ok(StoredBlob {
                    sha256: sha,
                    size,
                    rel_path: rel,
                    newly_created: false,
                });
            }
            make_writable(&dest);
        }
        let parent = dest.parent().map(Path::to_path_buf).unwrap_or_default();
        fs::create_dir_all(&parent).map_err(|e| CoreError::io(&parent, e))?;
        self.fault(IoStep::Rename)
            .map_err(|e| CoreError::io(&dest, e))?;
        fs::rename(tmp, &dest).map_err(|e| CoreError::io(&dest, e))?;
        let synced = self
            .fault(IoStep::SyncDir)
            .and_then(|_| File::open(&parent).and_then(|d| d.sync_all()));
        if let Err(e) = synced {
            let _ = fs::remove_file(&dest);
            return Err(CoreError::io(&parent, e));
        }
        make_read_only(&dest);
        Ok(StoredBlob {
            sha256: sha,
            size,
            rel_path: rel,
            newly_created: true,
        })
    }

    /// Removes a file this process just created for an ingest that then failed. Only ever
    /// called before any database row referenced it.
    pub(crate) fn remove_uncommitted(&self, blob: &StoredBlob) {
        if blob.newly_created {
            let p = self.root.join(&blob.rel_path);
            make_writable(&p);
            let _ = fs::remove_file(p);
        }
    }

    /// The SHA-256 and size of the stored file for `sha_hex`, or `None` when it is missing.
    pub fn rehash(&self, sha_hex: &str) -> Result<Option<([u8; 32], u64)>> {
        let p = self.path_of(sha_hex);
        match self.open(sha_hex)? {
            Some(mut r) => match hash_reader(&mut r) {
                Ok(x) => Ok(Some(x)),
                // A sealed file that fails authentication is damaged content, not a failed
                // disk: report a hash that cannot match, so verification names the file.
                Err(e) if e.kind() == io::ErrorKind::InvalidData => Ok(Some(([0u8; 32], 0))),
                Err(e) => Err(CoreError::io(&p, e)),
            },
            None => Ok(None),
        }
    }

    /// Removes leftovers of interrupted writes: temp files, and complete files for which
    /// `referenced` says no row exists. Run when no ingest is in progress (at start-up).
    pub fn sweep(&self, referenced: impl Fn(&str) -> Result<bool>) -> Result<SweepReport> {
        self.sweep_aged(referenced, Duration::ZERO, Duration::ZERO)
    }

    /// [`BlobStore::sweep`] of what is older than `min_age` only, and of partial downloads
    /// (kept to resume) older than `download_age`. Safe while another handle ingests: a
    /// write in progress, or a file about to be committed, is seconds old, not hours.
    pub fn sweep_aged(
        &self,
        referenced: impl Fn(&str) -> Result<bool>,
        min_age: Duration,
        download_age: Duration,
    ) -> Result<SweepReport> {
        let mut report = SweepReport::default();
        if let Ok(rd) = fs::read_dir(self.tmp_dir()) {
            for e in rd.flatten() {
                let download = e.file_name().to_string_lossy().starts_with("dl-");
                let age = if download { download_age } else { min_age };
                if older_than(&e.path(), age) && fs::remove_file(e.path()).is_ok() {
                    report.temp_files += 1;
                }
            }
        }
        let Ok(top) = fs::read_dir(self.root.join("sha256")) else {
            return Ok(report);
        };
        for sub in top.flatten() {
            let Ok(files) = fs::read_dir(sub.path()) else {
                continue;
            };
            for f in files.flatten() {
                let name = f.file_name().to_string_lossy().to_string();
                if parse_sha256(&name).is_some()
                    && older_than(&f.path(), min_age)
                    && !referenced(&name)?
                {
                    make_writable(&f.path());
                    if fs::remove_file(f.path()).is_ok() {
                        report.unreferenced += 1;
                    }
                }
            }
        }
        Ok(report)
    }

    /// Names of leftover temp files (for tests and health checks).
    pub fn temp_files(&self) -> Vec<PathBuf> {
        fs::read_dir(self.tmp_dir())
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    }

    /// Hashes of every stored file (for tests and health checks).
    pub fn stored_hashes(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Ok(top) = fs::read_dir(self.root.join("sha256")) {
            for sub in top.flatten() {
                if let Ok(files) = fs::read_dir(sub.path()) {
                    out.extend(
                        files
                            .flatten()
                            .map(|f| f.file_name().to_string_lossy().to_string()),
                    );
                }
            }
        }
        out.sort();
        out
    }
}

/// Where file bytes go: straight to a file, or sealed on the way.
enum Sink {
    Plain(File),
    Sealed(SealedWriter<File>),
}

impl Sink {
    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Sink::Plain(f) => f.write_all(data),
            Sink::Sealed(w) => w.write_all(data),
        }
    }

    /// Ends the content (seals the last chunk) and returns the file to fsync.
    fn finish(self) -> io::Result<File> {
        match self {
            Sink::Plain(f) => Ok(f),
            Sink::Sealed(w) => w.finish(),
        }
    }
}

/// A download being written to its temp file.
pub(crate) struct DownloadSink {
    path: PathBuf,
    sink: Sink,
    have: u64,
}

impl DownloadSink {
    /// Content bytes already safely in the temp file: where a resumed request starts.
    pub(crate) fn have(&self) -> u64 {
        self.have
    }

    /// Appends content.
    pub(crate) fn write(&mut self, data: &[u8]) -> Result<()> {
        self.sink
            .write_all(data)
            .map_err(|e| CoreError::io(&self.path, e))?;
        self.have += data.len() as u64;
        Ok(())
    }

    /// Keeps what was written for a later attempt (a sealed sink drops its unsealed tail,
    /// which the next attempt downloads again) and fsyncs it.
    pub(crate) fn suspend(self) -> Result<()> {
        let f = match self.sink {
            Sink::Plain(f) => f,
            Sink::Sealed(w) => w.suspend().map_err(|e| CoreError::io(&self.path, e))?,
        };
        f.sync_all().map_err(|e| CoreError::io(&self.path, e))
    }

    /// Ends the content and fsyncs it; the file is then ready to be hashed and installed.
    pub(crate) fn finish(self) -> Result<PathBuf> {
        let f = self
            .sink
            .finish()
            .map_err(|e| CoreError::io(&self.path, e))?;
        f.sync_all().map_err(|e| CoreError::io(&self.path, e))?;
        Ok(self.path)
    }
}

/// Whether the file was last modified at least `age` ago (always, for a zero age; never,
/// when the time cannot be read).
fn older_than(p: &Path, age: Duration) -> bool {
    if age.is_zero() {
        return true;
    }
    fs::metadata(p)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|e| e >= age)
}

fn make_read_only(p: &Path) {
    if let Ok(meta) = fs::metadata(p) {
        let mut perm = meta.permissions();
        perm.set_readonly(true);
        let _ = fs::set_permissions(p, perm);
    }
}

fn make_writable(p: &Path) {
    if let Ok(meta) = fs::metadata(p) {
        let mut perm = meta.permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perm.set_readonly(false);
        let _ = fs::set_permissions(p, perm);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct FailNth {
        n: usize,
        seen: AtomicUsize,
    }

    impl FaultInjector for FailNth {
        fn check(&self, _step: IoStep) -> io::Result<()> {
            if self.seen.fetch_add(1, Ordering::SeqCst) == self.n {
                return Err(io::Error::from(io::ErrorKind::StorageFull));
            }
            Ok(())
        }
    }

    #[test]
    fn identical_content_is_stored_once_and_named_by_its_hash() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| CoreError::io("tmp", e))?;
        let store = BlobStore::new(dir.path().join("blobs"));
        let data = vec![42u8; 700_000];
        let a = store.put_bytes(&data)?;
        let b = store.put_bytes(&data)?;
        assert!(a.newly_created);
        assert!(!b.newly_created);
        assert_eq!(a.sha256_hex(), hex::encode(Sha256::digest(&data)));
        assert_eq!(store.stored_hashes(), vec![a.sha256_hex()]);
        assert!(store.temp_files().is_empty());
        Ok(())
    }

    #[test]
    fn a_damaged_copy_is_replaced_by_a_fresh_ingest_of_the_same_content() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| CoreError::io("tmp", e))?;
        let store = BlobStore::new(dir.path().to_path_buf());
        let a = store.put_bytes(b"evidence")?;
        let p = store.path_of(&a.sha256_hex());
        make_writable(&p);
        fs::write(&p, b"tampered").map_err(|e| CoreError::io(&p, e))?;
        let b = store.put_bytes(b"evidence")?;
        assert!(b.newly_created);
        assert_eq!(store.rehash(&a.sha256_hex())?.map(|x| x.0), Some(a.sha256));
        Ok(())
    }

    #[test]
    fn every_failing_step_leaves_no_temp_and_no_file() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| CoreError::io("tmp", e))?;
        let store = BlobStore::new(dir.path().to_path_buf());
        let data = vec![7u8; 3 * COPY_BUF + 5];
        let mut n = 0;
        loop {
            store.set_fault_injector(Some(Arc::new(FailNth {
                n,
                seen: AtomicUsize::new(0),
            })));
            match store.put_bytes(&data) {
                Ok(_) => break,
                Err(e) => {
                    assert!(matches!(e, CoreError::DiskFull { .. }), "{e}");
                    assert!(store.temp_files().is_empty(), "step {n}");
                    assert!(store.stored_hashes().is_empty(), "step {n}");
                }
            }
            n += 1;
        }
        assert!(n >= 6, "only {n} steps were exercised");
        Ok(())
    }
}
