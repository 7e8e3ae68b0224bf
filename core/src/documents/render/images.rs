//! Photos and signatures placed in documents: checked, turned upright and sized for print.
//!
//! Every image is decoded once with the same limits as evidence ingest (a small file claiming
//! huge dimensions is refused before any pixel buffer exists), so bytes that are not a whole
//! JPEG or PNG are [`CoreError::Render`] here, not a grey box in the PDF. An upright JPEG no
//! larger than print needs goes into the PDF as it is (no second lossy encoding); one with an
//! EXIF rotation or more pixels than [`PRINT_MAX`] is turned and scaled first, deterministically,
//! so a re-render gives the same bytes.

use crate::evidence::image::{MAX_ALLOC, MAX_EDGE, MAX_FULL_DECODE_PIXELS, MAX_JPEG_PIXELS};
use crate::{CoreError, Result};
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, metadata::Orientation};
use std::io::Cursor;

/// Longest edge kept, in pixels: 300 dpi across the 165 mm text width of an A4 page.
pub(crate) const PRINT_MAX: u32 = 2000;
/// JPEG quality of photos that had to be turned or scaled.
const PRINT_QUALITY: u8 = 88;

/// An image ready for the PDF writer.
#[derive(Clone)]
pub(crate) struct Picture {
    pub image: krilla::image::Image,
    pub width: u32,
    pub height: u32,
}

fn bad(e: impl std::fmt::Display) -> CoreError {
    CoreError::Render(format!("image: {e}"))
}

/// Checks and converts `bytes` (JPEG or PNG).
pub(crate) fn prepare(bytes: &[u8]) -> Result<Picture> {
    let format = match image::guess_format(bytes) {
        Ok(f @ (ImageFormat::Jpeg | ImageFormat::Png)) => f,
        Ok(f) => return Err(bad(format!("{f:?} is not accepted (JPEG or PNG)"))),
        Err(_) => return Err(bad("not a JPEG or PNG")),
    };
    let reader = || {
        let mut r = ImageReader::with_format(Cursor::new(bytes), format);
        let mut limits = Limits::default();
        limits.max_image_width = Some(MAX_EDGE);
        limits.max_image_height = Some(MAX_EDGE);
        limits.max_alloc = Some(MAX_ALLOC);
        r.limits(limits);
        r
    };
    let (w, h) = reader().into_dimensions().map_err(bad)?;
    let max_pixels = match format {
        ImageFormat::Jpeg => MAX_JPEG_PIXELS,
        _ => MAX_FULL_DECODE_PIXELS,
    };
    if w == 0 || h == 0 || u64::from(w) * u64::from(h) > max_pixels {
        return Err(bad(format!("{w}x{h} pixels is outside the accepted size")));
    }
    let mut decoder = reader().into_decoder().map_err(bad)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(bad)?;
    let upright = orientation == Orientation::NoTransforms;
    if upright && w.max(h) <= PRINT_MAX {
        return wrap(format, bytes.to_vec(), w, h);
    }
    img.apply_orientation(orientation);
    if img.width().max(img.height()) > PRINT_MAX {
        img = img.resize(PRINT_MAX, PRINT_MAX, image::imageops::FilterType::Triangle);
    }
    let (w, h) = (img.width(), img.height());
    let mut out = Vec::new();
    match format {
        ImageFormat::Jpeg => {
            let rgb = img.into_rgb8();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, PRINT_QUALITY)
                .encode_image(&rgb)
                .map_err(bad)?;
        }
        _ => img
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .map_err(bad)?,
    }
    wrap(format, out, w, h)
}

fn wrap(format: ImageFormat, bytes: Vec<u8>, width: u32, height: u32) -> Result<Picture> {
    let data: krilla::Data = bytes.into();
    let image = match format {
        ImageFormat::Jpeg => krilla::image::Image::from_jpeg(data, true),
        _ => krilla::image::Image::from_png(data, true),
    }
    .map_err(bad)?;
    Ok(Picture {
        image,
        width,
        height,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
            .encode_image(&img)
            .map_err(bad)
            .expect("encodes");
        out
    }

    #[test]
    fn small_upright_jpeg_is_kept_and_large_is_scaled() {
        let p = prepare(&jpeg(64, 48)).expect("prepares");
        assert_eq!((p.width, p.height), (64, 48));
        let p = prepare(&jpeg(2600, 1300)).expect("prepares");
        assert_eq!((p.width, p.height), (2000, 1000));
    }

    #[test]
    fn garbage_and_truncated_images_are_render_errors() {
        assert!(matches!(prepare(b"hello"), Err(CoreError::Render(_))));
        let mut j = jpeg(64, 48);
        j.truncate(j.len() / 2);
        assert!(matches!(prepare(&j), Err(CoreError::Render(_))));
        assert!(matches!(prepare(&[]), Err(CoreError::Render(_))));
    }
}
