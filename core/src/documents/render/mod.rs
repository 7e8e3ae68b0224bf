//! Enforcement documents as PDF, on A4 or on a roll printer, in Chinese.
//!
//! A document is handed to the party and kept on file, so it must say exactly what the case
//! says: every character is checked against the font before anything is drawn and a missing
//! one refuses the document ([`CoreError::MissingGlyphs`]) rather than printing a box where a
//! name should be. The output depends on the input alone (no timestamps, no random ids), so a
//! document re-rendered later is byte-identical and its hash still matches.
//!
//! Layout is ours ([`layout`], [`linebreak`]: Chinese line breaking, tables, pictures,
//! signature slots, page numbers); the PDF is written by krilla ([`pdf`]), which subsets and
//! embeds the font with a ToUnicode map, so text extracted or copied from the PDF is the text
//! that was printed.

mod blocks;
mod font;
mod images;
mod layout;
mod linebreak;
mod pdf;
mod qr;

pub use font::DocumentFont;

use crate::{CoreError, Result};

/// The paper a document is printed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paper {
    /// A4 portrait, 25 mm margins (25 mm left for binding, 20 mm right): the copy for the
    /// file and for the party.
    A4,
    /// A 58 mm roll (48 mm printable), as on most handheld Bluetooth printers officers carry:
    /// one continuous page per sheet, as long as its content.
    Roll58,
    /// An 80 mm roll (72 mm printable).
    Roll80,
}

/// One document: it starts on a new page and, on A4, is numbered on its own
/// ("第 N 页 共 M 页").
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sheet {
    /// The issuing authority, printed above the title (六安市城市管理局).
    pub authority: String,
    /// The document's name (行政处罚决定书).
    pub title: String,
    /// The document number (文号), e.g. 六城管罚〔2026〕123号.
    pub number: Option<String>,
    /// The body, top to bottom.
    pub blocks: Vec<Block>,
    /// Printed as a QR code after the body, so a printed copy can be checked against the
    /// record it came from.
    pub qr: Option<String>,
    /// Small print at the foot of every A4 page, or at the end of a roll.
    pub footer: Option<String>,
}

/// A piece of a document's body.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// A section heading.
    Heading(String),
    /// Running text; each line of it is a paragraph with a two-em first-line indent.
    Paragraph(String),
    /// A label and its value ("当事人：张三"), the value's later lines hanging under its first.
    Field {
        /// The label, with its colon.
        label: String,
        /// The value; line feeds start new lines.
        value: String,
    },
    /// A ruled table (on a roll, one record per row).
    Table {
        /// Column headings (may be empty).
        header: Vec<String>,
        /// The rows; short rows leave their last cells empty.
        rows: Vec<Vec<String>>,
        /// Relative column widths; equal widths when these do not match the columns.
        widths: Vec<f32>,
    },
    /// A photo, scaled to the text width and `max_height_mm`, keeping its aspect.
    Image {
        /// Printed under it.
        caption: String,
        /// JPEG or PNG.
        bytes: Vec<u8>,
        /// Tallest it may be printed.
        max_height_mm: f32,
    },
    /// Places to sign.
    Signatures(Vec<SignatureSlot>),
    /// Continue on a new page (on a roll, a dashed line).
    PageBreak,
}

/// A place for one signature.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SignatureSlot {
    /// What is signed as (当事人签名).
    pub label: String,
    /// The signer's printed name, under the line (may be empty).
    pub name: String,
    /// The signature captured on the phone (PNG or JPEG); without it a blank line is
    /// printed to sign on paper.
    pub image: Option<Vec<u8>>,
    /// The date printed under the line; without it, blanks to fill in by hand.
    pub date: Option<String>,
}

/// Renders `sheets` as one PDF with `font`.
///
/// Fails with [`CoreError::MissingGlyphs`] when the font lacks a character of any text, with
/// [`CoreError::Render`] for an image that is not a readable JPEG or PNG or a QR payload too
/// long to encode, and with [`CoreError::InvalidInput`] when there is no sheet.
pub fn render_pdf(sheets: &[Sheet], font: &DocumentFont, paper: Paper) -> Result<Vec<u8>> {
    if sheets.is_empty() {
        return Err(CoreError::invalid("sheets", "nothing to render"));
    }
    check_glyphs(sheets, font)?;
    let style = layout::Style::for_paper(paper);
    let mut pages = Vec::new();
    for sheet in sheets {
        pages.extend(layout::sheet(sheet, font, &style)?);
    }
    pdf::write(&pages, font, sheets[0].title.trim())
}

/// Every string the document will print, checked before any drawing.
fn check_glyphs(sheets: &[Sheet], font: &DocumentFont) -> Result<()> {
    let mut texts: Vec<&str> = vec![layout::OWN_TEXT];
    for s in sheets {
        texts.extend([s.authority.as_str(), s.title.as_str()]);
        texts.extend(s.number.as_deref());
        texts.extend(s.footer.as_deref());
        for b in &s.blocks {
            match b {
                Block::Heading(t) | Block::Paragraph(t) => texts.push(t),
                Block::Field { label, value } => texts.extend([label.as_str(), value.as_str()]),
                Block::Table { header, rows, .. } => {
                    texts.extend(
                        header
                            .iter()
                            .chain(rows.iter().flatten())
                            .map(String::as_str),
                    );
                }
                Block::Image { caption, .. } => texts.push(caption),
                Block::Signatures(slots) => {
                    for slot in slots {
                        texts.extend([slot.label.as_str(), slot.name.as_str()]);
                        texts.extend(slot.date.as_deref());
                    }
                }
                Block::PageBreak => {}
            }
        }
    }
    let mut missing: Vec<char> = Vec::new();
    for t in texts {
        for c in font.missing_glyphs(t) {
            if !missing.contains(&c) {
                missing.push(c);
            }
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(CoreError::MissingGlyphs {
            chars: missing.into_iter().collect(),
        })
    }
}
