//! Writes laid-out pages as a PDF through krilla, which embeds the font subset to the glyphs
//! used (CID-keyed, with a ToUnicode map so copied or extracted text is the Chinese that was
//! printed).
//!
//! The output depends on the input alone: no creation date, and krilla derives the document
//! id from the content, so the same document renders to the same bytes.

use super::font::DocumentFont;
use super::layout::{Op, PageOut};
use crate::{CoreError, Result};
use krilla::Document;
use krilla::color::{luma, rgb};
use krilla::geom::{PathBuilder, Point, Rect, Size, Transform};
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::paint::{Fill, LineCap, Stroke, StrokeDash};
use krilla::surface::Surface;
use krilla::text::{GlyphId, KrillaGlyph};

/// Stroke width that thickens bold text (there is one weight in the font), in ems.
const BOLD_STROKE: f32 = 0.035;

pub(crate) fn write(pages: &[PageOut], font: &DocumentFont, title: &str) -> Result<Vec<u8>> {
    let mut doc = Document::new();
    doc.set_metadata(
        Metadata::new()
            .title(title.to_string())
            .language("zh-CN".into())
            .creator("fieldcase".into()),
    );
    for p in pages {
        let settings = PageSettings::from_wh(p.width, p.height)
            .ok_or_else(|| CoreError::Render(format!("page of {}x{} pt", p.width, p.height)))?;
        let mut page = doc.start_page_with(settings);
        let mut surface = page.surface();
        for op in &p.ops {
            draw(&mut surface, op, font);
        }
        surface.finish();
        page.finish();
    }
    doc.finish().map_err(|e| {
        CoreError::Render(match e {
            krilla::error::KrillaError::Image(_, _, msg) => format!("image: {msg}"),
            krilla::error::KrillaError::Font(_, msg) => format!("font: {msg}"),
            other => format!("PDF writer: {other:?}"),
        })
    })
}

fn black() -> rgb::Color {
    rgb::Color::black()
}

fn draw(s: &mut Surface<'_>, op: &Op, font: &DocumentFont) {
    match op {
        Op::Text {
            x,
            baseline,
            size,
            text,
            spacing,
            bold,
        } => {
            let glyphs = glyphs(text, font, *spacing / size);
            s.set_fill(Some(Fill {
                paint: black().into(),
                ..Fill::default()
            }));
            s.set_stroke(bold.then(|| Stroke {
                paint: black().into(),
                width: size * BOLD_STROKE,
                ..Stroke::default()
            }));
            s.draw_glyphs(
                Point::from_xy(*x, *baseline),
                &glyphs,
                font.pdf_font(),
                text,
                *size,
                false,
            );
            s.set_stroke(None);
        }
        Op::Rects { rects, gray } => {
            let mut pb = PathBuilder::new();
            for &[x, y, w, h] in rects {
                if let Some(r) = Rect::from_xywh(x, y, w, h) {
                    pb.push_rect(r);
                }
            }
            if let Some(path) = pb.finish() {
                s.set_fill(Some(Fill {
                    paint: luma::Color::new(*gray).into(),
                    ..Fill::default()
                }));
                s.set_stroke(None);
                s.draw_path(&path);
            }
        }
        Op::Line {
            from,
            to,
            width,
            dashed,
        } => {
            let mut pb = PathBuilder::new();
            pb.move_to(from.0, from.1);
            pb.line_to(to.0, to.1);
            if let Some(path) = pb.finish() {
                s.set_fill(None);
                s.set_stroke(Some(Stroke {
                    paint: black().into(),
                    width: *width,
                    line_cap: LineCap::Butt,
                    dash: dashed.then(|| StrokeDash {
                        array: vec![3.0, 2.0],
                        offset: 0.0,
                    }),
                    ..Stroke::default()
                }));
                s.draw_path(&path);
                s.set_stroke(None);
            }
        }
        Op::Image { rect, picture } => {
            let [x, y, w, h] = *rect;
            if let Some(size) = Size::from_wh(w, h) {
                s.push_transform(&Transform::from_translate(x, y));
                s.draw_image(picture.image.clone(), size);
                s.pop();
            }
        }
    }
}

/// One glyph per character (the font has no layout features: see `core/fonts/README.md`),
/// each carrying its byte range so the PDF maps it back to its character.
fn glyphs(text: &str, font: &DocumentFont, spacing_em: f32) -> Vec<KrillaGlyph> {
    let mut out: Vec<KrillaGlyph> = text
        .char_indices()
        .filter_map(|(i, c)| {
            let id = font.glyph(c)?;
            Some(KrillaGlyph::new(
                GlyphId::new(u32::from(id.0)),
                font.advance_em(c) + spacing_em,
                0.0,
                0.0,
                0.0,
                i..i + c.len_utf8(),
                None,
            ))
        })
        .collect();
    if let Some(last) = out.last_mut() {
        last.x_advance -= spacing_em;
    }
    out
}
