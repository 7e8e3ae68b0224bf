//! Image derivatives: a thumbnail and a watermarked display copy, made from the stored
//! original without touching it.
//!
//! Decoding is bounded: the declared dimensions are checked before any pixel buffer exists, so
//! a small file claiming enormous dimensions (a decompression bomb) is a typed
//! [`CoreError::ImageTooLarge`], and the `image` crate's `Limits` back that up. Large JPEGs
//! are decoded at a reduced scale in the DCT domain (jpeg-decoder's 1/2, 1/4, 1/8 IDCT), so a
//! 12 MP photo needs about 2 MB of pixels instead of 36 MB; the display copy (at most
//! [`DISPLAY_MAX`] px) and thumbnail (at most [`THUMB_MAX`] px) are made from that.

use super::font::{GLYPH_H, GLYPH_W, glyph};
use super::sealed::EvidenceFile;
use crate::{CoreError, Result};
use image::{DynamicImage, Limits, Rgb, RgbImage, metadata::Orientation};
use std::io::BufReader;

/// Longest edge of a thumbnail.
pub const THUMB_MAX: u32 = 320;
/// Longest edge of a display copy.
pub const DISPLAY_MAX: u32 = 1024;
/// Largest source accepted on the scaled JPEG path (declared pixels).
pub const MAX_JPEG_PIXELS: u64 = 120_000_000;
/// Largest source accepted on the full-decode path (PNG signatures and the like).
pub const MAX_FULL_DECODE_PIXELS: u64 = 40_000_000;
/// Longest edge accepted on any path.
pub const MAX_EDGE: u32 = 30_000;
/// Allocation ceiling handed to the decoders.
pub const MAX_ALLOC: u64 = 256 * 1024 * 1024;
/// JPEG quality of thumbnails.
const THUMB_QUALITY: u8 = 80;
/// JPEG quality of display copies.
const DISPLAY_QUALITY: u8 = 85;

/// The image formats accepted as evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// JPEG (camera photos).
    Jpeg,
    /// PNG (signature pads, screenshots).
    Png,
}

/// A decoded image, oriented upright and at most [`DISPLAY_MAX`] on its longest edge.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The pixels.
    pub image: RgbImage,
    /// Width of the original as stored (before orientation).
    pub source_width: u32,
    /// Height of the original as stored.
    pub source_height: u32,
}

fn decode_err(e: impl std::fmt::Display) -> CoreError {
    CoreError::MediaDecode {
        kind: "image".into(),
        reason: e.to_string(),
    }
}

fn check_dims(w: u64, h: u64, max_pixels: u64) -> Result<()> {
    if w == 0 || h == 0 {
        return Err(decode_err("zero width or height"));
    }
    if w > u64::from(MAX_EDGE) || h > u64::from(MAX_EDGE) || w.saturating_mul(h) > max_pixels {
        return Err(CoreError::ImageTooLarge {
            width: w,
            height: h,
        });
    }
    Ok(())
}

/// Width and height declared in a PNG's IHDR chunk.
pub fn png_dimensions(head: &[u8]) -> Option<(u32, u32)> {
    if head.len() < 24 || &head[12..16] != b"IHDR" {
        return None;
    }
    let w = u32::from_be_bytes([head[16], head[17], head[18], head[19]]);
    let h = u32::from_be_bytes([head[20], head[21], head[22], head[23]]);
    Some((w, h))
}

/// Decodes the stored original at `path` for derivatives.
pub fn decode<'a>(
    file: impl Into<EvidenceFile<'a>>,
    format: ImageFormat,
    orientation: Option<u16>,
) -> Result<Decoded> {
    let file = file.into();
    let (img, w, h) = match format {
        ImageFormat::Jpeg => {
            let f = file.open()?;
            decode_jpeg_scaled(BufReader::with_capacity(64 * 1024, f), file.path)?
        }
        ImageFormat::Png => decode_png(file)?,
    };
    Ok(upright(img, w, h, orientation))
}

/// The decoded pixels turned upright from the EXIF orientation and fitted to a display copy.
pub(crate) fn upright(img: RgbImage, w: u32, h: u32, orientation: Option<u16>) -> Decoded {
    let mut dynamic = DynamicImage::ImageRgb8(img);
    if let Some(o) = orientation
        .and_then(|o| u8::try_from(o).ok())
        .and_then(Orientation::from_exif)
    {
        dynamic.apply_orientation(o);
    }
    let mut image = dynamic.into_rgb8();
    let (dw, dh) = fit(image.width(), image.height(), DISPLAY_MAX);
    if (dw, dh) != image.dimensions() {
        image = image::imageops::resize(&image, dw, dh, image::imageops::FilterType::Triangle);
    }
    Decoded {
        image,
        source_width: w,
        source_height: h,
    }
}

/// Decodes a JPEG read from `reader` (the content of the file at `path`, named in errors) at
/// the smallest DCT scale that covers a display copy; returns the pixels as stored (not yet
/// upright, see [`upright`]) and the declared width and height.
pub(crate) fn decode_jpeg_scaled(
    reader: impl std::io::Read,
    path: &std::path::Path,
) -> Result<(RgbImage, u32, u32)> {
    let mut dec = jpeg_decoder::Decoder::new(reader);
    dec.set_max_decoding_buffer_size(usize::try_from(MAX_ALLOC).unwrap_or(usize::MAX));
    dec.read_info().map_err(|e| match e {
        jpeg_decoder::Error::Io(io) if io.kind() != std::io::ErrorKind::UnexpectedEof => {
            CoreError::io(path, io)
        }
        e => decode_err(e),
    })?;
    let info = dec.info().ok_or_else(|| decode_err("no frame header"))?;
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    check_dims(u64::from(w), u64::from(h), MAX_JPEG_PIXELS)?;
    // Ask for the smallest DCT scale that still covers most of a display copy, so the long
    // edge lands between 15/16 of DISPLAY_MAX and twice that.
    let want = (DISPLAY_MAX * 15 / 16) as u16;
    let (sw, sh) = dec
        .scale(want.min(info.width), want.min(info.height))
        .map_err(decode_err)?;
    let pixels = dec.decode().map_err(decode_err)?;
    let info = dec.info().ok_or_else(|| decode_err("no frame header"))?;
    let (sw, sh) = (u32::from(sw), u32::from(sh));
    let n = (sw as usize) * (sh as usize);
    let rgb: Vec<u8> = match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => pixels,
        jpeg_decoder::PixelFormat::L8 => pixels.iter().flat_map(|&l| [l, l, l]).collect(),
        jpeg_decoder::PixelFormat::L16 => pixels
            .chunks_exact(2)
            .flat_map(|c| [c[0], c[0], c[0]])
            .collect(),
        jpeg_decoder::PixelFormat::CMYK32 => pixels
            .chunks_exact(4)
            .flat_map(|c| {
                let k = 255 - u32::from(c[3]);
                let ch = |v: u8| ((255 - u32::from(v)) * k / 255) as u8;
                [ch(c[0]), ch(c[1]), ch(c[2])]
            })
            .collect(),
    };
    if rgb.len() != n * 3 {
        return Err(decode_err("decoded size does not match the header"));
    }
    let img = RgbImage::from_raw(sw, sh, rgb).ok_or_else(|| decode_err("bad pixel buffer"))?;
    Ok((img, w, h))
}

fn decode_png(file: EvidenceFile<'_>) -> Result<(RgbImage, u32, u32)> {
    let mut head = [0u8; 24];
    {
        use std::io::Read;
        let mut f = file.open()?;
        f.read_exact(&mut head)
            .map_err(|_| decode_err("truncated PNG header"))?;
    }
    let (w, h) = png_dimensions(&head).ok_or_else(|| decode_err("no IHDR chunk"))?;
    check_dims(u64::from(w), u64::from(h), MAX_FULL_DECODE_PIXELS)?;
    let f = file.open()?;
    let mut reader = image::ImageReader::with_format(BufReader::new(f), image::ImageFormat::Png);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_EDGE);
    limits.max_image_height = Some(MAX_EDGE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => CoreError::ImageTooLarge {
            width: u64::from(w),
            height: u64::from(h),
        },
        e => decode_err(e),
    })?;
    Ok((flatten_on_white(img), w, h))
}

/// Drops alpha by compositing over white: signature strokes on a transparent pad stay
/// visible instead of turning into a black square.
fn flatten_on_white(img: DynamicImage) -> RgbImage {
    if !img.color().has_alpha() {
        return img.into_rgb8();
    }
    let rgba = img.into_rgba8();
    let (w, h) = rgba.dimensions();
    let mut out = RgbImage::new(w, h);
    for (o, p) in out.pixels_mut().zip(rgba.pixels()) {
        let a = u32::from(p.0[3]);
        let mix = |c: u8| ((u32::from(c) * a + 255 * (255 - a)) / 255) as u8;
        *o = Rgb([mix(p.0[0]), mix(p.0[1]), mix(p.0[2])]);
    }
    out
}

/// The largest size within `max` x `max` keeping the aspect ratio (never enlarging).
pub fn fit(w: u32, h: u32, max: u32) -> (u32, u32) {
    if w <= max && h <= max {
        return (w.max(1), h.max(1));
    }
    if w >= h {
        let nh = (u64::from(h) * u64::from(max) / u64::from(w)).max(1);
        (max, nh as u32)
    } else {
        let nw = (u64::from(w) * u64::from(max) / u64::from(h)).max(1);
        (nw as u32, max)
    }
}

fn encode_jpeg(img: &RgbImage, quality: u8) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
    enc.encode(
        img.as_raw(),
        img.width(),
        img.height(),
        image::ExtendedColorType::Rgb8,
    )
    .map_err(decode_err)?;
    Ok(out)
}

/// A JPEG thumbnail at most [`THUMB_MAX`] px on its longest edge.
pub fn thumbnail_jpeg(img: &RgbImage) -> Result<Vec<u8>> {
    thumbnail_encode(&thumbnail_pixels(img))
}

/// The thumbnail's pixels: `img` shrunk to at most [`THUMB_MAX`] px on its longest edge.
pub fn thumbnail_pixels(img: &RgbImage) -> RgbImage {
    let (w, h) = fit(img.width(), img.height(), THUMB_MAX);
    if (w, h) == img.dimensions() {
        img.clone()
    } else {
        image::imageops::thumbnail(img, w, h)
    }
}

/// The thumbnail's pixels as a JPEG of the thumbnail quality.
pub fn thumbnail_encode(thumb: &RgbImage) -> Result<Vec<u8>> {
    encode_jpeg(thumb, THUMB_QUALITY)
}

/// The display copy: `img` with `lines` burned into a darkened band at the bottom, as JPEG.
pub fn watermarked_jpeg(mut img: RgbImage, lines: &[String]) -> Result<Vec<u8>> {
    burn_in(&mut img, lines);
    encode_jpeg(&img, DISPLAY_QUALITY)
}

/// Draws `lines` in white on a darkened band along the bottom.
///
/// With the `bundled-font` feature (the default) the lines are drawn with the CJK document
/// font ([`super::watermark::burn_in_with`]), so Chinese prints as Chinese; a character the
/// font lacks is drawn as `?`. Built without it, the 5x7 ASCII bitmap font is used
/// ([`burn_in_bitmap`]) and every character outside ASCII is drawn as `?`.
pub fn burn_in(img: &mut RgbImage, lines: &[String]) {
    #[cfg(feature = "bundled-font")]
    super::watermark::burn_in_with(
        img,
        lines,
        &crate::documents::render::DocumentFont::bundled(),
    );
    #[cfg(not(feature = "bundled-font"))]
    burn_in_bitmap(img, lines);
}

/// Draws `lines` (ASCII; others drawn as `?`) with the 5x7 bitmap font in white on a darkened
/// band along the bottom: the watermark of builds without the `bundled-font` feature.
pub fn burn_in_bitmap(img: &mut RgbImage, lines: &[String]) {
    let (w, h) = img.dimensions();
    let longest = lines.iter().map(|l| l.chars().count()).max().unwrap_or(1) as u32;
    let cell_w = GLYPH_W + 1;
    let scale = (w / (cell_w * longest + 2)).clamp(1, 4);
    let line_h = (GLYPH_H + 3) * scale;
    let band = (line_h * lines.len() as u32 + 2 * scale).min(h);
    let top = h - band;
    super::watermark::darken(img, band);
    for (i, line) in lines.iter().enumerate() {
        let y0 = top + scale + i as u32 * line_h + scale;
        draw_text(img, scale * 2, y0, scale, line, Rgb([255, 255, 255]));
    }
}

/// Draws `text` with its top-left corner at (`x`, `y`), each font pixel `scale` px square;
/// clipped at the image edges.
pub fn draw_text(img: &mut RgbImage, x: u32, y: u32, scale: u32, text: &str, color: Rgb<u8>) {
    let (w, h) = img.dimensions();
    for (i, c) in text.chars().enumerate() {
        let gx = x + i as u32 * (GLYPH_W + 1) * scale;
        if gx >= w {
            break;
        }
        for (row, bits) in glyph(c).iter().enumerate() {
            for col in 0..GLYPH_W {
                if bits & (1 << (GLYPH_W - 1 - col)) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let px = gx + col * scale + dx;
                        let py = y + row as u32 * scale + dy;
                        if px < w && py < h {
                            img.put_pixel(px, py, color);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_keeps_aspect_and_never_enlarges() {
        assert_eq!(fit(4000, 3000, 320), (320, 240));
        assert_eq!(fit(3000, 4000, 320), (240, 320));
        assert_eq!(fit(100, 50, 320), (100, 50));
    }

    #[test]
    fn burned_in_text_changes_only_the_band() {
        let mut img = RgbImage::from_pixel(400, 300, Rgb([200, 200, 200]));
        burn_in(&mut img, &["CASE 123".into(), "OF-1001".into()]);
        assert_eq!(*img.get_pixel(10, 10), Rgb([200, 200, 200]));
        let white = img.pixels().filter(|p| p.0 == [255, 255, 255]).count();
        let dark = img.pixels().filter(|p| p.0 == [70, 70, 70]).count();
        assert!(white > 50 && dark > 1000, "white {white}, dark {dark}");
    }

    #[test]
    fn bitmap_fallback_draws_ascii_in_the_band() {
        let mut img = RgbImage::from_pixel(400, 300, Rgb([200, 200, 200]));
        burn_in_bitmap(&mut img, &["CASE 123".into(), "OF-1001".into()]);
        assert_eq!(*img.get_pixel(10, 10), Rgb([200, 200, 200]));
        let white = img.pixels().filter(|p| p.0 == [255, 255, 255]).count();
        let dark = img.pixels().filter(|p| p.0 == [70, 70, 70]).count();
        assert!(white > 50 && dark > 1000, "white {white}, dark {dark}");
    }
}
