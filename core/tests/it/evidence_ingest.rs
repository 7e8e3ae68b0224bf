//! Evidence capture end to end: real generated media through ingest, derivatives, signatures,
//! segments, time, redaction, blob bookkeeping, failures that must leave nothing behind, and
//! case-file packages checked offline (also by the Python script).

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use crate::common::*;
use crate::fixtures::*;
use fieldcase_core::CoreError;
use fieldcase_core::evidence::{
    EvidenceKind, FaultInjector, IoStep, IssueKind, MonotonicClock, SegmentInfo, verify_package,
    verify_package_with_keys,
};
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn case_id(store: &fieldcase_core::FieldStore) -> String {
    store
        .create_case(new_case(store, None, T0))
        .expect("case")
        .id
}

/// No temp files, and every stored file has a blob row (nothing orphaned).
fn assert_no_leftovers(store: &fieldcase_core::FieldStore) {
    let tmp: Vec<_> = std::fs::read_dir(store.blob_dir().join("tmp"))
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(tmp.is_empty(), "temp files left: {tmp:?}");
    let mut stored = Vec::new();
    if let Ok(top) = std::fs::read_dir(store.blob_dir().join("sha256")) {
        for sub in top.flatten() {
            for f in std::fs::read_dir(sub.path()).expect("dir").flatten() {
                stored.push(f.file_name().to_string_lossy().to_string());
            }
        }
    }
    for sha in stored {
        assert!(
            store.blob_path(&sha).expect("lookup").is_some(),
            "orphan file {sha}"
        );
    }
}

#[test]
fn a_12_megapixel_photo_with_exif_is_hashed_derived_signed_and_verifies() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(dir.path(), "phone-a");
    let case = case_id(&store);
    let bytes = jpeg(4000, 3000, 1, Some(6));
    let path = write(dir.path(), "IMG_0001.jpg", &bytes);
    let clock = MonotonicClock::new();
    let started = std::time::Instant::now();
    let e = store
        .add_photo(&case, &path, capture(T0 + 1_000, clock.now_ms()))
        .expect("ingest");
    eprintln!(
        "12 MP ingest ({} bytes) took {:?} (debug build)",
        bytes.len(),
        started.elapsed()
    );
    assert_eq!(e.kind, EvidenceKind::Photo);
    assert_eq!(e.original.sha256, sha256_hex(&bytes));
    assert_eq!(e.original.size, bytes.len() as u64);
    assert_eq!(e.original.mime, "image/jpeg");
    assert_eq!(e.media.width, Some(4000));
    assert_eq!(e.media.height, Some(3000));
    assert_eq!(e.media.orientation, Some(6));
    assert_eq!(
        e.media.exif_datetime.as_deref(),
        Some("2026:09:21 14:03:05")
    );
    let place = e.place.clone().expect("place");
    assert_eq!(place.source, "exif");
    assert!((place.lat - EXIF_LAT).abs() < 1e-5 && (place.lon - EXIF_LON).abs() < 1e-5);
    assert_eq!(e.officer, "OF-1001");
    assert_eq!(e.device_key, store.device_public_key().expect("key"));

    // The original is kept byte for byte; the source file is untouched.
    let stored = store
        .blob_path(&e.original.sha256)
        .expect("lookup")
        .expect("stored");
    assert_eq!(std::fs::read(&stored).expect("read"), bytes);
    assert_eq!(std::fs::read(&path).expect("read"), bytes);

    // Orientation 6 turns the 4000x3000 frame upright: portrait derivatives.
    let thumb = e.thumbnail.clone().expect("thumbnail");
    let t = image::load_from_memory(
        &std::fs::read(store.blob_path(&thumb.sha256).unwrap().unwrap()).unwrap(),
    )
    .expect("thumbnail decodes");
    assert_eq!((t.width(), t.height()), (240, 320));
    let display = e.display.clone().expect("display");
    let d = image::load_from_memory(
        &std::fs::read(store.blob_path(&display.sha256).unwrap().unwrap()).unwrap(),
    )
    .expect("display decodes")
    .to_rgb8();
    assert!(d.width().max(d.height()) <= 1024 && d.height() > d.width());
    // The watermark band: dark pixels and white text along the bottom.
    let bottom = d.height() - 20;
    let white = (0..d.width())
        .flat_map(|x| (bottom - 60..bottom).map(move |y| (x, y)))
        .filter(|&(x, y)| d.get_pixel(x, y).0.iter().all(|&c| c > 230))
        .count();
    assert!(white > 100, "no burned-in text found ({white})");

    assert_eq!(store.evidence(&case).expect("list"), vec![e]);
    let report = store.verify_case(&case).expect("verify");
    assert!(report.is_clean(), "{:?}", report.issues);
    assert_eq!(report.blobs_checked, 3);
    assert_no_leftovers(&store);
}

/// Mean absolute difference per channel of two images of one size, over rows `0..rows`.
fn mean_abs_diff(a: &image::RgbImage, b: &image::RgbImage, rows: u32) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let mut sum = 0u64;
    let mut n = 0u64;
    for y in 0..rows {
        for x in 0..a.width() {
            for c in 0..3 {
                sum += u64::from(a.get_pixel(x, y).0[c].abs_diff(b.get_pixel(x, y).0[c]));
                n += 1;
            }
        }
    }
    sum as f64 / n as f64
}

#[test]
fn derived_copies_of_a_12_megapixel_photo_match_a_full_decode_resized() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(dir.path(), "phone-a");
    let case = case_id(&store);
    // Orientation 6: the camera held upright, the frame stored turned 90 degrees.
    let bytes = jpeg(4000, 3000, 7, Some(6));
    let path = write(dir.path(), "IMG_0002.jpg", &bytes);
    let e = store
        .add_photo(&case, &path, capture(T0 + 2_000, 1))
        .expect("ingest");
    assert_eq!(e.original.sha256, sha256_hex(&bytes));
    let stored = store.blob_path(&e.original.sha256).unwrap().unwrap();
    assert_eq!(std::fs::read(&stored).unwrap(), bytes);

    let read = |sha: &str| {
        image::load_from_memory_with_format(
            &std::fs::read(store.blob_path(sha).unwrap().unwrap()).unwrap(),
            image::ImageFormat::Jpeg,
        )
        .expect("a derived copy decodes as JPEG")
        .to_rgb8()
    };
    let display = read(&e.display.as_ref().expect("display").sha256);
    let thumb = read(&e.thumbnail.as_ref().expect("thumbnail").sha256);
    // Upright (portrait), within the documented bounds, the aspect ratio kept.
    assert!(
        display.height() <= 1024 && display.height() >= 960,
        "{:?}",
        display.dimensions()
    );
    assert_eq!(display.width() * 4, display.height() * 3);
    assert_eq!(thumb.dimensions(), (240, 320));

    // The reference: every pixel decoded, turned upright, then resized.
    let full = image::load_from_memory(&bytes).expect("decode").to_rgb8();
    let upright = image::imageops::rotate90(&full);
    let wrong_way = image::imageops::rotate270(&full);
    let resize = |img: &image::RgbImage, (w, h): (u32, u32)| {
        image::imageops::resize(img, w, h, image::imageops::FilterType::Triangle)
    };
    // Above the watermark band (the bottom fifth at most).
    let rows = display.height() * 4 / 5;
    let d = mean_abs_diff(&display, &resize(&upright, display.dimensions()), rows);
    let t = mean_abs_diff(
        &thumb,
        &resize(&upright, thumb.dimensions()),
        thumb.height(),
    );
    // The photo's per-pixel noise (up to 31 levels) averages differently under the DCT's
    // scaling and the triangle filter, and both copies are JPEG again: a few levels apart.
    assert!(
        d < 8.0,
        "display copy differs from the full decode by {d:.2} per channel"
    );
    assert!(
        t < 4.0,
        "thumbnail differs from the full decode by {t:.2} per channel"
    );
    // The comparison can fail: the frame turned the wrong way is far off.
    let off = mean_abs_diff(
        &thumb,
        &resize(&wrong_way, thumb.dimensions()),
        thumb.height(),
    );
    assert!(off > 30.0, "orientation not detectable ({off:.2})");
    eprintln!("mean difference per channel: display {d:.2}, thumbnail {t:.2}, wrong way {off:.2}");
}

#[test]
fn signature_png_and_demonstration_photo() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(dir.path(), "phone-a");
    let case = case_id(&store);
    let png = write(dir.path(), "sig.png", &signature_png(600, 200));
    let e = store
        .add_signature_image(&case, &png, capture(T0, 5))
        .expect("signature");
    assert_eq!(e.kind, EvidenceKind::Signature);
    assert_eq!(e.original.mime, "image/png");
    assert_eq!(e.place.as_ref().map(|p| p.source.as_str()), Some("device"));
    // Transparent background flattened on white, not black.
    let t = image::load_from_memory(
        &std::fs::read(
            store
                .blob_path(&e.thumbnail.unwrap().sha256)
                .unwrap()
                .unwrap(),
        )
        .unwrap(),
    )
    .unwrap()
    .to_rgb8();
    assert!(t.get_pixel(2, 2).0.iter().all(|&c| c > 200));

    let demo = store
        .record_demonstration(fieldcase_core::store::NewDemonstration {
            unit: "luan/jinan/squad-1".into(),
            team: "梅山路志愿队".into(),
            participants: vec!["VOL-7".into()],
            place: place(),
            started_at_ms: T0,
            ended_at_ms: T0 + 3_600_000,
            topic: "门前三包".into(),
            people_persuaded: 12,
            note: None,
            by: "VOL-7".into(),
        })
        .expect("demo");
    let photo = write(dir.path(), "demo.jpg", &jpeg(320, 240, 2, None));
    let e = store
        .add_demonstration_photo(&demo.id, &photo, capture(T0, 6))
        .expect("demo photo");
    assert_eq!(e.record_kind, "demonstration");
    assert!(store.verify_case(&demo.id).expect("verify").is_clean());
    let wav = write(dir.path(), "a.wav", &wav(200, 8000, 1));
    assert!(matches!(
        store.add_audio(&demo.id, &wav, capture(T0, 7), None),
        Err(CoreError::NotAllowed { .. })
    ));
}

#[test]
fn audio_formats_are_sniffed_and_their_durations_probed() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(dir.path(), "phone-a");
    let case = case_id(&store);
    let cases: Vec<(&str, Vec<u8>, &str, i64)> = vec![
        ("a.wav", wav(2_500, 16_000, 3), "audio/wav", 2_500),
        ("a.amr", amr_nb(150, 4), "audio/amr", 3_000),
        (
            "a.aac",
            adts(431, 5),
            "audio/aac",
            431 * 1024 * 1000 / 44_100,
        ),
        (
            "a.m4a",
            std::fs::read(m4a_sample()).expect("sample"),
            "audio/mp4",
            1_500,
        ),
    ];
    for (name, bytes, mime, ms) in cases {
        let p = write(dir.path(), name, &bytes);
        let e = store
            .add_audio(&case, &p, capture(T0, 1), None)
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(e.original.mime, mime, "{name}");
        let got = e.media.duration_ms.expect("duration");
        assert!((got - ms).abs() <= 70, "{name}: {got} ms, expected {ms}");
        assert!(e.thumbnail.is_none() && e.display.is_none());
    }
    // A fresh M4A from ffmpeg when the machine has it.
    let fresh = dir.path().join("fresh.m4a");
    let made = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i"])
        .arg("sine=frequency=300:duration=2.2")
        .args(["-c:a", "aac", "-b:a", "32k"])
        .arg(&fresh)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if made {
        let e = store
            .add_audio(&case, &fresh, capture(T0, 2), None)
            .expect("ffmpeg m4a");
        let got = e.media.duration_ms.expect("duration");
        assert!((got - 2_200).abs() <= 80, "{got}");
    } else {
        eprintln!("ffmpeg not available: fresh M4A skipped (checked-in sample covered)");
    }
    assert!(store.verify_case(&case).expect("verify").is_clean());
}

#[test]
fn unknown_formats_and_decompression_bombs_are_typed_errors_leaving_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(dir.path(), "phone-a");
    let case = case_id(&store);
    let gif = write(dir.path(), "x.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;");
    let mp3 = write(
        dir.path(),
        "x.mp3",
        &[0xFF, 0xFB, 0x90, 0x64, 0, 0, 0, 0, 0, 0],
    );
    let text = write(dir.path(), "x.txt", b"hello");
    for (p, is_audio) in [(&gif, false), (&mp3, true), (&text, true), (&text, false)] {
        let r = if is_audio {
            store.add_audio(&case, p, capture(T0, 1), None)
        } else {
            store.add_photo(&case, p, capture(T0, 1))
        };
        assert!(
            matches!(r, Err(CoreError::UnsupportedMedia { .. })),
            "{r:?}"
        );
    }
    // A WAV handed in as a photo is refused too.
    let w = write(dir.path(), "w.wav", &wav(100, 8000, 1));
    assert!(matches!(
        store.add_photo(&case, &w, capture(T0, 1)),
        Err(CoreError::UnsupportedMedia { .. })
    ));
    let bomb = write(dir.path(), "bomb.png", &png_bomb(100_000, 100_000));
    let r = store.add_photo(&case, &bomb, capture(T0, 1));
    assert!(
        matches!(
            r,
            Err(CoreError::ImageTooLarge {
                width: 100_000,
                height: 100_000
            })
        ),
        "{r:?}"
    );
    let bomb = write(dir.path(), "bomb.jpg", &jpeg_bomb());
    let r = store.add_photo(&case, &bomb, capture(T0, 1));
    assert!(matches!(r, Err(CoreError::ImageTooLarge { .. })), "{r:?}");
    let corrupt = write(
        dir.path(),
        "bad.jpg",
        &[0xFF, 0xD8, 0xFF, 0xE0, 0, 2, 1, 2, 3],
    );
    let r = store.add_photo(&case, &corrupt, capture(T0, 1));
    assert!(matches!(r, Err(CoreError::MediaDecode { .. })), "{r:?}");
    let missing = store.add_photo(&case, dir.path().join("nope.jpg"), capture(T0, 1));
    assert!(matches!(missing, Err(CoreError::Io { .. })));
    assert!(store.evidence(&case).expect("list").is_empty());
    assert!(store.unconfirmed_blobs().expect("blobs").is_empty());
    assert_no_leftovers(&store);
}

#[test]
fn identical_content_is_stored_once_and_blobs_wait_for_server_confirmation() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(dir.path(), "phone-a");
    let case = case_id(&store);
    let p = write(dir.path(), "a.jpg", &jpeg(640, 480, 9, None));
    let a = store.add_photo(&case, &p, capture(T0, 1)).expect("a");
    let b = store.add_photo(&case, &p, capture(T0 + 5, 2)).expect("b");
    assert_ne!(a.id, b.id);
    assert_eq!(a.original.sha256, b.original.sha256);
    let pending = store.unconfirmed_blobs().expect("pending");
    assert_eq!(pending.len(), 3, "original, thumbnail, display once each");
    assert_eq!(pending[0].role, "original");
    assert!(pending.iter().all(|b| b.path.exists()));
    assert!(
        store
            .mark_blob_confirmed(&a.original.sha256)
            .expect("confirm")
    );
    assert!(!store.mark_blob_confirmed(&"0".repeat(64)).expect("unknown"));
    let pending = store.unconfirmed_blobs().expect("pending");
    assert_eq!(pending.len(), 2);
    assert!(pending.iter().all(|b| b.role != "original"));
    // Confirmed files stay on the phone.
    assert!(
        store
            .blob_path(&a.original.sha256)
            .expect("path")
            .expect("kept")
            .exists()
    );
}

#[test]
fn recordings_arrive_as_chained_segments_in_order() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(dir.path(), "phone-a");
    let case = case_id(&store);
    let rec = fieldcase_core::ids::new_id();
    let seg = |i: u32| {
        Some(SegmentInfo {
            recording_id: rec.clone(),
            index: i,
            last: i == 2,
        })
    };
    let files: Vec<_> = (0..3)
        .map(|i| write(dir.path(), &format!("s{i}.wav"), &wav(300, 8000, 10 + i)))
        .collect();
    assert!(matches!(
        store.add_audio(&case, &files[1], capture(T0, 1), seg(1)),
        Err(CoreError::SegmentOutOfOrder { index: 1, .. })
    ));
    let s0 = store
        .add_audio(&case, &files[0], capture(T0, 1), seg(0))
        .expect("s0");
    assert!(matches!(
        store.add_audio(&case, &files[0], capture(T0, 1), seg(0)),
        Err(CoreError::SegmentOutOfOrder { index: 0, .. })
    ));
    assert!(matches!(
        store.add_audio(&case, &files[2], capture(T0, 1), seg(2)),
        Err(CoreError::SegmentOutOfOrder { index: 2, .. })
    ));
    let s1 = store
        .add_audio(&case, &files[1], capture(T0 + 300, 301), seg(1))
        .expect("s1");
    let s2 = store
        .add_audio(&case, &files[2], capture(T0 + 600, 601), seg(2))
        .expect("s2");
    assert_eq!(s0.segment.as_ref().unwrap().prev_sha256, None);
    assert_eq!(
        s1.segment.as_ref().unwrap().prev_sha256.as_deref(),
        Some(s0.original.sha256.as_str())
    );
    assert_eq!(
        s2.segment.as_ref().unwrap().prev_sha256.as_deref(),
        Some(s1.original.sha256.as_str())
    );
    assert!(store.verify_case(&case).expect("verify").is_clean());
    assert_no_leftovers(&store);
}

#[test]
fn clock_offset_from_the_last_sync_is_recorded_and_skew_flagged() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(dir.path(), "phone-a");
    let case = case_id(&store);
    let p = write(dir.path(), "a.wav", &wav(100, 8000, 1));
    let e = store.add_audio(&case, &p, capture(T0, 1), None).expect("e");
    assert_eq!(e.captured.clock_offset_ms, None);
    assert!(!e.captured.clock_skew);
    store.set_meta("clock_offset_ms", b"-7250").expect("meta");
    let e = store.add_audio(&case, &p, capture(T0, 2), None).expect("e");
    assert_eq!(e.captured.clock_offset_ms, Some(-7250));
    assert!(e.captured.clock_skew);
    store.set_clock_skew_threshold_ms(10_000);
    let e = store.add_audio(&case, &p, capture(T0, 3), None).expect("e");
    assert!(!e.captured.clock_skew);
    assert_eq!(e.captured.monotonic_ms, 3);
    assert_eq!(e.server_received_at_ms, None);
    // A device clock that is off by a day is still recorded (and the entry still verifies).
    let e = store
        .add_audio(&case, &p, capture(T0 - 86_400_000, 4), None)
        .expect("e");
    assert_eq!(e.captured.device_time_ms, T0 - 86_400_000);
    assert!(store.verify_case(&case).expect("verify").is_clean());
}

#[test]
fn redaction_hides_without_removing_and_is_signed() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(dir.path(), "phone-a");
    let case = case_id(&store);
    let p = write(dir.path(), "a.jpg", &jpeg(200, 150, 3, None));
    let e = store.add_photo(&case, &p, capture(T0, 1)).expect("e");
    let r = store
        .redact_evidence(
            &case,
            &e.id,
            "OF-2001",
            "photo shows a bystander's face",
            T0 + 9,
        )
        .expect("redact");
    assert_eq!(r.evidence_id, e.id);
    assert_eq!(store.evidence(&case).expect("list"), vec![e.clone()]);
    assert_eq!(store.redactions(&case).expect("list"), vec![r]);
    assert!(
        store
            .blob_path(&e.original.sha256)
            .unwrap()
            .unwrap()
            .exists()
    );
    assert!(matches!(
        store.redact_evidence(&case, &e.id, "OF-2001", "again", T0 + 10),
        Err(CoreError::NotAllowed { .. })
    ));
    assert!(matches!(
        store.redact_evidence(&case, "nope", "OF-2001", "x", T0 + 10),
        Err(CoreError::NotFound { .. })
    ));
    assert!(store.verify_case(&case).expect("verify").is_clean());
}

#[test]
fn decisions_and_closures_are_signed_and_closed_cases_take_no_evidence() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(dir.path(), "phone-a");
    let party_id = party(&store, "341502199001011239");
    let mut nc = new_case(&store, Some(party_id), T0);
    nc.actions.clear();
    let case = store.create_case(nc).expect("case").id;
    let d = lawful::simple(&store, &case, "OF-1001", T0 + 999).expect("decide");
    assert!(d.signature.is_some());
    assert_eq!(d.signed_by_device, Some(store.device_public_key().unwrap()));
    let closable = store.case(&case).expect("case").status().as_str() == "decided";
    if closable {
        lawful::serve_and_execute(&store, &case, "OF-1001", T0 + 1500).expect("serve");
        store
            .close_case(&case, "OF-1001", T0 + 2000, "penalty paid")
            .expect("close");
        let c = store.case(&case).expect("case");
        let ev = c.lifecycle.last().expect("event");
        assert!(ev.signature.is_some() && ev.signed_heads.as_ref().is_some_and(|h| !h.is_empty()));
        let p = write(dir.path(), "late.jpg", &jpeg(100, 80, 4, None));
        assert!(matches!(
            store.add_photo(&case, &p, capture(T0, 1)),
            Err(CoreError::CaseClosed { .. })
        ));
        assert_no_leftovers(&store);
    }
    let report = store.verify_case(&case).expect("verify");
    assert!(report.is_clean(), "{:?}", report.issues);
    assert_eq!(report.unsigned_records, 0);
}

struct FailNth {
    n: usize,
    seen: AtomicUsize,
}

impl FaultInjector for FailNth {
    fn check(&self, step: IoStep) -> io::Result<()> {
        if self.seen.fetch_add(1, Ordering::SeqCst) == self.n {
            return Err(match step {
                IoStep::Write => io::Error::from(io::ErrorKind::StorageFull),
                IoStep::Sync => io::Error::other("EIO"),
                _ => io::Error::from(io::ErrorKind::PermissionDenied),
            });
        }
        Ok(())
    }
}

#[test]
fn failing_every_io_step_in_turn_leaves_no_entry_and_no_orphan_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(dir.path(), "phone-a");
    let case = case_id(&store);
    let p = write(dir.path(), "a.jpg", &jpeg(1200, 900, 5, Some(1)));
    let mut n = 0;
    loop {
        store.set_blob_fault_injector(Some(Arc::new(FailNth {
            n,
            seen: AtomicUsize::new(0),
        })));
        match store.add_photo(&case, &p, capture(T0, 1)) {
            Ok(_) => break,
            Err(e) => {
                assert!(
                    matches!(e, CoreError::DiskFull { .. } | CoreError::Io { .. }),
                    "step {n}: {e}"
                );
                assert!(store.evidence(&case).expect("list").is_empty(), "step {n}");
                assert!(
                    store.unconfirmed_blobs().expect("rows").is_empty(),
                    "step {n}"
                );
                assert_no_leftovers(&store);
            }
        }
        n += 1;
        assert!(n < 500, "never succeeded");
    }
    assert!(n >= 12, "only {n} injection points were reached");
    store.set_blob_fault_injector(None);
    assert_eq!(store.evidence(&case).expect("list").len(), 1);
    assert!(store.verify_case(&case).expect("verify").is_clean());
}

/// Runs in a child process whose file-size limit (`ulimit -f`) is below the photo's size, with
/// SIGXFSZ ignored so the write fails with EFBIG instead of killing the process.
#[test]
fn a_real_file_size_limit_is_a_typed_error_with_nothing_left() {
    if let Ok(dir) = std::env::var("FIELDCASE_FSIZE_CHILD") {
        let dir = std::path::PathBuf::from(dir);
        let store = open(&dir, "phone-a");
        let case = std::fs::read_to_string(dir.join("case-id")).expect("case id");
        let r = store.add_photo(&case, dir.join("big.jpg"), capture(T0, 1));
        assert!(matches!(r, Err(CoreError::DiskFull { .. })), "{r:?}");
        assert!(store.evidence(&case).expect("list").is_empty());
        assert_no_leftovers(&store);
        return;
    }
    if std::process::Command::new("sh")
        .arg("-c")
        .arg("true")
        .status()
        .is_err()
    {
        eprintln!("no sh: skipped");
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    {
        let store = open(dir.path(), "phone-a");
        let case = case_id(&store);
        std::fs::write(dir.path().join("case-id"), &case).expect("write");
        // Big enough to pass the limit: noise does not compress.
        let bytes = jpeg(2400, 1800, 6, None);
        assert!(bytes.len() > 2_100_000, "{}", bytes.len());
        write(dir.path(), "big.jpg", &bytes);
        // Let the database grow its WAL now, under no limit.
        store.set_meta("warm", &[0u8; 4096]).expect("meta");
    }
    let exe = std::env::current_exe().expect("exe");
    // `ulimit -f 2000` is 1000 KiB in dash (512-byte blocks) and 2000 KiB in bash: either way
    // below the photo and far above the database.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 2000; exec \"$0\" --exact a_real_file_size_limit_is_a_typed_error_with_nothing_left --nocapture --test-threads=1")
        .arg(&exe)
        .env("FIELDCASE_FSIZE_CHILD", dir.path())
        .output()
        .expect("spawn child");
    assert!(
        out.status.success(),
        "child failed: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn leftovers_of_a_crash_are_swept_and_referenced_files_kept() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(dir.path(), "phone-a");
    let case = case_id(&store);
    let p = write(dir.path(), "a.wav", &wav(100, 8000, 1));
    let e = store.add_audio(&case, &p, capture(T0, 1), None).expect("e");
    std::fs::create_dir_all(store.blob_dir().join("tmp")).unwrap();
    std::fs::write(store.blob_dir().join("tmp/dead.part"), b"half").unwrap();
    let orphan = "ab".repeat(32);
    std::fs::create_dir_all(store.blob_dir().join("sha256/ab")).unwrap();
    std::fs::write(store.blob_dir().join(format!("sha256/ab/{orphan}")), b"x").unwrap();
    let r = store.sweep_blob_dir().expect("sweep");
    assert_eq!((r.temp_files, r.unreferenced), (1, 1));
    assert!(
        store
            .blob_path(&e.original.sha256)
            .unwrap()
            .unwrap()
            .exists()
    );
    assert!(store.verify_case(&case).expect("verify").is_clean());
}

#[test]
fn opening_a_store_sweeps_old_leftovers_and_keeps_fresh_ones() {
    use std::time::{Duration, SystemTime};
    let dir = tempfile::tempdir().expect("tmp");
    let (blob_dir, kept) = {
        let store = open(dir.path(), "phone-a");
        let case = case_id(&store);
        let p = write(dir.path(), "a.wav", &wav(100, 8000, 1));
        let e = store.add_audio(&case, &p, capture(T0, 1), None).expect("e");
        (store.blob_dir().to_path_buf(), e.original.sha256)
    };
    let aged = |rel: &str, bytes: &[u8], age_s: u64| {
        let p = blob_dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let f = std::fs::File::create(&p).unwrap();
        std::io::Write::write_all(&mut &f, bytes).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(age_s))
            .unwrap();
        p
    };
    let old_orphan = aged(&format!("sha256/ab/{}", "ab".repeat(32)), b"x", 7200);
    let fresh_orphan = aged(&format!("sha256/cd/{}", "cd".repeat(32)), b"y", 5);
    let old_part = aged("tmp/dead.part", b"half", 7200);
    let fresh_part = aged("tmp/live.part", b"half", 5);
    let resumable = aged(
        &format!("tmp/dl-{}.part", "ef".repeat(32)),
        b"partial",
        7200,
    );
    let abandoned = aged(
        &format!("tmp/dl-{}.part", "01".repeat(32)),
        b"partial",
        8 * 24 * 3600,
    );
    let store = open(dir.path(), "phone-a");
    for gone in [&old_orphan, &old_part, &abandoned] {
        assert!(!gone.exists(), "{} should be swept", gone.display());
    }
    for kept in [&fresh_orphan, &fresh_part, &resumable] {
        assert!(kept.exists(), "{} should be kept", kept.display());
    }
    assert!(store.holds_blob(&kept).unwrap(), "referenced file kept");
}

#[test]
fn a_blob_folder_can_live_elsewhere() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = fieldcase_core::StoreConfig::insecure_plain_for_tests("phone-z");
    cfg.blob_dir = Some(dir.path().join("media"));
    let store = fieldcase_core::FieldStore::open(dir.path().join("z.db"), cfg).expect("open");
    let case = case_id(&store);
    let p = write(dir.path(), "a.wav", &wav(100, 8000, 1));
    let e = store.add_audio(&case, &p, capture(T0, 1), None).expect("e");
    assert!(
        store
            .blob_path(&e.original.sha256)
            .unwrap()
            .unwrap()
            .starts_with(dir.path().join("media"))
    );
}

#[test]
fn a_case_file_package_verifies_offline_and_with_the_python_script() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(dir.path(), "phone-a");
    let case = case_id(&store);
    let rec = fieldcase_core::ids::new_id();
    let p = write(dir.path(), "a.jpg", &jpeg(800, 600, 7, Some(3)));
    let e = store.add_photo(&case, &p, capture(T0, 1)).expect("photo");
    for i in 0..2u32 {
        let w = write(
            dir.path(),
            &format!("s{i}.wav"),
            &wav(200, 8000, 20 + u64::from(i)),
        );
        store
            .add_audio(
                &case,
                &w,
                capture(T0 + 10, 2),
                Some(SegmentInfo {
                    recording_id: rec.clone(),
                    index: i,
                    last: i == 1,
                }),
            )
            .expect("segment");
    }
    let a = write(dir.path(), "a.amr", &amr_nb(50, 2));
    store
        .add_audio(&case, &a, capture(T0, 3), None)
        .expect("amr");
    store
        .redact_evidence(&case, &e.id, "OF-2001", "bystander", T0 + 99)
        .expect("redact");
    let out = dir.path().join("case.zip");
    let summary = store.export_case_package(&case, &out).expect("export");
    assert_eq!(
        summary.files, 6,
        "photo + thumbnail + display, 2 segments, 1 AMR"
    );
    let report = verify_package(&out).expect("verify");
    assert!(report.is_clean(), "{:?}", report.issues);
    assert_eq!(report.evidence_checked, 4);
    let key = store.device_public_key().unwrap();
    assert!(
        verify_package_with_keys(&out, std::slice::from_ref(&key))
            .unwrap()
            .is_clean()
    );
    let other = verify_package_with_keys(&out, &["00".repeat(32)]).unwrap();
    assert!(other.has(IssueKind::UnknownDeviceKey));
    assert!(matches!(
        verify_package(dir.path().join("a.amr")),
        Err(CoreError::Package { .. })
    ));

    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/verify_package.py");
    match std::process::Command::new("python3")
        .arg(&script)
        .arg(&out)
        .output()
    {
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stdout).to_string();
            assert!(
                o.status.success(),
                "{text}{}",
                String::from_utf8_lossy(&o.stderr)
            );
            assert!(text.contains("OK"), "{text}");
            // The script must also fail a tampered package: flip one byte of an original.
            let bad = dir.path().join("bad.zip");
            let mut z = zip::ZipArchive::new(std::fs::File::open(&out).unwrap()).unwrap();
            let mut w = zip::ZipWriter::new(std::fs::File::create(&bad).unwrap());
            for i in 0..z.len() {
                let mut f = z.by_index(i).unwrap();
                let name = f.name().unwrap().to_string();
                let mut b = Vec::new();
                std::io::Read::read_to_end(&mut f, &mut b).unwrap();
                if name.starts_with("originals/") && name.ends_with(".jpg") {
                    let mid = b.len() / 2;
                    b[mid] ^= 0x40;
                }
                w.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
                    .unwrap();
                std::io::Write::write_all(&mut w, &b).unwrap();
            }
            w.finish().unwrap();
            let o = std::process::Command::new("python3")
                .arg(&script)
                .arg(&bad)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&o.stdout).to_string();
            assert!(!o.status.success() && text.contains("PROBLEM"), "{text}");
            assert!(!verify_package(&bad).unwrap().is_clean());
        }
        Err(_) => eprintln!("python3 not available: script check skipped"),
    }
}
