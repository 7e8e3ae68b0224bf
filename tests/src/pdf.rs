//! Reading the PDFs fieldcase prints, with the tools a person would use: poppler's
//! `pdftotext` and `pdftoppm` (installed by `scripts/ensure-tools.sh`), and a QR decoder on the
//! rasterised page. A missing tool is an error, never a skipped check.

use crate::harness::TestResult;
use image::RgbImage;
use std::path::Path;
use std::process::Command;

fn poppler(tool: &str, args: &[&str], dir: &Path) -> TestResult<Vec<u8>> {
    let out = Command::new(tool)
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| {
            format!("cannot run {tool} ({e}): install poppler-utils (bash scripts/ensure-tools.sh)")
        })?;
    if !out.status.success() {
        return Err(format!("{tool} failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(out.stdout)
}

/// The text of every page, whitespace removed (line breaks fall anywhere in Chinese text).
pub fn text(pdf: &[u8]) -> TestResult<String> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("doc.pdf"), pdf)?;
    let out = poppler("pdftotext", &["doc.pdf", "-"], dir.path())?;
    Ok(String::from_utf8(out)?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect())
}

/// Every page at 150 dpi.
pub fn pages(pdf: &[u8]) -> TestResult<Vec<RgbImage>> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("doc.pdf"), pdf)?;
    poppler(
        "pdftoppm",
        &["-r", "150", "-png", "doc.pdf", "page"],
        dir.path(),
    )?;
    let mut names: Vec<_> = std::fs::read_dir(dir.path())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for n in names {
        out.push(image::open(n)?.to_rgb8());
    }
    Ok(out)
}

/// The share of a page's pixels that are not near white.
pub fn inked(page: &RgbImage) -> f64 {
    let dark = page
        .pixels()
        .filter(|p| p.0.iter().any(|c| *c < 200))
        .count();
    dark as f64 / f64::from(page.width() * page.height()).max(1.0)
}

/// The payloads of the QR codes found on a page.
pub fn qr_codes(page: &RgbImage) -> Vec<String> {
    let gray = image::DynamicImage::ImageRgb8(page.clone()).to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(gray);
    prepared
        .detect_grids()
        .iter()
        .filter_map(|g| g.decode().ok().map(|(_, content)| content))
        .collect()
}
