//! The watermark band of display copies, drawn with the document font so that Chinese (an
//! officer's name, a place) prints as Chinese.
//!
//! Text is white and anti-aliased on a band darkened to 35%, one size for all lines, chosen so
//! the longest line fits the image width (and no larger than 1/32 of the longest edge, so the
//! band never hides much of the photo). Strokes are thickened by a fraction of a pixel (the
//! outline drawn four times, offset): a regular weight at 12 to 30 px is too thin to read on a
//! busy photo once JPEG has blurred it. A character the font lacks is drawn as `?`, as the
//! bitmap fallback does for everything outside ASCII.

use crate::documents::render::DocumentFont;
use ab_glyph::{Glyph, OutlinedGlyph, PxScale, PxScaleFactor, point};
use image::RgbImage;

/// Share of the original brightness kept under the band, percent.
pub(crate) const BAND_PERCENT: u16 = 35;

/// Darkens the bottom `band` rows of `img`.
pub(crate) fn darken(img: &mut RgbImage, band: u32) {
    let (w, h) = img.dimensions();
    for y in h.saturating_sub(band)..h {
        for x in 0..w {
            for c in img.get_pixel_mut(x, y).0.iter_mut() {
                *c = (u16::from(*c) * BAND_PERCENT / 100) as u8;
            }
        }
    }
}

/// Draws `lines` in white with `font` on a darkened band along the bottom of `img`.
pub fn burn_in_with(img: &mut RgbImage, lines: &[String], font: &DocumentFont) {
    let (w, h) = img.dimensions();
    if w == 0 || h == 0 || lines.is_empty() {
        return;
    }
    let lines: Vec<String> = lines
        .iter()
        .map(|l| {
            l.chars()
                .map(|c| match c {
                    '\t' | '\n' | '\r' => ' ',
                    c if font.glyph(c).is_some() => c,
                    _ => '?',
                })
                .collect()
        })
        .collect();
    let longest_em = lines
        .iter()
        .map(|l| l.chars().map(|c| font.advance_em(c)).sum::<f32>())
        .fold(1.0f32, f32::max);
    let margin = (w as f32 * 0.015).max(2.0);
    let em = ((w as f32 - 2.0 * margin) / longest_em)
        .min((w.max(h) as f32 / 32.0).max(14.0))
        .max(6.0);
    let bold = (em * 0.05).max(0.6);
    let line_h = (em * 1.3).ceil();
    let band = ((line_h * lines.len() as f32 + em * 0.5).ceil() as u32).min(h);
    darken(img, band);
    let face = font.face();
    // ab_glyph scales by the font's ascent-to-descent height, not by its em.
    let scale = PxScale::from(em * (font.ascent_em() + font.descent_em()));
    let factor = PxScaleFactor {
        horizontal: scale.x / face.height_unscaled(),
        vertical: scale.y / face.height_unscaled(),
    };
    let top = (h - band) as f32 + em * 0.25;
    for (i, line) in lines.iter().enumerate() {
        let line_top = top + i as f32 * line_h;
        let baseline = line_top + (line_h - em) / 2.0 + font.ascent_em() * em;
        // Coverage of this line's strip, the maximum over the offset copies.
        let strip_top = line_top.floor().max(0.0) as u32;
        let strip_h = (line_h.ceil() as u32 + 2).min(h.saturating_sub(strip_top));
        let mut cover = vec![0f32; (w * strip_h) as usize];
        let mut x = margin;
        for c in line.chars() {
            let Some(id) = font.glyph(c) else { continue };
            for (dx, dy) in [(0.0, 0.0), (bold, 0.0), (0.0, bold), (bold, bold)] {
                let Some(outline) = face.outline(id) else {
                    break;
                };
                let glyph = Glyph {
                    id,
                    scale,
                    position: point(x + dx, baseline + dy),
                };
                let outline = OutlinedGlyph::new(glyph, outline, factor);
                let b = outline.px_bounds();
                outline.draw(|gx, gy, cov| {
                    let px = b.min.x as i64 + i64::from(gx);
                    let py = b.min.y as i64 + i64::from(gy) - i64::from(strip_top);
                    if let (Ok(px), Ok(py)) = (u32::try_from(px), u32::try_from(py))
                        && px < w
                        && py < strip_h
                    {
                        let k = (py * w + px) as usize;
                        cover[k] = cover[k].max(cov.clamp(0.0, 1.0));
                    }
                });
            }
            x += font.advance_em(c) * em;
        }
        for (k, cov) in cover.iter().enumerate().filter(|(_, c)| **c > 0.0) {
            let (px, py) = (k as u32 % w, strip_top + k as u32 / w);
            for ch in img.get_pixel_mut(px, py).0.iter_mut() {
                *ch = (f32::from(*ch) + (255.0 - f32::from(*ch)) * cov).round() as u8;
            }
        }
    }
}

#[cfg(all(test, feature = "bundled-font"))]
mod tests {
    use super::*;
    use image::Rgb;

    fn band_of(lines: &[&str]) -> RgbImage {
        let mut img = RgbImage::from_pixel(640, 480, Rgb([200, 200, 200]));
        let lines: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        burn_in_with(&mut img, &lines, &DocumentFont::bundled());
        img
    }

    /// Pixels of the bottom rows brighter than the darkened band (70) and unlike the photo
    /// (200): ink.
    fn inked(img: &RgbImage) -> Vec<(u32, u32)> {
        img.enumerate_pixels()
            .filter(|(_, y, p)| *y >= 400 && p.0[0] > 100 && p.0[0] != 200)
            .map(|(x, y, _)| (x, y))
            .collect()
    }

    #[test]
    fn chinese_place_name_is_drawn_as_its_glyphs() {
        let place = band_of(&["六安市金安区梅山南路"]);
        // Above the band the photo is untouched; the band is darkened and inked.
        assert_eq!(*place.get_pixel(10, 10), Rgb([200, 200, 200]));
        let ink = inked(&place);
        assert!(ink.len() > 1500, "only {} inked pixels", ink.len());
        let white = place.pixels().filter(|p| p.0 == [255, 255, 255]).count();
        assert!(white > 500, "white {white}");
        // Another place of the same length inks other pixels, and neither is a row of '?'.
        let other = band_of(&["合肥市蜀山区长江西路"]);
        let marks = band_of(&["??????????"]);
        let differ = |a: &RgbImage, b: &RgbImage| {
            a.pixels()
                .zip(b.pixels())
                .filter(|(p, q)| p.0[0].abs_diff(q.0[0]) > 64)
                .count()
        };
        assert!(differ(&place, &other) > 1000, "{}", differ(&place, &other));
        assert!(differ(&place, &marks) > 1000, "{}", differ(&place, &marks));
    }

    #[test]
    fn longest_line_fits_the_width_and_missing_characters_become_question_marks() {
        let long = "SHA256 0123456789abcdef0123456789abcdef 六安市金安区";
        let img = band_of(&[long, "短"]);
        let rightmost = inked(&img).iter().map(|&(x, _)| x).max().unwrap_or(0);
        assert!(
            rightmost < 640 - 5,
            "text runs off the image at x={rightmost}"
        );
        assert_eq!(band_of(&["𠀀"]), band_of(&["?"]));
    }
}
