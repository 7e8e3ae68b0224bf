//! Evidence ingest of a 12 MP JPEG with EXIF: the core's `add_photo` (hash, EXIF, thumbnail,
//! watermarked display copy, signature, durable store) in a child process, against
//! `vipsthumbnail -s 320x320` plus `openssl dgst -sha256` on the same file in the same run.
//! Peak memory is each side's VmHWM / ru_maxrss.

use crate::{BenchError, Result, T0, cache_root, median, print_line};
use fieldcase_core::evidence::CaptureInfo;
use fieldcase_core::store::NewCase;
use fieldcase_core::{FieldStore, StoreConfig};
use fieldcase_tests::harness::{exemptable, place};
use image::{ImageEncoder, Rgb, RgbImage};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The test photo: 4000x3000, q90, EXIF time, GPS and orientation (cached).
fn photo() -> Result<PathBuf> {
    let path = cache_root().join("photo12mp.jpg");
    if path.exists() {
        return Ok(path);
    }
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
    std::fs::create_dir_all(cache_root())?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, &out)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

fn vm_hwm_kb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0.0)
}

/// Child process: ingests `runs` copies of the photo (one trailing byte differs, so nothing is
/// deduplicated) into a fresh store and prints the median time and the peak RSS. `sealed`:
/// an encrypted store, as phones run, whose evidence files are sealed; otherwise plain.
pub fn child_ingest(file: &Path, runs: usize, sealed: bool) -> Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("ingest-")
        .tempdir_in(cache_root())?;
    let config = StoreConfig {
        db_key: sealed.then_some([0x6b; 32]),
        ..StoreConfig::insecure_plain_for_tests("bench")
    };
    let store = FieldStore::open(dir.path().join("store.db"), config)?;
    let (code, tier) = exemptable(&store).map_err(crate::be)?;
    let case = store.create_case(NewCase {
        unit: "luan/jinan/squad-1".into(),
        occurred_at_ms: T0,
        place: place(),
        officers: vec!["OF-1001".into()],
        recorded_by: "OF-1001".into(),
        party_id: None,
        violation_code: code,
        tier,
        description: None,
        actions: vec![],
        involves_minor: false,
        privacy_protected: false,
    })?;
    store.signer()?;
    let original = std::fs::read(file)?;
    let mut times = Vec::new();
    for run in 0..runs {
        let mut bytes = original.clone();
        bytes.push(run as u8);
        let p = dir.path().join(format!("run-{run}.jpg"));
        std::fs::write(&p, &bytes)?;
        drop(bytes);
        let t = Instant::now();
        store.add_photo(
            &case.id,
            &p,
            CaptureInfo {
                officer: "OF-1001".into(),
                device_time_ms: T0 + run as i64,
                monotonic_ms: run as i64,
                place: Some(place()),
                note: None,
            },
        )?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "{}",
        json!({"ms": median(&mut times), "rss_kb": vm_hwm_kb()})
    );
    Ok(())
}

/// Times a peer's thumbnail + `openssl dgst -sha256` in a Python wrapper that reports the
/// children's ru_maxrss: `vips` (vipsthumbnail, shrink-on-load) or `magick` (ImageMagick
/// `convert` with the JPEG size hint, its fastest path).
const PEER_PY: &str = r#"
import json, resource, subprocess, sys, time
tool, f, out, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
thumb = {
    "vips": ["vipsthumbnail", f, "-s", "320x320", "-o", out],
    "magick": ["convert", "-define", "jpeg:size=640x640", f, "-thumbnail", "320x320", out],
}[tool]
times = []
for _ in range(runs):
    t = time.perf_counter()
    subprocess.run(thumb, check=True)
    subprocess.run(["openssl", "dgst", "-sha256", f], check=True, stdout=subprocess.DEVNULL)
    times.append((time.perf_counter() - t) * 1000)
times.sort()
print(json.dumps({"ms": times[len(times) // 2], "rss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"#;

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Installs libvips-tools when missing (Debian); false when it cannot.
fn ensure_vips() -> bool {
    if have("vipsthumbnail") {
        return true;
    }
    eprintln!("evidence_ingest_12mp: vipsthumbnail missing, trying apt-get install libvips-tools");
    let ok = Command::new("timeout")
        .args(["300", "apt-get", "install", "-y", "-q", "libvips-tools"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    ok && have("vipsthumbnail")
}

fn json_of(out: std::process::Output, what: &str) -> Result<(f64, f64)> {
    if !out.status.success() {
        return Err(BenchError(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    Ok((
        v["ms"].as_f64().unwrap_or(0.0),
        v["rss_kb"].as_f64().unwrap_or(0.0),
    ))
}

/// Ours against vipsthumbnail + openssl (and ImageMagick when present), time and peak
/// memory; and sealed against plain.
pub fn evidence_ingest_12mp(quick: bool) -> Result<()> {
    let runs = if quick { 3 } else { 7 };
    let file = photo()?;
    if !ensure_vips() || !have("python3") {
        eprintln!(
            "evidence_ingest_12mp: skipped, vipsthumbnail (libvips-tools) or python3 is not \
             available and could not be installed; no number is reported"
        );
        return Ok(());
    }
    let child = |mode: &str| -> Result<(f64, f64)> {
        json_of(
            Command::new(std::env::current_exe()?)
                .arg("--child-ingest")
                .arg(&file)
                .arg(runs.to_string())
                .arg(mode)
                .output()?,
            "ingest child",
        )
    };
    let ours = child("sealed")?;
    let plain = child("plain")?;
    let peer_run = |tool: &str| -> Result<(f64, f64)> {
        let out = cache_root().join(format!("thumb-{tool}.jpg"));
        json_of(
            Command::new("python3")
                .args(["-c", PEER_PY, tool])
                .arg(&file)
                .arg(&out)
                .arg(runs.to_string())
                .output()?,
            tool,
        )
    };
    let peer = peer_run("vips")?;
    print_line("evidence_ingest_12mp", ours.0, peer.0, "peer:vips", "ms");
    // ImageMagick, the tool most server-side thumbnailers still use, when the machine has it.
    if have("convert") {
        let magick = peer_run("magick")?;
        print_line(
            "evidence_ingest_12mp",
            ours.0,
            magick.0,
            "peer:imagemagick",
            "ms",
        );
        print_line(
            "evidence_ingest_12mp_peak_rss",
            ours.1 / 1024.0,
            magick.1 / 1024.0,
            "peer:imagemagick",
            "MiB",
        );
    } else {
        eprintln!(
            "evidence_ingest_12mp: ImageMagick (convert) not installed; its peer line is skipped"
        );
    }
    // What sealing the files costs: the same ingest into a plain store is the floor.
    print_line(
        "evidence_ingest_12mp_sealed",
        ours.0,
        plain.0,
        "floor",
        "ms",
    );
    print_line(
        "evidence_ingest_12mp_peak_rss",
        ours.1 / 1024.0,
        peer.1 / 1024.0,
        "peer:vips",
        "MiB",
    );
    Ok(())
}
