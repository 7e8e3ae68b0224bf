//! Evidence: photos, audio and signature images captured on the phone, kept so that a court
//! can trust them (执法全过程记录).
//!
//! What happens to a captured file, in order:
//! 1. it is streamed once from the path the platform gave: SHA-256 while copying into a
//!    content-addressed blob folder (temp file, fsync, rename, fsync of the folder), so the
//!    hash is of exactly the bytes kept, and identical content is stored once ([`blobs`]);
//!    in an encrypted store the file is sealed on the way in ([`sealed`]);
//! 2. EXIF time, GPS and orientation are read ([`exif`]); images are decoded under limits and
//!    a thumbnail and a watermarked display copy are derived ([`image`], [`watermark`]); audio
//!    duration is probed ([`audio`]). The original file is never modified;
//! 3. an evidence entry ([`entry`]) naming the hashes, capture time (device clock, monotonic
//!    reading, last known offset to the server clock), place, officer and device is signed
//!    with the device key ([`signer`]) and appended to the record's document, in the same
//!    durable transaction as the blob rows. Any failure removes the files it created, so a
//!    failed ingest leaves neither an entry nor an orphan file.
//!
//! Nothing is ever altered or deleted through the API: removal from view is a signed
//! redaction entry that names the evidence and leaves it in place. [`verify`] re-checks
//! hashes, signatures, history and segment chains; [`package`] exports a case file that can be
//! checked offline with no database.
//!
//! Ordering never relies on the device clock alone: entries are ordered by the document's
//! change history (Automerge causal order) and by the server's receipt time once synced; the
//! device clock is recorded as a claim, flagged when it was known to be skewed.

pub mod audio;
pub mod blobs;
mod captions;
pub mod entry;
pub mod exif;
pub mod font;
pub mod image;
mod ingest;
pub mod package;
mod record_entries;
pub mod records;
pub mod sealed;
pub mod signer;
mod stored_files;
pub mod verify;
pub mod watermark;

pub use blobs::{BlobInfo, BlobStore, FaultInjector, IoStep};
pub use entry::{
    BlobRef, CaptureTime, EvidenceEntry, EvidenceKind, EvidencePlace, MediaInfo, Redaction, Segment,
};
pub use ingest::{CaptureInfo, IngestRequest, MonotonicClock, SegmentInfo};
pub use package::{PackageSummary, verify_package, verify_package_with_keys};
pub(crate) use records::sign_lifecycle;
pub use signer::{Signer, SoftwareSigner};
pub use verify::{Issue, IssueKind, VerificationReport};

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex, RwLock};

/// Default clock-skew threshold: an entry whose device clock was off the server's by more
/// than this at the last sync is flagged `clock_skew`.
pub const DEFAULT_CLOCK_SKEW_THRESHOLD_MS: i64 = 5_000;

/// The meta key where the sync client writes the device-to-server clock offset it measured,
/// as a decimal number of milliseconds (server time minus device time) in UTF-8.
pub const CLOCK_OFFSET_META_KEY: &str = "clock_offset_ms";

/// The blob folder used when the config names none: `<db file>.blobs/` beside the database.
pub fn default_blob_dir(db: &Path) -> PathBuf {
    let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".blobs");
    db.with_file_name(name)
}

/// The evidence half of a [`crate::FieldStore`]: its blob folder, signer and settings.
pub(crate) struct EvidenceState {
    pub(crate) blobs: BlobStore,
    pub(crate) signer: RwLock<Option<Arc<dyn Signer>>>,
    pub(crate) skew_threshold_ms: AtomicI64,
    /// Serialises ingests, so a failed ingest never removes a file a concurrent one of the
    /// same content is about to reference.
    pub(crate) ingest_lock: Mutex<()>,
}

impl EvidenceState {
    /// `store_key`: the store's key when it is encrypted; evidence files are then sealed.
    pub(crate) fn new(blob_dir: PathBuf, store_key: Option<&[u8; 32]>) -> Self {
        EvidenceState {
            blobs: BlobStore::with_key(blob_dir, store_key.map(sealed::BlobKey::derive)),
            signer: RwLock::new(None),
            skew_threshold_ms: AtomicI64::new(DEFAULT_CLOCK_SKEW_THRESHOLD_MS),
            ingest_lock: Mutex::new(()),
        }
    }
}
