//! Evidence-ingest benchmark (performance anchor W5): a 12 MP JPEG through hash, EXIF,
//! thumbnail, watermarked display copy, signature and durable store.
//!
//! ```text
//! cargo run --release -p fieldcase-core --example evidence_ingest -- make photo.jpg
//! cargo run --release -p fieldcase-core --example evidence_ingest -- ingest photo.jpg 5
//! ```
//! `make` writes a 4000x3000 q90 JPEG with EXIF time, GPS and orientation. `ingest` opens a
//! fresh store in a temp folder and ingests the photo `runs` times (each run a copy with one
//! trailing byte changed, so no run is deduplicated), then prints each run's time, the median,
//! and this process's peak RSS (VmHWM). Run `make` and `ingest` as separate processes so the
//! peak RSS is the ingest's alone. `scripts/bench_evidence_ingest.sh` runs it next to
//! vipsthumbnail, openssl and ImageMagick on the same file.

use fieldcase_core::evidence::CaptureInfo;
use fieldcase_core::model::Place;
use fieldcase_core::store::NewCase;
use fieldcase_core::{FieldStore, StoreConfig};
use image::{ImageEncoder, Rgb, RgbImage};
use std::time::Instant;

fn make(path: &str) -> Result<(), Box<dyn std::error::Error>> {
    let (w, h) = (4000u32, 3000u32);
    let mut img = RgbImage::new(w, h);
    let mut s: u64 = 0x1234_5678;
    for (x, y, p) in img.enumerate_pixels_mut() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        *p = Rgb([
            ((x * 255 / w) as u8).wrapping_add((s & 0x0F) as u8),
            ((y * 255 / h) as u8).wrapping_add(((s >> 8) & 0x0F) as u8),
            (((x / 40 + y / 40) % 2) as u8 * 90).wrapping_add(((s >> 16) & 0x0F) as u8),
        ]);
    }
    let mut out = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90);
    enc.set_exif_metadata(fieldcase_core::evidence::exif::build_exif_block(
        "2026:09:21 14:03:05",
        31.7349,
        116.5079,
        1,
    ))?;
    enc.write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)?;
    std::fs::write(path, &out)?;
    println!("wrote {path}: {} bytes", out.len());
    Ok(())
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn ingest(path: &str, runs: usize) -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("fieldcase-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store = FieldStore::open(dir.join("bench.db"), StoreConfig::new("bench-device"))?;
    let item = store
        .catalogue()
        .items()
        .next()
        .map(|i| (i.code.clone(), i.tiers[0].tier.clone()))
        .ok_or("empty catalogue")?;
    let place = Place {
        lat: 31.73,
        lon: 116.51,
        accuracy_m: Some(5.0),
        address: None,
    };
    let case = store.create_case(NewCase {
        unit: "luan/jinan/squad-1".into(),
        occurred_at_ms: 1_790_000_000_000,
        place: place.clone(),
        officers: vec!["OF-1001".into()],
        recorded_by: "OF-1001".into(),
        party_id: None,
        violation_code: item.0,
        tier: item.1,
        description: None,
        actions: vec![],
        involves_minor: false,
        privacy_protected: false,
    })?;
    store.signer()?; // key creation is a one-off, not part of an ingest
    let original = std::fs::read(path)?;
    let baseline = peak_rss_kb();
    let mut times = Vec::new();
    for run in 0..runs {
        let mut bytes = original.clone();
        // A byte after EOI changes the hash but not the image.
        bytes.push(run as u8);
        let p = dir.join(format!("run-{run}.jpg"));
        std::fs::write(&p, &bytes)?;
        drop(bytes);
        let t = Instant::now();
        store.add_photo(
            &case.id,
            &p,
            CaptureInfo {
                officer: "OF-1001".into(),
                device_time_ms: 1_790_000_000_000 + run as i64,
                monotonic_ms: run as i64,
                place: Some(place.clone()),
                note: None,
            },
        )?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        println!("run {run}: {ms:.1} ms");
        times.push(ms);
    }
    times.sort_by(f64::total_cmp);
    println!("median_ms {:.1}", times[times.len() / 2]);
    println!("peak_rss_kb {}", peak_rss_kb());
    println!("rss_before_ingest_kb {baseline}");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("make") => make(args.get(2).map_or("photo.jpg", String::as_str)),
        Some("ingest") => ingest(
            args.get(2).map_or("photo.jpg", String::as_str),
            args.get(3).and_then(|s| s.parse().ok()).unwrap_or(5),
        ),
        _ => {
            eprintln!("usage: evidence_ingest make FILE | ingest FILE [RUNS]");
            Ok(())
        }
    }
}
