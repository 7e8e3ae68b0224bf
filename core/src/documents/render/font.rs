//! The font documents and watermarks are drawn with, and the metrics the layout measures.
//!
//! One parse serves both sides: `ab_glyph` reads the cmap and advances for the layout and
//! rasterises watermark text, and the PDF writer embeds the same bytes (krilla subsets them to
//! the glyphs used). Both see the same glyph ids, so what is measured is what is drawn.

use crate::{CoreError, Result};
use ab_glyph::{FontRef, FontVec, GlyphId};
use std::fmt;
use std::sync::Arc;

/// Font bytes (OpenType/TrueType) that documents and watermarks are drawn with.
///
/// Cheap to clone (the bytes are shared). A document that needs a character the font lacks
/// is refused rather than printed with a box ([`DocumentFont::missing_glyphs`]).
#[derive(Clone)]
pub struct DocumentFont {
    inner: Arc<Inner>,
}

struct Inner {
    face: Face,
    pdf: krilla::text::Font,
    units_per_em: f32,
    ascent: f32,
    descent: f32,
}

/// The parsed face: borrowed from the binary for the bundled font, owned otherwise.
enum Face {
    #[cfg_attr(not(feature = "bundled-font"), allow(dead_code))]
    Static(Box<FontRef<'static>>),
    Owned(Arc<FontVec>),
}

/// Lets the PDF writer share the bytes `ab_glyph` owns instead of keeping a second copy.
struct SharedBytes(Arc<FontVec>);

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

impl fmt::Debug for DocumentFont {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DocumentFont")
            .field("units_per_em", &self.inner.units_per_em)
            .field("glyphs", &self.face().glyph_count())
            .finish_non_exhaustive()
    }
}

/// Characters that are layout, not ink: never looked up in the font.
pub(crate) fn is_layout_char(c: char) -> bool {
    matches!(c, '\n' | '\t' | '\r')
}

impl DocumentFont {
    /// Parses `bytes` (a single OpenType or TrueType font, not a collection).
    ///
    /// A font that cannot be parsed, or that the PDF writer cannot embed, is
    /// [`CoreError::Render`].
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        let face = Arc::new(
            FontVec::try_from_vec(bytes).map_err(|e| CoreError::Render(format!("font: {e}")))?,
        );
        let data: Arc<dyn AsRef<[u8]> + Send + Sync> = Arc::new(SharedBytes(face.clone()));
        Self::build(Face::Owned(face), data.into())
    }

    /// The font built into the library (Noto Sans CJK SC, subset; see `core/fonts/README.md`),
    /// parsed on first use and shared afterwards.
    #[cfg(feature = "bundled-font")]
    pub fn bundled() -> Self {
        static BUNDLED: std::sync::OnceLock<DocumentFont> = std::sync::OnceLock::new();
        BUNDLED
            .get_or_init(|| {
                static BYTES: &[u8] = include_bytes!("../../../fonts/NotoSansCJKsc-fieldcase.otf");
                let face = FontRef::try_from_slice(BYTES).expect("the bundled font parses");
                Self::build(Face::Static(Box::new(face)), BYTES.into())
                    .expect("the bundled font embeds")
            })
            .clone()
    }

    fn build(face: Face, data: krilla::Data) -> Result<Self> {
        let pdf = krilla::text::Font::new(data, 0)
            .ok_or_else(|| CoreError::Render("font: not embeddable in a PDF".into()))?;
        let f = face.get();
        let units_per_em = f
            .units_per_em()
            .filter(|u| *u > 0.0)
            .ok_or_else(|| CoreError::Render("font: no units per em".into()))?;
        let (ascent, descent) = (f.ascent_unscaled(), f.descent_unscaled());
        Ok(Self {
            inner: Arc::new(Inner {
                face,
                pdf,
                units_per_em,
                ascent,
                descent,
            }),
        })
    }

    /// The characters of `text` the font has no glyph for, each once, in order of first
    /// appearance (line feeds, carriage returns and tabs are layout and never missing).
    pub fn missing_glyphs(&self, text: &str) -> Vec<char> {
        let mut missing: Vec<char> = Vec::new();
        for c in text.chars() {
            if !is_layout_char(c) && self.glyph(c).is_none() && !missing.contains(&c) {
                missing.push(c);
            }
        }
        missing
    }

    pub(crate) fn face(&self) -> &dyn ab_glyph::Font {
        self.inner.face.get()
    }

    pub(crate) fn pdf_font(&self) -> krilla::text::Font {
        self.inner.pdf.clone()
    }

    /// The glyph of `c`, if the font maps it.
    pub(crate) fn glyph(&self, c: char) -> Option<GlyphId> {
        let id = self.face().glyph_id(c);
        (id.0 != 0).then_some(id)
    }

    /// Advance of `c` in ems (0 for a character without a glyph).
    pub(crate) fn advance_em(&self, c: char) -> f32 {
        match self.glyph(c) {
            Some(id) => self.face().h_advance_unscaled(id) / self.inner.units_per_em,
            None => 0.0,
        }
    }

    /// Width of `text` at `size`.
    pub(crate) fn width(&self, text: &str, size: f32) -> f32 {
        text.chars().map(|c| self.advance_em(c)).sum::<f32>() * size
    }

    /// Height above the baseline, in ems.
    pub(crate) fn ascent_em(&self) -> f32 {
        self.inner.ascent / self.inner.units_per_em
    }

    /// Depth below the baseline, in ems (positive).
    pub(crate) fn descent_em(&self) -> f32 {
        -self.inner.descent / self.inner.units_per_em
    }
}

impl Face {
    fn get(&self) -> &dyn ab_glyph::Font {
        match self {
            Face::Static(f) => f.as_ref(),
            Face::Owned(f) => f.as_ref(),
        }
    }
}

#[cfg(all(test, feature = "bundled-font"))]
mod tests {
    use super::*;

    #[test]
    fn bundled_font_covers_documents_and_lacks_what_it_should() {
        let f = DocumentFont::bundled();
        assert!(
            f.missing_glyphs("六城管罚〔2026〕123号 喆堃 ①⑳ ×¥№ 「」《》、。\n\t")
                .is_empty()
        );
        assert_eq!(f.missing_glyphs("张𠀀三😀𠀀"), vec!['𠀀', '😀']);
        assert!((f.advance_em('中') - 1.0).abs() < 1e-3);
        assert!(f.advance_em('i') < 0.5);
        assert!(!format!("{f:?}").contains("bytes"));
    }

    #[test]
    fn garbage_is_a_render_error() {
        assert!(matches!(
            DocumentFont::from_bytes(b"not a font".to_vec()),
            Err(CoreError::Render(_))
        ));
    }
}
