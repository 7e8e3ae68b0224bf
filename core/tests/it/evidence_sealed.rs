//! Evidence files sealed at rest: in a store opened with a key, nothing in the blob folder
//! is readable without it, and everything that reads evidence still gets the content.

use crate::common::*;
use crate::fixtures::*;
use fieldcase_core::evidence::{IssueKind, verify_package};
use fieldcase_core::{CoreError, FieldStore, StoreConfig};
use std::path::{Path, PathBuf};

const KEY: [u8; 32] = [0x3c; 32];
const CANARY_ID: &[u8] = b"34150219870612348X";
const CANARY_PHONE: &[u8] = b"13955501234";

fn open_keyed(dir: &Path, key: Option<[u8; 32]>) -> Result<FieldStore, CoreError> {
    let cfg = StoreConfig {
        party_match_key: Some([7u8; 32]),
        pii_key: Some([9u8; 32]),
        db_key: key,
        ..StoreConfig::insecure_plain_for_tests("phone-sealed")
    };
    FieldStore::open(dir.join("phone-sealed.db"), cfg)
}

/// A JPEG with the canaries in a comment segment, as a photo of an identity card or a
/// phone number on a shop sign would carry them in its pixels.
fn jpeg_with_canaries() -> Vec<u8> {
    let base = jpeg(640, 480, 11, None);
    let mut com = b"canary ".to_vec();
    com.extend_from_slice(CANARY_ID);
    com.push(b' ');
    com.extend_from_slice(CANARY_PHONE);
    let mut out = base[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xFE]);
    out.extend_from_slice(&((com.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&com);
    out.extend_from_slice(&base[2..]);
    out
}

/// A WAV whose samples spell the canaries, repeated (a recording of someone reading out
/// their number is, byte for byte, no easier to find, but this one is certain to be found).
fn wav_with_canaries() -> Vec<u8> {
    let mut w = wav(400, 8000, 5);
    let data_at = w.len() - 6400;
    for (i, b) in CANARY_ID
        .iter()
        .chain(CANARY_PHONE)
        .cycle()
        .take(3000)
        .enumerate()
    {
        w[data_at + i] = *b;
    }
    w
}

fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn read_all(store: &FieldStore, sha: &str) -> Result<Vec<u8>, CoreError> {
    let mut out = Vec::new();
    store.read_blob(sha, &mut out)?.expect("held");
    Ok(out)
}

#[test]
fn sealed_evidence_shows_nothing_on_disk_and_everything_through_the_store() {
    let dir = tempfile::tempdir().expect("tmp");
    let photo_bytes = jpeg_with_canaries();
    let wav_bytes = wav_with_canaries();
    assert!(contains(&photo_bytes, CANARY_ID) && contains(&wav_bytes, CANARY_PHONE));
    let (case, photo, audio) = {
        let store = open_keyed(dir.path(), Some(KEY)).expect("open");
        let case = store
            .create_case(new_case(&store, None, T0))
            .expect("case")
            .id;
        let p = write(dir.path(), "IMG_1.jpg", &photo_bytes);
        let photo = store.add_photo(&case, &p, capture(T0, 1)).expect("photo");
        let w = write(dir.path(), "rec.wav", &wav_bytes);
        let audio = store
            .add_audio(&case, &w, capture(T0 + 5, 2), None)
            .expect("audio");
        assert_eq!(
            audio.media.duration_ms,
            Some(400),
            "probed through the seal"
        );
        assert_eq!(photo.media.width, Some(640), "decoded through the seal");
        (case, photo, audio)
    };

    // Byte by byte: no file of the blob folder carries a canary or a media signature.
    let store = open_keyed(dir.path(), Some(KEY)).expect("reopen");
    let files = files_under(store.blob_dir());
    assert!(
        files.len() >= 4,
        "original, thumbnail, display, audio: {files:?}"
    );
    for f in &files {
        let b = std::fs::read(f).expect("read");
        for needle in [
            CANARY_ID,
            CANARY_PHONE,
            b"JFIF".as_slice(),
            b"RIFF",
            b"WAVE",
        ] {
            assert!(
                !contains(&b, needle),
                "{} found in {}",
                String::from_utf8_lossy(needle),
                f.display()
            );
        }
        assert!(b.starts_with(fieldcase_core::evidence::sealed::MAGIC));
    }

    // Through the store the content is whole and checked.
    assert_eq!(
        read_all(&store, &photo.original.sha256).expect("photo"),
        photo_bytes
    );
    assert_eq!(
        read_all(&store, &audio.original.sha256).expect("wav"),
        wav_bytes
    );
    let thumb = read_all(&store, &photo.thumbnail.as_ref().expect("thumb").sha256).expect("t");
    assert!(thumb.starts_with(&[0xFF, 0xD8]), "a JPEG thumbnail");
    assert!(store.verify_case(&case).expect("verify").is_clean());

    // A package for a court carries the plain files and verifies offline.
    let pkg = dir.path().join("case.zip");
    store.export_case_package(&case, &pkg).expect("export");
    let report = verify_package(&pkg).expect("package");
    assert!(report.is_clean(), "{:?}", report.issues);

    // Another key opens nothing (the database refuses it before any file is read).
    drop(store);
    assert!(matches!(
        open_keyed(dir.path(), Some([0x11; 32])),
        Err(CoreError::WrongKey)
    ));
}

#[test]
fn a_damaged_sealed_file_is_reported_never_shown() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open_keyed(dir.path(), Some(KEY)).expect("open");
    let case = store
        .create_case(new_case(&store, None, T0))
        .expect("case")
        .id;
    let p = write(dir.path(), "IMG_2.jpg", &jpeg(320, 240, 3, None));
    let photo = store.add_photo(&case, &p, capture(T0, 1)).expect("photo");
    let path = store
        .blob_path(&photo.original.sha256)
        .expect("lookup")
        .expect("held");
    let mut bytes = std::fs::read(&path).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    let mut perm = std::fs::metadata(&path).expect("meta").permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(&path, perm).expect("writable");
    std::fs::write(&path, &bytes).expect("tamper");

    assert!(matches!(
        read_all(&store, &photo.original.sha256),
        Err(CoreError::BlobHashMismatch { .. })
    ));
    let report = store.verify_case(&case).expect("verify");
    assert!(
        report
            .issues
            .iter()
            .any(|i| i.kind == IssueKind::BlobHashMismatch),
        "{:?}",
        report.issues
    );
    // Ingesting the same photo again heals the stored copy.
    store.add_photo(&case, &p, capture(T0, 2)).expect("again");
    assert!(read_all(&store, &photo.original.sha256).is_ok());
}

#[test]
fn a_plain_store_keeps_plain_files_and_reads_them_the_same_way() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open_keyed(dir.path(), None).expect("open plain");
    let case = store
        .create_case(new_case(&store, None, T0))
        .expect("case")
        .id;
    let bytes = jpeg(320, 240, 4, None);
    let p = write(dir.path(), "IMG_3.jpg", &bytes);
    let photo = store.add_photo(&case, &p, capture(T0, 1)).expect("photo");
    let path = store
        .blob_path(&photo.original.sha256)
        .expect("lookup")
        .expect("held");
    assert_eq!(std::fs::read(path).expect("read"), bytes);
    assert_eq!(
        read_all(&store, &photo.original.sha256).expect("read"),
        bytes
    );
    assert!(matches!(
        store.read_blob("not-a-hash", &mut Vec::new()),
        Err(CoreError::InvalidInput { .. })
    ));
}
